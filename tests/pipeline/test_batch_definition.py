"""The batch inference pipeline's definition, checked like the training and monitor ones: the
service model's shapes, AWS's schema, references, and the job's and the Lambda's own inputs."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from mlops_components.functions import batch_run
from mlops_components.sagemaker.batch_builder import build_batch_definition
from mlops_components.sagemaker.batch_spec import (
    BatchParameter,
    BatchSpec,
    BatchStep,
)
from mlops_components.sagemaker.definition import iter_steps, steps_by_name
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
    PROCESSING_BATCH_INPUT_DIR,
    PROCESSING_BATCH_OUTPUT_DIR,
    PROCESSING_MODEL_DIR,
    Job,
)
from training.serve import batch

FUNCTION_ARN = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:diagnosis-batch-run"
BASE = BatchSpec(
    pipeline_name="diagnosis-batch",
    role_arn=f"arn:aws:iam::{ACCOUNT}:role/diagnosis-batch",
    bucket=BUCKET,
    region="eu-west-1",
    code_uri=CODE_URI,
    model_package_group_name="diagnosis",
    function_arn=FUNCTION_ARN,
)
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "scaled": {"instance_type": "ml.c5.2xlarge", "instance_count": 4, "output_format": "jsonl",
               "max_refused_share": 0.0, "chunk_rows": 5000,
               "wheelhouse_uri": f"{CODE_URI}/wheelhouse-abc.tar.gz"},
    "hardened": {"kms_key_id": f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/"
                               "0a1b2c3d-4e5f-6789-abcd-ef0123456789",
                 "subnets": ("subnet-0123456789abcdef0",),
                 "security_group_ids": ("sg-0123456789abcdef0",)},
}


@pytest.fixture(scope="module")
def definitions() -> dict[str, dict[str, Any]]:
    return build_offline(build_batch_definition, BASE, VARIANTS)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_step_validates_against_the_service_model(definitions, variant):
    assert check_step_arguments(definitions[variant]) == []


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_definition_validates_against_the_published_schema(definitions, variant):
    assert schema_problems(definitions[variant]) == []


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_reference_names_something_that_exists(definitions, variant):
    assert reference_problems(definitions[variant]) == []


def test_the_same_spec_builds_the_same_bytes():
    assert build_batch_definition(BASE) == build_batch_definition(BASE)


def test_the_steps_resolve_then_score_only_when_ready(definitions):
    definition = definitions["default"]
    assert [step["Name"] for step in definition["Steps"]] == [
        BatchStep.RESOLVE_MODEL, BatchStep.HAS_MODEL_AND_INPUT]
    resolve, ready = definition["Steps"]
    assert resolve["Type"] == "Lambda" and resolve["FunctionArn"] == FUNCTION_ARN
    assert ready["Arguments"]["ElseSteps"] == []  # nothing to do: the run succeeds
    assert [step["Name"] for step in ready["Arguments"]["IfSteps"]] == [
        BatchStep.SCORE, BatchStep.PUBLISH_COUNTS, BatchStep.ANY_SCORED,
        BatchStep.REFUSED_WITHIN_LIMIT]
    steps = steps_by_name(definition)
    assert steps[BatchStep.TOO_MANY_REFUSED]["Type"] == "Fail"
    assert [step["Name"] for step in steps[BatchStep.ANY_SCORED]["Arguments"]["IfSteps"]] == [
        BatchStep.DRIFT_CHECK, BatchStep.PUBLISH_DRIFT]


def test_the_drift_check_is_the_monitors_drift_job_on_the_batch(definitions):
    from training.contract import PROCESSING_BASELINE_DIR, PROCESSING_CAPTURE_DIR
    from training.monitor import drift

    step = steps_by_name(definitions["default"])[BatchStep.DRIFT_CHECK]["Arguments"]
    app = step["AppSpecification"]
    assert app["ContainerEntrypoint"][-1] == Job.DRIFT.value
    assert step["NetworkConfig"]["EnableNetworkIsolation"] is True
    args = drift.parse_args(app["ContainerArguments"])
    assert (args.window_hours, args.publish, args.endpoint, args.model) == (
        0, False, "diagnosis-batch", "diagnosis")
    inputs = {item["InputName"]: item["S3Input"] for item in step["ProcessingInputs"]}
    assert inputs["capture"]["LocalPath"] == PROCESSING_CAPTURE_DIR
    assert inputs["baseline"]["S3Uri"] == {
        "Get": f"Steps.{BatchStep.RESOLVE_MODEL}.OutputParameters['BaselinePrefix']"}
    assert inputs["baseline"]["LocalPath"] == PROCESSING_BASELINE_DIR
    score = steps_by_name(definitions["default"])[BatchStep.SCORE]["Arguments"]
    capture_dir = batch.parse_args(
        ["0.05" if isinstance(a, dict) else a
         for a in score["AppSpecification"]["ContainerArguments"]]).capture_dir
    assert str(capture_dir).startswith(PROCESSING_BATCH_OUTPUT_DIR)


def test_the_score_job_is_isolated_sharded_and_reads_the_resolved_model(definitions):
    step = steps_by_name(definitions["scaled"])[BatchStep.SCORE]["Arguments"]
    assert step["NetworkConfig"]["EnableNetworkIsolation"] is True
    inputs = {item["InputName"]: item["S3Input"] for item in step["ProcessingInputs"]}
    assert inputs["model"]["S3Uri"] == {
        "Get": f"Steps.{BatchStep.RESOLVE_MODEL}.OutputParameters['ModelDataUrl']"}
    assert inputs["batch"]["S3DataDistributionType"] == "ShardedByS3Key"
    assert inputs["batch"]["S3Uri"] == {"Get": f"Parameters.{BatchParameter.INPUT_DATA_URI}"}
    assert step["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == {
        "Get": f"Parameters.{BatchParameter.BATCH_INSTANCE_COUNT}"}
    (output,) = step["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["S3Uri"]["Std:Join"]["Values"] == [
        f"s3://{BUCKET}/batch/output", {"Get": "Execution.PipelineExecutionId"}]
    parameters = {p["Name"]: p["DefaultValue"] for p in definitions["scaled"]["Parameters"]}
    assert parameters == {"InputDataUri": f"s3://{BUCKET}/batch/input/",
                          "BatchInstanceType": "ml.c5.2xlarge", "BatchInstanceCount": 4,
                          "MaxRefusedShare": "0.0"}


def test_the_arguments_are_what_the_batch_job_parses(definitions):
    app = steps_by_name(definitions["scaled"])[BatchStep.SCORE]["Arguments"]["AppSpecification"]
    assert app["ContainerEntrypoint"] == [
        "python3", f"/opt/ml/processing/input/code/{BOOTSTRAP_SCRIPT}", Job.BATCH.value]
    share = {"Get": f"Parameters.{BatchParameter.MAX_REFUSED_SHARE}"}
    arguments = ["0.0" if argument == share else argument
                 for argument in app["ContainerArguments"]]
    args = batch.parse_args(arguments)
    assert (args.model_dir, args.input_dir, args.output_dir) == (
        PROCESSING_MODEL_DIR, PROCESSING_BATCH_INPUT_DIR, PROCESSING_BATCH_OUTPUT_DIR)
    assert (args.output_format, args.chunk_rows, args.max_refused_share) == ("jsonl", 5000, 0.0)


def test_the_lambda_steps_ask_for_what_the_function_answers(definitions):
    steps = steps_by_name(definitions["default"])
    declared = {name: {o["OutputName"] for o in steps[name]["OutputParameters"]}
                for name in (BatchStep.RESOLVE_MODEL, BatchStep.PUBLISH_COUNTS)}
    assert steps[BatchStep.RESOLVE_MODEL]["Arguments"]["action"] == batch_run.RESOLVE
    assert steps[BatchStep.PUBLISH_COUNTS]["Arguments"]["action"] == batch_run.PUBLISH
    assert all(step["Type"] != "Lambda" or set(step["Arguments"]) <= {
        "action", "model_package_group", "input_uri", "output_uri", "metrics_uri"}
        for step in iter_steps(definitions["default"]))
    assert steps[BatchStep.PUBLISH_DRIFT]["Arguments"]["action"] == batch_run.DRIFT
    assert declared[BatchStep.RESOLVE_MODEL] == {"Ready", "ModelDataUrl", "ModelPackageArn",
                                                 "Reason", "BaselinePrefix"}
    assert declared[BatchStep.PUBLISH_COUNTS] == {"RowsScored", "RowsRefused", "Passed",
                                                  "Summary"}


def test_a_bad_spec_names_every_problem():
    bad = dataclasses.replace(BASE, instance_count=0, output_format="xml",
                              max_refused_share=1.5, function_arn="not-an-arn")
    with pytest.raises(ValidationError) as raised:
        build_batch_definition(bad)
    message = str(raised.value)
    for field_name in ("instance_count", "output_format", "max_refused_share", "function_arn"):
        assert field_name in message
