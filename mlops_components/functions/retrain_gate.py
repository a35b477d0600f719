"""Lambda: the retraining cooldown gate. Many events in, at most one pipeline execution out.

RetrainTrigger's rules (new data under the raw prefix, a drift alarm entering ALARM, a
schedule) invoke this function instead of the pipeline when a cooldown is set. It starts the
training pipeline only if no execution is running (Executing or Stopping) and none started
within the cooldown, so a burst of 100 uploads or an alarm storm gives one execution.

Races: the function runs with reserved concurrency 1, so invocations are serialised; on top of
that the ClientRequestToken of StartPipelineExecution is derived from the pipeline and the
cooldown window, so two starts in the same window are one execution for SageMaker
(the token is idempotent). With no cooldown, the token is the event's id, so an event that
EventBridge or Lambda delivers twice still starts once.

Parameters it passes: for an S3 event, the new object's prefix as the input data
(``$INPUT_DATA_PARAMETER``); when ``$CHAMPION_PARAMETER`` and ``$MODEL_PACKAGE_GROUP`` are
set, the model artifact of the group's latest Approved package, for the gate's comparison.
"Nothing to do" returns a reason; a failure raises, so Lambda retries and finally
dead-letters the event.

boto3 + standard library only; imports nothing of mlops_components or training.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

RUNNING_STATUSES = ("Executing", "Stopping")
APPROVED = "Approved"
#: How far back a still-running execution is looked for (pipelines stop long before).
RUNNING_LOOKBACK = timedelta(days=30)

S3_SOURCE = "aws.s3"
ALARM_SOURCE = "aws.cloudwatch"
SCHEDULE_SOURCE = "aws.events"


class ConfigError(ValueError):
    """The Lambda's environment is invalid; every problem in one message."""


@dataclass(frozen=True)
class Config:
    """The gate's settings (from the Lambda's environment)."""

    pipeline_name: str
    cooldown_seconds: int
    model_package_group: str = ""
    input_data_parameter: str = ""
    champion_parameter: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        problems = []
        pipeline = env.get("PIPELINE_NAME", "")
        if not pipeline:
            problems.append("PIPELINE_NAME is required")
        raw = env.get("COOLDOWN_SECONDS", "")
        try:
            cooldown = int(raw)
            if cooldown < 0:
                raise ValueError
        except ValueError:
            problems.append(f"COOLDOWN_SECONDS must be an integer >= 0 (got {raw!r})")
            cooldown = 0
        if env.get("CHAMPION_PARAMETER") and not env.get("MODEL_PACKAGE_GROUP"):
            problems.append("CHAMPION_PARAMETER needs MODEL_PACKAGE_GROUP")
        if problems:
            raise ConfigError("; ".join(problems))
        return cls(pipeline_name=pipeline, cooldown_seconds=cooldown,
                   model_package_group=env.get("MODEL_PACKAGE_GROUP", ""),
                   input_data_parameter=env.get("INPUT_DATA_PARAMETER", ""),
                   champion_parameter=env.get("CHAMPION_PARAMETER", ""))


@dataclass(frozen=True)
class Trigger:
    """What an event asks for: which source, why, and the input data it brings (if any)."""

    source: str
    """``new-data``, ``drift`` or ``schedule``: the execution's display name starts with it."""
    reason: str
    input_data_uri: str | None = None


def trigger_of(event: Mapping[str, Any]) -> Trigger | None:
    """The trigger an EventBridge event carries; None for an event the gate does not handle."""
    source, detail = event.get("source"), event.get("detail") or {}
    if source == S3_SOURCE and event.get("detail-type") == "Object Created":
        bucket = (detail.get("bucket") or {}).get("name")
        key = (detail.get("object") or {}).get("key")
        if not bucket or not key:
            return None
        prefix = posixpath.dirname(key)
        uri = f"s3://{bucket}/{prefix}/" if prefix else f"s3://{bucket}/"
        return Trigger("new-data", f"new object s3://{bucket}/{key}", uri)
    if source == ALARM_SOURCE and event.get("detail-type") == "CloudWatch Alarm State Change":
        state = (detail.get("state") or {}).get("value")
        if state != "ALARM":
            return None
        return Trigger("drift", f"alarm {detail.get('alarmName', '?')} in ALARM")
    if source == SCHEDULE_SOURCE and event.get("detail-type") == "Scheduled Event":
        return Trigger("schedule", f"schedule {','.join(event.get('resources') or [])}")
    return None


