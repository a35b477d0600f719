"""Sharing approved packages from a registry account with deployment accounts.

The registry stack (prod with two reader accounts) and a deployment stack (prod with the
registry's group, bucket and key) are planned offline; their resource policies, bucket
policy, key policy and forwarding role are checked as documents (exact actions, principals,
resources, conditions), then sent to moto's server as the provider would send them
(PutBucketPolicy, CreateKey with the policy, PutRule/PutTargets, PutPermission), every
request validated by botocore. moto delivers a rule's event-bus target to the other
account's bus (accounts chosen with its ``x-moto-account-id`` header), so the forwarding is
run end to end; the deployment rule's ``account`` filter is checked against real-shaped
forwarded events (moto re-emits a forwarded event under the receiving account, EventBridge
keeps the source account).
"""

from __future__ import annotations

import json
import uuid
from functools import cache

import pytest

from mlops_components.components.data_bucket import READER_KEY_ACTIONS
from mlops_components.components.model_registry import READER_ACTIONS, approval_event_pattern
from mlops_components.config import parse_config
from mlops_components.local.events import matches as local_matches
from mlops_components.plan import Plan, plan_stack
from mlops_components.policy.offline import evaluate_policies, stack_policy_config
from mlops_components.project import load_project
from mlops_components.validation import ValidationError
from tests.conftest import REPO_ROOT, only
from tests.integration.conftest import REGION, delivered_event

REGISTRY = "123456789012"
"""The registry account: the mock engine's and moto's default account."""
READERS = ("111122223333", "444455556666")
KEY = f"arn:aws:kms:{REGION}:{REGISTRY}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
READER_OVERRIDES = {"readerAccountIds": json.dumps(list(READERS))}


def deployment_overrides(bucket: str = "diagnosis-data-bucket-60fcebe") -> dict[str, str]:
    return {"registryModelPackageGroupArn":
            f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package-group/diagnosis",
            "registryBucketName": bucket, "registryKmsKeyArn": KEY}


@cache
def registry_plan() -> Plan:
    return plan_stack(REPO_ROOT, "prod", overrides=READER_OVERRIDES)


@cache
def deployment_plan() -> Plan:
    return plan_stack(REPO_ROOT, "prod", overrides=deployment_overrides())


def named(plan: Plan, type_token: str, suffix: str):
    [resource] = [r for r in plan.of_type(type_token) if r.name.endswith(suffix)]
    return resource


def roots(*accounts: str) -> dict:
    return {"AWS": [f"arn:aws:iam::{account}:root" for account in sorted(accounts)]}


# -- the registry account's documents ---------------------------------------------------------


def test_the_group_policy_lets_exactly_the_readers_describe_and_list_its_packages():
    plan = registry_plan()
    group = only(plan, "aws:sagemaker/modelPackageGroup:ModelPackageGroup")
    group_arn = f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package-group/" \
                f"{group.inputs['modelPackageGroupName']}"
    policy = only(plan, "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy")
    [statement] = json.loads(policy.inputs["resourcePolicy"])["Statement"]
    assert statement == {
        "Sid": "ReaderAccounts", "Effect": "Allow", "Principal": roots(*READERS),
        "Action": sorted(READER_ACTIONS),
        "Resource": [group_arn, group_arn.replace(":model-package-group/", ":model-package/")
                     + "/*"]}
    assert sorted(READER_ACTIONS) == ["sagemaker:DescribeModelPackage",
                                      "sagemaker:DescribeModelPackageGroup",
                                      "sagemaker:ListModelPackages"]


def test_the_bucket_policy_grants_readers_get_object_under_models_only():
    plan = registry_plan()
    bucket = plan.outputs["bucket_name"]
    statements = json.loads(only(plan, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])[
        "Statement"]
    assert [s["Sid"] for s in statements] == ["DenyInsecureTransport",
                                              "ReaderAccountsReadModels"]
    assert statements[1] == {"Sid": "ReaderAccountsReadModels", "Effect": "Allow",
                             "Principal": roots(*READERS), "Action": ["s3:GetObject"],
                             "Resource": [f"arn:aws:s3:::{bucket}/models/*"]}


