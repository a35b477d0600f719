"""`mlops registry list`, `approve` and `reject` against SageMaker's API (a moto server)."""

from __future__ import annotations

import json
import uuid

import pytest

from mlops_components.cli import main
from tests.conftest import REPO_ROOT
from tests.integration.conftest import REGION

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"


@pytest.fixture
def group(aws_client):
    """A model package group with two packages whose metrics live in S3."""
    sagemaker, s3 = aws_client("sagemaker"), aws_client("s3")
    name = f"churn-{uuid.uuid4().hex[:6]}"
    bucket = f"bucket-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    sagemaker.create_model_package_group(ModelPackageGroupName=name)
    for version, accuracy in ((1, 0.91), (2, 0.95)):
        key = f"models/{name}/{version}/evaluation.json"
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(
            {"classification_metrics": {"accuracy": {"value": accuracy}}}).encode())
        sagemaker.create_model_package(
            ModelPackageGroupName=name,
            ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={
                "Containers": [{"Image": IMAGE,
                                "ModelDataUrl": f"s3://{bucket}/models/{version}/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"]},
            ModelMetrics={"ModelQuality": {"Statistics": {
                "ContentType": "application/json", "S3Uri": f"s3://{bucket}/{key}"}}})
    return name


def cli(moto_endpoint, *arguments):
    return main([*arguments, "--project-dir", str(REPO_ROOT), "--region", REGION,
                 "--endpoint-url", moto_endpoint])


def statuses(aws_client, group):
    sagemaker = aws_client("sagemaker")
    summaries = sagemaker.list_model_packages(ModelPackageGroupName=group)[
        "ModelPackageSummaryList"]
    return {sagemaker.describe_model_package(ModelPackageName=s["ModelPackageArn"])[
        "ModelPackageVersion"]: s["ModelApprovalStatus"] for s in summaries}


def test_list_shows_every_version_with_its_metrics(moto_endpoint, group, capsys,
                                                   monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # one table row per line
    assert cli(moto_endpoint, "registry", "list", "--group", group) == 0
    out = capsys.readouterr().out
    assert "accuracy=0.9100" in out and "accuracy=0.9500" in out
    assert out.count("PendingManualApproval") == 2


def test_approve_a_version_and_reject_the_latest(moto_endpoint, aws_client, group):
    assert cli(moto_endpoint, "approve", "--group", group, "--version", "1",
               "--comment", "reviewed") == 0
    assert statuses(aws_client, group) == {1: "Approved", 2: "PendingManualApproval"}
    assert cli(moto_endpoint, "reject", "--group", group) == 0
    assert statuses(aws_client, group) == {1: "Approved", 2: "Rejected"}


def test_unknown_version_is_named_and_nothing_changes(moto_endpoint, aws_client, group,
                                                       capsys):
    assert cli(moto_endpoint, "approve", "--group", group, "--version", "7") == 2
    assert f"group {group!r} has no version 7 (versions: 1, 2)" in capsys.readouterr().err
    assert set(statuses(aws_client, group).values()) == {"PendingManualApproval"}


def test_unknown_group_is_named(moto_endpoint, aws_client, capsys):
    code = cli(moto_endpoint, "approve", "--group", "no-such-group")
    assert code == 2
    assert "no-such-group" in capsys.readouterr().err


@pytest.mark.parametrize("state", ["no-group", "empty-group"])
def test_status_and_list_agree_on_an_empty_registry_in_sagemaker(moto_endpoint, aws_client,
                                                                  capsys, monkeypatch, state):
    """A group SageMaker does not hold is bad input to both (exit 2, one line naming it); a
    group that holds nothing yet is a fact to both (exit 0)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    name = f"empty-{uuid.uuid4().hex[:6]}"
    if state == "empty-group":
        aws_client("sagemaker").create_model_package_group(ModelPackageGroupName=name)
    codes = {}
    for verb in (["status"], ["registry", "list"]):
        codes[verb[0]] = cli(moto_endpoint, *verb, "--group", name)
        err = capsys.readouterr().err
        if codes[verb[0]] == 2:
            assert len(err.strip().splitlines()) == 1 and name in err, err
    assert codes == ({"status": 2, "registry": 2} if state == "no-group"
                     else {"status": 0, "registry": 0})


@pytest.mark.parametrize("state", ["no-workdir", "empty-workdir", "empty-group",
                                   "other-group"])
def test_status_and_list_agree_on_an_empty_local_registry(tmp_path, capsys, state):
    from mlops_components.local.registry import LocalRegistry

    workdir = tmp_path / "workdir"
    group = "churn"
    if state != "no-workdir":
        workdir.mkdir()
    if state == "empty-group":
        (workdir / "registry" / group).mkdir(parents=True)
    if state == "other-group":
        LocalRegistry(workdir / "registry").register({"ModelPackageGroupName": "fraud"})
    codes = {}
    for verb in (["status"], ["registry", "list"]):
        codes[verb[0]] = main([*verb, "--local", "--project-dir", str(REPO_ROOT), "--workdir",
                               str(workdir), "--group", group])
        err = capsys.readouterr().err
        if codes[verb[0]] == 2:
            assert len(err.strip().splitlines()) == 1, err
    expected = 0 if state == "empty-group" else 2
    assert codes == {"status": expected, "registry": expected}
