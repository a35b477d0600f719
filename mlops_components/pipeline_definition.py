"""The SageMaker pipeline definition of the training loop, built offline with the SDK v3.

Steps: ``Profile`` (EDA report + drift baseline) -> ``Preprocess`` (clean, split, fit the
feature transforms) -> ``Train`` or ``Tune`` -> ``Evaluate`` -> ``QualityGate`` (the gate
metric from ``evaluation.json`` against the ``MetricThreshold`` parameter) -> ``Register``
(model package with metrics, drift baselines and the EDA report) or ``QualityGateFailed``.

Every job runs the scikit-learn container on the ``training/`` package uploaded under
``spec.code_uri``: processing jobs get that prefix as an input and run
``python3 /opt/ml/processing/input/code/training/<job>.py``; the training job runs in script
mode (``sagemaker_program`` / ``sagemaker_submit_directory`` hyperparameters), so the SDK
uploads nothing. With network isolation (the default) a container cannot fetch
``sourcedir.tar.gz`` itself, so SageMaker stages it as the ``code`` channel and
``sagemaker_submit_directory`` names the staged file, as the SDK v2 did. The registered model
serves with ``SAGEMAKER_PROGRAM=training.inference`` (a module name, see
:func:`_serving_environment`).

:func:`build_pipeline_definition` is a pure function of :class:`PipelineSpec`: the same spec
gives byte-identical JSON (sorted keys, no timestamps, no generated names), and it makes no
AWS call - see :mod:`mlops_components._sagemaker_sdk` for how the SDK is kept offline.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mlops_components.data_bucket import PREFIXES
from mlops_components.enums import ApprovalStatus, ProblemType
from mlops_components.validation import (
    INSTANCE_TYPE_RE,
    KMS_KEY_ARN_RE,
    SAGEMAKER_NAME_RE,
    SECURITY_GROUP_RE,
    SUBNET_RE,
    Problems,
)
from training import metrics as training_metrics

# --------------------------------------------------------------------------------------
# Names other code refers to
# --------------------------------------------------------------------------------------


class PipelineParameter(StrEnum):
    """Pipeline parameters; the names are API (triggers and the CLI start executions with them)."""

    INPUT_DATA_URI = "InputDataUri"
    METRIC_THRESHOLD = "MetricThreshold"
    MODEL_APPROVAL_STATUS = "ModelApprovalStatus"
    PROCESSING_INSTANCE_TYPE = "ProcessingInstanceType"
    PROCESSING_INSTANCE_COUNT = "ProcessingInstanceCount"
    TRAINING_INSTANCE_TYPE = "TrainingInstanceType"
    EVALUATION_INSTANCE_TYPE = "EvaluationInstanceType"


class StepName(StrEnum):
    """Step names of the pipeline (``Train`` or ``Tune``, never both)."""

    PROFILE = "Profile"
    PREPROCESS = "Preprocess"
    TRAIN = "Train"
    TUNE = "Tune"
    EVALUATE = "Evaluate"
    QUALITY_GATE = "QualityGate"
    REGISTER = "Register"
    QUALITY_GATE_FAILED = "QualityGateFailed"


#: Name of the evaluation property file, and the file it reads in the ``evaluation`` output.
EVALUATION_REPORT = "EvaluationReport"
EVALUATION_FILE = "evaluation.json"
#: Files the profile job writes to its ``baseline`` output (Model Monitor's formats).
BASELINE_STATISTICS_FILE = "statistics.json"
BASELINE_CONSTRAINTS_FILE = "constraints.json"

#: Processing outputs each step declares (``ProcessingOutputConfig.Outputs[<name>]``).
PROFILE_OUTPUTS = ("report", "baseline")
PREPROCESS_OUTPUTS = ("train", "validation", "test", "transform")
EVALUATE_OUTPUTS = ("evaluation",)
#: Training channels fed from the preprocess outputs.
TRAINING_CHANNELS = ("train", "validation", "transform")

#: Serving module inside sourcedir.tar.gz, as the serving container imports it (see
#: :func:`_serving_environment`).
SERVING_MODULE = "training.inference"

# --------------------------------------------------------------------------------------
# Container paths (the contract with training/)
# --------------------------------------------------------------------------------------

_PROCESSING_ROOT = "/opt/ml/processing"
_CODE_DIR = f"{_PROCESSING_ROOT}/input/code"
_DATA_DIR = f"{_PROCESSING_ROOT}/input/data"
_MODEL_DIR = f"{_PROCESSING_ROOT}/input/model"
_TEST_DIR = f"{_PROCESSING_ROOT}/input/test"
_OUTPUT_DIR = f"{_PROCESSING_ROOT}/output"
#: Where a training job finds its "code" channel (used when the container has no network).
_TRAINING_CODE_CHANNEL = "code"
_TRAINING_CODE_DIR = f"/opt/ml/input/data/{_TRAINING_CODE_CHANNEL}"
_SOURCE_ARCHIVE = "sourcedir.tar.gz"

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
#: train.py hyperparameters a spec may set, with their defaults and types.
DEFAULT_HYPERPARAMETERS: dict[str, int | float] = {
    "n-estimators": 100,
    "learning-rate": 0.1,
    "max-depth": 3,
}
_HYPERPARAMETER_TYPES: dict[str, type] = {"n-estimators": int, "learning-rate": float,
                                          "max-depth": int}
#: Hyperparameters the builder sets from other spec fields; a spec may not set them directly.
_RESERVED_HYPERPARAMETERS = ("target", "problem-type", "estimator", "seed",
                             "sagemaker_program", "sagemaker_submit_directory")
#: Hyperparameters a tuning job may search (``estimator`` only as a categorical range).
TUNABLE_HYPERPARAMETERS = (*DEFAULT_HYPERPARAMETERS, "estimator")

CONTENT_TYPES: tuple[str, ...] = ("text/csv", "application/json")
RESPONSE_TYPES: tuple[str, ...] = ("text/csv", "application/json")

# --------------------------------------------------------------------------------------
# The spec
# --------------------------------------------------------------------------------------


class ScalingType(StrEnum):
    """How a tuner samples a numeric range (SageMaker's ScalingType)."""

    AUTO = "Auto"
    LINEAR = "Linear"
    LOGARITHMIC = "Logarithmic"
    REVERSE_LOGARITHMIC = "ReverseLogarithmic"


class TuningStrategy(StrEnum):
    """Search strategy of the tuning job."""

    BAYESIAN = "Bayesian"
    RANDOM = "Random"


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
    """Overrides of :data:`DEFAULT_HYPERPARAMETERS` (n-estimators, learning-rate, max-depth)."""
    estimator: str = training_metrics.DEFAULT_ESTIMATOR
    """train.py ``--estimator``. Default: gradient_boosting."""
    seed: int = 42
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


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------

_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_BUCKET_RE = re.compile(r"^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_S3_URI_RE = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?$")
_KMS_KEY_RE = re.compile(
    r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}"
    r"|alias/[A-Za-z0-9/_-]{1,250})$")
