"""Lambda: deploy an approved model package to the endpoint (continuous deployment).

Triggered by the EventBridge rule of the model registry (``source aws.sagemaker``,
``detail-type "SageMaker Model Package State Change"``). Only ``Approved`` packages of the
configured group deploy. SageMaker may deliver an event several times and out of order, so every
step is idempotent: the model and endpoint config names are derived from the package version and
a hash of the deployment settings, an event whose config is already live (or being rolled out)
does nothing, and an older version approved while a newer one is live does nothing unless
ALLOW_ROLLBACK_TO_OLDER. "Nothing to do" outcomes return a reason; failures raise, so
Lambda's asynchronous invocation retries the event and finally sends it to the dead-letter
queue (EventBridge's own retry policy and DLQ cover events it cannot deliver to the function).

Two more kinds of event reach the same function (one role, one place that knows the endpoint):

* ``SageMaker Endpoint State Change`` to InService, for instance endpoints with autoscaling:
  the scalable target and its target-tracking policy are registered then (Application Auto
  Scaling refuses a variant that does not exist yet, and no endpoint exists before the first
  approval). Both calls are upserts, so every InService event may repeat them.
* The ``pulumi destroy`` hook: an ``aws.lambda_.Invocation`` with lifecycle scope CRUD sends
  its input with a ``tf.action`` key; ``delete`` removes the endpoint, its scalable target and
  every model and endpoint config the deployer made (:func:`delete_endpoint_and_configs`).

boto3 + standard library only; imports nothing of mlops_components or training.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

EVENT_SOURCE = "aws.sagemaker"
EVENT_DETAIL_TYPE = "SageMaker Model Package State Change"
ENDPOINT_EVENT_DETAIL_TYPE = "SageMaker Endpoint State Change"
IN_SERVICE_EVENT_STATUSES = ("IN_SERVICE", "InService")
"""How the endpoint state event spells InService (AWS's examples use IN_SERVICE)."""
LIFECYCLE_KEY = "tf"
"""Key the CRUD-scoped Lambda invocation adds to its input: ``{"action": ..., "prev_input"}``."""
CLEANUP_MARKER = "mlops:endpoint-cleanup"
"""Key of the cleanup invocation's input (its value: the endpoint name)."""
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
SCALING_METRIC = "SageMakerVariantInvocationsPerInstance"
SCALE_IN_COOLDOWN_SECONDS = 300
SCALE_OUT_COOLDOWN_SECONDS = 60
APPROVED = "Approved"
VARIANT_NAME = "AllTraffic"
TAG_PACKAGE_ARN = "mlops:model-package-arn"
TAG_PACKAGE_VERSION = "mlops:model-package-version"
TAG_MANAGED_BY = "mlops:managed-by-deployer"
"""Value: the endpoint name. Marks models and configs `delete_endpoint_and_configs` may delete."""
CAPTURE_S3_ENV = "MLOPS_CAPTURE_S3_URI"
CAPTURE_SAMPLING_ENV = "MLOPS_CAPTURE_SAMPLING"
ENDPOINT_NAME_ENV = "MLOPS_ENDPOINT_NAME"
"""Container environment the serving handler reads (serverless: it writes capture itself)."""

KINDS = ("serverless", "instances")
CAPTURE_METHODS = ("data_capture", "handler")
"""SageMaker's DataCaptureConfig (instances only), or the serving handler writing records."""
STRATEGIES = ("all_at_once", "canary", "linear")
BUSY_STATUSES = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")
NAME_LIMIT = 63
POLL_SECONDS = 15.0


class DeploymentError(RuntimeError):
    """The deployment cannot proceed now; raised so EventBridge retries the event."""


class ConfigError(ValueError):
    """The Lambda's environment is invalid; every problem in one message."""


def _flag(value: str | None, default: bool) -> bool:
    return default if value in (None, "") else value.strip().lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class Config:
    """The deployer's settings (from the Lambda's environment)."""

    endpoint_name: str
    model_package_group: str
    execution_role_arn: str
    endpoint_kind: str = "serverless"
    instance_type: str = "ml.m5.large"
    initial_instance_count: int = 1
    serverless_memory_mb: int = 2048
    serverless_max_concurrency: int = 5
    capture_s3_uri: str = ""
    capture_method: str = ""
    """data_capture or handler; empty: handler on serverless, data_capture on instances."""
    capture_sampling_percent: int = 100
    baseline_s3_uri: str = ""
    """s3:// prefix the deployed package's drift baselines are copied to (the monitor's
    BaselineUri); empty: not copied."""
    kms_key_arn: str = ""
    enable_network_isolation: bool = True
    deployment_strategy: str = "all_at_once"
    canary_percent: int = 10
    alarm_names: tuple[str, ...] = ()
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    autoscaling_min_capacity: int = 0
    autoscaling_max_capacity: int = 0
    autoscaling_target_invocations: int = 0
    """Invocations per instance per minute the policy tracks; 0: no autoscaling."""
    wait_seconds: int = 0
    allow_rollback_to_older: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        problems: list[str] = []

        def integer(name: str, default: int, low: int, high: int) -> int:
            raw = env.get(name, "")
            try:
                value = int(raw) if raw != "" else default
            except ValueError:
                problems.append(f"{name} must be an integer (got {raw!r})")
                return default
            if not low <= value <= high:
                problems.append(f"{name} must be between {low} and {high} (got {value})")
            return value

        required = {name: env.get(name, "") for name in
                    ("ENDPOINT_NAME", "MODEL_PACKAGE_GROUP", "EXECUTION_ROLE_ARN")}
        problems += [f"{name} is required" for name, value in required.items() if not value]
        kind = env.get("ENDPOINT_KIND", "serverless") or "serverless"
        strategy = env.get("DEPLOYMENT_STRATEGY", "all_at_once") or "all_at_once"
        if kind not in KINDS:
            problems.append(f"ENDPOINT_KIND must be one of {list(KINDS)} (got {kind!r})")
        if strategy not in STRATEGIES:
            problems.append(
                f"DEPLOYMENT_STRATEGY must be one of {list(STRATEGIES)} (got {strategy!r})")
        if kind == "serverless" and strategy != "all_at_once":
            problems.append(f"DEPLOYMENT_STRATEGY {strategy!r} needs instance endpoints; "
                            "serverless endpoints deploy all_at_once only")
        try:
            tags = json.loads(env.get("TAGS") or "{}")
            if not isinstance(tags, dict):
                raise ValueError
        except ValueError:
            problems.append(f"TAGS must be a JSON object (got {env.get('TAGS')!r})")
            tags = {}
        config = cls(
            endpoint_name=required["ENDPOINT_NAME"],
            model_package_group=required["MODEL_PACKAGE_GROUP"],
            execution_role_arn=required["EXECUTION_ROLE_ARN"],
            endpoint_kind=kind,
            instance_type=env.get("INSTANCE_TYPE") or "ml.m5.large",
            initial_instance_count=integer("INITIAL_INSTANCE_COUNT", 1, 1, 1000),
            serverless_memory_mb=integer("SERVERLESS_MEMORY_MB", 2048, 1024, 6144),
            serverless_max_concurrency=integer("SERVERLESS_MAX_CONCURRENCY", 5, 1, 200),
            capture_s3_uri=env.get("CAPTURE_S3_URI", ""),
            capture_method=env.get("CAPTURE_METHOD", ""),
            capture_sampling_percent=integer("CAPTURE_SAMPLING_PERCENT", 100, 0, 100),
            baseline_s3_uri=env.get("BASELINE_S3_URI", ""),
            kms_key_arn=env.get("KMS_KEY_ARN", ""),
            enable_network_isolation=_flag(env.get("ENABLE_NETWORK_ISOLATION"), True),
            deployment_strategy=strategy,
            canary_percent=integer("CANARY_PERCENT", 10, 1, 99),
            alarm_names=_names(env.get("ALARM_NAMES", "")),
            subnet_ids=_names(env.get("SUBNET_IDS", "")),
            security_group_ids=_names(env.get("SECURITY_GROUP_IDS", "")),
            autoscaling_min_capacity=integer("AUTOSCALING_MIN_CAPACITY", 0, 0, 1000),
            autoscaling_max_capacity=integer("AUTOSCALING_MAX_CAPACITY", 0, 0, 1000),
            autoscaling_target_invocations=integer("AUTOSCALING_TARGET_INVOCATIONS", 0, 0,
                                                   1_000_000),
            wait_seconds=integer("WAIT_SECONDS", 0, 0, 840),
            allow_rollback_to_older=_flag(env.get("ALLOW_ROLLBACK_TO_OLDER"), False),
            tags={str(k): str(v) for k, v in tags.items()},
        )
        if config.capture_method not in ("", *CAPTURE_METHODS):
            problems.append(f"CAPTURE_METHOD must be one of {list(CAPTURE_METHODS)} "
                            f"(got {config.capture_method!r})")
        elif kind == "serverless" and config.capture_method == "data_capture":
            problems.append("CAPTURE_METHOD 'data_capture' needs instance endpoints; serverless "
                            "endpoints have no data capture (use 'handler')")
        if config.capture_s3_uri and not config.capture_s3_uri.startswith("s3://"):
            problems.append(f"CAPTURE_S3_URI must be an s3:// URI (got {config.capture_s3_uri!r})")
        if config.baseline_s3_uri and not config.baseline_s3_uri.startswith("s3://"):
            problems.append(f"BASELINE_S3_URI must be an s3:// URI (got "
                            f"{config.baseline_s3_uri!r})")
        if serverless_memory := config.serverless_memory_mb:
            if kind == "serverless" and serverless_memory % 1024:
                problems.append(f"SERVERLESS_MEMORY_MB must be a multiple of 1024 "
                                f"(got {serverless_memory})")
        if config.autoscaling and not (
                1 <= config.autoscaling_min_capacity <= config.autoscaling_max_capacity):
            problems.append("AUTOSCALING_MIN_CAPACITY must be >= 1 and <= "
                            f"AUTOSCALING_MAX_CAPACITY (got {config.autoscaling_min_capacity} "
                            f"and {config.autoscaling_max_capacity})")
        if config.autoscaling and kind == "serverless":
            problems.append("AUTOSCALING_TARGET_INVOCATIONS needs instance endpoints; "
                            "serverless endpoints scale themselves")
        if bool(config.subnet_ids) != bool(config.security_group_ids):
            problems.append("SUBNET_IDS and SECURITY_GROUP_IDS must be given together")
        if problems:
            raise ConfigError("deployer configuration: " + "; ".join(problems))
        return config

    def to_env(self) -> dict[str, str]:
        """The Lambda environment that `from_env` reads back as this Config."""
        env = {
            "ENDPOINT_NAME": self.endpoint_name,
            "MODEL_PACKAGE_GROUP": self.model_package_group,
            "EXECUTION_ROLE_ARN": self.execution_role_arn,
            "ENDPOINT_KIND": self.endpoint_kind,
            "INSTANCE_TYPE": self.instance_type,
            "INITIAL_INSTANCE_COUNT": str(self.initial_instance_count),
            "SERVERLESS_MEMORY_MB": str(self.serverless_memory_mb),
            "SERVERLESS_MAX_CONCURRENCY": str(self.serverless_max_concurrency),
            "CAPTURE_S3_URI": self.capture_s3_uri,
            "CAPTURE_METHOD": self.capture_method,
            "CAPTURE_SAMPLING_PERCENT": str(self.capture_sampling_percent),
            "BASELINE_S3_URI": self.baseline_s3_uri,
            "KMS_KEY_ARN": self.kms_key_arn,
            "ENABLE_NETWORK_ISOLATION": str(self.enable_network_isolation).lower(),
            "DEPLOYMENT_STRATEGY": self.deployment_strategy,
            "CANARY_PERCENT": str(self.canary_percent),
            "ALARM_NAMES": ",".join(self.alarm_names),
            "SUBNET_IDS": ",".join(self.subnet_ids),
            "SECURITY_GROUP_IDS": ",".join(self.security_group_ids),
            "AUTOSCALING_MIN_CAPACITY": str(self.autoscaling_min_capacity),
            "AUTOSCALING_MAX_CAPACITY": str(self.autoscaling_max_capacity),
            "AUTOSCALING_TARGET_INVOCATIONS": str(self.autoscaling_target_invocations),
            "WAIT_SECONDS": str(self.wait_seconds),
            "ALLOW_ROLLBACK_TO_OLDER": str(self.allow_rollback_to_older).lower(),
            "TAGS": json.dumps(dict(self.tags), sort_keys=True),
        }
        return {key: value for key, value in env.items() if value != ""}

    @property
    def serverless(self) -> bool:
        return self.endpoint_kind == "serverless"

    @property
    def handler_captures(self) -> bool:
        """Whether the serving handler (not SageMaker) writes the capture records."""
        return bool(self.capture_s3_uri) and (
            self.capture_method == "handler" or (self.serverless and not self.capture_method))

    @property
    def autoscaling(self) -> bool:
        return self.autoscaling_target_invocations > 0


def _names(raw: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in raw.split(",") if name.strip())


def scalable_resource_id(endpoint_name: str) -> str:
    """Application Auto Scaling's id of the endpoint's variant."""
    return f"endpoint/{endpoint_name}/variant/{VARIANT_NAME}"


@dataclass(frozen=True)
class Outcome:
    """What one event did: `action` is created, updated, noop or skipped."""

    action: str
    reason: str
    endpoint_name: str = ""
    endpoint_config_name: str = ""
    model_package_arn: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# Names and request bodies


def config_hash(config: Config, package_arn: str) -> str:
    """8 hex digits over everything that goes into the model and endpoint config."""
    settings = {k: v for k, v in asdict(config).items()
                if k not in ("wait_seconds", "allow_rollback_to_older", "deployment_strategy",
                             "canary_percent", "alarm_names", "tags",
                             "autoscaling_min_capacity", "autoscaling_max_capacity",
                             "autoscaling_target_invocations")}
    settings["package"] = package_arn
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]


