"""The deployer's settings, read from the Lambda's environment, and the names it shares.

The components write the environment with :meth:`Config.to_env` and the Lambda reads it back
with :meth:`Config.from_env`, which checks every setting and reports every problem at once.
The event names, tags and closed sets here are the ones the components and the local runtime
import, so both sides spell them once.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

EVENT_SOURCE = "aws.sagemaker"
EVENT_DETAIL_TYPE = "SageMaker Model Package State Change"
ENDPOINT_EVENT_DETAIL_TYPE = "SageMaker Endpoint State Change"
IN_SERVICE_EVENT_STATUSES = ("IN_SERVICE", "InService")
"""How the endpoint state event spells InService (AWS's examples use IN_SERVICE)."""
FAILED_EVENT_STATUSES = ("FAILED", "Failed", "UPDATE_ROLLBACK_FAILED", "UpdateRollbackFailed")
"""Endpoint states the deployer must hear about: failed, or a rollback that failed."""
ENDPOINT_EVENT_STATUSES = IN_SERVICE_EVENT_STATUSES + FAILED_EVENT_STATUSES
"""The endpoint state changes routed to the deployer: each ends a deployment (reconcile)."""
LIFECYCLE_KEY = "tf"
"""Key the CRUD-scoped Lambda invocation adds to its input: ``{"action": ..., "prev_input"}``."""
CLEANUP_MARKER = "mlops:endpoint-cleanup"
"""Key of the cleanup invocation's input (its value: the endpoint name)."""
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
SCALING_METRIC = "SageMakerVariantInvocationsPerInstance"
SCALE_IN_COOLDOWN_SECONDS = 300
SCALE_OUT_COOLDOWN_SECONDS = 60
APPROVED = "Approved"
COMPLETED = "Completed"
"""ModelPackageStatus of a package whose creation finished (only those deploy)."""
VARIANT_NAME = "AllTraffic"
TAG_PACKAGE_ARN = "mlops:model-package-arn"
TAG_PACKAGE_VERSION = "mlops:model-package-version"
TAG_DEPLOYING = "mlops:deploying-endpoint-config"
"""Endpoint tag: the config of the last deployment the deployer started (live, or not yet)."""
TAG_PENDING = "mlops:pending-package-arn"
"""Endpoint tag: the newest approved package whose event came while the endpoint was busy. The
state change that ends the busy spell deploys it even if the registry's list does not show it
yet (its list lags behind its events)."""
TAG_FAILED = "mlops:deployment-failed"
"""Endpoint config tag: this config failed or was rolled back; it is never deployed again."""
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
BUSY_STATUSES = ("Creating", "Updating", "SystemUpdating", "RollingBack")
"""States that end in an endpoint state change event: the deployer reconciles then."""
CANARY_PERCENT_RANGE = (1, 50)
"""SageMaker: a canary is at most half of the capacity."""
LINEAR_STEP_PERCENT_RANGE = (10, 50)
"""SageMaker: a linear step is 10-50 % of the capacity."""
BAKE_SECONDS = 300
"""WaitIntervalInSeconds of every traffic shift (SageMaker requires it, ALL_AT_ONCE too):
the rollback alarms watch each step this long."""
DELETE_WAIT_SECONDS = 180
"""How long the deployer waits for a Failed endpoint to be deleted before recreating it."""
METRICS_NAMESPACE = "mlops/Deployer"
FAILED_DEPLOYMENTS_METRIC = "FailedDeployments"
"""1 per deployment that failed or rolled back (dimension EndpointName); an alarm watches it."""
NAME_LIMIT = 63
MODEL_CARD_TEXT_LIMIT = 2048
"""The model card schema's maxLength of ``intended_uses.intended_uses``."""
POLL_SECONDS = 15.0
PACKAGES_ON_DESTROY = ("keep", "delete", "refuse")
"""What the destroy hook does with the group's model packages: keep them (the group is not this
stack's), delete them (dev: forceDestroy) or refuse the destroy while the group holds any."""
CLEANUP_WAIT_SECONDS = 840
"""How long the destroy hook waits for the endpoint to be gone (DeleteEndpoint: keep the
execution role until then); within the Lambda's timeout, which is Lambda's maximum (900 s)."""
CLEANUP_MARGIN_SECONDS = 30
"""Time left at the end of the invocation to report "still deleting" before Lambda kills it."""


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
    registry_bucket: str = ""
    """A deployment account: the registry account's bucket, which packages' drift baselines
    may also be copied from; empty: the baselines' bucket is the endpoint's own."""
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
    packages_on_destroy: str = "keep"
    """keep, delete or refuse: the group's model packages at ``pulumi destroy``."""
    model_card: bool = False
    """Write a SageMaker Model Card for each approved package (:mod:`.model_card`)."""
    model_card_intended_uses: str = ""
    """The card's intended uses; empty: a placeholder that asks for them."""
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
        packages = env.get("PACKAGES_ON_DESTROY") or "keep"
        if packages not in PACKAGES_ON_DESTROY:
            problems.append(f"PACKAGES_ON_DESTROY must be one of {list(PACKAGES_ON_DESTROY)} "
                            f"(got {packages!r})")
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
            registry_bucket=env.get("REGISTRY_BUCKET", ""),
            enable_network_isolation=_flag(env.get("ENABLE_NETWORK_ISOLATION"), True),
            deployment_strategy=strategy,
            canary_percent=integer("CANARY_PERCENT", 10, *(
                LINEAR_STEP_PERCENT_RANGE if strategy == "linear" else CANARY_PERCENT_RANGE)),
            alarm_names=_names(env.get("ALARM_NAMES", "")),
            subnet_ids=_names(env.get("SUBNET_IDS", "")),
            security_group_ids=_names(env.get("SECURITY_GROUP_IDS", "")),
            autoscaling_min_capacity=integer("AUTOSCALING_MIN_CAPACITY", 0, 0, 1000),
            autoscaling_max_capacity=integer("AUTOSCALING_MAX_CAPACITY", 0, 0, 1000),
            autoscaling_target_invocations=integer("AUTOSCALING_TARGET_INVOCATIONS", 0, 0,
                                                   1_000_000),
            wait_seconds=integer("WAIT_SECONDS", 0, 0, 840),
            allow_rollback_to_older=_flag(env.get("ALLOW_ROLLBACK_TO_OLDER"), False),
            packages_on_destroy=packages,
            model_card=_flag(env.get("MODEL_CARD"), False),
            model_card_intended_uses=env.get("MODEL_CARD_INTENDED_USES", ""),
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
        group = config.model_package_group
        if group.startswith("arn:") and not _GROUP_ARN_RE.match(group):
            problems.append(f"MODEL_PACKAGE_GROUP must be a group name or a model package "
                            f"group ARN (got {group!r})")
        if bool(config.subnet_ids) != bool(config.security_group_ids):
            problems.append("SUBNET_IDS and SECURITY_GROUP_IDS must be given together")
        if len(config.model_card_intended_uses) > MODEL_CARD_TEXT_LIMIT:
            problems.append(f"MODEL_CARD_INTENDED_USES must be at most {MODEL_CARD_TEXT_LIMIT} "
                            f"characters (got {len(config.model_card_intended_uses)})")
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
            "REGISTRY_BUCKET": self.registry_bucket,
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
            "PACKAGES_ON_DESTROY": self.packages_on_destroy,
            "MODEL_CARD": "true" if self.model_card else "",
            "MODEL_CARD_INTENDED_USES": self.model_card_intended_uses,
            "TAGS": json.dumps(dict(self.tags), sort_keys=True),
        }
        return {key: value for key, value in env.items() if value != ""}

    @property
    def group_name(self) -> str:
        """The group's name (``model_package_group`` is a name, or the ARN of another
        account's group)."""
        return self.model_package_group.rsplit("/", 1)[-1]

    @property
    def registry_account(self) -> str:
        """The account whose approval events deploy: the group ARN's, or "" for this
        account's own group (given by name)."""
        match = _GROUP_ARN_RE.match(self.model_package_group)
        return match.group(1) if match else ""

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


#: Another account's model package group (a deployment account deploys the registry's).
_GROUP_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:(\d{12}):"
                           r"model-package-group/[a-zA-Z0-9-]+$")


def _names(raw: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in raw.split(",") if name.strip())