def test_the_bucket_gets_a_key_only_readers_and_this_account_may_use():
    plan = registry_plan()
    key = only(plan, "aws:kms/key:Key")
    policy = json.loads(key.inputs["policy"])
    assert policy["Statement"] == [
        {"Sid": "ThisAccountAdministersTheKey", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{REGISTRY}:root"}, "Action": ["kms:*"],
         "Resource": ["*"]},
        {"Sid": "ReaderAccountsDecryptViaS3", "Effect": "Allow", "Principal": roots(*READERS),
         "Action": sorted(READER_KEY_ACTIONS), "Resource": ["*"],
         "Condition": {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}}}]
    assert key.inputs["enableKeyRotation"] is True
    encryption = only(plan, "aws:s3/bucketServerSideEncryptionConfiguration:"
                            "BucketServerSideEncryptionConfiguration")
    key_arn = plan.outputs["bucket_kms_key_arn"]
    assert key_arn.startswith("arn:aws:kms:")
    assert encryption.inputs["rules"][0]["applyServerSideEncryptionByDefault"][
        "kmsMasterKeyId"] == key_arn
    # the endpoint's storage and every job use it too (the policy pack's KMS rule)
    assert json.dumps(plan.to_json()).count(key_arn) > 4


def test_without_readers_there_is_no_key_and_no_grant():
    plan = plan_stack(REPO_ROOT, "prod")
    assert plan.of_type("aws:kms/key:Key") == []
    assert plan.outputs["bucket_kms_key_arn"] is None
    policy = json.loads(only(plan, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["DenyInsecureTransport"]
    assert not [r for r in plan.resources if "-forward" in r.name]


def test_approvals_are_forwarded_to_each_readers_default_bus_through_a_narrow_role():
    plan = registry_plan()
    group = only(plan, "aws:sagemaker/modelPackageGroup:ModelPackageGroup").inputs[
        "modelPackageGroupName"]
    rule = named(plan, "aws:cloudwatch/eventRule:EventRule", "-forward-rule")
    assert json.loads(rule.inputs["eventPattern"]) == approval_event_pattern(group)
    buses = [f"arn:aws:events:{REGION}:{account}:event-bus/default" for account in READERS]
    role = named(plan, "aws:iam/role:Role", "-forward-role")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust == [{"Effect": "Allow", "Action": ["sts:AssumeRole"],
                      "Principal": {"Service": "events.amazonaws.com"},
                      "Condition": {"StringEquals": {"aws:SourceAccount": REGISTRY}}}]
    policy = json.loads(named(plan, "aws:iam/rolePolicy:RolePolicy",
                              "-forward-role-policy").inputs["policy"])
    assert policy["Statement"] == [{"Sid": "PutOnReaderAccountBuses", "Effect": "Allow",
                                    "Action": ["events:PutEvents"], "Resource": buses}]
    targets = [t for t in plan.of_type("aws:cloudwatch/eventTarget:EventTarget")
               if "-forward-" in t.name]
    dlq = named(plan, "aws:sqs/queue:Queue", "-forward-dlq")
    assert sorted(t.inputs["arn"] for t in targets) == buses
    for target in targets:
        assert target.inputs["roleArn"].endswith(role.name + "-" + target.inputs[
            "roleArn"].rsplit("-", 1)[1])
        assert target.inputs["retryPolicy"] == {"maximumEventAgeInSeconds": 86400,
                                                "maximumRetryAttempts": 24}
        assert target.inputs["deadLetterConfig"]["arn"].rsplit("/", 1)[1].startswith(dlq.name)
    queue_policy = json.loads(named(plan, "aws:sqs/queuePolicy:QueuePolicy",
                                    "-forward-dlq-policy").inputs["policy"])
    [statement] = queue_policy["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    [source] = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert source.split("/")[-1].startswith(rule.name)


@pytest.mark.parametrize("overrides", [READER_OVERRIDES, deployment_overrides()],
                         ids=["registry", "deployment"])
def test_both_sides_pass_the_policy_pack(overrides):
    project = load_project(REPO_ROOT)
    raw = project.stack_config("prod")
    raw.update({f"{project.name}:{key}": value for key, value in overrides.items()})
    config = parse_config(raw, project=project.name)
    plan = plan_stack(REPO_ROOT, "prod", overrides=overrides)
    assert [v.line() for v in evaluate_policies(plan, stack_policy_config(config))] == []


# -- the deployment account's side ------------------------------------------------------------


def test_the_deployment_stack_accepts_the_registry_accounts_events_and_reads_its_artifacts():
    plan = deployment_plan()
    permission = only(plan, "aws:cloudwatch/eventPermission:EventPermission")
    assert permission.inputs == {"principal": REGISTRY, "action": "events:PutEvents",
                                 "eventBusName": "default",
                                 "statementId": "diagnosis-endpoint-registry"}
    rule = named(plan, "aws:cloudwatch/eventRule:EventRule", "-approval-rule")
    assert json.loads(rule.inputs["eventPattern"]) == approval_event_pattern(
        "diagnosis", account=REGISTRY)
    deployer = json.loads(named(plan, "aws:iam/rolePolicy:RolePolicy",
                                "-deployer-role-policy").inputs["policy"])["Statement"]
    model = json.loads(named(plan, "aws:iam/rolePolicy:RolePolicy",
                             "-model-role-policy").inputs["policy"])["Statement"]
    artifacts = "arn:aws:s3:::diagnosis-data-bucket-60fcebe/models/*"
    for statements in (deployer, model):
        reads = {s["Sid"]: (s["Action"], s["Resource"]) for s in statements
                 if "Registry" in s["Sid"]}
        assert sorted(reads.values()) == [(["kms:Decrypt", "kms:DescribeKey"], [KEY]),
                                          (["s3:GetObject"], [artifacts])]
    [packages] = [s for s in deployer if s["Sid"] == "ReadApprovedPackages"]
    assert packages["Resource"] == [
        f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package/diagnosis/*"]
    function = named(plan, "aws:lambda/function:Function", "-deployer")
    variables = function.inputs["environment"]["variables"]
    assert variables["MODEL_PACKAGE_GROUP"] == deployment_overrides()[
        "registryModelPackageGroupArn"]
    assert variables["REGISTRY_BUCKET"] == "diagnosis-data-bucket-60fcebe"
    assert variables["PACKAGES_ON_DESTROY"] == "keep"  # the registry's packages stay


def test_the_deployment_rule_matches_forwarded_approvals_of_the_registry_account_only(
        rule_to_queue):
    pattern = json.loads(named(deployment_plan(), "aws:cloudwatch/eventRule:EventRule",
                               "-approval-rule").inputs["eventPattern"])
    arn = f"arn:aws:sagemaker:{REGION}:{REGISTRY}:model-package/diagnosis/3"
    entry = {"Source": "aws.sagemaker", "DetailType": "SageMaker Model Package State Change",
             "Resources": [arn], "Detail": json.dumps({
                 "ModelPackageGroupName": "diagnosis", "ModelPackageArn": arn,
                 "ModelPackageVersion": 3, "ModelApprovalStatus": "Approved",
                 "ModelPackageStatus": "Completed"})}
    assert rule_to_queue(pattern, entry)  # moto's account is the registry's here
    from_elsewhere = {**delivered_event(entry), "account": READERS[0]}
    assert not local_matches(pattern, from_elsewhere)
    pending = {**entry, "Detail": entry["Detail"].replace('"Approved"', '"Pending'
                                                          'ManualApproval"')}
    assert not rule_to_queue(pattern, pending)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"registryBucketName": "registry-bucket"},
     "config mlops:registryModelPackageGroupArn, mlops:registryKmsKeyArn: must be set too"),
    ({**deployment_overrides(), "registryModelPackageGroupArn": "arn:aws:sagemaker:us-east-1:"
      "123456789012:model-package/diagnosis/1"},
     "config mlops:registryModelPackageGroupArn: must be empty or a model package group ARN"),
    ({**deployment_overrides(), "registryKmsKeyArn": "alias/aws/s3"},
     "config mlops:registryKmsKeyArn: must be empty or a KMS key ARN"),
])
def test_incomplete_or_malformed_registry_settings_are_refused(overrides, message):
    with pytest.raises(ValidationError, match=message):
        plan_stack(REPO_ROOT, "prod", overrides=overrides)


# -- against moto: the documents as AWS receives them, and the forwarding ----------------------


def in_account(client, account: str):
    """``client`` acting as ``account`` on moto's server (its multi-account header)."""
    def add(request, **_):
        request.headers["x-moto-account-id"] = account
    client.meta.events.register("before-sign", add)
    return client


def test_moto_accepts_the_bucket_and_key_policies_as_planned(aws_client):
    plan = registry_plan()
    planned_bucket = plan.outputs["bucket_name"]
    s3, kms = aws_client("s3"), aws_client("kms")
    bucket = f"registry-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    policy = only(plan, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"].replace(
        planned_bucket, bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=policy)
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(policy)
    key_policy = only(plan, "aws:kms/key:Key").inputs["policy"]
    key = kms.create_key(Policy=key_policy, Description="artifacts")["KeyMetadata"]["KeyId"]
    assert json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]) == \
        json.loads(key_policy)


def test_an_approval_is_forwarded_to_the_deployment_accounts_bus(aws_client):
    """The registry's rule and target as planned; the deployment account's PutPermission as
    planned; a queue on the deployment bus stands in for its deployer's rule."""
    registry, deployment = REGISTRY, READERS[0]
    plan = registry_plan()
    group = only(plan, "aws:sagemaker/modelPackageGroup:ModelPackageGroup").inputs[
        "modelPackageGroupName"]
    planned_rule = named(plan, "aws:cloudwatch/eventRule:EventRule", "-forward-rule")
    [target] = [t for t in plan.of_type("aws:cloudwatch/eventTarget:EventTarget")
                if t.inputs["arn"].split(":")[4] == deployment]
    events_registry = in_account(aws_client("events"), registry)
    events_deployment = in_account(aws_client("events"), deployment)
    sqs_deployment = in_account(aws_client("sqs"), deployment)
    permission = only(deployment_plan(), "aws:cloudwatch/eventPermission:EventPermission")
    events_deployment.put_permission(
        EventBusName=permission.inputs["eventBusName"], Action=permission.inputs["action"],
        Principal=registry, StatementId=permission.inputs["statementId"])
    queue_url = sqs_deployment.create_queue(QueueName=f"deployer-{uuid.uuid4().hex[:8]}")[
        "QueueUrl"]
    queue_arn = sqs_deployment.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    inbox = f"inbox-{uuid.uuid4().hex[:8]}"
    events_deployment.put_rule(Name=inbox, EventPattern=json.dumps(
        approval_event_pattern(group)), State="ENABLED")
    events_deployment.put_targets(Rule=inbox, Targets=[{"Id": "queue", "Arn": queue_arn}])
    forward = f"forward-{uuid.uuid4().hex[:8]}"
    events_registry.put_rule(Name=forward, EventPattern=planned_rule.inputs["eventPattern"],
                             State="ENABLED")
    events_registry.put_targets(Rule=forward, Targets=[{
        "Id": "deployment", "Arn": target.inputs["arn"],
        "RoleArn": f"arn:aws:iam::{registry}:role/forward",
        "RetryPolicy": {"MaximumRetryAttempts": int(target.inputs["retryPolicy"][
            "maximumRetryAttempts"]), "MaximumEventAgeInSeconds": int(
            target.inputs["retryPolicy"]["maximumEventAgeInSeconds"])},
        "DeadLetterConfig": {"Arn": f"arn:aws:sqs:{REGION}:{registry}:forward-dlq"}}])
    try:
        detail = {"ModelPackageGroupName": group, "ModelApprovalStatus": "Approved",
                  "ModelPackageStatus": "Completed", "ModelPackageVersion": 1,
                  "ModelPackageArn": f"arn:aws:sagemaker:{REGION}:{registry}:model-package/"
                                     f"{group}/1"}
        events_registry.put_events(Entries=[{
            "Source": "aws.sagemaker", "DetailType": "SageMaker Model Package State Change",
            "Detail": json.dumps(detail)}])
        received = sqs_deployment.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)
        [message] = received["Messages"]
        assert json.loads(message["Body"])["detail"] == detail
        # a pending package is not forwarded
        events_registry.put_events(Entries=[{
            "Source": "aws.sagemaker", "DetailType": "SageMaker Model Package State Change",
            "Detail": json.dumps({**detail, "ModelApprovalStatus": "PendingManualApproval"})}])
        assert "Messages" not in sqs_deployment.receive_message(QueueUrl=queue_url,
                                                                WaitTimeSeconds=0)
    finally:
        events_registry.remove_targets(Rule=forward, Ids=["deployment"])
        events_registry.delete_rule(Name=forward)
        events_deployment.remove_targets(Rule=inbox, Ids=["queue"])
        events_deployment.delete_rule(Name=inbox)
        events_deployment.remove_permission(StatementId=permission.inputs["statementId"],
                                            EventBusName="default")