_METRIC_PREFIX = "validation:"
_MAX_TUNING_JOBS = 500
_MAX_PARALLEL_TUNING_JOBS = 100
_MAX_CATEGORICAL_VALUES = 30
_MAX_SUBNETS = 16
_MAX_SECURITY_GROUPS = 5
#: Gate metrics bounded to [0, 1], and those that cannot be negative.
_UNIT_INTERVAL_METRICS = ("accuracy", "f1", "roc_auc")
_NON_NEGATIVE_METRICS = ("rmse", "mae")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def validate_pipeline_spec(spec: PipelineSpec, owner: str | None = None) -> None:
    """Check every field of ``spec``; raise one ``ValidationError`` listing every problem.

    ``ValidationError`` is a ``ValueError``. Each line names the field, the bad value and
    what is allowed. Needs no SDK import, so callers can validate early and cheaply.
    """
    problems = Problems(owner or f"PipelineSpec {spec.pipeline_name!r}")
    problems.matches("pipeline_name", spec.pipeline_name, SAGEMAKER_NAME_RE,
                     "1-63 letters, digits and hyphens, starting with a letter or digit")
    problems.matches("role_arn", spec.role_arn, _ROLE_ARN_RE,
                     "an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)")
    problems.matches("bucket", spec.bucket, _BUCKET_RE, "an S3 bucket name (3-63 lowercase "
                     "letters, digits, dots and hyphens)")
    problems.matches("region", spec.region, _REGION_RE, "an AWS region such as 'eu-west-1'")
    problems.matches("code_uri", spec.code_uri, _S3_URI_RE, "an s3://<bucket>/<prefix> URI")
    problems.matches("input_data_uri", spec.input_data_uri, _S3_URI_RE,
                     "an s3://<bucket>/<prefix> URI")
    problems.matches("model_package_group_name", spec.model_package_group_name,
                     SAGEMAKER_NAME_RE, "1-63 letters, digits and hyphens")
    problems.check(isinstance(spec.target_column, str) and spec.target_column.strip() != "",
                   "target_column", "must be a non-empty column name", spec.target_column)
    problem_type = problems.one_of("problem_type", spec.problem_type, ProblemType)
    problems.one_of("approval_status", spec.approval_status, ApprovalStatus)

    gate = None
    if isinstance(problem_type, ProblemType):
        try:
            gate = training_metrics.gate_metric(problem_type.value, spec.gate_metric)
        except ValueError:
            allowed = ", ".join(training_metrics.METRIC_NAMES[
                training_metrics.ProblemType(problem_type.value)])
            problems.add("gate_metric", f"must be a {problem_type.value} metric ({allowed})",
                         spec.gate_metric)
    _validate_threshold(problems, spec.metric_threshold, gate)

    for name in ("processing_instance_type", "training_instance_type",
                 "evaluation_instance_type"):
        problems.matches(name, getattr(spec, name), INSTANCE_TYPE_RE,
                         "an ML instance type such as 'ml.m5.xlarge'")
    problems.check(_is_int(spec.processing_instance_count)
                   and spec.processing_instance_count >= 1, "processing_instance_count",
                   "must be an integer >= 1", spec.processing_instance_count)
    problems.check(isinstance(spec.inference_instance_types, tuple)
                   and len(spec.inference_instance_types) >= 1, "inference_instance_types",
                   "must be a non-empty tuple of instance types", spec.inference_instance_types)
    if isinstance(spec.inference_instance_types, tuple):
        for index, instance_type in enumerate(spec.inference_instance_types):
            problems.matches(f"inference_instance_types[{index}]", instance_type,
                             INSTANCE_TYPE_RE, "an ML instance type such as 'ml.m5.large'")

    _validate_hyperparameters(problems, spec.hyperparameters)
    problems.check(spec.estimator in training_metrics.ESTIMATORS, "estimator",
                   "must be one of " + ", ".join(map(repr, training_metrics.ESTIMATORS)),
                   spec.estimator)
    problems.check(_is_int(spec.seed) and 0 <= spec.seed < 2**32, "seed",
                   "must be an integer between 0 and 4294967295", spec.seed)
    problems.check(_is_int(spec.max_runtime_seconds)
                   and 1 <= spec.max_runtime_seconds <= MAX_RUNTIME_SECONDS_LIMIT,
                   "max_runtime_seconds", f"must be an integer between 1 and "
                   f"{MAX_RUNTIME_SECONDS_LIMIT}", spec.max_runtime_seconds)
    problems.check(isinstance(spec.use_spot, bool), "use_spot", "must be True or False",
                   spec.use_spot)
    problems.check(isinstance(spec.enable_network_isolation, bool),
                   "enable_network_isolation", "must be True or False",
                   spec.enable_network_isolation)
    if spec.kms_key_id is not None:
        problems.check(isinstance(spec.kms_key_id, str)
                       and bool(KMS_KEY_ARN_RE.match(spec.kms_key_id)
                                or _KMS_KEY_RE.match(spec.kms_key_id)), "kms_key_id",
                       "must be a KMS key ARN, alias ARN, key ID or alias/<name>",
                       spec.kms_key_id)
    _validate_vpc(problems, spec.subnets, spec.security_group_ids)
    if spec.tuning is not None:
        _validate_tuning(problems, spec.tuning, problem_type)
    problems.raise_if_any()


