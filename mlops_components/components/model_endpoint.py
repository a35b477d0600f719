"""ModelEndpoint: a real-time endpoint that deploys every approved model package, continuously.

Who owns the endpoint
---------------------
Pulumi never declares the SageMaker endpoint, its endpoint configs or its models. It declares
what makes and removes them: the deployer Lambda (``functions/deployer/``), its rules and
roles. The two therefore never fight over one resource:

* **Creation** happens on the first approval: the registry's approval rule (Approved only,
  this group only) invokes the deployer, which creates ``<model>-v<N>-<hash>`` and the
  endpoint. With no approved model yet, ``pulumi up`` creates no endpoint and succeeds.
* **Updates** are the deployer's too: a new approval is a blue/green ``UpdateEndpoint``
  (canary or linear shifting with auto-rollback on this component's alarms on instance
  endpoints). A ``pulumi up`` that changes a setting (instance type, memory, sampling)
  changes the deployer's environment; the next approval deploys with it. Pulumi never
  replaces a live endpoint, and no drift shows in ``pulumi preview``.
* **Deletion** on ``pulumi destroy``: an ``aws.lambda_.Invocation`` with lifecycle scope
  CRUD (child ``<name>-cleanup``) invokes the same Lambda with ``tf.action = "delete"``,
  which deletes the endpoint, waits until it is gone (up to the function's 15 minutes; past
  that the destroy fails and a second one waits again), then its scalable target and every
  model and endpoint config named and tagged as this endpoint's
  (``deployer.delete_endpoint_and_configs``); with ``packages_on_destroy`` it also deletes the
  group's packages, or refuses the destroy while there are any. It runs with the stack's AWS
  provider, inside AWS, with the deployer's role: no local boto3 credentials or dynamic
  provider needed. Dependencies order the destroy (dependents go first): the rule targets
  depend on the cleanup, so no approval can start a deployment after it; the cleanup depends
  on the function, its role and policy, the models' role and policy (DeleteEndpoint: keep the
  execution role until the deletion ends) and the endpoint's log group, so all still exist
  while it runs. A failing cleanup fails ``pulumi destroy`` (a synchronous invocation),
  rather than leaving an endpoint behind.

Reconciling: a second rule (every endpoint) sends this endpoint's state changes to InService
or Failed to the Lambda. An approval that arrives while the endpoint is busy (a canary takes
15 minutes or more; Lambda retries only twice, minutes apart) does nothing; the state change
that ends the deployment deploys the newest approved package then. The live-version tags and
the monitor's deployed baseline are written at InService with that config only, so after an
auto-rollback they still name the model really serving. A Failed endpoint is deleted and
recreated by the same reconcile.

Autoscaling (instance endpoints) needs the variant to exist, which it does not before the
first approval; so Pulumi does not declare the scalable target. The deployer registers it
(and its target-tracking policy on ``SageMakerVariantInvocationsPerInstance``) when the
endpoint reaches InService. Both calls are upserts; a deployment that changes the instance
type deregisters the target first (SageMaker refuses that update otherwise), and InService
registers it again.

Failures: EventBridge retries delivery (retry policy) and dead-letters undeliverable events
to an SQS queue; the Lambda's own errors are retried by Lambda's asynchronous invocation and
then sent to the same queue. Alarms: endpoint 5XX errors and model latency (the rollback
alarms of blue/green deployments), deployer errors, and failed deployments: a CloudWatch
alarm on the ``FailedDeployments`` metric the deployer publishes (namespace
``mlops/Deployer``) when a deployment rolls back or the endpoint fails. A metric, rather
than an EventBridge rule to the alarm actions, because it is an alarm like the others: same
actions, state and history in the console, and the deployer knows which deployment failed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from mlops_components.bucket_layout import PREFIXES, deployed_baseline_uri
from mlops_components.components.event_delivery import (
    allow_dead_letters,
    dead_letter_queue,
    delivery,
)
from mlops_components.components.iam import assume_role_policy, document, statement
from mlops_components.components.inputs import cross_language
from mlops_components.components.lambdas import RUNTIME, function_logs, function_role
from mlops_components.components.model_registry import approval_event_pattern, group_arn_parts
from mlops_components.components.tags import child_opts, tags_for
from mlops_components.functions import deployer
from mlops_components.sagemaker.endpoint import (
    CANARY_PERCENT_RANGE,
    DEFAULT_5XX_ALARM_COUNT,
    DEFAULT_CANARY_PERCENT,
    DEFAULT_CAPTURE_SAMPLING_PERCENT,
    DEFAULT_DEPLOYMENT_STRATEGY,
    DEFAULT_ENDPOINT_INSTANCE_COUNT,
    DEFAULT_ENDPOINT_INSTANCE_TYPE,
    DEFAULT_ENDPOINT_KIND,
    DEFAULT_ENDPOINT_LOG_RETENTION_DAYS,
    DEFAULT_LATENCY_ALARM_MS,
    DEFAULT_SERVERLESS_MAX_CONCURRENCY,
    DEFAULT_SERVERLESS_MEMORY_MB,
    DEFAULT_TARGET_INVOCATIONS_PER_INSTANCE,
    LINEAR_STEP_PERCENT_RANGE,
    LOG_RETENTION_DAYS_ALLOWED,
    MAX_INSTANCE_COUNT,
    SERVERLESS_CONCURRENCY_RANGE,
    SERVERLESS_MEMORY_MB_RANGE,
    SERVERLESS_MEMORY_STEP_MB,
    CaptureMethod,
    DeploymentStrategy,
    EndpointKind,
    PackagesOnDestroy,
)
from mlops_components.validation import (
    BUCKET_NAME_RE,
    INSTANCE_TYPE_RE,
    KMS_KEY_ONLY_ARN_RE,
    MODEL_PACKAGE_GROUP_ARN_RE,
    SAGEMAKER_NAME_RE,
    SECURITY_GROUP_RE,
    SUBNET_RE,
    Problems,
)

__all__ = ["AutoscalingArgs", "CaptureMethod", "DeploymentStrategy", "EndpointKind",
           "ModelEndpoint", "ModelEndpointArgs", "PackagesOnDestroy", "deployer_function_name",
           "endpoint_alarm_names", "endpoint_in_service_pattern",
           "validate_endpoint_args"]

DEPLOYER_PACKAGE = Path(deployer.__file__).resolve().parent
"""The deployer's package; the Lambda loads it as the top-level package of that name."""
DEPLOYER_HANDLER = f"{DEPLOYER_PACKAGE.name}.handler"
DEPLOYER_TIMEOUT_SECONDS = 900
"""Lambda's maximum: the destroy hook waits up to this (less a margin) for the endpoint to be
gone (deployer.CLEANUP_WAIT_SECONDS); events return in seconds."""
DEPLOYER_MEMORY_MB = 256
FUNCTION_NAME_LIMIT = 64
#: EventBridge PutPermission's StatementId: at most 64 characters.
EVENT_STATEMENT_ID_LIMIT = 64
#: Lambda's asynchronous retries of a failed deployment, then the dead-letter queue.
ASYNC_RETRY_ATTEMPTS = 2
ASYNC_MAX_EVENT_AGE_SECONDS = 6 * 3600
#: EventBridge's retries of an event it cannot deliver to the function.
TARGET_RETRY_ATTEMPTS = 24
TARGET_MAX_EVENT_AGE_SECONDS = 24 * 3600
ALARM_PERIOD_SECONDS = 60
ALARM_EVALUATION_PERIODS = 3
SAGEMAKER_METRICS = "AWS/SageMaker"
#: Model-package-derived names the deployer gives models and configs: `<endpoint>-v<N>-<hash>`.
#: Names longer than this keep only their first characters (deployer.resource_name cuts them).
_NAME_PREFIX_LIMIT = 40