def blocking_execution(executions: Iterable[Mapping[str, Any]], now: datetime,
                       cooldown_seconds: int) -> str | None:
    """Why an execution must not start now (one running, or one started within the
    cooldown), naming that execution; None when one may start."""
    cooldown = timedelta(seconds=cooldown_seconds)
    for execution in executions:
        arn = execution.get("PipelineExecutionArn", "?")
        status = execution.get("PipelineExecutionStatus")
        if status in RUNNING_STATUSES:
            return f"execution {arn} is {status}"
        started = execution.get("StartTime")
        if isinstance(started, datetime) and cooldown_seconds > 0:
            started = started if started.tzinfo else started.replace(tzinfo=UTC)
            if now - started < cooldown:
                return (f"execution {arn} started {int((now - started).total_seconds())} s "
                        f"ago, within the cooldown of {cooldown_seconds} s")
    return None


def recent_executions(client: Any, pipeline_name: str, now: datetime,
                      cooldown_seconds: int) -> list[dict[str, Any]]:
    """Executions created within the look-back (the cooldown, or longer for running ones)."""
    after = now - max(RUNNING_LOOKBACK, timedelta(seconds=cooldown_seconds))
    found: list[dict[str, Any]] = []
    request = {"PipelineName": pipeline_name, "CreatedAfter": after,
               "SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": 100}
    while True:
        page = client.list_pipeline_executions(**request)
        found.extend(page.get("PipelineExecutionSummaries", []))
        token = page.get("NextToken")
        if not token:
            return found
        request["NextToken"] = token


def champion_model_uri(client: Any, group: str) -> str | None:
    """ModelDataUrl of the group's latest Approved package; None when none is approved."""
    packages = client.list_model_packages(
        ModelPackageGroupName=group, ModelApprovalStatus=APPROVED,
        SortBy="CreationTime", SortOrder="Descending", MaxResults=1,
    ).get("ModelPackageSummaryList", [])
    if not packages:
        return None
    described = client.describe_model_package(ModelPackageName=packages[0]["ModelPackageArn"])
    containers = (described.get("InferenceSpecification") or {}).get("Containers") or []
    return containers[0].get("ModelDataUrl") if containers else None


def request_token(config: Config, now: datetime, event_id: str) -> str:
    """The same token for every start in one cooldown window (SageMaker dedupes on it)."""
    if config.cooldown_seconds > 0:
        window = int(now.timestamp()) // config.cooldown_seconds
        seed = f"{config.pipeline_name}:window:{window}"
    else:
        seed = f"{config.pipeline_name}:event:{event_id}"
    return hashlib.sha256(seed.encode()).hexdigest()


def handle(event: Mapping[str, Any], client: Any, config: Config,
           now: datetime | None = None) -> dict[str, Any]:
    """Decide on one event; start the pipeline or say why not."""
    now = now or datetime.now(UTC)
    trigger = trigger_of(event)
    if trigger is None:
        return {"started": False, "reason": "ignored: not an event the gate handles "
                f"(source {event.get('source')!r}, detail-type {event.get('detail-type')!r})"}
    executions = recent_executions(client, config.pipeline_name, now, config.cooldown_seconds)
    blocked = blocking_execution(executions, now, config.cooldown_seconds)
    if blocked:
        return {"started": False, "reason": f"skipped ({trigger.reason}): {blocked}"}
    parameters = []
    if trigger.input_data_uri and config.input_data_parameter:
        parameters.append({"Name": config.input_data_parameter, "Value": trigger.input_data_uri})
    if config.champion_parameter:
        champion = champion_model_uri(client, config.model_package_group)
        if champion:
            parameters.append({"Name": config.champion_parameter, "Value": champion})
    response = client.start_pipeline_execution(
        PipelineName=config.pipeline_name,
        PipelineExecutionDisplayName=f"{trigger.source}-{now:%Y%m%dT%H%M%S}",
        PipelineExecutionDescription=f"Retraining: {trigger.reason}"[:3072],
        PipelineParameters=parameters,
        ClientRequestToken=request_token(config, now, str(event.get("id") or uuid.uuid4())),
    )
    return {"started": True, "reason": trigger.reason,
            "execution_arn": response["PipelineExecutionArn"], "parameters": parameters}


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point."""
    result = handle(event, boto3.client("sagemaker"), Config.from_env(os.environ))
    logger.info(json.dumps(result, default=str))
    return result
