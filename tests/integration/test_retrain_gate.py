"""The retraining gate against moto (HTTP server on 127.0.0.1): SageMaker pipelines, the
DynamoDB state table, EventBridge Scheduler re-checks and CloudWatch alarms.

moto starts executions as Succeeded at once and keeps them in this process, so "running" is
set on moto's own record of an execution; the clock is the gate's `now` argument, so "after
the cooldown" needs no sleeping. Everything the gate sends goes through botocore's request
validation (the real service model) on the way to moto.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.models import sagemaker_backends

from mlops_components.functions import retrain_gate
from mlops_components.functions.retrain_gate import Clients, Config, ConfigError, handle
from mlops_components.sagemaker.spec import PipelineParameter
from tests.integration.conftest import REGION

ROLE = "arn:aws:iam::123456789012:role/pipeline"
RECHECK_ROLE = "arn:aws:iam::123456789012:role/recheck"
GATE_ARN = "arn:aws:lambda:us-east-1:123456789012:function:churn-retrain-gate"
COOLDOWN = 3600
BUCKET = "churn-data"
ALARM = "churn/churn-endpoint/drift-detected"


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_created(key: str, bucket: str = BUCKET, size: int = 10,
                   at: datetime | None = None) -> dict:
    return {"version": "0", "id": str(uuid.uuid4()), "source": "aws.s3",
            "detail-type": "Object Created", "region": REGION,
            "time": iso(at or datetime.now(UTC)),
            "detail": {"bucket": {"name": bucket}, "object": {"key": key, "size": size}}}


def alarm(state: str = "ALARM", name: str = ALARM, at: datetime | None = None) -> dict:
    return {"version": "0", "id": str(uuid.uuid4()), "source": "aws.cloudwatch",
            "detail-type": "CloudWatch Alarm State Change", "region": REGION,
            "time": iso(at or datetime.now(UTC)),
            "detail": {"alarmName": name, "state": {"value": state},
                       "previousState": {"value": "OK"}}}


def scheduled(at: datetime | None = None) -> dict:
    return {"version": "0", "id": str(uuid.uuid4()), "source": "aws.events",
            "detail-type": "Scheduled Event", "time": iso(at or datetime.now(UTC)),
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/churn-retrain-schedule"],
            "detail": {}}


@pytest.fixture
def sm(aws_client):
    return aws_client("sagemaker")


@pytest.fixture
def pipeline(sm) -> str:
    name = f"churn-training-{uuid.uuid4().hex[:8]}"
    sm.create_pipeline(PipelineName=name, RoleArn=ROLE, PipelineDefinition=json.dumps(
        {"Version": "2020-12-01", "Parameters": [], "Steps": []}))
    return name


@pytest.fixture
def clients(aws_client, sm) -> Clients:
    return Clients(sagemaker=sm, dynamodb=aws_client("dynamodb"),
                   scheduler=aws_client("scheduler"), cloudwatch=aws_client("cloudwatch"))


@pytest.fixture
def state(clients) -> tuple[str, str]:
    """A fresh state table and schedule group, as RetrainTrigger creates them."""
    table, group = f"gate-state-{uuid.uuid4().hex[:8]}", f"gate-{uuid.uuid4().hex[:8]}"
    clients.dynamodb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pipeline", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pipeline", "AttributeType": "S"}])
    clients.scheduler.create_schedule_group(Name=group)
    return table, group


@pytest.fixture
def gate(pipeline, state):
    table, group = state

    def config(**overrides) -> Config:
        values = {"pipeline_name": pipeline, "cooldown_seconds": COOLDOWN,
                  "input_data_parameter": PipelineParameter.INPUT_DATA_URI.value,
                  "state_table": table, "schedule_group": group,
                  "recheck_role_arn": RECHECK_ROLE, "function_arn": GATE_ARN}
        return Config(**{**values, **overrides})

    return config


def executions(sm, pipeline: str) -> list[dict]:
    return sm.list_pipeline_executions(PipelineName=pipeline)["PipelineExecutionSummaries"]


def rechecks(clients, group: str) -> list[dict]:
    """The pending re-checks: each schedule's time and the event it will deliver."""
    found = []
    for summary in clients.scheduler.list_schedules(GroupName=group)["Schedules"]:
        schedule = clients.scheduler.get_schedule(Name=summary["Name"], GroupName=group)
        found.append({"at": schedule["ScheduleExpression"],
                      "event": json.loads(schedule["Target"]["Input"]),
                      "target": schedule["Target"]["Arn"]})
    return found


