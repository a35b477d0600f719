"""The policy pack's policies: pulumi-policy objects around the rule functions."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from mlops_components.policy import rules

POLICY_PACK_NAME = "mlops-components"
POLICY_PACK_DESCRIPTION = ("Security, reliability and cost rules for MLOps stacks on AWS "
                           "SageMaker (mlops-components and raw pulumi-aws resources alike).")

#: The policies a stack's own settings configure (see ``offline.stack_policy_config``).
NETWORK_ISOLATION_POLICY = "sagemaker-network-isolation"
KMS_POLICY = "sagemaker-kms-when-stack-has-key"
VPC_POLICY = "sagemaker-vpc-when-subnets"

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

_STRINGS = {"type": "array", "items": {"type": "string"}}


def _schema(**properties: dict) -> PolicyConfigSchema:
    return PolicyConfigSchema(properties=properties)


def _doc(function) -> str:
    return " ".join((function.__doc__ or "").split())


def _resource(name: str, validate, level: EnforcementLevel = MANDATORY,
              schema: PolicyConfigSchema | None = None) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(name=name, description=_doc(validate), validate=validate,
                                    enforcement_level=level, config_schema=schema)


def _stack(name: str, validate, level: EnforcementLevel = MANDATORY,
           schema: PolicyConfigSchema | None = None) -> StackValidationPolicy:
    return StackValidationPolicy(name=name, description=_doc(validate), validate=validate,
                                 enforcement_level=level, config_schema=schema)


def build_policies() -> list[Policy]:
    """Every policy of the pack, mandatory first."""
    dev = _schema(**{rules.DEV_STACK_PATTERN_KEY: {
        "type": "string", "default": rules.DEFAULT_DEV_STACK_PATTERN,
        "description": "Regular expression on the stack name that marks a dev stack."}})
    return [
        _stack("s3-sse-kms", rules.s3_sse_kms),
        _stack("s3-public-access-block", rules.s3_public_access_block),
        _stack("s3-tls-only", rules.s3_tls_only),
        _stack("s3-versioning", rules.s3_versioning),
        _stack("s3-lifecycle-capture-reports", rules.s3_lifecycle_capture_reports,
               schema=_schema(**{rules.LIFECYCLE_PREFIXES_KEY: {
                   **_STRINGS, "default": rules.DEFAULT_LIFECYCLE_PREFIXES,
                   "description": "Key prefixes every bucket must expire."}})),
        _resource("iam-no-wildcard-action", rules.iam_no_wildcard_action),
        _resource("iam-no-wildcard-resource-write", rules.iam_no_wildcard_resource_write),
        _resource("iam-no-full-access-managed-policies",
                  rules.iam_no_full_access_managed_policies),
        _resource("iam-pass-role-scoped", rules.iam_pass_role_scoped),
        _resource(NETWORK_ISOLATION_POLICY, rules.sagemaker_network_isolation,
                  schema=_schema(**{rules.ALLOW_NETWORK_ACCESS_KEY: {
                      "type": "boolean", "default": False,
                      "description": "The stack opts out of network isolation."}})),
        _stack(KMS_POLICY, rules.sagemaker_kms_when_stack_has_key,
               schema=_schema(**{rules.KMS_KEY_ARN_KEY: {
                   "type": "string", "default": "",
                   "description": "The stack's KMS key (else: any aws.kms.Key in it)."}})),
        _resource("sagemaker-endpoint-data-capture", rules.sagemaker_endpoint_data_capture),
        _resource(VPC_POLICY, rules.sagemaker_vpc_when_subnets,
                  schema=_schema(**{rules.SUBNET_IDS_KEY: {
                      **_STRINGS, "default": [],
                      "description": "The stack's subnets; when set, jobs run in the VPC."}})),
        _resource("sagemaker-allowed-registries", rules.sagemaker_allowed_registries,
                  schema=_schema(**{rules.ALLOWED_REGISTRIES_KEY: {
                      **_STRINGS, "description": "Registry host patterns (fnmatch), e.g. "
                      "123456789012.dkr.ecr.*.amazonaws.com. Default: AWS's SageMaker "
                      "scikit-learn image registries."}})),
        _resource("eventbridge-target-retry-and-dlq", rules.event_target_retry_and_dlq),
        _stack("lambda-failure-destination", rules.lambda_failure_destination),
        _stack("lambda-log-group-retention", rules.lambda_log_group_retention),
        _resource("sqs-encrypted", rules.sqs_encrypted),
        _resource("required-tags", rules.required_tags,
                  schema=_schema(**{rules.REQUIRED_TAGS_KEY: {
                      **_STRINGS, "default": rules.DEFAULT_REQUIRED_TAGS,
                      "description": "Tags every taggable resource carries."}})),
        _resource("dev-idle-instance-endpoint", rules.dev_idle_instance_endpoint, ADVISORY,
                  dev),
        _resource("dev-spot-training", rules.dev_spot_training, ADVISORY, dev),
        _resource("capture-retention-max", rules.capture_retention, ADVISORY,
                  _schema(**{rules.MAX_CAPTURE_RETENTION_KEY: {
                      "type": "number", "default": rules.DEFAULT_MAX_CAPTURE_RETENTION_DAYS,
                      "description": "Longest retention of captured requests, in days."}})),
    ]
