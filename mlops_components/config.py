"""The stack configuration: every Pulumi config key the example program reads, typed.

``SETTINGS`` is the one declaration of each key (type, default, description, rule).
``Pulumi.yaml`` declares the same keys for the Pulumi CLI; a test keeps the two equal.
Values arrive as the Pulumi CLI passes them to a program: strings, with non-string values
JSON-encoded. ``parse_config`` turns them into a typed :class:`StackConfig` or raises one
:class:`ValidationError` that lists every problem, each naming the key.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_components.bucket_layout import (
    DEFAULT_CAPTURE_RETENTION_DAYS,
    DEFAULT_REPORT_RETENTION_DAYS,
    MAX_RETENTION_DAYS,
    MIN_RETENTION_DAYS,
)
from mlops_components.enums import INITIAL_APPROVAL_STATUSES, ApprovalStatus, ProblemType
from mlops_components.sagemaker.spec import (
    DEFAULT_PROCESSING_INSTANCE_TYPE,
    DEFAULT_TRAINING_INSTANCE_TYPE,
)
from mlops_components.validation import (
    ACCOUNT_ID_RE,
    INSTANCE_TYPE_RE,
    KMS_KEY_ONLY_ARN_RE,
    MAX_MODEL_NAME_LENGTH,
    SAGEMAKER_NAME_RE,
    SECURITY_GROUP_RE,
    SUBNET_RE,
    ValidationError,
)
from training.contract import ALL_METRICS, DEFAULT_ESTIMATOR, ESTIMATORS

#: Config namespace of the example project (the `name:` in Pulumi.yaml).
DEFAULT_PROJECT = "mlops"

Check = Callable[[Any], str | None]


def _matches(pattern: re.Pattern[str], allowed: str) -> Check:
    return lambda value: None if pattern.match(value) else f"must be {allowed}"


def _between(low: int, high: int) -> Check:
    return lambda value: None if low <= value <= high else f"must be between {low} and {high}"


def _one_of(choices: list[str]) -> Check:
    return lambda value: None if value in choices else "must be one of " + ", ".join(
        repr(choice) for choice in choices)


def _each(check: Check) -> Check:
    def check_all(values: list) -> str | None:
        for index, value in enumerate(values):
            problem = check(value) if isinstance(value, str) else "must be a string"
            if problem:
                return f"item {index} ({value!r}) {problem}"
        return None
    return check_all


@dataclass(frozen=True)
class Setting:
    """One config key: its Pulumi type, default, description and rule."""

    key: str
    type: str  # one of Pulumi.yaml's config types: string, integer, boolean, array
    default: Any
    description: str
    check: Check | None = None

    @property
    def attribute(self) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.key).lower()


SETTINGS: tuple[Setting, ...] = (
    Setting("modelName", "string", "diagnosis",
            "Name of the model; names the registry group and tags every resource.",
            lambda value: None if SAGEMAKER_NAME_RE.match(value)
            and len(value) <= MAX_MODEL_NAME_LENGTH
            else f"must be 1-{MAX_MODEL_NAME_LENGTH} letters, digits and hyphens"),
    Setting("problemType", "string", ProblemType.CLASSIFICATION.value,
            "What the model predicts: classification or regression.",
            _one_of([member.value for member in ProblemType])),
    Setting("targetColumn", "string", "target", "Column of the training data to predict.",
            lambda value: None if value.strip() else "must not be empty"),
    Setting("owner", "string", "", "Team that owns the stack; becomes the `owner` tag."),
    Setting("kmsKeyArn", "string", "",
            "Customer-managed KMS key (key ARN) for the bucket, job volumes and outputs; "
            "empty uses the AWS-managed key.",
            lambda value: None if not value or KMS_KEY_ONLY_ARN_RE.match(value)
            else "must be empty or a KMS key ARN (not an alias)"),
    Setting("readerAccountIds", "array", [],
            "AWS account IDs allowed to read approved model packages.",
            _each(_matches(ACCOUNT_ID_RE, "a 12-digit AWS account ID"))),
    Setting("captureRetentionDays", "integer", DEFAULT_CAPTURE_RETENTION_DAYS,
            "Days to keep endpoint data capture.",
            _between(MIN_RETENTION_DAYS, MAX_RETENTION_DAYS)),
    Setting("reportRetentionDays", "integer", DEFAULT_REPORT_RETENTION_DAYS,
            "Days to keep EDA, evaluation and monitoring reports.",
            _between(MIN_RETENTION_DAYS, MAX_RETENTION_DAYS)),
    Setting("forceDestroy", "boolean", False,
            "Let `pulumi destroy` delete the bucket with its objects (dev stacks only)."),
    Setting("gateMetric", "string", "",
            "Metric the quality gate checks; empty: balanced_accuracy (classification) or r2 "
            "(regression).",
            lambda value: None if value in ("", *ALL_METRICS)
            else "must be empty or one of " + ", ".join(repr(m) for m in ALL_METRICS)),
    Setting("metricThreshold", "string", "",
            "Value the gate metric must reach (a number); empty: 0.8 balanced_accuracy "
            "or 0.3 r2.",
            lambda value: None if value == "" or _is_float(value) else "must be a number"),
    Setting("approvalStatus", "string", ApprovalStatus.PENDING_MANUAL_APPROVAL.value,
            "Status of newly registered models: PendingManualApproval (a human approves) "
            "or Approved (auto-approval).",
            _one_of([status.value for status in INITIAL_APPROVAL_STATUSES])),
    Setting("estimator", "string", DEFAULT_ESTIMATOR, "Estimator the training step fits.",
            _one_of(list(ESTIMATORS))),
    Setting("processingInstanceType", "string", DEFAULT_PROCESSING_INSTANCE_TYPE,
            "Instance type of the profile, preprocess and evaluate jobs.",
            _matches(INSTANCE_TYPE_RE, "an ML instance type such as 'ml.m5.large'")),
    Setting("processingInstanceCount", "integer", 1,
            "Instances for profile and preprocess; input files are sharded across them.",
            _between(1, 100)),
    Setting("trainingInstanceType", "string", DEFAULT_TRAINING_INSTANCE_TYPE,
            "Instance type of the training job(s).",
            _matches(INSTANCE_TYPE_RE, "an ML instance type such as 'ml.m5.large'")),
    Setting("useSpotTraining", "boolean", False,
            "Managed spot training (cheaper, may be interrupted; checkpoints kept)."),
    Setting("tuningMaxJobs", "integer", 0,
            "Hyperparameter tuning: training jobs in total; 0 trains once without tuning.",
            _between(0, 500)),
    Setting("tuningMaxParallelJobs", "integer", 2,
            "Hyperparameter tuning: training jobs at once.", _between(1, 100)),
    Setting("networkIsolation", "boolean", True,
            "Run training containers without network access."),
    Setting("subnetIds", "array", [], "VPC subnets for the jobs (with securityGroupIds).",
            _each(_matches(SUBNET_RE, "a subnet ID (subnet-...)"))),
    Setting("securityGroupIds", "array", [], "Security groups for the jobs (with subnetIds).",
            _each(_matches(SECURITY_GROUP_RE, "a security group ID (sg-...)"))),
)

_BY_KEY = {setting.key: setting for setting in SETTINGS}
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "boolean": (bool,), "array": (list,)}


@dataclass(frozen=True)
class StackConfig:
    """Typed values of every setting (attribute names are the keys in snake_case)."""

    model_name: str
    problem_type: ProblemType
    target_column: str
    owner: str
    kms_key_arn: str
    reader_account_ids: list[str]
    capture_retention_days: int
    report_retention_days: int
    force_destroy: bool
    gate_metric: str
    metric_threshold: str
    approval_status: str
    estimator: str
    processing_instance_type: str
    processing_instance_count: int
    training_instance_type: str
    use_spot_training: bool
    tuning_max_jobs: int
    tuning_max_parallel_jobs: int
    network_isolation: bool
    subnet_ids: list[str]
    security_group_ids: list[str]

    @property
    def tags(self) -> dict[str, str]:
        return {"owner": self.owner} if self.owner else {}


def _is_float(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def _decode(setting: Setting, raw: Any) -> tuple[Any, str | None]:
    """A raw config value (string, or JSON text for non-strings) as the setting's type."""
    value = raw
    if setting.type != "string" and isinstance(raw, str):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            return raw, f"must be of type {setting.type}"
    expected = _PYTHON_TYPES[setting.type]
    if not isinstance(value, expected) or (setting.type == "integer" and isinstance(value, bool)):
        return raw, f"must be of type {setting.type}"
    return value, None


