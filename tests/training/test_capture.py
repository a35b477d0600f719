"""training.capture: SageMaker's capture format written and streamed back; bad lines counted."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from training import capture

T0 = datetime(2026, 11, 27, 10, 15, 30, 123000, tzinfo=UTC)


def _read_all(folder, chunk_bytes=capture.DEFAULT_CHUNK_BYTES) -> capture.PayloadBatch:
    """Every batch of a folder merged into one (payloads in order, counters summed)."""
    merged = capture.PayloadBatch()
    csv_parts = []
    for batch in capture.iter_payloads(capture.list_capture_files(folder), chunk_bytes):
        if batch.csv:
            csv_parts.append(batch.csv)
        merged.json.extend(batch.json)
        merged.lines += batch.lines
        merged.records += batch.records
        merged.malformed.update(batch.malformed)
    merged.csv = b"\n".join(csv_parts)
    return merged


def test_capture_record_has_sagemakers_shape_and_encodings():
    csv = capture.capture_record("1.0,2.0", "text/csv", '{"p": 1}', "application/json",
                                 event_id="e-1", time=T0)
    assert csv["eventVersion"] == "0"
    assert csv["eventMetadata"] == {"eventId": "e-1", "inferenceTime": "2026-11-27T10:15:30.123Z"}
    assert csv["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv", "mode": "INPUT", "data": "1.0,2.0", "encoding": "CSV"}
    assert csv["captureData"]["endpointOutput"]["encoding"] == "JSON"
    assert csv["captureData"]["endpointOutput"]["mode"] == "OUTPUT"

    binary = capture.capture_record(b"\x00\xff", "application/x-npy", b"\x01", "text/csv")
    request = binary["captureData"]["endpointInput"]
    assert request["encoding"] == "BASE64"
    assert base64.b64decode(request["data"]) == b"\x00\xff"
    # text declared CSV but not UTF-8 is kept as base64 too, never mangled
    assert capture.capture_record(b"\xff", "text/csv", "", "text/csv")[
        "captureData"]["endpointInput"]["encoding"] == "BASE64"


def test_append_records_uses_sagemakers_hourly_layout(tmp_path):
    records = [capture.capture_record(f"{i},1", "text/csv", "0", "text/csv",
                                      time=T0 + timedelta(minutes=30 * i)) for i in range(3)]
    written = capture.append_records(tmp_path, records)
    relative = sorted(p.relative_to(tmp_path).as_posix() for p in written)
    assert [r.rsplit("/", 1)[0] for r in relative] == ["2026/11/27/10", "2026/11/27/11"]
    name = re.compile(r"\d{2}-\d{2}-\d{3}-[0-9a-f-]{36}\.jsonl")
    assert all(name.fullmatch(r.rsplit("/", 1)[1]) for r in relative)
    assert relative[0].rsplit("/", 1)[1].startswith("15-30-123-")
    lines = (tmp_path / relative[0]).read_text().splitlines()
    assert [json.loads(line)["captureData"]["endpointInput"]["data"] for line in lines] == [
        "0,1", "1,1"]
    # a second call adds files, never rewrites
    capture.append_records(tmp_path, records[:1])
    assert len(list(tmp_path.rglob("*.jsonl"))) == 3


def test_list_capture_files_recurses_and_keeps_only_the_window(tmp_path):
    for hour in (8, 9, 10):
        capture.append_records(tmp_path / "ep" / "AllTraffic", [capture.capture_record(
            "1", "text/csv", "1", "text/csv", time=T0.replace(hour=hour))])
    loose = tmp_path / "exported" / "manual.jsonl"
    loose.parent.mkdir()
    loose.write_text("")
    (tmp_path / "notes.txt").write_text("not a capture file")
    everything = capture.list_capture_files(tmp_path)
    assert len(everything) == 4
    window = capture.list_capture_files(tmp_path, start=T0.replace(hour=9, minute=30),
                                        end=T0.replace(hour=10, minute=0, second=0,
                                                       microsecond=0))
    hours = sorted(capture.capture_file_hour(p, tmp_path) for p in window
                   if capture.capture_file_hour(p, tmp_path))
    assert hours == [T0.replace(hour=9, minute=0, second=0, microsecond=0)]
    assert loose in window  # outside the layout: no hour, always read
    assert capture.list_capture_files(tmp_path / "missing") == []


@pytest.mark.parametrize("chunk_bytes", [capture.DEFAULT_CHUNK_BYTES, 700])
def test_csv_json_and_base64_requests_come_back(tmp_path, chunk_bytes):
    records = [
        capture.capture_record("1,2", "text/csv", "0.5", "text/csv", time=T0),
        capture.capture_record("3,4\n5,6", "text/csv", "0.5", "text/csv", time=T0),
        capture.capture_record('{"a": 7, "b": "x\\"y"}', "application/json", "{}",
                               "application/json", time=T0),
        capture.capture_record(b"8,9", "application/octet-stream", "", "text/csv", time=T0),
    ]
    # SageMaker base64-encodes content types it is not told about; the type then says CSV
    records[3]["captureData"]["endpointInput"].update(observedContentType="text/csv")
    capture.append_records(tmp_path, records)
    batch = _read_all(tmp_path, chunk_bytes)
    assert batch.records == batch.lines == 4
    assert not batch.malformed
    assert batch.csv.split(b"\n") == [b"1,2", b"3,4", b"5,6", b"8,9"]
    assert [json.loads(p) for p in batch.json] == [{"a": 7, "b": 'x"y'}]


def test_fast_path_and_line_path_agree_and_the_fast_path_refuses_what_it_cannot_vouch_for():
    lines = b"".join(capture.capture_line(capture.capture_record(
        f"{i}.5,{i}\n{i},-1", "text/csv", "1", "text/csv", time=T0)) for i in range(50))
    fast = capture._csv_fast(lines)
    slow = capture._parse_chunk_lines(lines)
    assert fast is not None and fast.csv == slow.csv and fast.records == slow.records == 50
    assert fast.csv.count(b"\n") == 99  # two rows per request

    truncated = lines + lines[:120] + b"\n"  # a writer died mid-line
    assert capture._csv_fast(truncated) is None
    assert capture._parse_chunk_lines(truncated).malformed == {"bad JSON": 1}
    json_line = capture.capture_line(capture.capture_record(
        '{"a": 1}', "application/json", "1", "text/csv", time=T0))
    assert capture._csv_fast(lines + json_line) is None  # mixed chunk: line by line


def test_malformed_lines_are_counted_and_never_fatal(tmp_path):
    good = capture.capture_record("1,2", "text/csv", "0", "text/csv", time=T0)
    bad_base64 = capture.capture_record("1,2", "text/csv", "0", "text/csv", time=T0)
    bad_base64["captureData"]["endpointInput"].update(encoding="BASE64", data="@@not base64@@")
    unknown = capture.capture_record("1,2", "text/csv", "0", "text/csv", time=T0)
    unknown["captureData"]["endpointInput"]["encoding"] = "GZIP"
    image = capture.capture_record(b"\x89PNG", "image/png", "0", "text/csv", time=T0)
    folder = tmp_path / "2026" / "11" / "27" / "10"
    folder.mkdir(parents=True)
    (folder / "00-00-000-x.jsonl").write_bytes(
        capture.capture_line(good)
        + b"{not json at all\n"
        + b"\n"
        + b'{"captureData": {"endpointOutput": {}}}\n'
        + capture.capture_line(bad_base64)
        + capture.capture_line(unknown)
        + capture.capture_line(image)
        + json.dumps(good, indent=None).encode()  # other spacing, last line without newline
    )
    batch = _read_all(tmp_path)
    assert batch.records == 2
    assert batch.csv.split(b"\n") == [b"1,2", b"1,2"]
    assert batch.malformed == {"bad JSON": 2, "bad base64": 1, "unknown encoding": 1,
                               "unsupported content type": 1}
    assert batch.lines == 7  # the blank line is not a line of data


def _lines(*requests: tuple[str, str], response: str = '{"p": "0.5"}') -> bytes:
    """Capture lines of (body, content type) requests, as capture_line writes them."""
    return b"".join(capture.capture_line(capture.capture_record(
        body, content_type, response, "application/json", time=T0))
        for body, content_type in requests)


WIDE = ",".join(f"{i}.25" for i in range(80))  # data longer than the fast path's window


@pytest.mark.parametrize(("chunk", "same_prefix"), [
    pytest.param(_lines(*[(f"{i},{i}.5", "text/csv") for i in range(40)]), True, id="uniform"),
    pytest.param(_lines(*[(f"{i},{i}.5", "text/csv") for i in range(9)], response="0" * 300),
                 True, id="every-data-inside-its-window"),
    pytest.param(_lines(("1,2", "text/csv"), (WIDE, "text/csv"), ("3,4", "text/csv"),
                        (WIDE, "text/csv")), True, id="data-longer-than-the-window"),
    pytest.param(_lines(("1,x\\", "text/csv"), ("2,y\\\\", "text/csv")), True,
                 id="data-ends-in-a-backslash"),
    pytest.param(_lines(("1,2\n3,4", "text/csv"), ("5,é", "text/csv")), True, id="escapes"),
    pytest.param(_lines(("1,2", "text/csv"), ("3,4", "text/csv; charset=utf-8")), False,
                 id="content-types-differ"),
    pytest.param(_lines(('"a,b",1', "text/csv"), ("c,2", "text/csv")), False,
                 id="escaped-quote"),
])
def test_the_fast_path_finds_what_the_line_path_finds(chunk, same_prefix, monkeypatch):
    if same_prefix:  # lines laid out alike need no per-line find
        monkeypatch.setattr(capture, "_csv_found", lambda *_: pytest.fail("per-line find"))
    fast = capture._csv_fast(chunk)
    slow = capture._parse_chunk_lines(chunk)
    assert fast is not None
    assert not slow.json and not slow.malformed
    assert (fast.csv, fast.lines, fast.records) == (slow.csv, slow.lines, slow.records)


def test_the_fast_path_refuses_json_content_truncated_data_and_unfinished_lines():
    # a JSON content type is JSON to the line path whatever its encoding says
    json_typed = _lines(("1,2", "text/csv"), ("3,4", "text/csv")).replace(
        b'"text/csv","mode":"INPUT"', b'"application/json","mode":"INPUT"')
    assert capture._csv_fast(json_typed) is None
    assert capture._parse_chunk_lines(json_typed).json == [b"1,2", b"3,4"]
    mixed = _lines(("0,1", "text/csv; charset=utf-8")) + json_typed  # the per-line find too
    assert capture._csv_fast(mixed) is None
    # a line cut inside its data that still ends with "}": its data must not run on
    # into the next line's
    good = _lines(("1,2", "text/csv"))
    cut = good[:good.index(b'"data":"') + len(b'"data":"1,')] + b"}\n"
    assert capture._csv_fast(cut + good) is None
    assert capture._parse_chunk_lines(cut + good).malformed == {"bad JSON": 1}
    quoted_end = good[:good.index(b'"data":"') + len(b'"data":"1,2"')] + b"}\n"
    assert capture._csv_fast(good + quoted_end) is None  # data closes, the line does not
    assert capture._csv_fast(good + good[:-1]) is None  # the last line has no newline


@pytest.mark.parametrize("with_json", [False, True], ids=["read at once", "read line by line"])
def test_a_batch_gives_its_csv_requests_back_one_by_one(tmp_path, with_json):
    """`PayloadBatch.csv_requests`: each CSV request as sent, multi-line ones whole, whether
    the chunk was cut up without JSON parsing (all CSV) or line by line (a JSON one among)."""
    bodies = ["a,b\n1,2\n", "3,4", 'x,"y ""q"""\nz,w']
    records = [capture.capture_record(body, "text/csv", "0", "text/csv", time=T0)
               for body in bodies]
    if with_json:
        records.insert(1, capture.capture_record('{"a": 1}', "application/json", "0",
                                                 "text/csv", time=T0))
    capture.append_records(tmp_path, records)
    (batch,) = capture.iter_payloads(capture.list_capture_files(tmp_path))
    assert (batch._chunk is None) is with_json  # the path under test was taken
    assert batch.csv_requests() == [body.encode() for body in bodies]
    assert batch.csv == "\n".join(bodies).encode()