@dataclass
class AutoscalingArgs:
    """Target tracking on invocations per instance (instance endpoints only)."""

    min_capacity: int = 1
    """Fewest instances. Default: 1."""

    max_capacity: int = 4
    """Most instances. Default: 4."""

    target_invocations_per_instance: int = DEFAULT_TARGET_INVOCATIONS_PER_INSTANCE
    """Invocations per instance per minute the policy holds. Default: 100."""


@dataclass
class ModelEndpointArgs:
    """Inputs of a ModelEndpoint."""

    bucket_name: pulumi.Input[str] | None = None
    """The data bucket: model artifacts under models/, capture under capture/. Required alone;
    MlopsStack sets it."""

    model_package_group_name: pulumi.Input[str] | None = None
    """The model package group whose approved packages deploy: a name (this account's), or
    the ARN of a registry account's group that shares its packages with this one (its
    approvals arrive forwarded from that account; give registry_bucket_name and
    registry_kms_key_arn too). Required alone; MlopsStack sets it."""

    registry_bucket_name: str | None = None
    """With a registry account's group: that account's bucket, whose models/ the deployer
    and the served models read (its bucket policy grants this account). Default: none."""

    registry_kms_key_arn: str | None = None
    """With a registry account's group: the key of its bucket (its key policy lets this
    account decrypt through S3). Default: none."""

    endpoint_name: str | None = None
    """Name of the SageMaker endpoint. Default: the component's name."""

    kind: EndpointKind = DEFAULT_ENDPOINT_KIND
    """Serverless or instances. Default: serverless."""

    instance_type: str = DEFAULT_ENDPOINT_INSTANCE_TYPE
    """Instance type (instances). Default: ml.m5.large."""

    instance_count: int = DEFAULT_ENDPOINT_INSTANCE_COUNT
    """Initial instance count (instances). Default: 1."""

    serverless_memory_mb: int = DEFAULT_SERVERLESS_MEMORY_MB
    """Memory of a serverless endpoint: 1024-6144 in steps of 1024. Default: 2048."""

    serverless_max_concurrency: int = DEFAULT_SERVERLESS_MAX_CONCURRENCY
    """Concurrent invocations of a serverless endpoint: 1-200. Default: 5."""

    capture_sampling_percent: int = DEFAULT_CAPTURE_SAMPLING_PERCENT
    """Percent of requests captured to the bucket's capture prefix; 0 turns capture off.
    Default: 100."""

    capture_method: CaptureMethod | None = None
    """Who writes capture records. Default: data_capture on instances (SageMaker's
    DataCaptureConfig), handler on serverless (which has no data capture)."""

    deployment_strategy: DeploymentStrategy = DEFAULT_DEPLOYMENT_STRATEGY
    """Traffic shifting of a blue/green update (canary and linear: instances only).
    Default: all_at_once."""

    canary_percent: int = DEFAULT_CANARY_PERCENT
    """Capacity percent of the canary (1-50) or of each linear step (10-50). Default: 10."""

    autoscaling: AutoscalingArgs | None = None
    """Autoscaling of an instance endpoint. Default: none (a fixed instance count)."""

    enable_network_isolation: bool | None = None
    """Serve without network access. Default: True on instances; serverless endpoints
    cannot be isolated (and their handler writes capture to S3)."""

    kms_key_arn: pulumi.Input[str] | None = None
    """Customer-managed KMS key (key ARN) for the endpoint's storage and capture; the
    model role may decrypt the artifacts with it. Default: none (the bucket's key)."""

    subnet_ids: Sequence[str] = ()
    """VPC subnets of an instance endpoint. Default: none (SageMaker-managed network)."""

    security_group_ids: Sequence[str] = ()
    """Security groups of an instance endpoint (with subnet_ids). Default: none."""

    latency_alarm_ms: float = DEFAULT_LATENCY_ALARM_MS
    """Average model latency in milliseconds that raises the latency alarm. Default: 1000."""

    error_alarm_count: int = DEFAULT_5XX_ALARM_COUNT
    """5XX responses a minute that raise the error alarm. Default: 1."""

    alarm_actions: Sequence[pulumi.Input[str]] = ()
    """ARNs (e.g. an SNS topic) notified when an alarm fires. Default: none."""

    log_retention_days: int = DEFAULT_ENDPOINT_LOG_RETENTION_DAYS
    """Retention of the endpoint's log group (/aws/sagemaker/Endpoints/<endpoint>), declared
    here so SageMaker does not create it without one. Default: 30 days."""

    packages_on_destroy: PackagesOnDestroy = PackagesOnDestroy.KEEP
    """What ``pulumi destroy`` does with the group's model packages: keep, delete, or refuse
    the destroy while there are any. Default: keep (MlopsStack: delete with forceDestroy,
    else refuse)."""

    model_card: bool = False
    """Write a SageMaker Model Card (``<group>-v<version>``, status Draft) for each approved
    package, from its record: overview, intended uses, training details, evaluation metrics
    and the approval. Default: off."""

    model_card_intended_uses: str = ""
    """The model cards' intended uses (at most 2048 characters). Default: a placeholder that
    asks for them."""

    model_name: str | None = None
    """Model this endpoint serves: its tags, and where the deployer copies the deployed
    package's drift baseline (``models/<model>/deployed-baseline/``, ModelMonitor's default
    BaselineUri). Default: the endpoint name."""

    tags: Mapping[str, str] = field(default_factory=dict)
    """Extra tags for every resource (and the deployer's SageMaker resources). Default: none."""


