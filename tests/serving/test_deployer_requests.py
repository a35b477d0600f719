"""Every configuration ModelEndpoint accepts: every request the deployer sends is one botocore
accepts.

For each endpoint kind x deployment strategy x capture x autoscaling x KMS x VPC that
`validate_endpoint_args` accepts, the deployer's settings are built by the component's own
mapping (`_deployer_config`, then the Lambda environment round trip), and the deployer is
driven through the first deployment, InService, an update, InService again and the destroy
hook with REAL botocore clients: moto's server where it implements the API, botocore's
Stubber for UpdateEndpoint (moto has none). botocore validates each request against the
service model before it leaves the client, so a ParamValidationError fails the test (as it
would fail the Lambda). A `before-call` hook counts the requests that passed validation,
and the component's planned role policy for the same configuration must grant every action
the deployer used, plus what AWS checks for the caller behind it (DescribeAlarms on
UpdateEndpoint's rollback alarms; DescribeEndpoint and UpdateEndpointWeightsAndCapacities
behind RegisterScalableTarget).
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections import Counter

import boto3
import pytest

from mlops_components.components.model_endpoint import (
    AutoscalingArgs,
    DeploymentStrategy,
    EndpointKind,
    ModelEndpointArgs,
    _deployer_config,
    _deployer_policy,
    _validate,
    endpoint_alarm_names,
)
from mlops_components.functions import deployer
from mlops_components.validation import ValidationError
from tests.serving.test_deployer import REGION, WithUpdates

KMS = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = "arn:aws:iam::123456789012:role/model"
"""The deployer's requests that passed botocore's validation, by operation (not the test's
own set-up and checks)."""
_DEPLOYER_CALLING = [False]
_THIS_CONFIGURATION: Counter[str] = Counter()
#: Permissions AWS checks for the caller beyond the API's own action.
IMPLIED = {
    "s3:CopyObject": ["s3:GetObject", "s3:PutObject"],
    "application-autoscaling:RegisterScalableTarget": [
        "sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"],
}
"""UpdateEndpoint with AutoRollbackConfiguration also needs cloudwatch:DescribeAlarms on the
alarms (checked below from the request itself)."""


def configurations() -> list[tuple[str, ModelEndpointArgs]]:
    """Every combination the component accepts (refused ones are skipped, and counted)."""
    accepted = []
    for kind, strategy, capture, scaling, kms, vpc in itertools.product(
            EndpointKind, DeploymentStrategy, (True, False), (True, False), (True, False),
            (True, False)):
        args = ModelEndpointArgs(
            bucket_name="placeholder", model_package_group_name="placeholder", kind=kind,
            deployment_strategy=strategy, capture_sampling_percent=20 if capture else 0,
            autoscaling=AutoscalingArgs(1, 3) if scaling else None,
            kms_key_arn=KMS if kms else None,
            subnet_ids=["subnet-0123abcd"] if vpc else (),
            security_group_ids=["sg-0123abcd"] if vpc else ())
        try:
            _validate("churn", args)
        except ValidationError:
            continue
        label = (f"{kind.value}-{strategy.value}-capture_{capture}-scaling_{scaling}-"
                 f"kms_{kms}-vpc_{vpc}")
        accepted.append((label, args))
    return accepted


CONFIGURATIONS = configurations()


def test_the_table_covers_every_accepted_combination():
    # serverless: all_at_once only, no autoscaling, no VPC -> capture x KMS = 4
    # instances: 3 strategies x capture x autoscaling x KMS x VPC = 48
    assert len(CONFIGURATIONS) == 52


def counted(client):
    def count(model, **_):
        if _DEPLOYER_CALLING[0]:
            _THIS_CONFIGURATION[f"{client.meta.service_model.service_name}:{model.name}"] += 1
    client.meta.events.register("before-call.*.*", count)
    return client


def register_package(sm, s3, bucket: str, group: str) -> str:
    prefix = f"models/churn-training/exec-{uuid.uuid4().hex[:6]}/baseline"
    quality = {}
    for part in ("Statistics", "Constraints"):
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{part.lower()}.json", Body=b"{}")
        quality[part] = {"ContentType": "application/json",
                         "S3Uri": f"s3://{bucket}/{prefix}/{part.lower()}.json"}
    return sm.create_model_package(
        ModelPackageGroupName=group, ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": "image", "ModelDataUrl": f"s3://{bucket}/m.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"]},
        DriftCheckBaselines={"ModelDataQuality": quality})["ModelPackageArn"]


def approval(arn: str, group: str) -> dict:
    return {"source": "aws.sagemaker", "detail-type": "SageMaker Model Package State Change",
            "detail": {"ModelPackageGroupName": group, "ModelPackageArn": arn,
                       "ModelPackageVersion": int(arn.rsplit("/", 1)[1]),
                       "ModelApprovalStatus": "Approved", "ModelPackageStatus": "Completed"}}


def in_service(endpoint: str) -> dict:
    return {"source": "aws.sagemaker", "detail-type": "SageMaker Endpoint State Change",
            "detail": {"EndpointName": endpoint, "EndpointStatus": "IN_SERVICE"}}


@pytest.mark.slow  # 52 configurations: the full suite runs the sweep
@pytest.mark.parametrize("args", [args for _, args in CONFIGURATIONS],
                         ids=[label for label, _ in CONFIGURATIONS])
def test_create_update_and_delete_send_only_requests_botocore_accepts(
        args, moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    def client(service: str):
        return counted(boto3.client(service, region_name=REGION, endpoint_url=moto_endpoint))

    sm = WithUpdates(client("sagemaker"), moto_endpoint)
    counted(sm.checker)
    s3, scaling, cloudwatch = client("s3"), client("application-autoscaling"), \
        client("cloudwatch")
    bucket, group = f"data-{uuid.uuid4().hex[:8]}", f"churn-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    sm.create_model_package_group(ModelPackageGroupName=group)
    endpoint = f"ep-{uuid.uuid4().hex[:8]}"
    _THIS_CONFIGURATION.clear()
    settings = _validate(endpoint, args)
    config = _deployer_config(settings, endpoint_alarm_names(endpoint), {"team": "ml"}, ROLE,
                              bucket, group, args.kms_key_arn)
    config = deployer.Config.from_env(config.to_env())  # what the Lambda reads
    clients = dict(sm=sm, autoscaling=scaling, s3=s3, cloudwatch=cloudwatch)

    def handle(event: dict) -> deployer.Outcome:
        _DEPLOYER_CALLING[0] = True
        try:
            return deployer.handle(event, config, **clients)
        finally:
            _DEPLOYER_CALLING[0] = False

    first = register_package(sm, s3, bucket, group)
    assert handle(approval(first, group)).action == "created"
    handle(in_service(endpoint))
    second = register_package(sm, s3, bucket, group)
    assert handle(approval(second, group)).action == "updated"
    [update] = sm.updates
    routing = (update.get("DeploymentConfig") or {}).get("BlueGreenUpdatePolicy", {}).get(
        "TrafficRoutingConfiguration")
    assert (routing is None) is (args.kind == EndpointKind.SERVERLESS)
    sm.finish(endpoint)
    handle(in_service(endpoint))
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(
        ResourceArn=sm.describe_endpoint(EndpointName=endpoint)["EndpointArn"])["Tags"]}
    assert tags["mlops:model-package-arn"] == second
    hook = {deployer.CLEANUP_MARKER: endpoint}
    outcome = handle({**hook, "tf": {"action": "delete", "prev_input": hook}})
    assert json.loads(outcome.reason)["endpoints"] == [endpoint]
    allowed_for_what_it_called(settings, group, bucket, args.kms_key_arn, update)


def allowed_for_what_it_called(settings, group: str, bucket: str, kms: str | None,
                               update: dict) -> None:
    """The planned role policy allows every action the deployer used (resources aside)."""
    policy = json.loads(_deployer_policy(
        settings, group, ROLE, "arn:aws:sqs:us-east-1:123456789012:dlq",
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/d", "aws", REGION,
        "123456789012", kms, bucket))
    granted = {action: statement["Resource"] for statement in policy["Statement"]
               for action in statement["Action"]}
    needed = {}
    for call in _THIS_CONFIGURATION:
        for implied in IMPLIED.get(call, [call]):
            needed[implied] = call
    rollback = (update.get("DeploymentConfig") or {}).get("AutoRollbackConfiguration")
    for alarm in (rollback or {}).get("Alarms", []):
        resources = granted.get("cloudwatch:DescribeAlarms", [])
        assert any(r == "*" or r.endswith(f":alarm:{alarm['AlarmName']}") for r in resources), \
            f"UpdateEndpoint rolls back on {alarm['AlarmName']} but may not describe it"
    missing = {action: call for action, call in needed.items() if action not in granted}
    assert not missing, f"the deployer's role lacks {missing}"
    _THIS_CONFIGURATION.clear()
