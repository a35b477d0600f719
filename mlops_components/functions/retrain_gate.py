"""Lambda: the retraining gate. Many events in, at most one pipeline execution per cooldown out.

RetrainTrigger's rules (new data under the raw prefix, a drift alarm entering ALARM, and the
schedule when a champion is compared) invoke this function instead of the pipeline. One rule
decides every event (:func:`decide`, which the local loop uses too):

- an event is *covered* when what it reports (its ``time``) is not newer than the last start:
  that execution already answers it (duplicates, a storm, a late retry);
- otherwise, it starts an execution unless one is running or one started within the cooldown;
  then it is *held*, and the gate schedules a one-time **re-check** of it at the cooldown's end
  (EventBridge Scheduler, ``at(...)``, deleted after it runs). A drift re-check re-reads the
  alarm: still in ALARM, it retrains once; back to OK, the episode is over. An alarm that stays
  in ALARM sends no new event, so without the re-check it would never be answered.

Serialisation without reserved concurrency: the last start is a DynamoDB item (one per
pipeline) that only a conditional ``PutItem`` may claim ("absent, or older than the cooldown,
or claimed by this very event"); of concurrent invocations exactly one wins, the others are
covered by its start. The ClientRequestToken of StartPipelineExecution is derived from the
claiming event's id, so a retried or duplicated event starts once.

New data settles: a new-data event is not acted on at once but re-checked ``SETTLE_SECONDS``
later (one re-check per prefix and settle window), so a multi-file upload trains once on the
complete prefix (an event delivered after its window settled is acted on at once: a one-time
schedule cannot be in the past). A folder marker (a zero-byte key ending in ``/``) is ignored.

Parameters it passes: for new data, the object's prefix as ``$INPUT_DATA_PARAMETER``; when
``$CHAMPION_PARAMETER`` and ``$MODEL_PACKAGE_GROUP`` are set, the model artifact of the group's
latest Approved package. "Nothing to do" returns a reason; a failure raises, so Lambda retries
(twice) and finally dead-letters the event.

boto3 + standard library only; imports nothing of mlops_components or training.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

RUNNING_STATUSES = ("Executing", "Stopping")
APPROVED = "Approved"
#: How far back a still-running execution is looked for (pipelines stop long before).
RUNNING_LOOKBACK = timedelta(days=30)
#: While an execution runs past the cooldown, a held event is re-checked this often.
RUNNING_RECHECK = timedelta(minutes=15)

S3_SOURCE = "aws.s3"
ALARM_SOURCE = "aws.cloudwatch"
SCHEDULE_SOURCE = "aws.events"
RECHECK_SOURCE = "mlops.retrain-gate"
RECHECK_DETAIL_TYPE = "Retrain Re-check"

NEW_DATA, DRIFT, SCHEDULE = "new-data", "drift", "schedule"


class ConfigError(ValueError):
    """The Lambda's environment is invalid; every problem in one message."""