def deployer_code_assets() -> dict[str, pulumi.FileAsset]:
    """The Lambda's code archive: every module of the deployer package, under its name."""
    return {f"{DEPLOYER_PACKAGE.name}/{module.name}": pulumi.FileAsset(str(module))
            for module in sorted(DEPLOYER_PACKAGE.glob("*.py"))}


def deployer_function_name(endpoint_name: str) -> str:
    """`<endpoint>-deployer`, the endpoint part cut so it fits Lambda's 64 characters."""
    return f"{endpoint_name[:FUNCTION_NAME_LIMIT - len('-deployer')]}-deployer"


def endpoint_alarm_names(endpoint_name: str) -> dict[str, str]:
    """The component's alarms by role: endpoint 5XX errors, model latency, deployer errors,
    failed (or rolled-back) deployments."""
    return {"errors": f"{endpoint_name}-5xx-errors",
            "latency": f"{endpoint_name}-model-latency",
            "deployer": f"{deployer_function_name(endpoint_name)}-errors",
            "deployment": f"{endpoint_name}-deployment-failed"}


def endpoint_in_service_pattern(endpoint_name: str) -> dict:
    """EventBridge pattern for "this endpoint is now InService or Failed": a deployment ended,
    the deployer reconciles (and registers autoscaling at InService)."""
    return {
        "source": [deployer.EVENT_SOURCE],
        "detail-type": [deployer.ENDPOINT_EVENT_DETAIL_TYPE],
        "detail": {"EndpointName": [endpoint_name],
                   "EndpointStatus": list(deployer.ENDPOINT_EVENT_STATUSES)},
    }


