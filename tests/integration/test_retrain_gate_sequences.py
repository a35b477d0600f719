"""Event sequences: the real retrain gate (``handle``) over a simulated control plane.

Hypothesis draws what the world does, one step at a time: a drift alarm enters ALARM (and
stays) or returns to OK; uploads land under a prefix (bursts of files of one upload, a storm of
100, folder markers); the retraining schedule fires; EventBridge delivers an event once, twice
or late (so out of order); a fake AWS client fails (throttling or a 5xx, before or after its
effect) and Lambda retries the invocation about 1 and 2 minutes later, then dead-letters it; a
longer outage of one API; time passes, executions finish Succeeded or Failed, one-time
schedules fire the gate's re-checks.

The clock is the simulation's (the gate takes ``now`` from its caller). Every request the gate
sends is validated by botocore's own validator against the service model, and by the length,
pattern and enum constraints the service checks after it. The fakes keep the semantics the
gate relies on: DynamoDB evaluates the gate's condition and update expressions (and refuses
unused expression names or values), SageMaker dedupes ClientRequestToken and paginates,
Scheduler refuses a duplicate name and (as reported for AWS) a one-time time in the past, and
deletes a schedule once it has run.

Safety is checked after every step, liveness at the end of each sequence after a quiet day in
which nothing fails.
"""

from __future__ import annotations

import heapq
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.validate import validate_parameters
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from mlops_components.functions.retrain_gate import (
    DRIFT,
    NEW_DATA,
    RECHECK_SOURCE,
    Clients,
    Config,
    handle,
)
from tests.service_constraints import service_problems

EPOCH = datetime(2026, 11, 27, tzinfo=UTC)
ACCOUNT = "123456789012"
PIPELINE = "churn-training"
PIPELINE_ARN = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:pipeline/{PIPELINE}"
GATE_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:churn-retrain-gate"
DLQ_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:churn-retrain-dlq"
BUCKET = "churn-data"
ALARM = "churn/churn-endpoint/drift-detected"
COOLDOWN, SETTLE = 3600, 300
CONFIG = Config(pipeline_name=PIPELINE, cooldown_seconds=COOLDOWN,
                input_data_parameter="InputDataUri", settle_seconds=SETTLE,
                state_table="churn-retrain-gate-state", schedule_group="churn-retrain-gate",
                recheck_role_arn=f"arn:aws:iam::{ACCOUNT}:role/churn-retrain-recheck",
                dead_letter_arn=DLQ_ARN, function_arn=GATE_ARN)
#: Lambda retries a failed asynchronous invocation twice, about 1 and 2 minutes later.
LAMBDA_RETRY_DELAYS = (60, 120)
#: Sources whose executions the cooldown spaces (the schedule starts whenever it fires).
COOLED = {NEW_DATA, DRIFT}
PREFIXES = ("raw/a/", "raw/b/")


# --------------------------------------------------------------------------------------
# Requests: botocore's validator, then what the service checks beyond it


@cache
def _input_shape(service: str, operation: str) -> Any:
    model = botocore.session.get_session().get_service_model(service)
    return model.operation_model(operation).input_shape


def validated(service: str, operation: str, params: dict[str, Any]) -> None:
    """Raise as botocore would (ParamValidationError), then as the service would."""
    shape = _input_shape(service, operation)
    validate_parameters(params, shape)
    problems = service_problems(params, shape, operation)
    assert not problems, f"the service refuses {operation}: {problems}"


def client_error(code: str, operation: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message or code},
                        "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)


class InjectedFault(ClientError):
    """A throttling or 5xx error the simulation injected (a real ClientError to the gate)."""


FAULT_CODES = {"dynamodb": "ProvisionedThroughputExceededException",
               "sagemaker": "ThrottlingException", "scheduler": "InternalServerException",
               "cloudwatch": "Throttling"}


# --------------------------------------------------------------------------------------
# DynamoDB condition and update expressions (the subset the gate uses, with real semantics)

_TOKEN = re.compile(r"\s*(\(|\)|,|<>|<=|>=|=|<|>|[#:]?[A-Za-z_][A-Za-z0-9_]*)")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "<>": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def _typed(value: dict[str, str]) -> tuple[str, Any]:
    (kind, raw), = value.items()
    return kind, Decimal(raw) if kind == "N" else raw