@dataclass(frozen=True)
class Config:
    """The gate's settings (from the Lambda's environment)."""

    pipeline_name: str
    cooldown_seconds: int
    purpose: str = "Retrain"
    """What the started execution does; its description starts with it."""
    model_package_group: str = ""
    input_data_parameter: str = ""
    champion_parameter: str = ""
    cooldown_sources: frozenset[str] = frozenset({NEW_DATA, DRIFT})
    """Sources the cooldown applies to; others (the schedule) start whenever they fire."""
    settle_seconds: int = 0
    state_table: str = ""
    """DynamoDB table (hash key ``pipeline``) holding the last start."""
    schedule_group: str = ""
    recheck_role_arn: str = ""
    """Role EventBridge Scheduler assumes to invoke this function for a re-check."""
    dead_letter_arn: str = ""
    function_arn: str = ""
    """This function's ARN, the re-checks' target (the handler takes it from its context)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        problems = []
        pipeline = env.get("PIPELINE_NAME", "")
        if not pipeline:
            problems.append("PIPELINE_NAME is required")
        numbers = {}
        for variable, required in (("COOLDOWN_SECONDS", True), ("SETTLE_SECONDS", False)):
            raw = env.get(variable, "" if required else "0")
            try:
                numbers[variable] = int(raw)
                if numbers[variable] < 0:
                    raise ValueError
            except ValueError:
                problems.append(f"{variable} must be an integer >= 0 (got {raw!r})")
                numbers[variable] = 0
        if env.get("CHAMPION_PARAMETER") and not env.get("MODEL_PACKAGE_GROUP"):
            problems.append("CHAMPION_PARAMETER needs MODEL_PACKAGE_GROUP")
        sources = frozenset(s for s in env.get("COOLDOWN_SOURCES", f"{NEW_DATA},{DRIFT}")
                            .split(",") if s)
        if sources - {NEW_DATA, DRIFT, SCHEDULE}:
            problems.append(f"COOLDOWN_SOURCES must name {NEW_DATA}, {DRIFT} or {SCHEDULE} "
                            f"(got {env.get('COOLDOWN_SOURCES')!r})")
        if numbers["COOLDOWN_SECONDS"] or numbers["SETTLE_SECONDS"]:
            problems += [f"{name} is required with a cooldown or a settle period"
                         for name in ("STATE_TABLE", "SCHEDULE_GROUP", "RECHECK_ROLE_ARN")
                         if not env.get(name)]
        if problems:
            raise ConfigError("; ".join(problems))
        return cls(pipeline_name=pipeline, cooldown_seconds=numbers["COOLDOWN_SECONDS"],
                   purpose=env.get("PURPOSE") or "Retrain",
                   model_package_group=env.get("MODEL_PACKAGE_GROUP", ""),
                   input_data_parameter=env.get("INPUT_DATA_PARAMETER", ""),
                   champion_parameter=env.get("CHAMPION_PARAMETER", ""),
                   cooldown_sources=sources, settle_seconds=numbers["SETTLE_SECONDS"],
                   state_table=env.get("STATE_TABLE", ""),
                   schedule_group=env.get("SCHEDULE_GROUP", ""),
                   recheck_role_arn=env.get("RECHECK_ROLE_ARN", ""),
                   dead_letter_arn=env.get("DEAD_LETTER_ARN", ""))


@dataclass(frozen=True)
class Trigger:
    """What an event asks for: which source, why, when it happened, and its input data."""

    source: str
    """``new-data``, ``drift`` or ``schedule``: the execution's display name starts with it."""
    reason: str
    observed_at: datetime
    """When the reported change happened (the event's time): what 'covered' compares."""
    input_data_uri: str | None = None
    alarm_name: str | None = None
    recheck: bool = False
    """A re-check the gate scheduled itself (settled data, or an event held by the cooldown)."""


@dataclass
class Clients:
    """The AWS clients the gate calls (boto3 clients, or fakes with the same methods)."""

    sagemaker: Any
    dynamodb: Any = None
    scheduler: Any = None
    cloudwatch: Any = None


def _time(text: Any, default: datetime) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return default
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def is_folder_marker(detail: Mapping[str, Any]) -> bool:
    """A zero-byte key ending in '/': what consoles create for a 'folder', not data."""
    obj = detail.get("object") or {}
    return str(obj.get("key", "")).endswith("/") and int(obj.get("size") or 0) == 0


def trigger_of(event: Mapping[str, Any], now: datetime) -> Trigger | None:
    """The trigger an event carries; None for an event the gate does not act on."""
    source, detail = event.get("source"), event.get("detail") or {}
    observed = _time(event.get("time"), now)
    kind = event.get("detail-type")
    if source == S3_SOURCE and kind == "Object Created":
        bucket = (detail.get("bucket") or {}).get("name")
        key = (detail.get("object") or {}).get("key")
        if not bucket or not key or is_folder_marker(detail):
            return None
        prefix = posixpath.dirname(key)
        uri = f"s3://{bucket}/{prefix}/" if prefix else f"s3://{bucket}/"
        return Trigger(NEW_DATA, f"new object s3://{bucket}/{key}", observed, uri)
    if source == ALARM_SOURCE and kind == "CloudWatch Alarm State Change":
        if (detail.get("state") or {}).get("value") != "ALARM":
            return None
        name = detail.get("alarmName", "?")
        changed = _time((detail.get("state") or {}).get("timestamp"), observed)
        return Trigger(DRIFT, f"alarm {name} in ALARM", changed, alarm_name=name)
    if source == SCHEDULE_SOURCE and kind == "Scheduled Event":
        return Trigger(SCHEDULE, f"schedule {','.join(event.get('resources') or [])}", observed)
    if source == RECHECK_SOURCE and kind == RECHECK_DETAIL_TYPE:
        if detail.get("trigger") not in (NEW_DATA, DRIFT, SCHEDULE):
            return None
        return Trigger(detail["trigger"], str(detail.get("reason", "")), observed,
                       detail.get("input_data_uri"), detail.get("alarm_name"), recheck=True)
    return None


