"""Every rule of the policy pack as a pair: real pulumi-aws resources under Pulumi's mocks
(the recording mocks `mlops preview` uses, awaited to the end), then the pack's own
pulumi-policy objects run on that plan the way the analyzer would.

A non-compliant case names the property its message must mention; every message also
names the resource."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi_aws as aws
import pytest

from mlops_components.policy.offline import evaluate_policies
from mlops_components.policy.policies import build_policies
from tests.unit import policy_stacks as s


@dataclass(frozen=True)
class Case:
    policy: str
    program: Callable[[], Any]
    violates: str | None
    """A property the violation message names; None for a compliant case."""
    resource: str = ""
    """The resource the violation is reported against (logical name)."""
    stack: str = "prod"
    config: dict[str, Any] | None = None


WRITE_ON_STAR = {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": "*"}
PASS_ROLE = {"Effect": "Allow", "Action": "iam:PassRole", "Resource": s.ROLE_ARN,
             "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}}
NO_NETWORK = {"sagemaker-network-isolation": {"allowNetworkAccess": True}}
WITH_KEY = {"sagemaker-kms-when-stack-has-key": {"kmsKeyArn": s.KEY_ARN}}
WITH_SUBNETS = {"sagemaker-vpc-when-subnets": {"subnetIds": s.SUBNETS}}


def _full_access() -> None:
    role = s.role_policy({"Effect": "Allow", "Action": "s3:GetObject",
                          "Resource": "arn:aws:s3:::data/*"})
    aws.iam.RolePolicyAttachment("attach", role=role.name,
                                 policy_arn="arn:aws:iam::aws:policy/AmazonS3FullAccess")


def _read_only_attached() -> None:
    role = s.role_policy({"Effect": "Allow", "Action": "s3:GetObject",
                          "Resource": "arn:aws:s3:::data/*"})
    aws.iam.RolePolicyAttachment("attach", role=role.name,
                                 policy_arn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")


def _untagged_queue() -> None:
    aws.sqs.Queue("queue", sqs_managed_sse_enabled=True, tags={"owner": "ml-platform"})


def _key_in_stack(kms: str | None) -> Callable[[], None]:
    def program() -> None:
        aws.kms.Key("key", tags=s.TAGS)
        s.endpoint_config(kms=kms)
    return program


CASES = [
    # S3: a bucket and its separate resources (stack validation)
    Case("s3-sse-kms", lambda: s.bucket(), None),
    Case("s3-sse-kms", lambda: s.bucket(sse="AES256"), "sseAlgorithm", "data"),
    Case("s3-sse-kms", lambda: s.bucket(sse=None), "sseAlgorithm", "data"),
    Case("s3-public-access-block", lambda: s.bucket(), None),
    Case("s3-public-access-block", lambda: s.bucket(blocks={"restrict_public_buckets": False}),
         "restrictPublicBuckets", "data"),
    Case("s3-public-access-block", lambda: s.bucket(public_access_block=False),
         "blockPublicAcls", "data"),
    Case("s3-tls-only", lambda: s.bucket(), None),
    Case("s3-tls-only", lambda: s.bucket(tls=False), "aws:SecureTransport", "data"),
    Case("s3-versioning", lambda: s.bucket(), None),
    Case("s3-versioning", lambda: s.bucket(versioning="Suspended"),
         "versioningConfiguration.status", "data"),
    Case("s3-versioning", lambda: s.bucket(versioning=None), "versioningConfiguration.status",
         "data"),
    Case("s3-lifecycle-capture-reports", lambda: s.bucket(), None),
    Case("s3-lifecycle-capture-reports", lambda: s.bucket(lifecycle=("capture/",)),
         "reports/", "data"),
    # IAM
    Case("iam-no-wildcard-action", lambda: s.role_policy(
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::data/*"}),
        None),
    Case("iam-no-wildcard-action", lambda: s.role_policy(
        {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::data/*"}),
        "Statement[0]", "jobs-policy"),
    Case("iam-no-wildcard-action", lambda: s.role_policy(
        {"Effect": "Allow", "Action": ["sagemaker:*"], "Resource": "*"}),
        "Statement[0]", "jobs-policy"),
    Case("iam-no-wildcard-resource-write", lambda: s.role_policy(
        {"Effect": "Allow", "Action": ["sagemaker:ListModels"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["cloudwatch:PutMetricData"], "Resource": "*",
         "Condition": {"StringEquals": {"cloudwatch:namespace": "MLOps/Drift"}}}), None),
    Case("iam-no-wildcard-resource-write", lambda: s.role_policy(WRITE_ON_STAR),
         "Resource", "jobs-policy"),
    Case("iam-no-full-access-managed-policies", _read_only_attached, None),
    Case("iam-no-full-access-managed-policies", _full_access, "policyArn", "attach"),
    Case("iam-pass-role-scoped", lambda: s.role_policy(PASS_ROLE), None),
    Case("iam-pass-role-scoped", lambda: s.role_policy({**PASS_ROLE, "Resource": "*"}),
         "iam:PassRole", "jobs-policy"),
    Case("iam-pass-role-scoped", lambda: s.role_policy(
        {key: value for key, value in PASS_ROLE.items() if key != "Condition"}),
        "iam:PassedToService", "jobs-policy"),
    # SageMaker
    Case("sagemaker-network-isolation", lambda: s.pipeline(
        s.processing(), s.training(), s.tuning(), s.gate(s.processing("Evaluate"))), None),
    Case("sagemaker-network-isolation", lambda: s.pipeline(s.processing(isolated=False)),
         "NetworkConfig.EnableNetworkIsolation", "training"),
    Case("sagemaker-network-isolation", lambda: s.pipeline(s.training(isolated=False)),
         "EnableNetworkIsolation", "training"),
    Case("sagemaker-network-isolation", lambda: s.pipeline(s.tuning(isolated=False)),
         "EnableNetworkIsolation", "training"),
    Case("sagemaker-network-isolation", lambda: s.pipeline(
        s.gate(s.processing("Evaluate", isolated=False))), "EnableNetworkIsolation", "training"),
    Case("sagemaker-network-isolation", lambda: s.model(isolated=False),
         "enableNetworkIsolation", "model"),
    Case("sagemaker-network-isolation", lambda: s.model(), None),
    Case("sagemaker-network-isolation", lambda: s.pipeline(s.processing(isolated=False)),
         None, config=NO_NETWORK),
    Case("sagemaker-network-isolation", lambda: s.pipeline(
        s.processing("DriftCheck", isolated=False),
        tags={**s.TAGS, "mlops:network-access": "DriftCheck"}), None),
    Case("sagemaker-kms-when-stack-has-key", lambda: s.pipeline(s.processing(), s.training()),
         None),
    Case("sagemaker-kms-when-stack-has-key", lambda: s.pipeline(
        s.processing(kms=s.KEY_ARN), s.training(kms=s.KEY_ARN), s.tuning(kms=s.KEY_ARN)),
        None, config=WITH_KEY),
    Case("sagemaker-kms-when-stack-has-key", lambda: s.pipeline(s.training()),
         "ResourceConfig.VolumeKmsKeyId", "training", config=WITH_KEY),
    Case("sagemaker-kms-when-stack-has-key", lambda: s.pipeline(s.processing()),
         "ProcessingOutputConfig.KmsKeyId", "training", config=WITH_KEY),
    Case("sagemaker-kms-when-stack-has-key", _key_in_stack(None), "kmsKeyArn",
         "endpoint-config"),
    Case("sagemaker-kms-when-stack-has-key", _key_in_stack(s.KEY_ARN), None),
    Case("sagemaker-endpoint-data-capture", lambda: s.endpoint_config(), None),
    Case("sagemaker-endpoint-data-capture", lambda: s.endpoint_config(capture=False),
         "dataCaptureConfig", "endpoint-config"),
    Case("sagemaker-endpoint-data-capture",
         lambda: s.endpoint_config(serverless=True, capture=False), None),
    Case("sagemaker-vpc-when-subnets", lambda: s.pipeline(
        s.processing(vpc=s.VPC), s.training(vpc=s.VPC)), None, config=WITH_SUBNETS),
    Case("sagemaker-vpc-when-subnets", lambda: s.pipeline(s.training()),
         "VpcConfig.Subnets", "training", config=WITH_SUBNETS),
    Case("sagemaker-vpc-when-subnets", lambda: s.model(), "vpcConfig", "model",
         config=WITH_SUBNETS),
    Case("sagemaker-vpc-when-subnets", lambda: s.pipeline(s.training()), None),
    Case("sagemaker-allowed-registries", lambda: s.pipeline(
        s.processing(), s.training(), s.tuning(), s.register()), None),
    Case("sagemaker-allowed-registries", lambda: s.pipeline(
        s.processing(image=s.FOREIGN_IMAGE)), "AppSpecification.ImageUri", "training"),
    Case("sagemaker-allowed-registries", lambda: s.pipeline(
        s.register(image=s.FOREIGN_IMAGE)), "InferenceSpecification.Containers[0].Image",
        "training"),
    Case("sagemaker-allowed-registries", lambda: s.pipeline(
        s.training(image={"Get": "Parameters.Image"})), "TrainingImage", "training"),
    Case("sagemaker-allowed-registries", lambda: s.pipeline(
        s.processing(image=s.FOREIGN_IMAGE)), None,
        config={"sagemaker-allowed-registries": {"allowedRegistries": ["docker.io"]}}),
    # EventBridge, Lambda, SQS
    Case("eventbridge-target-retry-and-dlq", lambda: s.event_target(), None),
    Case("eventbridge-target-retry-and-dlq", lambda: s.event_target(retry=False),
         "retryPolicy", "retrain-target"),
    Case("eventbridge-target-retry-and-dlq", lambda: s.event_target(dlq=False),
         "deadLetterConfig", "retrain-target"),
    Case("lambda-failure-destination", lambda: s.function(), None),
    Case("lambda-failure-destination", lambda: s.function(dlq=False, on_failure=True), None),
    Case("lambda-failure-destination", lambda: s.function(dlq=False),
         "destinationConfig.onFailure", "gate"),
    Case("lambda-log-group-retention", lambda: s.function(), None),
    Case("lambda-log-group-retention", lambda: s.function(log_group=False), "LogGroup",
         "gate"),
    Case("lambda-log-group-retention", lambda: s.function(retention=None), "retentionInDays",
         "gate"),
    Case("sqs-encrypted", lambda: aws.sqs.Queue("queue", kms_master_key_id=s.KEY_ARN,
                                                tags=s.TAGS), None),
    Case("sqs-encrypted", lambda: aws.sqs.Queue("queue", tags=s.TAGS),
         "sqsManagedSseEnabled", "queue"),
    # tags
    Case("required-tags", lambda: aws.sqs.Queue("queue", sqs_managed_sse_enabled=True,
                                                tags=s.TAGS), None),
    Case("required-tags", _untagged_queue, "tags", "queue"),
    Case("required-tags", lambda: s.bucket(tags=None), "tags", "data"),
    Case("required-tags", _untagged_queue, None,
         config={"required-tags": {"requiredTags": ["owner"]}}),
    # advisory
    Case("dev-idle-instance-endpoint", lambda: s.endpoint_config(serverless=True), None,
         stack="dev"),
    Case("dev-idle-instance-endpoint", lambda: s.endpoint_config(), "productionVariants",
         "endpoint-config", stack="dev"),
    Case("dev-idle-instance-endpoint", lambda: s.endpoint_config(), None, stack="prod"),
    Case("dev-spot-training", lambda: s.pipeline(s.training(spot=True)), None, stack="dev"),
    Case("dev-spot-training", lambda: s.pipeline(s.training(spot=False)),
         "EnableManagedSpotTraining", "training", stack="dev"),
    Case("dev-spot-training", lambda: s.pipeline(s.tuning(spot=False)),
         "EnableManagedSpotTraining", "training", stack="team-dev"),
    Case("capture-retention-max", lambda: s.bucket(capture_days=365), None),
    Case("capture-retention-max", lambda: s.bucket(capture_days=400), "expiration.days",
         "data-lifecycle"),
]


def _id(case: Case) -> str:
    return f"{case.policy}-{'breaks-' + case.violates if case.violates else 'complies'}"


@pytest.mark.parametrize("case", CASES, ids=[_id(case) for case in CASES])
def test_rule(case, run_pulumi):
    plan = run_pulumi(case.program, stack=case.stack)
    violations = [violation for violation in evaluate_policies(plan, case.config)
                  if violation.policy == case.policy]
    if case.violates is None:
        assert violations == [], [violation.line() for violation in violations]
        return
    assert violations, f"{case.policy} found nothing"
    for violation in violations:
        assert violation.resource_name == case.resource, violation.line()
        assert f"'{case.resource}'" in violation.message
    assert any(case.violates in violation.message for violation in violations), \
        [violation.message for violation in violations]


def test_every_policy_has_a_compliant_and_a_non_compliant_case():
    names = {policy.name for policy in build_policies()}
    compliant = {case.policy for case in CASES if case.violates is None}
    breaking = {case.policy for case in CASES if case.violates is not None}
    assert compliant == names
    assert breaking == names


def test_advisory_rules_do_not_block(run_pulumi):
    plan = run_pulumi(lambda: s.endpoint_config(), stack="dev")
    violations = [v for v in evaluate_policies(plan) if v.policy == "dev-idle-instance-endpoint"]
    assert [v.enforcement for v in violations] == ["advisory"]


def test_enforcement_levels_are_configurable_like_the_pack(run_pulumi):
    plan = run_pulumi(lambda: aws.sqs.Queue("queue", tags=s.TAGS))
    levels = {v.policy: v.enforcement for v in evaluate_policies(
        plan, {"sqs-encrypted": "advisory", "required-tags": {"enforcementLevel": "disabled"}})}
    assert levels == {"sqs-encrypted": "advisory"}


def test_a_raw_stack_breaking_every_rule_is_caught(run_pulumi):
    """One stack of raw pulumi-aws resources with one offence per rule: each rule fires."""

    def program() -> None:
        s.bucket("raw", sse="AES256", blocks={"block_public_acls": False}, tls=False,
                 versioning="Suspended", lifecycle=("capture/",), capture_days=3650)
        s.role_policy({"Effect": "Allow", "Action": "*", "Resource": "*"},
                      {key: value for key, value in PASS_ROLE.items() if key != "Condition"})
        _full_access()
        aws.kms.Key("key", tags=s.TAGS)
        s.pipeline(s.processing(isolated=False, image=s.FOREIGN_IMAGE), s.training(spot=False),
                   tags={"owner": "nobody"})
        s.model(isolated=False)
        s.endpoint_config(capture=False)
        s.event_target(retry=False, dlq=False)
        s.function(dlq=False, log_group=False)
        aws.sqs.Queue("plain", tags=s.TAGS)

    plan = run_pulumi(program, stack="dev")
    fired = {v.policy for v in evaluate_policies(plan, WITH_SUBNETS)}
    assert fired == {policy.name for policy in build_policies()}


def test_messages_are_one_line(run_pulumi):
    plan = run_pulumi(lambda: s.role_policy(WRITE_ON_STAR, {**PASS_ROLE, "Resource": "*"}))
    for violation in evaluate_policies(plan):
        line = violation.line()
        assert "\n" not in line
        assert line.startswith(f"{violation.enforcement:<10} {violation.policy}  "
                               f"{violation.resource_type} {violation.resource_name}: ")
        json.dumps(violation.to_json())
