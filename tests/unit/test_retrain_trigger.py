"""RetrainTrigger under the recording mocks: rules per source, gate or direct targets, IAM."""

from __future__ import annotations

import json

import pulumi
import pytest

from mlops_components import ValidationError
from mlops_components.components.retrain_trigger import (
    GATE_SOURCE,
    RetrainSource,
    RetrainTrigger,
    RetrainTriggerArgs,
)
from mlops_components.plan import evaluate, mocked_runtime
from tests.conftest import only

PIPELINE_ARN = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/churn-training"
DRIFT_ALARM = "churn/churn-endpoint/drift-detected"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
FUNCTION = "aws:lambda/function:Function"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
#: ARNs as the recording mocks compute them (they are not inputs of the resources).
GATE_ARN = "arn:aws:lambda:us-east-1:123456789012:function:churn-retrain-gate"
DLQ_ARN_PREFIX = "arn:aws:sqs:us-east-1:123456789012:queue/churn-retrain-dlq-"


def args(**overrides) -> RetrainTriggerArgs:
    values = {"pipeline_name": "churn-training", "pipeline_arn": PIPELINE_ARN,
              "bucket_name": "churn-data", "drift_alarm_names": [DRIFT_ALARM],
              "schedule_expression": "rate(7 days)", "model_name": "churn"}
    return RetrainTriggerArgs(**{**values, **overrides})


def run(trigger_args: RetrainTriggerArgs):
    def program():
        trigger = RetrainTrigger("churn-retrain", trigger_args)
        pulumi.export("rules", trigger.rule_names)
        pulumi.export("gate", trigger.gate_function_name)
    return evaluate(program, project="mlops", stack="test")


@pytest.fixture(scope="module")
def default_plan():
    return run(args())


def by_name(plan, type_token):
    return {resource.name: resource.inputs for resource in plan.of_type(type_token)}


def test_one_rule_per_source(default_plan):
    rules = by_name(default_plan, RULE)
    assert set(rules) == {"churn-retrain-schedule", "churn-retrain-new-data",
                          "churn-retrain-drift"}
    assert rules["churn-retrain-schedule"]["scheduleExpression"] == "rate(7 days)"
    new_data = json.loads(rules["churn-retrain-new-data"]["eventPattern"])
    assert new_data["detail"] == {"bucket": {"name": ["churn-data"]},
                                  "object": {"key": [{"prefix": "raw/"}]}}
    drift = json.loads(rules["churn-retrain-drift"]["eventPattern"])
    assert drift["detail"] == {"alarmName": [DRIFT_ALARM], "state": {"value": ["ALARM"]}}
    assert set(default_plan.outputs["rules"]) == {"schedule", "new-data", "drift"}


def test_without_a_champion_new_data_and_drift_go_through_the_gate_the_schedule_straight_to_the_pipeline(  # noqa: E501
        default_plan):
    targets = by_name(default_plan, TARGET)
    assert targets["churn-retrain-new-data-target"]["arn"] == GATE_ARN
    assert targets["churn-retrain-drift-target"]["arn"] == GATE_ARN
    schedule = targets["churn-retrain-schedule-target"]
    assert schedule["arn"] == PIPELINE_ARN
    assert "sagemakerPipelineTarget" in schedule and schedule["roleArn"]


def test_every_target_retries_and_dead_letters(default_plan):
    targets = by_name(default_plan, TARGET)
    assert len(targets) == 3
    dlq = only(default_plan, "aws:sqs/queue:Queue").inputs
    for target in targets.values():
        assert target["retryPolicy"] == {"maximumEventAgeInSeconds": 3600,
                                         "maximumRetryAttempts": 3}
        assert target["deadLetterConfig"]["arn"].startswith(DLQ_ARN_PREFIX)
    assert dlq["sqsManagedSseEnabled"] is True
    gate = only(default_plan, FUNCTION).inputs
    assert gate["deadLetterConfig"]["targetArn"].startswith(DLQ_ARN_PREFIX)


def test_the_gate_reserves_no_concurrency_and_claims_starts_in_its_table(default_plan):
    gate = only(default_plan, FUNCTION).inputs
    assert "reservedConcurrentExecutions" not in gate
    table = only(default_plan, "aws:dynamodb/table:Table").inputs
    assert (table["hashKey"], table["billingMode"]) == ("pipeline", "PAY_PER_REQUEST")
    assert table["serverSideEncryption"] == {"enabled": True}
    variables = gate["environment"]["variables"]
    assert variables["STATE_TABLE"] and variables["RECHECK_ROLE_ARN"]
    assert variables["SCHEDULE_GROUP"] == "churn-retrain-gate"
    assert variables["DEAD_LETTER_ARN"].startswith(DLQ_ARN_PREFIX)


def test_the_gate_is_configured(default_plan):
    gate = only(default_plan, FUNCTION).inputs
    assert gate["runtime"] == "python3.12"
    assert gate["handler"] == "retrain_gate.handler"
    assert gate["code"]["archive"]["retrain_gate.py"]["asset"]["text"] == \
        GATE_SOURCE.read_text()
    variables = gate["environment"]["variables"]
    assert {k: variables[k] for k in ("PIPELINE_NAME", "PURPOSE", "COOLDOWN_SECONDS",
                                      "COOLDOWN_SOURCES", "SETTLE_SECONDS",
                                      "INPUT_DATA_PARAMETER")} == {
        "PIPELINE_NAME": "churn-training", "PURPOSE": "Retrain", "COOLDOWN_SECONDS": "3600",
        "COOLDOWN_SOURCES": "drift,new-data", "SETTLE_SECONDS": "300",
        "INPUT_DATA_PARAMETER": "InputDataUri"}
    permissions = by_name(default_plan, "aws:lambda/permission:Permission")
    assert {p["principal"] for p in permissions.values()} == {"events.amazonaws.com"}
    assert len(permissions) == 2


