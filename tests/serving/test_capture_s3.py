"""Serverless capture reaches S3: each record under its own hour, put in small batches, by age
and at exit, against a moto server (botocore validates every put_object before it is sent)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from training import capture
from training.serve import inference

T0 = datetime(2026, 11, 27, 10, 59, 59, 500000, tzinfo=UTC)
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def s3(moto_endpoint, monkeypatch):
    """An S3 client on the moto server and a fresh bucket; boto3's defaults point there too."""
    environment = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": moto_endpoint}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3")
    bucket = f"capture-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return client, bucket, environment


def objects(client, bucket) -> dict[str, list[dict]]:
    """Every object's key and its capture records."""
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {item["Key"]: [json.loads(line) for line in client.get_object(
        Bucket=bucket, Key=item["Key"])["Body"].read().splitlines()] for item in listed}


def record(index: int, time: datetime) -> dict:
    return capture.capture_record(f"{index},1.5", "text/csv", '{"predictions": [1]}',
                                  "application/json", time=time)


def test_records_from_two_hours_land_under_two_hour_prefixes(s3):
    client, bucket, _ = s3
    writer = capture.S3CaptureWriter(f"s3://{bucket}/capture/ep/AllTraffic", client)
    times = [T0, T0 + timedelta(seconds=1), T0 + timedelta(minutes=30)]  # 10:59, 11:00, 11:29
    for index, time_ in enumerate(times):
        writer.write(record(index, time_))
    assert objects(client, bucket) == {}  # below both limits: still buffered
    writer.close()

    found = objects(client, bucket)
    folders = sorted(key.rsplit("/", 1)[0] for key in found)
    assert folders == ["capture/ep/AllTraffic/2026/11/27/10", "capture/ep/AllTraffic/2026/11/27/11"]
    by_folder = {key.rsplit("/", 1)[0]: (key.rsplit("/", 1)[1], lines)
                 for key, lines in found.items()}
    name, lines = by_folder["capture/ep/AllTraffic/2026/11/27/11"]
    assert name.startswith("00-00-500-")  # named after the hour's first record
    assert [line["captureData"]["endpointInput"]["data"] for line in lines] == ["1,1.5", "2,1.5"]
    assert [line["captureData"]["endpointInput"]["data"]
            for line in by_folder["capture/ep/AllTraffic/2026/11/27/10"][1]] == ["0,1.5"]


def test_a_batch_is_put_at_the_record_limit(s3):
    client, bucket, _ = s3
    writer = capture.S3CaptureWriter(f"s3://{bucket}/p", client, max_records=3)
    for index in range(2):
        writer.write(record(index, T0))
    assert objects(client, bucket) == {}
    writer.write(record(2, T0))
    [lines] = objects(client, bucket).values()
    assert len(lines) == 3
    writer.close()


def test_an_old_record_is_put_by_the_next_write(s3):
    client, bucket, _ = s3
    now = [100.0]
    writer = capture.S3CaptureWriter(f"s3://{bucket}/p", client, monotonic=lambda: now[0])
    writer.write(record(0, T0))
    now[0] += capture.FLUSH_SECONDS - 1
    writer.write(record(1, T0))
    assert objects(client, bucket) == {}
    now[0] += 1
    writer.write(record(2, T0))
    [lines] = objects(client, bucket).values()
    assert len(lines) == 3
    writer.close()


def test_a_lone_record_is_put_by_age_with_no_further_traffic(s3):
    client, bucket, _ = s3
    writer = capture.S3CaptureWriter(f"s3://{bucket}/p", client, max_seconds=0.2)
    writer.write(record(0, T0))
    deadline = time.monotonic() + 20
    while not (found := objects(client, bucket)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [len(lines) for lines in found.values()] == [1]
    writer.close()


def test_buffered_records_are_put_at_interpreter_exit(s3):
    client, bucket, environment = s3
    script = textwrap.dedent(f"""
        from training import capture
        writer = capture.S3CaptureWriter("s3://{bucket}/p")
        writer.write(capture.capture_record("1,2", "text/csv", "0", "text/csv"))
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120, cwd=REPO_ROOT,
                   env={**environment, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)})
    [lines] = objects(client, bucket).values()
    assert lines[0]["captureData"]["endpointInput"]["data"] == "1,2"


def test_a_failed_put_is_logged_not_raised(s3, caplog):
    client, _, _ = s3
    writer = capture.S3CaptureWriter("s3://no-such-bucket-here/p", client)
    writer.write(record(0, T0))
    writer.close()
    assert "1 record(s)" in caplog.text


def test_the_handler_captures_to_s3_under_endpoint_and_variant(s3, served_classifier, classifier):
    client, bucket, _ = s3
    sink = inference.capture_from_env({"MLOPS_CAPTURE_S3_URI": f"s3://{bucket}/capture/",
                                       "MLOPS_ENDPOINT_NAME": "churn"})
    model = replace(served_classifier, capture=sink)
    body = classifier.features.head(2).to_csv(index=False, header=False)
    reply = inference.output_fn(inference.predict_fn(inference.input_fn(body, "text/csv"),
                                                     model), "application/json")
    assert reply.status == 200
    inference.flush_capture(model)
    [(key, [line])] = objects(client, bucket).items()
    folder = f"capture/churn/AllTraffic/{capture.hour_folder(capture.record_time(line))}/"
    assert key.startswith(folder) and key.endswith(".jsonl")
    assert line["captureData"]["endpointInput"]["data"] == body
    assert line["captureData"]["endpointOutput"]["data"] == reply.body.decode()


@pytest.fixture(scope="module")
def served_classifier(classifier):
    return inference.model_fn(str(classifier.model_dir))
