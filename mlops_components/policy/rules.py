"""The platform's rules as pulumi-policy validation functions.

Each function is a pulumi-policy ``validate`` callback: ``(args, report_violation)`` with
``args`` a ``ResourceValidationArgs`` (one resource) or a ``StackValidationArgs`` (the whole
stack, for rules that span resources: a bucket and its separate encryption, public-access,
policy, versioning and lifecycle resources; a Lambda and its log group). The policy pack
(``pack/__main__.py``) and ``mlops preview`` (:mod:`mlops_components.policy.offline`) call
these same functions through the same :mod:`~mlops_components.policy.policies` objects.

Properties are pulumi-aws input names in camelCase; every message names the resource and
the property. Per-policy configuration (``args.get_config()``) comes from
``--policy-pack-config`` under `pulumi preview`, and from the stack's config offline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)

from mlops_components.bucket_layout import PREFIXES
from mlops_components.policy.props import (
    UNKNOWN,
    as_list,
    is_taggable,
    matches_any,
    parse_json,
    prop,
    stack_of,
    walk,
)
from mlops_components.tag_keys import NETWORK_ACCESS_TAG, REQUIRED_TAGS

# --- configuration keys and their defaults ------------------------------------------------

REQUIRED_TAGS_KEY = "requiredTags"
DEFAULT_REQUIRED_TAGS = list(REQUIRED_TAGS)
ALLOW_NETWORK_ACCESS_KEY = "allowNetworkAccess"
KMS_KEY_ARN_KEY = "kmsKeyArn"
SUBNET_IDS_KEY = "subnetIds"
ALLOWED_REGISTRIES_KEY = "allowedRegistries"
LIFECYCLE_PREFIXES_KEY = "prefixes"
DEFAULT_LIFECYCLE_PREFIXES = [PREFIXES["capture"], PREFIXES["reports"]]
DEV_STACK_PATTERN_KEY = "devStackPattern"
DEFAULT_DEV_STACK_PATTERN = r"(^|[-_.])dev($|[-_.])"
MAX_CAPTURE_RETENTION_KEY = "maxCaptureRetentionDays"
DEFAULT_MAX_CAPTURE_RETENTION_DAYS = 365


# --- resource types (pulumi-aws 7) --------------------------------------------------------

BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
SSE_TYPES = ("aws:s3/bucketServerSideEncryptionConfiguration:"
             "BucketServerSideEncryptionConfiguration",
             "aws:s3/bucketServerSideEncryptionConfigurationV2:"
             "BucketServerSideEncryptionConfigurationV2")
PUBLIC_ACCESS_BLOCK_TYPE = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY_TYPE = "aws:s3/bucketPolicy:BucketPolicy"
VERSIONING_TYPES = ("aws:s3/bucketVersioning:BucketVersioning",
                    "aws:s3/bucketVersioningV2:BucketVersioningV2")
LIFECYCLE_TYPES = ("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                   "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2")
POLICY_DOCUMENT_TYPES = ("aws:iam/rolePolicy:RolePolicy", "aws:iam/userPolicy:UserPolicy",
                         "aws:iam/groupPolicy:GroupPolicy", "aws:iam/policy:Policy")
ROLE_TYPE = "aws:iam/role:Role"
ATTACHMENT_TYPES = ("aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
                    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
                    "aws:iam/policyAttachment:PolicyAttachment")
EXCLUSIVE_ATTACHMENT_TYPE = ("aws:iam/rolePolicyAttachmentsExclusive:"
                             "RolePolicyAttachmentsExclusive")
QUEUE_TYPE = "aws:sqs/queue:Queue"
EVENT_TARGET_TYPE = "aws:cloudwatch/eventTarget:EventTarget"
LAMBDA_TYPE = "aws:lambda/function:Function"
EVENT_INVOKE_CONFIG_TYPE = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
LOG_GROUP_TYPE = "aws:cloudwatch/logGroup:LogGroup"
KMS_KEY_TYPE = "aws:kms/key:Key"
PIPELINE_TYPE = "aws:sagemaker/pipeline:Pipeline"
MODEL_TYPE = "aws:sagemaker/model:Model"
ENDPOINT_CONFIG_TYPE = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"

# --- shared helpers ----------------------------------------------------------------------


def _label(args: ResourceValidationArgs | PolicyResource) -> str:
    return f"{args.resource_type.rsplit(':', 1)[-1]} '{args.name}'"


def _config(args: ResourceValidationArgs | StackValidationArgs, key: str, default: Any) -> Any:
    value = args.get_config().get(key)
    return default if value is None else value


def _of_type(args: StackValidationArgs, types: str | Iterable[str]) -> list[PolicyResource]:
    wanted = {types} if isinstance(types, str) else set(types)
    return [resource for resource in args.resources if resource.resource_type in wanted]


def _linked(child: PolicyResource, parent: PolicyResource, property_name: str,
            identifiers: Iterable[Any]) -> bool:
    """Whether ``child.<property_name>`` refers to ``parent``: through Pulumi's property
    dependencies (an Output of the parent), or by value (a name typed in)."""
    dependencies = child.property_dependencies.get(property_name) or []
    if any(dependency.urn == parent.urn for dependency in dependencies):
        return True
    value = prop(child.props, property_name)
    if not isinstance(value, str) or not value:
        return False
    return any(value == identifier or value.endswith(f":{identifier}")
               for identifier in identifiers if isinstance(identifier, str) and identifier)


# --- IAM -------------------------------------------------------------------------------

_WRITE_VERB = re.compile(
    r"^(Put|Create|Delete|Update|Start|Stop|Send|Invoke|Attach|Detach|Pass|Tag|Untag|Add|"
    r"Remove|Modify|Set|Run|Terminate|Write|Upload|Publish|Register|Deregister|Enable|"
    r"Disable|Associate|Disassociate|Import|Restore|Reset|Replace|Change|Copy|Execute|"
    r"Cancel|Reboot|Revoke|Authorize|Abort|Complete|Batch(Write|Delete|Put)|Encrypt|Decrypt|"
    r"Generate|Sign|Retire|Schedule|Submit|Approve|Reject|Accept|Claim|Merge|Promote|"
    r"Rotate|Assume|Subscribe|Unsubscribe|Purge|Receive|Change)")


def _is_write_action(action: str) -> bool:
    if action == "*":
        return True
    _, _, verb = action.partition(":")
    return verb == "*" or bool(_WRITE_VERB.match(verb.lstrip("*")))


def _policy_documents(args: ResourceValidationArgs) -> Iterator[tuple[str, Any]]:
    """(property path, parsed document) of each identity policy the resource carries."""
    if args.resource_type in POLICY_DOCUMENT_TYPES:
        yield "policy", parse_json(prop(args.props, "policy"))
    elif args.resource_type == ROLE_TYPE:
        for index, inline in enumerate(as_list(prop(args.props, "inlinePolicies"))):
            yield f"inlinePolicies[{index}].policy", parse_json(prop(inline, "policy"))


def _allow_statements(document: Any) -> Iterator[tuple[int, Mapping[str, Any]]]:
    if not isinstance(document, Mapping):
        return
    for index, statement in enumerate(as_list(document.get("Statement"))):
        if isinstance(statement, Mapping) and statement.get("Effect") == "Allow":
            yield index, statement


def _statement_label(index: int, statement: Mapping[str, Any]) -> str:
    sid = statement.get("Sid")
    return f"Statement[{index}]" + (f" ({sid})" if sid else "")


def iam_no_wildcard_action(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """No identity policy allows ``*`` or a whole service (``s3:*``), or uses NotAction."""
    for path, document in _policy_documents(args):
        for index, statement in _allow_statements(document):
            where = f"{_label(args)}: {path} {_statement_label(index, statement)}"
            if "NotAction" in statement:
                report(f"{where} allows NotAction (everything but a list); list the actions", None)
            wild = [action for action in as_list(statement.get("Action"))
                    if isinstance(action, str) and (action == "*" or action.endswith(":*"))]
            if wild:
                report(f"{where} allows wildcard Action {wild}; list the actions it needs", None)


def iam_no_wildcard_resource_write(args: ResourceValidationArgs,
                                   report: ReportViolation) -> None:
    """A write action on ``Resource: "*"`` needs a Condition that scopes it (some actions,
    such as ``cloudwatch:PutMetricData``, have no resource-level permissions: a namespace
    condition is how they are scoped)."""
    for path, document in _policy_documents(args):
        for index, statement in _allow_statements(document):
            resources = as_list(statement.get("Resource"))
            if "*" not in resources and "NotResource" not in statement:
                continue
            writes = sorted(action for action in as_list(statement.get("Action"))
                            if isinstance(action, str) and _is_write_action(action))
            if writes and not statement.get("Condition"):
                report(f"{_label(args)}: {path} {_statement_label(index, statement)} allows "
                       f"write actions {writes} on Resource \"*\" with no Condition", None)


def iam_no_full_access_managed_policies(args: ResourceValidationArgs,
                                        report: ReportViolation) -> None:
    """No AWS-managed ``*FullAccess`` policy is attached to a role, user or group."""
    if args.resource_type in ATTACHMENT_TYPES:
        arns = [("policyArn", prop(args.props, "policyArn"))]
    elif args.resource_type == EXCLUSIVE_ATTACHMENT_TYPE:
        arns = [(f"policyArns[{i}]", arn)
                for i, arn in enumerate(as_list(prop(args.props, "policyArns")))]
    elif args.resource_type == ROLE_TYPE:
        arns = [(f"managedPolicyArns[{i}]", arn)
                for i, arn in enumerate(as_list(prop(args.props, "managedPolicyArns")))]
    else:
        return
    for path, arn in arns:
        if isinstance(arn, str) and re.fullmatch(r"arn:aws[\w-]*:iam::aws:policy/.*FullAccess\w*",
                                                 arn):
            report(f"{_label(args)}: {path} attaches the AWS-managed {arn.rsplit('/', 1)[-1]}; "
                   "grant the actions and resources the workload needs instead", None)


_ROLE_ARN = re.compile(r"arn:aws[\w-]*:iam::(\d{12}|\$\{[^}]+\}):role/.*[^/*].*")


def iam_pass_role_scoped(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """``iam:PassRole`` names the roles it passes and says to which service
    (``iam:PassedToService``)."""
    for path, document in _policy_documents(args):
        for index, statement in _allow_statements(document):
            actions = [action for action in as_list(statement.get("Action"))
                       if isinstance(action, str)]
            if not any(action.lower() in ("iam:passrole", "iam:pass*") for action in actions):
                continue
            where = f"{_label(args)}: {path} {_statement_label(index, statement)}"
            resources = as_list(statement.get("Resource"))
            loose = [resource for resource in resources
                     if not (isinstance(resource, str) and _ROLE_ARN.fullmatch(resource)
                             and not resource.endswith(":role/*"))]
            if loose or not resources:
                report(f"{where} allows iam:PassRole on {loose or 'no Resource'}; name the "
                       "role ARNs it may pass", None)
            conditions = statement.get("Condition") or {}
            keys = {key.lower() for operator in conditions.values()
                    if isinstance(operator, Mapping) for key in operator}
            if "iam:passedtoservice" not in keys:
                report(f"{where} allows iam:PassRole with no iam:PassedToService Condition",
                       None)


# --- SQS, EventBridge --------------------------------------------------------------------


def sqs_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Every queue is encrypted at rest (SSE-SQS or a KMS key)."""
    if args.resource_type != QUEUE_TYPE:
        return
    managed = prop(args.props, "sqsManagedSseEnabled")
    kms = prop(args.props, "kmsMasterKeyId")
    if managed is UNKNOWN or kms is UNKNOWN:
        return
    if managed is not True and not kms:
        report(f"{_label(args)}: neither sqsManagedSseEnabled nor kmsMasterKeyId is set "
               "(messages not encrypted at rest)", None)


