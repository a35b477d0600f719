"""SageMaker data capture: the one module that knows the format, writing and reading it.

Writers: :func:`capture_record` builds one line, :func:`append_records` files a batch of
records under a folder, and an endpoint's handler writes as it serves with
:class:`FolderCaptureWriter` (appends at once) or :class:`S3CaptureWriter` (puts small
batches: at most :data:`FLUSH_RECORDS` records or :data:`FLUSH_SECONDS` old, and at exit).

A capture file is JSON Lines, one inference per line, in SageMaker's layout
``<prefix>/<yyyy>/<mm>/<dd>/<hh>/<mm>-<ss>-<ms>-<uuid>.jsonl``::

    {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
      "data": "1.0,2.0", "encoding": "CSV"}, "endpointOutput": {...}},
     "eventMetadata": {"eventId": "<uuid>", "inferenceTime": "2026-11-27T10:00:00Z"},
     "eventVersion": "0"}

``encoding`` is ``CSV`` or ``JSON`` (``data`` holds the payload as text) or ``BASE64`` (the
payload base64-encoded; ``observedContentType`` then says whether it is CSV or JSON).

Reading is built for windows of millions of lines: files are read in chunks of bytes. When a
chunk is all CSV requests in SageMaker's serialisation, numpy finds every payload in it at
once (``bytes.find`` per line when the lines' layouts differ) and they are joined for one C
CSV parse: no JSON parsing at all. Other chunks go line by
line: a compiled regex where it recognises the request, :func:`json.loads` where it does not;
lines that still fail are counted by reason, never fatal.
Memory is bounded by the chunk size, not by the window.
"""

from __future__ import annotations

import atexit
import binascii
import json
import logging
import re
import threading
import time as clock
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

# The capture format: file names and the fields SageMaker writes.
CAPTURE_FILE_SUFFIX = ".jsonl"
"""Extension of SageMaker data-capture files."""
CAPTURE_EVENT_VERSION = "0"
"""``eventVersion`` SageMaker writes on every capture line."""

ENCODING_CSV = "CSV"
ENCODING_JSON = "JSON"
ENCODING_BASE64 = "BASE64"

FLUSH_RECORDS = 100
"""Buffered S3 capture records are put once this many are waiting..."""
FLUSH_SECONDS = 30.0
"""...or once the oldest has waited this long: serverless containers are recycled when idle,
and whatever is still in memory then is lost."""

DEFAULT_CHUNK_BYTES = 16 * 1024 * 1024
"""Bytes read per chunk: the unit that bounds the reader's memory."""

_INPUT_PATTERN = re.compile(
    rb'"endpointInput"\s*:\s*\{\s*"observedContentType"\s*:\s*"([^"\\]*)"\s*,'
    rb'\s*"mode"\s*:\s*"INPUT"\s*,'
    rb'\s*"data"\s*:\s*"([^"\\]*(?:\\.[^"\\]*)*)"\s*,'
    rb'\s*"encoding"\s*:\s*"([A-Z0-9]*)"\s*\}'
)
"""One request as SageMaker (and :func:`capture_record`) serialise it; groups: content type,
data (still JSON-escaped), encoding."""

logger = logging.getLogger(__name__)

_HOUR_PATH = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})/(\d{2})/[^/]+$")


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


def is_csv(content_type: str) -> bool:
    """Whether a content type carries CSV (``text/csv``, ``text/csv; charset=utf-8``...)."""
    return content_type.split(";")[0].strip().lower().endswith("csv")


def is_json(content_type: str) -> bool:
    """Whether a content type carries JSON (``application/json``, ``...+json``, JSON Lines)."""
    media = content_type.split(";")[0].strip().lower()
    return media.endswith("json") or media.endswith("jsonlines")


def _captured(body: bytes | str, content_type: str, mode: str) -> dict[str, str]:
    """The ``endpointInput``/``endpointOutput`` object of one body, encoded as SageMaker does."""
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    encoding = ENCODING_BASE64
    if is_csv(content_type) or is_json(content_type):
        try:
            data = raw.decode("utf-8")
            encoding = ENCODING_CSV if is_csv(content_type) else ENCODING_JSON
        except UnicodeDecodeError:
            pass
    if encoding == ENCODING_BASE64:
        data = binascii.b2a_base64(raw, newline=False).decode("ascii")
    return {"observedContentType": content_type, "mode": mode, "data": data,
            "encoding": encoding}