class _Expressions:
    """Parses one request's expressions; remembers which names and values they used."""

    def __init__(self, operation: str, names: dict | None, values: dict | None):
        self.operation, self.names, self.values = operation, names or {}, values or {}
        self.used: set[str] = set()

    def invalid(self, message: str) -> ClientError:
        return client_error("ValidationException", self.operation, message)

    def _tokens(self, text: str) -> list[str]:
        tokens, position, text = [], 0, text.strip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if not match:
                raise self.invalid(f"syntax error at {text[position:]!r}")
            tokens.append(match.group(1))
            position = match.end()
        return tokens

    def condition(self, text: str) -> Callable[[dict], bool]:
        self.tokens, self.index = self._tokens(text), 0
        check = self._or()
        if self.index != len(self.tokens):
            raise self.invalid(f"unexpected {self.tokens[self.index]!r}")
        return check

    def updates(self, text: str) -> list[tuple[str, dict]]:
        """``SET a = :v, b = :w`` (the only clause the gate uses)."""
        self.tokens, self.index = self._tokens(text), 0
        if self._take().upper() != "SET":
            raise self.invalid("only SET is simulated")
        assignments = []
        while True:
            name = self._path(self._take())
            self._take("=")
            token = self._take()
            if not token.startswith(":"):
                raise self.invalid("only SET name = :value is simulated")
            assignments.append((name, self._value(token)))
            if self.index == len(self.tokens):
                return assignments
            self._take(",")

    def check_all_used(self) -> None:
        unused = (set(self.names) | set(self.values)) - self.used
        if unused:
            raise self.invalid(f"Value provided in ExpressionAttribute(Names|Values) unused in "
                               f"expressions: keys: {{{', '.join(sorted(unused))}}}")

    def _peek(self) -> str:
        return self.tokens[self.index] if self.index < len(self.tokens) else ""

    def _take(self, expected: str | None = None) -> str:
        token = self._peek()
        if not token or (expected and token.upper() != expected):
            raise self.invalid(f"expected {expected or 'a token'}, got {token!r}")
        self.index += 1
        return token

    def _or(self) -> Callable[[dict], bool]:
        parts = [self._and()]
        while self._peek().upper() == "OR":
            self._take()
            parts.append(self._and())
        return lambda item: any(part(item) for part in parts)

    def _and(self) -> Callable[[dict], bool]:
        parts = [self._not()]
        while self._peek().upper() == "AND":
            self._take()
            parts.append(self._not())
        return lambda item: all(part(item) for part in parts)

    def _not(self) -> Callable[[dict], bool]:
        if self._peek().upper() == "NOT":
            self._take()
            inner = self._not()
            return lambda item: not inner(item)
        if self._peek() == "(":
            self._take()
            inner = self._or()
            self._take(")")
            return inner
        token = self._take()
        if token in ("attribute_exists", "attribute_not_exists"):
            self._take("(")
            name = self._path(self._take())
            self._take(")")
            wanted = token == "attribute_exists"
            return lambda item: (name in item) == wanted
        left, operator, right = self._operand(token), self._take(), self._operand(self._take())
        if operator not in _COMPARE:
            raise self.invalid(f"unknown comparator {operator!r}")

        def compare(item: dict) -> bool:
            a, b = left(item), right(item)
            if a is None or b is None:  # a missing attribute compares false
                return False
            (kind_a, value_a), (kind_b, value_b) = _typed(a), _typed(b)
            return kind_a == kind_b and _COMPARE[operator](value_a, value_b)
        return compare

    def _path(self, token: str) -> str:
        if token.startswith(":"):
            raise self.invalid(f"{token} is a value, not an attribute")
        if token.startswith("#"):
            if token not in self.names:
                raise self.invalid(f"An expression attribute name used is not defined: {token}")
            self.used.add(token)
            return self.names[token]
        return token

    def _value(self, token: str) -> dict:
        if token not in self.values:
            raise self.invalid(f"An expression attribute value used is not defined: {token}")
        self.used.add(token)
        return self.values[token]

    def _operand(self, token: str) -> Callable[[dict], dict | None]:
        if token.startswith(":"):
            value = self._value(token)
            return lambda item: value
        name = self._path(token)
        return lambda item: item.get(name)


# --------------------------------------------------------------------------------------
# The fake services


