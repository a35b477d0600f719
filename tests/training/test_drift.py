"""training.monitor.drift on real data: no alarm on an iid half, alarms on shifted features, schema
violations, empty and malformed windows, the job's entry point and CloudWatch publishing."""

from __future__ import annotations

import json
import math
import socket
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import pytest

from training import capture
from training.baseline import baseline_statistics, bucket_counts
from training.contract import (
    BASELINE_STATISTICS_FILE,
    DRIFT_DETECTED_METRIC,
    DRIFT_HTML_FILE,
    DRIFT_METRIC_NAMESPACE,
    DRIFT_REPORT_FILE,
    FEATURE_DRIFT_SCORE_METRIC,
    LOCAL_METRICS_FILE_ENV,
    MALFORMED_RECORDS_METRIC,
    RECORDS_ANALYZED_METRIC,
    SCHEMA_VIOLATIONS_METRIC,
    FeatureType,
)
from training.data.schema import Feature
from training.monitor import drift
from training.monitor.cloudwatch import cloudwatch_metric_data, publish_metrics
from training.monitor.metrics import DriftThresholds, js_distance, psi
from training.monitor.reference import DriftInputError, baseline_of_document, load_baseline
from training.monitor.report import STATUS_LOW_TRAFFIC, STATUS_NO_TRAFFIC, STATUS_OK
from training.monitor.window import NumericWindow

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
TARGETS = ("diagnosis_benign", "progression")


# --------------------------------------------------------------------------------------
# Helpers: a Model Monitor baseline from a DataFrame, capture files from a DataFrame
# --------------------------------------------------------------------------------------


def write_statistics(frame: pd.DataFrame, folder: Path, sketch: bool = False,
                     target: str | None = None) -> Path:
    """statistics.json of `frame` as Profile writes it (`baseline_statistics`: numeric
    columns numeric, text columns categorical; `target`, when given, named as the label, not
    a feature); without `sketch` the KLL sketches are left out, as in a baseline that has
    none (the checks then read CDFs off the buckets)."""
    features = [Feature(name, FeatureType.NUMERIC if pd.api.types.is_numeric_dtype(frame[name])
                        else FeatureType.CATEGORICAL) for name in frame.columns if name != target]
    statistics = baseline_statistics(frame, features, target=target)
    if not sketch:
        for feature in statistics["features"]:
            feature.get("numerical_statistics", {}).get("distribution", {}).get(
                "kll", {}).pop("sketch", None)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / BASELINE_STATISTICS_FILE
    path.write_text(json.dumps(statistics))
    return path


def write_csv_capture(frame: pd.DataFrame, folder: Path, time: datetime = T0,
                      rows_per_request: int = 1) -> list[Path]:
    """One capture record per `rows_per_request` rows, headerless CSV in the frame's order."""
    lines = frame.to_csv(header=False, index=False, lineterminator="\n").splitlines()
    records = [capture.capture_record("\n".join(lines[i:i + rows_per_request]), "text/csv",
                                      "0.5", "text/csv", time=time)
               for i in range(0, len(lines), rows_per_request)]
    return capture.append_records(folder, records)


def write_json_capture(payloads: list, folder: Path, time: datetime = T0) -> list[Path]:
    records = [capture.capture_record(json.dumps(p), "application/json", "{}",
                                      "application/json", time=time) for p in payloads]
    return capture.append_records(folder, records)