def set_status(pipeline: str, status: str) -> None:
    """moto's record of every execution of `pipeline` (the server runs in this process)."""
    backend = sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION]
    for execution in backend.pipelines[pipeline].pipeline_executions.values():
        execution.pipeline_execution_status = status


def drift_alarm(clients, state_value: str = "ALARM") -> None:
    clients.cloudwatch.put_metric_alarm(
        AlarmName=ALARM, Namespace="mlops/drift", MetricName="DriftedFeatures",
        Statistic="Maximum", Period=3600, EvaluationPeriods=1, Threshold=0,
        ComparisonOperator="GreaterThanThreshold")
    clients.cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue=state_value,
                                       StateReason="test")


def test_a_storm_of_uploads_starts_one_execution_with_the_new_prefix(sm, clients, gate,
                                                                     pipeline):
    config = gate()
    results = [handle(object_created(f"raw/2026-11/part-{i}.csv"), clients, config)
               for i in range(100)]
    assert [r["started"] for r in results].count(True) == 1
    assert results[0]["started"]
    assert all(r["reason"].startswith("skipped") for r in results[1:])
    (started,) = executions(sm, pipeline)
    arn = started["PipelineExecutionArn"]
    parameters = sm.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=arn)["PipelineParameters"]
    assert parameters == [{"Name": "InputDataUri", "Value": f"s3://{BUCKET}/raw/2026-11/"}]
    assert started["PipelineExecutionDisplayName"].startswith("new-data-")


def test_concurrent_invocations_start_one_execution_without_reserved_concurrency(
        sm, clients, gate, pipeline):
    """16 threads, 100 events at once against the moto server: the state table's conditional
    write lets exactly one claim the start (moto honours ConditionExpression)."""
    config = gate()
    events = [object_created(f"raw/2026-11/part-{i}.csv") for i in range(50)] + \
        [alarm() for _ in range(50)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda event: handle(event, clients, config), events))
    assert sum(r["started"] for r in results) == 1
    assert len(executions(sm, pipeline)) == 1


def test_the_claim_is_a_conditional_write(clients, gate, state):
    """What serialises the gate: a second claim within the cooldown is refused by DynamoDB
    itself, and a retry of the claiming event may claim again (to finish its start)."""
    config, now = gate(), datetime.now(UTC)
    assert retrain_gate.claim(clients.dynamodb, config, now, "event-a", cooled=True)
    assert not retrain_gate.claim(clients.dynamodb, config, now, "event-b", cooled=True)
    assert retrain_gate.claim(clients.dynamodb, config, now, "event-a", cooled=True)
    later = now + timedelta(seconds=COOLDOWN)
    assert retrain_gate.claim(clients.dynamodb, config, later, "event-b", cooled=True)


def test_an_alarm_storm_starts_one_execution_without_input_data(clients, gate):
    results = [handle(alarm(), clients, gate()) for _ in range(20)]
    assert sum(r["started"] for r in results) == 1
    assert results[0]["parameters"] == []


def test_a_drift_episode_during_the_cooldown_retrains_once_after_it(sm, clients, gate, state,
                                                                    pipeline):
    """The alarm stays in ALARM, so EventBridge sends one event only: the gate re-checks it at
    the cooldown's end and retrains then, once."""
    config, now = gate(), datetime.now(UTC)
    assert handle(object_created("raw/2026-11/a.csv", at=now), clients, config, now=now)["started"]
    drift_alarm(clients)
    during = now + timedelta(minutes=10)
    held = handle(alarm(at=during), clients, config, now=during)
    assert not held["started"] and "re-check at" in held["reason"]
    duplicate = handle(alarm(at=during), clients, config, now=during)  # the same re-check
    assert not duplicate["started"]
    (recheck,) = rechecks(clients, state[1])
    assert recheck["target"] == GATE_ARN
    due = now + timedelta(seconds=COOLDOWN)
    # the cooldown's end in whole seconds, rounded up (the claim's time went through a number)
    at = datetime.strptime(recheck["at"], "at(%Y-%m-%dT%H:%M:%S)").replace(tzinfo=UTC)
    assert timedelta(0) <= at - due.replace(microsecond=0) <= timedelta(seconds=1), recheck
    after = due + timedelta(seconds=30)
    assert handle(recheck["event"], clients, config, now=after)["started"]
    assert not handle(recheck["event"], clients, config, now=after)["started"]  # redelivered
    assert len(executions(sm, pipeline)) == 2


