"""The retraining gate against moto's SageMaker pipeline APIs (HTTP server on 127.0.0.1).

moto starts executions as Succeeded at once and keeps them in this process, so "running" is
set on moto's own record of an execution; the clock is the gate's `now` argument, so "after
the cooldown" needs no sleeping. Everything the gate sends goes through botocore's request
validation (the real service model) on the way to moto.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.models import sagemaker_backends

from mlops_components.functions import retrain_gate
from mlops_components.functions.retrain_gate import Config, ConfigError, handle
from mlops_components.sagemaker.spec import PipelineParameter
from tests.integration.conftest import REGION

ROLE = "arn:aws:iam::123456789012:role/pipeline"
COOLDOWN = 3600
BUCKET = "churn-data"


def object_created(key: str, bucket: str = BUCKET) -> dict:
    return {"version": "0", "id": str(uuid.uuid4()), "source": "aws.s3",
            "detail-type": "Object Created", "region": REGION,
            "detail": {"bucket": {"name": bucket}, "object": {"key": key, "size": 10}}}


def alarm(state: str = "ALARM", name: str = "churn/churn-endpoint/drift-detected") -> dict:
    return {"version": "0", "id": str(uuid.uuid4()), "source": "aws.cloudwatch",
            "detail-type": "CloudWatch Alarm State Change", "region": REGION,
            "detail": {"alarmName": name, "state": {"value": state},
                       "previousState": {"value": "OK"}}}


@pytest.fixture
def sm(aws_client):
    return aws_client("sagemaker")


@pytest.fixture
def pipeline(sm) -> str:
    name = f"churn-training-{uuid.uuid4().hex[:8]}"
    sm.create_pipeline(PipelineName=name, RoleArn=ROLE, PipelineDefinition=json.dumps(
        {"Version": "2020-12-01", "Parameters": [], "Steps": []}))
    return name


def config(pipeline: str, **overrides) -> Config:
    values = {"pipeline_name": pipeline, "cooldown_seconds": COOLDOWN,
              "input_data_parameter": PipelineParameter.INPUT_DATA_URI.value}
    return Config(**{**values, **overrides})


def executions(sm, pipeline: str) -> list[dict]:
    return sm.list_pipeline_executions(PipelineName=pipeline)["PipelineExecutionSummaries"]


def set_status(pipeline: str, status: str) -> None:
    """moto's record of every execution of `pipeline` (the server runs in this process)."""
    backend = sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION]
    for execution in backend.pipelines[pipeline].pipeline_executions.values():
        execution.pipeline_execution_status = status


def test_a_storm_of_uploads_starts_one_execution_with_the_new_prefix(sm, pipeline):
    results = [handle(object_created(f"raw/2026-11/part-{i}.csv"), sm, config(pipeline))
               for i in range(100)]
    assert [r["started"] for r in results].count(True) == 1
    assert results[0]["started"]
    assert all("within the cooldown" in r["reason"] for r in results[1:])
    (started,) = executions(sm, pipeline)
    arn = started["PipelineExecutionArn"]
    parameters = sm.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=arn)["PipelineParameters"]
    assert parameters == [{"Name": "InputDataUri", "Value": f"s3://{BUCKET}/raw/2026-11/"}]
    assert started["PipelineExecutionDisplayName"].startswith("new-data-")


def test_an_alarm_storm_starts_one_execution_without_input_data(sm, pipeline):
    results = [handle(alarm(), sm, config(pipeline)) for _ in range(20)]
    assert sum(r["started"] for r in results) == 1
    assert results[0]["parameters"] == []


def test_nothing_starts_while_an_execution_is_running_even_after_the_cooldown(sm, pipeline):
    assert handle(alarm(), sm, config(pipeline))["started"]
    set_status(pipeline, "Executing")
    later = datetime.now(UTC) + timedelta(seconds=COOLDOWN * 5)
    result = handle(object_created("raw/new.csv"), sm, config(pipeline), now=later)
    assert not result["started"]
    assert "is Executing" in result["reason"]
    set_status(pipeline, "Stopping")
    assert not handle(alarm(), sm, config(pipeline), now=later)["started"]
    assert len(executions(sm, pipeline)) == 1


def test_within_the_cooldown_nothing_starts_after_it_one_does(sm, pipeline):
    now = datetime.now(UTC)
    assert handle(alarm(), sm, config(pipeline), now=now)["started"]
    within = handle(alarm(), sm, config(pipeline), now=now + timedelta(seconds=COOLDOWN - 60))
    assert not within["started"] and "within the cooldown of 3600 s" in within["reason"]
    after = handle(alarm(), sm, config(pipeline), now=now + timedelta(seconds=COOLDOWN + 60))
    assert after["started"]
    assert len(executions(sm, pipeline)) == 2


