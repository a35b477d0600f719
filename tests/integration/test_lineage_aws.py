"""`mlops lineage` against SageMaker and S3 (a moto server; ListPipelineExecutionSteps, which
moto lacks, through botocore's Stubber, so its request is checked against the service model)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from mlops_components.cli import main
from mlops_components.cli.lineage import chain_lines, sagemaker_lineage
from mlops_components.sagemaker.spec import (
    CODE_URI_METADATA,
    GATE_METRIC_METADATA,
    PROMOTED_BY_METADATA,
    PROMOTED_FROM_METADATA,
    PROMOTION_REASON_METADATA,
    TRAINING_DATA_METADATA,
)
from tests.conftest import REPO_ROOT
from tests.integration.conftest import REGION
from tests.integration.test_registry_cli import IMAGE

ROLE = "arn:aws:iam::123456789012:role/pipeline"


class StepsFromStubber:
    """The moto client, except ListPipelineExecutionSteps: answered by a stubbed client."""

    def __init__(self, client: Any, steps: list[dict[str, Any]]):
        self._client = client
        self.stubbed = boto3.client("sagemaker", region_name=REGION,
                                    aws_access_key_id="x", aws_secret_access_key="x")
        self.stubber = Stubber(self.stubbed)
        self.steps = steps

    def expect_steps(self, arn: str) -> None:
        self.stubber.add_response("list_pipeline_execution_steps",
                                  {"PipelineExecutionSteps": self.steps},
                                  {"PipelineExecutionArn": arn})
        self.stubber.activate()

    def get_paginator(self, name: str) -> Any:
        client = self.stubbed if name == "list_pipeline_execution_steps" else self._client
        return client.get_paginator(name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture
def trained(aws_client):
    """A versioned bucket whose data.csv was overwritten before an execution started and
    again after; the execution's package, approved with a comment."""
    sagemaker, s3 = aws_client("sagemaker"), aws_client("s3")
    suffix = uuid.uuid4().hex[:6]
    bucket, group, pipeline = f"data-{suffix}", f"churn-{suffix}", f"churn-training-{suffix}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=b"a,b\n1,2\n")
    read = s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=b"a,b\n1,2\n3,4\n")
    s3.put_object(Bucket=bucket, Key="raw/gone.csv", Body=b"a,b\n")
    s3.delete_object(Bucket=bucket, Key="raw/gone.csv")
    time.sleep(1.1)  # S3 times have one-second resolution
    sagemaker.create_pipeline(
        PipelineName=pipeline, RoleArn=ROLE, PipelineDefinition=json.dumps(
            {"Version": "2020-12-01", "Parameters": [
                {"Name": "InputDataUri", "Type": "String"}], "Steps": []}))
    arn = sagemaker.start_pipeline_execution(
        PipelineName=pipeline, PipelineParameters=[
            {"Name": "InputDataUri", "Value": f"s3://{bucket}/raw/"}])["PipelineExecutionArn"]
    time.sleep(1.1)
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=b"a,b\n9,9\n")  # after the start
    s3.put_object(Bucket=bucket, Key="raw/late.csv", Body=b"a,b\n")
    execution_id = arn.rsplit("/", 1)[-1]
    base = f"s3://{bucket}/models/{pipeline}/{execution_id}"
    s3.put_object(Bucket=bucket, Key=f"models/{pipeline}/{execution_id}/evaluation/"
                                     "evaluation.json",
                  Body=json.dumps({"classification_metrics": {
                      "balanced_accuracy": {"value": 0.93}}}).encode())
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    metadata = {
        TRAINING_DATA_METADATA: "sha256:" + "ab" * 32,
        CODE_URI_METADATA: f"s3://{bucket}/code/{pipeline}/0123456789abcdef",
        GATE_METRIC_METADATA: "balanced_accuracy",
        PROMOTED_FROM_METADATA: "arn:aws:sagemaker:us-east-1:111111111111:model-package/churn/4",
        PROMOTED_BY_METADATA: "arn:aws:iam::111111111111:user/ops",
        PROMOTION_REASON_METADATA: "staging soak passed"}
    package_arn = sagemaker.create_model_package(
        ModelPackageGroupName=group, ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"{base}/Train/output/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        ModelMetrics={"ModelQuality": {"Statistics": {
            "ContentType": "application/json", "S3Uri": f"{base}/evaluation/evaluation.json"}}},
        CustomerMetadataProperties=metadata)["ModelPackageArn"]
    # moto clears CustomerMetadataProperties an update does not repeat (SageMaker keeps them)
    sagemaker.update_model_package(ModelPackageArn=package_arn, ModelApprovalStatus="Approved",
                                   ApprovalDescription="beats the champion",
                                   CustomerMetadataProperties=metadata)
    steps = [
        {"StepName": "Preprocess", "StepStatus": "Succeeded", "Metadata": {"ProcessingJob": {
            "Arn": "arn:aws:sagemaker:us-east-1:123456789012:processing-job/pipelines-x-pre"}}},
        {"StepName": "Train", "StepStatus": "Succeeded", "Metadata": {"TrainingJob": {
            "Arn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/pipelines-x-train"}}},
        {"StepName": "QualityGate", "StepStatus": "Succeeded",
         "Metadata": {"Condition": {"Outcome": "True"}}},
    ]
    return {"group": group, "arn": arn, "bucket": bucket, "read_version": read["VersionId"],
            "package_arn": package_arn, "steps": steps}