def event_target_retry_and_dlq(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Every EventBridge target has a retry policy and a dead-letter queue."""
    if args.resource_type != EVENT_TARGET_TYPE:
        return
    if prop(args.props, "retryPolicy") is None:
        report(f"{_label(args)}: no retryPolicy (maximumRetryAttempts, "
               "maximumEventAgeInSeconds)", None)
    if prop(args.props, "deadLetterConfig", "arn") is None:
        report(f"{_label(args)}: no deadLetterConfig.arn (undeliverable events are lost)",
               None)


# --- SageMaker ---------------------------------------------------------------------------


def _steps(definition: Any) -> Iterator[Mapping[str, Any]]:
    """Every step of a pipeline definition, those inside condition branches included."""
    pending = list(as_list(prop(definition, "Steps")))
    while pending:
        step = pending.pop(0)
        if not isinstance(step, Mapping):
            continue
        yield step
        arguments = step.get("Arguments")
        if isinstance(arguments, Mapping):
            pending.extend(as_list(arguments.get("IfSteps")))
            pending.extend(as_list(arguments.get("ElseSteps")))


def _training_definitions(arguments: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [item for item in [arguments.get("TrainingJobDefinition"),
                              *as_list(arguments.get("TrainingJobDefinitions"))]
            if isinstance(item, Mapping)]


def _jobs(args: ResourceValidationArgs) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(step name, kind, job arguments) of each processing/training job a pipeline runs."""
    definition = parse_json(prop(args.props, "pipelineDefinition"))
    for step in _steps(definition):
        arguments = step.get("Arguments")
        if not isinstance(arguments, Mapping):
            continue
        name = str(step.get("Name"))
        if step.get("Type") == "Processing":
            yield name, "processing", arguments
        elif step.get("Type") == "Training":
            yield name, "training", arguments
        elif step.get("Type") == "Tuning":
            for definition_args in _training_definitions(arguments):
                yield name, "training", definition_args


def _network_exempt_steps(args: ResourceValidationArgs) -> set[str]:
    value = prop(args.props, "tags", NETWORK_ACCESS_TAG)
    return set(value.split()) if isinstance(value, str) else set()


def sagemaker_network_isolation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Training and processing jobs in pipeline definitions, and models, run with network
    isolation unless the stack opts out (``allowNetworkAccess``) or the resource names the
    step that needs a route in its ``mlops:network-access`` tag."""
    if _config(args, ALLOW_NETWORK_ACCESS_KEY, False):
        return
    if args.resource_type == MODEL_TYPE:
        if prop(args.props, "enableNetworkIsolation") is not True:
            report(f"{_label(args)}: enableNetworkIsolation is not true", None)
        return
    if args.resource_type != PIPELINE_TYPE:
        return
    exempt = _network_exempt_steps(args)
    for step, kind, job in _jobs(args):
        if step in exempt:
            continue
        if kind == "processing":
            isolated = prop(job, "NetworkConfig", "EnableNetworkIsolation")
            where = "NetworkConfig.EnableNetworkIsolation"
        else:
            isolated = prop(job, "EnableNetworkIsolation")
            where = "EnableNetworkIsolation"
        if isolated is not True:
            report(f"{_label(args)}: step {step} ({kind} job) has pipelineDefinition "
                   f"{where} {json.dumps(isolated)}, expected true", None)


def sagemaker_vpc_when_subnets(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """When the stack sets subnets (``subnetIds``), every job and model runs in the VPC."""
    subnets = set(_config(args, SUBNET_IDS_KEY, []))
    if not subnets:
        return
    if args.resource_type == MODEL_TYPE:
        if not prop(args.props, "vpcConfig", "subnets"):
            report(f"{_label(args)}: no vpcConfig.subnets though the stack sets subnets", None)
        return
    if args.resource_type != PIPELINE_TYPE:
        return
    for step, kind, job in _jobs(args):
        vpc = (prop(job, "NetworkConfig", "VpcConfig") if kind == "processing"
               else prop(job, "VpcConfig"))
        where = "NetworkConfig.VpcConfig" if kind == "processing" else "VpcConfig"
        if not prop(vpc, "Subnets"):
            report(f"{_label(args)}: step {step} ({kind} job) has no pipelineDefinition "
                   f"{where}.Subnets though the stack sets subnets", None)


@lru_cache(maxsize=1)
def default_allowed_registries() -> tuple[str, ...]:
    """The registries of AWS's SageMaker scikit-learn images in every region, read as data
    from the SageMaker SDK's own image table (the SDK is not imported: its import calls
    AWS); empty where the SDK is not installed."""
    spec = find_spec("sagemaker")
    accounts: set[str] = set()
    for location in (spec.submodule_search_locations or []) if spec else []:
        table = Path(location) / "core" / "image_uri_config" / "sklearn.json"
        if table.is_file():
            for item in walk(json.loads(table.read_text())):
                if isinstance(item, Mapping) and isinstance(item.get("registries"), Mapping):
                    accounts.update(str(account) for account in item["registries"].values())
    return tuple(f"{account}.dkr.ecr.*.amazonaws.com" for account in sorted(accounts))


def _images(args: ResourceValidationArgs) -> Iterator[tuple[str, Any]]:
    """(where, image) of every container image a pipeline definition or model pulls."""
    if args.resource_type == MODEL_TYPE:
        yield "primaryContainer.image", prop(args.props, "primaryContainer", "image")
        for index, container in enumerate(as_list(prop(args.props, "containers"))):
            yield f"containers[{index}].image", prop(container, "image")
        return
    definition = parse_json(prop(args.props, "pipelineDefinition"))
    for step in _steps(definition):
        arguments = step.get("Arguments")
        if not isinstance(arguments, Mapping):
            continue
        name = step.get("Name")
        kind = step.get("Type")
        if kind == "Processing":
            yield f"step {name} AppSpecification.ImageUri", prop(arguments, "AppSpecification",
                                                                  "ImageUri")
        elif kind == "Training":
            yield (f"step {name} AlgorithmSpecification.TrainingImage",
                   prop(arguments, "AlgorithmSpecification", "TrainingImage"))
        elif kind == "Tuning":
            for definition_args in _training_definitions(arguments):
                yield (f"step {name} TrainingJobDefinition.AlgorithmSpecification."
                       "TrainingImage",
                       prop(definition_args, "AlgorithmSpecification", "TrainingImage"))
        elif kind == "RegisterModel":
            for index, container in enumerate(as_list(
                    prop(arguments, "InferenceSpecification", "Containers"))):
                yield (f"step {name} InferenceSpecification.Containers[{index}].Image",
                       prop(container, "Image"))


def sagemaker_allowed_registries(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Pipeline definitions (and models) pull images only from the allowed registries."""
    if args.resource_type not in (PIPELINE_TYPE, MODEL_TYPE):
        return
    allowed = list(_config(args, ALLOWED_REGISTRIES_KEY, None) or default_allowed_registries())
    for where, image in _images(args):
        if image is None or image is UNKNOWN:
            continue
        if not isinstance(image, str):
            report(f"{_label(args)}: {where} is computed at run time "
                   f"({json.dumps(image)}), so its registry cannot be checked", None)
            continue
        registry = image.split("/", 1)[0]
        if not matches_any(registry, allowed):
            report(f"{_label(args)}: {where} pulls from {registry}, not an allowed registry "
                   f"({', '.join(allowed) or 'none configured'})", None)


