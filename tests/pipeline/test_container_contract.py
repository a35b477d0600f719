"""Each step invokes the training/ container contract exactly, with the spec's settings."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys

import pytest

from mlops_components.sagemaker.definition import steps_by_name
from mlops_components.sagemaker.spec import EVALUATION_REPORT, PipelineParameter, StepName
from tests.pipeline.conftest import BUCKET, CODE_URI, VARIANTS
from training import contract
from training.train.train import copy_code

PIPELINE = "diagnosis-training"
IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
EXECUTION_ID = {"Get": "Execution.PipelineExecutionId"}


def arguments(definition, step):
    return steps_by_name(definition)[step]["Arguments"]


def output_ref(step, output):
    return {"Get": f"Steps.{step}.ProcessingOutputConfig.Outputs['{output}'].S3Output.S3Uri"}


def prefix_join(prefix, *parts):
    return {"Std:Join": {"On": "/", "Values": [f"s3://{BUCKET}/{prefix}/{PIPELINE}",
                                               EXECUTION_ID, *parts]}}


def inputs_by_name(step_arguments):
    return {item["InputName"]: item["S3Input"] for item in step_arguments["ProcessingInputs"]}


def outputs_by_name(step_arguments):
    return {item["OutputName"]: item["S3Output"]
            for item in step_arguments["ProcessingOutputConfig"]["Outputs"]}


def test_parameters_are_the_api_names_with_the_spec_defaults(definitions):
    parameters = {item["Name"]: item for item in definitions["classification"]["Parameters"]}
    assert {name: (item["Type"], item["DefaultValue"]) for name, item in parameters.items()} == {
        "InputDataUri": ("String", f"s3://{BUCKET}/raw/"),
        "MetricThreshold": ("Float", 0.8),
        "ModelApprovalStatus": ("String", "PendingManualApproval"),
        "ProcessingInstanceType": ("String", "ml.m5.xlarge"),
        "ProcessingInstanceCount": ("Integer", 1),
        "TrainingInstanceType": ("String", "ml.m5.xlarge"),
        "EvaluationInstanceType": ("String", "ml.m5.large"),
        "BaselineMargin": ("Float", 0.05),
        "ChampionMargin": ("Float", 0.0),
        "ChampionModelUri": ("String", f"s3://{BUCKET}/models/diagnosis-training/no-champion/"),
        "RegisterUnchangedData": ("Boolean", False),
    }
    assert set(parameters) == {parameter.value for parameter in PipelineParameter}
    assert parameters["ModelApprovalStatus"]["EnumValues"] == [
        "PendingManualApproval", "Approved", "Rejected"]


def test_approval_status_default_comes_from_the_spec(build):
    definition = build(approval_status="Approved")
    parameters = {item["Name"]: item for item in definition["Parameters"]}
    assert parameters["ModelApprovalStatus"]["DefaultValue"] == "Approved"


def test_profile_runs_profile_py_on_sharded_input_report_and_baseline_kept(definitions):
    profile = arguments(definitions["classification"], StepName.PROFILE)
    assert profile["AppSpecification"] == {
        "ImageUri": IMAGE,
        "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/training/bootstrap.py",
                                "profile"],
        "ContainerArguments": [
            "--data-dir", "/opt/ml/processing/input/data",
            "--report-dir", "/opt/ml/processing/output/report",
            "--baseline-dir", "/opt/ml/processing/output/baseline",
            "--target", "target", "--problem-type", "classification",
            # Preprocess's seed: the report checks leakage on the same training split
            "--seed", "42",
            # training's imbalance switches, which the imbalance alert names
            "--class-weight", "balanced", "--decision-threshold", "auto"],
    }
    inputs = inputs_by_name(profile)
    assert inputs["code"] == {
        "S3Uri": CODE_URI, "LocalPath": "/opt/ml/processing/input/code",
        "S3DataType": "S3Prefix", "S3InputMode": "File",
        "S3DataDistributionType": "FullyReplicated", "S3CompressionType": "None"}
    assert inputs["data"]["S3Uri"] == {"Get": "Parameters.InputDataUri"}
    assert inputs["data"]["S3DataDistributionType"] == "ShardedByS3Key"
    outputs = outputs_by_name(profile)
    assert outputs["report"]["S3Uri"] == prefix_join("models", "report")
    assert outputs["baseline"]["S3Uri"] == prefix_join("models", "baseline")
    assert outputs["baseline"]["LocalPath"] == "/opt/ml/processing/output/baseline"
    cluster = profile["ProcessingResources"]["ClusterConfig"]
    assert cluster["InstanceType"] == {"Get": "Parameters.ProcessingInstanceType"}
    assert cluster["InstanceCount"] == {"Get": "Parameters.ProcessingInstanceCount"}


def test_preprocess_runs_after_profile_and_writes_four_splits(definitions):
    definition = definitions["regression"]
    preprocess = arguments(definition, StepName.PREPROCESS)
    assert steps_by_name(definition)[StepName.PREPROCESS]["DependsOn"] == ["Profile"]
    assert preprocess["AppSpecification"]["ContainerEntrypoint"] == [
        "python3", "/opt/ml/processing/input/code/training/bootstrap.py", "preprocess"]
    assert preprocess["AppSpecification"]["ContainerArguments"] == [
        "--data-dir", "/opt/ml/processing/input/data", "--output-dir",
        "/opt/ml/processing/output", "--target", "price", "--problem-type", "regression",
        "--seed", "42", "--leak-policy", "stop"]
    assert inputs_by_name(preprocess)["data"]["S3DataDistributionType"] == "ShardedByS3Key"
    assert {name: (output["LocalPath"], output["S3Uri"])
            for name, output in outputs_by_name(preprocess).items()} == {
        name: (f"/opt/ml/processing/output/{name}", prefix_join("processed", name))
        for name in ("train", "validation", "test", "transform")}


def test_train_runs_train_py_in_script_mode_from_the_code_channel(definitions):
    train = arguments(definitions["classification"], StepName.TRAIN)
    assert train["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert train["HyperParameters"] == {
        "target": "target", "problem-type": "classification",
        # the estimator's own defaults; no max-depth: its trees are unlimited (31 leaves)
        "estimator": "hist_gradient_boosting", "n-estimators": "100", "learning-rate": "0.1",
        "target-transform": "none", "seed": "42",
        # imbalanced classes: balanced row weights, a threshold tuned for the gate metric
        "class-weight": "balanced", "decision-threshold": "auto",
        "gate-metric": "balanced_accuracy",
        # the bootstrap installs the wheelhouse, then runs MLOPS_JOB (train)
        "sagemaker_program": "training/bootstrap.py",
        # network isolation (the default): the archive arrives as the "code" channel
        "sagemaker_submit_directory": "/opt/ml/input/data/code/sourcedir.tar.gz",
    }
    channels = {item["ChannelName"]: item for item in train["InputDataConfig"]}
    for name in ("train", "validation", "transform"):
        assert channels[name]["DataSource"]["S3DataSource"]["S3Uri"] == \
            output_ref("Preprocess", name)
    assert channels["code"]["DataSource"]["S3DataSource"]["S3Uri"] == \
        f"{CODE_URI}/sourcedir.tar.gz"
    assert train["AlgorithmSpecification"]["MetricDefinitions"] == \
        contract.METRIC_DEFINITIONS[contract.ProblemType.CLASSIFICATION]
    assert train["OutputDataConfig"]["S3OutputPath"] == prefix_join("models")
    assert train["ResourceConfig"]["InstanceType"] == {"Get": "Parameters.TrainingInstanceType"}
    assert train["ResourceConfig"]["InstanceCount"] == 1
    assert train["EnableNetworkIsolation"] is True
    assert train["Environment"] == {"MLOPS_JOB": "train"}
    assert train["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    assert "EnableManagedSpotTraining" not in train and "CheckpointConfig" not in train


def test_without_network_isolation_the_container_fetches_the_code_itself(definitions):
    definition = definitions["network-enabled"]
    train = arguments(definition, StepName.TRAIN)
    assert train["HyperParameters"]["sagemaker_submit_directory"] == \
        f"{CODE_URI}/sourcedir.tar.gz"
    assert "code" not in {item["ChannelName"] for item in train["InputDataConfig"]}
    assert train["EnableNetworkIsolation"] is False
    assert arguments(definition, StepName.PROFILE)["NetworkConfig"] == {
        "EnableNetworkIsolation": False}


def test_hyperparameters_and_estimator_come_from_the_spec(build):
    train = arguments(build(hyperparameters={"max-depth": 5}, estimator="random_forest",
                            seed=7), StepName.TRAIN)
    assert {name: train["HyperParameters"][name]
            for name in ("max-depth", "n-estimators", "estimator", "seed")} \
        == {"max-depth": "5", "n-estimators": "100", "estimator": "random_forest", "seed": "7"}
    assert "learning-rate" not in train["HyperParameters"]  # a forest has none
    assert "tuned" not in train["HyperParameters"]  # untuned: train.py refits on validation too


@pytest.mark.parametrize("estimator, problem_type, expected", [
    ("gradient_boosting", "classification",
     {"n-estimators": "100", "learning-rate": "0.1", "max-depth": "3"}),
    ("hist_gradient_boosting", "regression",
     {"n-estimators": "100", "learning-rate": "0.1", "max-depth": "3"}),
    ("random_forest", "classification", {"n-estimators": "100"}),
    ("linear", "regression", {"alpha": "1.0"}),
])
def test_each_estimator_trains_with_its_own_defaults(build, estimator, problem_type, expected):
    regression = {"gate_metric": "r2", "metric_threshold": 0.3} if problem_type == "regression" \
        else {}
    train = arguments(build(estimator=estimator, problem_type=problem_type, **regression),
                      StepName.TRAIN)
    assert {name: value for name, value in train["HyperParameters"].items()
            if name in contract.ESTIMATOR_HYPERPARAMETER_NAMES} == expected


def test_spot_kms_and_vpc_reach_every_job(definitions):
    definition = definitions["hardened"]
    key = VARIANTS["hardened"]["kms_key_id"]
    vpc = {"Subnets": list(VARIANTS["hardened"]["subnets"]),
           "SecurityGroupIds": list(VARIANTS["hardened"]["security_group_ids"])}
    train = arguments(definition, StepName.TRAIN)
    assert train["EnableManagedSpotTraining"] is True
    assert train["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600,
                                         "MaxWaitTimeInSeconds": 7200}
    assert train["CheckpointConfig"] == {"S3Uri": prefix_join("models", "checkpoints"),
                                         "LocalPath": "/opt/ml/checkpoints"}
    assert train["OutputDataConfig"]["KmsKeyId"] == key
    assert train["ResourceConfig"]["VolumeKmsKeyId"] == key
    assert train["VpcConfig"] == vpc
    assert train["EnableNetworkIsolation"] is True
    for name in (StepName.PROFILE, StepName.PREPROCESS, StepName.EVALUATE):
        job = arguments(definition, name)
        assert job["ProcessingOutputConfig"]["KmsKeyId"] == key
        assert job["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == key
        assert job["NetworkConfig"] == {"EnableNetworkIsolation": True, "VpcConfig": vpc}


def test_tuning_keeps_the_training_settings_the_sdk_tuner_drops(definitions):
    tune = arguments(definitions["hardened-tuning"], StepName.TUNE)
    job = tune["TrainingJobDefinition"]
    assert job["EnableNetworkIsolation"] is True
    assert job["ResourceConfig"]["VolumeKmsKeyId"] == "alias/mlops"
    assert job["OutputDataConfig"]["KmsKeyId"] == "alias/mlops"
    assert job["EnableManagedSpotTraining"] is True
    assert job["StoppingCondition"]["MaxWaitTimeInSeconds"] == 7200
    assert "CheckpointConfig" not in job  # trials would share one checkpoint prefix
    assert job["VpcConfig"]["Subnets"] == ["subnet-0123456789abcdef0"]


def test_tuning_searches_the_ranges_for_the_gate_metric(definitions):
    tune = arguments(definitions["tuning"], StepName.TUNE)
    config = tune["HyperParameterTuningJobConfig"]
    assert config["HyperParameterTuningJobObjective"] == {
        "MetricName": "validation:balanced_accuracy", "Type": "Maximize"}
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 6,
                                        "MaxParallelTrainingJobs": 2}
    assert config["Strategy"] == "Bayesian"
    assert config["ParameterRanges"] == {
        "IntegerParameterRanges": [{"Name": "max-depth", "MinValue": "2", "MaxValue": "8",
                                    "ScalingType": "Auto"}],
        "ContinuousParameterRanges": [{"Name": "learning-rate", "MinValue": "0.01",
                                       "MaxValue": "0.3", "ScalingType": "Logarithmic"}],
        "CategoricalParameterRanges": [{"Name": "estimator",
                                        "Values": ["gradient_boosting",
                                                   "hist_gradient_boosting"]}],
    }
    job = tune["TrainingJobDefinition"]
    # the tuner picks the estimator: train.py gives each one its own n-estimators; `tuned`
    # keeps each job's train-only fit (validation chose the hyperparameters)
    assert job["StaticHyperParameters"] == {
        "target": "target", "problem-type": "classification", "target-transform": "none",
        "seed": "42", "class-weight": "balanced",
        "decision-threshold": "auto", "gate-metric": "balanced_accuracy", "tuned": "true",
        "sagemaker_program": "training/bootstrap.py",
        "sagemaker_submit_directory": "/opt/ml/input/data/code/sourcedir.tar.gz"}
    assert job["AlgorithmSpecification"]["MetricDefinitions"] == \
        contract.METRIC_DEFINITIONS[contract.ProblemType.CLASSIFICATION]


def test_tuning_minimises_a_lower_is_better_objective(definitions):
    tune = arguments(definitions["regression-tuning"], StepName.TUNE)
    assert tune["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"] == {
        "MetricName": "validation:rmse", "Type": "Minimize"}


@pytest.mark.parametrize("variant, model_data", [
    ("classification", {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}),
    ("tuning", prefix_join("models", {"Get": "Steps.Tune.TrainingJobSummaries[0]."
                                             "TrainingJobName"}, "output/model.tar.gz")),
])
def test_evaluate_and_register_use_the_trained_or_best_tuned_model(variant, model_data,
                                                                   definitions):
    definition = definitions[variant]
    evaluate = arguments(definition, StepName.EVALUATE)
    assert evaluate["AppSpecification"]["ContainerEntrypoint"] == [
        "python3", "/opt/ml/processing/input/code/training/bootstrap.py", "evaluate"]
    assert evaluate["AppSpecification"]["ContainerArguments"] == [
        "--model-dir", "/opt/ml/processing/input/model",
        "--test-dir", "/opt/ml/processing/input/test",
        "--champion-dir", "/opt/ml/processing/input/champion",
        "--output-dir", "/opt/ml/processing/output/evaluation",
        "--target", "target", "--problem-type", "classification",
        "--gate-metric", "balanced_accuracy"]
    inputs = inputs_by_name(evaluate)
    assert inputs["champion"]["S3Uri"] == {"Get": "Parameters.ChampionModelUri"}
    assert inputs["champion"]["LocalPath"] == "/opt/ml/processing/input/champion"
    assert inputs["model"]["S3Uri"] == model_data
    assert inputs["model"]["LocalPath"] == "/opt/ml/processing/input/model"
    assert inputs["test"]["S3Uri"] == output_ref("Preprocess", "test")
    assert evaluate["ProcessingResources"]["ClusterConfig"]["InstanceType"] == {
        "Get": "Parameters.EvaluationInstanceType"}
    assert steps_by_name(definition)[StepName.EVALUATE]["PropertyFiles"] == [{
        "PropertyFileName": EVALUATION_REPORT, "OutputName": "evaluation",
        "FilePath": "evaluation.json"}]
    # Registered packages refer to it for as long as they live: models/ never expires.
    assert outputs_by_name(evaluate)["evaluation"]["S3Uri"] == prefix_join("models",
                                                                          "evaluation")
    register = arguments(definition, StepName.REGISTER)
    assert register["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == model_data


@pytest.mark.parametrize("variant, comparison, metric, path", [
    ("classification", "GreaterThanOrEqualTo", "balanced_accuracy",
     "classification_metrics.balanced_accuracy.value"),
    ("regression", "LessThanOrEqualTo", "rmse", "regression_metrics.rmse.value"),
    ("regression-tuning", "GreaterThanOrEqualTo", "r2", "regression_metrics.r2.value"),
])
def test_quality_gate_compares_the_gate_metric_with_the_threshold(variant, comparison, metric,
                                                                 path, definitions):
    gate = arguments(definitions[variant], StepName.QUALITY_GATE)
    metric_value = {"Std:JsonGet": {
        "PropertyFile": {"Get": f"Steps.Evaluate.PropertyFiles.{EVALUATION_REPORT}"},
        "Path": path}}
    def gate_value(key):
        return {"Std:JsonGet": {
            "PropertyFile": {"Get": f"Steps.Evaluate.PropertyFiles.{EVALUATION_REPORT}"},
            "Path": f"gate.{key}"}}

    assert gate["Conditions"] == [
        {"Type": comparison, "LeftValue": metric_value,
         "RightValue": {"Get": "Parameters.MetricThreshold"}},
        {"Type": "GreaterThanOrEqualTo", "LeftValue": gate_value("baseline_gap"),
         "RightValue": {"Get": "Parameters.BaselineMargin"}},
        {"Type": "Or", "Conditions": [
            {"Type": "Equals", "LeftValue": gate_value("champion_present"), "RightValue": 0},
            {"Type": "GreaterThanOrEqualTo", "LeftValue": gate_value("champion_gap_high"),
             "RightValue": {"Get": "Parameters.ChampionMargin"}}]},
        {"Type": "Equals", "LeftValue": gate_value("test_split_sufficient"), "RightValue": 1},
    ]
    assert [step["Name"] for step in gate["IfSteps"]] == ["NewDataCheck"]
    assert [step["Name"] for step in gate["ElseSteps"]] == ["QualityGateFailed"]
    message = gate["ElseSteps"][0]["Arguments"]["ErrorMessage"]["Std:Join"]
    for value in (metric_value, gate_value("baseline_gap"), gate_value("champion_gap"),
                  gate_value("champion_gap_high"),
                  gate_value("test_rows"), gate_value("test_split_sufficient"),
                  {"Get": "Parameters.MetricThreshold"}, {"Get": "Parameters.BaselineMargin"},
                  {"Get": "Parameters.ChampionMargin"}):
        assert value in message["Values"]
    assert any(metric in value for value in message["Values"] if isinstance(value, str))


def test_unchanged_training_data_registers_only_when_the_parameter_says_so(definitions):
    """Evaluate measures (gate.data_unchanged); the condition decides, with the parameter, and
    its else branch is empty: unchanged data is not a failure, just nothing to register."""
    gate = arguments(definitions["classification"], StepName.QUALITY_GATE)
    (check,) = gate["IfSteps"]
    assert check["Type"] == "Condition"
    assert check["Arguments"]["Conditions"] == [{"Type": "Or", "Conditions": [
        {"Type": "Equals", "RightValue": 0, "LeftValue": {"Std:JsonGet": {
            "PropertyFile": {"Get": f"Steps.Evaluate.PropertyFiles.{EVALUATION_REPORT}"},
            "Path": "gate.data_unchanged"}}},
        {"Type": "Equals", "LeftValue": {"Get": "Parameters.RegisterUnchangedData"},
         "RightValue": True}]}]
    assert [step["Name"] for step in check["Arguments"]["IfSteps"]] == ["Register"]
    assert check["Arguments"]["ElseSteps"] == []


def test_register_unchanged_data_default_comes_from_the_spec(build):
    parameters = {item["Name"]: item for item in
                  build(register_unchanged_data=True)["Parameters"]}
    assert parameters["RegisterUnchangedData"]["DefaultValue"] is True


def test_register_declares_the_package_for_review_with_metrics_and_baselines(definitions):
    register = arguments(definitions["classification"], StepName.REGISTER)
    assert register["ModelPackageGroupName"] == "diagnosis"
    assert register["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    container = register["InferenceSpecification"]["Containers"][0]
    assert container["Image"] == IMAGE
    assert container["Environment"] == {
        "SAGEMAKER_PROGRAM": "training.serve.inference",
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        "PYTHONPATH": "/opt/ml/model/code",
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "SAGEMAKER_REGION": "eu-west-1"}
    specification = register["InferenceSpecification"]
    assert specification["SupportedContentTypes"] == ["text/csv", "application/json"]
    assert specification["SupportedResponseMIMETypes"] == ["text/csv", "application/json"]
    assert specification["SupportedRealtimeInferenceInstanceTypes"] == ["ml.m5.large"]

    def file_in(step, output, name):
        return {"Std:Join": {"On": "/", "Values": [output_ref(step, output), name]}}

    baseline = {
        "Statistics": {"ContentType": "application/json",
                       "S3Uri": file_in("Profile", "baseline", "statistics.json")},
        "Constraints": {"ContentType": "application/json",
                        "S3Uri": file_in("Profile", "baseline", "constraints.json")}}
    assert register["ModelMetrics"] == {
        "ModelQuality": {"Statistics": {
            "ContentType": "application/json",
            "S3Uri": file_in("Evaluate", "evaluation", "evaluation.json")}},
        "ModelDataQuality": baseline}
    assert register["DriftCheckBaselines"] == {"ModelDataQuality": baseline}
    assert register["CustomerMetadataProperties"]["mlops:eda-report-uri"] == \
        output_ref("Profile", "report")
    assert register["CustomerMetadataProperties"]["mlops:code-uri"] == CODE_URI
    assert register["CustomerMetadataProperties"]["mlops:training-data"] == {"Std:JsonGet": {
        "PropertyFile": {"Get": f"Steps.Evaluate.PropertyFiles.{EVALUATION_REPORT}"},
        "Path": "gate.data_digest"}}


def registered_locations(definition):
    """The first literal of every S3 location the Register step attaches to the package,
    following references to other steps' outputs (``s3://<bucket>/<prefix>/...``)."""
    steps = steps_by_name(definition)
    found = []

    def resolve(node):
        if isinstance(node, dict):
            reference = node.get("Get", "")
            match = re.match(r"Steps\.(\w+)\.ProcessingOutputConfig\.Outputs\['(\w+)'\]", reference)
            if match:
                resolve(outputs_by_name(steps[match.group(1)]["Arguments"])[match.group(2)])
            elif reference.startswith("Steps.") and ".ModelArtifacts." in reference:
                step = steps[reference.split(".")[1]]["Arguments"]
                resolve(step["OutputDataConfig"]["S3OutputPath"])
            for value in node.values():
                resolve(value)
        elif isinstance(node, list):
            for value in node:
                resolve(value)
        elif isinstance(node, str) and node.startswith(f"s3://{BUCKET}/"):
            found.append(node)

    resolve(arguments(definition, StepName.REGISTER))
    return found


