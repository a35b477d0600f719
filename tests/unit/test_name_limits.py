"""Every physical name the stack creates fits AWS's limit, at the longest model name accepted.

A name that is one character too long passes every offline check and fails `pulumi up` (Pulumi
refuses to auto-name past the provider's maximum, or AWS rejects the create call). The limits
come from botocore's service models, the same source the definition checks use; where botocore
states no limit (S3 bucket names and object keys), it is written here with its source.

The test is generic over resource types: a new component whose resources carry a physical name
of a type not in NAME_LIMITS fails `test_every_named_resource_type_has_a_known_limit` until
its limit is added, so nothing new slips past.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass
from functools import cache

import botocore.session
import pytest

from mlops_components.plan import Plan, RecordedResource, plan_stack
from mlops_components.validation import MAX_MODEL_NAME_LENGTH
from tests.conftest import REPO_ROOT

#: Pulumi's auto-name: the logical name, "-", then 7 random characters (pulumi-aws autonaming).
AUTO_NAME_SUFFIX = "-" + "x" * 7
#: The longest model name the config accepts (letters and hyphens only; its length matters).
LONGEST_MODEL_NAME = ("longest-model-name-" * 10)[:MAX_MODEL_NAME_LENGTH].rstrip("-") \
    .ljust(MAX_MODEL_NAME_LENGTH, "m")


@dataclass(frozen=True)
class NameLimit:
    """Where a resource type's physical name lives and where its limit comes from."""

    name_property: str
    """The Pulumi input holding the physical name (auto-named when absent)."""
    service: str | None = None
    operation: str | None = None
    member: str | None = None
    """botocore's create operation and input member that takes the name."""
    fixed_max: int | None = None
    """A limit botocore does not state; the comment on the entry cites its source."""

    def maximum(self) -> int:
        if self.fixed_max is not None:
            return self.fixed_max
        return botocore_max(self.service, self.operation, self.member)


NAME_LIMITS: dict[str, NameLimit] = {
    # S3 bucket naming rules: "Bucket names must be between 3 (min) and 63 (max) characters
    # long" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html);
    # botocore's BucketName shape has no max.
    "aws:s3/bucket:Bucket": NameLimit("bucket", fixed_max=63),
    # S3 object keys: "The object key name is a sequence of Unicode characters with UTF-8
    # encoding of up to 1,024 bytes long" (S3 user guide, "Naming Amazon S3 objects");
    # botocore's ObjectKey shape has no max.
    "aws:s3/bucketObjectv2:BucketObjectv2": NameLimit("key", fixed_max=1024),
    "aws:iam/role:Role": NameLimit("name", "iam", "CreateRole", "RoleName"),
    "aws:iam/rolePolicy:RolePolicy": NameLimit("name", "iam", "PutRolePolicy", "PolicyName"),
    "aws:iam/policy:Policy": NameLimit("name", "iam", "CreatePolicy", "PolicyName"),
    "aws:sagemaker/pipeline:Pipeline": NameLimit("pipelineName", "sagemaker", "CreatePipeline",
                                                 "PipelineName"),
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": NameLimit(
        "modelPackageGroupName", "sagemaker", "CreateModelPackageGroup",
        "ModelPackageGroupName"),
    # Types the endpoint, monitoring and retraining components will create.
    "aws:sagemaker/model:Model": NameLimit("name", "sagemaker", "CreateModel", "ModelName"),
    "aws:sagemaker/endpoint:Endpoint": NameLimit("name", "sagemaker", "CreateEndpoint",
                                                 "EndpointName"),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": NameLimit(
        "name", "sagemaker", "CreateEndpointConfig", "EndpointConfigName"),
    "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition": NameLimit(
        "name", "sagemaker", "CreateDataQualityJobDefinition", "JobDefinitionName"),
    "aws:sagemaker/monitoringSchedule:MonitoringSchedule": NameLimit(
        "name", "sagemaker", "CreateMonitoringSchedule", "MonitoringScheduleName"),
    "aws:cloudwatch/eventRule:EventRule": NameLimit("name", "events", "PutRule", "Name"),
    "aws:cloudwatch/eventPermission:EventPermission": NameLimit(
        "statementId", "events", "PutPermission", "StatementId"),
    "aws:cloudwatch/logGroup:LogGroup": NameLimit("name", "logs", "CreateLogGroup",
                                                  "logGroupName"),
    "aws:lambda/permission:Permission": NameLimit("statementId", "lambda", "AddPermission",
                                                  "StatementId"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": NameLimit("name", "cloudwatch",
                                                        "PutMetricAlarm", "AlarmName"),
    # Lambda: botocore's FunctionName (max 140) also accepts a full ARN; the name itself is
    # "1 to 64 characters" (Lambda API reference, CreateFunction FunctionName).
    "aws:lambda/function:Function": NameLimit("name", fixed_max=64),
    # SQS: "A queue name can have up to 80 characters" (SQS API reference, CreateQueue);
    # botocore's QueueName is a plain String.
    "aws:sqs/queue:Queue": NameLimit("name", fixed_max=80),
    "aws:dynamodb/table:Table": NameLimit("name", "dynamodb", "CreateTable", "TableName"),
    "aws:scheduler/scheduleGroup:ScheduleGroup": NameLimit("name", "scheduler",
                                                           "CreateScheduleGroup", "Name"),
}


