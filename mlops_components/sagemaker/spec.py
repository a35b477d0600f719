"""What a training pipeline definition depends on: its parameters, steps, defaults and spec.

No Pulumi and no SageMaker SDK here: the components, the CLI and the cache key read these
names cheaply. :class:`PipelineSpec` is everything the definition depends on, as plain values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from mlops_components.bucket_layout import PREFIXES
from mlops_components.enums import ApprovalStatus, ProblemType
from training.contract import (
    DEFAULT_BASELINE_MARGIN,
    DEFAULT_CHAMPION_MARGIN,
    DEFAULT_ESTIMATOR,
    DEFAULT_REGISTER_UNCHANGED_DATA,
    DEFAULT_SEED,
    NO_CHAMPION_FILE,
)


class PipelineParameter(StrEnum):
    """Pipeline parameters; the names are API (triggers and the CLI start executions with them)."""

    INPUT_DATA_URI = "InputDataUri"
    METRIC_THRESHOLD = "MetricThreshold"
    MODEL_APPROVAL_STATUS = "ModelApprovalStatus"
    PROCESSING_INSTANCE_TYPE = "ProcessingInstanceType"
    PROCESSING_INSTANCE_COUNT = "ProcessingInstanceCount"
    TRAINING_INSTANCE_TYPE = "TrainingInstanceType"
    EVALUATION_INSTANCE_TYPE = "EvaluationInstanceType"
    BASELINE_MARGIN = "BaselineMargin"
    CHAMPION_MARGIN = "ChampionMargin"
    CHAMPION_MODEL_URI = "ChampionModelUri"
    REGISTER_UNCHANGED_DATA = "RegisterUnchangedData"


class StepName(StrEnum):
    """Step names of the pipeline (``Train`` or ``Tune``, never both)."""

    RECORD_LINEAGE = "RecordLineage"
    PROFILE = "Profile"
    PREPROCESS = "Preprocess"
    TRAIN = "Train"
    TUNE = "Tune"
    EVALUATE = "Evaluate"
    QUALITY_GATE = "QualityGate"
    NEW_DATA_CHECK = "NewDataCheck"
    REGISTER = "Register"
    QUALITY_GATE_FAILED = "QualityGateFailed"


#: Name of the evaluation property file the gate reads.
EVALUATION_REPORT = "EvaluationReport"
#: The registered package's CustomerMetadataProperties key naming its target column (a
#: request may carry that column; the endpoint ignores it).
TARGET_COLUMN_METADATA = "mlops:target-column"
#: CustomerMetadataProperties key of a registered package's training data fingerprint
#: (``training.lineage.recorded_digest``); the registry verbs show it.
TRAINING_DATA_METADATA = "mlops:training-data"
#: CustomerMetadataProperties keys of the other facts a package records at registration: the
#: EDA report (output prefix), the content-addressed code location, the problem type and the
#: gate metric (``mlops lineage`` and the model card read them).
EDA_REPORT_METADATA = "mlops:eda-report-uri"
CODE_URI_METADATA = "mlops:code-uri"
PROBLEM_TYPE_METADATA = "mlops:problem-type"
GATE_METRIC_METADATA = "mlops:gate-metric"
#: CustomerMetadataProperties keys of a promoted package (written by `mlops promote`): the
#: source package's ARN, who promoted it, when (ISO-8601 UTC) and why. ``mlops lineage``
#: shows them when present.
PROMOTED_FROM_METADATA = "mlops:promoted-from"
PROMOTED_BY_METADATA = "mlops:promoted-by"
PROMOTED_AT_METADATA = "mlops:promoted-at"
PROMOTION_REASON_METADATA = "mlops:promotion-reason"
#: CustomerMetadataProperties key of the lineage manifest the RecordLineage step wrote (the
#: execution's data objects with their S3 version IDs), and the manifest's file name under the
#: execution's models prefix (``models/<pipeline>/<execution id>/lineage/lineage.json``).
LINEAGE_METADATA = "mlops:lineage-uri"
LINEAGE_FOLDER = "lineage"
LINEAGE_MANIFEST = "lineage.json"

#: Folder (under the pipeline's models/ prefix) holding the NO_CHAMPION marker the
#: TrainingPipeline uploads: ChampionModelUri's default until a model is approved.
NO_CHAMPION_FOLDER = "no-champion"
#: Values of preprocess ``--leak-policy`` (training.data.features.LeakPolicy; no pandas here).
LEAK_POLICIES: tuple[str, ...] = ("stop", "drop", "proceed")
DEFAULT_LEAK_POLICY = "stop"


def no_champion_key(pipeline_name: str) -> str:
    """Key of the marker object that means "no champion yet"."""
    return f"{PREFIXES['models']}{pipeline_name}/{NO_CHAMPION_FOLDER}/{NO_CHAMPION_FILE}"


def no_champion_uri(bucket: str, pipeline_name: str) -> str:
    """ChampionModelUri's default: the prefix holding the marker (an S3 prefix input)."""
    return f"s3://{bucket}/{PREFIXES['models']}{pipeline_name}/{NO_CHAMPION_FOLDER}/"