def split(frame: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A random half for the baseline and the other half as live traffic."""
    frame = frame.drop(columns=[c for c in TARGETS if c in frame.columns])
    order = np.random.default_rng(seed).permutation(len(frame))
    half = len(frame) // 2
    return (frame.iloc[order[:half]].reset_index(drop=True),
            frame.iloc[order[half:]].reset_index(drop=True))


def check(baseline_frame, capture_dir, tmp_path, sketch=False, **thresholds):
    write_statistics(baseline_frame, tmp_path / "baseline", sketch)
    return drift.run_drift(capture_dir, tmp_path / "baseline",
                           window_hours=0, thresholds=DriftThresholds(**thresholds))


def by_name(report):
    return {feature["name"]: feature for feature in report["features"]}


# --------------------------------------------------------------------------------------
# Drift on real data
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("sketch", [False, True])
def test_no_alarm_on_a_held_out_half_of_the_training_data(cancer_frame, tmp_path, sketch):
    baseline, live = split(cancer_frame)
    write_csv_capture(live, tmp_path / "capture")
    report = check(baseline, tmp_path / "capture", tmp_path, sketch=sketch)
    assert report["status"] == STATUS_OK
    assert report["records_read"] == report["rows_analyzed"] == len(live)
    assert report["drift"] is False, report["drifted_features"]
    assert report["violations"] == []
    assert len(report["features"]) == live.shape[1]
    assert all(f["drift_score"] < 1 for f in report["features"])


@pytest.mark.parametrize("sketch", [False, True])
def test_a_feature_shifted_by_two_standard_deviations_is_detected(cancer_frame, tmp_path, sketch):
    baseline, live = split(cancer_frame)
    live["mean radius"] += 2 * baseline["mean radius"].std()
    write_csv_capture(live, tmp_path / "capture")
    report = check(baseline, tmp_path / "capture", tmp_path, sketch=sketch)
    shifted = by_name(report)["mean radius"]
    assert report["drift"] is True
    assert report["drifted_features"] == ["mean radius"]
    assert shifted["metrics"]["psi"]["drifted"] and shifted["metrics"]["ks"]["drifted"]
    assert shifted["metrics"]["ks"]["value"] > 0.5
    assert shifted["drift_score"] > 1


def test_a_rescaled_feature_and_a_shifted_category_are_detected(diabetes_frame, tmp_path):
    baseline, live = split(diabetes_frame)
    live["bmi"] = live["bmi"] * 3
    live.loc[live.index[: len(live) * 3 // 4], "sex"] = "male"
    write_csv_capture(live, tmp_path / "capture", rows_per_request=5)
    report = check(baseline, tmp_path / "capture", tmp_path)
    features = by_name(report)
    assert sorted(report["drifted_features"]) == ["bmi", "sex"]
    assert features["sex"]["metrics"]["js_distance"]["drifted"]
    assert "psi" not in features["sex"]["metrics"]
    assert report["records_read"] == math.ceil(len(live) / 5)
    assert report["rows_analyzed"] == len(live)


def test_the_iid_diabetes_half_with_its_categorical_column_does_not_alarm(diabetes_frame,
                                                                           tmp_path):
    baseline, live = split(diabetes_frame)
    write_csv_capture(live, tmp_path / "capture", rows_per_request=7)
    report = check(baseline, tmp_path / "capture", tmp_path)
    assert report["drift"] is False, report["drifted_features"]
    assert by_name(report)["sex"]["metrics"]["js_distance"]["value"] < 0.1


def test_missing_values_above_the_baselines_rate_alarm(cancer_frame, tmp_path):
    baseline, live = split(cancer_frame)
    # "mean texture" already misses 10% in training: the same rate live is no alarm
    live.loc[live.index[::3], "mean area"] = np.nan
    write_csv_capture(live, tmp_path / "capture")
    report = check(baseline, tmp_path / "capture", tmp_path)
    features = by_name(report)
    assert report["drifted_features"] == ["mean area"]
    assert features["mean area"]["metrics"]["missing_rate"]["drifted"]
    assert features["mean area"]["metrics"]["missing_rate"]["current"] == pytest.approx(
        math.ceil(len(live) / 3) / len(live), abs=1e-6)
    texture = features["mean texture"]["metrics"]["missing_rate"]
    assert texture["baseline"] > 0.05 and not texture["drifted"]


# --------------------------------------------------------------------------------------
# Traffic volume, malformed input, streaming
# --------------------------------------------------------------------------------------


def test_an_empty_window_is_no_traffic_and_no_alarm(cancer_frame, tmp_path):
    baseline, live = split(cancer_frame)
    write_csv_capture(live, tmp_path / "capture", time=T0)
    write_statistics(baseline, tmp_path / "baseline")
    later = drift.run_drift(tmp_path / "capture", tmp_path / "baseline",
                            window_hours=1, window_end=T0 + timedelta(days=2))
    assert later["status"] == STATUS_NO_TRAFFIC
    assert later["drift"] is False and later["records_read"] == 0 and later["features"] == []
    empty = drift.run_drift(tmp_path / "nothing-here", tmp_path / "baseline", window_hours=0)
    assert empty["status"] == STATUS_NO_TRAFFIC
    inside = drift.run_drift(tmp_path / "capture", tmp_path / "baseline", window_hours=1,
                             window_end=T0 + timedelta(minutes=30))
    assert inside["status"] == STATUS_OK and inside["records_read"] == len(live)


def test_a_handful_of_rows_is_reported_but_never_alarms(cancer_frame, tmp_path):
    baseline, live = split(cancer_frame)
    live["mean radius"] += 10 * baseline["mean radius"].std()
    write_csv_capture(live.head(10), tmp_path / "capture")
    report = check(baseline, tmp_path / "capture", tmp_path)
    assert report["status"] == STATUS_LOW_TRAFFIC
    assert report["drift"] is False
    metrics = by_name(report)["mean radius"]["metrics"]
    assert metrics["ks"]["value"] > 0.9  # reported, not judged
    assert metrics["psi"]["bins"] == 1 and metrics["psi"]["p_value"] == 1.0  # 10 rows: too
    # few for two bins of 5 expected rows


def test_malformed_lines_and_rows_are_skipped_and_counted(cancer_frame, tmp_path):
    baseline, live = split(cancer_frame)
    files = write_csv_capture(live, tmp_path / "capture")
    clean = check(baseline, tmp_path / "capture", tmp_path)
    short_row = capture.capture_record("1.0,2.0,3.0", "text/csv", "0", "text/csv", time=T0)
    bad_base64 = capture.capture_record("1", "text/csv", "0", "text/csv", time=T0)
    bad_base64["captureData"]["endpointInput"].update(encoding="BASE64", data="!!")
    with open(files[0], "ab") as handle:
        handle.write(b'{"captureData": tru\n' + capture.capture_line(short_row)
                     + capture.capture_line(bad_base64) + b"\x00\xff garbage\n")
    report = check(baseline, tmp_path / "capture", tmp_path)
    assert report["malformed"] == {"total": 4, "by_reason": {
        "bad JSON": 2, "wrong column count": 1, "bad base64": 1}, "description":
        "4 malformed requests or rows skipped (2 bad JSON, 1 bad base64, 1 wrong column count)"}
    assert report["rows_analyzed"] == len(live)
    assert [f["metrics"] for f in report["features"]] == [
        f["metrics"] for f in clean["features"]]


def test_text_in_a_numeric_column_is_a_schema_violation(cancer_frame, tmp_path):
    baseline, live = split(cancer_frame)
    live = live.astype({"mean area": object})
    live.loc[live.index[:3], "mean area"] = "n/a-value"
    write_csv_capture(live, tmp_path / "capture")
    report = check(baseline, tmp_path / "capture", tmp_path)
    assert report["schema_violation"] is True
    assert [(v["feature"], v["kind"], v["count"]) for v in report["violations"]] == [
        ("mean area", "type_mismatch", 3)]
    assert by_name(report)["mean area"]["type_mismatches"] == 3
    assert report["drift"] is False


def test_json_payload_shapes_give_the_same_statistics_as_csv(diabetes_frame, tmp_path):
    """The shapes the endpoint accepts (`training.serve.request_body`)."""
    baseline, live = split(diabetes_frame)
    live = live.head(100)
    write_csv_capture(live, tmp_path / "csv")
    records = live.to_dict("records")
    payloads = (
        [records[0:20]]  # records
        + records[20:40]  # one record each
        + [{"instances": records[40:60]}]
        + [{"instances": live.iloc[60:80].values.tolist()}]  # positional rows
        + [live.iloc[80:100].to_dict("list")]  # columns
    )
    write_json_capture(payloads, tmp_path / "json")
    write_statistics(baseline, tmp_path / "baseline")
    from_csv = drift.run_drift(tmp_path / "csv", tmp_path / "baseline", window_hours=0)
    from_json = drift.run_drift(tmp_path / "json", tmp_path / "baseline", window_hours=0)
    assert from_json["rows_analyzed"] == from_csv["rows_analyzed"] == 100
    assert from_json["malformed"]["total"] == 0 and from_json["violations"] == []
    assert [f["metrics"] for f in from_json["features"]] == [
        f["metrics"] for f in from_csv["features"]]


def test_csv_requests_with_the_header_row_are_read_like_headerless_ones(diabetes_frame,
                                                                        tmp_path):
    baseline, live = split(diabetes_frame)
    live = live.head(120)
    write_csv_capture(live, tmp_path / "plain", rows_per_request=10)
    header = ",".join(live.columns)
    records = [capture.capture_record(
        header + "\n" + live.iloc[i:i + 10].to_csv(header=False, index=False,
                                                   lineterminator="\n").rstrip("\n"),
        "text/csv", "0.5", "text/csv", time=T0) for i in range(0, len(live), 10)]
    capture.append_records(tmp_path / "headed", records)
    write_statistics(baseline, tmp_path / "baseline")
    plain = drift.run_drift(tmp_path / "plain", tmp_path / "baseline", window_hours=0)
    headed = drift.run_drift(tmp_path / "headed", tmp_path / "baseline", window_hours=0)
    assert headed["header_rows_skipped"] == 12 and plain["header_rows_skipped"] == 0
    assert headed["rows_analyzed"] == plain["rows_analyzed"] == 120
    assert headed["violations"] == [] and headed["malformed"]["total"] == 0
    assert [f["metrics"] for f in headed["features"]] == [
        f["metrics"] for f in plain["features"]]


def test_new_and_absent_json_columns_are_schema_violations(diabetes_frame, tmp_path):
    baseline, live = split(diabetes_frame)
    records = live.drop(columns=["s6"]).assign(customer_id=range(len(live))).to_dict("records")
    write_json_capture([records], tmp_path / "capture")
    report = check(baseline, tmp_path / "capture", tmp_path)
    kinds = sorted((v["feature"], v["kind"]) for v in report["violations"])
    assert kinds == [("customer_id", "new_column"), ("s6", "missing_column")]
    assert by_name(report)["s6"]["metrics"]["missing_rate"]["current"] == 1.0


@pytest.mark.slow
def test_small_chunks_give_identical_results_with_memory_bounded_by_the_chunk(cancer_frame,
                                                                              tmp_path):
    baseline, live = split(cancer_frame)
    big = pd.concat([live] * 40, ignore_index=True)  # ~11k requests, ~3 MB of capture
    write_csv_capture(big, tmp_path / "capture")
    write_statistics(baseline, tmp_path / "baseline")
    size = sum(p.stat().st_size for p in (tmp_path / "capture").rglob("*.jsonl"))
    whole = drift.run_drift(tmp_path / "capture", tmp_path / "baseline", window_hours=0)
    tracemalloc.start()
    chunked = drift.run_drift(tmp_path / "capture", tmp_path / "baseline", window_hours=0,
                              chunk_bytes=64 * 1024)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    def counts(report):
        return [(f["metrics"], f["current"].get("bucket_counts"),
                 f["current"].get("category_counts")) for f in report["features"]]

    assert counts(chunked) == counts(whole)
    assert chunked["records_read"] == len(big)
    assert peak < size / 4, (peak, size)


# --------------------------------------------------------------------------------------
# Baseline reading, metrics, the entry point
# --------------------------------------------------------------------------------------


def test_metric_functions_on_known_inputs():
    assert psi(np.array([10, 20, 30]), np.array([10, 20, 30])) == pytest.approx(0.0)
    assert psi(np.array([50, 50]), np.array([90, 10]), smoothing=0) == pytest.approx(
        0.4 * math.log(0.9 / 0.5) - 0.4 * math.log(0.1 / 0.5))
    assert math.isfinite(psi(np.array([100, 0]), np.array([0, 100])))
    assert js_distance({"a": 1, "b": 1}, {"a": 5, "b": 5}) == pytest.approx(0.0)
    assert js_distance({"a": 1}, {"b": 1}) == pytest.approx(1.0)


def test_bad_baselines_give_one_line_naming_the_file_and_feature(tmp_path, capsys):
    with pytest.raises(DriftInputError, match="statistics.json: baseline statistics"):
        load_baseline(tmp_path)
    path = tmp_path / BASELINE_STATISTICS_FILE
    path.write_text(json.dumps({"features": [{"name": "age", "inferred_type": "Date"}]}))
    with pytest.raises(DriftInputError, match="'age' has inferred_type 'Date'"):
        load_baseline(path)
    path.write_text(json.dumps({"features": [{"name": "age", "inferred_type": "Integral",
                                              "numerical_statistics": {"common": {}}}]}))
    with pytest.raises(DriftInputError, match="'age' needs kll buckets"):
        load_baseline(path)
    assert drift.main(["--capture-dir", str(tmp_path), "--baseline-dir", str(tmp_path),
                       "--output-dir", str(tmp_path / "out"), "--no-publish"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'age' needs kll buckets" in err
    assert drift.main(["--baseline-dir", str(tmp_path)]) == 2  # publish without endpoint
    assert "--publish needs --endpoint and --model" in capsys.readouterr().err


def test_main_writes_the_json_and_html_reports(diabetes_frame, tmp_path, capsys):
    baseline, live = split(diabetes_frame)
    live["s5"] *= 2
    write_csv_capture(live, tmp_path / "capture")
    write_statistics(baseline, tmp_path / "baseline")
    code = drift.main(["--capture-dir", str(tmp_path / "capture"), "--baseline-dir",
                       str(tmp_path / "baseline"), "--output-dir", str(tmp_path / "out"),
                       "--window-hours", "2", "--window-end", "2026-11-27T11:00:00Z",
                       "--no-publish"])
    assert code == 0
    report = json.loads((tmp_path / "out" / DRIFT_REPORT_FILE).read_text())
    assert report["drifted_features"] == ["s5"]
    assert report["window"]["hours"] == 2.0
    page = (tmp_path / "out" / DRIFT_HTML_FILE).read_text()
    assert "s5" in page and "DRIFT" in page
    pytest.importorskip("matplotlib")
    assert page.count("<img") == live.shape[1]


def test_with_a_local_metrics_file_main_appends_there_instead_of_calling_cloudwatch(
        diabetes_frame, tmp_path, monkeypatch, capsys):
    baseline, live = split(diabetes_frame)
    live["s5"] *= 2
    write_csv_capture(live, tmp_path / "capture")
    write_statistics(baseline, tmp_path / "baseline")
    metrics = tmp_path / "cloudwatch" / "metrics.jsonl"
    monkeypatch.setenv(LOCAL_METRICS_FILE_ENV, str(metrics))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # any CloudWatch call fails
    arguments = ["--capture-dir", str(tmp_path / "capture"), "--baseline-dir",
                 str(tmp_path / "baseline"), "--output-dir", str(tmp_path / "out"),
                 "--window-hours", "0", "--endpoint", "churn-endpoint", "--model", "churn"]
    assert drift.main(arguments) == 0
    assert drift.main(arguments) == 0
    data = [json.loads(line) for line in metrics.read_text().splitlines()]
    flags = [d for d in data if d["MetricName"] == DRIFT_DETECTED_METRIC]
    assert [d["Value"] for d in flags] == [1.0, 1.0]  # appended, one per run
    assert {d["Namespace"] for d in data} == {DRIFT_METRIC_NAMESPACE}
    assert flags[0]["Dimensions"] == [{"Name": "Endpoint", "Value": "churn-endpoint"},
                                      {"Name": "Model", "Value": "churn"}]
    assert "local stand-in for CloudWatch" in capsys.readouterr().out


# --------------------------------------------------------------------------------------
# CloudWatch
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cloudwatch():
    # moto is a development tool, not in the job image: under the image's environment the
    # publishing tests are left to the development run.
    server_module = pytest.importorskip("moto.server")
    ThreadedMotoServer = server_module.ThreadedMotoServer  # noqa: N806

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield boto3.client("cloudwatch", region_name="us-east-1",
                           endpoint_url=f"http://127.0.0.1:{port}",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
    finally:
        server.stop()


def _values(client, name, dimensions, start, end):
    result = client.get_metric_data(
        MetricDataQueries=[{"Id": "m", "MetricStat": {"Metric": {
            "Namespace": DRIFT_METRIC_NAMESPACE, "MetricName": name,
            "Dimensions": dimensions}, "Period": 60, "Stat": "Maximum"}}],
        StartTime=start, EndTime=end)
    return result["MetricDataResults"][0]["Values"]


def test_publish_metrics_batches_and_cloudwatch_sees_them(cancer_frame, tmp_path, cloudwatch):
    baseline, live = split(cancer_frame)
    live["mean radius"] += 2 * baseline["mean radius"].std()
    write_csv_capture(live, tmp_path / "capture")
    report = check(baseline, tmp_path / "capture", tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)
    data = cloudwatch_metric_data(report, "churn-ep", "churn-v3", timestamp=now)
    assert len(data) == 4 + live.shape[1]
    assert all(d["Dimensions"][:2] == [{"Name": "Endpoint", "Value": "churn-ep"},
                                       {"Name": "Model", "Value": "churn-v3"}] for d in data)
    calls = publish_metrics(cloudwatch, data, batch_size=7)
    assert calls == math.ceil(len(data) / 7)

    listed = cloudwatch.list_metrics(Namespace=DRIFT_METRIC_NAMESPACE)["Metrics"]
    scores = {next(d["Value"] for d in m["Dimensions"] if d["Name"] == "Feature")
              for m in listed if m["MetricName"] == FEATURE_DRIFT_SCORE_METRIC}
    assert scores == set(live.columns)
    dims = [{"Name": "Endpoint", "Value": "churn-ep"}, {"Name": "Model", "Value": "churn-v3"}]
    window = (now - timedelta(minutes=5), now + timedelta(minutes=5))
    assert _values(cloudwatch, DRIFT_DETECTED_METRIC, dims, *window) == [1.0]
    radius = _values(cloudwatch, FEATURE_DRIFT_SCORE_METRIC,
                     [*dims, {"Name": "Feature", "Value": "mean radius"}], *window)
    assert radius and radius[0] > 1
    texture = _values(cloudwatch, FEATURE_DRIFT_SCORE_METRIC,
                      [*dims, {"Name": "Feature", "Value": "mean texture"}], *window)
    assert texture and texture[0] < 1


def test_no_traffic_publishes_a_zero_flag_and_zero_records(tmp_path, cancer_frame, cloudwatch):
    baseline, _ = split(cancer_frame)
    report = check(baseline, tmp_path / "empty", tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)
    data = cloudwatch_metric_data(report, "quiet-ep", "m1", timestamp=now)
    assert {d["MetricName"] for d in data} == {
        DRIFT_DETECTED_METRIC, RECORDS_ANALYZED_METRIC,
        MALFORMED_RECORDS_METRIC, SCHEMA_VIOLATIONS_METRIC}
    assert publish_metrics(cloudwatch, data) == 1
    dims = [{"Name": "Endpoint", "Value": "quiet-ep"}, {"Name": "Model", "Value": "m1"}]
    window = (now - timedelta(minutes=5), now + timedelta(minutes=5))
    assert _values(cloudwatch, DRIFT_DETECTED_METRIC, dims, *window) == [0.0]
    assert _values(cloudwatch, RECORDS_ANALYZED_METRIC, dims, *window) == [0.0]


@pytest.mark.parametrize("points", [5, 200])  # compared per point / searchsorted per value
def test_bin_counts_are_searchsorted_bincount_with_ties_infinities_and_nan(points):
    rng = np.random.default_rng(3)
    grid = np.sort(np.concatenate([[0.0, 0.0], rng.normal(size=points - 2)]))
    values = np.concatenate([rng.normal(size=500), grid, [np.inf, -np.inf, -0.0],
                             [np.nan] * 7])
    expected = np.bincount(np.searchsorted(grid, values[~np.isnan(values)], side="left"),
                           minlength=points + 1)
    counts = bucket_counts(grid, values, int(np.count_nonzero(~np.isnan(values))))
    assert counts.tolist() == expected.tolist()


@pytest.mark.parametrize("sketch", [True, False])  # bucket counts, or read off the CDF grid
def test_profile_and_the_drift_check_count_a_value_on_a_bucket_edge_in_the_same_bucket(
        tmp_path, sketch):
    """The baseline's buckets over [0, 8] (one per value up to 7, then (7, 8]) have an edge at
    4.0: both 4s count in the bucket below it when Profile writes the baseline and when the
    drift check bins the same values, so identical traffic has PSI 0."""
    values = [0, 1, 2, 3, 4, 4, 5, 6, 7, 8]
    frame = pd.DataFrame({"x": values})
    statistics = baseline_statistics(frame, [Feature("x", FeatureType.NUMERIC)])
    kll = statistics["features"][0]["numerical_statistics"]["distribution"]["kll"]
    if not sketch:
        del kll["sketch"]
    written = [bucket["count"] for bucket in kll["buckets"]]
    assert written == [1, 1, 1, 1, 2, 1, 1, 1, 1]
    folder = tmp_path / "baseline"
    folder.mkdir()
    (folder / BASELINE_STATISTICS_FILE).write_text(json.dumps(statistics))

    window = NumericWindow(load_baseline(folder).features[0])
    window.update(np.array(values, dtype=float))
    write_csv_capture(frame, tmp_path / "capture")
    report = drift.run_drift(tmp_path / "capture", folder, window_hours=0,
                             thresholds=DriftThresholds(min_rows=1))

    assert window.counts.tolist() == written
    feature = by_name(report)["x"]
    assert feature["current"]["bucket_counts"] == written
    assert feature["metrics"]["psi"]["value"] == 0.0


# --------------------------------------------------------------------------------------
# Quantile buckets: PSI on a skewed feature
# --------------------------------------------------------------------------------------


def lognormal_baseline(values: np.ndarray, equal_width: bool = False):
    """The baseline of one lognormal column `x` as Profile writes it, or (`equal_width`) with
    the 10 equal-width buckets over [min, max] Profile wrote before (counted with the same
    `bucket_counts`) for comparison."""
    statistics = baseline_statistics(pd.DataFrame({"x": values}),
                                     [Feature("x", FeatureType.NUMERIC)])
    if equal_width:
        edges = np.linspace(values.min(), values.max(), 11)
        counts = bucket_counts(edges[1:-1], values)
        kll = statistics["features"][0]["numerical_statistics"]["distribution"]["kll"]
        kll["buckets"] = [{"lower_bound": edges[i], "upper_bound": edges[i + 1],
                           "count": int(counts[i])} for i in range(10)]
    return baseline_of_document(statistics)


def test_a_one_and_a_half_fold_shift_of_a_lognormal_feature_has_twice_the_psi_of_equal_widths():
    """Equal widths put ~83 % of a lognormal baseline in its first bucket, where a x1.5 shift
    moves rows within that bucket unseen; equal-count buckets see it (PSI 2.3x, the median
    over five draws of the ratio on the same data) and every window is flagged."""
    psi_quantile, psi_equal_width = [], []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        training = rng.lognormal(size=5000)
        live = pd.DataFrame({"x": 1.5 * rng.lognormal(size=1000)})
        report = drift.check_frame(live, lognormal_baseline(training))
        psi_quantile.append(report["features"][0]["metrics"]["psi"]["value"])
        assert report["drifted_features"] == ["x"], seed
        assert report["features"][0]["metrics"]["psi"]["drifted"], seed
        report = drift.check_frame(live, lognormal_baseline(training, equal_width=True))
        psi_equal_width.append(report["features"][0]["metrics"]["psi"]["value"])
    ratios = np.divide(psi_quantile, psi_equal_width)
    assert np.median(ratios) >= 2, (psi_quantile, psi_equal_width)


@pytest.mark.parametrize("sketch", [True, False])
def test_the_training_rows_themselves_show_no_drift(tmp_path, sketch):
    """Skewed, integer, few-valued, constant and partly missing columns: the baseline's own
    rows have the baseline's bucket counts, PSI 0 and no alarm."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({
        "skewed": rng.lognormal(size=2000),
        "count": rng.poisson(2.0, size=2000),
        "flag": (rng.random(2000) < 0.1).astype(int),
        "constant": 4.0,
        "gappy": np.where(rng.random(2000) < 0.2, np.nan, rng.normal(size=2000)),
    })
    write_statistics(frame, tmp_path / "baseline", sketch=sketch)
    baseline = load_baseline(tmp_path / "baseline")
    report = drift.check_frame(frame, baseline)
    assert report["drift"] is False
    for feature, window in zip(baseline.features, report["features"], strict=True):
        assert window["current"]["bucket_counts"] == feature.counts.tolist(), feature.name
        assert window["metrics"]["psi"]["value"] == 0.0, feature.name
        assert window["metrics"]["ks"]["value"] == 0.0, feature.name
    assert len(baseline.features[3].counts) == 1 and len(baseline.features[2].counts) == 2
