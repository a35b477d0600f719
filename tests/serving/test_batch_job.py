"""The batch job (training/serve/batch.py) on real data with dirt added: every row is scored as
the endpoint's handler scores it, or refused with its line number and reason."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from training.contract import BATCH_REPORT_PREFIX, PREDICTION_COLUMN, REFUSED_ROWS_PREFIX
from training.serve import batch, inference


def _write_dirty_cancer(frame, path: Path) -> dict[int, str]:
    """The breast cancer features with an ID column first (unknown to the model), columns in
    another order than the schema's, and dirt on known lines: returns line -> what is wrong."""
    features = frame.drop(columns=["diagnosis_benign"])
    columns = ["customer_id", *reversed(list(features.columns))]
    dirt: dict[int, str] = {}
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        line = 1
        for index, (_, row) in enumerate(features.iterrows()):
            values = [f"C{index:05d}", *("" if isinstance(v, float) and np.isnan(v) else
                                          str(v) for v in reversed(list(row.values)))]
            line += 1
            if index == 5:
                values[2] = "twelve"  # text in a numeric column
                dirt[line] = "expected a number"
            elif index == 17:
                values = values[:-3]  # a short line
                dirt[line] = "values, the header has"
            elif index == 40:
                values[4] = "inf"
                dirt[line] = "expected a number"
            elif index == 41:
                handle.write("\n")  # a blank line is not a row
                line += 1
            writer.writerow(values)
    return dirt


def _handler_reply(model_dir: Path, rows: list[list[str]], header: list[str]) -> list[list[str]]:
    """What the endpoint answers for these rows sent as one CSV request with their header."""
    model = inference.model_fn(str(model_dir))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = model.schema.feature_names
    positions = [header.index(name) for name in names]
    writer.writerow(names)
    writer.writerows([[row[p] for p in positions] for row in rows])
    reply = inference.output_fn(inference.predict_fn(
        inference.input_fn(buffer.getvalue(), "text/csv"), model), "text/csv")
    assert reply.status == 200, reply.body
    return list(csv.reader(io.StringIO(reply.body.decode())))


@pytest.mark.parametrize("chunk_rows", [7, 1000])
def test_dirty_rows_are_refused_with_their_lines_and_the_rest_scored_as_the_endpoint_does(
        classifier, tmp_path, chunk_rows):
    # GIVEN real data with an ID column, reordered columns and four kinds of dirt
    source = tmp_path / "in" / "day1.csv"
    source.parent.mkdir()
    dirt = _write_dirty_cancer(classifier.frame, source)
    model = inference.model_fn(str(classifier.model_dir))

    # WHEN the batch job scores it in chunks
    report = batch.score_folder(model, source.parent, tmp_path / "out", chunk_rows=chunk_rows,
                                max_refused_share=0.01)

    # THEN every dirty line is refused, named, and counted; the others are scored
    assert report.rows == len(classifier.frame)
    assert report.refused == len(dirt)
    assert report.scored == report.rows - len(dirt)
    with (tmp_path / "out" / f"{REFUSED_ROWS_PREFIX}-algo-1.csv").open() as handle:
        refused = {int(row["line"]): row["reason"] for row in csv.DictReader(handle)}
    assert set(refused) == set(dirt)
    for line, reason in refused.items():
        assert dirt[line] in reason
    saved = json.loads((tmp_path / "out" / f"{BATCH_REPORT_PREFIX}-algo-1.json").read_text())
    assert saved["refused"] == len(dirt) and saved["passed"] is True
    # ... and each scored row carries exactly the endpoint's reply for it
    with (tmp_path / "out" / "day1.csv.scored.csv").open() as handle:
        scored = list(csv.reader(handle))
    header, rows = scored[0], scored[1:]
    input_width = header.index(PREDICTION_COLUMN)
    assert header[input_width:] == [PREDICTION_COLUMN, "probability_0", "probability_1"]
    inputs = [row[:input_width] for row in rows]
    batch_replies = [row[input_width:] for row in rows]
    endpoint_replies = _handler_reply(classifier.model_dir, inputs, header[:input_width])
    if chunk_rows >= len(rows):
        # the same rows in one request: byte for byte the endpoint's reply
        assert batch_replies == endpoint_replies
    else:
        # other groupings: the same labels; probabilities equal to the last bits of a float
        # (a matrix product over 7 rows and over 565 rounds differently, as it does on the
        # endpoint between requests of different sizes)
        assert [row[0] for row in batch_replies] == [row[0] for row in endpoint_replies]
        np.testing.assert_allclose(np.array(batch_replies, dtype=float),
                                   np.array(endpoint_replies, dtype=float),
                                   rtol=1e-12, atol=1e-15)
    assert len({row[0] for row in rows}) == len(rows)  # the ID is kept through