def test_roles_may_start_only_this_pipeline(default_plan):
    policies = {name: json.loads(inputs["policy"])
                for name, inputs in by_name(default_plan, ROLE_POLICY).items()}
    assert policies["churn-retrain-start-policy"]["Statement"] == [{
        "Action": ["sagemaker:StartPipelineExecution"], "Effect": "Allow",
        "Resource": [PIPELINE_ARN], "Sid": "StartThisPipelineOnly"}]
    gate = {s["Sid"]: s for s in policies["churn-retrain-gate-policy"]["Statement"]}
    assert gate["ListAndStartThisPipeline"]["Resource"] == [PIPELINE_ARN]
    assert gate["ListAndStartThisPipeline"]["Action"] == [
        "sagemaker:ListPipelineExecutions", "sagemaker:StartPipelineExecution"]
    assert "FindApprovedPackages" not in gate


def test_the_champion_parameter_lets_the_gate_read_approved_packages():
    plan = run(args(model_package_group_name="churn", champion_parameter="ChampionModelUri"))
    variables = only(plan, FUNCTION).inputs["environment"]["variables"]
    assert (variables["CHAMPION_PARAMETER"], variables["MODEL_PACKAGE_GROUP"]) == \
        ("ChampionModelUri", "churn")
    gate = {s["Sid"]: s for s in json.loads(by_name(plan, ROLE_POLICY)[
        "churn-retrain-gate-policy"]["policy"])["Statement"]}
    assert gate["ReadApprovedPackage"]["Resource"] == [
        "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/*"]


def test_no_cooldown_sends_every_source_to_the_pipeline():
    plan = run(args(cooldown_seconds=0))
    assert plan.of_type(FUNCTION) == []
    assert {t["arn"] for t in by_name(plan, TARGET).values()} == {PIPELINE_ARN}
    assert plan.outputs["gate"] is None


def test_the_schedule_may_use_the_gate_too():
    plan = run(args(cooldown_sources=[RetrainSource.SCHEDULE], bucket_name=None,
                    drift_alarm_names=[]))
    (target,) = by_name(plan, TARGET).values()
    assert target["arn"] == GATE_ARN
    assert {r.name for r in plan.of_type("aws:iam/role:Role")} == {
        "churn-retrain-gate-role", "churn-retrain-recheck-role"}
    variables = only(plan, FUNCTION).inputs["environment"]["variables"]
    assert (variables["COOLDOWN_SOURCES"], variables["SETTLE_SECONDS"]) == ("schedule", "0")


def test_with_a_champion_the_schedule_goes_through_the_gate_without_its_cooldown():
    """Only the gate can look the champion up: a direct pipeline target would retrain weekly
    with no comparison against the deployed model."""
    plan = run(args(model_package_group_name="churn", champion_parameter="ChampionModelUri"))
    assert {t["arn"] for t in by_name(plan, TARGET).values()} == {GATE_ARN}
    variables = only(plan, FUNCTION).inputs["environment"]["variables"]
    assert variables["COOLDOWN_SOURCES"] == "drift,new-data"
    assert variables["CHAMPION_PARAMETER"] == "ChampionModelUri"


def test_with_a_champion_and_no_cooldown_every_source_still_gets_the_champion():
    plan = run(args(cooldown_seconds=0, model_package_group_name="churn",
                    champion_parameter="ChampionModelUri"))
    assert {t["arn"] for t in by_name(plan, TARGET).values()} == {GATE_ARN}
    variables = only(plan, FUNCTION).inputs["environment"]["variables"]
    assert variables["COOLDOWN_SOURCES"] == ""


def test_only_the_sources_asked_for_get_rules():
    plan = run(args(schedule_expression=None, bucket_name=None))
    assert list(by_name(plan, RULE)) == ["churn-retrain-drift"]


@pytest.mark.parametrize(("overrides", "message"), [
    ({"schedule_expression": "every day"}, "schedule_expression must be rate"),
    ({"schedule_expression": "cron(0 3 * * * *)"}, "'?' in exactly one of"),
    ({"cooldown_seconds": -1}, "cooldown_seconds must be an integer between 0 and"),
    ({"cooldown_sources": ["sometimes"]}, r"cooldown_sources\[0\] must be one of"),
    ({"raw_prefix": "raw"}, "raw_prefix must be a key prefix ending in '/'"),
    ({"retry_attempts": 200}, "retry_attempts must be between 0 and 185"),
    ({"settle_seconds": 7200}, "settle_seconds must be between 0 and 3600"),
    ({"max_event_age_seconds": 10}, "max_event_age_seconds must be between 60 and 86400"),
    ({"pipeline_arn": None}, "pipeline_arn is required"),
    ({"champion_parameter": "ChampionModelUri"}, "champion_parameter needs"),
    ({"schedule_expression": None, "bucket_name": None, "drift_alarm_names": []},
     "sources must include at least one of"),
])
def test_bad_arguments_fail_at_construction(overrides, message):
    with mocked_runtime("mlops", "test") as monitor:
        with pytest.raises(ValidationError, match=message):
            RetrainTrigger("churn-retrain", args(**overrides))
    assert monitor.recorded == []