def test_a_drift_episode_over_by_the_re_check_retrains_no_more(sm, clients, gate, state,
                                                               pipeline):
    config, now = gate(), datetime.now(UTC)
    assert handle(alarm(at=now), clients, config, now=now)["started"]
    drift_alarm(clients)
    during = now + timedelta(minutes=10)
    handle(alarm(at=during), clients, config, now=during)
    (recheck,) = rechecks(clients, state[1])
    drift_alarm(clients, "OK")
    result = handle(recheck["event"], clients, config, now=now + timedelta(hours=2))
    assert not result["started"] and "episode over" in result["reason"]
    assert len(executions(sm, pipeline)) == 1


def test_an_alarm_still_in_alarm_after_its_retrain_sends_nothing_and_gets_nothing(
        sm, clients, gate, state, pipeline):
    config, now = gate(), datetime.now(UTC)
    event = alarm(at=now)
    assert handle(event, clients, config, now=now)["started"]
    late = handle(event, clients, config, now=now + timedelta(minutes=5))  # redelivered
    assert not late["started"] and "covered" in late["reason"]
    assert rechecks(clients, state[1]) == []


def test_new_data_settles_before_training_on_the_complete_prefix(sm, clients, gate, state,
                                                                 pipeline):
    config, now = gate(settle_seconds=300), datetime.now(UTC)
    results = [handle(object_created(f"raw/2026-12/part-{i}.csv", at=now), clients, config,
                      now=now) for i in range(100)]
    assert not any(r["started"] for r in results)
    assert executions(sm, pipeline) == []
    (recheck,) = rechecks(clients, state[1])
    due = retrain_gate.settle_due(now, 300)
    assert due - now >= timedelta(seconds=300)
    result = handle(recheck["event"], clients, config, now=due)
    assert result["started"]
    assert result["parameters"] == [{"Name": "InputDataUri",
                                     "Value": f"s3://{BUCKET}/raw/2026-12/"}]


def test_new_data_delivered_after_its_window_settled_is_acted_on_at_once(sm, clients, gate,
                                                                       state, pipeline):
    """A late delivery or a Lambda retry can arrive after the re-check time its window would
    get: a one-time schedule cannot be set in the past, and the data has settled, so the gate
    acts now (found by the event-sequence simulation)."""
    config, landed = gate(settle_seconds=300), datetime(2026, 11, 27, 0, 1, tzinfo=UTC)
    late = retrain_gate.settle_due(landed, 300) + timedelta(seconds=1)
    result = handle(object_created("raw/2026-12/part-0.csv", at=landed), clients, config,
                    now=late)
    assert result["started"], result["reason"]
    assert result["parameters"] == [{"Name": "InputDataUri",
                                     "Value": f"s3://{BUCKET}/raw/2026-12/"}]
    assert rechecks(clients, state[1]) == []


@pytest.mark.parametrize("key", ["raw/2026-12/", "raw/"])
def test_a_folder_marker_starts_nothing_and_calls_nothing(key):
    class NoCalls:
        def __getattr__(self, name):
            raise AssertionError(f"unexpected call {name}")

    result = handle(object_created(key, size=0), Clients(NoCalls(), NoCalls(), NoCalls()),
                    Config("churn-training", COOLDOWN))
    assert not result["started"] and result["reason"].startswith("ignored")


def test_a_zero_byte_file_is_data_not_a_folder():
    assert retrain_gate.trigger_of(object_created("raw/_SUCCESS", size=0),
                                   datetime.now(UTC)) is not None


def test_nothing_starts_while_an_execution_is_running_even_after_the_cooldown(
        sm, clients, gate, pipeline):
    now = datetime.now(UTC)
    assert handle(alarm(at=now), clients, gate(), now=now)["started"]
    set_status(pipeline, "Executing")
    later = now + timedelta(seconds=COOLDOWN * 5)
    result = handle(object_created("raw/new.csv", at=later), clients, gate(), now=later)
    assert not result["started"]
    assert "is Executing" in result["reason"] and "re-check at" in result["reason"]
    set_status(pipeline, "Stopping")
    assert not handle(alarm(at=later), clients, gate(), now=later)["started"]
    assert len(executions(sm, pipeline)) == 1


