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


def test_the_planned_deployer_policy_allows_what_a_forwarded_deployment_reads(
        moto_endpoint, monkeypatch):
    """The component's own mapping (validate -> deployer config -> Lambda environment) for a
    deployment account; every registry-side read the deployer makes (the package, the
    baseline objects in the registry's bucket) and the write of the deployed baseline are
    allowed by the planned role policy, resource by resource."""
    import fnmatch
    import json
    from urllib.parse import unquote

    from mlops_components.components.model_endpoint import (
        ModelEndpointArgs,
        _deployer_config,
        _deployer_policy,
        _validate,
        endpoint_alarm_names,
    )

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    sm = WithUpdates(boto3.client("sagemaker", region_name=REGION,
                                  endpoint_url=moto_endpoint), moto_endpoint)
    registry_bucket, own_bucket = f"registry-{uuid.uuid4().hex[:8]}", \
        f"deploy-{uuid.uuid4().hex[:8]}"
    arn, group, s3 = registered_package(sm, moto_endpoint, registry_bucket)
    s3.create_bucket(Bucket=own_bucket)
    key = f"arn:aws:kms:{REGION}:{REGISTRY_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    args = ModelEndpointArgs(bucket_name=own_bucket, model_package_group_name=group_arn(group),
                             registry_bucket_name=registry_bucket, registry_kms_key_arn=key,
                             endpoint_name=f"ep-{uuid.uuid4().hex[:8]}")
    settings_ = _validate("churn", args)
    role = f"arn:aws:iam::{DEPLOYMENT_ACCOUNT}:role/model"
    config = deployer.Config.from_env(_deployer_config(
        settings_, endpoint_alarm_names(settings_.endpoint_name), {}, role, own_bucket,
        group_arn(group), None).to_env())
    assert config.registry_account == REGISTRY_ACCOUNT
    resources: list[tuple[str, str]] = []

    def record(params, model, **_):
        if model.name == "DescribeModelPackage":
            resources.append(("sagemaker:DescribeModelPackage", params["ModelPackageName"]))
        elif model.name == "CopyObject":
            source = params["CopySource"]  # botocore may have made it "bucket/key" already
            source = source if isinstance(source, str) else \
                f"{source['Bucket']}/{source['Key']}"
            resources.append(("s3:GetObject", f"arn:aws:s3:::{unquote(source)}"))
            resources.append(("s3:PutObject",
                              f"arn:aws:s3:::{params['Bucket']}/{params['Key']}"))

    for client in (sm.client, s3):
        client.meta.events.register("before-parameter-build", record)
    deployer.deploy(forwarded(arn, group), config, sm, s3=s3)
    deployer.handle(in_service(config.endpoint_name), config, sm, s3=s3)
    policy = json.loads(_deployer_policy(
        settings_, group_arn(group), role, f"arn:aws:sqs:{REGION}:{DEPLOYMENT_ACCOUNT}:dlq",
        f"arn:aws:logs:{REGION}:{DEPLOYMENT_ACCOUNT}:log-group:/aws/lambda/d", "aws", REGION,
        DEPLOYMENT_ACCOUNT, None, own_bucket))
    assert {action for action, _ in resources} == {
        "sagemaker:DescribeModelPackage", "s3:GetObject", "s3:PutObject"}
    for action, resource in resources:
        assert any(action in s["Action"] and any(fnmatch.fnmatchcase(resource, pattern)
                                                 for pattern in s["Resource"])
                   for s in policy["Statement"]), f"{action} on {resource} is not allowed"
    registry_reads = [s for s in policy["Statement"] if s["Sid"].startswith("ReadRegistry")]
    assert [s["Resource"] for s in registry_reads] == [
        [f"arn:aws:s3:::{registry_bucket}/models/*"], [key]]