def _validate_threshold(problems: Problems, threshold: Any,
                        gate: training_metrics.GateMetric | None) -> None:
    if not _is_number(threshold):
        problems.add("metric_threshold", "must be a finite number", threshold)
    elif gate is not None and gate.name in _UNIT_INTERVAL_METRICS:
        problems.between("metric_threshold", threshold, 0.0, 1.0)
    elif gate is not None and gate.name in _NON_NEGATIVE_METRICS:
        problems.at_least("metric_threshold", threshold, 0.0)
    elif gate is not None and gate.name == "r2":
        problems.check(threshold <= 1.0, "metric_threshold", "must be <= 1.0 for r2", threshold)


def _validate_hyperparameters(problems: Problems, hyperparameters: Any) -> None:
    if not isinstance(hyperparameters, Mapping):
        problems.add("hyperparameters", "must be a mapping of name to value", hyperparameters)
        return
    for name, value in hyperparameters.items():
        where = f"hyperparameters[{name!r}]"
        if name in _RESERVED_HYPERPARAMETERS:
            problems.add(where, "is set by the builder (use the spec field for target, "
                         "problem_type, estimator or seed)", value)
        elif name not in _HYPERPARAMETER_TYPES:
            problems.add(where, "is not a train.py hyperparameter (allowed: "
                         + ", ".join(_HYPERPARAMETER_TYPES) + ")", value)
        elif _HYPERPARAMETER_TYPES[name] is int:
            problems.check(_is_int(value) and value >= 1, where, "must be an integer >= 1",
                           value)
        else:
            problems.check(_is_number(value) and value > 0, where, "must be a number > 0",
                           value)


def _validate_vpc(problems: Problems, subnets: Any, security_group_ids: Any) -> None:
    for name, values, pattern, limit, allowed in (
            ("subnets", subnets, SUBNET_RE, _MAX_SUBNETS, "a subnet ID (subnet-...)"),
            ("security_group_ids", security_group_ids, SECURITY_GROUP_RE,
             _MAX_SECURITY_GROUPS, "a security group ID (sg-...)")):
        if not isinstance(values, tuple):
            problems.add(name, "must be a tuple", values)
            continue
        problems.check(len(values) <= limit, name, f"must have at most {limit} items", values)
        for index, value in enumerate(values):
            problems.matches(f"{name}[{index}]", value, pattern, allowed)
    if isinstance(subnets, tuple) and isinstance(security_group_ids, tuple):
        problems.check(bool(subnets) == bool(security_group_ids), "subnets",
                       "and security_group_ids must be given together (a VPC needs both)",
                       {"subnets": subnets, "security_group_ids": security_group_ids})


def _validate_tuning(problems: Problems, tuning: Any, problem_type: Any) -> None:
    if not isinstance(tuning, TuningSpec):
        problems.add("tuning", "must be a TuningSpec", tuning)
        return
    problems.check(_is_int(tuning.max_jobs) and 1 <= tuning.max_jobs <= _MAX_TUNING_JOBS,
                   "tuning.max_jobs", f"must be an integer between 1 and {_MAX_TUNING_JOBS}",
                   tuning.max_jobs)
    parallel_ok = (_is_int(tuning.max_parallel_jobs)
                   and 1 <= tuning.max_parallel_jobs <= _MAX_PARALLEL_TUNING_JOBS)
    problems.check(parallel_ok, "tuning.max_parallel_jobs",
                   f"must be an integer between 1 and {_MAX_PARALLEL_TUNING_JOBS}",
                   tuning.max_parallel_jobs)
    if parallel_ok and _is_int(tuning.max_jobs):
        problems.check(tuning.max_parallel_jobs <= tuning.max_jobs, "tuning.max_parallel_jobs",
                       f"must be <= tuning.max_jobs ({tuning.max_jobs})",
                       tuning.max_parallel_jobs)
    problems.one_of("tuning.strategy", tuning.strategy, TuningStrategy)
    if isinstance(problem_type, ProblemType) and tuning.objective_metric is not None:
        names = training_metrics.METRIC_NAMES[training_metrics.ProblemType(problem_type.value)]
        problems.check(_metric_name(tuning.objective_metric) in names,
                       "tuning.objective_metric", f"must be a {problem_type.value} metric ("
                       + ", ".join(names) + ", optionally prefixed 'validation:')",
                       tuning.objective_metric)
    if not isinstance(tuning.ranges, Mapping) or not tuning.ranges:
        problems.add("tuning.ranges", "must map at least one hyperparameter to a range",
                     tuning.ranges)
        return
    for name, parameter_range in tuning.ranges.items():
        _validate_range(problems, f"tuning.ranges[{name!r}]", name, parameter_range)


