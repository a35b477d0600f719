"""BatchInference under the recording mocks: the pipeline, its triggers, alarms and roles."""

from __future__ import annotations

import json

import pulumi
import pytest

from mlops_components import BatchInference, BatchInferenceArgs, ValidationError
from mlops_components.plan import evaluate
from mlops_components.sagemaker.batch_spec import BatchStep
from mlops_components.sagemaker.definition import steps_by_name
from tests.conftest import only
from tests.pipeline.definition_checks import (
    check_step_arguments,
    reference_problems,
    schema_problems,
)
from training.contract import BATCH_METRIC_NAMESPACE, ROWS_REFUSED_METRIC

BUCKET = "churn-data"
CODE = f"s3://{BUCKET}/code/churn-training/0123456789abcdef"
PIPELINE = "aws:sagemaker/pipeline:Pipeline"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
FUNCTION = "aws:lambda/function:Function"


def run(**overrides):
    args = BatchInferenceArgs(**{"bucket_name": BUCKET, "model_package_group_name": "churn",
                                 "code_uri": CODE, "model_name": "churn", **overrides})

    def program():
        batch = BatchInference("churn-batch", args)
        pulumi.export("alarms", batch.alarm_names)
        pulumi.export("rules", batch.rule_names)
    return evaluate(program, project="mlops", stack="test")


@pytest.fixture(scope="module")
def plan():
    return run(schedule_expression="rate(1 day)", on_new_data=True)


def policies(plan) -> dict[str, dict]:
    return {r.name: json.loads(r.inputs["policy"]) for r in plan.of_type(ROLE_POLICY)}


def statements(plan, name: str) -> dict[str, dict]:
    return {s["Sid"]: s for s in policies(plan)[name]["Statement"]}


def test_the_pipeline_definition_is_valid(plan):
    pipeline = only(plan, PIPELINE).inputs
    definition = json.loads(pipeline["pipelineDefinition"])
    assert check_step_arguments(definition) == []
    assert reference_problems(definition) == []
    assert schema_problems(definition) == []
    resolve = steps_by_name(definition)[BatchStep.RESOLVE_MODEL]
    (function,) = [f for f in plan.of_type(FUNCTION) if f.name == "churn-batch-run"]
    assert resolve["FunctionArn"].endswith(f":function:{function.inputs['name']}")
    assert resolve["Arguments"]["model_package_group"] == "churn"


def test_the_pipeline_role_reads_only_input_models_and_code_and_writes_only_output(plan):
    role = statements(plan, "churn-batch-role-policy")
    assert sorted(role["ReadCodeInputAndModels"]["Resource"]) == sorted([
        f"arn:aws:s3:::{BUCKET}/batch/input/*", f"arn:aws:s3:::{BUCKET}/models/*",
        f"arn:aws:s3:::{BUCKET}/code/churn-training/0123456789abcdef*"])
    assert role["WriteBatchOutput"]["Resource"] == [f"arn:aws:s3:::{BUCKET}/batch/output/*"]
    writes = [s for s in role.values() if any(a.startswith("s3:Put") for a in s["Action"])]
    assert writes == [role["WriteBatchOutput"]]
    assert role["RunLambdaSteps"]["Action"] == ["lambda:InvokeFunction"]


def test_the_function_publishes_only_in_the_batch_namespace(plan):
    function = statements(plan, "churn-batch-run-policy")
    assert function["PublishBatchMetrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": [BATCH_METRIC_NAMESPACE, "MLOps/Drift"]}}
    assert function["ReadBatchReports"]["Resource"] == [f"arn:aws:s3:::{BUCKET}/batch/output/*"]
    assert function["ListBatchInputAndOutput"]["Condition"]["StringLike"]["s3:prefix"] == [
        "batch/input/*", "batch/output/*"]


def test_triggers_reuse_the_retrain_gate_with_retries_and_a_dead_letter_queue(plan):
    rules = {r.name: r.inputs for r in plan.of_type(RULE)}
    new_data = json.loads(rules["churn-batch-trig-new-data"]["eventPattern"])
    assert new_data["detail"]["object"]["key"] == [{"prefix": "batch/input/"}]
    assert rules["churn-batch-trig-schedule"]["scheduleExpression"] == "rate(1 day)"
    gates = [f for f in plan.of_type(FUNCTION) if f.name.endswith("-gate")]
    (gate,) = [g.inputs["environment"]["variables"] for g in gates]
    assert gate["COOLDOWN_SOURCES"] == "new-data" and int(gate["SETTLE_SECONDS"]) > 0
    assert gate["INPUT_DATA_PARAMETER"] == "InputDataUri"
    assert gate["PURPOSE"] == "Score a batch"  # its executions say so, not "Retrain"
    for target in plan.of_type(TARGET):
        if target.name.startswith("churn-batch-trig-"):
            assert target.inputs["retryPolicy"]["maximumRetryAttempts"] == 3
            assert target.inputs["deadLetterConfig"]["arn"]


