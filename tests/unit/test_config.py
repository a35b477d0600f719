"""Stack config: typed parsing, one message per problem naming the key, Pulumi.yaml in sync."""

import json

import pytest
import yaml

from mlops_components.config import SETTINGS, parse_config
from mlops_components.enums import ProblemType
from mlops_components.validation import MAX_MODEL_NAME_LENGTH, ValidationError
from tests.conftest import REPO_ROOT


def test_defaults_when_nothing_is_set():
    config = parse_config({})
    assert config.model_name == "diagnosis"
    assert config.problem_type is ProblemType.CLASSIFICATION
    assert config.reader_account_ids == []
    assert config.force_destroy is False
    assert config.endpoint_kind == "serverless" and config.autoscaling_max_capacity == 0


def test_values_arrive_as_the_pulumi_cli_passes_them():
    config = parse_config({
        "mlops:problemType": "regression",
        "mlops:captureRetentionDays": "7",
        "mlops:forceDestroy": "true",
        "mlops:readerAccountIds": '["210987654321"]',
        "aws:region": "eu-west-1",  # other namespaces are not ours to judge
    })
    assert config.problem_type is ProblemType.REGRESSION
    assert config.capture_retention_days == 7
    assert config.force_destroy is True
    assert config.reader_account_ids == ["210987654321"]


@pytest.mark.parametrize(("key", "value", "message"), [
    ("mlops:colour", "blue", "config mlops:colour: unknown key"),
    ("mlops:captureRetentionDays", "thirty", "must be of type integer (got 'thirty')"),
    ("mlops:captureRetentionDays", "true", "must be of type integer (got 'true')"),
    ("mlops:forceDestroy", "yes", "must be of type boolean"),
    ("mlops:captureRetentionDays", "0", "must be between 1 and 3650 (got '0')"),
    ("mlops:readerAccountIds", '["12345"]',
     "item 0 ('12345') must be a 12-digit AWS account ID"),
    ("mlops:readerAccountIds", '"210987654321"', "must be of type array"),
    ("mlops:problemType", "ranking", "must be one of 'classification', 'regression'"),
    ("mlops:modelName", "my_model", "must be 1-32 letters, digits and hyphens"),
    ("mlops:modelName", "m" * 33, "must be 1-32 letters, digits and hyphens"),
    ("mlops:kmsKeyArn", "my-key", "must be empty or a KMS key ARN (not an alias)"),
    ("mlops:endpointKind", "gpu", "must be one of 'serverless', 'instances'"),
    ("mlops:serverlessMemoryMb", "1500", "must be 1024-6144 in steps of 1024"),
    ("mlops:serverlessMemoryMb", "8192", "must be 1024-6144 in steps of 1024"),
    ("mlops:serverlessMaxConcurrency", "201", "must be between 1 and 200"),
    ("mlops:captureSamplingPercent", "101", "must be between 0 and 100"),
    ("mlops:deploymentStrategy", "rolling", "must be one of 'all_at_once', 'canary', 'linear'"),
    ("mlops:canaryPercent", "51", "must be between 1 and 50"),
    ("mlops:endpointInstanceCount", "0", "must be between 1 and 1000"),
    ("mlops:autoscalingMaxCapacity", "-1", "must be between 0 and 1000"),
    ("mlops:kmsKeyArn", "arn:aws:kms:us-east-1:123456789012:alias/mine",
     "must be empty or a KMS key ARN (not an alias)"),
    ("mlops:monitorEngine", "clarify", "must be one of 'processing', 'model-monitor'"),
    ("mlops:monitorSchedule", "daily", "must be rate(<n> minute(s)|hour(s)|day(s)) or cron"),
    ("mlops:monitorSchedule", "rate(2 day)", "must say '2 days'"),
    ("mlops:monitorWindowHours", "0", "must be between 1 and 168"),
    ("mlops:monitorWindowHours", "169", "must be between 1 and 168"),
    ("mlops:retrainSchedule", "cron(0 3 * * * *)", "'?' in exactly one of day-of-month"),
    ("mlops:retrainCooldownSeconds", "-1", "must be between 0 and 604800"),
    ("mlops:monitorFeatures", '[" "]', "item 0 (' ') must not be empty"),
    ("mlops:classWeight", "auto", "must be one of balanced, none"),
    ("mlops:decisionThreshold", "1", "must be auto, none or a probability strictly between"),
    ("mlops:decisionThreshold", "best", "must be auto, none or a probability strictly between"),
])
def test_each_bad_value_is_named(key, value, message):
    with pytest.raises(ValidationError) as raised:
        parse_config({key: value})
    (problem,) = raised.value.problems
    assert problem.startswith(f"config {key}: ")
    assert message in problem