@cross_language(ModelEndpointArgs)
class ModelEndpoint(pulumi.ComponentResource):
    """Deploys approved packages of one group to one endpoint; removes it on destroy."""

    endpoint_name: pulumi.Output[str]
    """Name of the SageMaker endpoint (created by the deployer on the first approval)."""
    deployer_function_name: pulumi.Output[str]
    """The deployer Lambda."""
    model_role_arn: pulumi.Output[str]
    """Execution role of the served models."""
    dead_letter_queue_url: pulumi.Output[str]
    """Events the deployer could not handle end up here."""
    alarm_names: pulumi.Output[list[str]]
    """CloudWatch alarms: endpoint 5XX errors, model latency, deployer errors."""

    def __init__(self, name: str, args: ModelEndpointArgs,
                 opts: pulumi.ResourceOptions | None = None):
        settings = _validate(name, args)
        super().__init__("mlops:index:ModelEndpoint", name, None, opts)
        endpoint = settings.endpoint_name
        tags = tags_for(args.model_name or endpoint, args.tags)
        bucket = pulumi.Output.from_input(args.bucket_name)
        group = pulumi.Output.from_input(args.model_package_group_name)
        invoke_opts = pulumi.InvokeOutputOptions(parent=self)
        region = aws.get_region_output(opts=invoke_opts).region
        account = aws.get_caller_identity_output(opts=invoke_opts).account_id
        partition = aws.get_partition_output(opts=invoke_opts).partition
        function_name = deployer_function_name(endpoint)
        alarm_names = endpoint_alarm_names(endpoint)

        # -- the served models' role ---------------------------------------------------------
        model_role = aws.iam.Role(
            f"{name}-model-role",
            assume_role_policy=assume_role_policy("sagemaker.amazonaws.com",
                                                  source_account=account),
            description=f"Execution role of the models served by endpoint {endpoint}",
            tags=tags, opts=child_opts(self))
        model_policy = aws.iam.RolePolicy(
            f"{name}-model-role-policy", role=model_role.id,
            policy=pulumi.Output.all(bucket, partition, region, account, args.kms_key_arn).apply(
                lambda v: _model_policy(settings, *v)),
            opts=child_opts(self))

        # -- dead letters, logs, the function -------------------------------------------------
        dlq = dead_letter_queue(f"{name}-dlq", self, tags)
        log_group = function_logs(f"{name}-deployer-logs", function_name, self, tags)
        # SageMaker would create it on the first deployment, with no retention
        endpoint_logs = aws.cloudwatch.LogGroup(
            f"{name}-endpoint-logs", name=f"/aws/sagemaker/Endpoints/{endpoint}",
            retention_in_days=args.log_retention_days, tags=tags, opts=child_opts(self))
        deployer_role = function_role(f"{name}-deployer-role",
                                      f"Deploys approved models to endpoint {endpoint}",
                                      account, self, tags)
        deployer_policy = aws.iam.RolePolicy(
            f"{name}-deployer-role-policy", role=deployer_role.id,
            policy=pulumi.Output.all(group, model_role.arn, dlq.arn, log_group.arn, partition,
                                     region, account, args.kms_key_arn, bucket).apply(
                lambda v: _deployer_policy(settings, *v)),
            opts=child_opts(self))
        environment = pulumi.Output.all(model_role.arn, bucket, group, args.kms_key_arn).apply(
            lambda v: _deployer_config(settings, alarm_names, tags, *v).to_env())
        function = aws.lambda_.Function(
            f"{name}-deployer",
            name=function_name,
            description=f"Deploys approved packages of its group to endpoint {endpoint}",
            runtime=RUNTIME, handler=DEPLOYER_HANDLER, role=deployer_role.arn,
            code=pulumi.AssetArchive(deployer_code_assets()),
            timeout=DEPLOYER_TIMEOUT_SECONDS, memory_size=DEPLOYER_MEMORY_MB,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=environment),
            tags=tags, opts=child_opts(self, depends_on=[deployer_policy, log_group]))
        aws.lambda_.FunctionEventInvokeConfig(
            f"{name}-deployer-retries", function_name=function.name,
            maximum_retry_attempts=ASYNC_RETRY_ATTEMPTS,
            maximum_event_age_in_seconds=ASYNC_MAX_EVENT_AGE_SECONDS,
            destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
                on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                    destination=dlq.arn)),
            opts=child_opts(self))

        # -- `pulumi destroy` removes what the deployer made ---------------------------------
        # Destroy deletes dependents first: the cleanup (which waits until the endpoint is
        # gone) runs while the function and its role, the models' role (DeleteEndpoint: keep
        # it until the deletion ends) and the endpoint's log group all still exist.
        cleanup = aws.lambda_.Invocation(
            f"{name}-cleanup", function_name=function.name,
            input=json.dumps({deployer.CLEANUP_MARKER: endpoint}),
            lifecycle_scope="CRUD", terraform_key=deployer.LIFECYCLE_KEY,
            opts=child_opts(self, depends_on=[function, deployer_role, deployer_policy,
                                              model_role, model_policy, endpoint_logs]))

        # -- a registry account's approvals reach this account's default bus ---------------
        registry = group_arn_parts(args.model_package_group_name) \
            if isinstance(args.model_package_group_name, str) else None
        if registry is not None:
            aws.cloudwatch.EventPermission(
                f"{name}-registry-permission", principal=registry[2],
                statement_id=registry_statement_id(endpoint), action="events:PutEvents",
                event_bus_name="default", opts=child_opts(self))

        # -- events: approvals, and the endpoint's InService / Failed (reconcile) -----------
        # "inservice", not "in-service": "<model>-endpoint-inservice-rule-<7>" must fit
        # EventBridge's 64 characters at the longest model name (32).
        rules = {"approval": group.apply(
            lambda g: json.dumps(_approval_pattern(g), sort_keys=True)),
            "inservice": pulumi.Output.from_input(
                json.dumps(endpoint_in_service_pattern(endpoint), sort_keys=True))}
        created_rules = []
        for role_name, pattern in rules.items():
            rule = aws.cloudwatch.EventRule(
                f"{name}-{role_name}-rule", event_pattern=pattern,
                description=f"{role_name} events of endpoint {endpoint} -> its deployer",
                tags=tags, opts=child_opts(self))
            permission = aws.lambda_.Permission(
                f"{name}-{role_name}-permission", action="lambda:InvokeFunction",
                function=function.name, principal="events.amazonaws.com",
                source_arn=rule.arn, opts=child_opts(self))
            aws.cloudwatch.EventTarget(
                f"{name}-{role_name}-target", rule=rule.name, arn=function.arn,
                **delivery(dlq, TARGET_RETRY_ATTEMPTS, TARGET_MAX_EVENT_AGE_SECONDS),
                # destroy removes the targets first: no deployment can start after the cleanup
                opts=child_opts(self, depends_on=[permission, cleanup]))
            created_rules.append(rule)
        allow_dead_letters(f"{name}-dlq-policy", self, dlq, created_rules)

        # -- alarms ---------------------------------------------------------------------------
        variant = {"EndpointName": endpoint, "VariantName": deployer.VARIANT_NAME}
        actions = list(args.alarm_actions)
        alarms = [
            aws.cloudwatch.MetricAlarm(
                f"{name}-5xx-alarm", name=alarm_names["errors"],
                alarm_description=f"Endpoint {endpoint} answers 5XX errors",
                namespace=SAGEMAKER_METRICS, metric_name="Invocation5XXErrors",
                dimensions=variant, statistic="Sum", period=ALARM_PERIOD_SECONDS,
                evaluation_periods=ALARM_EVALUATION_PERIODS, datapoints_to_alarm=1,
                threshold=args.error_alarm_count,
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching", alarm_actions=actions, tags=tags,
                opts=child_opts(self)),
            aws.cloudwatch.MetricAlarm(
                f"{name}-latency-alarm", name=alarm_names["latency"],
                alarm_description=f"Endpoint {endpoint}: average model latency above "
                                  f"{args.latency_alarm_ms:g} ms",
                namespace=SAGEMAKER_METRICS, metric_name="ModelLatency",
                dimensions=variant, statistic="Average", period=ALARM_PERIOD_SECONDS,
                evaluation_periods=ALARM_EVALUATION_PERIODS,
                datapoints_to_alarm=ALARM_EVALUATION_PERIODS,
                threshold=args.latency_alarm_ms * 1000,  # ModelLatency is in microseconds
                comparison_operator="GreaterThanThreshold",
                treat_missing_data="notBreaching", alarm_actions=actions, tags=tags,
                opts=child_opts(self)),
            aws.cloudwatch.MetricAlarm(
                f"{name}-deployer-alarm", name=alarm_names["deployer"],
                alarm_description=f"The deployer of endpoint {endpoint} failed (see its logs "
                                  "and the dead-letter queue)",
                namespace="AWS/Lambda", metric_name="Errors",
                dimensions={"FunctionName": function_name}, statistic="Sum", period=300,
                evaluation_periods=1, threshold=1,
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching", alarm_actions=actions, tags=tags,
                opts=child_opts(self, depends_on=[function])),
            aws.cloudwatch.MetricAlarm(
                f"{name}-deployment-alarm", name=alarm_names["deployment"],
                alarm_description=f"A deployment to endpoint {endpoint} rolled back or the "
                                  "endpoint failed (the deployer's logs say which package)",
                namespace=deployer.METRICS_NAMESPACE,
                metric_name=deployer.FAILED_DEPLOYMENTS_METRIC,
                dimensions={"EndpointName": endpoint}, statistic="Sum", period=300,
                evaluation_periods=1, threshold=1,
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching", alarm_actions=actions, tags=tags,
                opts=child_opts(self)),
        ]

        self.endpoint_name = pulumi.Output.from_input(endpoint)
        self.deployer_function_name = function.name
        self.model_role_arn = model_role.arn
        self.dead_letter_queue_url = dlq.url
        self.alarm_names = pulumi.Output.all(*[alarm.name for alarm in alarms])
        self.register_outputs({
            "endpoint_name": self.endpoint_name,
            "deployer_function_name": self.deployer_function_name,
            "model_role_arn": self.model_role_arn,
            "dead_letter_queue_url": self.dead_letter_queue_url,
            "alarm_names": self.alarm_names,
        })


