"""ModelMonitor under the recording mocks: both engines, alarms, schedule, least privilege."""

from __future__ import annotations

import fnmatch
import json

import pulumi
import pytest

from mlops_components import ValidationError
from mlops_components.components.model_monitor import (
    ModelMonitor,
    ModelMonitorArgs,
    MonitorEngine,
    health_period_seconds,
    model_monitor_schedule,
)
from mlops_components.plan import evaluate
from tests.conftest import only
from tests.pipeline.definition_checks import check_step_arguments, reference_problems
from training.contract import (
    DRIFT_DETECTED_METRIC,
    DRIFT_METRIC_NAMESPACE,
    RECORDS_ANALYZED_METRIC,
)

BUCKET = "churn-data"
CODE = f"s3://{BUCKET}/code/churn-training/0123456789abcdef"
ENDPOINT = "churn-endpoint"
PIPELINE = "aws:sagemaker/pipeline:Pipeline"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def run(**overrides):
    args = ModelMonitorArgs(**{"endpoint_name": ENDPOINT, "bucket_name": BUCKET,
                               "code_uri": CODE, "model_name": "churn", **overrides})

    def program():
        monitor = ModelMonitor("churn-monitor", args)
        pulumi.export("alarms", monitor.alarm_names)
        pulumi.export("drift_alarms", monitor.drift_alarm_names)
        pulumi.export("schedule", monitor.schedule_name)
    return evaluate(program, project="mlops", stack="test")


@pytest.fixture(scope="module")
def processing_plan():
    return run()


@pytest.fixture(scope="module")
def model_monitor_plan():
    return run(engine=MonitorEngine.MODEL_MONITOR, code_uri=None,
               schedule_expression="rate(1 hour)", features=[f"feature_{i}" for i in range(12)])


def policy(plan, name):
    (found,) = [r for r in plan.of_type(ROLE_POLICY) if r.name == name]
    return json.loads(found.inputs["policy"])


def test_processing_engine_is_a_one_step_pipeline_the_service_accepts(processing_plan):
    pipeline = only(processing_plan, PIPELINE)
    assert pipeline.inputs["pipelineName"] == "churn-monitor"
    definition = json.loads(pipeline.inputs["pipelineDefinition"])
    assert [step["Name"] for step in definition["Steps"]] == ["DriftCheck"]
    assert check_step_arguments(definition) == []
    assert reference_problems(definition) == []
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"]
              for i in definition["Steps"][0]["Arguments"]["ProcessingInputs"]}
    assert inputs == {"code": CODE}  # capture and baseline: read by the job (may be empty)
    arguments = definition["Steps"][0]["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--capture-uri") + 1] == \
        f"s3://{BUCKET}/capture/{ENDPOINT}/"


def test_a_schedule_rule_starts_the_monitor_pipeline_with_retry_and_dlq(processing_plan):
    (rule,) = [r for r in processing_plan.of_type(RULE) if r.name == "churn-monitor-schedule"]
    assert rule.inputs["scheduleExpression"] == "rate(1 day)"
    target = only(processing_plan, TARGET)
    pipeline_arn = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/churn-monitor"
    assert target.inputs["arn"] == pipeline_arn
    assert "sagemakerPipelineTarget" in target.inputs
    assert target.inputs["retryPolicy"]["maximumRetryAttempts"] == 3
    assert target.inputs["deadLetterConfig"]["arn"].startswith("arn:aws:sqs:")
    start = policy(processing_plan, "churn-monitor-start-policy")
    assert start["Statement"] == [{"Action": ["sagemaker:StartPipelineExecution"],
                                   "Effect": "Allow", "Resource": [pipeline_arn],
                                   "Sid": "StartThisPipelineOnly"}]


def test_alarms_on_drift_and_schema_named_after_model_and_endpoint(processing_plan):
    alarms = {a.inputs["name"]: a.inputs for a in processing_plan.of_type(ALARM)}
    drift = alarms["churn/churn-endpoint/drift-detected"]
    assert (drift["namespace"], drift["metricName"]) == (DRIFT_METRIC_NAMESPACE,
                                                         DRIFT_DETECTED_METRIC)
    assert drift["dimensions"] == {"Endpoint": ENDPOINT, "Model": "churn"}
    assert (drift["comparisonOperator"], drift["threshold"]) == (
        "GreaterThanOrEqualToThreshold", 1)
    assert "churn/churn-endpoint/schema-violations" in alarms
    assert processing_plan.outputs["drift_alarms"] == ["churn/churn-endpoint/drift-detected"]
    assert len(processing_plan.outputs["alarms"]) == 3
    # chosen: between runs there is no data and the last verdict stands...
    assert drift["treatMissingData"] == "ignore"


