"""`mlops promote` against SageMaker's and S3's APIs (a moto server), every request checked.

botocore validates each request the CLI sends before it leaves the client; a hook on the
clients the command makes also checks what botocore leaves to the service (max lengths,
enums, and the Unicode-class patterns of CustomerMetadataProperties, with `regex`). The two
stages are the project's own dev and staging stacks (their groups, approval statuses and
regions); the registry and deployment sides use separate sessions (``--from-profile`` /
``--to-profile`` select real ones; here both use the moto credentials).
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

import boto3
import botocore.session
import pytest
import regex
import yaml

from mlops_components.cli import main
from mlops_components.sagemaker.promotion import (
    CARRIED_FIELDS,
    metadata_safe,
    metadata_value_problem,
)
from mlops_components.sagemaker.spec import (
    PROMOTED_AT_METADATA,
    PROMOTED_BY_METADATA,
    PROMOTED_FROM_METADATA,
    PROMOTION_REASON_METADATA,
    TRAINING_DATA_METADATA,
)
from tests.conftest import REPO_ROOT
from tests.integration.conftest import moto_server
from tests.service_constraints import service_problems

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")


def _group(stage: str) -> str:
    return yaml.safe_load((REPO_ROOT / f"Pulumi.{stage}.yaml").read_text())["config"][
        "mlops:modelName"]


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, dict]]:
    """Every request the command's clients send (after botocore's own validation passes
    them, since the hook runs when the request is built), each checked as the service would."""
    requests: list[tuple[str, dict]] = []
    make_client = boto3.session.Session.client

    def client(self, service, *args, **kwargs):
        made = make_client(self, service, *args, **kwargs)

        def check(params, model, **_):
            problems = service_problems(params, model.input_shape, model.name)
            assert not problems, problems
            requests.append((model.name, params))

        made.meta.events.register("before-parameter-build", check)
        return made

    monkeypatch.setattr(boto3.session.Session, "client", client)
    return requests


@pytest.fixture(scope="module")
def moto_endpoint():
    """This module's own moto server: the stages' groups have fixed names (the stacks'), so
    each test resets it, which must not touch the state of other modules' tests."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def stages(aws_client, moto_endpoint, request):
    """dev's group with an approved (1) and a pending (2) package, their artifacts in dev's
    bucket; staging's bucket, and its group (unless the test parametrizes ``stages`` with
    False), empty.

    The groups are the stacks' own names, so moto is reset first (it implements no
    DeleteModelPackageGroup) and every test starts from these two groups alone."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset",
                                                  method="POST")).read()
    sagemaker, s3 = aws_client("sagemaker"), aws_client("s3")
    dev_bucket, staging_bucket = (f"{stage}-{uuid.uuid4().hex[:8]}" for stage in ("dev", "stg"))
    for bucket in (dev_bucket, staging_bucket):
        s3.create_bucket(Bucket=bucket)
    for stage in ("dev", "staging"):
        if stage == "dev" or getattr(request, "param", True):
            sagemaker.create_model_package_group(ModelPackageGroupName=_group(stage))
    arns = []
    for version, status in ((1, "Approved"), (2, "PendingManualApproval")):
        run = f"s3://{dev_bucket}/models/diagnosis-dev-training/exec-{version}"
        for key in ("model/model.tar.gz", "evaluation/evaluation.json",
                    "baseline/statistics.json", "baseline/constraints.json"):
            s3.put_object(Bucket=dev_bucket, Key=run.split("/", 3)[3] + "/" + key,
                          Body=f"{version}:{key}".encode())
        statistics = {"ContentType": "application/json",
                      "S3Uri": f"{run}/baseline/statistics.json"}
        constraints = {"ContentType": "application/json",
                       "S3Uri": f"{run}/baseline/constraints.json"}
        arns.append(sagemaker.create_model_package(
            ModelPackageGroupName=_group("dev"), ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [{"Image": IMAGE, "ModelDataUrl": f"{run}/model/model.tar.gz",
                                "Environment": {"SAGEMAKER_PROGRAM": "training.serve.inference"}}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"]},
            ModelMetrics={"ModelQuality": {"Statistics": {
                "ContentType": "application/json",
                "S3Uri": f"{run}/evaluation/evaluation.json"}}},
            DriftCheckBaselines={"ModelDataQuality": {"Statistics": statistics,
                                                      "Constraints": constraints}},
            CustomerMetadataProperties={TRAINING_DATA_METADATA: "sha256:abc"},
            Domain="MACHINE_LEARNING", Task="CLASSIFICATION")["ModelPackageArn"])
    return {"dev_bucket": dev_bucket, "staging_bucket": staging_bucket, "arns": arns}


def promote(moto_endpoint, *extra):
    return main(["promote", "--project-dir", str(REPO_ROOT), "--endpoint-url", moto_endpoint,
                 "--from", "dev", "--to", "staging", *extra])


def staging_packages(aws_client) -> list[dict]:
    sagemaker = aws_client("sagemaker")
    return [sagemaker.describe_model_package(ModelPackageName=s["ModelPackageArn"])
            for s in sagemaker.list_model_packages(
                ModelPackageGroupName=_group("staging"))["ModelPackageSummaryList"]]


def test_promote_copies_the_artifacts_and_registers_pending_in_staging(
        moto_endpoint, aws_client, stages, sent, capsys):
    code = promote(moto_endpoint, "--version", "1", "--to-bucket", stages["staging_bucket"],
                   "--comment", "passed review")
    assert code == 0, capsys.readouterr().err
    [promoted] = staging_packages(aws_client)
    assert promoted["ModelApprovalStatus"] == "PendingManualApproval"
    metadata = promoted["CustomerMetadataProperties"]
    caller = aws_client("sts").get_caller_identity()["Arn"]
    assert metadata[PROMOTED_FROM_METADATA] == stages["arns"][0]
    assert metadata[PROMOTED_BY_METADATA] == caller
    assert metadata[PROMOTION_REASON_METADATA] == "passed review"
    assert metadata[PROMOTED_AT_METADATA].endswith("+00:00")
    assert metadata[TRAINING_DATA_METADATA] == "sha256:abc"
    s3 = aws_client("s3")
    model = promoted["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    for uri in (model, promoted["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"],
                promoted["DriftCheckBaselines"]["ModelDataQuality"]["Statistics"]["S3Uri"]):
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        assert bucket == stages["staging_bucket"]
        assert key.startswith(f"models/promoted/{_group('dev')}/1/models/")
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read().startswith(b"1:")
    operations = [name for name, _ in sent]
    assert operations.count("CreateModelPackage") == 1
    assert "GetCallerIdentity" in operations and "PutObject" in operations
    [request] = [params for name, params in sent if name == "CreateModelPackage"]
    assert request["ModelPackageGroupName"] == _group("staging")
    assert len(request["ClientToken"]) <= 36
    # A second promotion finds the first by mlops:promoted-from and creates nothing.
    assert promote(moto_endpoint, "--version", "1", "--to-bucket",
                   stages["staging_bucket"]) == 0
    assert "already promoted" in capsys.readouterr().out
    assert len(staging_packages(aws_client)) == 1


@pytest.mark.parametrize(("argv", "message"), [
    (["--version", "2"], "is PendingManualApproval: only an Approved package is promoted"),
    (["--version", "9"], "has no version 9"),
    (["--version", "1"], "--to-bucket: required against AWS"),
    (["--version", "1", "--comment", "yes; really"], "refuse: ';'"),
])
def test_refusals_against_sagemaker(moto_endpoint, aws_client, stages, sent, capsys, argv,
                                    message):
    if "--to-bucket" not in message:
        argv = [*argv, "--to-bucket", stages["staging_bucket"]]
    assert promote(moto_endpoint, *argv) == 2
    assert message in capsys.readouterr().err
    assert staging_packages(aws_client) == []
    assert "CreateModelPackage" not in [name for name, _ in sent]


@pytest.mark.parametrize("stages", [False], indirect=True)
def test_a_target_group_that_does_not_exist_is_refused(moto_endpoint, aws_client, stages,
                                                       capsys):
    assert promote(moto_endpoint, "--version", "1", "--to-bucket",
                   stages["staging_bucket"]) == 2
    err = capsys.readouterr().err
    assert f"no model package group {_group('staging')!r}" in err
    assert len(err.strip().splitlines()) == 1
    assert aws_client("s3").list_objects_v2(Bucket=stages["staging_bucket"]).get(
        "KeyCount", 0) == 0


def test_carried_fields_are_in_both_describe_and_create():
    created = SAGEMAKER.operation_model("CreateModelPackage").input_shape.members
    described = SAGEMAKER.operation_model("DescribeModelPackage").output_shape.members
    assert [f for f in CARRIED_FIELDS if f not in created or f not in described] == []


@pytest.mark.parametrize("value", [
    "passed review", "arn:aws:sts::123456789012:assumed-role/Deploy/jane@example.com",
    "2026-12-03T16:05:23+00:00", "Zürich ready", "ok, ship it", "a;b", "x" * 256, "x" * 257,
    "tab\there", "naïve 😀", "a=b+c/d_e.f-g",
])
def test_the_metadata_check_agrees_with_botocores_pattern(value):
    shape = SAGEMAKER.shape_for("CustomerMetadataMap").value
    accepted = (len(value) <= shape.metadata["max"]
                and regex.fullmatch(shape.metadata["pattern"], value) is not None)
    assert (metadata_value_problem(value) is None) is accepted
    assert regex.fullmatch(shape.metadata["pattern"], metadata_safe(value))


def test_the_promotion_keys_match_botocores_key_pattern():
    shape = SAGEMAKER.shape_for("CustomerMetadataMap").key
    for key in (PROMOTED_FROM_METADATA, PROMOTED_BY_METADATA, PROMOTED_AT_METADATA,
                PROMOTION_REASON_METADATA):
        assert len(key) <= shape.metadata["max"]
        assert regex.fullmatch(shape.metadata["pattern"], key), key


def test_a_role_session_name_with_a_comma_is_recorded_with_an_underscore():
    assert metadata_safe("arn:aws:sts::1:assumed-role/R/a,b") == \
        "arn:aws:sts::1:assumed-role/R/a_b"
    assert json.dumps(metadata_safe("x" * 300)).count("x") == 256


def test_staging_deploys_a_promoted_package_only_once_staging_approves_it(rule_to_queue):
    """The staging stack's own approval rule (as planned): a promoted package arrives pending
    and deploys nothing; staging's approval deploys it; dev's approvals never reach it."""
    from mlops_components.plan import plan_stack

    plan = plan_stack(REPO_ROOT, "staging")
    [rule] = [r for r in plan.of_type("aws:cloudwatch/eventRule:EventRule")
              if r.name.endswith("-approval-rule")]
    pattern = json.loads(rule.inputs["eventPattern"])

    def state_change(group: str, status: str) -> dict:
        arn = f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{group}/1"
        return {"Source": "aws.sagemaker", "DetailType": "SageMaker Model Package State Change",
                "Resources": [arn], "Detail": json.dumps({
                    "ModelPackageGroupName": group, "ModelPackageArn": arn,
                    "ModelPackageVersion": 1, "ModelApprovalStatus": status,
                    "ModelPackageStatus": "Completed"})}

    assert not rule_to_queue(pattern, state_change(_group("staging"), "PendingManualApproval"))
    assert rule_to_queue(pattern, state_change(_group("staging"), "Approved"))
    assert not rule_to_queue(pattern, state_change(_group("dev"), "Approved"))


class _StepsAnswered:
    """A command's SageMaker client, except ListPipelineExecutionSteps (moto lacks it):
    answered by a botocore Stubber, which checks the request against the service model."""

    def __init__(self, client: Any, steps: list[dict], arn: str):
        from botocore.stub import Stubber

        self._client = client
        self.stubbed = botocore.session.get_session().create_client(
            "sagemaker", region_name="us-east-1", aws_access_key_id="x",
            aws_secret_access_key="x")
        stubber = Stubber(self.stubbed)
        stubber.add_response("list_pipeline_execution_steps",
                             {"PipelineExecutionSteps": steps}, {"PipelineExecutionArn": arn})
        stubber.activate()

    def get_paginator(self, name: str) -> Any:
        client = self.stubbed if name == "list_pipeline_execution_steps" else self._client
        return client.get_paginator(name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_promotion_carries_the_lineage_so_the_target_reads_it_with_its_own_clients(
        moto_endpoint, aws_client, stages, sent, monkeypatch, capsys):
    """dev's package names its execution (by its model's location) and its RecordLineage
    manifest; promote copies the manifest, with the execution, its steps and the dev package,
    into staging's bucket; staging's lineage reads it there, asking nothing of dev (its
    bucket emptied, no execution call made)."""
    from mlops_components.cli.lineage import chain_lines, sagemaker_lineage
    from mlops_components.sagemaker.spec import LINEAGE_METADATA

    sagemaker, s3 = aws_client("sagemaker"), aws_client("s3")
    dev_bucket, staging_bucket = stages["dev_bucket"], stages["staging_bucket"]
    pipeline = "diagnosis-dev-training"
    sagemaker.create_pipeline(
        PipelineName=pipeline, RoleArn="arn:aws:iam::123456789012:role/pipeline",
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Parameters": [
            {"Name": "InputDataUri", "Type": "String"}], "Steps": []}))
    execution_arn = sagemaker.start_pipeline_execution(
        PipelineName=pipeline, PipelineParameters=[
            {"Name": "InputDataUri", "Value": f"s3://{dev_bucket}/raw/"}])["PipelineExecutionArn"]
    run = f"models/{pipeline}/{execution_arn.rsplit('/', 1)[-1]}"
    objects = [{"uri": f"s3://{dev_bucket}/raw/data.csv", "version_id": "3HL4kqtJlcpXroDTDmJ",
                "bytes": 12}]
    for key, body in (("model/model.tar.gz", b"model"), ("lineage/lineage.json", json.dumps({
            "execution_arn": execution_arn, "input_uri": f"s3://{dev_bucket}/raw/",
            "objects": objects}).encode()), ("evaluation/evaluation.json", json.dumps(
                {"classification_metrics": {"balanced_accuracy": {"value": 0.91}}}).encode())):
        s3.put_object(Bucket=dev_bucket, Key=f"{run}/{key}", Body=body)
    source_arn = sagemaker.create_model_package(
        ModelPackageGroupName=_group("dev"), ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{dev_bucket}/{run}/model/"
                                                            "model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        ModelMetrics={"ModelQuality": {"Statistics": {
            "ContentType": "application/json",
            "S3Uri": f"s3://{dev_bucket}/{run}/evaluation/evaluation.json"}}},
        CustomerMetadataProperties={
            TRAINING_DATA_METADATA: "sha256:abc", "mlops:gate-metric": "balanced_accuracy",
            LINEAGE_METADATA: f"s3://{dev_bucket}/{run}/lineage/lineage.json"},
    )["ModelPackageArn"]
    steps = [
        {"StepName": "Train", "StepStatus": "Succeeded", "Metadata": {"TrainingJob": {
            "Arn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/pipelines-x-train"}}},
        {"StepName": "QualityGate", "StepStatus": "Succeeded",
         "Metadata": {"Condition": {"Outcome": "True"}}}]
    make_client = boto3.session.Session.client  # `sent`'s: every request checked

    def client(self, service, *args, **kwargs):
        made = make_client(self, service, *args, **kwargs)
        return _StepsAnswered(made, steps, execution_arn) if service == "sagemaker" else made

    monkeypatch.setattr(boto3.session.Session, "client", client)

    assert promote(moto_endpoint, "--version", "3", "--to-bucket", staging_bucket,
                   "--comment", "passed dev checks") == 0, capsys.readouterr().err

    [promoted] = staging_packages(aws_client)
    copy_uri = promoted["CustomerMetadataProperties"][LINEAGE_METADATA]
    assert copy_uri == f"s3://{staging_bucket}/models/promoted/{_group('dev')}/3/lineage.json"
    assert promoted["CustomerMetadataProperties"][PROMOTED_FROM_METADATA] == source_arn
    copied = json.loads(s3.get_object(Bucket=staging_bucket, Key=copy_uri.split("/", 3)[3])[
        "Body"].read())
    assert copied["objects"] == objects and copied["execution_arn"] == execution_arn
    assert copied["execution"]["arn"] == execution_arn
    assert [step["StepName"] for step in copied["steps"]] == ["Train", "QualityGate"]
    assert [package["arn"] for package in copied["packages"]] == [source_arn]
    assert ("PutObject", {"Bucket": staging_bucket, "Key": copy_uri.split("/", 3)[3]}) in [
        (name, {key: params.get(key) for key in ("Bucket", "Key")}) for name, params in sent]
    # The dev side is gone for the reader: its objects deleted, and its calls recorded.
    for item in s3.list_objects_v2(Bucket=dev_bucket).get("Contents", []):
        s3.delete_object(Bucket=dev_bucket, Key=item["Key"])
    target_sagemaker = aws_client("sagemaker")
    target_s3 = aws_client("s3")
    calls: list[tuple[str, dict]] = []
    for made in (target_sagemaker, target_s3):
        made.meta.events.register("before-parameter-build",
                                  lambda params, model, **_: calls.append((model.name, params)))

    record = sagemaker_lineage(target_sagemaker, target_s3, _group("staging"), 1,
                               "diagnosis-staging-endpoint", "moto")

    assert not [name for name, _ in calls if "PipelineExecution" in name]
    assert {params["Bucket"] for name, params in calls if "Bucket" in params} == {
        staging_bucket}
    assert record["execution"]["arn"] == execution_arn
    assert record["data"]["objects"] == objects
    assert record["evaluation"]["quality_gate"] == "True"
    assert record["evaluation"]["metrics"] == {"balanced_accuracy": 0.91}
    assert [job["step"] for job in record["jobs"]] == ["Train"]
    assert [entry["arn"] for entry in record["earlier_packages"]] == [source_arn]
    assert record["promotion"]["from"] == source_arn
    text = "\n".join(chain_lines(record))
    assert "raw/data.csv version 3HL4kqtJlcpXroDTDmJ" in text
    assert "quality gate passed" in text and "passed dev checks" in text
    assert "pipeline/promoted" not in text