def test_the_chain_names_the_versions_current_when_the_execution_started(aws_client, trained):
    sagemaker = StepsFromStubber(aws_client("sagemaker"), trained["steps"])
    sagemaker.expect_steps(trained["arn"])

    record = sagemaker_lineage(sagemaker, aws_client("s3"), trained["group"], 1,
                               "churn-endpoint", "moto")

    sagemaker.stubber.assert_no_pending_responses()
    assert record["execution"]["arn"] == trained["arn"]
    # data.csv as it was at the start; the deleted and the later objects are not in it
    assert record["data"]["objects"] == [{
        "uri": f"s3://{trained['bucket']}/raw/data.csv", "version_id": trained["read_version"],
        "bytes": 12, "last_modified": record["data"]["objects"][0]["last_modified"]}]
    assert [job["job"].rsplit("/", 1)[-1] for job in record["jobs"]] == [
        "pipelines-x-pre", "pipelines-x-train"]
    assert record["evaluation"]["metrics"] == {"balanced_accuracy": 0.93}
    assert record["evaluation"]["quality_gate"] == "True"
    assert record["approval"]["status"] == "Approved"
    assert record["approval"]["why"] == "beats the champion"
    assert record["promotion"]["by"] == "arn:aws:iam::111111111111:user/ops"
    assert record["package"]["code_hash"] == "0123456789abcdef"
    assert record["endpoint"]["serving"] is False
    text = "\n".join(chain_lines(record))
    assert f"raw/data.csv version {trained['read_version']}" in text
    assert "promoted from arn:aws:sagemaker:us-east-1:111111111111:model-package/churn/4 by " \
           "arn:aws:iam::111111111111:user/ops" in text
    assert "staging soak passed" in text
    assert "churn-endpoint: not created yet" in text


def cli(moto_endpoint, *arguments):
    return main([*arguments, "--project-dir", str(REPO_ROOT), "--region", REGION,
                 "--endpoint-url", moto_endpoint])


@pytest.mark.parametrize("command", ["lineage", "status"])
def test_a_missing_group_or_version_in_sagemaker_is_one_line(moto_endpoint, aws_client,
                                                             trained, capsys, command):
    assert cli(moto_endpoint, command, "--group", trained["group"], "--version", "7") == 2
    assert cli(moto_endpoint, command, "--group", "no-such-group", "--version", "1") == 2

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    assert f"group '{trained['group']}' has no version 7 (versions: 1)" in lines[0]
    assert "no model package group 'no-such-group'" in lines[1]


def test_a_recorded_manifest_wins_over_the_bucket_history(aws_client, trained):
    """A package the RecordLineage step ran for names its manifest: the versions read at the
    execution's start, even after the history changed (here: every old version deleted)."""
    from mlops_components.sagemaker.spec import LINEAGE_METADATA

    sagemaker, s3 = aws_client("sagemaker"), aws_client("s3")
    bucket = trained["bucket"]
    manifest_uri = f"s3://{bucket}/models/x/{trained['arn'].rsplit('/', 1)[-1]}/lineage/" \
                   "lineage.json"
    s3.put_object(Bucket=bucket, Key=manifest_uri.split("/", 3)[3], Body=json.dumps({
        "input_uri": f"s3://{bucket}/raw/", "objects": [
            {"uri": f"s3://{bucket}/raw/data.csv", "version_id": "v-recorded", "bytes": 12}]}))
    described = sagemaker.describe_model_package(ModelPackageName=trained["package_arn"])
    sagemaker.update_model_package(
        ModelPackageArn=trained["package_arn"], ModelApprovalStatus="Approved",
        CustomerMetadataProperties={**described["CustomerMetadataProperties"],
                                    LINEAGE_METADATA: manifest_uri})
    client = StepsFromStubber(sagemaker, trained["steps"])
    client.expect_steps(trained["arn"])

    record = sagemaker_lineage(client, s3, trained["group"], 1, "churn-endpoint", "moto")

    assert record["data"]["objects"][0]["version_id"] == "v-recorded"
    assert record["data"]["manifest_uri"] == manifest_uri
    assert "recorded" in record["data"]["version_ids"]