def parse_config(raw: Mapping[str, Any], project: str = DEFAULT_PROJECT) -> StackConfig:
    """Validate ``{"<project>:<key>": value}`` (other namespaces ignored) into a StackConfig."""
    problems: list[str] = []
    values = {setting.attribute: setting.default for setting in SETTINGS}
    prefix = f"{project}:"
    for full_key in sorted(raw):
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix):]
        setting = _BY_KEY.get(key)
        if setting is None:
            known = ", ".join(sorted(_BY_KEY))
            problems.append(f"config {full_key}: unknown key (known keys: {known})")
            continue
        value, problem = _decode(setting, raw[full_key])
        if problem is None and setting.check is not None:
            problem = setting.check(value)
        if problem:
            problems.append(f"config {full_key}: {problem} (got {raw[full_key]!r})")
        else:
            values[setting.attribute] = value
    if problems:
        raise ValidationError(problems)
    values["problem_type"] = ProblemType(values["problem_type"])
    return StackConfig(**values)


def model_name_for_data(path: Path | str) -> str:
    """A modelName for a data file or folder: its name, lowercased, with every run of other
    characters made a hyphen, cut to the length limit ("Churn_2024.csv" -> "churn-2024")."""
    path = Path(path)
    stem = path.stem if path.suffix.lower() == ".csv" else path.name
    name = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")
    return name[:MAX_MODEL_NAME_LENGTH].rstrip("-") or "model"


def config_from_pulumi() -> StackConfig:
    """The running Pulumi program's config (as ``pulumi up`` or ``mlops preview`` set it)."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return parse_config(raw, project=pulumi.get_project())
