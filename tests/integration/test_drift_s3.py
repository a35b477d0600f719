"""The drift job reads its window and baseline from S3 itself (moto server): no data is a report
and exit 0, only the window's hour folders are listed, the local S3 folder is listed the same
way, and every request passes botocore's validation on its way to the server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from botocore.stub import Stubber

from tests.training.test_drift import write_csv_capture, write_statistics
from training.contract import (
    BASELINE_STATISTICS_FILE,
    DRIFT_REPORT_FILE,
    LOCAL_S3_ROOT_ENV,
    RECORDS_ANALYZED_METRIC,
)
from training.monitor import drift
from training.monitor.report import STATUS_NO_BASELINE, STATUS_NO_TRAFFIC, STATUS_OK
from training.monitor.source import (
    LocalStore,
    S3Store,
    fetch_window,
    window_hour_prefixes,
)

BUCKET = "churn-data"
ENDPOINT = "churn-endpoint"
CAPTURE = f"s3://{BUCKET}/capture/{ENDPOINT}/"
BASELINE = f"s3://{BUCKET}/models/churn/deployed-baseline/"
END = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def frame(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"age": rng.normal(40, 10, rows).round(1),
                         "balance": rng.normal(1000, 300, rows).round(2)})


@pytest.fixture
def s3(aws_client, monkeypatch, moto_endpoint):
    """The bucket on the moto server; the job's own clients (default_store, CloudWatch) go
    there too. Records every S3 call as (operation, params)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    client = aws_client("s3")
    client.create_bucket(Bucket=BUCKET)
    calls: list[tuple[str, dict]] = []
    client.meta.events.register(
        "provide-client-params.s3.*",
        lambda params, model, **_: calls.append((model.name, dict(params))))
    yield client, calls
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def upload_folder(client, folder: Path, uri: str) -> list[str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    keys = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = prefix.rstrip("/") + "/" + path.relative_to(folder).as_posix()
        client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        keys.append(key)
    return keys


def put_capture(client, tmp_path: Path, data: pd.DataFrame, time: datetime,
                variant: str = "AllTraffic") -> list[str]:
    folder = tmp_path / f"capture-{variant}-{time:%d%H}"
    write_csv_capture(data, folder, time=time, rows_per_request=10)
    return upload_folder(client, folder, f"{CAPTURE}{variant}/")


def put_baseline(client, tmp_path: Path, data: pd.DataFrame) -> None:
    write_statistics(data, tmp_path / "statistics")
    upload_folder(client, tmp_path / "statistics", BASELINE)


def main(tmp_path: Path, *extra: str) -> int:
    return drift.main(["--capture-uri", CAPTURE, "--baseline-uri", BASELINE,
                       "--capture-dir", str(tmp_path / "job" / "capture"),
                       "--baseline-dir", str(tmp_path / "job" / "baseline"),
                       "--output-dir", str(tmp_path / "job" / "out"),
                       "--endpoint", ENDPOINT, "--model", "churn",
                       "--window-hours", "24", "--window-end", END.isoformat(), *extra])


def report(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "job" / "out" / DRIFT_REPORT_FILE).read_text())


def records_published(aws_client) -> list[float]:
    result = aws_client("cloudwatch").get_metric_data(
        MetricDataQueries=[{"Id": "r", "MetricStat": {"Metric": {
            "Namespace": "MLOps/Drift", "MetricName": RECORDS_ANALYZED_METRIC,
            "Dimensions": [{"Name": "Endpoint", "Value": ENDPOINT},
                           {"Name": "Model", "Value": "churn"}]},
            "Period": 60, "Stat": "Sum"}}],
        StartTime=datetime.now(UTC) - timedelta(minutes=5),
        EndTime=datetime.now(UTC) + timedelta(minutes=5))
    return result["MetricDataResults"][0]["Values"]


# --------------------------------------------------------------------------------------
# No data is a report, a metric and exit 0


def test_no_baseline_and_no_capture_is_no_data_not_a_failed_job(s3, tmp_path, aws_client,
                                                                 capsys):
    assert main(tmp_path) == 0
    written = report(tmp_path)
    assert written["status"] == STATUS_NO_BASELINE and written["records_read"] == 0
    assert "statistics.json" in written["note"] and BASELINE in written["note"]
    assert "no baseline" in (tmp_path / "job" / "out" / "drift_report.html").read_text()
    assert "nothing to compare" in capsys.readouterr().out
    assert 0.0 in records_published(aws_client)