def test_a_monitor_that_analyses_nothing_for_two_periods_alarms(processing_plan):
    """...so a monitor that stopped (or sees no traffic, no capture, no baseline) must not
    look healthy: no RecordsAnalyzed datum counts as breaching."""
    alarms = {a.inputs["name"]: a.inputs for a in processing_plan.of_type(ALARM)}
    health = alarms["churn/churn-endpoint/no-records-analysed"]
    assert (health["namespace"], health["metricName"], health["statistic"]) == (
        DRIFT_METRIC_NAMESPACE, RECORDS_ANALYZED_METRIC, "Sum")
    assert (health["comparisonOperator"], health["threshold"]) == (
        "LessThanOrEqualToThreshold", 0)
    assert health["period"] == 86400  # the daily schedule
    assert health["evaluationPeriods"] == health["datapointsToAlarm"] == 2
    assert health["treatMissingData"] == "breaching"
    assert "churn/churn-endpoint/no-records-analysed" not in \
        processing_plan.outputs["drift_alarms"]  # not a retraining signal


@pytest.mark.parametrize(("schedule", "period"), [
    ("rate(1 hour)", 3600), ("rate(1 day)", 86400), ("rate(5 minutes)", 300),
    ("rate(7 days)", 302400), ("cron(0 3 * * ? *)", 86400)])
def test_the_health_period_is_the_schedules_within_cloudwatchs_limits(schedule, period):
    assert health_period_seconds(schedule) == period


def test_failed_monitoring_and_watched_pipeline_executions_reach_the_alarm_actions():
    topic = "arn:aws:sns:us-east-1:123456789012:ml-alerts"
    training = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/churn-training"
    plan = run(alarm_actions=[topic], watched_pipeline_arns=[training])
    (rule,) = [r for r in plan.of_type(RULE) if r.name == "churn-monitor-failures"]
    pattern = json.loads(rule.inputs["eventPattern"])
    assert pattern == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Building Pipeline Execution Status Change"],
        "detail": {"currentPipelineExecutionStatus": ["Failed"], "pipelineArn": [
            "arn:aws:sagemaker:us-east-1:123456789012:pipeline/churn-monitor", training]}}
    targets = [t for t in plan.of_type(TARGET) if t.name.startswith("churn-monitor-failures")]
    assert [t.inputs["arn"] for t in targets] == [topic]
    assert all(a.inputs["alarmActions"] == [topic] for a in plan.of_type(ALARM))
    # delivered like every other target: retries, then a queue only this rule writes to
    (dlq,) = [q for q in plan.of_type("aws:sqs/queue:Queue")
              if q.name == "churn-monitor-failures-dlq"]
    (queue_policy,) = [p for p in plan.of_type("aws:sqs/queuePolicy:QueuePolicy")
                       if p.name == "churn-monitor-failures-dlq-policy"]
    (grant,) = json.loads(queue_policy.inputs["policy"])["Statement"]
    assert grant["Resource"] == [targets[0].inputs["deadLetterConfig"]["arn"]]
    assert "churn-monitor-failures-dlq" in grant["Resource"][0]
    (source,) = grant["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert ":event-rule/churn-monitor-failures-" in source
    assert targets[0].inputs["retryPolicy"]["maximumRetryAttempts"] == 3


def test_without_alarm_actions_the_failure_rule_has_no_targets_and_no_queue():
    plan = run()
    assert not [t for t in plan.of_type(TARGET) if "failures" in t.name]
    assert not [q for q in plan.of_type("aws:sqs/queue:Queue") if "failures" in q.name]


def test_a_monitor_with_alarm_actions_passes_the_packs_delivery_rule():
    from mlops_components.policy.offline import evaluate_policies

    plan = run(alarm_actions=["arn:aws:sns:us-east-1:123456789012:ml-alerts"])
    assert [violation.line() for violation in evaluate_policies(plan)
            if violation.policy == "eventbridge-target-retry-and-dlq"] == []


def test_schema_alarm_can_be_turned_off():
    plan = run(alarm_on_schema_violations=False)
    assert sorted(a.inputs["name"] for a in plan.of_type(ALARM)) == [
        "churn/churn-endpoint/drift-detected", "churn/churn-endpoint/no-records-analysed"]


def test_the_job_role_reads_its_inputs_writes_its_reports_and_publishes_drift_only(
        processing_plan):
    statements = {s["Sid"]: s for s in policy(processing_plan, "churn-monitor-role-policy")[
        "Statement"]}
    assert statements["ReadInputs"]["Resource"] == [  # SageMaker's processing input
        f"arn:aws:s3:::{BUCKET}/code/churn-training/0123456789abcdef*"]
    assert statements["JobReadWindowAndBaseline"]["Resource"] == [  # the job's own reads
        f"arn:aws:s3:::{BUCKET}/capture/{ENDPOINT}/*", f"arn:aws:s3:::{BUCKET}/models/*"]
    assert statements["JobListWindowAndBaseline0"]["Condition"] == {
        "StringLike": {"s3:prefix": [f"capture/{ENDPOINT}/*", "models/*"]}}
    assert statements["WriteReports"]["Resource"] == [
        f"arn:aws:s3:::{BUCKET}/reports/churn-monitor/*"]
    assert statements["JobPublishDriftMetrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": DRIFT_METRIC_NAMESPACE}}
    for statement in statements.values():
        assert not any(action.endswith("*") for action in statement["Action"])
        if statement["Resource"] == ["*"]:
            assert statement["Action"] in (["cloudwatch:PutMetricData"],
                                           ["ecr:GetAuthorizationToken"])


