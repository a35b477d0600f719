"""The drift job reads captured request bodies as the endpoint reads them: a header row, the
target column and the columns the model drops are traffic, not malformed; what the endpoint
refuses is malformed under the endpoint's reason."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from tests.serving.conftest import CLASSIFICATION_TARGET, cancer_frame, fit_and_save
from tests.training.test_drift import (
    T0,
    check,
    split,
    write_csv_capture,
    write_json_capture,
    write_statistics,
)
from training import capture
from training.baseline import baseline_statistics
from training.data.schema import load_schema
from training.monitor import drift
from training.monitor.payloads import collect
from training.monitor.reference import baseline_of_document
from training.serve import inference, request_body

TARGET = "progression"


def csv_requests(frame: pd.DataFrame, folder, rows_per_request: int = 10, header=True):
    bodies = [frame.iloc[i:i + rows_per_request].to_csv(index=False, header=header,
                                                         lineterminator="\n")
              for i in range(0, len(frame), rows_per_request)]
    return capture.append_records(folder, [capture.capture_record(
        body, "text/csv", "0.5", "text/csv", time=T0) for body in bodies])


@pytest.fixture
def halves(diabetes_frame):
    """The baseline half (target named in the baseline, as Profile writes it), the live
    half's features and, aligned with it, the live half with its target."""
    baseline, live = split(diabetes_frame)
    target = diabetes_frame[TARGET].sample(frac=1, random_state=0).iloc[:len(live)].to_numpy()
    return baseline.assign(**{TARGET: 1.0}), live.head(100), live.head(100).assign(
        **{TARGET: target[:100]})


def test_a_header_row_with_the_target_is_traffic_like_headerless_rows(halves, tmp_path):
    baseline, live, labelled = halves
    write_statistics(baseline, tmp_path / "baseline", target=TARGET)
    write_csv_capture(live, tmp_path / "plain", rows_per_request=10)
    # GIVEN requests with a header, the target column first and the features reversed
    reordered = labelled[[TARGET, *reversed(live.columns)]]
    csv_requests(reordered, tmp_path / "headed")
    # WHEN the drift job reads both windows
    plain = drift.run_drift(tmp_path / "plain", tmp_path / "baseline", window_hours=0)
    headed = drift.run_drift(tmp_path / "headed", tmp_path / "baseline", window_hours=0)
    # THEN the headed requests are the same traffic: no malformed row, the same statistics
    assert headed["malformed"]["total"] == 0 and headed["violations"] == []
    assert headed["header_rows_skipped"] == 10 and headed["rows_analyzed"] == 100
    assert [f["metrics"] for f in headed["features"]] == [
        f["metrics"] for f in plain["features"]]


def test_json_records_with_the_target_are_traffic_and_the_target_no_new_column(halves,
                                                                               tmp_path):
    baseline, live, labelled = halves
    write_statistics(baseline, tmp_path / "baseline", target=TARGET)
    write_csv_capture(live, tmp_path / "plain")
    records = labelled.to_dict("records")
    write_json_capture([records[:50], *records[50:]], tmp_path / "json")
    plain = drift.run_drift(tmp_path / "plain", tmp_path / "baseline", window_hours=0)
    named = drift.run_drift(tmp_path / "json", tmp_path / "baseline", window_hours=0)
    assert named["malformed"]["total"] == 0 and named["violations"] == []
    assert named["rows_analyzed"] == 100
    assert [f["metrics"] for f in named["features"]] == [
        f["metrics"] for f in plain["features"]]


def test_without_the_target_in_the_baseline_a_header_naming_it_is_refused(halves, tmp_path):
    """A baseline that does not name the target (Model Monitor's own, or an older one of
    ours): a header with the target is not a header, so its rows are the wrong width."""
    baseline, _, labelled = halves
    write_statistics(baseline.drop(columns=TARGET), tmp_path / "baseline")
    csv_requests(labelled.head(30), tmp_path / "capture")
    report = drift.run_drift(tmp_path / "capture", tmp_path / "baseline", window_hours=0)
    assert report["malformed"]["by_reason"] == {request_body.WRONG_COLUMN_COUNT: 3}
    assert report["rows_analyzed"] == 0


def test_requests_the_endpoint_refuses_stay_malformed_among_good_ones(halves, tmp_path):
    baseline, live, labelled = halves
    files = write_csv_capture(live, tmp_path / "capture", rows_per_request=10)
    header = ",".join(live.columns)
    refused = [
        "1.0,2.0,3.0",  # a headerless row of 3 values
        header + "\n" + "1," * (len(live.columns) - 1) + "1\n1,2",  # ragged rows
        ",".join(live.columns[1:]) + "\n" + "1," * (len(live.columns) - 2) + "1",  # a feature
        # left out of the header
    ]
    with open(files[0], "ab") as handle:
        for body in refused:
            handle.write(capture.capture_line(capture.capture_record(
                body, "text/csv", "0", "text/csv", time=T0)))
    report = check(baseline.drop(columns=TARGET), tmp_path / "capture", tmp_path)
    assert report["malformed"]["by_reason"] == {request_body.WRONG_COLUMN_COUNT: 2,
                                                request_body.MISSING_COLUMN: 1}
    assert report["rows_analyzed"] == len(live)


