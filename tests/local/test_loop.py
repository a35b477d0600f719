"""The pieces of the local loop (mlops up --local after serving), each against the real plan.

The loop end to end runs in the README test (`mlops up --local`, whose output must show the
drift, the alarm, the matched rule and the retrain outcome); here each stage's rule, quickly.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from mlops_components.components.stack import MlopsStack
from mlops_components.local import loop
from mlops_components.local.events import matches
from mlops_components.local.workdir import LocalWorkdir
from training.monitor.cloudwatch import cloudwatch_metric_data, write_local_metrics


@pytest.fixture(scope="module")
def plan():
    from mlops_components.plan import evaluate

    return evaluate(lambda: MlopsStack("churn"), project="mlops", stack="test")


def drift_alarm(plan):
    (alarm,) = [a for a in plan.of_type(loop.ALARM, loop.MONITOR_TYPE)
                if a.inputs["name"].endswith("/drift-detected")]
    return alarm.inputs


def metrics_of(tmp_path: Path, drifted: bool, endpoint: str, model: str = "churn") -> list:
    """What the drift job appends for a report (the job's own functions, not a copy)."""
    report = {"drift": drifted, "records_read": 300, "malformed": {"total": 0},
              "violations": [], "features": []}
    path = tmp_path / "metrics.jsonl"
    write_local_metrics(path, cloudwatch_metric_data(report, endpoint, model))
    return loop.read_metrics(path)


def test_the_planned_drift_alarm_fires_on_the_jobs_drift_flag_only(plan, tmp_path):
    alarm = drift_alarm(plan)
    endpoint = alarm["dimensions"]["Endpoint"]
    assert loop.alarm_state(alarm, metrics_of(tmp_path / "a", True, endpoint)) == ("ALARM", 1.0)
    assert loop.alarm_state(alarm, metrics_of(tmp_path / "b", False, endpoint)) == ("OK", 0.0)
    assert loop.alarm_state(alarm, metrics_of(tmp_path / "c", True, "other-endpoint"))[0] == \
        "INSUFFICIENT_DATA"
    assert loop.alarm_state(alarm, [])[0] == "INSUFFICIENT_DATA"


def test_the_newest_datum_decides(plan, tmp_path):
    alarm = drift_alarm(plan)
    endpoint = alarm["dimensions"]["Endpoint"]
    older = metrics_of(tmp_path / "a", True, endpoint)
    newer = metrics_of(tmp_path / "b", False, endpoint)
    assert loop.alarm_state(alarm, older + newer)[0] == "OK"


def test_the_alarm_event_matches_the_planned_retrain_rule_and_nothing_else(plan):
    alarm = drift_alarm(plan)
    (rule,) = [r for r in plan.of_type(loop.RULE, loop.RETRAIN_TYPE)
               if r.name.endswith("-retrain-drift")]
    pattern = json.loads(rule.inputs["eventPattern"])
    event = loop.alarm_event(alarm["name"], "DriftDetected = 1")
    assert matches(pattern, event)
    assert not matches(pattern, loop.alarm_event("churn/other-endpoint/drift-detected", "x"))
    event["detail"]["state"]["value"] = "OK"
    assert not matches(pattern, event)


def test_the_monitor_reads_what_the_deployer_part_and_the_endpoint_write(plan):
    definition = loop.monitor_definition(plan)
    endpoint = loop.planned_endpoint_name(plan)
    assert loop.capture_uri(definition).endswith(f"/capture/{endpoint}/")
    assert loop.baseline_uri(definition).endswith("/models/churn/deployed-baseline/")


def test_shifted_traffic_sends_the_models_features_in_order_and_moves_two(tmp_path):
    frame = load_breast_cancer(as_frame=True).frame
    test_csv = tmp_path / "test.csv"
    frame.to_csv(test_csv, index=False)
    frame.insert(0, "customer_id", range(len(frame)))  # dropped by Preprocess: not sent
    frame.to_csv(test_csv, index=False)
    names = list(frame.columns.drop(["target", "customer_id"]))[::-1]  # the baseline's order
    bodies, shifted = loop.shifted_traffic(test_csv, names)
    assert len(bodies) == loop.TRAFFIC_ROWS // loop.ROWS_PER_REQUEST
    assert all(body.splitlines()[0].count(",") == len(names) - 1 for body in bodies)
    sent = pd.concat(pd.read_csv(io.StringIO(body), header=None, names=names)
                     for body in bodies)
    assert len(sent) == loop.TRAFFIC_ROWS and "target" not in sent.columns
    assert len(shifted) == 2
    for column in names:
        moved = (sent[column].mean() - frame[column].mean()) / frame[column].std()
        assert bool(moved > 2) == (column in shifted), column  # 3 std, give or take sampling


def test_traffic_is_distinct_rows_of_the_split_files_never_a_bootstrap(tmp_path):
    """300 draws with replacement from a test split of 86 rows repeat each row 3.5 times: not
    a sample of the training distribution, and the drift check flagged unshifted features
    of it. Traffic is distinct rows, from every file given, and no more than they hold."""
    frame = load_breast_cancer(as_frame=True).frame
    frame.insert(0, "row", range(len(frame)))
    files = [tmp_path / "test.csv", tmp_path / "train.csv"]
    frame.iloc[:86].to_csv(files[0], index=False)
    frame.iloc[86:].to_csv(files[1], index=False)
    names = ["row", "mean radius", "mean texture"]
    bodies, _ = loop.shifted_traffic(files, names)
    sent = pd.concat(pd.read_csv(io.StringIO(body), header=None, names=names) for body in bodies)
    assert len(sent) == loop.TRAFFIC_ROWS and sent["row"].is_unique
    assert sent["row"].max() >= 86  # drawn from both files
    bodies, _ = loop.shifted_traffic(files[0], names)
    assert sum(len(body.splitlines()) for body in bodies) == 86


def test_publishing_the_baseline_copies_the_packages_files_or_says_what_is_missing(tmp_path):
    workdir = LocalWorkdir(tmp_path)
    source = "s3://bucket/models/churn-training/local-0001/baseline"
    for name in ("statistics.json", "constraints.json"):
        path = workdir.s3.path(f"{source}/{name}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    package = {"ModelPackageVersion": 1, "DriftCheckBaselines": {"ModelDataQuality": {
        "Statistics": {"S3Uri": f"{source}/statistics.json"},
        "Constraints": {"S3Uri": f"{source}/constraints.json"}}}}
    destination = "s3://bucket/models/churn/deployed-baseline/"
    assert loop.publish_baseline(workdir, package, destination) == [
        "statistics.json", "constraints.json"]
    assert (workdir.s3.path(destination) / "constraints.json").read_text() == "constraints.json"
    with pytest.raises(loop.LoopStopped, match="has no drift baseline"):
        loop.publish_baseline(workdir, {"ModelPackageVersion": 2}, destination)
    workdir.s3.path(f"{source}/statistics.json").unlink()
    with pytest.raises(loop.LoopStopped, match="statistics.json is missing"):
        loop.publish_baseline(workdir, package, destination)