@pytest.mark.parametrize(("baseline", "readable"), [
    (f"s3://{BUCKET}/models/churn/deployed-baseline/", True),
    (f"s3://{BUCKET}/models/churn-training/exec-1/baseline/", True),  # a registered package
    (f"s3://{BUCKET}/raw/statistics/", False),
    ("s3://someone-elses-bucket/models/churn/", False),
])
def test_a_manual_baseline_uri_is_readable_anywhere_under_the_buckets_models(
        processing_plan, baseline, readable):
    """A manual run may pass another BaselineUri (e.g. a registered package's baseline): the
    role reads what the parameter may name, models/* of the stack's bucket, and no more."""
    statements = {s["Sid"]: s for s in policy(processing_plan, "churn-monitor-role-policy")[
        "Statement"]}
    bucket, _, key = baseline.removeprefix("s3://").partition("/")
    obj = f"arn:aws:s3:::{bucket}/{key}statistics.json"
    reads = statements["JobReadWindowAndBaseline"]["Resource"]
    assert any(fnmatch.fnmatchcase(obj, pattern) for pattern in reads) is readable
    listing = statements["JobListWindowAndBaseline0"]
    assert (listing["Resource"] == [f"arn:aws:s3:::{bucket}"] and any(
        fnmatch.fnmatchcase(f"{key}statistics.json", prefix)
        for prefix in listing["Condition"]["StringLike"]["s3:prefix"])) is readable


def test_a_configured_baseline_outside_models_is_readable_too():
    plan = run(baseline_uri=f"s3://{BUCKET}/baselines/churn/")
    statements = {s["Sid"]: s for s in policy(plan, "churn-monitor-role-policy")["Statement"]}
    assert f"arn:aws:s3:::{BUCKET}/baselines/churn/*" in \
        statements["JobReadWindowAndBaseline"]["Resource"]


def test_a_given_baseline_replaces_the_deployed_one():
    plan = run(baseline_uri=f"s3://{BUCKET}/models/churn-training/exec-1/baseline/")
    definition = json.loads(only(plan, PIPELINE).inputs["pipelineDefinition"])
    assert definition["Parameters"][0]["DefaultValue"].endswith("exec-1/baseline/")