def test_all_problems_are_reported_together():
    with pytest.raises(ValidationError) as raised:
        parse_config({"mlops:colour": "blue", "mlops:reportRetentionDays": "-1",
                      "mlops:problemType": "ranking"})
    assert len(raised.value.problems) == 3


def test_pulumi_yaml_declares_exactly_the_sdk_settings():
    declared = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())["config"]
    assert list(declared) == [setting.key for setting in SETTINGS]
    for setting in SETTINGS:
        assert declared[setting.key]["type"] == setting.type, setting.key
        assert declared[setting.key]["default"] == setting.default, setting.key
        assert declared[setting.key]["description"] == setting.description, setting.key


def test_declared_defaults_pass_their_own_rules():
    declared = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())["config"]
    parse_config({f"mlops:{key}": spec["default"] if isinstance(spec["default"], str)
                  else json.dumps(spec["default"])
                  for key, spec in declared.items()})


@pytest.mark.parametrize(("path", "name"), [
    ("data/Churn_2024.csv", "churn-2024"),
    ("house prices.CSV", "house-prices"),
    ("shards/", "shards"),
    ("__.csv", "model"),
    ("x" * 80 + ".csv", "x" * MAX_MODEL_NAME_LENGTH),
])
def test_a_data_files_model_name_follows_the_model_name_rule(path, name):
    from mlops_components.config import SETTINGS, model_name_for_data

    derived = model_name_for_data(path)
    assert derived == name
    (model_name,) = [s for s in SETTINGS if s.key == "modelName"]
    assert model_name.check(derived) is None


def test_the_model_name_rule_rejects_what_derivation_avoids():
    from mlops_components.config import SETTINGS

    (model_name,) = [s for s in SETTINGS if s.key == "modelName"]
    assert model_name.check("Churn_2024") is not None


def test_leak_policy_is_a_config_key_that_reaches_preprocess():
    from mlops_components.plan import plan_stack
    from mlops_components.sagemaker.spec import StepName

    assert parse_config({}).leak_policy == "stop"
    assert parse_config({"mlops:leakPolicy": "drop"}).leak_policy == "drop"
    with pytest.raises(ValidationError, match="config mlops:leakPolicy: must be one of 'stop', "
                                              "'drop', 'proceed' \\(got 'ignore'\\)"):
        parse_config({"mlops:leakPolicy": "ignore"})

    plan = plan_stack(REPO_ROOT, "dev", {"leakPolicy": "proceed"})
    (pipeline,) = [r for r in plan.of_type("aws:sagemaker/pipeline:Pipeline",
                                           "mlops:index:TrainingPipeline")]
    steps = json.loads(pipeline.inputs["pipelineDefinition"])["Steps"]
    (preprocess,) = [step for step in steps if step["Name"] == StepName.PREPROCESS.value]
    arguments = preprocess["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--leak-policy") + 1] == "proceed"


def test_split_key_is_a_config_key_that_reaches_preprocess_only_when_set():
    from mlops_components.plan import plan_stack
    from mlops_components.sagemaker.spec import StepName

    assert parse_config({}).split_key == ""
    for overrides, expected in (({}, None), ({"splitKey": "customer_id"}, "customer_id")):
        plan = plan_stack(REPO_ROOT, "dev", overrides)
        (pipeline,) = [r for r in plan.of_type("aws:sagemaker/pipeline:Pipeline",
                                               "mlops:index:TrainingPipeline")]
        steps = json.loads(pipeline.inputs["pipelineDefinition"])["Steps"]
        (preprocess,) = [step for step in steps if step["Name"] == StepName.PREPROCESS.value]
        arguments = preprocess["Arguments"]["AppSpecification"]["ContainerArguments"]
        given = arguments[arguments.index("--split-key") + 1] if "--split-key" in arguments \
            else None
        assert given == expected


