"""What the monitoring pipeline's definition depends on, and its rules; no SDK, no Pulumi.

The ``processing`` engine of ModelMonitor is a one-step SageMaker pipeline: a processing job
that runs ``training/bootstrap.py drift`` on the endpoint's captured traffic against the
model's baseline, writes the reports to the bucket and publishes CloudWatch metrics.
:class:`MonitorSpec` is everything its definition depends on, as plain resolved values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mlops_components.sagemaker.spec import (
    DEFAULT_MAX_RUNTIME_SECONDS,
    DEFAULT_VOLUME_SIZE_GB,
    MAX_RUNTIME_SECONDS_LIMIT,
)
from mlops_components.validation import (
    INSTANCE_TYPE_RE,
    KMS_KEY_ARN_RE,
    SAGEMAKER_NAME_RE,
    SECURITY_GROUP_RE,
    SUBNET_RE,
    Problems,
    is_int,
)
from training.contract import (
    DEFAULT_DRIFT_WINDOW_HOURS,
    DRIFT_THRESHOLD_FLAGS,
    MAX_DRIFT_WINDOW_HOURS,
)


class MonitorParameter(StrEnum):
    """Parameters of the monitoring pipeline; a manual run may override them."""

    BASELINE_URI = "BaselineUri"
    """s3:// prefix holding the baseline's statistics.json and constraints.json."""
    MONITOR_INSTANCE_TYPE = "MonitorInstanceType"


#: The monitoring pipeline's one step.
DRIFT_CHECK_STEP = "DriftCheck"
#: The drift job's arguments naming what it reads from S3 itself.
CAPTURE_URI_FLAG = "--capture-uri"
BASELINE_URI_FLAG = "--baseline-uri"
#: The drift job's argument giving the hours of capture it reads, back from the run's time.
WINDOW_HOURS_FLAG = "--window-hours"
DEFAULT_MONITOR_INSTANCE_TYPE = "ml.m5.large"
DEFAULT_MONITOR_SCHEDULE = "rate(1 day)"
MIN_DRIFT_WINDOW_HOURS = 1

_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_S3_URI_RE = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?$")
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


@dataclass(frozen=True)
class MonitorSpec:
    """Everything the monitoring pipeline's definition depends on (no Pulumi Outputs)."""

    pipeline_name: str
    """SageMaker pipeline name; also names the reports prefix."""
    role_arn: str
    """Role of the drift job (read capture, baseline and code; write reports; metrics)."""
    bucket: str
    """The stack's data bucket: reports go under its reports/ prefix."""
    region: str
    """AWS region; selects the scikit-learn image."""
    code_uri: str
    """``s3://<bucket>/code/<pipeline>/<hash>``: holds ``training/*.py``."""
    endpoint_name: str
    """Endpoint whose traffic is checked (the Endpoint dimension of the metrics)."""
    model_name: str
    """Model the endpoint serves (the Model dimension of the metrics)."""
    capture_uri: str
    """s3:// prefix of the endpoint's captured traffic (``<capture>/<endpoint>/``)."""
    baseline_uri: str
    """Default of ``BaselineUri``: the baseline of the model the endpoint serves."""
    window_hours: int = DEFAULT_DRIFT_WINDOW_HOURS
    """Hours of capture checked per run, ending at the run's start. Default: 24."""
    thresholds: Mapping[str, float] = field(default_factory=dict, hash=False)
    """drift.py threshold flags (``psi-threshold``...) -> value. Default: the job's own."""
    instance_type: str = DEFAULT_MONITOR_INSTANCE_TYPE
    """Default of ``MonitorInstanceType``. Default: ml.m5.large."""
    max_runtime_seconds: int = DEFAULT_MAX_RUNTIME_SECONDS
    """Time limit of the job. Default: 3600."""
    volume_size_gb: int = DEFAULT_VOLUME_SIZE_GB
    """Disk of the job (the window's capture files are copied to it). Default: 30."""
    wheelhouse_uri: str | None = None
    """s3:// URI of the wheelhouse for what the image lacks (plots). Default: none."""
    kms_key_id: str | None = None
    """KMS key for the job's volume and reports. Default: the bucket's encryption."""
    subnets: tuple[str, ...] = ()
    """VPC subnets (need a route or VPC endpoint to CloudWatch). Default: no VPC."""
    security_group_ids: tuple[str, ...] = ()
    """VPC security groups (with subnets). Default: no VPC."""


