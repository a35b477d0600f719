"""The monitoring pipeline's definition (ModelMonitor's processing engine), checked like the
training one: the service model's shapes, AWS's schema, references, and the job's own CLI."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from mlops_components.sagemaker import cache
from mlops_components.sagemaker.definition import iter_steps
from mlops_components.sagemaker.monitor_builder import build_monitor_definition
from mlops_components.sagemaker.monitor_spec import (
    DRIFT_CHECK_STEP,
    MonitorParameter,
    MonitorSpec,
)
from mlops_components.validation import ValidationError
from tests.pipeline.conftest import ACCOUNT, BUCKET, CODE_URI
from tests.pipeline.definition_checks import (
    build_offline,
    check_step_arguments,
    reference_problems,
    schema_problems,
)
from training.contract import (
    BOOTSTRAP_SCRIPT,
    PROCESSING_BASELINE_DIR,
    PROCESSING_CAPTURE_DIR,
    PROCESSING_DRIFT_DIR,
    Job,
)
from training.monitor import drift
from training.monitor.metrics import DriftThresholds

BASE = MonitorSpec(
    pipeline_name="diagnosis-monitor",
    role_arn=f"arn:aws:iam::{ACCOUNT}:role/diagnosis-monitor",
    bucket=BUCKET,
    region="eu-west-1",
    code_uri=CODE_URI,
    endpoint_name="diagnosis-endpoint",
    model_name="diagnosis",
    capture_uri=f"s3://{BUCKET}/capture/diagnosis-endpoint/",
    baseline_uri=f"s3://{BUCKET}/models/diagnosis/deployed-baseline/",
)
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "tuned": {"window_hours": 1, "thresholds": {"psi-threshold": 0.3, "js-threshold": 0.15},
              "wheelhouse_uri": f"{CODE_URI}/wheelhouse-abc.tar.gz",
              "instance_type": "ml.m5.xlarge"},
    "hardened": {"kms_key_id": f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/"
                               "0a1b2c3d-4e5f-6789-abcd-ef0123456789",
                 "subnets": ("subnet-0123456789abcdef0",),
                 "security_group_ids": ("sg-0123456789abcdef0",)},
}


@pytest.fixture(scope="module")
def definitions() -> dict[str, dict[str, Any]]:
    return build_offline(build_monitor_definition, BASE, VARIANTS)


def drift_step(definition: dict[str, Any]) -> dict[str, Any]:
    (step,) = list(iter_steps(definition))
    return step


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_step_validates_against_the_service_model(definitions, variant):
    assert check_step_arguments(definitions[variant]) == []


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_definition_validates_against_the_published_schema(definitions, variant):
    assert schema_problems(definitions[variant]) == []


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_reference_names_something_that_exists(definitions, variant):
    assert reference_problems(definitions[variant]) == []


def test_one_step_runs_the_drift_job_through_the_bootstrap(definitions):
    step = drift_step(definitions["default"])
    assert step["Name"] == DRIFT_CHECK_STEP and step["Type"] == "Processing"
    app = step["Arguments"]["AppSpecification"]
    assert app["ContainerEntrypoint"] == [
        "python3", f"/opt/ml/processing/input/code/{BOOTSTRAP_SCRIPT}", Job.DRIFT.value]


def test_the_arguments_are_what_the_drift_job_parses(definitions):
    app = drift_step(definitions["tuned"])["Arguments"]["AppSpecification"]
    arguments = app["ContainerArguments"]
    baseline = {"Get": f"Parameters.{MonitorParameter.BASELINE_URI}"}
    assert arguments[arguments.index("--baseline-uri") + 1] == baseline
    args = drift.parse_args([BASE.baseline_uri if a == baseline else a for a in arguments])
    assert (args.capture_uri, args.baseline_uri) == (BASE.capture_uri, BASE.baseline_uri)
    assert (str(args.capture_dir), str(args.baseline_dir), str(args.output_dir)) == (
        PROCESSING_CAPTURE_DIR, PROCESSING_BASELINE_DIR, PROCESSING_DRIFT_DIR)
    assert (args.endpoint, args.model, args.window_hours) == ("diagnosis-endpoint",
                                                              "diagnosis", 1.0)
    assert (args.psi_threshold, args.js_threshold) == (0.3, 0.15)
    assert args.ks_threshold == DriftThresholds().ks
    assert args.publish


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_capture_and_baseline_are_no_processing_inputs_the_job_reads_them(definitions,
                                                                          variant):
    """SageMaker refuses an input prefix with no objects: before the first deployment, before
    traffic and after capture expires, the capture and baseline prefixes are empty."""
    arguments = drift_step(definitions[variant])["Arguments"]
    inputs = {item["InputName"]: item["S3Input"] for item in arguments["ProcessingInputs"]}
    assert set(inputs) <= {"code", "wheelhouse"}
    assert all(item["S3Uri"].startswith(CODE_URI) for item in inputs.values())


def test_inputs_are_code_and_wheels_and_the_reports_go_under_reports(definitions):
    arguments = drift_step(definitions["tuned"])["Arguments"]
    inputs = {item["InputName"]: item["S3Input"] for item in arguments["ProcessingInputs"]}
    assert inputs["code"]["S3Uri"] == CODE_URI
    assert inputs["wheelhouse"]["S3Uri"].endswith("wheelhouse-abc.tar.gz")
    (output,) = arguments["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["LocalPath"] == PROCESSING_DRIFT_DIR
    assert output["S3Output"]["S3Uri"]["Std:Join"]["Values"] == [
        f"s3://{BUCKET}/reports/diagnosis-monitor", {"Get": "Execution.PipelineExecutionId"},
        "drift"]


def test_the_baseline_parameter_defaults_to_the_spec(definitions):
    parameters = {p["Name"]: p for p in definitions["default"]["Parameters"]}
    assert parameters[MonitorParameter.BASELINE_URI]["DefaultValue"] == BASE.baseline_uri
    assert parameters[MonitorParameter.MONITOR_INSTANCE_TYPE]["DefaultValue"] == "ml.m5.large"


def test_only_this_job_has_network_for_its_metrics(definitions):
    for definition in definitions.values():
        assert drift_step(definition)["Arguments"]["NetworkConfig"][
            "EnableNetworkIsolation"] is False


def test_kms_and_vpc_reach_the_job(definitions):
    arguments = drift_step(definitions["hardened"])["Arguments"]
    assert arguments["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"].endswith(
        "0a1b2c3d-4e5f-6789-abcd-ef0123456789")
    assert arguments["NetworkConfig"]["VpcConfig"]["Subnets"] == ["subnet-0123456789abcdef0"]


def test_the_build_is_deterministic_and_the_cache_returns_it(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path))
    first = cache.cached_monitor_definition(BASE)
    assert first == build_monitor_definition(BASE)
    assert len(list(tmp_path.glob("*.json"))) == 1
    assert cache.cached_monitor_definition(BASE) == first


@pytest.mark.parametrize(("overrides", "message"), [
    ({"window_hours": 0}, "window_hours must be an integer between 1 and 168"),
    ({"window_hours": 169}, "window_hours must be an integer between 1 and 168"),
    ({"thresholds": {"psi": 0.2}}, r"thresholds\['psi'\] is not a drift threshold"),
    ({"thresholds": {"ks-threshold": 0}}, r"thresholds\['ks-threshold'\] must be a number > 0"),
    ({"capture_uri": "capture/x/"}, "capture_uri must be an s3:// URI"),
    ({"endpoint_name": "bad_name"}, "endpoint_name must be 1-63"),
    ({"subnets": ("subnet-0123456789abcdef0",)}, "subnets and security_group_ids"),
    ({"instance_type": "m5.large"}, "instance_type must be an ML instance type"),
])
def test_a_bad_spec_is_one_line_per_problem(overrides, message):
    with pytest.raises(ValidationError, match=message):
        build_monitor_definition(dataclasses.replace(BASE, **overrides))


def test_the_bootstrap_runs_the_drift_job_with_the_step_arguments(definitions):
    from training import bootstrap

    app = drift_step(definitions["default"])["Arguments"]["AppSpecification"]
    argv = app["ContainerEntrypoint"][2:] + app["ContainerArguments"]
    assert bootstrap.split_job_argv(argv, {}) == (Job.DRIFT, app["ContainerArguments"])