@dataclass(frozen=True)
class Decision:
    """What the rule says about one event now."""

    start: bool
    reason: str = ""
    recheck_at: datetime | None = None
    """When a held event is to be looked at again (None: never, it is covered)."""


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def decide(executions: Iterable[Mapping[str, Any]], now: datetime, cooldown_seconds: int,
           observed_at: datetime | None = None, last_claim: datetime | None = None,
           cooled: bool = True) -> Decision:
    """The one rule: covered (nothing to do), held (re-check later) or start.

    ``executions`` are the pipeline's recent ones, ``last_claim`` the start the state table
    holds (it may be newer than what ListPipelineExecutions shows), ``observed_at`` when the
    event's change happened (None: now). ``cooled`` False: a source the cooldown does not
    apply to (it still waits for nothing and starts).
    """
    observed_at = observed_at or now
    cooldown = timedelta(seconds=cooldown_seconds)
    executions = list(executions)
    last_name, last = "the state table's claim", last_claim
    for execution in executions:
        started = _aware(execution.get("StartTime"))
        if started and (last is None or started > last):
            last, last_name = started, f"execution {execution.get('PipelineExecutionArn', '?')}"
    if not cooled:
        return Decision(True, "the cooldown does not apply to this source")
    if last is not None and observed_at <= last:
        return Decision(False, f"covered: {last_name} started at {last:%Y-%m-%dT%H:%M:%SZ}, "
                               "after this change")
    for execution in executions:
        status = execution.get("PipelineExecutionStatus")
        if status in RUNNING_STATUSES:
            due = max(now + RUNNING_RECHECK, (last or now) + cooldown)
            return Decision(False, f"execution {execution.get('PipelineExecutionArn', '?')} "
                                   f"is {status}", due)
    if last is not None and cooldown_seconds > 0 and now - last < cooldown:
        return Decision(False, f"{last_name} started {int((now - last).total_seconds())} s "
                               f"ago, within the cooldown of {cooldown_seconds} s",
                        last + cooldown)
    return Decision(True)


def blocking_execution(executions: Iterable[Mapping[str, Any]], now: datetime,
                       cooldown_seconds: int) -> str | None:
    """Why an event arriving now would not start an execution; None when one would start."""
    decision = decide(executions, now, cooldown_seconds)
    return None if decision.start else decision.reason


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


def request_token(config: Config, claim_id: str) -> str:
    """One token per claiming event: SageMaker starts a retried or duplicated event once."""
    return hashlib.sha256(f"{config.pipeline_name}:event:{claim_id}".encode()).hexdigest()


# --------------------------------------------------------------------------------------
# The state table: the last start, claimed by a conditional write


@dataclass(frozen=True)
class Claim:
    """The last start the state table holds."""

    at: datetime
    by: str
    """The claiming event's id."""
    execution_arn: str | None
    """Set once the start succeeded; a claim without it is one its event must finish."""


def last_claim(dynamodb: Any, config: Config) -> Claim | None:
    """The last start claimed; None when never."""
    item = dynamodb.get_item(TableName=config.state_table, ConsistentRead=True,
                             Key={"pipeline": {"S": config.pipeline_name}}).get("Item")
    if not item:
        return None
    return Claim(datetime.fromtimestamp(float(item["started_at"]["N"]), UTC),
                 item.get("claimed_by", {}).get("S", ""),
                 item.get("execution_arn", {}).get("S"))


def record_start(dynamodb: Any, config: Config, claim_id: str, execution_arn: str) -> None:
    """Mark this event's claim as done (unless a later claim replaced it meanwhile)."""
    try:
        dynamodb.update_item(
            TableName=config.state_table, Key={"pipeline": {"S": config.pipeline_name}},
            UpdateExpression="SET execution_arn = :arn", ConditionExpression="claimed_by = :me",
            ExpressionAttributeValues={":arn": {"S": execution_arn}, ":me": {"S": claim_id}})
    except Exception as error:
        if _error_code(error) != "ConditionalCheckFailedException":
            raise