def test_model_monitor_engine_uses_a_job_definition_and_schedule(model_monitor_plan):
    assert model_monitor_plan.of_type(PIPELINE) == []
    job = only(model_monitor_plan,
               "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition").inputs
    baseline = job["dataQualityBaselineConfig"]
    assert baseline["statisticsResource"]["s3Uri"] == \
        f"s3://{BUCKET}/models/churn/deployed-baseline/statistics.json"
    assert baseline["constraintsResource"]["s3Uri"].endswith("/constraints.json")
    assert job["dataQualityJobInput"]["endpointInput"]["endpointName"] == ENDPOINT
    assert job["dataQualityAppSpecification"]["imageUri"].endswith(
        "/sagemaker-model-monitor-analyzer")
    schedule = only(model_monitor_plan,
                    "aws:sagemaker/monitoringSchedule:MonitoringSchedule").inputs
    assert schedule["monitoringScheduleConfig"]["scheduleConfig"]["scheduleExpression"] == \
        "cron(0 * ? * * *)"
    assert schedule["monitoringScheduleConfig"]["monitoringType"] == "DataQuality"


def test_model_monitor_alarms_take_the_largest_feature_drift(model_monitor_plan):
    alarms = model_monitor_plan.of_type(ALARM)
    assert len(alarms) == 2  # 12 features, 10 per alarm
    queries = alarms[0].inputs["metricQueries"]
    returned = [q for q in queries if q.get("returnData")]
    assert len(returned) == 1 and returned[0]["expression"].startswith("MAX([m0, m1")
    metric = queries[0]["metric"]
    assert metric["metricName"].startswith("feature_baseline_drift_feature_")
    assert metric["dimensions"] == {"Endpoint": ENDPOINT, "MonitoringSchedule": "churn-monitor"}
    assert sorted(model_monitor_plan.outputs["drift_alarms"]) == [
        "churn/churn-endpoint/feature-baseline-drift-0",
        "churn/churn-endpoint/feature-baseline-drift-1"]


@pytest.mark.parametrize(("expression", "cron"), [
    ("rate(1 hour)", "cron(0 * ? * * *)"), ("rate(60 minutes)", "cron(0 * ? * * *)"),
    ("rate(1 day)", "cron(0 0 ? * * *)"), ("cron(0 0 ? * * *)", "cron(0 0 ? * * *)"),
    ("rate(2 hours)", None), ("cron(0 3 * * ? *)", None)])
def test_model_monitor_takes_hourly_or_daily(expression, cron):
    assert model_monitor_schedule(expression) == cron


@pytest.mark.parametrize(("overrides", "message"), [
    ({"engine": "sagemaker"}, "engine must be one of 'processing', 'model-monitor'"),
    ({"schedule_expression": "daily"}, "schedule_expression must be rate"),
    ({"schedule_expression": "rate(1 days)"}, "schedule_expression must say '1 day'"),
    ({"window_hours": 0}, "window_hours must be an integer between 1 and 168"),
    ({"window_hours": 200}, "window_hours must be an integer between 1 and 168"),
    ({"thresholds": {"psi-threshold": -1}}, r"thresholds\['psi-threshold'\] must be a number"),
    ({"code_uri": None}, "code_uri is required by the processing engine"),
    ({"features": ["a"]}, "features are for the model-monitor engine only"),
    ({"engine": MonitorEngine.MODEL_MONITOR}, "features are required by the model-monitor"),
    ({"engine": MonitorEngine.MODEL_MONITOR, "features": ["a"],
      "schedule_expression": "rate(6 hours)"}, "must be hourly or daily for Model Monitor"),
    ({"endpoint_name": None}, "endpoint_name is required"),
    ({"engine": MonitorEngine.MODEL_MONITOR, "features": ["a"], "code_uri": None,
      "endpoint_kind": "serverless"},
     r"ModelMonitor 'churn-monitor': engine must be 'processing' for a serverless endpoint "
     r"\(Model Monitor does not support serverless endpoints; model-monitor is allowed with "
     r"endpoint kind 'instances' only\) \(got 'model-monitor'\)"),
    ({"subnet_ids": ["subnet-0123456789abcdef0"]}, "subnet_ids and security_group_ids"),
])
def test_bad_arguments_fail_at_construction(overrides, message):
    from mlops_components.plan import mocked_runtime

    args = {"endpoint_name": ENDPOINT, "bucket_name": BUCKET, "code_uri": CODE, **overrides}
    with mocked_runtime("mlops", "test") as monitor:
        with pytest.raises(ValidationError, match=message):
            ModelMonitor("churn-monitor", ModelMonitorArgs(**args))
    assert monitor.recorded == []