# --------------------------------------------------------------------------------------
# Defaults
# --------------------------------------------------------------------------------------

DEFAULT_PROCESSING_INSTANCE_TYPE = "ml.m5.xlarge"
DEFAULT_TRAINING_INSTANCE_TYPE = "ml.m5.xlarge"
DEFAULT_EVALUATION_INSTANCE_TYPE = "ml.m5.large"
DEFAULT_INFERENCE_INSTANCE_TYPES: tuple[str, ...] = ("ml.m5.large",)
DEFAULT_MAX_RUNTIME_SECONDS = 3600
#: Upper bound for ``max_runtime_seconds``: 5 days, SageMaker's default training quota (and
#: below the processing maximum of 9 days).
MAX_RUNTIME_SECONDS_LIMIT = 5 * 24 * 3600
DEFAULT_VOLUME_SIZE_GB = 30
CONTENT_TYPES: tuple[str, ...] = ("text/csv", "application/json")
RESPONSE_TYPES: tuple[str, ...] = ("text/csv", "application/json")

# --------------------------------------------------------------------------------------
# The spec
# --------------------------------------------------------------------------------------


class ScalingType(StrEnum):
    """How a tuner samples a numeric range (SageMaker's ScalingType)."""

    AUTO = "Auto"
    """SageMaker chooses."""
    LINEAR = "Linear"
    """Uniformly over the range."""
    LOGARITHMIC = "Logarithmic"
    """Uniformly over the logarithm of the range (positive ranges)."""
    REVERSE_LOGARITHMIC = "ReverseLogarithmic"
    """Denser near the upper bound (continuous ranges within [0, 1))."""


class TuningStrategy(StrEnum):
    """Search strategy of the tuning job."""

    BAYESIAN = "Bayesian"
    """Each job is chosen from the results so far."""
    RANDOM = "Random"
    """Jobs are drawn at random."""


@dataclass(frozen=True)
class IntegerRange:
    """An integer hyperparameter searched between ``min_value`` and ``max_value`` inclusive."""

    min_value: int
    max_value: int
    scaling: ScalingType = ScalingType.AUTO


@dataclass(frozen=True)
class ContinuousRange:
    """A real hyperparameter searched between ``min_value`` and ``max_value``."""

    min_value: float
    max_value: float
    scaling: ScalingType = ScalingType.AUTO


@dataclass(frozen=True)
class CategoricalRange:
    """A hyperparameter chosen from ``values``."""

    values: tuple[str | int | float, ...]


HyperparameterRange = IntegerRange | ContinuousRange | CategoricalRange


@dataclass(frozen=True)
class TuningSpec:
    """Hyperparameter tuning instead of a single training job."""

    max_jobs: int
    """Training jobs the tuner runs in total."""
    max_parallel_jobs: int
    """Training jobs it runs at once (<= max_jobs)."""
    ranges: Mapping[str, HyperparameterRange] = field(hash=False)
    """train.py hyperparameter -> range, e.g. ``{"max-depth": IntegerRange(2, 8)}``."""
    objective_metric: str | None = None
    """Metric to optimise, e.g. ``f1`` or ``validation:f1``. Default: the gate metric."""
    strategy: TuningStrategy = TuningStrategy.BAYESIAN
    """Search strategy. Default: Bayesian."""