def format_time(time: datetime) -> str:
    """``inferenceTime`` as SageMaker writes it: UTC, ISO 8601, ``Z`` suffix."""
    if time.tzinfo is None:
        time = time.replace(tzinfo=UTC)
    return time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(text: str) -> datetime:
    """An ``inferenceTime`` back to an aware UTC datetime."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def capture_record(
    request_body: bytes | str,
    content_type: str,
    response_body: bytes | str,
    accept: str,
    event_id: str | None = None,
    time: datetime | None = None,
) -> dict[str, Any]:
    """One capture line (as a dict) for a request and its response, in SageMaker's format.

    CSV and JSON bodies are stored as text; anything else (or text that is not UTF-8) as
    base64, like SageMaker does for content types it is not told to treat as CSV or JSON.
    """
    return {
        "captureData": {
            "endpointInput": _captured(request_body, content_type, "INPUT"),
            "endpointOutput": _captured(response_body, accept, "OUTPUT"),
        },
        "eventMetadata": {
            "eventId": event_id or str(uuid.uuid4()),
            "inferenceTime": format_time(time or datetime.now(UTC)),
        },
        "eventVersion": CAPTURE_EVENT_VERSION,
    }


def capture_line(record: Mapping[str, Any]) -> bytes:
    """A record serialised compactly, as one JSON Lines line (with its newline)."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


def record_time(record: Mapping[str, Any]) -> datetime:
    """The inference time of a capture record (now if it has none)."""
    text = record.get("eventMetadata", {}).get("inferenceTime")
    return parse_time(text) if text else datetime.now(UTC)


def hour_folder(time: datetime) -> str:
    """``yyyy/mm/dd/hh`` of a time in UTC: the folder SageMaker files that hour's captures in."""
    return time.astimezone(UTC).strftime("%Y/%m/%d/%H")


def capture_file_name(time: datetime) -> str:
    """SageMaker's name for a capture file whose first record is at `time`:
    ``mm-ss-ms-<uuid>.jsonl`` (unique, so writers never collide)."""
    time = time.astimezone(UTC)
    return f"{time:%M-%S}-{time.microsecond // 1000:03d}-{uuid.uuid4()}{CAPTURE_FILE_SUFFIX}"


def append_records(folder: str | Path, records: Iterable[Mapping[str, Any]]) -> list[Path]:
    """Write records as new capture files under `folder`, one file per inference hour.

    Files follow SageMaker's layout and naming (``yyyy/mm/dd/hh/mm-ss-ms-<uuid>.jsonl``,
    named after the first record's time), so the drift job reads our captures and
    SageMaker's alike. Existing files are never rewritten: each call adds new files.
    """
    by_hour: dict[str, list[Mapping[str, Any]]] = {}
    first: dict[str, datetime] = {}
    for record in records:
        time = record_time(record)
        key = hour_folder(time)
        by_hour.setdefault(key, []).append(record)
        first.setdefault(key, time)
    written = []
    for key, group in by_hour.items():
        path = Path(folder) / key / capture_file_name(first[key])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(capture_line(record) for record in group))
        written.append(path)
    return written