def claim(dynamodb: Any, config: Config, now: datetime, claim_id: str, cooled: bool) -> bool:
    """Record a start now, unless another one holds the cooldown; True when this event won."""
    request: dict[str, Any] = {
        "TableName": config.state_table,
        "Item": {"pipeline": {"S": config.pipeline_name},
                 "started_at": {"N": f"{now.timestamp():.3f}"},
                 "claimed_by": {"S": claim_id}},
    }
    if cooled:
        cutoff = now - timedelta(seconds=config.cooldown_seconds)
        request |= {
            "ConditionExpression": "attribute_not_exists(#p) OR started_at <= :cutoff "
                                   "OR (claimed_by = :me AND attribute_not_exists(execution_arn))",
            "ExpressionAttributeNames": {"#p": "pipeline"},
            "ExpressionAttributeValues": {":cutoff": {"N": f"{cutoff.timestamp():.3f}"},
                                          ":me": {"S": claim_id}},
        }
    try:
        dynamodb.put_item(**request)
    except Exception as error:  # botocore's ClientError, without importing botocore
        if _error_code(error) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _error_code(error: Exception) -> str:
    return str((getattr(error, "response", None) or {}).get("Error", {}).get("Code", ""))


# --------------------------------------------------------------------------------------
# Re-checks: one-time schedules that invoke this function again


def schedule_recheck(scheduler: Any, config: Config, trigger: Trigger, at: datetime,
                     observed_at: datetime) -> str:
    """Schedule a re-check of ``trigger`` at ``at``; one per (trigger, prefix or alarm, time):
    an existing one with that name is the same re-check (ConflictException is fine)."""
    at = at.replace(microsecond=0) + timedelta(seconds=1 if at.microsecond else 0)
    key = f"{config.pipeline_name}|{trigger.source}|{trigger.input_data_uri or ''}|" \
          f"{trigger.alarm_name or ''}|{int(at.timestamp())}"
    name = f"recheck-{hashlib.sha256(key.encode()).hexdigest()[:48]}"
    payload = {"version": "0", "id": name, "source": RECHECK_SOURCE,
               "detail-type": RECHECK_DETAIL_TYPE,
               "time": observed_at.astimezone(UTC).isoformat(),
               "detail": {"trigger": trigger.source, "reason": trigger.reason,
                          "input_data_uri": trigger.input_data_uri,
                          "alarm_name": trigger.alarm_name}}
    target: dict[str, Any] = {"Arn": config.function_arn, "RoleArn": config.recheck_role_arn,
                              "Input": json.dumps(payload),
                              "RetryPolicy": {"MaximumRetryAttempts": 3,
                                              "MaximumEventAgeInSeconds": 3600}}
    if config.dead_letter_arn:
        target["DeadLetterConfig"] = {"Arn": config.dead_letter_arn}
    try:
        scheduler.create_schedule(
            Name=name, GroupName=config.schedule_group,
            ScheduleExpression=f"at({at.astimezone(UTC):%Y-%m-%dT%H:%M:%S})",
            ScheduleExpressionTimezone="UTC", FlexibleTimeWindow={"Mode": "OFF"},
            ActionAfterCompletion="DELETE", Target=target,
            Description=f"Re-check: {trigger.reason}"[:512])
    except Exception as error:
        if _error_code(error) != "ConflictException":
            raise
    return f"re-check at {at:%Y-%m-%dT%H:%M:%SZ}"