def test_the_run_fails_when_the_refused_share_passes_the_limit(classifier, tmp_path):
    source = tmp_path / "in.csv"
    _write_dirty_cancer(classifier.frame, source)
    model = inference.model_fn(str(classifier.model_dir))
    report = batch.score_folder(model, source, tmp_path / "out", max_refused_share=0.001)
    assert not report.passed
    assert "the run fails" in report.summary()
    assert report.scored == report.rows - report.refused  # the good rows are still scored


def test_a_header_without_a_feature_refuses_every_row(regressor, tmp_path):
    frame = regressor.features.drop(columns=["bmi"]).head(25)
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    model = inference.model_fn(str(regressor.model_dir))
    report = batch.score_folder(model, source, tmp_path / "out")
    assert (report.rows, report.scored, report.refused) == (25, 0, 25)
    assert "bmi" in report.files[0].problem
    assert report.examples[0].line == 2


def test_json_lines_output_and_regression(regressor, tmp_path):
    source = tmp_path / "in" / "nested" / "part.csv"
    source.parent.mkdir(parents=True)
    regressor.features.head(30).to_csv(source, index=False)
    model = inference.model_fn(str(regressor.model_dir))
    report = batch.score_folder(model, tmp_path / "in", tmp_path / "out", output_format="jsonl")
    assert report.scored == 30
    lines = (tmp_path / "out" / "nested" / "part.csv.scored.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    expected = inference.model_fn(str(regressor.model_dir)).pipeline.predict(
        regressor.features.head(30))
    assert np.allclose([record[PREDICTION_COLUMN] for record in records], expected)


def test_the_handler_decides_when_the_pre_check_lets_a_row_through(classifier, tmp_path,
                                                                   monkeypatch):
    # GIVEN a pre-check that finds nothing: the handler's refusal isolates the bad row
    monkeypatch.setattr(batch, "refused_by_values", lambda table, model: {})
    source = tmp_path / "in.csv"
    dirt = _write_dirty_cancer(classifier.frame, source)
    model = inference.model_fn(str(classifier.model_dir))
    report = batch.score_folder(model, source, tmp_path / "out", chunk_rows=64)
    lines = {example.line for example in report.examples}
    assert lines == set(dirt)


def test_main_exit_codes(classifier, tmp_path, capsys):
    source = tmp_path / "in.csv"
    _write_dirty_cancer(classifier.frame, source)
    common = ["--model-dir", str(classifier.model_dir), "--input-dir", str(source),
              "--output-dir", str(tmp_path / "out")]
    assert batch.main(common) == 0
    assert batch.main([*common, "--max-refused-share", "0"]) == 0  # the pipeline fails it
    report = json.loads((tmp_path / "out" / f"{BATCH_REPORT_PREFIX}-algo-1.json").read_text())
    assert report["passed"] is False and report["refused"] == 3
    assert batch.main([*common[:2], "--input-dir", str(tmp_path / "nope"),
                       "--output-dir", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_chunk_of_only_bad_values_scores_nothing_and_refuses_each(regressor, tmp_path):
    frame = regressor.features.head(4).astype(object)
    frame["bmi"] = "heavy"
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    model = inference.model_fn(str(regressor.model_dir))
    report = batch.score_folder(model, source, tmp_path / "out")
    assert (report.scored, report.refused) == (0, 4)
    assert [example.line for example in report.examples] == [2, 3, 4, 5]


@pytest.mark.parametrize(("shift", "drifted"), [(1.0, False), (2.5, True)])
def test_the_drift_job_reads_a_batch_as_a_window(classifier, tmp_path, shift, drifted):
    """The scored rows, written as capture records, are a window of the drift job."""
    from training.eda.drift_baseline import baseline_of_frame
    from training.monitor.drift import run_drift

    baseline = tmp_path / "baseline"
    baseline.mkdir()
    (baseline / "statistics.json").write_text(json.dumps(baseline_of_frame(
        classifier.frame, "diagnosis_benign", "classification")))
    rows = classifier.features.copy()
    rows["mean radius"] = rows["mean radius"] * shift
    rows.insert(0, "row_id", range(len(rows)))
    rows.to_csv(tmp_path / "in.csv", index=False)
    model = inference.model_fn(str(classifier.model_dir))
    report = batch.score_folder(model, tmp_path / "in.csv", tmp_path / "out",
                                capture_dir=tmp_path / "out" / "capture")
    drift = run_drift(tmp_path / "out" / "capture", baseline, window_hours=0)
    assert drift["records_read"] == -(-report.scored // 1000)
    assert drift["malformed"]["total"] == 0 and drift["violations"] == []
    assert ("mean radius" in {f["name"] for f in drift["features"] if f["drifted"]}) is drifted