def test_alarms_on_a_failed_run_and_on_refused_rows(plan):
    alarms = {a.inputs["name"]: a.inputs for a in plan.of_type(ALARM)}
    assert set(alarms) == {"churn/batch/run-failed", "churn/batch/rows-refused",
                           "churn/batch/drift-detected"}
    drift = alarms["churn/batch/drift-detected"]
    assert drift["dimensions"] == {"Endpoint": "churn-batch", "Model": "churn"}
    refused = alarms["churn/batch/rows-refused"]
    assert (refused["namespace"], refused["metricName"]) == (BATCH_METRIC_NAMESPACE,
                                                             ROWS_REFUSED_METRIC)
    rules = {r.name: r.inputs for r in plan.of_type(RULE)}
    failures = json.loads(rules["churn-batch-failures"]["eventPattern"])
    assert failures["detail"]["currentPipelineExecutionStatus"] == ["Failed"]


def test_without_triggers_only_the_pipeline_runs_on_demand():
    plan = run()
    assert [r.name for r in plan.of_type(RULE)] == ["churn-batch-failures"]
    assert [f.name for f in plan.of_type(FUNCTION)] == ["churn-batch-run"]


@pytest.mark.parametrize(("overrides", "message"), [
    ({"instance_count": 0}, "instance_count"),
    ({"output_format": "parquet"}, "output_format"),
    ({"max_refused_share": -0.1}, "max_refused_share"),
    ({"schedule_expression": "every day"}, "schedule_expression"),
    ({"code_uri": None}, "code_uri"),
    ({"subnet_ids": ["subnet-0123456789abcdef0"]}, "security_group_ids"),
])
def test_bad_arguments_fail_at_construction(overrides, message):
    with pytest.raises(ValidationError, match=message):
        run(**overrides)


def test_the_policy_pack_passes_a_stack_with_batch_inference():
    """Both example stacks with batch on (they leave it off): no violation, the batch
    Lambda's dead-letter queue included."""
    from mlops_components.plan import plan_stack
    from mlops_components.policy.offline import evaluate_policies
    from tests.conftest import REPO_ROOT
    from tests.unit.test_name_limits import BATCH_ON

    for stack in ("dev", "prod"):
        assert evaluate_policies(plan_stack(REPO_ROOT, stack, overrides=BATCH_ON)) == []


def test_the_stack_retrains_on_a_drifted_batch_too():
    from mlops_components.plan import plan_stack
    from tests.conftest import REPO_ROOT
    from tests.unit.test_name_limits import BATCH_ON

    plan = plan_stack(REPO_ROOT, "dev", overrides=BATCH_ON)
    (rule,) = [r for r in plan.of_type(RULE) if r.name == "diagnosis-dev-retrain-drift"]
    alarms = json.loads(rule.inputs["eventPattern"])["detail"]["alarmName"]
    assert "diagnosis-dev/batch/drift-detected" in alarms
    assert any(alarm.endswith("/drift-detected") and "/batch/" not in alarm for alarm in alarms)


def test_failed_runs_notify_the_alarm_actions_with_retries_and_dead_letters():
    """The notification targets deliver like every other target (the pack's rule)."""
    from mlops_components.policy.offline import evaluate_policies

    topic = "arn:aws:sns:us-east-1:123456789012:ml-alerts"
    plan = run(alarm_actions=[topic])
    (notify,) = [t for t in plan.of_type(TARGET) if t.name == "churn-batch-failures-notify-0"]
    assert notify.inputs["arn"] == topic
    assert notify.inputs["retryPolicy"]["maximumRetryAttempts"] == 3
    assert "churn-batch-failures-dlq" in notify.inputs["deadLetterConfig"]["arn"]
    assert [violation.line() for violation in evaluate_policies(plan)
            if violation.policy == "eventbridge-target-retry-and-dlq"] == []