# ---------------------------------------------------------------------------------------------
# Settings with defaults resolved, and their validation


@dataclass(frozen=True)
class _Settings:
    endpoint_name: str
    kind: EndpointKind
    capture_method: CaptureMethod
    network_isolation: bool
    strategy: DeploymentStrategy
    packages_on_destroy: PackagesOnDestroy
    args: ModelEndpointArgs
    autoscaling: AutoscalingArgs | None

    @property
    def serverless(self) -> bool:
        return self.kind is EndpointKind.SERVERLESS

    @property
    def capture(self) -> bool:
        return self.args.capture_sampling_percent > 0

    @property
    def model_name(self) -> str:
        return self.args.model_name or self.endpoint_name


def _validate_registry(problems: Problems, args: ModelEndpointArgs,
                       packages: PackagesOnDestroy | None) -> None:
    """A registry account's group comes with its bucket (and key), and its packages are not
    this stack's to delete."""
    group = args.model_package_group_name
    remote = isinstance(group, str) and group.startswith("arn:")
    if remote:
        problems.matches("model_package_group_name", group, MODEL_PACKAGE_GROUP_ARN_RE,
                         "a group name or a model package group ARN (arn:aws:sagemaker:"
                         "<region>:<account>:model-package-group/<name>)")
        problems.check(args.registry_bucket_name is not None, "registry_bucket_name",
                       "is required with a registry account's group (its bucket holds the "
                       "artifacts)", None)
        problems.check(packages in (None, PackagesOnDestroy.KEEP), "packages_on_destroy",
                       "must be 'keep' with a registry account's group (its packages are not "
                       "this stack's)", packages)
    elif args.registry_bucket_name is not None or args.registry_kms_key_arn is not None:
        problems.check(False, "registry_bucket_name",
                       "is only for a registry account's group (model_package_group_name as "
                       "a group ARN)", args.registry_bucket_name)
    problems.matches("registry_bucket_name", args.registry_bucket_name, BUCKET_NAME_RE,
                     "an S3 bucket name")
    problems.matches("registry_kms_key_arn", args.registry_kms_key_arn, KMS_KEY_ONLY_ARN_RE,
                     "a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), not an alias")