def resource_name(endpoint_name: str, version: int, digest: str) -> str:
    """`<endpoint>-v<version>-<hash>`, the endpoint part cut so the name fits 63 characters."""
    suffix = f"-v{version}-{digest}"
    return endpoint_name[: NAME_LIMIT - len(suffix)].rstrip("-") + suffix


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def model_request(config: Config, name: str, package_arn: str) -> dict[str, Any]:
    container: dict[str, Any] = {"ModelPackageName": package_arn}
    environment = {ENDPOINT_NAME_ENV: config.endpoint_name}
    if config.handler_captures:  # serverless has no data capture: the handler writes
        environment[CAPTURE_S3_ENV] = config.capture_s3_uri
        environment[CAPTURE_SAMPLING_ENV] = str(config.capture_sampling_percent)
    container["Environment"] = environment
    request: dict[str, Any] = {
        "ModelName": name,
        "PrimaryContainer": container,
        "ExecutionRoleArn": config.execution_role_arn,
        "Tags": _tag_list({**config.tags, TAG_MANAGED_BY: config.endpoint_name}),
    }
    if not config.serverless:  # serverless endpoints refuse network isolation and VPCs
        request["EnableNetworkIsolation"] = config.enable_network_isolation
        if config.subnet_ids:
            request["VpcConfig"] = {"Subnets": list(config.subnet_ids),
                                    "SecurityGroupIds": list(config.security_group_ids)}
    return request