def expiring(locations):
    """Locations under a prefix DataBucket's lifecycle deletes current objects from."""
    from mlops_components.components.data_bucket import DataBucketArgs, _lifecycle_rules

    prefixes = [rule["filter"].get("prefix", "") for rule in _lifecycle_rules(DataBucketArgs())
                if rule.get("expiration", {}).get("days")]
    return [location for location in locations
            if any(location.removeprefix(f"s3://{BUCKET}/").startswith(prefix)
                   for prefix in prefixes)]


def test_nothing_a_registered_package_points_at_expires(definitions):
    for definition in definitions.values():
        locations = registered_locations(definition)
        # model, code, evaluation, baseline and report
        assert {location.split("/")[3] for location in locations} == {"models", "code"}
        assert expiring(locations) == []


def test_expiry_check_catches_a_report_under_reports(definitions):
    """The non-compliant half: the EDA report where it used to be, under reports/."""
    definition = copy.deepcopy(definitions["classification"])
    profile = arguments(definition, StepName.PROFILE)
    outputs_by_name(profile)["report"]["S3Uri"] = prefix_join("reports", "report")
    assert expiring(registered_locations(definition)) == [
        f"s3://{BUCKET}/reports/{PIPELINE}"]


def test_the_packages_environment_imports_the_serving_program_without_installing(
        definitions, tmp_path):
    """The serving stack's first step, as the container runs it: a fresh interpreter with the
    registered package's environment, started outside the code folder, imports
    SAGEMAKER_PROGRAM. When that import fails the stack copies the submit directory and runs
    `pip install .`, which network isolation forbids, so this import must succeed."""
    # GIVEN the model folder as the endpoint unpacks model.tar.gz under /opt/ml/model, with
    # the code the Train job copies into it
    register = arguments(definitions["classification"], StepName.REGISTER)
    environment = register["InferenceSpecification"]["Containers"][0]["Environment"]
    model_root = tmp_path / "opt" / "ml" / "model"
    copy_code(model_root)
    container_env = {name: value.replace("/opt/ml/model", str(model_root))
                     for name, value in environment.items()}
    # WHEN the stack imports the program, with nothing but that environment (and the
    # image's site-packages) to find it
    program = """
import importlib, os
module = importlib.import_module(os.environ["SAGEMAKER_PROGRAM"])
assert module.__file__.startswith(os.environ["SAGEMAKER_SUBMIT_DIRECTORY"]), module.__file__
assert callable(module.model_fn) and callable(module.input_fn)
"""
    site_packages = [path for path in sys.path if path.endswith("site-packages")]
    container_env["PYTHONPATH"] = os.pathsep.join(
        [container_env.get("PYTHONPATH", ""), *site_packages])
    completed = subprocess.run([sys.executable, "-S", "-c", program], capture_output=True,
                               text=True, cwd="/", env=container_env)
    # THEN the module comes from the model's own code folder, with the hooks it calls
    assert completed.returncode == 0, completed.stderr
