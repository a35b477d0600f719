"""The stack configuration: every Pulumi config key the example program reads, typed.

``SETTINGS`` is the one declaration of each key (type, default, description, rule).
``Pulumi.yaml`` declares the same keys for the Pulumi CLI; a test keeps the two equal.
Values arrive as the Pulumi CLI passes them to a program: strings, with non-string values
JSON-encoded. ``parse_config`` turns them into a typed :class:`StackConfig` or raises one
:class:`ValidationError` that lists every problem, each naming the key.
"""

from __future__ import annotations

import json
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
from mlops_components.enums import (
    INITIAL_APPROVAL_STATUSES,
    ApprovalStatus,
    MonitorEngine,
    ProblemType,
)
from mlops_components.functions.deployer.config import MODEL_CARD_TEXT_LIMIT
from mlops_components.sagemaker.batch_spec import DEFAULT_BATCH_INSTANCE_TYPE
from mlops_components.sagemaker.endpoint import (
    CANARY_PERCENT_RANGE,
    DEFAULT_AUTOSCALING_MAX_CAPACITY,
    DEFAULT_AUTOSCALING_MIN_CAPACITY,
    DEFAULT_CANARY_PERCENT,
    DEFAULT_CAPTURE_SAMPLING_PERCENT,
    DEFAULT_DEPLOYMENT_STRATEGY,
    DEFAULT_ENDPOINT_INSTANCE_COUNT,
    DEFAULT_ENDPOINT_INSTANCE_TYPE,
    DEFAULT_ENDPOINT_KIND,
    DEFAULT_SERVERLESS_MAX_CONCURRENCY,
    DEFAULT_SERVERLESS_MEMORY_MB,
    MAX_INSTANCE_COUNT,
    SERVERLESS_CONCURRENCY_RANGE,
    SERVERLESS_MEMORY_MB_RANGE,
    SERVERLESS_MEMORY_STEP_MB,
    DeploymentStrategy,
    EndpointKind,
)
from mlops_components.sagemaker.monitor_spec import DEFAULT_MONITOR_SCHEDULE, MIN_DRIFT_WINDOW_HOURS
from mlops_components.sagemaker.spec import (
    DEFAULT_LEAK_POLICY,
    DEFAULT_PROCESSING_INSTANCE_TYPE,
    DEFAULT_TRAINING_INSTANCE_TYPE,
    LEAK_POLICIES,
)
from mlops_components.tag_keys import OWNER_TAG
from mlops_components.validation import (
    ACCOUNT_ID_RE,
    BUCKET_NAME_RE,
    DEFAULT_COOLDOWN_SECONDS,
    INSTANCE_TYPE_RE,
    KMS_KEY_ONLY_ARN_RE,
    MAX_COOLDOWN_SECONDS,
    MAX_MODEL_NAME_LENGTH,
    MODEL_PACKAGE_GROUP_ARN_RE,
    SAGEMAKER_NAME_RE,
    SECURITY_GROUP_RE,
    SUBNET_RE,
    ValidationError,
    instance_count_problem,
    schedule_problem,
    threshold_problem,
)
from training.contract import (
    ALL_METRICS,
    BATCH_OUTPUT_FORMATS,
    CLASS_WEIGHT_FLAG,
    DECISION_THRESHOLD_FLAG,
    DEFAULT_BATCH_OUTPUT_FORMAT,
    DEFAULT_DRIFT_WINDOW_HOURS,
    DEFAULT_ESTIMATOR,
    DEFAULT_HYPERPARAMETERS,
    DEFAULT_MAX_REFUSED_SHARE,
    DEFAULT_REGISTER_UNCHANGED_DATA,
    ESTIMATORS,
    MAX_DRIFT_WINDOW_HOURS,
    TARGET_TRANSFORM_FLAG,
    TARGET_TRANSFORMS,
    TargetTransform,
    class_weight_problem,
    decision_threshold_problem,
)

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