@cache
def botocore_max(service: str | None, operation: str | None, member: str | None) -> int:
    model = botocore.session.get_session().get_service_model(service)
    shape = model.operation_model(operation).input_shape.members[member]
    return shape.metadata["max"]


def pulumi_class(type_token: str) -> type:
    """The pulumi_aws class of ``aws:<module>/<name>:<Class>`` (``lambda`` is ``lambda_``)."""
    module, class_name = type_token.split(":")[1].split("/")[0], type_token.rsplit(":", 1)[1]
    try:
        package = importlib.import_module(f"pulumi_aws.{module}")
    except ModuleNotFoundError:
        package = importlib.import_module(f"pulumi_aws.{module}_")
    return getattr(package, class_name)


def own_name_parameters(type_token: str) -> list[str]:
    """Inputs of a type that name the resource itself: ``name``, ``<x>`` with ``<x>_prefix``
    (Pulumi's auto-naming pair), or ``<class>_name``; references to other resources' names
    (``bucket`` on BucketVersioning) have none of these shapes."""
    parameters = set(inspect.signature(pulumi_class(type_token)._internal_init).parameters)
    class_snake = re.sub(r"(?<!^)(?=[A-Z])", "_", type_token.rsplit(":", 1)[1]).lower()
    return sorted(p for p in parameters if p == "name" or f"{p}_prefix" in parameters
                  or p == f"{class_snake}_name")


def physical_name(resource: RecordedResource, limit: NameLimit) -> str:
    """The name AWS will see: the input when given, else Pulumi's auto-name."""
    given = resource.inputs.get(limit.name_property)
    return given if given else resource.name + AUTO_NAME_SUFFIX


def too_long(plan: Plan) -> list[str]:
    """One line per physical name in ``plan`` longer than its type's AWS limit."""
    problems = []
    for resource in plan.resources:
        limit = NAME_LIMITS.get(resource.type)
        if limit is None or not resource.custom:
            continue
        name = physical_name(resource, limit)
        size = len(name.encode()) if limit.name_property == "key" else len(name)
        if size > limit.maximum():
            problems.append(f"{resource.type} {name!r}: {size} > {limit.maximum()}")
    return problems


#: Batch inference is off in both example stacks: the dev stack with it on (both triggers).
BATCH_ON = {"batchSchedule": "rate(1 day)", "batchOnNewData": True}
#: The cross-account resources: a registry stack sharing with two deployment accounts (its
#: key, the forwarding rule, role and queue), and a deployment account's stack (the default
#: bus's permission for the registry account).
VARIANTS = {
    "batch": BATCH_ON,
    "readers": {"readerAccountIds": '["111122223333", "444455556666"]'},
    "registry": {
        "registryModelPackageGroupArn": "arn:aws:sagemaker:us-east-1:111122223333:"
                                        f"model-package-group/{LONGEST_MODEL_NAME}",
        "registryBucketName": "registry-bucket",
        "registryKmsKeyArn": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-"
                             "56ef-1234567890ab"},
}


@pytest.fixture(scope="module", params=["dev", "staging", "prod", "dev+batch", "prod+readers",
                                        "prod+registry"])
def longest_plan(request) -> Plan:
    stack, _, variant = request.param.partition("+")
    return plan_stack(REPO_ROOT, stack, overrides={"modelName": LONGEST_MODEL_NAME,
                                                   **VARIANTS.get(variant, {})})


def test_the_longest_model_name_is_the_configs_limit():
    assert len(LONGEST_MODEL_NAME) == MAX_MODEL_NAME_LENGTH


def test_every_name_fits_at_the_longest_model_name(longest_plan):
    assert too_long(longest_plan) == []


def test_the_check_catches_a_name_one_character_past_its_limit(longest_plan):
    """The non-compliant half: one more character on the model name breaks the role."""
    role = next(r for r in longest_plan.resources if r.type == "aws:iam/role:Role")
    room = NAME_LIMITS[role.type].maximum() - len(physical_name(role, NAME_LIMITS[role.type]))
    stretched = RecordedResource(urn=role.urn, type=role.type, parent=role.parent,
                                 name=role.name + "x" * (room + 1), inputs={}, custom=True)
    assert too_long(Plan(stack="test", resources=[stretched])) == [
        f"aws:iam/role:Role '{stretched.name}{AUTO_NAME_SUFFIX}': 65 > 64"]


def test_every_named_resource_type_has_a_known_limit(longest_plan):
    """A new resource type with a name of its own must be added to NAME_LIMITS."""
    unknown = sorted({r.type for r in longest_plan.resources
                      if r.custom and r.type not in NAME_LIMITS and own_name_parameters(r.type)})
    assert unknown == [], f"add the AWS name limit of {unknown} to NAME_LIMITS"


def test_the_type_check_sees_names_and_not_references():
    assert own_name_parameters("aws:iam/role:Role") == ["name"]
    assert own_name_parameters("aws:s3/bucket:Bucket") == ["bucket"]
    assert own_name_parameters("aws:sagemaker/pipeline:Pipeline") == ["pipeline_name"]
    assert own_name_parameters("aws:s3/bucketVersioning:BucketVersioning") == []
    assert own_name_parameters(
        "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy") == []


@pytest.mark.parametrize("type_token", sorted(NAME_LIMITS))
def test_every_limit_resolves_and_names_a_real_input(type_token):
    limit = NAME_LIMITS[type_token]
    assert 1 <= limit.maximum() <= 1024
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", limit.name_property).lower()
    assert snake in inspect.signature(pulumi_class(type_token)._internal_init).parameters