@dataclass(frozen=True)
class PipelineSpec:
    """Everything the definition depends on, as plain resolved values (no Pulumi Outputs)."""

    pipeline_name: str
    """SageMaker pipeline name; also names the S3 prefixes of its outputs."""
    role_arn: str
    """Execution role of every job (a full IAM role ARN)."""
    bucket: str
    """The stack's data bucket: outputs go under its well-known prefixes."""
    region: str
    """AWS region; selects the scikit-learn image."""
    code_uri: str
    """``s3://<bucket>/code/<hash>``: holds ``training/*.py`` and ``sourcedir.tar.gz``."""
    model_package_group_name: str
    """Model package group that receives approved-for-review models."""
    target_column: str
    """Column of the input data to predict."""
    problem_type: ProblemType
    """Classification or regression."""
    input_data_uri: str
    """Default of the ``InputDataUri`` parameter: an S3 prefix of CSV files."""
    metric_threshold: float
    """Default of the ``MetricThreshold`` parameter for the gate metric."""
    approval_status: ApprovalStatus = ApprovalStatus.PENDING_MANUAL_APPROVAL
    """Default of the ``ModelApprovalStatus`` parameter. Default: PendingManualApproval."""
    gate_metric: str | None = None
    """Metric the quality gate compares. Default: accuracy (classification), r2 (regression)."""
    processing_instance_type: str = DEFAULT_PROCESSING_INSTANCE_TYPE
    """Default of ``ProcessingInstanceType`` (profile, preprocess). Default: ml.m5.xlarge."""
    processing_instance_count: int = 1
    """Default of ``ProcessingInstanceCount``; input data is sharded by S3 key. Default: 1."""
    training_instance_type: str = DEFAULT_TRAINING_INSTANCE_TYPE
    """Default of ``TrainingInstanceType``. Default: ml.m5.xlarge."""
    evaluation_instance_type: str = DEFAULT_EVALUATION_INSTANCE_TYPE
    """Default of ``EvaluationInstanceType``. Default: ml.m5.large."""
    inference_instance_types: tuple[str, ...] = DEFAULT_INFERENCE_INSTANCE_TYPES
    """Real-time instance types the model package declares. Default: (ml.m5.large,)."""
    hyperparameters: Mapping[str, str | int | float] = field(default_factory=dict, hash=False)
    """Overrides of ``training.contract.DEFAULT_HYPERPARAMETERS`` (n-estimators,
    learning-rate, max-depth). Default: none."""
    estimator: str = DEFAULT_ESTIMATOR
    """train.py ``--estimator``. Default: hist_gradient_boosting."""
    seed: int = DEFAULT_SEED
    """Random seed for the split and the estimator. Default: 42."""
    tuning: TuningSpec | None = None
    """Tune hyperparameters instead of training once. Default: no tuning."""
    use_spot: bool = False
    """Managed spot training (waits up to twice max_runtime_seconds). Default: off."""
    max_runtime_seconds: int = DEFAULT_MAX_RUNTIME_SECONDS
    """Time limit of every job. Default: 3600."""
    kms_key_id: str | None = None
    """KMS key for job outputs and volumes. Default: the bucket's default encryption."""
    subnets: tuple[str, ...] = ()
    """VPC subnets of every job (with security_group_ids). Default: no VPC."""
    security_group_ids: tuple[str, ...] = ()
    """VPC security groups of every job (with subnets). Default: no VPC."""
    enable_network_isolation: bool = True
    """No network inside the job containers (data moves outside them). Default: on."""
    wheelhouse_uri: str | None = None
    """``s3://`` URI of the wheelhouse archive (what ``training/requirements.txt`` needs beyond
    the image, for offline install by the bootstrap). Default: none (nothing beyond the image)."""
    baseline_margin: float = DEFAULT_BASELINE_MARGIN
    """Default of ``BaselineMargin``: how much the gate metric must beat the trivial baseline
    by (absolute; relative for rmse and mae). Default: 0.05."""
    champion_margin: float = DEFAULT_CHAMPION_MARGIN
    """Default of ``ChampionMargin``: how much it must beat the champion by. Default: 0.0."""
    champion_model_uri: str | None = None
    """Default of ``ChampionModelUri``. Default: the no-champion marker's prefix."""
    leak_policy: str = DEFAULT_LEAK_POLICY
    """Preprocess ``--leak-policy``: stop, drop or proceed on a leaking column. Default: stop."""
    split_key: str | None = None
    """Preprocess ``--split-key``: the column whose value decides a row's split (the group
    split). Default: None (a time split on the data's date column, else a hash of each row's
    feature values)."""
    split_time: str | None = None
    """Preprocess ``--split-time``: the date column whose order decides the splits, or "none"
    for a hash split. Default: None (the data's date column, if it has exactly one)."""
    register_unchanged_data: bool = DEFAULT_REGISTER_UNCHANGED_DATA
    """Default of ``RegisterUnchangedData``: register a model trained on exactly the champion's
    training data. Default: False."""
    lineage_function_arn: str | None = None
    """The Lambda (``functions/lineage_record.py``) of the ``RecordLineage`` step, which writes
    the execution's data objects with their S3 version IDs at its start. Default: none (no
    step; the lineage then resolves versions from the bucket's history when it is read)."""