def _schedule(value: str) -> str | None:
    return schedule_problem(value)


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
            "Deployment accounts allowed to read approved model packages and their artifacts "
            "(models/ in the bucket, through a key the stack creates unless kmsKeyArn is "
            "set); each approval is forwarded to their default event bus.",
            _each(_matches(ACCOUNT_ID_RE, "a 12-digit AWS account ID"))),
    Setting("registryModelPackageGroupArn", "string", "",
            "Deployment account: the registry account's model package group (its stack's "
            "model_package_group_arn output); the endpoint deploys that group's approvals, "
            "forwarded from that account. Empty: the stack's own group.",
            lambda value: None if not value or MODEL_PACKAGE_GROUP_ARN_RE.match(value)
            else "must be empty or a model package group ARN (arn:aws:sagemaker:<region>:"
                 "<account>:model-package-group/<name>)"),
    Setting("registryBucketName", "string", "",
            "Deployment account: the registry stack's bucket (bucket_name output), whose "
            "models/ the deployer and the served models read.",
            lambda value: None if not value or BUCKET_NAME_RE.match(value)
            else "must be empty or an S3 bucket name"),
    Setting("registryKmsKeyArn", "string", "",
            "Deployment account: the key of the registry stack's bucket (bucket_kms_key_arn "
            "output), which the deployer and the served models decrypt the artifacts with.",
            lambda value: None if not value or KMS_KEY_ONLY_ARN_RE.match(value)
            else "must be empty or a KMS key ARN (not an alias)"),
    Setting("captureRetentionDays", "integer", DEFAULT_CAPTURE_RETENTION_DAYS,
            "Days to keep endpoint data capture.",
            _between(MIN_RETENTION_DAYS, MAX_RETENTION_DAYS)),
    Setting("reportRetentionDays", "integer", DEFAULT_REPORT_RETENTION_DAYS,
            "Days to keep monitoring reports under reports/ (a registered model's EDA "
            "report and evaluation live with the model, under models/, and do not expire).",
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
            lambda value: None if value == "" else threshold_problem(_number(value), None)),
    Setting("leakPolicy", "string", DEFAULT_LEAK_POLICY,
            "What preprocessing does with a column that alone predicts the target: stop the "
            "run, drop the column, or proceed with it.",
            _one_of(list(LEAK_POLICIES))),
    Setting("splitKey", "string", "",
            "A column (a customer or patient ID) whose value decides each row's split, so all "
            "rows of one entity share a split (the group split); empty: a time split on the "
            "data's date column, else a hash of the feature values."),
    Setting("splitTime", "string", "",
            "The date column whose order decides the splits (oldest rows train, newest test); "
            "'none': a hash split even on dated data; empty: the data's date column if it has "
            "exactly one."),
    Setting("registerUnchangedData", "boolean", DEFAULT_REGISTER_UNCHANGED_DATA,
            "Register a retrain whose training data is byte for byte the champion's (it can "
            "only tie with it); false holds it back and says so."),
    Setting("classWeight", "string", DEFAULT_HYPERPARAMETERS[CLASS_WEIGHT_FLAG],
            "Classification on imbalanced classes (minority/majority below 0.25): balanced "
            "weights rows inversely to their class's frequency; none trains unweighted.",
            class_weight_problem),
    Setting("decisionThreshold", "string", DEFAULT_HYPERPARAMETERS[DECISION_THRESHOLD_FLAG],
            "Binary classification: auto tunes the positive-class probability threshold on "
            "the validation split for the gate metric (imbalanced classes only); none keeps "
            "the estimator's labels; a number in (0, 1) fixes it.",
            decision_threshold_problem),
    Setting("approvalStatus", "string", ApprovalStatus.PENDING_MANUAL_APPROVAL.value,
            "Status of newly registered models: PendingManualApproval (a human approves) "
            "or Approved (auto-approval).",
            _one_of([status.value for status in INITIAL_APPROVAL_STATUSES])),
    Setting("estimator", "string", DEFAULT_ESTIMATOR, "Estimator the training step fits.",
            _one_of(list(ESTIMATORS))),
    Setting("targetTransform", "string", TargetTransform.NONE.value,
            "Regression: quantile fits the estimator on the target's normal quantiles, so a "
            "few outlying targets do not dominate it (the EDA alert on outlying targets "
            "recommends it); none fits the target as it is.",
            _one_of(list(TARGET_TRANSFORMS))),
    Setting("processingInstanceType", "string", DEFAULT_PROCESSING_INSTANCE_TYPE,
            "Instance type of the profile, preprocess and evaluate jobs.",
            _matches(INSTANCE_TYPE_RE, "an ML instance type such as 'ml.m5.large'")),
    Setting("processingInstanceCount", "integer", 1,
            "Instances for profile and preprocess; input files are sharded across them.",
            instance_count_problem),
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
    Setting("monitorEngine", "string", "processing",
            "Drift monitoring engine: processing (our drift job; works in every account) or "
            "model-monitor (SageMaker Model Monitor, closed to new customers).",
            _one_of([engine.value for engine in MonitorEngine])),
    Setting("monitorSchedule", "string", DEFAULT_MONITOR_SCHEDULE,
            "How often drift is checked: an EventBridge rate or cron expression.",
            _schedule),
    Setting("monitorWindowHours", "integer", DEFAULT_DRIFT_WINDOW_HOURS,
            "Hours of captured traffic each drift check reads.",
            _between(MIN_DRIFT_WINDOW_HOURS, MAX_DRIFT_WINDOW_HOURS)),
    Setting("monitorFeatures", "array", [],
            "Features to alarm on (model-monitor engine only: its metrics are per feature).",
            _each(lambda value: None if value.strip() else "must not be empty")),
    Setting("retrainSchedule", "string", "",
            "Retrain on a schedule (rate or cron expression); empty: no scheduled retraining.",
            lambda value: None if value == "" else _schedule(value)),
    Setting("retrainOnNewData", "boolean", True,
            "Retrain when objects are created under the bucket's raw/ prefix."),
    Setting("retrainOnDrift", "boolean", True, "Retrain when the drift alarm fires."),
    Setting("retrainCooldownSeconds", "integer", DEFAULT_COOLDOWN_SECONDS,
            "Minimum seconds between retrainings started by new data or drift; 0: no gate.",
            _between(0, MAX_COOLDOWN_SECONDS)),
    Setting("batchSchedule", "string", "",
            "Score the bucket's batch/input/ on a schedule (rate or cron expression) with "
            "the latest approved model; empty: no scheduled batch inference.",
            lambda value: None if value == "" else _schedule(value)),
    Setting("batchOnNewData", "boolean", False,
            "Score objects created under batch/input/ (settled, at most one run per "
            "cooldown)."),
    Setting("batchInstanceType", "string", DEFAULT_BATCH_INSTANCE_TYPE,
            "Instance type of the batch scoring job.",
            _matches(INSTANCE_TYPE_RE, "an ML instance type such as 'ml.m5.large'")),
    Setting("batchInstanceCount", "integer", 1,
            "Instances of the batch scoring job (input files are sharded by S3 key).",
            instance_count_problem),
    Setting("batchOutputFormat", "string", DEFAULT_BATCH_OUTPUT_FORMAT,
            "How scored rows are written: csv (input columns + prediction columns) or jsonl.",
            _one_of(list(BATCH_OUTPUT_FORMATS))),
    Setting("batchMaxRefusedShare", "string", str(DEFAULT_MAX_REFUSED_SHARE),
            "Share of refused rows (0-1) above which a batch run fails; its good rows are "
            "still scored.",
            lambda value: None if (_number(value) is not None and 0 <= _number(value) <= 1)
            else "must be a number between 0 and 1"),
    Setting("endpointKind", "string", DEFAULT_ENDPOINT_KIND.value,
            "How the endpoint serves approved models: serverless (pay per request) or "
            "instances.", _one_of([kind.value for kind in EndpointKind])),
    Setting("endpointInstanceType", "string", DEFAULT_ENDPOINT_INSTANCE_TYPE,
            "Instance type of an instance endpoint.",
            _matches(INSTANCE_TYPE_RE, "an ML instance type such as 'ml.m5.large'")),
    Setting("endpointInstanceCount", "integer", DEFAULT_ENDPOINT_INSTANCE_COUNT,
            "Initial instances of an instance endpoint.", _between(1, MAX_INSTANCE_COUNT)),
    Setting("serverlessMemoryMb", "integer", DEFAULT_SERVERLESS_MEMORY_MB,
            "Memory of a serverless endpoint (MB, a multiple of 1024).",
            lambda value: None if SERVERLESS_MEMORY_MB_RANGE[0] <= value
            <= SERVERLESS_MEMORY_MB_RANGE[1] and value % SERVERLESS_MEMORY_STEP_MB == 0
            else f"must be {SERVERLESS_MEMORY_MB_RANGE[0]}-{SERVERLESS_MEMORY_MB_RANGE[1]} in "
                 f"steps of {SERVERLESS_MEMORY_STEP_MB}"),
    Setting("serverlessMaxConcurrency", "integer", DEFAULT_SERVERLESS_MAX_CONCURRENCY,
            "Concurrent invocations of a serverless endpoint.",
            _between(*SERVERLESS_CONCURRENCY_RANGE)),
    Setting("captureSamplingPercent", "integer", DEFAULT_CAPTURE_SAMPLING_PERCENT,
            "Percent of endpoint requests captured for drift monitoring; 0 turns capture off.",
            _between(0, 100)),
    Setting("deploymentStrategy", "string", DEFAULT_DEPLOYMENT_STRATEGY.value,
            "Traffic shifting of a new model: all_at_once, or canary / linear with rollback "
            "on alarms (instance endpoints).",
            _one_of([strategy.value for strategy in DeploymentStrategy])),
    Setting("canaryPercent", "integer", DEFAULT_CANARY_PERCENT,
            "Capacity percent of the canary (or of each linear step).",
            _between(*CANARY_PERCENT_RANGE)),
    Setting("autoscalingMinCapacity", "integer", DEFAULT_AUTOSCALING_MIN_CAPACITY,
            "Fewest instances when autoscaling an instance endpoint.",
            _between(1, MAX_INSTANCE_COUNT)),
    Setting("autoscalingMaxCapacity", "integer", DEFAULT_AUTOSCALING_MAX_CAPACITY,
            "Most instances when autoscaling an instance endpoint; 0 turns autoscaling off.",
            _between(0, MAX_INSTANCE_COUNT)),
    Setting("modelCard", "boolean", False,
            "Write a SageMaker Model Card for each approved package, from its record (the "
            "deployer)."),
    Setting("modelCardIntendedUses", "string", "",
            "Intended uses written into each model card; empty: a placeholder asking for them.",
            lambda value: None if len(value) <= MODEL_CARD_TEXT_LIMIT
            else f"must be at most {MODEL_CARD_TEXT_LIMIT} characters (got {len(value)})"),
)