def settle_due(observed_at: datetime, settle_seconds: int) -> datetime:
    """End of the settle window an upload falls in: every upload of a burst within one window
    gets the same re-check, later than all of them by at least the settle period."""
    windows = -(-int(observed_at.timestamp() + settle_seconds) // settle_seconds)
    return datetime.fromtimestamp(windows * settle_seconds, UTC)


# --------------------------------------------------------------------------------------


def handle(event: Mapping[str, Any], clients: Clients, config: Config,
           now: datetime | None = None) -> dict[str, Any]:
    """Decide on one event; start the pipeline, hold it for a re-check, or say why not."""
    now = now or datetime.now(UTC)
    trigger = trigger_of(event, now)
    if trigger is None:
        return {"started": False, "reason": "ignored: not an event the gate acts on "
                f"(source {event.get('source')!r}, detail-type {event.get('detail-type')!r})"}
    cooled = trigger.source in config.cooldown_sources and config.cooldown_seconds > 0
    claim_id = str(event.get("id") or hashlib.sha256(
        json.dumps(event, sort_keys=True, default=str).encode()).hexdigest())

    if trigger.source == NEW_DATA and config.settle_seconds and not trigger.recheck:
        due = settle_due(trigger.observed_at, config.settle_seconds)
        window = due - timedelta(seconds=config.settle_seconds)
        if due > now:
            when = schedule_recheck(clients.scheduler, config, trigger, due, window)
            return {"started": False, "reason": f"settling ({trigger.reason}): {when}"}
        # Delivered (or retried) after its window settled: act now, as its re-check would
        # have (a one-time schedule cannot be set in the past).
        trigger = replace(trigger, observed_at=window, recheck=True)
    if trigger.source == DRIFT and trigger.recheck and trigger.alarm_name:
        alarms = clients.cloudwatch.describe_alarms(
            AlarmNames=[trigger.alarm_name]).get("MetricAlarms", [])
        state = alarms[0].get("StateValue") if alarms else "missing"
        if state != "ALARM":
            return {"started": False,
                    "reason": f"episode over: alarm {trigger.alarm_name} is {state}"}

    executions = recent_executions(clients.sagemaker, config.pipeline_name, now,
                                   config.cooldown_seconds)
    last = last_claim(clients.dynamodb, config) if config.state_table else None
    finishing = bool(last and last.by == claim_id and not last.execution_arn)
    if finishing:
        decision = Decision(True, "a retry of the event that claimed the start: finish it")
    elif last and last.by == claim_id:
        # A redelivery of the event that started the last execution (even of a source without
        # a cooldown): claiming again would move the claim's time past changes no execution
        # has seen, while SageMaker dedupes the start by its token.
        decision = Decision(False, f"covered: this event started {last.execution_arn}")
    else:
        decision = decide(executions, now, config.cooldown_seconds, trigger.observed_at,
                          last.at if last else None, cooled)
    if not decision.start:
        reason = f"skipped ({trigger.reason}): {decision.reason}"
        if decision.recheck_at is not None:
            reason += "; " + schedule_recheck(clients.scheduler, config, trigger,
                                              decision.recheck_at, trigger.observed_at)
        return {"started": False, "reason": reason}
    # A retry finishing its own claim keeps the claim's time: claiming again would move it
    # past changes that no execution has seen.
    if config.state_table and not finishing and not claim(clients.dynamodb, config, now,
                                                          claim_id, cooled):
        return {"started": False,
                "reason": f"skipped ({trigger.reason}): covered: another invocation claimed "
                          "the start just now"}

    parameters = []
    if trigger.input_data_uri and config.input_data_parameter:
        parameters.append({"Name": config.input_data_parameter, "Value": trigger.input_data_uri})
    if config.champion_parameter:
        champion = champion_model_uri(clients.sagemaker, config.model_package_group)
        if champion:
            parameters.append({"Name": config.champion_parameter, "Value": champion})
    response = clients.sagemaker.start_pipeline_execution(
        PipelineName=config.pipeline_name,
        PipelineExecutionDisplayName=f"{trigger.source}-{now:%Y%m%dT%H%M%S}",
        PipelineExecutionDescription=f"{config.purpose}: {trigger.reason}"[:3072],
        PipelineParameters=parameters,
        ClientRequestToken=request_token(config, claim_id),
    )
    if config.state_table:
        record_start(clients.dynamodb, config, claim_id, response["PipelineExecutionArn"])
    return {"started": True, "reason": trigger.reason,
            "execution_arn": response["PipelineExecutionArn"], "parameters": parameters}


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point."""
    config = replace(Config.from_env(os.environ),
                     function_arn=getattr(context, "invoked_function_arn", "") or "")
    clients = Clients(sagemaker=boto3.client("sagemaker"), dynamodb=boto3.client("dynamodb"),
                      scheduler=boto3.client("scheduler"),
                      cloudwatch=boto3.client("cloudwatch"))
    result = handle(event, clients, config)
    logger.info(json.dumps(result, default=str))
    return result