def _validate(name: str, args: ModelEndpointArgs) -> _Settings:
    """Every rule at once; AWS refuses these combinations only after minutes of deployment."""
    problems = Problems(f"ModelEndpoint '{name}'")
    endpoint = args.endpoint_name or name
    problems.check(args.bucket_name is not None, "bucket_name", "is required", None)
    problems.check(args.model_package_group_name is not None, "model_package_group_name",
                   "is required", None)
    problems.matches("endpoint_name", endpoint, SAGEMAKER_NAME_RE,
                     "1-63 letters, digits and hyphens, starting with a letter or digit")
    kind = problems.one_of("kind", args.kind, EndpointKind)
    strategy = problems.one_of("deployment_strategy", args.deployment_strategy,
                               DeploymentStrategy)
    method = problems.one_of("capture_method", args.capture_method, CaptureMethod) \
        if args.capture_method is not None else None
    packages = problems.one_of("packages_on_destroy", args.packages_on_destroy,
                               PackagesOnDestroy)
    problems.check(args.log_retention_days in LOG_RETENTION_DAYS_ALLOWED, "log_retention_days",
                   f"must be one of CloudWatch's retention periods {LOG_RETENTION_DAYS_ALLOWED}",
                   args.log_retention_days)
    serverless = kind == EndpointKind.SERVERLESS
    problems.matches("instance_type", args.instance_type, INSTANCE_TYPE_RE,
                     "an ML instance type such as 'ml.m5.large'")
    problems.between("instance_count", args.instance_count, 1, MAX_INSTANCE_COUNT)
    low, high = SERVERLESS_MEMORY_MB_RANGE
    problems.check(isinstance(args.serverless_memory_mb, int)
                   and low <= args.serverless_memory_mb <= high
                   and args.serverless_memory_mb % SERVERLESS_MEMORY_STEP_MB == 0,
                   "serverless_memory_mb", f"must be {low}-{high} in steps of "
                   f"{SERVERLESS_MEMORY_STEP_MB}", args.serverless_memory_mb)
    problems.between("serverless_max_concurrency", args.serverless_max_concurrency,
                     *SERVERLESS_CONCURRENCY_RANGE)
    problems.between("capture_sampling_percent", args.capture_sampling_percent, 0, 100)
    step_range = LINEAR_STEP_PERCENT_RANGE if strategy == DeploymentStrategy.LINEAR \
        else CANARY_PERCENT_RANGE
    problems.between("canary_percent", args.canary_percent, *step_range)
    problems.check(_positive(args.latency_alarm_ms), "latency_alarm_ms", "must be > 0",
                   args.latency_alarm_ms)
    problems.check(_positive(args.error_alarm_count), "error_alarm_count", "must be > 0",
                   args.error_alarm_count)
    problems.matches("kms_key_arn", args.kms_key_arn, KMS_KEY_ONLY_ARN_RE,
                     "a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), not an alias")
    _validate_registry(problems, args, packages)
    for index, subnet in enumerate(args.subnet_ids):
        problems.matches(f"subnet_ids[{index}]", subnet, SUBNET_RE, "a subnet ID (subnet-...)")
    for index, group in enumerate(args.security_group_ids):
        problems.matches(f"security_group_ids[{index}]", group, SECURITY_GROUP_RE,
                         "a security group ID (sg-...)")
    problems.check(bool(args.subnet_ids) == bool(args.security_group_ids), "security_group_ids",
                   "must be given together with subnet_ids", list(args.security_group_ids))
    scaling = args.autoscaling
    if scaling is not None:
        problems.at_least("autoscaling.min_capacity", scaling.min_capacity, 1)
        problems.check(_number(scaling.max_capacity) and _number(scaling.min_capacity)
                       and scaling.max_capacity >= scaling.min_capacity,
                       "autoscaling.max_capacity", "must be >= autoscaling.min_capacity",
                       scaling.max_capacity)
        problems.check(_positive(scaling.target_invocations_per_instance),
                       "autoscaling.target_invocations_per_instance", "must be > 0",
                       scaling.target_invocations_per_instance)

    # combinations SageMaker refuses for serverless endpoints
    if serverless:
        why = "serverless endpoints support"
        problems.check(method != CaptureMethod.DATA_CAPTURE, "capture_method",
                       f"must be 'handler' for serverless endpoints ({why} no data capture "
                       "config; the handler writes the same records)", method)
        problems.check(not args.subnet_ids, "subnet_ids",
                       f"must be empty for serverless endpoints ({why} no VPC)",
                       list(args.subnet_ids))
        problems.check(args.enable_network_isolation is not True, "enable_network_isolation",
                       f"must not be True for serverless endpoints ({why} no network "
                       "isolation)", args.enable_network_isolation)
        problems.check(strategy == DeploymentStrategy.ALL_AT_ONCE, "deployment_strategy",
                       f"must be 'all_at_once' for serverless endpoints ({why} no canary or "
                       "linear traffic shifting)", getattr(strategy, "value", strategy))
        problems.check(scaling is None, "autoscaling", "must be None for serverless endpoints "
                       "(they scale with serverless_max_concurrency)", scaling)
    isolated = args.enable_network_isolation if args.enable_network_isolation is not None \
        else not serverless
    resolved_method = method or (CaptureMethod.HANDLER if serverless
                                 else CaptureMethod.DATA_CAPTURE)
    problems.check(not (resolved_method == CaptureMethod.HANDLER and isolated
                        and args.capture_sampling_percent), "capture_method",
                   "'handler' needs network access to S3: set enable_network_isolation=False "
                   "or use 'data_capture'", getattr(method, "value", method))
    problems.check(isinstance(args.model_card_intended_uses, str)
                   and len(args.model_card_intended_uses) <= deployer.MODEL_CARD_TEXT_LIMIT,
                   "model_card_intended_uses",
                   f"must be at most {deployer.MODEL_CARD_TEXT_LIMIT} characters long (the "
                   "model card schema's limit)", len(str(args.model_card_intended_uses)))
    problems.raise_if_any()
    return _Settings(endpoint_name=endpoint, kind=EndpointKind(kind),
                     capture_method=resolved_method, network_isolation=isolated,
                     strategy=DeploymentStrategy(strategy),
                     packages_on_destroy=PackagesOnDestroy(packages), args=args,
                     autoscaling=scaling)


def validate_endpoint_args(name: str, args: ModelEndpointArgs) -> None:
    """Raise the ValidationError a ModelEndpoint `name` with `args` would raise (or nothing)."""
    _validate(name, args)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive(value: Any) -> bool:
    return _number(value) and value > 0


# ---------------------------------------------------------------------------------------------
# What the deployer is told, and what its role and the models' role may do


def _capture_uri(bucket: str) -> str:
    return f"s3://{bucket}/{PREFIXES['capture'].rstrip('/')}"


def _deployer_config(settings: _Settings, alarm_names: Mapping[str, str],
                     tags: Mapping[str, str], model_role_arn: str, bucket: str, group: str,
                     kms_key_arn: str | None) -> deployer.Config:
    """The deployer's settings (its environment is `Config.to_env()` of this)."""
    scaling, args = settings.autoscaling, settings.args
    return deployer.Config(
        endpoint_name=settings.endpoint_name, model_package_group=group,
        execution_role_arn=model_role_arn, endpoint_kind=settings.kind.value,
        instance_type=args.instance_type,
        initial_instance_count=args.instance_count,
        serverless_memory_mb=args.serverless_memory_mb,
        serverless_max_concurrency=args.serverless_max_concurrency,
        capture_s3_uri=_capture_uri(bucket) if settings.capture else "",
        capture_sampling_percent=args.capture_sampling_percent,
        baseline_s3_uri=deployed_baseline_uri(bucket, settings.model_name),
        capture_method=settings.capture_method.value,
        kms_key_arn=kms_key_arn or "",
        registry_bucket=args.registry_bucket_name or "",
        enable_network_isolation=settings.network_isolation,
        deployment_strategy=settings.strategy.value,
        canary_percent=args.canary_percent,
        alarm_names=(alarm_names["errors"], alarm_names["latency"]),
        subnet_ids=tuple(args.subnet_ids),
        security_group_ids=tuple(args.security_group_ids),
        autoscaling_min_capacity=scaling.min_capacity if scaling else 0,
        autoscaling_max_capacity=scaling.max_capacity if scaling else 0,
        autoscaling_target_invocations=scaling.target_invocations_per_instance if scaling
        else 0,
        packages_on_destroy=settings.packages_on_destroy.value,
        model_card=bool(args.model_card),
        model_card_intended_uses=args.model_card_intended_uses if args.model_card else "",
        tags=dict(tags),
    )