def test_within_the_cooldown_nothing_starts_after_it_one_does(sm, clients, gate, pipeline):
    now = datetime.now(UTC)
    assert handle(alarm(at=now), clients, gate(), now=now)["started"]
    soon = now + timedelta(seconds=COOLDOWN - 60)
    within = handle(alarm(at=soon), clients, gate(), now=soon)
    assert not within["started"] and "within the cooldown of 3600 s" in within["reason"]
    after = now + timedelta(seconds=COOLDOWN + 60)
    assert handle(alarm(at=after), clients, gate(), now=after)["started"]
    assert len(executions(sm, pipeline)) == 2


def test_a_failed_execution_within_the_cooldown_still_blocks(clients, gate, pipeline):
    assert handle(alarm(), clients, gate())["started"]
    set_status(pipeline, "Failed")
    assert not handle(alarm(), clients, gate())["started"]


def group_with_an_approved_champion(sm) -> str:
    """A fresh model package group holding one Approved package (the champion)."""
    group = f"churn-{uuid.uuid4().hex[:6]}"
    sm.create_model_package_group(ModelPackageGroupName=group)
    sm.create_model_package(
        ModelPackageGroupName=group, ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1",
                            "ModelDataUrl": f"s3://{BUCKET}/models/v1.tar.gz"}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]})
    return group


def test_the_schedule_ignores_the_cooldown_but_not_the_champion(sm, clients, gate, pipeline):
    group = group_with_an_approved_champion(sm)
    config = gate(model_package_group=group, champion_parameter="ChampionModelUri")
    assert handle(alarm(), clients, config)["started"]
    weekly = handle(scheduled(), clients, config)
    assert weekly["started"]
    assert weekly["parameters"] == [{"Name": "ChampionModelUri",
                                     "Value": f"s3://{BUCKET}/models/v1.tar.gz"}]


def test_no_cooldown_starts_on_every_event_but_once_per_event(clients, gate, sm, pipeline):
    config = gate(cooldown_seconds=0)
    first, second = object_created("raw/a.csv"), object_created("raw/b.csv")
    assert handle(first, clients, config)["started"]
    assert handle(second, clients, config)["started"]
    assert len(executions(sm, pipeline)) == 2
    # A redelivered event sends the same token, which SageMaker dedupes (moto does not).
    assert retrain_gate.request_token(config, first["id"]) != \
        retrain_gate.request_token(config, second["id"])
    assert 32 <= len(retrain_gate.request_token(config, first["id"])) <= 128


def test_the_champion_is_the_latest_approved_package(sm, clients, gate):
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
    config = gate(model_package_group=group, champion_parameter="ChampionModelUri")
    result = handle(alarm(), clients, config)
    assert result["started"]
    assert {"Name": "ChampionModelUri", "Value": f"s3://{BUCKET}/models/v2.tar.gz"} \
        in result["parameters"]


def test_no_approved_package_passes_no_champion(sm, clients, gate):
    group = f"empty-{uuid.uuid4().hex[:6]}"
    sm.create_model_package_group(ModelPackageGroupName=group)
    config = gate(model_package_group=group, champion_parameter="ChampionModelUri")
    assert handle(alarm(), clients, config)["parameters"] == []


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

    result = handle(event, Clients(NoCalls(), NoCalls(), NoCalls(), NoCalls()),
                    Config("churn-training", COOLDOWN))
    assert not result["started"] and result["reason"].startswith("ignored")


def test_an_object_at_the_bucket_root_gives_the_bucket():
    trigger = retrain_gate.trigger_of(object_created("data.csv"), datetime.now(UTC))
    assert trigger.input_data_uri == f"s3://{BUCKET}/"