def endpoint_config_request(config: Config, name: str, model_name: str) -> dict[str, Any]:
    variant: dict[str, Any] = {"VariantName": VARIANT_NAME, "ModelName": model_name}
    if config.serverless:
        variant["ServerlessConfig"] = {"MemorySizeInMB": config.serverless_memory_mb,
                                       "MaxConcurrency": config.serverless_max_concurrency}
    else:
        variant.update(InstanceType=config.instance_type,
                       InitialInstanceCount=config.initial_instance_count,
                       InitialVariantWeight=1.0)
    request: dict[str, Any] = {
        "EndpointConfigName": name,
        "ProductionVariants": [variant],
        "Tags": _tag_list({**config.tags, TAG_MANAGED_BY: config.endpoint_name}),
    }
    if not config.serverless:
        if config.kms_key_arn:
            request["KmsKeyId"] = config.kms_key_arn
        if config.capture_s3_uri and not config.handler_captures:
            capture: dict[str, Any] = {
                "EnableCapture": True,
                "InitialSamplingPercentage": config.capture_sampling_percent,
                "DestinationS3Uri": config.capture_s3_uri,
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"],
                                             "JsonContentTypes": ["application/json"]},
            }
            if config.kms_key_arn:
                capture["KmsKeyId"] = config.kms_key_arn
            request["DataCaptureConfig"] = capture
    return request