def _validate_range(problems: Problems, where: str, name: Any, parameter_range: Any) -> None:
    if name not in TUNABLE_HYPERPARAMETERS:
        problems.add(where, "is not a tunable hyperparameter (allowed: "
                     + ", ".join(TUNABLE_HYPERPARAMETERS) + ")", name)
        return
    if isinstance(parameter_range, CategoricalRange):
        values = parameter_range.values
        ok = (isinstance(values, tuple) and 1 <= len(values) <= _MAX_CATEGORICAL_VALUES
              and len(set(map(str, values))) == len(values))
        problems.check(ok, where, f"values must be a tuple of 1-{_MAX_CATEGORICAL_VALUES} "
                       "distinct values", values)
        if ok and name == "estimator":
            for value in values:
                problems.check(value in training_metrics.ESTIMATORS, where,
                               "values must be estimators (" + ", ".join(
                                   training_metrics.ESTIMATORS) + ")", value)
        return
    if name == "estimator":
        problems.add(where, "must be a CategoricalRange (estimator is a name)", parameter_range)
        return
    expected = IntegerRange if _HYPERPARAMETER_TYPES[name] is int else ContinuousRange
    if not isinstance(parameter_range, expected):
        problems.add(where, f"must be a {expected.__name__} or CategoricalRange",
                     parameter_range)
        return
    low, high = parameter_range.min_value, parameter_range.max_value
    number = _is_int if expected is IntegerRange else _is_number
    if not (number(low) and number(high)):
        problems.add(where, "min_value and max_value must be "
                     + ("integers" if expected is IntegerRange else "finite numbers"),
                     parameter_range)
        return
    problems.check(0 < low <= high, where, "needs 0 < min_value <= max_value", parameter_range)
    problems.one_of(f"{where}.scaling", parameter_range.scaling, ScalingType)


def _metric_name(metric: str) -> str:
    return metric[len(_METRIC_PREFIX):] if metric.startswith(_METRIC_PREFIX) else metric


# --------------------------------------------------------------------------------------
# The build
# --------------------------------------------------------------------------------------


def build_pipeline_definition(spec: PipelineSpec, owner: str | None = None) -> str:
    """The pipeline definition JSON for ``spec``: deterministic, built with no AWS call.

    Raises ``ValidationError`` (a ``ValueError``) listing every problem of the spec.
    """
    validate_pipeline_spec(spec, owner)
    from mlops_components import _sagemaker_sdk

    with _sagemaker_sdk.offline_sdk(spec.region):
        try:
            image_uri = _sagemaker_sdk.sklearn_image_uri(spec.region)
        except ValueError as error:
            problems = Problems(owner or f"PipelineSpec {spec.pipeline_name!r}")
            problems.add("region", "must be a region with the SageMaker scikit-learn "
                         f"{_sagemaker_sdk.SKLEARN_FRAMEWORK_VERSION} image ({error})",
                         spec.region)
            problems.raise_if_any()
        session = _sagemaker_sdk.pipeline_session(spec.bucket, spec.region)
        definition = _Builder(spec, session, image_uri).definition()
    return json.dumps(json.loads(definition), sort_keys=True, separators=(",", ":"))