@pytest.mark.parametrize(("env", "message"), [
    ({}, "PIPELINE_NAME is required"),
    ({"PIPELINE_NAME": "p"}, "COOLDOWN_SECONDS must be an integer >= 0"),
    ({"PIPELINE_NAME": "p", "COOLDOWN_SECONDS": "-1"}, "COOLDOWN_SECONDS must be an integer"),
    ({"PIPELINE_NAME": "p", "COOLDOWN_SECONDS": "soon"}, "COOLDOWN_SECONDS must be an integer"),
    ({"PIPELINE_NAME": "p", "COOLDOWN_SECONDS": "0", "CHAMPION_PARAMETER": "ChampionModelUri"},
     "CHAMPION_PARAMETER needs MODEL_PACKAGE_GROUP"),
    ({"PIPELINE_NAME": "p", "COOLDOWN_SECONDS": "60"}, "STATE_TABLE is required with a "),
    ({"PIPELINE_NAME": "p", "COOLDOWN_SECONDS": "0", "COOLDOWN_SOURCES": "sometimes"},
     "COOLDOWN_SOURCES must name"),
])
def test_a_bad_environment_is_one_line(env, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_env(env)


def test_the_environment_is_read():
    gate = Config.from_env({"PIPELINE_NAME": "p", "COOLDOWN_SECONDS": "600",
                            "INPUT_DATA_PARAMETER": "InputDataUri", "STATE_TABLE": "t",
                            "SCHEDULE_GROUP": "g", "RECHECK_ROLE_ARN": RECHECK_ROLE})
    assert (gate.pipeline_name, gate.cooldown_seconds, gate.input_data_parameter) == \
        ("p", 600, "InputDataUri")


#: Actions the gate's role needs that no line of its code calls: Lambda writes its logs and
#: dead-letters failed events with the function's role, and CreateSchedule with a RoleArn
#: needs iam:PassRole on that role.
RUNTIME_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage",
                   "iam:PassRole"}


def recording(client, calls: set[str]):
    """The client, noting the IAM action of every request it sends."""
    prefix = client.meta.service_model.service_id.lower().replace(" ", "")
    client.meta.events.register(
        "before-call.*.*", lambda model, **_: calls.add(f"{prefix}:{model.name}"))
    return client


def test_the_gate_role_allows_exactly_the_actions_its_code_calls(aws_client, sm, clients, gate,
                                                                 state, pipeline):
    """Every path: settle, start with a champion, a drift event held, its re-check, the
    schedule. Compared both ways with the policy RetrainTrigger plans for the same sources."""
    from tests.unit.test_retrain_trigger import ROLE_POLICY, args, by_name, run

    calls: set[str] = set()
    traced = Clients(*(recording(aws_client(service), calls)
                       for service in ("sagemaker", "dynamodb", "scheduler", "cloudwatch")))
    group = group_with_an_approved_champion(sm)
    config = gate(settle_seconds=300, model_package_group=group,
                  champion_parameter="ChampionModelUri")
    now = datetime.now(UTC)
    handle(object_created("raw/x/a.csv", at=now), traced, config, now=now)
    (settled,) = rechecks(clients, state[1])
    assert handle(settled["event"], traced, config, now=now + timedelta(minutes=10))["started"]
    drift_alarm(clients)
    during = now + timedelta(minutes=20)
    assert not handle(alarm(at=during), traced, config, now=during)["started"]
    drift = next(r for r in rechecks(clients, state[1]) if r["event"]["detail"]["alarm_name"])
    assert handle(drift["event"], traced, config, now=now + timedelta(hours=2))["started"]
    assert handle(scheduled(), traced, config, now=now + timedelta(hours=2))["started"]

    plan = run(args(model_package_group_name="churn", champion_parameter="ChampionModelUri"))
    statements = json.loads(by_name(plan, ROLE_POLICY)["churn-retrain-gate-policy"]["policy"])
    planned = {action for s in statements["Statement"] for action in s["Action"]}
    assert planned - RUNTIME_ACTIONS == calls, (
        f"missing from the policy: {sorted(calls - planned)}; "
        f"allowed but never called: {sorted(planned - RUNTIME_ACTIONS - calls)}")


@pytest.mark.parametrize("purpose", [None, "Score a batch"])
def test_the_execution_says_what_it_is_for(sm, clients, gate, pipeline, purpose):
    """A retraining says Retrain, a batch run started by the same gate says so."""
    config = gate(**({"purpose": purpose} if purpose else {}))
    assert handle(object_created("raw/2026-11/part-0.csv"), clients, config)["started"]
    (started,) = executions(sm, pipeline)
    described = sm.describe_pipeline_execution(
        PipelineExecutionArn=started["PipelineExecutionArn"])
    assert described["PipelineExecutionDescription"] == \
        f"{purpose or 'Retrain'}: new object s3://{BUCKET}/raw/2026-11/part-0.csv"
    assert Config.from_env({"PIPELINE_NAME": "p", "COOLDOWN_SECONDS": "0",
                            **({"PURPOSE": purpose} if purpose else {})}).purpose == \
        (purpose or "Retrain")