def test_a_baseline_and_an_empty_capture_prefix_is_no_traffic(s3, tmp_path):
    client, _ = s3
    put_baseline(client, tmp_path, frame())
    assert main(tmp_path, "--no-publish") == 0
    written = report(tmp_path)
    assert written["status"] == STATUS_NO_TRAFFIC and written["records_read"] == 0
    assert "no capture records in the window" in written["note"]


def test_capture_older_than_the_window_is_no_traffic(s3, tmp_path):
    client, _ = s3
    put_baseline(client, tmp_path, frame())
    put_capture(client, tmp_path, frame(seed=1), END - timedelta(days=3))
    assert main(tmp_path, "--no-publish") == 0
    assert report(tmp_path)["status"] == STATUS_NO_TRAFFIC


def test_access_denied_is_one_line_and_exit_2(tmp_path, capsys):
    import boto3

    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_client_error("list_objects_v2", "AccessDenied", http_status_code=403,
                              expected_params={"Bucket": BUCKET, "Prefix": "models/other/"
                                               f"{BASELINE_STATISTICS_FILE}"})
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(drift, "default_store", lambda: S3Store(client))
            code = drift.main(["--capture-uri", CAPTURE, "--baseline-uri",
                               f"s3://{BUCKET}/models/other/", "--capture-dir",
                               str(tmp_path / "c"), "--baseline-dir", str(tmp_path / "b"),
                               "--output-dir", str(tmp_path / "o"), "--no-publish"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "AccessDenied" in err and "models/other/" in err


# --------------------------------------------------------------------------------------
# Only the window's hour folders


def test_only_the_windows_hour_folders_are_listed_and_read(s3, tmp_path):
    client, calls = s3
    baseline, live = frame(seed=0), frame(seed=1)
    put_baseline(client, tmp_path, baseline)
    inside = put_capture(client, tmp_path, live, END - timedelta(minutes=30))
    inside += put_capture(client, tmp_path, live, END - timedelta(hours=1, minutes=30),
                          variant="Canary")
    old = put_capture(client, tmp_path, live, END - timedelta(days=40))
    calls.clear()

    result = drift.run_drift_from_s3(S3Store(client), CAPTURE, BASELINE,
                                     tmp_path / "job" / "capture", tmp_path / "job" / "baseline",
                                     window_hours=2, window_end=END)

    assert result["status"] == STATUS_OK and result["records_read"] == 2 * len(live) // 10
    listed = [params["Prefix"] for name, params in calls if name == "ListObjectsV2"]
    assert listed == [
        "models/churn/deployed-baseline/statistics.json",
        "capture/churn-endpoint/",  # the variants, with a delimiter
        "capture/churn-endpoint/AllTraffic/2026/11/27/10/",
        "capture/churn-endpoint/AllTraffic/2026/11/27/11/",
        "capture/churn-endpoint/Canary/2026/11/27/10/",
        "capture/churn-endpoint/Canary/2026/11/27/11/"]
    read = sorted(params["Key"] for name, params in calls if name == "GetObject")
    assert read == sorted(["models/churn/deployed-baseline/statistics.json", *inside])
    assert not set(old) & set(read)


def test_window_hour_prefixes_cover_the_partial_first_hour():
    assert window_hour_prefixes("capture/e/AllTraffic", END - timedelta(minutes=90), END) == [
        "capture/e/AllTraffic/2026/11/27/10/", "capture/e/AllTraffic/2026/11/27/11/"]


def test_the_local_s3_folder_is_listed_like_s3(s3, tmp_path):
    """One listing (fetch_window) over two stores: S3 and the local runtime's folder."""
    client, _ = s3
    live = frame(seed=1)
    put_capture(client, tmp_path, live, END - timedelta(minutes=30))
    put_capture(client, tmp_path, live, END - timedelta(days=2))
    root = tmp_path / "local-s3"
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page["Contents"]:
            path = root / BUCKET / item["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())
    (root / BUCKET / "capture" / ENDPOINT / "AllTraffic" / ".x.tmp").write_text("partial")

    def fetched(store, folder):
        fetch_window(store, CAPTURE, folder, END - timedelta(hours=24), END)
        return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.jsonl"))

    from_s3 = fetched(S3Store(client), tmp_path / "a")
    assert len(from_s3) == 1
    assert fetched(LocalStore(root), tmp_path / "b") == from_s3


def test_main_reads_the_local_s3_folder_when_told(tmp_path, monkeypatch):
    root = tmp_path / "local-s3"
    write_statistics(frame(), root / BUCKET / "models" / "churn" / "deployed-baseline")
    write_csv_capture(frame(seed=1), root / BUCKET / "capture" / ENDPOINT / "AllTraffic",
                      time=END - timedelta(hours=1), rows_per_request=10)
    monkeypatch.setenv(LOCAL_S3_ROOT_ENV, str(root))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # any S3 call would fail
    assert main(tmp_path, "--no-publish") == 0
    assert report(tmp_path)["records_read"] == 30


# --------------------------------------------------------------------------------------
# The role's job statements are exactly the job's calls


def _job_calls(calls: list[tuple[str, str, dict]]) -> list[tuple[str, str, dict]]:
    """(IAM action, resource ARN, condition context) of each recorded request."""
    found = []
    for service, operation, params in calls:
        if (service, operation) == ("s3", "ListObjectsV2"):
            found.append(("s3:ListBucket", f"arn:aws:s3:::{params['Bucket']}",
                          {"s3:prefix": params.get("Prefix", "")}))
        elif (service, operation) == ("s3", "GetObject"):
            found.append(("s3:GetObject", f"arn:aws:s3:::{params['Bucket']}/{params['Key']}",
                          {}))
        elif (service, operation) == ("cloudwatch", "PutMetricData"):
            found.append(("cloudwatch:PutMetricData", "*",
                          {"cloudwatch:namespace": params["Namespace"]}))
        else:
            found.append((f"{service}:{operation}", "?", {}))
    return found


def _allows(statement: dict, action: str, resource: str, context: dict) -> bool:
    from fnmatch import fnmatchcase

    if statement["Effect"] != "Allow" or action not in statement["Action"]:
        return False
    if not any(fnmatchcase(resource, pattern) for pattern in statement["Resource"]):
        return False
    for operator, conditions in statement.get("Condition", {}).items():
        for key, wanted in conditions.items():
            wanted = wanted if isinstance(wanted, list) else [wanted]
            if key not in context:
                return False
            match = fnmatchcase if operator == "StringLike" else str.__eq__
            if not any(match(context[key], value) for value in wanted):
                return False
    return True


def test_the_roles_job_statements_are_exactly_what_the_job_calls(s3, tmp_path, monkeypatch):
    import boto3

    from mlops_components.components.model_monitor import ModelMonitor, ModelMonitorArgs
    from mlops_components.plan import evaluate

    client, _ = s3
    put_baseline(client, tmp_path, frame())
    put_capture(client, tmp_path, frame(seed=1), END - timedelta(hours=2))
    calls: list[tuple[str, str, dict]] = []
    session = boto3.session.Session()
    session.events.register(
        "provide-client-params.*.*",
        lambda params, model, **_: calls.append(
            (model.service_model.endpoint_prefix if model.service_model.endpoint_prefix
             != "monitoring" else "cloudwatch", model.name, dict(params))))
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)

    assert main(tmp_path) == 0
    assert report(tmp_path)["status"] == STATUS_OK

    plan = evaluate(lambda: ModelMonitor("churn-monitor", ModelMonitorArgs(
        endpoint_name=ENDPOINT, bucket_name=BUCKET, model_name="churn",
        code_uri=f"s3://{BUCKET}/code/churn-training/0123")), project="mlops", stack="test")
    (role_policy,) = [r for r in plan.of_type("aws:iam/rolePolicy:RolePolicy")
                      if r.name == "churn-monitor-role-policy"]
    statements = json.loads(role_policy.inputs["policy"])["Statement"]
    job = [s for s in statements if s["Sid"].startswith("Job")]

    requests = _job_calls(calls)
    assert {action for action, _, _ in requests} == {
        "s3:ListBucket", "s3:GetObject", "cloudwatch:PutMetricData"}
    denied = [r for r in requests if not any(_allows(s, *r) for s in statements)]
    assert denied == []
    # ...and every action and resource of the job's statements is one the job used
    for statement in job:
        for action in statement["Action"]:
            for resource in statement["Resource"]:
                used = [r for r in requests if r[0] == action and _allows(
                    {**statement, "Action": [action], "Resource": [resource]}, *r)]
                assert used, (statement["Sid"], action, resource)
    assert not any(_allows(s, *r) for r in requests for s in statements
                   if not s["Sid"].startswith("Job"))