def deployment_config(config: Config) -> dict[str, Any] | None:
    """Blue/green with canary or linear shifting and alarm rollback (instance endpoints only)."""
    if config.serverless:
        return None
    routing: dict[str, Any] = {"Type": config.deployment_strategy.upper(),
                               "WaitIntervalInSeconds": 300}
    step = {"Type": "CAPACITY_PERCENT", "Value": config.canary_percent}
    if config.deployment_strategy == "canary":
        routing["CanarySize"] = step
    elif config.deployment_strategy == "linear":
        routing["LinearStepSize"] = step
    else:
        routing = {"Type": "ALL_AT_ONCE"}
    deployment: dict[str, Any] = {"BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": routing, "TerminationWaitInSeconds": 300}}
    if config.alarm_names:
        deployment["AutoRollbackConfiguration"] = {
            "Alarms": [{"AlarmName": name} for name in config.alarm_names]}
    return deployment


# ---------------------------------------------------------------------------------------------
# The event


@dataclass(frozen=True)
class Approval:
    package_arn: str
    version: int
    group: str
    status: str


def parse_event(event: Mapping[str, Any]) -> Approval | str:
    """The package state change, or why the event is not one."""
    if event.get("source") != EVENT_SOURCE or event.get("detail-type") != EVENT_DETAIL_TYPE:
        return (f"not a model package state change (source {event.get('source')!r}, "
                f"detail-type {event.get('detail-type')!r})")
    detail = event.get("detail") or {}
    arn = detail.get("ModelPackageArn") or ""
    raw_version = detail.get("ModelPackageVersion")
    if raw_version is None:
        match = re.search(r"/(\d+)$", arn)
        raw_version = match.group(1) if match else None
    try:
        version = int(raw_version)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return f"event has no model package version (ModelPackageArn {arn!r})"
    if not arn:
        return "event has no ModelPackageArn"
    return Approval(arn, version, str(detail.get("ModelPackageGroupName") or ""),
                    str(detail.get("ModelApprovalStatus") or ""))