_BY_KEY = {setting.key: setting for setting in SETTINGS}
#: The settings that make a stack a deployment account's: all of them, or none.
REGISTRY_KEYS = ("registryModelPackageGroupArn", "registryBucketName", "registryKmsKeyArn")
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
    registry_model_package_group_arn: str
    registry_bucket_name: str
    registry_kms_key_arn: str
    capture_retention_days: int
    report_retention_days: int
    force_destroy: bool
    gate_metric: str
    metric_threshold: str
    leak_policy: str
    split_key: str
    split_time: str
    register_unchanged_data: bool
    class_weight: str
    decision_threshold: str
    approval_status: str
    estimator: str
    target_transform: str
    processing_instance_type: str
    processing_instance_count: int
    training_instance_type: str
    use_spot_training: bool
    tuning_max_jobs: int
    tuning_max_parallel_jobs: int
    network_isolation: bool
    subnet_ids: list[str]
    security_group_ids: list[str]
    monitor_engine: str
    monitor_schedule: str
    monitor_window_hours: int
    monitor_features: list[str]
    retrain_schedule: str
    retrain_on_new_data: bool
    retrain_on_drift: bool
    retrain_cooldown_seconds: int
    batch_schedule: str
    batch_on_new_data: bool
    batch_instance_type: str
    batch_instance_count: int
    batch_output_format: str
    batch_max_refused_share: str
    endpoint_kind: EndpointKind
    endpoint_instance_type: str
    endpoint_instance_count: int
    serverless_memory_mb: int
    serverless_max_concurrency: int
    capture_sampling_percent: int
    deployment_strategy: DeploymentStrategy
    canary_percent: int
    autoscaling_min_capacity: int
    autoscaling_max_capacity: int
    model_card: bool
    model_card_intended_uses: str

    @property
    def tags(self) -> dict[str, str]:
        return {OWNER_TAG: self.owner} if self.owner else {}

    @property
    def training_hyperparameters(self) -> dict[str, str]:
        """train.py hyperparameters the stack sets (its class-balance switches and its
        regression target transform)."""
        return {CLASS_WEIGHT_FLAG: self.class_weight,
                DECISION_THRESHOLD_FLAG: self.decision_threshold,
                TARGET_TRANSFORM_FLAG: self.target_transform}


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


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
    if values["monitor_engine"] == MonitorEngine.MODEL_MONITOR.value \
            and values["endpoint_kind"] == EndpointKind.SERVERLESS.value:
        problems.append(
            f"config {prefix}monitorEngine: must be {MonitorEngine.PROCESSING.value!r} with "
            f"{prefix}endpointKind {EndpointKind.SERVERLESS.value!r} (Model Monitor does not "
            f"support serverless endpoints; 'model-monitor' needs endpointKind "
            f"{EndpointKind.INSTANCES.value!r}) (got {values['monitor_engine']!r})")
    registry = {key: values[_BY_KEY[key].attribute] for key in REGISTRY_KEYS}
    if any(registry.values()) and not all(registry.values()):
        missing = ", ".join(f"{prefix}{key}" for key, value in registry.items() if not value)
        problems.append(f"config {missing}: must be set too (a deployment account's stack "
                        f"names the registry's group, bucket and key together: "
                        f"{', '.join(REGISTRY_KEYS)})")
    if problems:
        raise ValidationError(problems)
    values["problem_type"] = ProblemType(values["problem_type"])
    values["endpoint_kind"] = EndpointKind(values["endpoint_kind"])
    values["deployment_strategy"] = DeploymentStrategy(values["deployment_strategy"])
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