def _instance_variants(args: ResourceValidationArgs | PolicyResource) -> list[str]:
    return [str(prop(variant, "variantName", default=index))
            for index, variant in enumerate(as_list(prop(args.props, "productionVariants")))
            if prop(variant, "serverlessConfig") is None]


def sagemaker_endpoint_data_capture(args: ResourceValidationArgs,
                                    report: ReportViolation) -> None:
    """An endpoint config with instance variants captures data (serverless variants cannot:
    there the serving handler writes capture records itself)."""
    if args.resource_type != ENDPOINT_CONFIG_TYPE or not _instance_variants(args):
        return
    capture = prop(args.props, "dataCaptureConfig")
    if capture is UNKNOWN:
        return
    if capture is None or prop(capture, "enableCapture") is False \
            or not prop(capture, "initialSamplingPercentage"):
        report(f"{_label(args)}: instance variants {_instance_variants(args)} without "
               "dataCaptureConfig (enableCapture, initialSamplingPercentage > 0)", None)


def sagemaker_kms_when_stack_has_key(args: StackValidationArgs, report: ReportViolation) -> None:
    """When the stack has a KMS key (configured ``kmsKeyArn``, or an ``aws.kms.Key`` in the
    stack), endpoint configs and every job's volume and output use a key."""
    if not (_config(args, KMS_KEY_ARN_KEY, "") or _of_type(args, KMS_KEY_TYPE)):
        return
    for config in _of_type(args, ENDPOINT_CONFIG_TYPE):
        if prop(config.props, "kmsKeyArn") is None:
            report(f"{_label(config)}: no kmsKeyArn though the stack has a KMS key", config.urn)
    for pipeline in _of_type(args, PIPELINE_TYPE):
        definition = parse_json(prop(pipeline.props, "pipelineDefinition"))
        for step in _steps(definition):
            arguments = step.get("Arguments")
            if not isinstance(arguments, Mapping):
                continue
            if step.get("Type") == "Processing":
                checks = [("ProcessingResources.ClusterConfig.VolumeKmsKeyId",
                           prop(arguments, "ProcessingResources", "ClusterConfig",
                                "VolumeKmsKeyId")),
                          ("ProcessingOutputConfig.KmsKeyId",
                           prop(arguments, "ProcessingOutputConfig", "KmsKeyId"))]
            elif step.get("Type") in ("Training", "Tuning"):
                jobs = ([arguments] if step.get("Type") == "Training"
                        else _training_definitions(arguments))
                checks = [(f"{prefix}{where}", prop(job, *path))
                          for job in jobs
                          for prefix in ["" if step.get("Type") == "Training"
                                         else "TrainingJobDefinition."]
                          for where, path in (
                              ("ResourceConfig.VolumeKmsKeyId",
                               ("ResourceConfig", "VolumeKmsKeyId")),
                              ("OutputDataConfig.KmsKeyId", ("OutputDataConfig", "KmsKeyId")))]
            else:
                continue
            for where, value in checks:
                if value is None:
                    report(f"{_label(pipeline)}: step {step.get('Name')} has no "
                           f"pipelineDefinition {where} though the stack has a KMS key",
                           pipeline.urn)