def _object_arn(partition: str, prefix_uri: str) -> str:
    """ARN pattern of every object under an ``s3://bucket/prefix/`` URI."""
    return f"arn:{partition}:s3:::{prefix_uri.removeprefix('s3://')}*"


def _name_pattern(endpoint: str) -> str:
    """ARN resource pattern of the models and configs the deployer names for `endpoint`."""
    lower = endpoint.lower()
    return f"{lower}-v*" if len(lower) <= _NAME_PREFIX_LIMIT else f"{lower[:_NAME_PREFIX_LIMIT]}*"


def registry_statement_id(endpoint: str) -> str:
    """The default bus's statement that lets the registry account put events (one per
    endpoint; EventBridge allows 64 characters)."""
    return f"{endpoint[:EVENT_STATEMENT_ID_LIMIT - len('-registry')]}-registry"


def _approval_pattern(group: str) -> dict:
    """The approval pattern of this account's group, or of a registry account's (its events
    only)."""
    parts = group_arn_parts(group)
    return approval_event_pattern(group) if parts is None else \
        approval_event_pattern(parts[3], account=parts[2])


def _package_arns(group: str, partition: str, region: str, account: str) -> str:
    """ARN pattern of the group's packages (a registry account's group: in its account)."""
    parts = group_arn_parts(group)
    if parts is not None:
        partition, region, account, group = parts
    return f"arn:{partition}:sagemaker:{region}:{account}:model-package/{group.lower()}/*"


def _registry_statements(settings: _Settings, partition: str, sid: str) -> list[dict]:
    """Read the registry account's artifacts (models/ of its bucket, through its key)."""
    args = settings.args
    if not args.registry_bucket_name:
        return []
    statements = [statement("Allow", ["s3:GetObject"], [_object_arn(
        partition, f"s3://{args.registry_bucket_name}/{PREFIXES['models']}")],
        sid=f"{sid}Artifacts")]
    if args.registry_kms_key_arn:
        statements.append(statement("Allow", ["kms:Decrypt", "kms:DescribeKey"],
                                    [args.registry_kms_key_arn], sid=f"{sid}Key"))
    return statements