class FolderCaptureWriter:
    """Records appended to a local folder as they come, like an endpoint writes them.

    Each record goes into its own hour's folder (``yyyy/mm/dd/hh/``), in one file per hour per
    writer, named after that hour's first record; nothing is buffered. Thread-safe.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()
        self._hour: str | None = None
        self._path: Path | None = None

    def write(self, record: Mapping[str, Any], time: datetime | None = None) -> None:
        """Append one record (`time`: its inference time, read from the record if not given)."""
        time = time or record_time(record)
        key, line = hour_folder(time), capture_line(record)
        with self._lock:
            if key != self._hour or self._path is None:
                path = self.folder / key / capture_file_name(time)
                path.parent.mkdir(parents=True, exist_ok=True)
                self._hour, self._path = key, path
            with open(self._path, "ab") as handle:
                handle.write(line)

    def flush(self) -> None:
        """Nothing to do: every record is on disk once `write` returns."""

    def close(self) -> None:
        """Nothing to release."""


class S3CaptureWriter:
    """Records put to ``s3://bucket/prefix/yyyy/mm/dd/hh/`` in small batches, each record
    under its own hour.

    Records wait in memory until :data:`FLUSH_RECORDS` of them are buffered or the oldest is
    :data:`FLUSH_SECONDS` old (checked on every write, and by a daemon timer when no request
    comes), and at interpreter exit; one object per hour per batch. A failed put is logged
    and its records are dropped: capture never fails or blocks a prediction. Thread-safe.
    """

    def __init__(self, s3_uri: str, client: Any = None, *, max_records: int = FLUSH_RECORDS,
                 max_seconds: float = FLUSH_SECONDS,
                 monotonic: Callable[[], float] = clock.monotonic) -> None:
        bucket, _, prefix = s3_uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"capture S3 URI {s3_uri!r} names no bucket")
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.max_records, self.max_seconds = max_records, max_seconds
        if client is None:  # now, not at exit: boto3 cannot build a client during shutdown
            import boto3  # noqa: PLC0415 - the image has it; the drift job need not load it

            client = boto3.client("s3")
        self._client = client
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._hours: dict[str, tuple[datetime, list[bytes]]] = {}
        self._count = 0
        self._oldest = 0.0
        self._timer: threading.Timer | None = None
        atexit.register(self.flush)

    def write(self, record: Mapping[str, Any], time: datetime | None = None) -> None:
        """Buffer one record; put the buffer if it is now full or old enough."""
        time = time or record_time(record)
        key, line = hour_folder(time), capture_line(record)
        with self._lock:
            if not self._count:
                self._oldest = self._monotonic()
            self._hours.setdefault(key, (time, []))[1].append(line)
            self._count += 1
            due = (self._count >= self.max_records
                   or self._monotonic() - self._oldest >= self.max_seconds)
            if not due and (self._timer is None or not self._timer.is_alive()):
                self._timer = threading.Timer(self.max_seconds, self.flush)
                self._timer.daemon = True
                self._timer.start()
        if due:
            self.flush()

    def flush(self) -> None:
        """Put every buffered record now, one object per hour; never raises."""
        with self._lock:
            hours, self._hours, self._count = self._hours, {}, 0
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        for key, (first, lines) in hours.items():
            object_key = f"{self.prefix}/{key}/{capture_file_name(first)}".lstrip("/")
            try:
                self._client.put_object(Bucket=self.bucket, Key=object_key,
                                      Body=b"".join(lines), ContentType="application/jsonl")
            except Exception:  # noqa: BLE001 - capture must not fail the endpoint
                logger.warning("data capture: %d record(s) for s3://%s/%s lost", len(lines),
                               self.bucket, object_key, exc_info=True)

    def close(self) -> None:
        """Put what is buffered and stop watching for exit."""
        self.flush()
        atexit.unregister(self.flush)


# --------------------------------------------------------------------------------------
# Finding files
# --------------------------------------------------------------------------------------


def capture_file_hour(path: str | Path, root: str | Path | None = None) -> datetime | None:
    """The hour a capture file belongs to, from its ``yyyy/mm/dd/hh/`` folders (None if not
    in that layout)."""
    path = Path(path)
    relative = path.relative_to(root) if root is not None else path
    match = _HOUR_PATH.search(relative.as_posix())
    if not match:
        return None
    try:
        return datetime(*(int(part) for part in match.groups()), tzinfo=UTC)
    except ValueError:
        return None


def list_capture_files(
    folder: str | Path, start: datetime | None = None, end: datetime | None = None
) -> list[Path]:
    """``*.jsonl`` files under `folder` (recursively, sorted) whose hour overlaps [start, end).

    Files outside the ``yyyy/mm/dd/hh`` layout carry no hour and are always included.
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    files = []
    for path in sorted(root.rglob(f"*{CAPTURE_FILE_SUFFIX}")):
        if not path.is_file():
            continue
        hour = capture_file_hour(path, root)
        if hour is not None:
            if start is not None and hour + timedelta(hours=1) <= start:
                continue
            if end is not None and hour >= end:
                continue
        files.append(path)
    return files


# --------------------------------------------------------------------------------------
# Streaming the requests back
# --------------------------------------------------------------------------------------


@dataclass
class PayloadBatch:
    """The requests of one chunk of capture lines, decoded but not yet parsed.

    ``csv`` holds every CSV request payload of the chunk joined by newlines (one C-parser
    call parses them all); ``json`` the JSON payloads. Requests that are neither, or whose
    data cannot be decoded, are counted in ``malformed`` by reason.
    """

    csv: bytes = b""
    json: list[bytes] = field(default_factory=list)
    lines: int = 0
    records: int = 0
    malformed: Counter = field(default_factory=Counter)
    _csv_requests: list[bytes] | None = field(default=None, repr=False)
    _chunk: bytes | None = field(default=None, repr=False)

    def csv_requests(self) -> list[bytes]:
        """Each CSV request's payload, in order (``csv`` is them joined): for a reader that
        needs the requests one by one. A chunk read without JSON parsing is read again line by
        line, so only that reader pays for it; a batch built by hand is one request."""
        if self._csv_requests is None:
            self._csv_requests = (_parse_chunk_lines(self._chunk).csv_requests()
                                  if self._chunk is not None else [self.csv] if self.csv else [])
        return self._csv_requests