class _Builder:
    """Builds the steps of one pipeline; only called inside ``offline_sdk``."""

    def __init__(self, spec: PipelineSpec, session: Any, image_uri: str):
        from sagemaker.core.workflow.parameters import (
            ParameterFloat,
            ParameterInteger,
            ParameterString,
        )

        self.spec = spec
        self.session = session
        self.image_uri = image_uri
        self.code_uri = spec.code_uri.rstrip("/")
        self.problem_type = ProblemType(spec.problem_type)
        self.gate = training_metrics.gate_metric(self.problem_type.value, spec.gate_metric)
        self.metric_definitions = training_metrics.METRIC_DEFINITIONS[
            training_metrics.ProblemType(self.problem_type.value)]
        self.parameters = {
            PipelineParameter.INPUT_DATA_URI: ParameterString(
                PipelineParameter.INPUT_DATA_URI.value, default_value=spec.input_data_uri),
            PipelineParameter.METRIC_THRESHOLD: ParameterFloat(
                PipelineParameter.METRIC_THRESHOLD.value,
                default_value=float(spec.metric_threshold)),
            PipelineParameter.MODEL_APPROVAL_STATUS: ParameterString(
                PipelineParameter.MODEL_APPROVAL_STATUS.value,
                default_value=ApprovalStatus(spec.approval_status).value,
                enum_values=[status.value for status in ApprovalStatus]),
            PipelineParameter.PROCESSING_INSTANCE_TYPE: ParameterString(
                PipelineParameter.PROCESSING_INSTANCE_TYPE.value,
                default_value=spec.processing_instance_type),
            PipelineParameter.PROCESSING_INSTANCE_COUNT: ParameterInteger(
                PipelineParameter.PROCESSING_INSTANCE_COUNT.value,
                default_value=spec.processing_instance_count),
            PipelineParameter.TRAINING_INSTANCE_TYPE: ParameterString(
                PipelineParameter.TRAINING_INSTANCE_TYPE.value,
                default_value=spec.training_instance_type),
            PipelineParameter.EVALUATION_INSTANCE_TYPE: ParameterString(
                PipelineParameter.EVALUATION_INSTANCE_TYPE.value,
                default_value=spec.evaluation_instance_type),
        }

    # ---- locations ------------------------------------------------------------------

    def _s3(self, prefix: str, *parts: Any) -> Any:
        """``s3://<bucket>/<prefix><pipeline>/<execution id>/<parts>`` as a Join."""
        from sagemaker.core.workflow.execution_variables import ExecutionVariables
        from sagemaker.core.workflow.functions import Join

        base = f"s3://{self.spec.bucket}/{PREFIXES[prefix]}{self.spec.pipeline_name}"
        return Join(on="/", values=[base, ExecutionVariables.PIPELINE_EXECUTION_ID, *parts])

    @staticmethod
    def _output_uri(step: Any, output: str) -> Any:
        return step.properties.ProcessingOutputConfig.Outputs[output].S3Output.S3Uri

    # ---- shared job settings --------------------------------------------------------

    def _network_config(self) -> Any:
        from sagemaker.core.network import NetworkConfig

        return NetworkConfig(
            enable_network_isolation=self.spec.enable_network_isolation,
            security_group_ids=list(self.spec.security_group_ids) or None,
            subnets=list(self.spec.subnets) or None,
        )

    def _processor(self, base_job_name: str, instance_type: Any, instance_count: Any) -> Any:
        from sagemaker.core.processing import Processor

        return Processor(
            role=self.spec.role_arn,
            image_uri=self.image_uri,
            instance_count=instance_count,
            instance_type=instance_type,
            entrypoint=["python3", f"{_CODE_DIR}/training/{base_job_name}.py"],
            volume_size_in_gb=DEFAULT_VOLUME_SIZE_GB,
            volume_kms_key=self.spec.kms_key_id,
            output_kms_key=self.spec.kms_key_id,
            max_runtime_in_seconds=self.spec.max_runtime_seconds,
            base_job_name=base_job_name,
            sagemaker_session=self.session,
            network_config=self._network_config(),
        )

    @staticmethod
    def _input(name: str, s3_uri: Any, local_path: str, sharded: bool = False) -> Any:
        from sagemaker.core.shapes import ProcessingInput, ProcessingS3Input

        return ProcessingInput(input_name=name, s3_input=ProcessingS3Input(
            s3_uri=s3_uri, local_path=local_path, s3_data_type="S3Prefix",
            s3_input_mode="File",
            s3_data_distribution_type="ShardedByS3Key" if sharded else "FullyReplicated",
            s3_compression_type="None"))

    @staticmethod
    def _output(name: str, local_path: str, s3_uri: Any) -> Any:
        from sagemaker.core.shapes import ProcessingOutput, ProcessingS3Output

        return ProcessingOutput(output_name=name, s3_output=ProcessingS3Output(
            s3_uri=s3_uri, local_path=local_path, s3_upload_mode="EndOfJob"))

    def _code_input(self) -> Any:
        return self._input("code", self.code_uri, _CODE_DIR)

    # ---- steps ----------------------------------------------------------------------

    def profile_step(self) -> Any:
        from sagemaker.mlops.workflow import ProcessingStep

        processor = self._processor(
            "profile", self.parameters[PipelineParameter.PROCESSING_INSTANCE_TYPE],
            self.parameters[PipelineParameter.PROCESSING_INSTANCE_COUNT])
        step_args = processor.run(
            inputs=[self._code_input(),
                    self._input("data", self.parameters[PipelineParameter.INPUT_DATA_URI],
                                _DATA_DIR, sharded=True)],
            # The baseline is attached to registered packages: keep it under models/, which
            # has no expiry, while the EDA report lives (and expires) under reports/.
            outputs=[self._output(name, f"{_OUTPUT_DIR}/{name}",
                                  self._s3("models" if name == "baseline" else "reports", name))
                     for name in PROFILE_OUTPUTS],
            arguments=["--data-dir", _DATA_DIR,
                       "--report-dir", f"{_OUTPUT_DIR}/report",
                       "--baseline-dir", f"{_OUTPUT_DIR}/baseline",
                       "--target", self.spec.target_column,
                       "--problem-type", self.problem_type.value])
        return ProcessingStep(name=StepName.PROFILE.value, step_args=step_args,
                              description="EDA report and the drift baseline of the input data.")

    def preprocess_step(self, profile: Any) -> Any:
        from sagemaker.mlops.workflow import ProcessingStep

        processor = self._processor(
            "preprocess", self.parameters[PipelineParameter.PROCESSING_INSTANCE_TYPE],
            self.parameters[PipelineParameter.PROCESSING_INSTANCE_COUNT])
        step_args = processor.run(
            inputs=[self._code_input(),
                    self._input("data", self.parameters[PipelineParameter.INPUT_DATA_URI],
                                _DATA_DIR, sharded=True)],
            outputs=[self._output(name, f"{_OUTPUT_DIR}/{name}", self._s3("processed", name))
                     for name in PREPROCESS_OUTPUTS],
            arguments=["--data-dir", _DATA_DIR,
                       "--output-dir", _OUTPUT_DIR,
                       "--target", self.spec.target_column,
                       "--problem-type", self.problem_type.value,
                       "--seed", str(self.spec.seed)])
        return ProcessingStep(name=StepName.PREPROCESS.value, step_args=step_args,
                              depends_on=[profile],
                              description="Clean, split and fit the feature transforms.")

    def _hyperparameters(self) -> dict[str, str]:
        values: dict[str, Any] = {**DEFAULT_HYPERPARAMETERS, **self.spec.hyperparameters}
        submit_directory = (f"{_TRAINING_CODE_DIR}/{_SOURCE_ARCHIVE}"
                            if self.spec.enable_network_isolation
                            else f"{self.code_uri}/{_SOURCE_ARCHIVE}")
        values.update({
            "target": self.spec.target_column,
            "problem-type": self.problem_type.value,
            "estimator": self.spec.estimator,
            "seed": self.spec.seed,
            "sagemaker_program": "training/train.py",
            "sagemaker_submit_directory": submit_directory,
        })
        return {name: str(value) for name, value in sorted(values.items())}

    def _model_trainer(self) -> Any:
        from sagemaker.core.shapes import CheckpointConfig, MetricDefinition
        from sagemaker.train.configs import (
            Compute,
            Networking,
            OutputDataConfig,
            StoppingCondition,
        )
        from sagemaker.train.model_trainer import ModelTrainer

        spec = self.spec
        stopping = StoppingCondition(max_runtime_in_seconds=spec.max_runtime_seconds)
        checkpoint = None
        if spec.use_spot:
            stopping = StoppingCondition(max_runtime_in_seconds=spec.max_runtime_seconds,
                                         max_wait_time_in_seconds=2 * spec.max_runtime_seconds)
            checkpoint = CheckpointConfig(s3_uri=self._s3("models", "checkpoints"),
                                          local_path="/opt/ml/checkpoints")
        networking = Networking(
            enable_network_isolation=spec.enable_network_isolation,
            subnets=list(spec.subnets) or None,
            security_group_ids=list(spec.security_group_ids) or None,
        )
        trainer = ModelTrainer(
            training_image=self.image_uri,
            role=spec.role_arn,
            sagemaker_session=self.session,
            base_job_name="train",
            compute=Compute(
                instance_type=self.parameters[PipelineParameter.TRAINING_INSTANCE_TYPE],
                instance_count=1,
                volume_size_in_gb=DEFAULT_VOLUME_SIZE_GB,
                volume_kms_key_id=spec.kms_key_id,
                enable_managed_spot_training=spec.use_spot or None,
            ),
            networking=networking,
            stopping_condition=stopping,
            output_data_config=OutputDataConfig(s3_output_path=self._s3("models"),
                                                kms_key_id=spec.kms_key_id),
            checkpoint_config=checkpoint,
            hyperparameters=self._hyperparameters(),
            environment={},
        )
        return trainer.with_metric_definitions(
            [MetricDefinition(name=metric["Name"], regex=metric["Regex"])
             for metric in self.metric_definitions])

    def _training_inputs(self, preprocess: Any) -> list[Any]:
        from sagemaker.train.configs import InputData

        inputs = [InputData(channel_name=channel,
                            data_source=self._output_uri(preprocess, channel),
                            content_type="text/csv")
                  for channel in TRAINING_CHANNELS]
        if self.spec.enable_network_isolation:
            # No network in the container: SageMaker stages the code archive as a channel.
            inputs.append(InputData(channel_name=_TRAINING_CODE_CHANNEL,
                                    data_source=f"{self.code_uri}/{_SOURCE_ARCHIVE}"))
        return inputs

    def train_step(self, preprocess: Any) -> tuple[Any, Any]:
        """The training step and its model artifact URI."""
        from sagemaker.mlops.workflow import TrainingStep

        step_args = self._model_trainer().train(input_data_config=self._training_inputs(preprocess))
        step = TrainingStep(name=StepName.TRAIN.value, step_args=step_args,
                            description="Train the model on the preprocessed data.")
        return step, step.properties.ModelArtifacts.S3ModelArtifacts

    def tune_step(self, preprocess: Any, tuning: TuningSpec) -> tuple[Any, Any]:
        """The tuning step and the model artifact URI of its best training job."""
        from sagemaker.core.parameter import (
            CategoricalParameter,
            ContinuousParameter,
            IntegerParameter,
        )
        from sagemaker.core.workflow.execution_variables import ExecutionVariables
        from sagemaker.core.workflow.functions import Join
        from sagemaker.train.tuner import HyperparameterTuner

        ranges: dict[str, Any] = {}
        for name, parameter_range in sorted(tuning.ranges.items()):
            if isinstance(parameter_range, CategoricalRange):
                ranges[name] = CategoricalParameter([str(v) for v in parameter_range.values])
            elif isinstance(parameter_range, IntegerRange):
                ranges[name] = IntegerParameter(parameter_range.min_value,
                                                parameter_range.max_value,
                                                ScalingType(parameter_range.scaling).value)
            else:
                ranges[name] = ContinuousParameter(parameter_range.min_value,
                                                   parameter_range.max_value,
                                                   ScalingType(parameter_range.scaling).value)
        objective = _metric_name(tuning.objective_metric or self.gate.name)
        tuner = HyperparameterTuner(
            model_trainer=self._model_trainer(),
            objective_metric_name=_METRIC_PREFIX + objective,
            objective_type=("Maximize" if training_metrics.HIGHER_IS_BETTER[objective]
                            else "Minimize"),
            hyperparameter_ranges=ranges,
            metric_definitions=list(self.metric_definitions),
            strategy=TuningStrategy(tuning.strategy).value,
            max_jobs=tuning.max_jobs,
            max_parallel_jobs=tuning.max_parallel_jobs,
            base_tuning_job_name="tune",
            random_seed=self.spec.seed,
        )
        step_args = tuner.tune(inputs=self._training_inputs(preprocess))
        tuning_step_class, _ = _step_classes()
        step = tuning_step_class(
            name=StepName.TUNE.value, step_args=step_args,
            description="Tune hyperparameters on the preprocessed data.",
            network_isolation=self.spec.enable_network_isolation,
            volume_kms_key_id=self.spec.kms_key_id)
        # The tuner's training jobs write <S3OutputPath>/<job name>/output/model.tar.gz.
        best_model = Join(on="/", values=[
            f"s3://{self.spec.bucket}/{PREFIXES['models']}{self.spec.pipeline_name}",
            ExecutionVariables.PIPELINE_EXECUTION_ID,
            step.properties.TrainingJobSummaries[0].TrainingJobName,
            "output/model.tar.gz",
        ])
        return step, best_model

    def evaluate_step(self, model_data: Any, preprocess: Any) -> tuple[Any, Any]:
        """The evaluation step and its ``EvaluationReport`` property file."""
        from sagemaker.core.workflow.properties import PropertyFile
        from sagemaker.mlops.workflow import ProcessingStep

        processor = self._processor(
            "evaluate", self.parameters[PipelineParameter.EVALUATION_INSTANCE_TYPE], 1)
        step_args = processor.run(
            inputs=[self._code_input(),
                    self._input("model", model_data, _MODEL_DIR),
                    self._input("test", self._output_uri(preprocess, "test"), _TEST_DIR)],
            # evaluation.json is the registered package's ModelQuality statistics: no expiry.
            outputs=[self._output("evaluation", f"{_OUTPUT_DIR}/evaluation",
                                  self._s3("models", "evaluation"))],
            arguments=["--model-dir", _MODEL_DIR,
                       "--test-dir", _TEST_DIR,
                       "--output-dir", f"{_OUTPUT_DIR}/evaluation",
                       "--target", self.spec.target_column,
                       "--problem-type", self.problem_type.value])
        report = PropertyFile(name=EVALUATION_REPORT, output_name="evaluation",
                              path=EVALUATION_FILE)
        step = ProcessingStep(name=StepName.EVALUATE.value, step_args=step_args,
                              property_files=[report],
                              description="Score the model on the held-out test split.")
        return step, report

    def register_step(self, model_data: Any, profile: Any, evaluate: Any) -> Any:
        from sagemaker.core.drift_check_baselines import DriftCheckBaselines
        from sagemaker.core.model_metrics import MetricsSource, ModelMetrics
        from sagemaker.core.workflow.functions import Join
        from sagemaker.serve.model_builder import ModelBuilder

        def file_in(step: Any, output: str, name: str) -> Any:
            return Join(on="/", values=[self._output_uri(step, output), name])

        statistics = MetricsSource(content_type="application/json", s3_uri=file_in(
            profile, "baseline", BASELINE_STATISTICS_FILE))
        constraints = MetricsSource(content_type="application/json", s3_uri=file_in(
            profile, "baseline", BASELINE_CONSTRAINTS_FILE))
        model_metrics = ModelMetrics(
            model_statistics=MetricsSource(content_type="application/json", s3_uri=file_in(
                evaluate, "evaluation", EVALUATION_FILE)),
            model_data_statistics=statistics,
            model_data_constraints=constraints,
        )
        builder = ModelBuilder(
            image_uri=self.image_uri,
            s3_model_data_url=model_data,
            role_arn=self.spec.role_arn,
            sagemaker_session=self.session,
            instance_type=self.spec.inference_instance_types[0],
            env_vars=_serving_environment(self.code_uri, self.spec.region),
        )
        step_args = builder.register(
            model_package_group_name=self.spec.model_package_group_name,
            content_types=list(CONTENT_TYPES),
            response_types=list(RESPONSE_TYPES),
            inference_instances=list(self.spec.inference_instance_types),
            transform_instances=list(self.spec.inference_instance_types),
            approval_status=self.parameters[PipelineParameter.MODEL_APPROVAL_STATUS],
            model_metrics=model_metrics,
            drift_check_baselines=DriftCheckBaselines(
                model_data_statistics=statistics, model_data_constraints=constraints),
            customer_metadata_properties=self._customer_metadata(profile),
            domain="MACHINE_LEARNING",
            task=self.problem_type.value.upper(),
        )
        _, register_step_class = _step_classes()
        return register_step_class(
            name=StepName.REGISTER.value, step_args=step_args,
            description="Register the model for review with its metrics, drift baselines "
                        "and EDA report.")

    def _customer_metadata(self, profile: Any) -> dict[str, Any]:
        """Traceability facts; the EDA report has no ModelMetrics slot, so it lives here."""
        return {
            "mlops:eda-report-uri": self._output_uri(profile, "report"),
            "mlops:code-uri": self.code_uri,
            "mlops:problem-type": self.problem_type.value,
            "mlops:target-column": self.spec.target_column,
            "mlops:gate-metric": self.gate.name,
        }

    def gate_step(self, evaluate: Any, report: Any, register: Any) -> Any:
        from sagemaker.core.workflow.conditions import (
            ConditionGreaterThanOrEqualTo,
            ConditionLessThanOrEqualTo,
        )
        from sagemaker.core.workflow.functions import Join, JsonGet
        from sagemaker.mlops.workflow import ConditionStep, FailStep

        threshold = self.parameters[PipelineParameter.METRIC_THRESHOLD]
        metric_value = JsonGet(step_name=evaluate.name, property_file=report,
                               json_path=self.gate.json_path)
        if self.gate.higher_is_better:
            condition = ConditionGreaterThanOrEqualTo(left=metric_value, right=threshold)
            relation, needed = "is below", "at least"
        else:
            condition = ConditionLessThanOrEqualTo(left=metric_value, right=threshold)
            relation, needed = "is above", "at most"
        fail = FailStep(
            name=StepName.QUALITY_GATE_FAILED.value,
            error_message=Join(on=" ", values=[
                f"Quality gate failed: {self.gate.name} =", metric_value,
                f"{relation} the threshold", threshold,
                f"(MetricThreshold; {self.gate.name} must be {needed} the threshold).",
                "The model was not registered.",
            ]),
            description="Stop: the model missed the quality gate.",
        )
        return ConditionStep(
            name=StepName.QUALITY_GATE.value,
            conditions=[condition],
            if_steps=[register],
            else_steps=[fail],
            description=f"Register only if {self.gate.name} meets MetricThreshold.",
        )

    def definition(self) -> str:
        from sagemaker.mlops.workflow import Pipeline

        profile = self.profile_step()
        preprocess = self.preprocess_step(profile)
        if self.spec.tuning is None:
            model_step, model_data = self.train_step(preprocess)
        else:
            model_step, model_data = self.tune_step(preprocess, self.spec.tuning)
        evaluate, report = self.evaluate_step(model_data, preprocess)
        register = self.register_step(model_data, profile, evaluate)
        gate = self.gate_step(evaluate, report, register)
        pipeline = Pipeline(
            name=self.spec.pipeline_name,
            parameters=list(self.parameters.values()),
            steps=[profile, preprocess, model_step, evaluate, gate],
            sagemaker_session=self.session,
            pipeline_experiment_config=None,
        )
        return pipeline.definition()