def test_split_time_is_a_config_key_that_reaches_profile_and_preprocess_only_when_set():
    from mlops_components.plan import plan_stack
    from mlops_components.sagemaker.spec import StepName

    assert parse_config({}).split_time == ""
    for overrides, expected in (({}, None), ({"splitTime": "order_date"}, "order_date"),
                                ({"splitTime": "none"}, "none")):
        plan = plan_stack(REPO_ROOT, "dev", overrides)
        (pipeline,) = [r for r in plan.of_type("aws:sagemaker/pipeline:Pipeline",
                                               "mlops:index:TrainingPipeline")]
        steps = json.loads(pipeline.inputs["pipelineDefinition"])["Steps"]
        for name in (StepName.PROFILE.value, StepName.PREPROCESS.value):
            (step,) = [step for step in steps if step["Name"] == name]
            arguments = step["Arguments"]["AppSpecification"]["ContainerArguments"]
            given = arguments[arguments.index("--split-time") + 1] \
                if "--split-time" in arguments else None
            assert given == expected, name


def test_split_key_and_split_time_together_are_refused():
    from mlops_components.plan import plan_stack

    with pytest.raises(ValidationError, match=r"split_time must be empty or 'none' when "
                                              r"split_key is set .*\(got 'order_date'\)"):
        plan_stack(REPO_ROOT, "dev", {"splitKey": "customer_id", "splitTime": "order_date"})


def test_target_transform_is_a_config_key_that_reaches_train():
    from mlops_components.plan import plan_stack
    from mlops_components.sagemaker.spec import StepName

    assert parse_config({}).target_transform == "none"
    with pytest.raises(ValidationError, match="config mlops:targetTransform: must be one of "
                                              "'none', 'quantile' \\(got 'log'\\)"):
        parse_config({"mlops:targetTransform": "log"})

    plan = plan_stack(REPO_ROOT, "dev", {"targetTransform": "quantile",
                                         "problemType": "regression"})
    (pipeline,) = plan.of_type("aws:sagemaker/pipeline:Pipeline", "mlops:index:TrainingPipeline")
    steps = json.loads(pipeline.inputs["pipelineDefinition"])["Steps"]
    (train,) = [step for step in steps if step["Name"] == StepName.TRAIN.value]
    assert train["Arguments"]["HyperParameters"]["target-transform"] == "quantile"


def test_target_transform_under_classification_is_refused_naming_the_field():
    from mlops_components.plan import plan_stack

    with pytest.raises(Exception, match=r"hyperparameters\['target-transform'\] applies to "
                                        r"regression only .*\(got 'quantile'\)"):
        plan_stack(REPO_ROOT, "dev", {"targetTransform": "quantile"})


def test_register_unchanged_data_is_a_config_key_that_reaches_the_parameter():
    from mlops_components.plan import plan_stack

    assert parse_config({}).register_unchanged_data is False
    plan = plan_stack(REPO_ROOT, "dev", {"registerUnchangedData": True})
    (pipeline,) = plan.of_type("aws:sagemaker/pipeline:Pipeline", "mlops:index:TrainingPipeline")
    parameters = {p["Name"]: p for p in
                  json.loads(pipeline.inputs["pipelineDefinition"])["Parameters"]}
    assert parameters["RegisterUnchangedData"]["DefaultValue"] is True


def test_class_balance_keys_reach_train_and_the_imbalance_alert():
    """classWeight and decisionThreshold become Train's hyperparameters and Profile's
    arguments (the imbalance alert names them); the gate metric reaches Train too, so a tuned
    threshold maximises what the gate compares."""
    from mlops_components.plan import plan_stack
    from mlops_components.sagemaker.spec import StepName

    assert (parse_config({}).class_weight, parse_config({}).decision_threshold) == (
        "balanced", "auto")
    plan = plan_stack(REPO_ROOT, "dev", {"classWeight": "none", "decisionThreshold": "0.3",
                                         "gateMetric": "f1"})
    (pipeline,) = [r for r in plan.of_type("aws:sagemaker/pipeline:Pipeline",
                                           "mlops:index:TrainingPipeline")]
    steps = {step["Name"]: step for step in
             json.loads(pipeline.inputs["pipelineDefinition"])["Steps"]}
    hyperparameters = steps[StepName.TRAIN.value]["Arguments"]["HyperParameters"]
    assert (hyperparameters["class-weight"], hyperparameters["decision-threshold"],
            hyperparameters["gate-metric"]) == ("none", "0.3", "f1")
    arguments = steps[StepName.PROFILE.value]["Arguments"]["AppSpecification"][
        "ContainerArguments"]
    assert arguments[arguments.index("--class-weight") + 1] == "none"
    assert arguments[arguments.index("--decision-threshold") + 1] == "0.3"