def test_a_failed_execution_within_the_cooldown_still_blocks(sm, pipeline):
    assert handle(alarm(), sm, config(pipeline))["started"]
    set_status(pipeline, "Failed")
    assert not handle(alarm(), sm, config(pipeline))["started"]


def test_no_cooldown_starts_on_every_event_but_once_per_event(sm, pipeline):
    gate = config(pipeline, cooldown_seconds=0)
    first, second = object_created("raw/a.csv"), object_created("raw/b.csv")
    assert handle(first, sm, gate)["started"]
    assert handle(second, sm, gate)["started"]
    token = retrain_gate.request_token(gate, datetime.now(UTC), first["id"])
    assert token == retrain_gate.request_token(gate, datetime.now(UTC), first["id"])
    assert token != retrain_gate.request_token(gate, datetime.now(UTC), second["id"])


def test_starts_in_one_cooldown_window_share_one_idempotency_token(pipeline):
    gate = config(pipeline)
    start = datetime(2026, 11, 27, 10, 0, 1, tzinfo=UTC)
    same_window = retrain_gate.request_token(gate, start + timedelta(minutes=30), "a")
    assert retrain_gate.request_token(gate, start, "b") == same_window
    assert retrain_gate.request_token(gate, start + timedelta(hours=1), "a") != same_window
    assert 32 <= len(same_window) <= 128


def test_the_champion_is_the_latest_approved_package(sm, pipeline):
    group = f"churn-{uuid.uuid4().hex[:6]}"
    sm.create_model_package_group(ModelPackageGroupName=group)
    for version, status in enumerate(["Approved", "Approved", "PendingManualApproval"], 1):
        sm.create_model_package(
            ModelPackageGroupName=group, ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1",
                                "ModelDataUrl": f"s3://{BUCKET}/models/v{version}.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"]})
    gate = config(pipeline, model_package_group=group, champion_parameter="ChampionModelUri")
    result = handle(alarm(), sm, gate)
    assert result["started"]
    assert {"Name": "ChampionModelUri", "Value": f"s3://{BUCKET}/models/v2.tar.gz"} \
        in result["parameters"]


def test_no_approved_package_passes_no_champion(sm, pipeline):
    group = f"empty-{uuid.uuid4().hex[:6]}"
    sm.create_model_package_group(ModelPackageGroupName=group)
    gate = config(pipeline, model_package_group=group, champion_parameter="ChampionModelUri")
    assert handle(alarm(), sm, gate)["parameters"] == []


@pytest.mark.parametrize("event", [
    alarm(state="OK"),
    {"source": "aws.s3", "detail-type": "Object Deleted",
     "detail": {"bucket": {"name": BUCKET}, "object": {"key": "raw/x.csv"}}},
    {"source": "aws.sagemaker", "detail-type": "SageMaker Model Package State Change"},
])
def test_other_events_are_ignored_without_a_call(event):
    class NoCalls:
        def __getattr__(self, name):
            raise AssertionError(f"unexpected call {name}")

    result = handle(event, NoCalls(), config("churn-training"))
    assert not result["started"] and result["reason"].startswith("ignored")


def test_an_object_at_the_bucket_root_gives_the_bucket():
    trigger = retrain_gate.trigger_of(object_created("data.csv"))
    assert trigger.input_data_uri == f"s3://{BUCKET}/"


@pytest.mark.parametrize(("env", "message"), [
    ({}, "PIPELINE_NAME is required"),
    ({"PIPELINE_NAME": "p"}, "COOLDOWN_SECONDS must be an integer >= 0"),
    ({"PIPELINE_NAME": "p", "COOLDOWN_SECONDS": "-1"}, "COOLDOWN_SECONDS must be an integer"),
    ({"PIPELINE_NAME": "p", "COOLDOWN_SECONDS": "soon"}, "COOLDOWN_SECONDS must be an integer"),
    ({"PIPELINE_NAME": "p", "CHAMPION_PARAMETER": "ChampionModelUri"},
     "CHAMPION_PARAMETER needs MODEL_PACKAGE_GROUP"),
])
def test_a_bad_environment_is_one_line(env, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_env(env)


def test_the_environment_is_read():
    gate = Config.from_env({"PIPELINE_NAME": "p", "COOLDOWN_SECONDS": "600",
                            "INPUT_DATA_PARAMETER": "InputDataUri"})
    assert (gate.pipeline_name, gate.cooldown_seconds, gate.input_data_parameter) == \
        ("p", 600, "InputDataUri")