def test_text_in_a_number_column_of_a_headed_request_is_a_type_mismatch(halves, tmp_path):
    """The existing rule, on the requests read one by one: counted per column, not refused."""
    baseline, _, labelled = halves
    labelled = labelled.astype({"bmi": object})
    labelled.loc[labelled.index[:3], "bmi"] = "n/a"
    csv_requests(labelled, tmp_path / "capture")
    write_statistics(baseline, tmp_path / "baseline", target=TARGET)
    report = drift.run_drift(tmp_path / "capture", tmp_path / "baseline", window_hours=0)
    assert report["malformed"]["total"] == 0
    assert [(v["feature"], v["kind"], v["count"]) for v in report["violations"]] == [
        ("bmi", "type_mismatch", 3)]


# --------------------------------------------------------------------------------------
# The handler and the drift job on the same bodies, each with its own function
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A served classifier (the serving tests' own) and what it was trained on."""
    trained = fit_and_save(cancer_frame(), CLASSIFICATION_TARGET, "classification",
                           LogisticRegression(max_iter=2000),
                           tmp_path_factory.mktemp("classifier") / "model")
    return inference.model_fn(str(trained.model_dir)), trained


@pytest.fixture(scope="module")
def served_baseline(served):
    """The drift baseline of the served model's features, naming its target."""
    model, trained = served
    schema = load_schema(trained.model_dir / "schema.json")
    return baseline_of_document(baseline_statistics(trained.frame, schema.features,
                                                    target=schema.target))


def bodies(frame: pd.DataFrame, target: str) -> dict[str, tuple[str, str, int]]:
    """Bodies by case: (content type, body, rows the endpoint reads or 0 if it refuses)."""
    features = frame.drop(columns=target).head(4)
    names = list(features.columns)
    plain = features.to_csv(index=False, header=False)
    text = features.astype({"mean area": object})
    text.iloc[1, names.index("mean area")] = "n/a"
    records = frame.head(4).to_dict("records")
    return {
        "headerless CSV": ("text/csv", plain, 4),
        "CSV header": ("text/csv", features.to_csv(index=False), 4),
        "CSV header with the target, reordered": (
            "text/csv", frame.head(4)[[target, *reversed(names)]].to_csv(index=False), 4),
        "JSON records with the target": ("application/json", json.dumps(records), 4),
        "JSON rows": ("application/json", json.dumps(features.values.tolist()), 4),
        "JSON columns with the target": (
            "application/json", json.dumps(frame.head(4).to_dict("list")), 4),
        "too few values": ("text/csv", "1,2,3\n", 0),
        "the target without a header": (
            "text/csv", frame.head(4).to_csv(index=False, header=False), 0),
        "ragged rows": ("text/csv", plain + "1,2\n", 0),
        "a header missing a feature": ("text/csv", features[names[1:]].to_csv(index=False), 0),
        "a header with a repeated column": (
            "text/csv", features[[*names, names[0]]].to_csv(index=False), 0),
        "a header only": ("text/csv", ",".join(names) + "\n", 0),
        "JSON rows of the wrong width": ("application/json", json.dumps([[1, 2], [3, 4]]), 0),
        "not a JSON shape": ("application/json", "3", 0),
        "text in a number column": ("text/csv", text.to_csv(index=False, header=False), 0),
    }


@pytest.mark.parametrize("case", list(bodies(cancer_frame(), CLASSIFICATION_TARGET)))
def test_the_handler_and_the_drift_job_agree_on_a_body(served, served_baseline, case,
                                                       tmp_path):
    model, trained = served
    content_type, body, rows = bodies(trained.frame, trained.target)[case]
    # the handler
    answer = inference.predict_fn(inference.input_fn(body, content_type), model)
    # the drift job, on the body as the endpoint's capture holds it
    capture.append_records(tmp_path, [capture.capture_record(
        body, content_type, "{}", "application/json", time=T0)])
    stats = collect(served_baseline, capture.list_capture_files(tmp_path))
    if rows:
        assert not isinstance(answer, inference.Failure), answer
        assert len(answer.predictions) == rows
        assert (stats.rows, dict(+stats.malformed)) == (rows, {})
    elif answer.reason == request_body.TEXT_IN_NUMBER_COLUMN:
        # refused by the handler; the drift job counts it as a type mismatch (its report's
        # schema violation), as the existing rule says
        assert stats.rows == 4 and dict(+stats.malformed) == {}
        assert stats.windows["mean area"].mismatched == 1
    else:
        assert isinstance(answer, inference.Failure) and answer.status == 400
        assert (stats.rows, dict(+stats.malformed)) == (0, {answer.reason: 1})
