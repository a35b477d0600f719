"""RetrainTrigger's event patterns, checked by EventBridge itself (moto) on real-shaped events.

moto does not implement TestEventPattern, but it delivers events that match a rule to the
rule's SQS target: an event that arrives in the queue matched, one that does not did not.
"""

from __future__ import annotations

import json

import pytest

from mlops_components.components.retrain_trigger import drift_alarm_pattern, new_data_pattern

BUCKET = "churn-data-bucket-1a2b3c4"
DRIFT_ALARM = "churn/churn-endpoint/drift-detected"


def object_created(bucket: str, key: str) -> dict:
    """An S3 Object Created event as EventBridge delivers it (bucket notifications on)."""
    return {
        "Source": "aws.s3",
        "DetailType": "Object Created",
        "Detail": json.dumps({
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": 5, "etag": "b1946ac92492d2347c6235b4d2611184",
                       "sequencer": "00617F08299329D189"},
            "request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012",
            "reason": "PutObject",
        }),
        "Resources": [f"arn:aws:s3:::{bucket}"],
    }


def alarm_state_change(name: str, state: str, previous: str = "OK") -> dict:
    """A CloudWatch Alarm State Change event."""
    return {
        "Source": "aws.cloudwatch",
        "DetailType": "CloudWatch Alarm State Change",
        "Detail": json.dumps({
            "alarmName": name,
            "state": {"value": state, "reason": "Threshold Crossed",
                      "timestamp": "2026-11-27T10:00:00.000+0000"},
            "previousState": {"value": previous},
            "configuration": {"metrics": []},
        }),
        "Resources": [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"],
    }


@pytest.mark.parametrize("key", ["raw/data.csv", "raw/2026/11/part-0001.csv"])
def test_objects_created_under_the_raw_prefix_match(rule_to_queue, key):
    assert rule_to_queue(new_data_pattern(BUCKET), object_created(BUCKET, key))


@pytest.mark.parametrize(("bucket", "key"), [
    (BUCKET, "processed/train.csv"),
    (BUCKET, "reports/raw/data.csv"),
    (BUCKET, "rawdata.csv"),
    (BUCKET, "capture/raw/x.jsonl"),
    ("someone-elses-bucket", "raw/data.csv"),
])
def test_objects_elsewhere_do_not_match(rule_to_queue, bucket, key):
    assert not rule_to_queue(new_data_pattern(BUCKET), object_created(bucket, key))


def test_an_object_deleted_under_the_prefix_does_not_match(rule_to_queue):
    event = object_created(BUCKET, "raw/data.csv")
    event["DetailType"] = "Object Deleted"
    assert not rule_to_queue(new_data_pattern(BUCKET), event)


def test_a_custom_prefix_is_honoured(rule_to_queue):
    pattern = new_data_pattern(BUCKET, "raw/churn/")
    assert rule_to_queue(pattern, object_created(BUCKET, "raw/churn/a.csv"))
    assert not rule_to_queue(pattern, object_created(BUCKET, "raw/fraud/a.csv"))


def test_this_models_drift_alarm_entering_alarm_matches(rule_to_queue):
    assert rule_to_queue(drift_alarm_pattern([DRIFT_ALARM]),
                         alarm_state_change(DRIFT_ALARM, "ALARM"))


@pytest.mark.parametrize("state", ["OK", "INSUFFICIENT_DATA"])
def test_the_alarm_leaving_alarm_does_not_match(rule_to_queue, state):
    assert not rule_to_queue(drift_alarm_pattern([DRIFT_ALARM]),
                             alarm_state_change(DRIFT_ALARM, state, previous="ALARM"))


@pytest.mark.parametrize("name", [
    "churn/churn-endpoint/schema-violations",      # this model's alarm, not a drift one
    "churn-v2/churn-v2-endpoint/drift-detected",   # a model whose name extends this one's
    "fraud/fraud-endpoint/drift-detected",
    "churn/churn-endpoint/drift-detected-extra",
    "CPUUtilization-high",
])
def test_other_alarms_do_not_match(rule_to_queue, name):
    assert not rule_to_queue(drift_alarm_pattern([DRIFT_ALARM]), alarm_state_change(name, "ALARM"))


# --------------------------------------------------------------------------------------
# ModelMonitor's failed-execution rule, on real-shaped pipeline status events


def _pipeline_status_event(pipeline_arn: str, status: str) -> dict:
    from mlops_components.components.model_monitor import PIPELINE_STATUS_DETAIL_TYPE

    execution = f"{pipeline_arn}/execution/abc123"
    return {"Source": "aws.sagemaker", "DetailType": PIPELINE_STATUS_DETAIL_TYPE,
            "Resources": [pipeline_arn, execution],
            "Detail": json.dumps({"pipelineArn": pipeline_arn, "pipelineExecutionArn": execution,
                                  "currentPipelineExecutionStatus": status,
                                  "previousPipelineExecutionStatus": "Executing",
                                  "executionStartTime": "2026-11-27T00:00:00Z",
                                  "executionEndTime": "2026-11-27T00:10:00Z"})}


@pytest.mark.parametrize(("pipeline", "status", "expected"), [
    ("churn-monitor", "Failed", True),
    ("churn-training", "Failed", True),
    ("churn-monitor", "Succeeded", False),
    ("churn-monitor", "Stopped", False),
    ("other-pipeline", "Failed", False),
])
def test_failed_executions_of_the_watched_pipelines_match(rule_to_queue, pipeline, status,
                                                          expected):
    from mlops_components.components.model_monitor import pipeline_failed_pattern

    arn = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/"
    pattern = pipeline_failed_pattern([f"{arn}churn-monitor", f"{arn}churn-training"])
    assert rule_to_queue(pattern, _pipeline_status_event(f"{arn}{pipeline}", status)) is expected