class _Service:
    service = ""

    def __init__(self, plane: ControlPlane):
        self.plane = plane

    def _request(self, operation: str, params: dict[str, Any],
                 effect: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        validated(self.service, operation, params)
        self.plane.calls.append(f"{self.service}:{operation}")
        fault = self.plane.fault(self.service, operation)
        if fault == "before":
            raise InjectedFault({"Error": {"Code": FAULT_CODES[self.service], "Message": "x"},
                                 "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)
        result = effect()
        if fault == "after":  # it happened, but the response was lost (a 5xx on the way back)
            raise InjectedFault({"Error": {"Code": "InternalFailure", "Message": "x"},
                                 "ResponseMetadata": {"HTTPStatusCode": 500}}, operation)
        return result


class FakeDynamoDB(_Service):
    service = "dynamodb"
    key = "pipeline"

    def __init__(self, plane: ControlPlane):
        super().__init__(plane)
        self.items: dict[str, dict] = {}

    def _key(self, operation: str, table: str, key: dict) -> str:
        if table != CONFIG.state_table:
            raise client_error("ResourceNotFoundException", operation)
        if set(key) != {self.key} or "S" not in key[self.key]:
            raise client_error("ValidationException", operation,
                               "The provided key element does not match the schema")
        return key[self.key]["S"]

    def get_item(self, **params: Any) -> dict[str, Any]:
        def effect() -> dict[str, Any]:
            item = self.items.get(self._key("GetItem", params["TableName"], params["Key"]))
            return {"Item": json.loads(json.dumps(item))} if item else {}
        return self._request("GetItem", params, effect)

    def put_item(self, **params: Any) -> dict[str, Any]:
        def effect() -> dict[str, Any]:
            item = params["Item"]
            key = self._key("PutItem", params["TableName"], {self.key: item.get(self.key, {})})
            self._condition("PutItem", params, self.items.get(key, {}))
            self.items[key] = json.loads(json.dumps(item))
            return {}
        return self._request("PutItem", params, effect)

    def update_item(self, **params: Any) -> dict[str, Any]:
        def effect() -> dict[str, Any]:
            key = self._key("UpdateItem", params["TableName"], params["Key"])
            current = self.items.get(key, {})
            expressions = self._condition("UpdateItem", params, current, check_used=False)
            updated = {**json.loads(json.dumps(current)), **params["Key"]}
            for name, value in expressions.updates(params["UpdateExpression"]):
                updated[name] = value
            expressions.check_all_used()
            self.items[key] = updated
            return {}
        return self._request("UpdateItem", params, effect)

    def _condition(self, operation: str, params: dict[str, Any], item: dict,
                   check_used: bool = True) -> _Expressions:
        expressions = _Expressions(operation, params.get("ExpressionAttributeNames"),
                                   params.get("ExpressionAttributeValues"))
        holds = True
        if "ConditionExpression" in params:
            holds = expressions.condition(params["ConditionExpression"])(item)
        if check_used:
            expressions.check_all_used()
        if not holds:
            raise client_error("ConditionalCheckFailedException", operation,
                               "The conditional request failed")
        return expressions


@dataclass
class Execution:
    arn: str
    started: datetime
    display_name: str
    description: str
    parameters: dict[str, str]
    duration: timedelta
    outcome: str

    def status(self, now: datetime) -> str:
        return "Executing" if now < self.started + self.duration else self.outcome

    @property
    def source(self) -> str:
        return self.display_name.rsplit("-", 1)[0]


class FakeSageMaker(_Service):
    service = "sagemaker"

    def __init__(self, plane: ControlPlane):
        super().__init__(plane)
        self.executions: dict[str, Execution] = {}
        self.tokens: dict[str, str] = {}
        self.next_duration, self.next_outcome = timedelta(minutes=40), "Succeeded"

    def start_pipeline_execution(self, **params: Any) -> dict[str, Any]:
        def effect() -> dict[str, Any]:
            if params["PipelineName"] not in (PIPELINE, PIPELINE_ARN):
                raise client_error("ResourceNotFound", "StartPipelineExecution")
            token = params.get("ClientRequestToken")
            if token in self.tokens:  # idempotent: the same token is the same execution
                return {"PipelineExecutionArn": self.tokens[token]}
            arn = f"{PIPELINE_ARN}/execution/{len(self.executions):012d}"
            self.executions[arn] = Execution(
                arn, self.plane.now, params.get("PipelineExecutionDisplayName", ""),
                params.get("PipelineExecutionDescription", ""),
                {p["Name"]: p["Value"] for p in params.get("PipelineParameters", [])},
                self.next_duration, self.next_outcome)
            if token:
                self.tokens[token] = arn
            return {"PipelineExecutionArn": arn}
        return self._request("StartPipelineExecution", params, effect)

    def list_pipeline_executions(self, **params: Any) -> dict[str, Any]:
        def effect() -> dict[str, Any]:
            found = [e for e in self.executions.values()
                     if params.get("CreatedAfter") is None or e.started > params["CreatedAfter"]]
            found.sort(key=lambda e: e.started, reverse=params.get("SortOrder") != "Ascending")
            start = int(params.get("NextToken") or 0)
            size = min(params.get("MaxResults", 10), 100)
            page = found[start:start + size]
            result: dict[str, Any] = {"PipelineExecutionSummaries": [
                {"PipelineExecutionArn": e.arn, "StartTime": e.started,
                 "PipelineExecutionStatus": e.status(self.plane.now),
                 "PipelineExecutionDisplayName": e.display_name} for e in page]}
            if start + size < len(found):
                result["NextToken"] = str(start + size)
            return result
        return self._request("ListPipelineExecutions", params, effect)

    def describe_pipeline_execution(self, **params: Any) -> dict[str, Any]:
        def effect() -> dict[str, Any]:
            e = self.executions[params["PipelineExecutionArn"]]
            return {"PipelineArn": PIPELINE_ARN, "PipelineExecutionArn": e.arn,
                    "PipelineExecutionDisplayName": e.display_name,
                    "PipelineExecutionDescription": e.description,
                    "PipelineExecutionStatus": e.status(self.plane.now),
                    "CreationTime": e.started}
        return self._request("DescribePipelineExecution", params, effect)


class FakeScheduler(_Service):
    service = "scheduler"

    def __init__(self, plane: ControlPlane):
        super().__init__(plane)
        self.schedules: dict[str, dict[str, Any]] = {}

    def create_schedule(self, **params: Any) -> dict[str, Any]:
        def effect() -> dict[str, Any]:
            if params.get("GroupName") != CONFIG.schedule_group:
                raise client_error("ResourceNotFoundException", "CreateSchedule")
            if params["Name"] in self.schedules:
                raise client_error("ConflictException", "CreateSchedule",
                                   f"Schedule {params['Name']} already exists.")
            match = re.fullmatch(r"at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)",
                                 params["ScheduleExpression"])
            assert match and params.get("ScheduleExpressionTimezone") == "UTC", params
            at = datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC)
            if at <= self.plane.now:  # as reported for AWS: a one-time time must be ahead
                raise client_error("ValidationException", "CreateSchedule",
                                   "The schedule time must be in the future")
            target = params["Target"]
            assert target["Arn"] == GATE_ARN and target["RoleArn"] == CONFIG.recheck_role_arn
            assert params.get("ActionAfterCompletion") == "DELETE"
            self.schedules[params["Name"]] = params
            self.plane.push(at, "fire", params["Name"])
            return {"ScheduleArn": f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule/"
                                   f"{CONFIG.schedule_group}/{params['Name']}"}
        return self._request("CreateSchedule", params, effect)

    def fire(self, name: str) -> dict[str, Any]:
        """Run it once and delete it (ActionAfterCompletion DELETE): the event it sends."""
        return json.loads(self.schedules.pop(name)["Target"]["Input"])


class FakeCloudWatch(_Service):
    service = "cloudwatch"

    def __init__(self, plane: ControlPlane):
        super().__init__(plane)
        self.states = {ALARM: "OK"}

    def describe_alarms(self, **params: Any) -> dict[str, Any]:
        def effect() -> dict[str, Any]:
            return {"MetricAlarms": [{"AlarmName": name, "StateValue": self.states[name]}
                                     for name in params.get("AlarmNames", [])
                                     if name in self.states]}
        return self._request("DescribeAlarms", params, effect)


OPERATIONS = [("dynamodb", "GetItem"), ("dynamodb", "PutItem"), ("dynamodb", "UpdateItem"),
              ("sagemaker", "ListPipelineExecutions"), ("sagemaker", "StartPipelineExecution"),
              ("scheduler", "CreateSchedule"), ("cloudwatch", "DescribeAlarms")]


# --------------------------------------------------------------------------------------
# The control plane: a clock, what is due when, Lambda's asynchronous invocations


@dataclass
class Invocation:
    event: dict[str, Any]
    failures: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None
    dead_lettered: bool = False


class ControlPlane:
    def __init__(self) -> None:
        self.now = EPOCH
        self.queue: list[tuple[datetime, int, str, Any]] = []
        self.sequence = itertools.count()
        self.faults: dict[tuple[str, str], list[str]] = {}
        self.outages: dict[tuple[str, str], datetime] = {}
        self.calls: list[str] = []
        self.invocations: list[Invocation] = []
        self.dead_letters: list[dict[str, Any]] = []
        self.unexpected: list[str] = []
        self.on_land: Callable[[Any], None] = lambda upload: None
        self.dynamodb, self.sagemaker = FakeDynamoDB(self), FakeSageMaker(self)
        self.scheduler, self.cloudwatch = FakeScheduler(self), FakeCloudWatch(self)
        self.clients = Clients(sagemaker=self.sagemaker, dynamodb=self.dynamodb,
                               scheduler=self.scheduler, cloudwatch=self.cloudwatch)

    def fault(self, service: str, operation: str) -> str | None:
        if self.now < self.outages.get((service, operation), EPOCH):
            return "before"
        pending = self.faults.get((service, operation))
        return pending.pop(0) if pending else None

    def push(self, at: datetime, kind: str, payload: Any) -> None:
        heapq.heappush(self.queue, (at, next(self.sequence), kind, payload))

    def advance(self, seconds: float) -> None:
        until = self.now + timedelta(seconds=seconds)
        while self.queue and self.queue[0][0] <= until:
            at, _, kind, payload = heapq.heappop(self.queue)
            self.now = max(self.now, at)
            if kind == "land":
                self.on_land(payload)
            elif kind == "deliver":
                self.invoke(Invocation(payload))
            elif kind == "retry":
                self.invoke(payload)
            elif kind == "fire":
                self.invoke(Invocation(self.scheduler.fire(payload)))
        self.now = until

    def invoke(self, invocation: Invocation) -> None:
        """One asynchronous invocation of the gate: a failure is retried (twice) by Lambda,
        then the event goes to the function's dead-letter queue."""
        if not invocation.failures:
            self.invocations.append(invocation)
        try:
            invocation.result = handle(invocation.event, self.clients, CONFIG, now=self.now)
            return
        except InjectedFault as error:
            invocation.failures.append(str(error))
        except ClientError as error:  # a service refusal the gate caused itself
            invocation.failures.append(str(error))
            self.unexpected.append(f"{self.now:%H:%M:%S} {invocation.event.get('source')}: "
                                   f"{error}")
        attempt = len(invocation.failures)
        if attempt <= len(LAMBDA_RETRY_DELAYS):
            self.push(self.now + timedelta(seconds=LAMBDA_RETRY_DELAYS[attempt - 1]), "retry",
                      invocation)
        else:
            invocation.dead_lettered = True
            self.dead_letters.append(invocation.event)


# --------------------------------------------------------------------------------------
# Events as AWS sends them


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def object_created(event_id: str, key: str, size: int, at: datetime) -> dict[str, Any]:
    return {"version": "0", "id": event_id, "detail-type": "Object Created", "source": "aws.s3",
            "account": ACCOUNT, "time": _iso(at), "region": "us-east-1",
            "resources": [f"arn:aws:s3:::{BUCKET}"],
            "detail": {"version": "0", "bucket": {"name": BUCKET},
                       "object": {"key": key, "size": size, "etag": "d41d8cd9",
                                  "sequencer": f"{int(at.timestamp()):016X}"},
                       "request-id": event_id[:16], "requester": ACCOUNT,
                       "reason": "PutObject"}}


def alarm_changed(event_id: str, state: str, previous: str, at: datetime) -> dict[str, Any]:
    return {"version": "0", "id": event_id, "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch", "account": ACCOUNT, "time": _iso(at),
            "region": "us-east-1",
            "resources": [f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{ALARM}"],
            "detail": {"alarmName": ALARM,
                       "state": {"value": state, "reason": "drift",
                                 "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")},
                       "previousState": {"value": previous, "reason": "",
                                         "timestamp": _iso(at)},
                       "configuration": {"metrics": []}}}


def scheduled(event_id: str, at: datetime) -> dict[str, Any]:
    return {"version": "0", "id": event_id, "detail-type": "Scheduled Event",
            "source": "aws.events", "account": ACCOUNT, "time": _iso(at),
            "region": "us-east-1",
            "resources": [f"arn:aws:events:us-east-1:{ACCOUNT}:rule/churn-retrain-schedule"],
            "detail": {}}


@dataclass
class Upload:
    burst: int
    prefix: str
    key: str
    lands: datetime
    marker: bool = False
    event_ids: list[str] = field(default_factory=list)


@dataclass
class Episode:
    enter: datetime
    exit: datetime | None = None
    event_ids: list[str] = field(default_factory=list)


deliveries = st.one_of(st.just(("once", 0)), st.tuples(st.sampled_from(["twice", "late"]),
                                                        st.integers(1, 3600)))


# --------------------------------------------------------------------------------------


class RetrainGateSequences(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.plane = ControlPlane()
        self.plane.on_land = self._landed
        self.ids = itertools.count()
        self.uploads: list[Upload] = []
        self.storm_prefixes: list[str] = []
        self.marker_prefixes: list[str] = []
        self.episodes: list[Episode] = []
        self.schedule_events: dict[str, datetime] = {}
        self.described: list[Execution] = []

    # What the world does -------------------------------------------------------------

    def _send(self, event: dict[str, Any], delivery: tuple[str, int]) -> None:
        """EventBridge delivers to the gate (an asynchronous invocation): once, twice (the
        second copy up to an hour later), or late (so after events sent after it)."""
        mode, delay = delivery
        now = self.plane.now
        self.plane.push(now + timedelta(seconds=delay if mode == "late" else 0), "deliver",
                        event)
        if mode == "twice":
            self.plane.push(now + timedelta(seconds=delay), "deliver", event)

    def _new_id(self, kind: str) -> str:
        return f"{kind}-{next(self.ids):08d}-0000-0000-0000-000000000000"

    def _landed(self, upload: Upload) -> None:
        event_id = self._new_id("s3")
        upload.event_ids.append(event_id)
        self._send(object_created(event_id, upload.key, 0 if upload.marker else 1024,
                                  upload.lands), upload.delivery)  # type: ignore[attr-defined]

    def _burst(self, prefix: str, offsets: list[int], delivery: tuple[str, int],
               marker: bool = False) -> None:
        burst = next(self.ids)
        for index, offset in enumerate(offsets):
            upload = Upload(burst, prefix, prefix if marker else f"{prefix}part-{burst}-{index}"
                            ".csv", self.plane.now + timedelta(seconds=offset), marker)
            upload.delivery = delivery  # type: ignore[attr-defined]
            self.uploads.append(upload)
            self.plane.push(upload.lands, "land", upload)

    @rule(delivery=deliveries)
    def alarm_enters_alarm(self, delivery: tuple[str, int]) -> None:
        if self.plane.cloudwatch.states[ALARM] == "ALARM":
            return
        self.plane.cloudwatch.states[ALARM] = "ALARM"
        episode = Episode(self.plane.now, event_ids=[self._new_id("alarm")])
        self.episodes.append(episode)
        self._send(alarm_changed(episode.event_ids[0], "ALARM", "OK", self.plane.now), delivery)

    @rule(delivery=deliveries)
    def alarm_returns_to_ok(self, delivery: tuple[str, int]) -> None:
        if self.plane.cloudwatch.states[ALARM] == "OK":
            return
        self.plane.cloudwatch.states[ALARM] = "OK"
        self.episodes[-1].exit = self.plane.now
        self._send(alarm_changed(self._new_id("alarm"), "OK", "ALARM", self.plane.now),
                   delivery)

    @rule(prefix=st.sampled_from(PREFIXES), files=st.integers(1, 6),
          spacing=st.integers(0, (SETTLE - 1) // 5), delivery=deliveries)
    def upload(self, prefix: str, files: int, spacing: int, delivery: tuple[str, int]) -> None:
        """The files of one upload, all landing within the settle period."""
        self._burst(prefix, [index * spacing for index in range(files)], delivery)

    @rule(spread=st.integers(0, SETTLE - 1), delivery=deliveries)
    def storm_of_uploads(self, spread: int, delivery: tuple[str, int]) -> None:
        """100 files of a fresh prefix within one settle period."""
        prefix = f"raw/storm-{next(self.ids)}/"
        self.storm_prefixes.append(prefix)
        self._burst(prefix, [index * spread // 99 for index in range(100)], delivery)

    @rule(fresh=st.booleans(), delivery=deliveries)
    def folder_marker(self, fresh: bool, delivery: tuple[str, int]) -> None:
        prefix = f"raw/folder-{next(self.ids)}/" if fresh else PREFIXES[0]
        if fresh:
            self.marker_prefixes.append(prefix)
        self._burst(prefix, [0], delivery, marker=True)

    # Not redelivered: a duplicate schedule event after another start re-claims without
    # starting (see test_a_redelivered_schedule_event_after_another_start_covers_nothing).
    @rule(delivery=st.one_of(st.just(("once", 0)), st.tuples(st.just("late"),
                                                             st.integers(1, 3600))))
    def schedule_fires(self, delivery: tuple[str, int]) -> None:
        event_id = self._new_id("schedule")
        self.schedule_events[event_id] = self.plane.now
        self._send(scheduled(event_id, self.plane.now), delivery)

    @rule(operation=st.sampled_from(OPERATIONS), when=st.sampled_from(["before", "after"]),
          count=st.integers(1, 3))
    def client_fails(self, operation: tuple[str, str], when: str, count: int) -> None:
        """The next calls of one API fail: throttled (before its effect) or a 5xx whose
        response is lost (after it)."""
        if when == "after" and operation[1] in ("GetItem", "ListPipelineExecutions",
                                                "DescribeAlarms"):
            when = "before"  # a read has no effect to lose
        self.plane.faults.setdefault(operation, []).extend([when] * count)

    @rule(operation=st.sampled_from(OPERATIONS), minutes=st.integers(1, 10))
    def api_outage(self, operation: tuple[str, str], minutes: int) -> None:
        """One API fails for a while: longer than 3 minutes exhausts Lambda's retries."""
        self.plane.outages[operation] = self.plane.now + timedelta(minutes=minutes)

    @rule(minutes=st.integers(1, 180), outcome=st.sampled_from(["Succeeded", "Failed"]))
    def next_execution_takes(self, minutes: int, outcome: str) -> None:
        self.plane.sagemaker.next_duration = timedelta(minutes=minutes)
        self.plane.sagemaker.next_outcome = outcome

    @rule(seconds=st.one_of(st.integers(1, 600), st.sampled_from(
        [SETTLE, COOLDOWN - 60, COOLDOWN, COOLDOWN + 90, 2 * COOLDOWN])))
    def time_passes(self, seconds: int) -> None:
        self.plane.advance(seconds)

    # Safety, after every step ---------------------------------------------------------

    def _executions(self) -> list[Execution]:
        """Every execution started, by start time (each described once, as an operator would)."""
        executions = self.plane.sagemaker.executions
        if len(self.described) != len(executions):
            for arn in list(executions)[len(self.described):]:
                described = self.plane.sagemaker.describe_pipeline_execution(
                    PipelineExecutionArn=arn)
                assert described["CreationTime"] == executions[arn].started
                self.described.append(executions[arn])
            self.described.sort(key=lambda e: e.started)
        return self.described

    @invariant()
    def the_gate_causes_no_service_error(self) -> None:
        assert not self.plane.unexpected, self.plane.unexpected

    @invariant()
    def no_two_executions_start_within_one_cooldown(self) -> None:
        executions = self._executions()
        for earlier, later in itertools.pairwise(executions):
            if later.source in COOLED:
                gap = later.started - earlier.started
                assert gap >= timedelta(seconds=COOLDOWN), (
                    f"{later.display_name} started {gap} after {earlier.display_name}")

    @invariant()
    def a_storm_makes_at_most_one_execution(self) -> None:
        inputs = [e.parameters.get("InputDataUri") for e in self._executions()]
        for prefix in self.storm_prefixes:
            assert inputs.count(f"s3://{BUCKET}/{prefix}") <= 1, prefix

    @invariant()
    def a_folder_marker_alone_starts_nothing(self) -> None:
        for execution in self._executions():
            assert execution.parameters.get("InputDataUri") not in {
                f"s3://{BUCKET}/{prefix}" for prefix in self.marker_prefixes}
            assert not execution.description.endswith("/"), execution.description

    @invariant()
    def every_execution_trains_on_a_complete_upload(self) -> None:
        """No upload of a burst lands after an execution that trains on its prefix started,
        while an earlier file of that burst was already there."""
        bursts: dict[int, list[Upload]] = {}
        for upload in self.uploads:
            if not upload.marker:
                bursts.setdefault(upload.burst, []).append(upload)
        for execution in self._executions():
            uri = execution.parameters.get("InputDataUri")
            for files in bursts.values():
                if uri != f"s3://{BUCKET}/{files[0].prefix}":
                    continue
                first, last = min(u.lands for u in files), max(u.lands for u in files)
                assert not first <= execution.started < last, (
                    f"{execution.display_name} trains on {uri} at {execution.started:%H:%M:%S}, "
                    f"while an upload to it lands from {first:%H:%M:%S} to {last:%H:%M:%S}")

    @invariant()
    def only_events_that_failed_every_attempt_are_dead_lettered(self) -> None:
        for invocation in self.plane.invocations:
            if invocation.dead_lettered:
                assert len(invocation.failures) == 1 + len(LAMBDA_RETRY_DELAYS)
                assert invocation.event in self.plane.dead_letters
            elif invocation.result is None:  # still failing: its retry is queued
                assert any(kind == "retry" and payload is invocation
                           for _, _, kind, payload in self.plane.queue)

    # Liveness, after a quiet day --------------------------------------------------------

    def _dead_lettered(self, predicate: Callable[[dict[str, Any]], bool]) -> bool:
        return any(predicate(event) for event in self.plane.dead_letters)

    def _label(self, executions: list[Execution]) -> None:
        """What this sequence covered, for --hypothesis-show-statistics."""
        reasons = [i.result["reason"] for i in self.plane.invocations if i.result]
        started, invoked = len(executions), len(reasons)
        event(f"executions started: {started if started < 3 else '3+'}")
        event(f"invocations: {'<10' if invoked < 10 else '<100' if invoked < 100 else '100+'}")
        for label, found in [
            ("a drift re-check retrained", any(e.source == DRIFT and e.started > ep.enter
                                               + timedelta(seconds=1) for e in executions
                                               for ep in self.episodes)),
            ("held while running", any("is Executing" in r for r in reasons)),
            ("held by the cooldown", any("within the cooldown" in r for r in reasons)),
            ("covered", any("covered" in r for r in reasons)),
            ("episode over", any("episode over" in r for r in reasons)),
            ("a retry finished a claimed start", any("a retry of the event" in r
                                                     for r in reasons)),
            ("an invocation failed and was retried", any(i.failures
                                                         for i in self.plane.invocations)),
            ("dead-lettered", bool(self.plane.dead_letters)),
            ("a failed execution", any(e.outcome == "Failed" for e in executions)),
        ]:
            if found:
                event(label)

    def teardown(self) -> None:
        self.plane.faults.clear()
        self.plane.outages.clear()
        self.plane.advance(86400)
        assert not self.plane.unexpected, self.plane.unexpected
        executions = self._executions()
        self._label(executions)

        def recheck(kind: str, **detail: Any) -> Callable[[dict[str, Any]], bool]:
            return lambda event: event["source"] == RECHECK_SOURCE and \
                event["detail"]["trigger"] == kind and \
                all(event["detail"].get(k) == v for k, v in detail.items())

        for episode in self.episodes:
            during = [e for e in executions if e.source == DRIFT and episode.enter <= e.started
                      and (episode.exit is None or e.started < episode.exit)]
            assert len(during) <= 1, f"drift episode from {episode.enter}: {len(during)} " \
                                     "retrains"
            if episode.exit is not None or self._dead_lettered(
                    lambda event, episode=episode: event["id"] in episode.event_ids
                    or (recheck(DRIFT, alarm_name=ALARM)(event)
                        and datetime.fromisoformat(event["time"]) == episode.enter)):
                continue
            assert any(e.started >= episode.enter for e in executions), (
                f"the drift episode from {episode.enter:%H:%M:%S}, still in ALARM, was never "
                "answered")
        for upload in self.uploads:
            if upload.marker or self._dead_lettered(
                    lambda event, upload=upload: event["id"] in upload.event_ids
                    or recheck(NEW_DATA, input_data_uri=f"s3://{BUCKET}/{upload.prefix}")(event)):
                continue
            # The gate's "covered" compares times only, so any later start answers an upload,
            # even one with another prefix: see the xfail below for what that loses.
            assert any(e.started >= upload.lands for e in executions), (
                f"{upload.key}, landed at {upload.lands:%H:%M:%S}, was never answered")
        for event_id, at in self.schedule_events.items():
            if self._dead_lettered(lambda event, event_id=event_id: event["id"] == event_id):
                continue
            assert any(e.started >= at for e in executions), f"the schedule at {at} was lost"


RetrainGateSequences.TestCase.settings = settings(
    derandomize=True, max_examples=80, stateful_step_count=40, deadline=None,
    database=None, print_blob=False)
test_retrain_gate_sequences = RetrainGateSequences.TestCase
test_retrain_gate_sequences.pytestmark = [pytest.mark.slow]  # a sweep: the full suite runs it


@pytest.mark.parametrize(("condition", "item", "holds"), [
    ("attribute_not_exists(#p) OR started_at <= :cutoff", {}, True),
    ("attribute_not_exists(#p) OR started_at <= :cutoff",
     {"pipeline": {"S": "p"}, "started_at": {"N": "10.000"}}, True),
    ("attribute_not_exists(#p) OR started_at <= :cutoff",
     {"pipeline": {"S": "p"}, "started_at": {"N": "10.500"}}, False),
    ("claimed_by = :me AND attribute_not_exists(execution_arn)",
     {"claimed_by": {"S": "me"}}, True),
    ("(claimed_by = :me AND attribute_not_exists(execution_arn))",
     {"claimed_by": {"S": "me"}, "execution_arn": {"S": "arn"}}, False),
    ("NOT claimed_by = :me", {}, True),
])
def test_the_fake_evaluates_conditions_as_dynamodb_does(condition, item, holds):
    values = {":cutoff": {"N": "10"}, ":me": {"S": "me"}}
    expressions = _Expressions("PutItem", {"#p": "pipeline"}, values)
    assert expressions.condition(condition)(item) is holds


def test_the_fake_refuses_what_dynamodb_refuses():
    plane = ControlPlane()
    with pytest.raises(ClientError, match="unused in expressions"):
        plane.dynamodb.put_item(TableName=CONFIG.state_table, Item={"pipeline": {"S": "p"}},
                                ConditionExpression="attribute_not_exists(#p)",
                                ExpressionAttributeNames={"#p": "pipeline", "#q": "x"})
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        plane.dynamodb.update_item(TableName=CONFIG.state_table, Key={"pipeline": {"S": "p"}},
                                   UpdateExpression="SET execution_arn = :arn",
                                   ConditionExpression="claimed_by = :me",
                                   ExpressionAttributeValues={":arn": {"S": "a"},
                                                              ":me": {"S": "me"}})
    with pytest.raises(Exception, match="Invalid type"):
        plane.sagemaker.list_pipeline_executions(PipelineName=PIPELINE, MaxResults="10")


@pytest.mark.xfail(strict=True, reason=(
    "finding: uploads to raw/a/ and raw/b/ within one settle window (both re-checked at 00:05) "
    "start one execution on raw/a/; raw/b/'s re-check is 'covered' by that start (decide() "
    "compares times only, the claim does not record the prefix it trained on) and is dropped, "
    "not held and not dead-lettered: raw/b/ is never trained on"))
def test_two_prefixes_uploaded_in_one_settle_window_both_train():
    plane = ControlPlane()
    plane.invoke(Invocation(object_created("s3-a", "raw/a/x.csv", 10, plane.now)))
    plane.invoke(Invocation(object_created("s3-b", "raw/b/y.csv", 10, plane.now)))
    plane.advance(2 * COOLDOWN)
    trained = {e.parameters.get("InputDataUri") for e in plane.sagemaker.executions.values()}
    assert {f"s3://{BUCKET}/raw/a/", f"s3://{BUCKET}/raw/b/"} <= trained


def test_a_redelivered_schedule_event_does_not_cover_later_changes():
    """Found by the sequences: the schedule (no cooldown) fired, its event was delivered again
    10 minutes later and claimed the start again (SageMaker deduped the start by its token), so
    the claim said a start at 00:10 that never happened, and a drift alarm from 00:05 was
    'covered' by it and never answered."""
    plane = ControlPlane()
    plane.invoke(Invocation(scheduled("schedule-1", plane.now)))
    plane.advance(300)
    plane.cloudwatch.states[ALARM] = "ALARM"
    plane.invoke(Invocation(alarm_changed("alarm-1", "ALARM", "OK", plane.now)))
    plane.advance(300)
    duplicate = Invocation(scheduled("schedule-1", EPOCH))
    plane.invoke(duplicate)
    assert duplicate.result and "covered: this event started" in duplicate.result["reason"]
    plane.advance(2 * COOLDOWN)
    sources = [e.source for e in plane.sagemaker.executions.values()]
    assert sources == ["schedule", DRIFT]


def test_a_retry_finishing_its_claim_keeps_the_claims_time():
    """Found by the sequences: a retry that finishes its own claimed start (its record failed)
    claimed again, moving the claim's time to the retry's, past uploads no execution saw."""
    plane = ControlPlane()
    plane.faults[("dynamodb", "UpdateItem")] = ["before", "before"]
    plane.invoke(Invocation(scheduled("schedule-1", plane.now)))
    plane.advance(10)
    plane.invoke(Invocation(object_created("s3-1", "raw/a/x.csv", 10, plane.now)))
    plane.advance(200)  # both Lambda retries ran, the second recorded the start
    (item,) = plane.dynamodb.items.values()
    assert Decimal(item["started_at"]["N"]) == Decimal(int(EPOCH.timestamp()))
    assert "execution_arn" in item
    plane.advance(2 * COOLDOWN)
    trained = [e.parameters.get("InputDataUri") for e in plane.sagemaker.executions.values()]
    assert trained == [None, f"s3://{BUCKET}/raw/a/"]


@pytest.mark.xfail(strict=True, reason=(
    "finding: schedule events A and B fire at 00:00 (both start), a storm lands at 00:00-00:01, "
    "A is redelivered at 00:05: the last claim is B's, so A (no cooldown) claims again at 00:05 "
    "and SageMaker dedupes its start by token; the storm's re-check (window 00:05) is then "
    "'covered' by a start that never happened and is dropped, not dead-lettered"))
def test_a_redelivered_schedule_event_after_another_start_covers_nothing():
    plane = ControlPlane()
    plane.invoke(Invocation(scheduled("schedule-a", plane.now)))
    plane.invoke(Invocation(scheduled("schedule-b", plane.now)))
    for index in range(100):
        plane.push(EPOCH + timedelta(seconds=index // 99), "deliver",
                   object_created(f"s3-{index}", f"raw/storm/part-{index}.csv", 10,
                                  EPOCH + timedelta(seconds=index // 99)))
    plane.push(EPOCH + timedelta(seconds=SETTLE), "deliver", scheduled("schedule-a", EPOCH))
    plane.advance(2 * COOLDOWN)
    assert any(e.started >= EPOCH + timedelta(seconds=1)
               for e in plane.sagemaker.executions.values())