def test_a_stack_without_a_processing_monitor_stops_the_loop_with_why():
    from mlops_components.components.stack import MlopsStackArgs
    from mlops_components.plan import evaluate

    plan = evaluate(lambda: MlopsStack("churn", MlopsStackArgs(monitor=None)),
                    project="mlops", stack="test")
    with pytest.raises(loop.LoopStopped, match="no processing-engine ModelMonitor"):
        loop.monitor_definition(plan)


def test_traffic_needs_the_models_features_in_the_test_split(tmp_path):
    test_csv = tmp_path / "test.csv"
    test_csv.write_text("a,b\n1,2\n")
    with pytest.raises(loop.LoopStopped, match=r"lacks the model's features \['c'\]"):
        loop.shifted_traffic(test_csv, ["a", "c"])


def test_the_planned_drift_check_runs_on_the_local_s3_with_and_without_data(plan, tmp_path):
    """The DriftCheck step as planned (BaselineUri resolved into its arguments, container
    paths mapped) reads the local S3 folder: no baseline yet is a successful "no data" run,
    then the window's capture is checked."""
    import os
    import sys
    from datetime import UTC, datetime

    from mlops_components.local.executor import LocalPipelineExecutor
    from mlops_components.local.run import step_outputs
    from tests.training.test_drift import write_csv_capture, write_statistics
    from training.contract import DRIFT_OUTPUT, DRIFT_REPORT_FILE, RECORDS_ANALYZED_METRIC

    definition = loop.monitor_definition(plan)
    step = definition["Steps"][0]["Arguments"]
    # the code channel as the job sees it, the drift module run from this checkout
    step["AppSpecification"]["ContainerEntrypoint"] = [sys.executable, "-m",
                                                        "training.monitor.drift"]
    workdir = LocalWorkdir(tmp_path)
    code = workdir.s3.path(step["ProcessingInputs"][0]["S3Input"]["S3Uri"])
    code.mkdir(parents=True)
    (code / "placeholder").write_text("code")
    metrics_file = tmp_path / "metrics.jsonl"
    variables = {**loop.monitor_variables(workdir, metrics_file),
                 "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
                 "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # any real AWS call fails
    executor = LocalPipelineExecutor(definition, tmp_path, python=sys.executable,
                                     job_variables={**os.environ, **variables})

    def drift_report(execution_id):
        execution = executor.run(execution_id=execution_id)
        assert execution.status == "Succeeded", execution.failure_reason
        folder = step_outputs(execution, "DriftCheck", workdir.s3)[DRIFT_OUTPUT]
        return json.loads((folder / DRIFT_REPORT_FILE).read_text())

    first = drift_report("local-1")  # before the first deployment: nothing anywhere
    assert (first["status"], first["records_read"]) == ("no baseline", 0)

    frame = pd.DataFrame(load_breast_cancer(as_frame=True).data.iloc[:, :4])
    write_statistics(frame, workdir.s3.path(loop.baseline_uri(definition)))
    write_csv_capture(frame, workdir.s3.path(loop.capture_uri(definition)) / "AllTraffic",
                      time=datetime.now(UTC), rows_per_request=10)
    second = drift_report("local-2")
    assert second["status"] == "ok" and second["rows_analyzed"] == len(frame)
    records = [m["Value"] for m in loop.read_metrics(metrics_file)
               if m["MetricName"] == RECORDS_ANALYZED_METRIC]
    assert records == [0.0, float(-(-len(frame) // 10))]  # one record per 10 rows


def _smoke_and_traffic(tmp_path: Path):
    """A deployed baseline of four features naming the target (as Profile writes it), and the
    endpoint's capture as the loop leaves it: the smoke request `mlops up --local` sends (a
    header and three rows, each with the target column) an hour ago, then the loop's own
    headerless rows of the features now."""
    from datetime import UTC, datetime, timedelta

    from tests.training.test_drift import write_csv_capture, write_statistics
    from training import capture

    data = load_breast_cancer(as_frame=True)
    frame = pd.DataFrame(data.data.iloc[:, :4])
    baseline, folder = tmp_path / "baseline", tmp_path / "capture" / "AllTraffic"
    write_statistics(frame.assign(target=data.target), baseline, target="target")
    now = datetime.now(UTC)
    smoke = frame.head(3).assign(target=data.target.head(3)).to_csv(index=False)
    capture.append_records(folder, [capture.capture_record(
        smoke, "text/csv", "[0, 0, 0]", "application/json", time=now - timedelta(hours=1))])
    write_csv_capture(frame.iloc[3:103], folder, time=now, rows_per_request=10)
    return baseline, folder


def test_the_smoke_request_is_traffic_and_the_drift_line_names_no_malformed_request(tmp_path):
    from training.monitor.drift import run_drift

    # GIVEN the loop's capture: its smoke request (header, target column), then its traffic
    baseline, folder = _smoke_and_traffic(tmp_path)
    # WHEN the drift check reads it
    report = run_drift(folder.parent, baseline, window_hours=24)
    # THEN the smoke request is read as the endpoint read it: 3 rows of traffic, nothing
    # malformed, so the drift line says nothing about malformed requests
    assert report["malformed"]["total"] == 0 and report["header_rows_skipped"] == 1
    assert report["rows_analyzed"] == 103
    assert loop.malformed_summary(report) == ""


def test_requests_the_endpoint_would_refuse_get_a_malformed_line_in_words(tmp_path):
    from datetime import UTC, datetime

    from training import capture
    from training.monitor.drift import run_drift

    baseline, folder = _smoke_and_traffic(tmp_path)
    capture.append_records(folder, [capture.capture_record(
        body, "text/csv", "{}", "application/json", time=datetime.now(UTC))
        for body in ("1,2,3", "1,2,3", "mean radius,target\n1,0")])
    report = run_drift(folder.parent, baseline, window_hours=24)
    assert loop.malformed_summary(report) == (
        "3 malformed: 2 requests whose rows have another number of values than the model's "
        "features; 1 requests whose header leaves out a feature")
    clean = {**report, "malformed": {"total": 0, "by_reason": {"wrong column count": 0}}}
    assert loop.malformed_summary(clean) == ""
    assert loop.malformed_words({"a reason the job adds later": 2}) == \
        "2 a reason the job adds later"