def _deployer_policy(settings: _Settings, group: str, model_role_arn: str, dlq_arn: str,
                     log_group_arn: str, partition: str, region: str, account: str,
                     kms_key_arn: str | None, bucket: str) -> str:
    sagemaker = f"arn:{partition}:sagemaker:{region}:{account}"
    alarms = endpoint_alarm_names(settings.endpoint_name)
    endpoint_arn = f"{sagemaker}:endpoint/{settings.endpoint_name.lower()}"
    names = _name_pattern(settings.endpoint_name)
    models, configs = f"{sagemaker}:model/{names}", f"{sagemaker}:endpoint-config/{names}"
    scalable_targets = (f"arn:{partition}:application-autoscaling:{region}:{account}:"
                        "scalable-target/*")
    statements = [
        statement("Allow", ["sagemaker:CreateModel", "sagemaker:DescribeModel",
                            "sagemaker:DeleteModel"], [models], sid="OwnModels"),
        statement("Allow", ["sagemaker:CreateEndpointConfig", "sagemaker:DescribeEndpointConfig",
                            "sagemaker:DeleteEndpointConfig"], [configs], sid="OwnEndpointConfigs"),
        statement("Allow", ["sagemaker:CreateEndpoint", "sagemaker:DescribeEndpoint",
                            "sagemaker:UpdateEndpoint", "sagemaker:DeleteEndpoint"],
                  [endpoint_arn, configs], sid="OwnEndpoint"),
        statement("Allow", ["sagemaker:AddTags", "sagemaker:ListTags"],
                  [models, configs, endpoint_arn], sid="TagOwnResources"),
        statement("Allow", ["sagemaker:ListModels", "sagemaker:ListEndpointConfigs"], ["*"],
                  sid="FindOwnResourcesToDelete"),
        statement("Allow", ["sagemaker:DescribeModelPackage"],
                  [_package_arns(group, partition, region, account)],
                  sid="ReadApprovedPackages"),
        statement("Allow", ["iam:PassRole"], [model_role_arn], sid="PassModelRole",
                  condition={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}),
        statement("Allow", ["logs:CreateLogStream", "logs:PutLogEvents"],
                  [f"{log_group_arn}:*"], sid="WriteOwnLogs"),
        statement("Allow", ["sqs:SendMessage"], [dlq_arn], sid="DeadLetterFailedDeployments"),
        statement("Allow", ["sagemaker:ListModelPackages"], ["*"],
                  sid="FindNewestApprovedPackage"),  # no resource-level scope for List*
        statement("Allow", ["cloudwatch:PutMetricData"], ["*"], sid="CountFailedDeployments",
                  condition={"StringEquals": {"cloudwatch:namespace":
                                              deployer.METRICS_NAMESPACE}}),
        # the package's drift baseline (pipeline outputs under models/) -> deployed-baseline/
        statement("Allow", ["s3:GetObject"],
                  [_object_arn(partition, f"s3://{bucket}/{PREFIXES['models']}")],
                  sid="ReadPackageBaselines"),
        statement("Allow", ["s3:PutObject"], [_object_arn(
            partition, deployed_baseline_uri(bucket, settings.model_name))],
            sid="WriteDeployedBaseline"),
        # DeregisterScalableTarget runs on every destroy, even without autoscaling; scalable
        # target ARNs hold a random id assigned at registration, so the account's targets are
        # the narrowest scope (Describe* has no resource-level permissions)
        statement("Allow", ["application-autoscaling:DeregisterScalableTarget"],
                  [scalable_targets], sid="ReleaseScaling"),
        statement("Allow", ["application-autoscaling:DescribeScalableTargets"], ["*"],
                  sid="FindScalableTargets"),
        *_registry_statements(settings, partition, "ReadRegistryBaselines"),
    ]
    if settings.args.model_card:
        # the group's cards only: <group>-v<N> (a long group: its start, a hash, -v<N>)
        statements.append(statement(
            "Allow", ["sagemaker:CreateModelCard", "sagemaker:UpdateModelCard",
                      "sagemaker:DescribeModelCard"],
            [f"{sagemaker}:model-card/{deployer.card_name_pattern(group).lower()}"],
            sid="WriteModelCards"))
    if settings.packages_on_destroy is PackagesOnDestroy.DELETE:
        statements.append(statement(
            "Allow", ["sagemaker:DeleteModelPackage"],
            [f"{sagemaker}:model-package/{group.lower()}/*"], sid="DeleteGroupPackagesOnDestroy"))
    if not settings.serverless:
        # UpdateEndpoint's AutoRollbackConfiguration: the caller must read the alarms
        statements.append(statement(
            "Allow", ["cloudwatch:DescribeAlarms"],
            [f"arn:{partition}:cloudwatch:{region}:{account}:alarm:{alarm}"
             for alarm in (alarms["errors"], alarms["latency"])], sid="ReadRollbackAlarms"))
    if settings.autoscaling is not None:
        statements += [
            # RegisterScalableTarget checks the caller may describe and resize the variant
            statement("Allow", ["sagemaker:DescribeEndpoint",
                                "sagemaker:UpdateEndpointWeightsAndCapacities"],
                      [endpoint_arn], sid="ResizeOwnVariant"),
            statement("Allow", ["application-autoscaling:RegisterScalableTarget",
                                "application-autoscaling:PutScalingPolicy"],
                      [scalable_targets], sid="ScaleOwnVariant"),
            statement("Allow", ["application-autoscaling:DescribeScalingPolicies"], ["*"],
                      sid="ReadScalingPolicies"),
            statement("Allow", ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"],
                      [f"arn:{partition}:cloudwatch:{region}:{account}:alarm:TargetTracking-"
                       f"endpoint/{settings.endpoint_name}/*"], sid="TargetTrackingAlarms"),
            statement("Allow", ["cloudwatch:DescribeAlarms"], ["*"], sid="ReadAlarms"),
            statement("Allow", ["iam:CreateServiceLinkedRole"], [
                f"arn:{partition}:iam::{account}:role/aws-service-role/"
                "sagemaker.application-autoscaling.amazonaws.com/*"], sid="ScalingServiceRole",
                condition={"StringEquals": {
                    "iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}}),
        ]
    if kms_key_arn:
        statements += [
            statement("Allow", ["kms:CreateGrant", "kms:DescribeKey"], [kms_key_arn],
                      sid="EncryptEndpointStorage"),
            statement("Allow", ["kms:Decrypt", "kms:GenerateDataKey"], [kms_key_arn],
                      sid="CopyEncryptedBaseline"),
        ]
    return json.dumps(document(statements), sort_keys=True)


def _model_policy(settings: _Settings, bucket: str, partition: str, region: str, account: str,
                  kms_key_arn: str | None) -> str:
    bucket_arn = f"arn:{partition}:s3:::{bucket}"
    capture = f"{bucket_arn}/{PREFIXES['capture']}{settings.endpoint_name}/*"
    statements = [
        statement("Allow", ["s3:GetObject"],
                  [f"{bucket_arn}/{PREFIXES['models']}*", f"{bucket_arn}/{PREFIXES['code']}*"],
                  sid="ReadModelArtifacts"),
        statement("Allow", ["ecr:GetAuthorizationToken"], ["*"], sid="EcrLogin"),
        statement("Allow", ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                            "ecr:BatchCheckLayerAvailability"],
                  [_serving_image_repository_arn(partition, region)], sid="PullServingImage"),
        statement("Allow", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                            "logs:DescribeLogStreams"],
                  [f"arn:{partition}:logs:{region}:{account}:log-group:/aws/sagemaker/"
                   f"Endpoints/{settings.endpoint_name}:*"], sid="WriteEndpointLogs"),
        statement("Allow", ["cloudwatch:PutMetricData"], ["*"], sid="PublishEndpointMetrics",
                  condition={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}),
        *_registry_statements(settings, partition, "ReadRegistry"),
    ]
    if settings.capture:
        # DataCaptureConfig writes with this role; so does the handler (serverless)
        statements.append(statement("Allow", ["s3:PutObject"], [capture],
                                    sid="WriteCaptureRecords"))
    if kms_key_arn:
        statements.append(statement("Allow", ["kms:Decrypt", "kms:GenerateDataKey",
                                              "kms:DescribeKey", "kms:CreateGrant"],
                                    [kms_key_arn], sid="UseKmsKey"))
    if settings.args.subnet_ids:
        statements.append(statement(
            "Allow", ["ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission",
                      "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission",
                      "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs",
                      "ec2:DescribeDhcpOptions", "ec2:DescribeSubnets",
                      "ec2:DescribeSecurityGroups"], ["*"], sid="ServeInVpc"))
    return json.dumps(document(statements), sort_keys=True)


def _serving_image_repository_arn(partition: str, region: str) -> str:
    """The scikit-learn image's ECR repository in `region` (the SDK's offline table)."""
    from mlops_components.sagemaker.cache import cached_sklearn_image_uri

    try:
        uri = cached_sklearn_image_uri(region)
    except ValueError:
        uri = ""
    match = re.match(r"^(\d{12})\.dkr\.ecr\.[^/]+/([^:@]+)", uri)
    account, repository = match.groups() if match else ("*", "sagemaker-scikit-learn")
    return f"arn:{partition}:ecr:{region}:{account}:repository/{repository}"