# --- S3 (a bucket and its separate configuration resources) ------------------------------


def _bucket_identifiers(bucket: PolicyResource) -> list[Any]:
    return [prop(bucket.props, "bucket"), prop(bucket.props, "id"), bucket.name]


def _bucket_parts(args: StackValidationArgs, bucket: PolicyResource,
                  types: str | Iterable[str]) -> list[PolicyResource]:
    identifiers = _bucket_identifiers(bucket)
    return [part for part in _of_type(args, types)
            if _linked(part, bucket, "bucket", identifiers)]


def s3_sse_kms(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every bucket encrypts by default with KMS (SSE-KMS or DSSE-KMS)."""
    for bucket in _of_type(args, BUCKET_TYPES):
        algorithms = [prop(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm")
                      for part in _bucket_parts(args, bucket, SSE_TYPES)
                      for rule in as_list(prop(part.props, "rules"))]
        algorithms += [prop(bucket.props, "serverSideEncryptionConfiguration", "rule",
                            "applyServerSideEncryptionByDefault", "sseAlgorithm")]
        if UNKNOWN in algorithms:
            continue
        if not any(algorithm in ("aws:kms", "aws:kms:dsse") for algorithm in algorithms):
            found = [algorithm for algorithm in algorithms if algorithm]
            report(f"{_label(bucket)}: no BucketServerSideEncryptionConfiguration with "
                   f"rules[].applyServerSideEncryptionByDefault.sseAlgorithm aws:kms"
                   + (f" (found {found})" if found else ""), bucket.urn)


_PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                        "restrictPublicBuckets")


def s3_public_access_block(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every bucket has a BucketPublicAccessBlock with all four blocks on."""
    for bucket in _of_type(args, BUCKET_TYPES):
        blocks = _bucket_parts(args, bucket, PUBLIC_ACCESS_BLOCK_TYPE)
        if not blocks:
            report(f"{_label(bucket)}: no BucketPublicAccessBlock "
                   f"({', '.join(_PUBLIC_ACCESS_FLAGS)})", bucket.urn)
            continue
        for block in blocks:
            off = [flag for flag in _PUBLIC_ACCESS_FLAGS
                   if prop(block.props, flag) not in (True, UNKNOWN)]
            if off:
                report(f"{_label(bucket)}: {_label(block)} leaves {', '.join(off)} off",
                       bucket.urn)


def _denies_insecure_transport(document: Any) -> bool:
    for statement in as_list(prop(document, "Statement")):
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Deny":
            continue
        actions = as_list(statement.get("Action"))
        if not any(action in ("*", "s3:*") for action in actions):
            continue
        secure = prop(statement, "Condition", "Bool", "aws:SecureTransport")
        if str(secure).lower() == "false":
            return True
    return False


def s3_tls_only(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every bucket's policy denies requests without TLS (``aws:SecureTransport`` false)."""
    for bucket in _of_type(args, BUCKET_TYPES):
        documents = [prop(part.props, "policy")
                     for part in _bucket_parts(args, bucket, BUCKET_POLICY_TYPE)]
        documents.append(prop(bucket.props, "policy"))
        if UNKNOWN in documents:
            continue
        if not any(_denies_insecure_transport(parse_json(document)) for document in documents):
            report(f"{_label(bucket)}: no BucketPolicy.policy statement denying s3:* when "
                   "aws:SecureTransport is false", bucket.urn)


def s3_versioning(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every bucket has versioning enabled."""
    for bucket in _of_type(args, BUCKET_TYPES):
        statuses = [prop(part.props, "versioningConfiguration", "status")
                    for part in _bucket_parts(args, bucket, VERSIONING_TYPES)]
        inline = prop(bucket.props, "versioning", "enabled")
        if UNKNOWN in statuses or inline is UNKNOWN:
            continue
        if "Enabled" not in statuses and inline is not True:
            report(f"{_label(bucket)}: no BucketVersioning with versioningConfiguration.status "
                   "Enabled" + (f" (found {statuses})" if any(statuses) else ""), bucket.urn)


def _rule_prefix(rule: Any) -> Any:
    for path in (("filter", "prefix"), ("filter", "and", "prefix"), ("prefix",)):
        value = prop(rule, *path)
        if value is not None:
            return value
    return None


def _expiring_prefixes(rules: Iterable[Any]) -> dict[str, Any]:
    """prefix -> expiration days of each enabled rule that expires current objects."""
    found: dict[str, Any] = {}
    for rule in rules:
        enabled = prop(rule, "status") == "Enabled" or prop(rule, "enabled") is True
        days = prop(rule, "expiration", "days")
        prefix = _rule_prefix(rule)
        if enabled and days is not None and isinstance(prefix, str):
            found[prefix] = days
    return found


def _lifecycle_rules(args: StackValidationArgs, bucket: PolicyResource) -> list[Any]:
    rules = [rule for part in _bucket_parts(args, bucket, LIFECYCLE_TYPES)
             for rule in as_list(prop(part.props, "rules"))]
    return rules + as_list(prop(bucket.props, "lifecycleRules"))


def s3_lifecycle_capture_reports(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every bucket expires the capture and reports prefixes (configurable ``prefixes``)."""
    wanted = list(_config(args, LIFECYCLE_PREFIXES_KEY, DEFAULT_LIFECYCLE_PREFIXES))
    for bucket in _of_type(args, BUCKET_TYPES):
        expiring = _expiring_prefixes(_lifecycle_rules(args, bucket))
        missing = [prefix for prefix in wanted
                   if not any(prefix.startswith(found) for found in expiring)]
        if missing:
            report(f"{_label(bucket)}: no enabled BucketLifecycleConfiguration rule with "
                   f"expiration.days for prefixes {missing}", bucket.urn)


# --- Lambda ------------------------------------------------------------------------------


def _function_identifiers(function: PolicyResource) -> list[Any]:
    return [prop(function.props, "name"), prop(function.props, "arn"), function.name]


def lambda_failure_destination(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every Lambda has a dead-letter queue or an on-failure destination for the async
    invocations that fail after Lambda's retries."""
    for function in _of_type(args, LAMBDA_TYPE):
        if prop(function.props, "deadLetterConfig", "targetArn") is not None:
            continue
        identifiers = _function_identifiers(function)
        destinations = [prop(config.props, "destinationConfig", "onFailure", "destination")
                        for config in _of_type(args, EVENT_INVOKE_CONFIG_TYPE)
                        if _linked(config, function, "functionName", identifiers)]
        if not any(destinations):
            report(f"{_label(function)}: no deadLetterConfig.targetArn and no "
                   "FunctionEventInvokeConfig with destinationConfig.onFailure.destination",
                   function.urn)


def lambda_log_group_retention(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every Lambda's log group is in the stack with a retention (else Lambda creates one
    that keeps logs forever)."""
    groups = {prop(group.props, "name"): group for group in _of_type(args, LOG_GROUP_TYPE)}
    for function in _of_type(args, LAMBDA_TYPE):
        name = prop(function.props, "name")
        custom = prop(function.props, "loggingConfig", "logGroup")
        if name is UNKNOWN or custom is UNKNOWN:
            continue
        expected = custom or f"/aws/lambda/{name or function.name}"
        group = groups.get(expected)
        if group is None:
            report(f"{_label(function)}: no LogGroup named {expected} in the stack (Lambda "
                   "would create one that never expires)", function.urn)
        elif not prop(group.props, "retentionInDays"):
            report(f"{_label(function)}: {_label(group)} ({expected}) has no retentionInDays",
                   function.urn)


# --- tags --------------------------------------------------------------------------------


def required_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Every taggable AWS resource carries the required tags (configurable
    ``requiredTags``); the AWS provider's ``defaultTags`` count."""
    if not is_taggable(args.resource_type):
        return
    tags = prop(args.props, "tags")
    tags_all = prop(args.props, "tagsAll")
    # a provider's object inputs reach the analyzer as JSON text
    provider_defaults = prop(args.provider.props, "defaultTags") if args.provider else None
    defaults = prop(parse_json(provider_defaults) if isinstance(provider_defaults, str)
                    else provider_defaults, "tags")
    if UNKNOWN in (tags, tags_all, defaults):
        return
    present = {**(defaults or {}), **(tags_all or {}), **(tags or {})}
    missing = [tag for tag in _config(args, REQUIRED_TAGS_KEY, DEFAULT_REQUIRED_TAGS)
               if not present.get(tag)]
    if missing:
        report(f"{_label(args)}: tags lack {missing}", None)


# --- advisory ----------------------------------------------------------------------------


def _is_dev(args: ResourceValidationArgs) -> bool:
    pattern = _config(args, DEV_STACK_PATTERN_KEY, DEFAULT_DEV_STACK_PATTERN)
    return bool(re.search(pattern, stack_of(args.urn)))


def dev_idle_instance_endpoint(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """In a dev stack, an instance endpoint bills every hour even when idle; serverless
    scales to zero."""
    if args.resource_type == ENDPOINT_CONFIG_TYPE and _is_dev(args):
        variants = _instance_variants(args)
        if variants:
            report(f"{_label(args)}: productionVariants {variants} run instances around the "
                   f"clock in dev stack {stack_of(args.urn)}; consider serverlessConfig", None)


def dev_spot_training(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """In a dev stack, training jobs use managed spot capacity."""
    if args.resource_type != PIPELINE_TYPE or not _is_dev(args):
        return
    for step, kind, job in _jobs(args):
        if kind == "training" and prop(job, "EnableManagedSpotTraining") is not True:
            report(f"{_label(args)}: step {step} has pipelineDefinition "
                   f"EnableManagedSpotTraining off in dev stack {stack_of(args.urn)}", None)


def capture_retention(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Captured requests (personal data, often) are not kept beyond a year (configurable
    ``maxCaptureRetentionDays``)."""
    if args.resource_type not in LIFECYCLE_TYPES:
        return
    limit = _config(args, MAX_CAPTURE_RETENTION_KEY, DEFAULT_MAX_CAPTURE_RETENTION_DAYS)
    capture = PREFIXES["capture"]
    for prefix, days in _expiring_prefixes(as_list(prop(args.props, "rules"))).items():
        if isinstance(days, (int, float)) and capture.startswith(prefix) and days > limit:
            report(f"{_label(args)}: rules expire {prefix} after {days:g} days (expiration."
                   f"days), above {limit}", None)