# ---------------------------------------------------------------------------------------------
# SageMaker calls


def split_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of an ``s3://bucket/key`` URI."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def baseline_uris(package: Mapping[str, Any]) -> list[str]:
    """s3:// URIs of a package's drift baselines (data statistics, then constraints)."""
    quality = (package.get("DriftCheckBaselines") or {}).get("ModelDataQuality") or {}
    return [quality[part]["S3Uri"] for part in ("Statistics", "Constraints")
            if isinstance(quality.get(part), Mapping) and quality[part].get("S3Uri")]


def copy_baseline(package: Mapping[str, Any], destination: str, s3: Any) -> list[str]:
    """Copy the package's drift baseline files under ``destination`` (same file names).

    Only copies within the destination's bucket (the deployer's role may read nothing
    else); a package without drift baselines copies nothing and says so in the log.
    """
    sources = baseline_uris(package)
    arn = package.get("ModelPackageArn", "the package")
    if not sources:
        logger.warning("%s has no DriftCheckBaselines: %s is left as it is", arn, destination)
        return []
    bucket, prefix = split_s3_uri(destination)
    copied = []
    for source in sources:
        source_bucket, key = split_s3_uri(source)
        if source_bucket != bucket:
            raise DeploymentError(f"{arn}: drift baseline {source} is outside bucket {bucket}; "
                                  "the deployer copies baselines within its bucket only")
        target = f"{prefix.rstrip('/')}/{key.rsplit('/', 1)[-1]}"
        s3.copy_object(Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": key})
        copied.append(f"s3://{bucket}/{target}")
    logger.info("copied the drift baseline of %s to %s", arn, destination)
    return copied


def _client(service: str) -> Any:
    """A boto3 client; boto3 is imported on the first call, not with this module.

    The components import this module for its names and rules, and `mlops preview` should not
    pay ~0.3 s for a library only the Lambda calls; in Lambda the first event imports it once.
    """
    import boto3

    return boto3.client(service)


def _not_found(error: ClientError) -> bool:
    message = error.response.get("Error", {}).get("Message", "")
    return (error.response.get("Error", {}).get("Code") in ("ValidationException",
                                                              "ResourceNotFound")
            and ("Could not find" in message or "does not exist" in message))


def _exists_already(error: ClientError) -> bool:
    return "already exist" in error.response.get("Error", {}).get("Message", "")


def _describe_endpoint(sm: Any, name: str) -> dict[str, Any] | None:
    try:
        return sm.describe_endpoint(EndpointName=name)
    except ClientError as error:
        if _not_found(error):
            return None
        raise


def _tags(sm: Any, arn: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for page in sm.get_paginator("list_tags").paginate(ResourceArn=arn):
        tags.update({tag["Key"]: tag["Value"] for tag in page.get("Tags", [])})
    return tags


def _create(call: Any, request: dict[str, Any], describe: Any) -> None:
    """Create unless it exists (a redelivered event, or a concurrent delivery racing us)."""
    try:
        describe()
        return
    except ClientError as error:
        if not _not_found(error):
            raise
    try:
        call(**request)
    except ClientError as error:
        if not _exists_already(error):
            raise


def _wait(sm: Any, name: str, seconds: int, poll: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        endpoint = sm.describe_endpoint(EndpointName=name)
        status = endpoint["EndpointStatus"]
        if status == "InService" and not endpoint.get("PendingDeploymentSummary"):
            return endpoint
        if status in ("Failed", "UpdateRollbackFailed", "OutOfService"):
            raise DeploymentError(f"endpoint {name} is {status}: "
                                  f"{endpoint.get('FailureReason', 'no reason given')}")
        if time.monotonic() >= deadline:
            return endpoint
        time.sleep(poll)


def deploy(event: Mapping[str, Any], config: Config, sm: Any = None,
           poll_seconds: float = POLL_SECONDS, autoscaling: Any = None,
           s3: Any = None) -> Outcome:
    """Deploy the approved package of `event` to the configured endpoint, idempotently.

    The package's drift baseline is copied to ``baseline_s3_uri`` first, so the monitor
    compares traffic with the model being deployed; a failed copy changes nothing and
    raises (the event is retried).
    """
    approval = parse_event(event)
    if isinstance(approval, str):
        return Outcome("skipped", approval, config.endpoint_name)
    arn = approval.package_arn
    if approval.group != config.model_package_group:
        return Outcome("skipped", f"package group {approval.group!r} is not "
                       f"{config.model_package_group!r}", config.endpoint_name, "", arn)
    if approval.status != APPROVED:
        return Outcome("skipped", f"approval status is {approval.status!r}, not {APPROVED!r}: "
                       "nothing is deployed", config.endpoint_name, "", arn)
    sm = sm or _client("sagemaker")
    name = resource_name(config.endpoint_name, approval.version, config_hash(config, arn))
    endpoint = _describe_endpoint(sm, config.endpoint_name)
    if endpoint is not None:
        skip = _nothing_to_do(sm, endpoint, approval, name, config)
        if skip is not None:
            return skip
    if config.baseline_s3_uri:
        copy_baseline(sm.describe_model_package(ModelPackageName=arn), config.baseline_s3_uri,
                      s3 or _client("s3"))
    _create(sm.create_model, model_request(config, name, arn),
            lambda: sm.describe_model(ModelName=name))
    _create(sm.create_endpoint_config, endpoint_config_request(config, name, name),
            lambda: sm.describe_endpoint_config(EndpointConfigName=name))
    package_tags = {TAG_PACKAGE_ARN: arn, TAG_PACKAGE_VERSION: str(approval.version),
                    TAG_MANAGED_BY: config.endpoint_name}
    if endpoint is None:
        try:
            sm.create_endpoint(EndpointName=config.endpoint_name, EndpointConfigName=name,
                               Tags=_tag_list({**config.tags, **package_tags}))
            action = "created"
        except ClientError as error:
            if not _exists_already(error):
                raise
            # a concurrent delivery won the race to create it
            return deploy(event, config, sm, poll_seconds, autoscaling, s3)
    else:
        request: dict[str, Any] = {"EndpointName": config.endpoint_name,
                                   "EndpointConfigName": name}
        deployment = deployment_config(config)
        if deployment is not None:
            request["DeploymentConfig"] = deployment
        _release_scaling_for_new_instance_type(sm, endpoint, config, autoscaling)
        sm.update_endpoint(**request)
        sm.add_tags(ResourceArn=endpoint["EndpointArn"], Tags=_tag_list(package_tags))
        action = "updated"
    logger.info("%s endpoint %s with %s (package %s)", action, config.endpoint_name, name, arn)
    if config.wait_seconds:
        _wait(sm, config.endpoint_name, config.wait_seconds, poll_seconds)
    return Outcome(action, f"deploying model package version {approval.version}",
                   config.endpoint_name, name, arn)


def _nothing_to_do(sm: Any, endpoint: Mapping[str, Any], approval: Approval, name: str,
                   config: Config) -> Outcome | None:
    """An Outcome when the event needs no change; raises when the endpoint is busy or broken."""
    status = endpoint["EndpointStatus"]
    live = endpoint.get("EndpointConfigName")
    pending = (endpoint.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
    arn = approval.package_arn

    def outcome(reason: str) -> Outcome:
        return Outcome("noop", reason, config.endpoint_name, name, arn)

    if pending == name or (status in ("Creating", "Updating") and live == name):
        return outcome(f"endpoint is {status} to this package's config already")
    if live == name and status == "InService":
        return outcome("this package is already live")
    if status in BUSY_STATUSES:
        raise DeploymentError(f"endpoint {config.endpoint_name} is {status} with another "
                              "config; retry when it settles")
    if status == "Failed":
        raise DeploymentError(f"endpoint {config.endpoint_name} is Failed "
                              f"({endpoint.get('FailureReason', 'no reason given')}); delete it "
                              "or fix it before deploying")
    live_version = _tags(sm, endpoint["EndpointArn"]).get(TAG_PACKAGE_VERSION, "")
    if (live_version.isdigit() and int(live_version) > approval.version
            and not config.allow_rollback_to_older):
        return Outcome("skipped", f"version {approval.version} is older than the live version "
                       f"{live_version}; set ALLOW_ROLLBACK_TO_OLDER=true to roll back",
                       config.endpoint_name, name, arn)
    return None


def _release_scaling_for_new_instance_type(sm: Any, endpoint: Mapping[str, Any],
                                           config: Config, autoscaling: Any) -> None:
    """Deregister the scalable target when the update changes the instance type.

    UpdateEndpoint fails for a variant registered with Application Auto Scaling if the
    instance type changes (a new model alone is allowed); the InService event that ends the
    update registers it again.
    """
    if config.serverless or not endpoint.get("EndpointConfigName"):
        return
    live = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    types = {v.get("InstanceType") for v in live.get("ProductionVariants", [])}
    if types and types != {config.instance_type}:
        _deregister_scaling(autoscaling or _client("application-autoscaling"),
                            config.endpoint_name)


# ---------------------------------------------------------------------------------------------
# Autoscaling (instance endpoints, once the endpoint is InService)


def is_endpoint_in_service(event: Mapping[str, Any], endpoint_name: str) -> bool:
    """True for this endpoint's state change to InService."""
    detail = event.get("detail") or {}
    return (event.get("source") == EVENT_SOURCE
            and event.get("detail-type") == ENDPOINT_EVENT_DETAIL_TYPE
            and detail.get("EndpointName") == endpoint_name
            and detail.get("EndpointStatus") in IN_SERVICE_EVENT_STATUSES)


def ensure_autoscaling(config: Config, autoscaling: Any = None) -> Outcome:
    """Register the variant as a scalable target with a target-tracking policy (upserts)."""
    if not config.autoscaling:
        return Outcome("skipped", "autoscaling is off for this endpoint", config.endpoint_name)
    autoscaling = autoscaling or _client("application-autoscaling")
    resource_id = scalable_resource_id(config.endpoint_name)
    autoscaling.register_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=resource_id,
        ScalableDimension=SCALABLE_DIMENSION, MinCapacity=config.autoscaling_min_capacity,
        MaxCapacity=config.autoscaling_max_capacity)
    autoscaling.put_scaling_policy(
        PolicyName=f"{config.endpoint_name}-invocations", ServiceNamespace="sagemaker",
        ResourceId=resource_id, ScalableDimension=SCALABLE_DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": float(config.autoscaling_target_invocations),
            "PredefinedMetricSpecification": {"PredefinedMetricType": SCALING_METRIC},
            "ScaleInCooldown": SCALE_IN_COOLDOWN_SECONDS,
            "ScaleOutCooldown": SCALE_OUT_COOLDOWN_SECONDS,
        })
    return Outcome("updated", f"autoscaling {config.autoscaling_min_capacity}-"
                   f"{config.autoscaling_max_capacity} instances at "
                   f"{config.autoscaling_target_invocations} invocations per instance",
                   config.endpoint_name)


def _deregister_scaling(autoscaling: Any, endpoint_name: str) -> bool:
    """Remove the variant's scalable target (and so its policies); False when there was none."""
    try:
        autoscaling.deregister_scalable_target(
            ServiceNamespace="sagemaker", ResourceId=scalable_resource_id(endpoint_name),
            ScalableDimension=SCALABLE_DIMENSION)
        return True
    except ClientError as error:
        found = error.response.get("Error", {})
        if found.get("Code") == "ObjectNotFoundException" or \
                "No scalable target" in found.get("Message", ""):  # moto's spelling
            return False
        raise


# ---------------------------------------------------------------------------------------------
# The entry point


def handle(event: Mapping[str, Any], config: Config, sm: Any = None,
           autoscaling: Any = None, s3: Any = None) -> Outcome:
    """Route one event: the destroy hook, an endpoint now InService, or an approval."""
    lifecycle = event.get(LIFECYCLE_KEY)
    if CLEANUP_MARKER in event:
        action = lifecycle.get("action", "") if isinstance(lifecycle, Mapping) else ""
        if action != "delete":
            return Outcome("noop", f"cleanup hook ({action or 'no action'}): the endpoint is "
                           "deleted when the stack is destroyed", config.endpoint_name)
        deleted = delete_endpoint_and_configs(config.endpoint_name, sm, autoscaling=autoscaling)
        return Outcome("deleted", json.dumps(deleted, sort_keys=True), config.endpoint_name)
    if event.get("detail-type") == ENDPOINT_EVENT_DETAIL_TYPE:
        if not is_endpoint_in_service(event, config.endpoint_name):
            return Outcome("skipped", "not this endpoint reaching InService",
                           config.endpoint_name)
        return ensure_autoscaling(config, autoscaling)
    return deploy(event, config, sm, autoscaling=autoscaling, s3=s3)


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, str]:
    """The Lambda entry point."""
    outcome = handle(event, Config.from_env())
    logger.info("%s", json.dumps(outcome.as_dict()))
    return outcome.as_dict()


# ---------------------------------------------------------------------------------------------
# Cleanup (custom resource / `pulumi destroy`)


def _ignore_missing(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
        return True
    except ClientError as error:
        if _not_found(error):
            return False
        raise


def delete_endpoint_and_configs(endpoint_name: str, sm: Any = None,
                                wait_seconds: int = 0, poll_seconds: float = POLL_SECONDS,
                                autoscaling: Any = None) -> dict[str, list[str]]:
    """Delete the endpoint, its scalable target, and every model and endpoint config the
    deployer made for it.

    Models and configs are found by their `mlops:managed-by-deployer` tag (= the endpoint
    name), so resources of other endpoints or made by hand stay. Running it again deletes
    nothing more and does not fail.
    """
    sm = sm or _client("sagemaker")
    autoscaling = autoscaling or _client("application-autoscaling")
    deleted: dict[str, list[str]] = {"endpoints": [], "endpoint_configs": [], "models": [],
                                     "scalable_targets": []}
    if _deregister_scaling(autoscaling, endpoint_name):
        deleted["scalable_targets"].append(scalable_resource_id(endpoint_name))
    if _ignore_missing(sm.delete_endpoint, EndpointName=endpoint_name):
        deleted["endpoints"].append(endpoint_name)
        deadline = time.monotonic() + wait_seconds
        while wait_seconds and _describe_endpoint(sm, endpoint_name) is not None:
            if time.monotonic() >= deadline:
                raise DeploymentError(f"endpoint {endpoint_name} still exists after "
                                      f"{wait_seconds} s")
            time.sleep(poll_seconds)
    prefix = endpoint_name[: NAME_LIMIT - 12].rstrip("-")
    configs = [c for page in sm.get_paginator("list_endpoint_configs").paginate(
        NameContains=prefix) for c in page["EndpointConfigs"]]
    for item in configs:
        if _tags(sm, item["EndpointConfigArn"]).get(TAG_MANAGED_BY) == endpoint_name and \
                _ignore_missing(sm.delete_endpoint_config,
                                EndpointConfigName=item["EndpointConfigName"]):
            deleted["endpoint_configs"].append(item["EndpointConfigName"])
    models = [m for page in sm.get_paginator("list_models").paginate(NameContains=prefix)
              for m in page["Models"]]
    for item in models:
        if _tags(sm, item["ModelArn"]).get(TAG_MANAGED_BY) == endpoint_name and \
                _ignore_missing(sm.delete_model, ModelName=item["ModelName"]):
            deleted["models"].append(item["ModelName"])
    return deleted