def _iter_chunks(paths: Sequence[Path], chunk_bytes: int) -> Iterator[bytes]:
    """Whole lines, in chunks of about `chunk_bytes` (a chunk never spans two files)."""
    for path in paths:
        with open(path, "rb") as handle:
            while True:
                block = handle.read(chunk_bytes)
                if not block:
                    break
                if not block.endswith(b"\n"):
                    block += handle.readline()
                    if not block.endswith(b"\n"):
                        block += b"\n"
                yield block


def _request_of_line(line: bytes) -> tuple[str, bytes, str] | None:
    """(content type, data, encoding) of one line through json.loads; None if it has none."""
    try:
        request = json.loads(line)["captureData"]["endpointInput"]
        data = request["data"]
        if not isinstance(data, str):
            return None
        return (str(request["observedContentType"]), data.encode("utf-8"),
                str(request["encoding"]))
    except (ValueError, KeyError, TypeError):
        return None


def _unescape(data: bytes) -> bytes | None:
    """UTF-8 bytes of a JSON string body taken raw from a line (None if its escapes are bad)."""
    if b"\\" not in data:
        return data
    try:
        return json.loads(b'"' + data + b'"').encode("utf-8")
    except ValueError:
        return None


def _add_request(
    batch: PayloadBatch, csv_parts: list[bytes], content_type: str, data: bytes, encoding: str
) -> None:
    """File one request (data already unescaped) into the batch, or count it as malformed."""
    encoding = encoding.upper()
    if encoding == ENCODING_BASE64:
        try:
            data = binascii.a2b_base64(data, strict_mode=True)
        except (binascii.Error, ValueError):
            batch.malformed["bad base64"] += 1
            return
    elif encoding not in (ENCODING_CSV, ENCODING_JSON):
        batch.malformed["unknown encoding"] += 1
        return
    if is_csv(content_type) or (encoding == ENCODING_CSV and not is_json(content_type)):
        csv_parts.append(data)
    elif is_json(content_type) or encoding == ENCODING_JSON:
        batch.json.append(data)
    else:
        batch.malformed["unsupported content type"] += 1
        return
    batch.records += 1


_CSV_START = b'"mode":"INPUT","data":"'
_CSV_END = b'","encoding":"CSV"}'
_TYPE_KEY = b'"observedContentType":"'
_CSV_PREFIX = re.compile(
    rb'"endpointInput":\{"observedContentType":"([^"\\]*)",' + re.escape(_CSV_START) + rb"\Z")
"""The end of a line's text before its request data, when the request is CSV-encoded."""
_DATA_WINDOW = 256
"""Bytes after each data start searched at once for the data's closing quote; longer data
(rows of many features) is found with ``bytes.find`` line by line."""


def _csv_fast(chunk: bytes) -> PayloadBatch | None:
    """The CSV requests of a chunk without JSON parsing, if every line is one CSV request.

    The chunk is vouched for only if every line ends with ``}`` (no truncated line) and each
    line's request is CSV-encoded with data that ends inside the line (data never holds a raw
    newline or an unescaped quote: JSON escapes them); otherwise None, and the caller parses
    the chunk line by line. JSON escapes in the data (multi-row payloads) are decoded for the
    whole chunk at once.
    """
    view = np.frombuffer(chunk, dtype=np.uint8)
    line_ends = np.flatnonzero(view == ord("\n"))
    if not len(line_ends) or line_ends[-1] != len(view) - 1 \
            or not np.all(view[line_ends - 1] == ord("}")):
        return None
    joined = _csv_same_prefix(chunk, view, line_ends)
    if joined is None:
        joined = _csv_found(chunk, len(line_ends))
    if joined is None:
        return None
    if b"\\" in joined:
        try:
            joined = json.loads(b'"' + joined + b'"', strict=False).encode("utf-8")
        except ValueError:
            return None
    return PayloadBatch(csv=joined, lines=len(line_ends), records=len(line_ends), _chunk=chunk)


def _csv_filed(content_type: str) -> bool:
    """Whether :func:`_add_request` files a CSV-encoded request of this type as CSV (a JSON
    content type wins over the encoding)."""
    return is_csv(content_type) or not is_json(content_type)


def _rows(view: np.ndarray, width: int) -> np.ndarray:
    """Every `width`-byte slice of `view` as a row (row i starts at byte i), without copying."""
    return np.lib.stride_tricks.as_strided(view, (len(view) - width + 1, width), (1, 1),
                                           writeable=False)


