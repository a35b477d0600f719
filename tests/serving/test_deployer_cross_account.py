"""A deployment account's deployer: the registry account's approvals, forwarded to this
account's bus, deploy that account's packages; nothing else does.

moto is one account (123456789012), so it plays the registry account: the deployer is given
its group as an ARN (as a deployment stack's config gives it) and the forwarded event carries
that account in ``account``, as EventBridge keeps the source account when it forwards an
event to another account's bus. Every call goes through real botocore clients (moto's
server), so each request is validated against the service model.
"""

from __future__ import annotations

import uuid

import boto3
import pytest

from mlops_components.functions import deployer
from tests.serving.test_deployer import (
    REGION,
    WithUpdates,
    in_service,
    registered_package,
    settings,
    tags_of,
)

REGISTRY_ACCOUNT = "123456789012"
"""moto's account: the registry account of these tests."""
DEPLOYMENT_ACCOUNT = "210987654321"


def forwarded(arn: str, group: str, account: str = REGISTRY_ACCOUNT) -> dict:
    """The approval event as the deployment account's default bus receives it."""
    return {"version": "0", "id": str(uuid.uuid4()), "account": account, "region": REGION,
            "source": "aws.sagemaker", "detail-type": "SageMaker Model Package State Change",
            "time": "2026-12-03T16:00:00Z", "resources": [arn],
            "detail": {"ModelPackageGroupName": group, "ModelPackageArn": arn,
                       "ModelPackageVersion": 1, "ModelApprovalStatus": "Approved",
                       "ModelPackageStatus": "Completed"}}


def group_arn(group: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{REGISTRY_ACCOUNT}:model-package-group/{group}"


@pytest.fixture
def sm(moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return WithUpdates(boto3.client("sagemaker", region_name=REGION,
                                    endpoint_url=moto_endpoint), moto_endpoint)


@pytest.fixture
def registry_package(sm, moto_endpoint):
    """A package of the registry's group, its baselines in the registry's bucket; the
    deployment account's own bucket, empty."""
    registry_bucket = f"registry-{uuid.uuid4().hex[:8]}"
    own_bucket = f"deploy-{uuid.uuid4().hex[:8]}"
    arn, group, s3 = registered_package(sm, moto_endpoint, registry_bucket)
    s3.create_bucket(Bucket=own_bucket)
    config = settings(MODEL_PACKAGE_GROUP=group_arn(group), REGISTRY_BUCKET=registry_bucket,
                      BASELINE_S3_URI=f"s3://{own_bucket}/models/churn/deployed-baseline/")
    return arn, group, s3, own_bucket, config


def test_the_config_reads_the_registry_account_from_the_group_arn(registry_package):
    *_, config = registry_package
    assert config.registry_account == REGISTRY_ACCOUNT
    assert config.group_name == registry_package[1]
    assert deployer.Config.from_env(config.to_env()) == config
    assert settings().registry_account == ""  # a group name: this account's own group


def test_a_forwarded_approval_deploys_and_copies_the_baseline_from_the_registry_bucket(
        sm, registry_package):
    arn, group, s3, own_bucket, config = registry_package
    outcome = deployer.deploy(forwarded(arn, group), config, sm, s3=s3)
    assert outcome.action == "created", outcome.reason
    deployer.handle(in_service(config.endpoint_name), config, sm, s3=s3)
    endpoint = sm.describe_endpoint(EndpointName=config.endpoint_name)
    assert tags_of(sm, endpoint["EndpointArn"])["mlops:model-package-arn"] == arn
    copied = s3.list_objects_v2(Bucket=own_bucket, Prefix="models/churn/deployed-baseline/")
    assert sorted(o["Key"].rsplit("/", 1)[1] for o in copied["Contents"]) == [
        "constraints.json", "statistics.json"]


@pytest.mark.parametrize("account", [DEPLOYMENT_ACCOUNT, None])
def test_an_approval_of_a_same_named_group_from_another_account_deploys_nothing(
        sm, registry_package, account):
    arn, group, s3, _, config = registry_package
    event = forwarded(arn, group, account)
    if account is None:
        del event["account"]
    outcome = deployer.deploy(event, config, sm, s3=s3)
    assert outcome.action == "skipped"
    assert f"not the registry account '{REGISTRY_ACCOUNT}'" in outcome.reason
    assert config.endpoint_name not in [e["EndpointName"] for e in sm.list_endpoints()[
        "Endpoints"]]


def test_a_group_arn_that_is_not_one_is_refused():
    with pytest.raises(deployer.ConfigError, match="MODEL_PACKAGE_GROUP must be a group name "
                                                   "or a model package group ARN"):
        settings(MODEL_PACKAGE_GROUP="arn:aws:sagemaker:us-east-1:1:model-package/x/1")