def _serving_environment(code_uri: str, region: str) -> dict[str, str]:
    """Environment of the serving container of a registered model.

    The scikit-learn serving stack treats ``SAGEMAKER_PROGRAM`` as a module name (it strips
    ``.py`` and imports it), so ``training/inference.py`` cannot be named as a path. The
    dotted name ``training.inference`` imports the module from the ``training`` package at
    the root of ``sourcedir.tar.gz``, which the container downloads from
    ``SAGEMAKER_SUBMIT_DIRECTORY`` into its code directory.
    """
    return {
        "SAGEMAKER_PROGRAM": SERVING_MODULE,
        "SAGEMAKER_SUBMIT_DIRECTORY": f"{code_uri}/{_SOURCE_ARCHIVE}",
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "SAGEMAKER_REGION": region,
    }


@functools.cache
def _step_classes() -> tuple[type, type]:
    """SDK step subclasses that fix what the SDK emits (defined on first use: lazy import)."""
    from sagemaker.mlops.workflow import ModelStep, TuningStep

    class SpecTuningStep(TuningStep):
        """A TuningStep whose training job definition keeps the spec's job settings.

        The SDK's tuner drops ``EnableNetworkIsolation`` and ``VolumeKmsKeyId`` from the
        training job definition, and copies the checkpoint location to every trial (they
        would share one S3 prefix); this restores the first two and removes the third.
        """

        def __init__(self, *, network_isolation: bool, volume_kms_key_id: str | None,
                     **kwargs: Any):
            super().__init__(**kwargs)
            self._network_isolation = network_isolation
            self._volume_kms_key_id = volume_kms_key_id

        @property
        def arguments(self) -> dict[str, Any]:
            request = super().arguments
            definition = request["TrainingJobDefinition"]
            definition["EnableNetworkIsolation"] = self._network_isolation
            definition.pop("CheckpointConfig", None)
            if self._volume_kms_key_id:
                definition["ResourceConfig"]["VolumeKmsKeyId"] = self._volume_kms_key_id
            return request

    class RegisterModelStep(ModelStep):
        """The registration ModelStep without the SDK's empty report slots.

        ``ModelMetrics`` always emits ``Bias: {}`` and ``Explainability: {}``; the service
        accepts them, but they claim reports that do not exist.
        """

        @property
        def arguments(self) -> dict[str, Any]:
            request = super().arguments
            for section in ("ModelMetrics", "DriftCheckBaselines"):
                slots = request.get(section, {})
                for empty in [name for name, value in slots.items() if value == {}]:
                    del slots[empty]
            return request

    return SpecTuningStep, RegisterModelStep