def _csv_same_prefix(chunk: bytes, view: np.ndarray, line_ends: np.ndarray) -> bytes | None:
    """The data of every line joined by newlines, when every line starts with the first
    line's text up to its CSV data (one endpoint's traffic: same layout, same content type).

    Found with whole-array operations: no Python work per line, except a ``find`` for data
    longer than :data:`_DATA_WINDOW` bytes. None when the lines differ.
    """
    head = chunk.find(_CSV_START, 0, int(line_ends[0]))
    if head < 0:
        return None
    width = head + len(_CSV_START)
    match = _CSV_PREFIX.search(chunk, 0, width)
    if match is None:
        return None
    if not _csv_filed(match.group(1).decode("utf-8", "replace")):
        return None
    line_starts = np.empty_like(line_ends)
    line_starts[0] = 0
    line_starts[1:] = line_ends[:-1] + 1
    starts = line_starts + width
    if np.any(starts > line_ends):
        return None
    if not np.all(_rows(view, width)[line_starts] == view[:width]):
        return None
    ends = np.full(len(starts), -1, dtype=np.int64)
    span = min(_DATA_WINDOW, len(view))
    inside = np.flatnonzero(starts <= len(view) - span)
    windows = _rows(view, span)[starts[inside]]
    quotes = windows == ord('"')
    first = quotes.argmax(axis=1)
    hit = quotes[np.arange(len(inside)), first]
    ends[inside[hit]] = starts[inside[hit]] + first[hit]
    for index in np.flatnonzero(ends < 0).tolist():  # long data, or the chunk's last bytes
        ends[index] = chunk.find(b'"', int(starts[index]))
    suffix = np.frombuffer(_CSV_END, dtype=np.uint8)
    if np.any(ends < 0) or np.any(ends + len(suffix) > line_ends) \
            or not np.all(_rows(view, len(suffix))[ends] == suffix):
        return None
    lengths = ends - starts
    if len(inside) == len(starts) and hit.all():  # all in the windows: cut them out at once
        block = windows[:, :int(lengths.max()) + 1]
        block[np.arange(len(block)), lengths] = ord("\n")  # the closing quote
        return block[np.arange(block.shape[1]) <= lengths[:, None]][:-1].tobytes()
    return b"\n".join(map(chunk.__getitem__, map(slice, starts.tolist(), ends.tolist())))


def _csv_found(chunk: bytes, expected: int) -> bytes | None:
    """The CSV data of a chunk by ``bytes.find`` per line, joined by newlines, if there are
    `expected` requests (one per line), none of a JSON content type, and no slice leaves its
    request's data."""
    find, rfind = chunk.find, chunk.rfind
    datas: list[bytes] = []
    append = datas.append
    content_types = set()
    start_length = len(_CSV_START)
    position = 0
    while True:
        start = find(_CSV_START, position)
        if start < 0:
            break
        type_start = rfind(_TYPE_KEY, position, start)
        if type_start < 0:
            return None
        content_types.add(chunk[type_start + len(_TYPE_KEY):start - 2])
        start += start_length
        end = find(_CSV_END, start)
        if end < 0:
            return None
        append(chunk[start:end])
        position = end
    if len(datas) != expected or not all(_csv_filed(t.decode("utf-8", "replace"))
                                         for t in content_types):
        return None
    joined = b"\n".join(datas)
    if joined.count(b"\n") != len(datas) - 1:  # a slice spanned two lines
        return None
    if joined.count(b'"') != joined.count(b'\\"'):  # a slice ran past its request's data
        return None
    return joined


def _parse_chunk_lines(chunk: bytes) -> PayloadBatch:
    """The requests of a chunk line by line: the regex where it vouches, else json.loads."""
    batch = PayloadBatch()
    csv_parts: list[bytes] = []
    for line in chunk.split(b"\n"):
        line = line.strip()
        if not line:
            continue
        batch.lines += 1
        request = None
        match = _INPUT_PATTERN.search(line) if line.endswith(b"}") else None
        if match and line.count(b'"endpointInput"') == 1:
            data = _unescape(match.group(2))
            if data is not None:
                request = (match.group(1).decode(), data, match.group(3).decode())
        if request is None:
            request = _request_of_line(line)
        if request is None:
            batch.malformed["bad JSON"] += 1
            continue
        _add_request(batch, csv_parts, *request)
    batch.csv = b"\n".join(csv_parts)
    batch._csv_requests = csv_parts
    return batch


def iter_payloads(
    paths: Sequence[str | Path], chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> Iterator[PayloadBatch]:
    """The request payloads of capture files, one :class:`PayloadBatch` per chunk of lines."""
    for chunk in _iter_chunks([Path(path) for path in paths], chunk_bytes):
        yield _csv_fast(chunk) or _parse_chunk_lines(chunk)