def validate_monitor_spec(spec: MonitorSpec, owner: str | None = None) -> None:
    """Check every field of ``spec``; raise one ``ValidationError`` listing every problem."""
    problems = Problems(owner or f"MonitorSpec {spec.pipeline_name!r}")
    validate_monitor_settings(problems, window_hours=spec.window_hours,
                              thresholds=spec.thresholds, instance_type=spec.instance_type,
                              max_runtime_seconds=spec.max_runtime_seconds)
    for name in ("pipeline_name", "endpoint_name", "model_name"):
        problems.matches(name, getattr(spec, name), SAGEMAKER_NAME_RE,
                         "1-63 letters, digits and hyphens, starting with a letter or digit")
    for name in ("capture_uri", "baseline_uri"):
        problems.matches(name, getattr(spec, name), _S3_URI_RE, "an s3:// URI")
    validate_job_settings(problems, spec)
    problems.raise_if_any()


def validate_job_settings(problems: Problems, spec: Any) -> None:
    """The rules of a one-job pipeline's resolved settings (the monitor's and the batch
    inference's specs share these fields): role, region, code, wheels, key, disk, VPC."""
    problems.matches("role_arn", spec.role_arn, _ROLE_ARN_RE, "an IAM role ARN")
    problems.matches("region", spec.region, _REGION_RE, "an AWS region such as us-east-1")
    problems.matches("code_uri", spec.code_uri, _S3_URI_RE, "an s3:// URI")
    if spec.wheelhouse_uri is not None:
        problems.matches("wheelhouse_uri", spec.wheelhouse_uri, _S3_URI_RE, "an s3:// URI")
    if spec.kms_key_id is not None:
        problems.matches("kms_key_id", spec.kms_key_id, KMS_KEY_ARN_RE, "a KMS key or alias ARN")
    problems.check(is_int(spec.volume_size_gb) and 1 <= spec.volume_size_gb <= 16384,
                   "volume_size_gb", "must be an integer between 1 and 16384",
                   spec.volume_size_gb)
    for index, subnet in enumerate(spec.subnets):
        problems.matches(f"subnets[{index}]", subnet, SUBNET_RE, "a subnet ID (subnet-...)")
    for index, group in enumerate(spec.security_group_ids):
        problems.matches(f"security_group_ids[{index}]", group, SECURITY_GROUP_RE,
                         "a security group ID (sg-...)")
    problems.check(bool(spec.subnets) == bool(spec.security_group_ids), "subnets",
                   "and security_group_ids must be given together", list(spec.subnets))


def validate_monitor_settings(problems: Problems, *, window_hours: Any, thresholds: Any,
                              instance_type: Any, max_runtime_seconds: Any) -> None:
    """The rules of the settings a user picks (the component checks them at construction)."""
    problems.check(is_int(window_hours)
                   and MIN_DRIFT_WINDOW_HOURS <= window_hours <= MAX_DRIFT_WINDOW_HOURS,
                   "window_hours", f"must be an integer between {MIN_DRIFT_WINDOW_HOURS} and "
                   f"{MAX_DRIFT_WINDOW_HOURS}", window_hours)
    if not isinstance(thresholds, Mapping):
        problems.add("thresholds", "must be a mapping of drift threshold flag to number",
                     thresholds)
    else:
        allowed = ", ".join(DRIFT_THRESHOLD_FLAGS)
        for flag, value in thresholds.items():
            problems.check(flag in DRIFT_THRESHOLD_FLAGS, f"thresholds[{flag!r}]",
                           f"is not a drift threshold (allowed: {allowed})", flag)
            ok = isinstance(value, int | float) and not isinstance(value, bool) \
                and math.isfinite(value) and value > 0
            problems.check(ok, f"thresholds[{flag!r}]", "must be a number > 0", value)
    problems.matches("instance_type", instance_type, INSTANCE_TYPE_RE,
                     "an ML instance type such as 'ml.m5.large'")
    problems.check(is_int(max_runtime_seconds)
                   and 1 <= max_runtime_seconds <= MAX_RUNTIME_SECONDS_LIMIT,
                   "max_runtime_seconds",
                   f"must be an integer between 1 and {MAX_RUNTIME_SECONDS_LIMIT}",
                   max_runtime_seconds)
