"""Every name the jobs and the components share: files, outputs, paths, hyperparameters, metrics.

The pipeline builder, the local runtime, the CLI and the job scripts all import these names
from here; a string literal of one of them anywhere else is a bug waiting for a rename (a test
looks for them). Standard library only: the builder imports this module at definition time,
without pandas or scikit-learn, and so do the Lambda-free parts of the SDK.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

# --------------------------------------------------------------------------------------
# Closed sets
# --------------------------------------------------------------------------------------


class ProblemType(str, Enum):  # noqa: UP042 - the image's code style; StrEnum is 3.11+
    """The kind of supervised problem a pipeline solves."""

    CLASSIFICATION = "classification"
    """Predict a class (binary or multiclass)."""
    REGRESSION = "regression"
    """Predict a number."""

    def __str__(self) -> str:
        return self.value


class Estimator(str, Enum):  # noqa: UP042
    """Values accepted by ``train.py --estimator``."""

    GRADIENT_BOOSTING = "gradient_boosting"
    HIST_GRADIENT_BOOSTING = "hist_gradient_boosting"
    RANDOM_FOREST = "random_forest"
    LINEAR = "linear"

    def __str__(self) -> str:
        return self.value


ESTIMATORS: tuple[str, ...] = tuple(member.value for member in Estimator)


class TargetTransform(str, Enum):  # noqa: UP042
    """Values of ``train.py --target-transform`` (regression only)."""

    NONE = "none"
    QUANTILE = "quantile"
    """Fit the estimator on the target's normal quantiles (fitted on the train rows) and map
    its predictions back: a few outlying or heavy-tailed targets no longer dominate a
    squared-error fit, whatever the estimator."""

    def __str__(self) -> str:
        return self.value


TARGET_TRANSFORMS: tuple[str, ...] = tuple(member.value for member in TargetTransform)


class FeatureType(str, Enum):  # noqa: UP042
    """How a feature column is encoded (schema.json's ``type``; the drift checks' kinds)."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"

    def __str__(self) -> str:
        return self.value

# Histogram gradient boosting, with its own defaults (ESTIMATOR_HYPERPARAMETERS: 100 rounds,
# learning rate 0.1, unlimited depth on classification, depth 3 on regression): on the
# quality panel (bench/quality_panel.py) it is at or above the better out-of-the-box
# reference on every classification table (at depth 3 it trailed by up to 0.019 on 10 digit
# classes), where GradientBoosting trailed by 0.03-0.05 on 10 digit classes, the 3-class wine
# table and the 5 % fraud-like table; it is also several times faster on many rows and
# classes.
DEFAULT_ESTIMATOR = Estimator.HIST_GRADIENT_BOOSTING.value

# --------------------------------------------------------------------------------------
# Files the jobs write and read
# --------------------------------------------------------------------------------------

MODEL_FILE = "model.joblib"
"""The fitted scikit-learn pipeline inside the model folder."""
SCHEMA_FILE = "schema.json"
"""The dataset schema (features, types, target, classes), next to the model and transforms."""
PREPROCESSOR_FILE = "preprocessor.joblib"
"""The fitted feature transforms in Preprocess's ``transform`` output."""
MODEL_ARCHIVE = "model.tar.gz"
"""What a training job's model folder becomes in S3."""
SOURCEDIR_TARBALL = "sourcedir.tar.gz"
"""The ``training/`` package as script mode and the serving container receive it."""
EVALUATION_FILE = "evaluation.json"
"""Evaluate's report in SageMaker's model-metrics shape; the gate reads it."""
BASELINE_STATISTICS_FILE = "statistics.json"
"""Drift baseline statistics (Model Monitor's format)."""
BASELINE_CONSTRAINTS_FILE = "constraints.json"
"""Drift baseline constraints (Model Monitor's format)."""
REPORT_FILE = "report.html"
"""The EDA report Profile writes."""
SUMMARY_FILE = "summary.json"
"""The machine-readable profile next to the report."""
ALERTS_FILE = "alerts.json"
"""The EDA alerts (column, kind, severity, evidence) Profile writes next to report.html."""
FEATURE_PLAN_FILE = "feature_plan.json"
"""Preprocess's feature decisions (roles, dropped columns and why), next to the transformer."""
NO_CHAMPION_FILE = "NO_CHAMPION"
"""The marker object a ChampionModelUri holds when there is no champion model yet."""
TRAINING_METRICS_FILE = "metrics.json"
"""Hyperparameters and validation metrics a training job writes to its output data folder."""
SPLITS: tuple[str, ...] = ("train", "validation", "test")
"""The splits Preprocess writes, each as ``<split>-<host>.csv``."""
MODEL_CODE_DIR = "code"
"""Folder inside the model folder (and model.tar.gz) holding the serving code, ``code/training/``;
the serving container reads it when network isolation keeps it from fetching code."""

# --------------------------------------------------------------------------------------
# Step outputs and channels (the names the definition and the jobs agree on)
# --------------------------------------------------------------------------------------

REPORT_OUTPUT = "report"
"""Profile's EDA report (HTML, summary, plots)."""
BASELINE_OUTPUT = "baseline"
"""Profile's drift baseline (statistics.json, constraints.json)."""
TRANSFORM_OUTPUT = "transform"
"""Preprocess's fitted feature transforms and schema."""
EVALUATION_OUTPUT = "evaluation"
"""Evaluate's evaluation.json and plots."""
PROFILE_OUTPUTS: tuple[str, ...] = (REPORT_OUTPUT, BASELINE_OUTPUT)
PREPROCESS_OUTPUTS: tuple[str, ...] = (*SPLITS, TRANSFORM_OUTPUT)
EVALUATE_OUTPUTS: tuple[str, ...] = (EVALUATION_OUTPUT,)
TRAINING_CHANNELS: tuple[str, ...] = ("train", "validation", TRANSFORM_OUTPUT)
CODE_CHANNEL = "code"
"""Training channel that stages ``sourcedir.tar.gz`` when the container has no network."""

# --------------------------------------------------------------------------------------
# Container paths (SageMaker's contract, as our jobs use it)
# --------------------------------------------------------------------------------------

CONTAINER_ROOT = "/opt/ml"
PROCESSING_ROOT = f"{CONTAINER_ROOT}/processing"
PROCESSING_CODE_DIR = f"{PROCESSING_ROOT}/input/code"
PROCESSING_DATA_DIR = f"{PROCESSING_ROOT}/input/data"
PROCESSING_MODEL_DIR = f"{PROCESSING_ROOT}/input/model"
PROCESSING_TEST_DIR = f"{PROCESSING_ROOT}/input/test"
PROCESSING_CHAMPION_DIR = f"{PROCESSING_ROOT}/input/champion"
"""Where Evaluate receives the champion model (or the NO_CHAMPION marker)."""
PROCESSING_OUTPUT_DIR = f"{PROCESSING_ROOT}/output"
TRAINING_MODEL_DIR = f"{CONTAINER_ROOT}/model"
TRAINING_CHANNEL_ROOT = f"{CONTAINER_ROOT}/input/data"
CHECKPOINT_DIR = f"{CONTAINER_ROOT}/checkpoints"
RESOURCE_CONFIG_FILE = f"{CONTAINER_ROOT}/config/resourceconfig.json"
RESOURCE_CONFIG_ENV = "SM_RESOURCE_CONFIG"

# --------------------------------------------------------------------------------------
# Job modules
# --------------------------------------------------------------------------------------

PACKAGE = "training"
"""The package name of the job code inside every code location and archive."""


class Stage(str, Enum):  # noqa: UP042
    """The packages of :data:`PACKAGE`, one per lifecycle stage, in the order they may import.

    A stage imports the shared modules at the package root and earlier stages, never a later
    one (an import-linter contract in pyproject.toml holds this).
    """

    DATA = "data"
    """Reading, checking and typing a table; the EDA alerts; the features; data preparation."""
    EDA = "eda"
    """The data report and the drift baseline written beside it."""
    TRAIN = "train"
    """Fitting the model, its metrics, the model folder and archive."""
    EVALUATE = "evaluate"
    """Scoring the model, a trivial baseline and the champion; the gate's numbers."""
    SERVE = "serve"
    """The handler the serving container loads."""
    MONITOR = "monitor"
    """Captured traffic against the baseline: drift metrics, report and CloudWatch."""


class Job(str, Enum):  # noqa: UP042
    """The job scripts of the pipeline, by module name inside their stage's package."""

    PROFILE = "profile"
    PREPROCESS = "preprocess"
    TRAIN = "train"
    EVALUATE = "evaluate"
    DRIFT = "drift"
    """The monitoring job (not a pipeline step of training): captured traffic vs baseline."""
    BATCH = "batch"
    """The batch inference job: files scored with the endpoint's own handler."""

    @property
    def stage(self) -> Stage:
        """The stage package that holds the job's module."""
        return _JOB_STAGES[self]

    @property
    def module(self) -> str:
        """The job's module: ``training.<stage>.<job>``."""
        return f"{PACKAGE}.{self.stage.value}.{self.value}"

    @property
    def script(self) -> str:
        """Path of the script inside a code location: ``training/<stage>/<job>.py``."""
        return f"{PACKAGE}/{self.stage.value}/{self.value}.py"

    def __str__(self) -> str:
        return self.value


_JOB_STAGES = {
    Job.PROFILE: Stage.EDA,
    Job.PREPROCESS: Stage.DATA,
    Job.TRAIN: Stage.TRAIN,
    Job.EVALUATE: Stage.EVALUATE,
    Job.DRIFT: Stage.MONITOR,
    Job.BATCH: Stage.SERVE,
}

SERVING_MODULE = f"{PACKAGE}.{Stage.SERVE.value}.inference"
"""The serving container's ``SAGEMAKER_PROGRAM``: a module name, imported from the code dir."""
SERVING_CODE_DIR = f"{TRAINING_MODEL_DIR}/{MODEL_CODE_DIR}"
"""The serving container's ``SAGEMAKER_SUBMIT_DIRECTORY``: the ``code/`` folder train.py puts
inside model.tar.gz, so a container without network (network isolation) still finds the code."""

# --------------------------------------------------------------------------------------
# Hyperparameters of train.py
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hyperparameter:
    """A ``train.py`` flag a pipeline may set or tune."""

    name: str
    type: type
    default: int | float | str | None
    """None: it depends on the estimator (ESTIMATOR_HYPERPARAMETERS)."""
    description: str
    choices: tuple[str, ...] = ()
    """The values a text hyperparameter accepts (empty for numbers)."""
    only_for: ProblemType | None = None
    """The problem type it acts on; under the other one it does nothing, so only its default
    is accepted there (None: both)."""

    @property
    def flag(self) -> str:
        return f"--{self.name}"


# --------------------------------------------------------------------------------------
# Class imbalance: one rule, used by the EDA alert and by training
# --------------------------------------------------------------------------------------

IMBALANCE_RATIO = 0.25
"""Minority/majority class ratio below which classes are imbalanced (binary: minority < 20%)."""


def is_imbalanced(class_counts: Sequence[int]) -> bool:
    """Whether classes with these row counts are imbalanced: smallest/largest < IMBALANCE_RATIO
    (classes with no rows left out; one class is not imbalanced)."""
    present = [count for count in class_counts if count > 0]
    return len(present) >= 2 and min(present) / max(present) < IMBALANCE_RATIO


class ClassWeight(str, Enum):  # noqa: UP042
    """Values of ``train.py --class-weight``."""

    BALANCED = "balanced"
    """Weight rows inversely to their class's frequency when the training rows are
    imbalanced (`is_imbalanced`); balanced data trains unweighted."""
    NONE = "none"
    """Every row weighs the same (the behaviour before imbalance handling)."""

    def __str__(self) -> str:
        return self.value


class DecisionThreshold(str, Enum):  # noqa: UP042
    """The named values of ``train.py --decision-threshold`` (a number in (0, 1) is the third
    kind: a fixed probability of the positive class, binary classification only)."""

    AUTO = "auto"
    """Binary classification on imbalanced training rows: the threshold that maximises the
    gate metric on the validation split; otherwise the estimator's own labels."""
    NONE = "none"
    """The estimator's own labels (the most probable class), always."""

    def __str__(self) -> str:
        return self.value


CLASS_WEIGHT_FLAG = "class-weight"
DECISION_THRESHOLD_FLAG = "decision-threshold"


TARGET_TRANSFORM_FLAG = "target-transform"
"""train.py's regression target transform (see TargetTransform); the stack's targetTransform."""
CLASS_WEIGHTS = tuple(member.value for member in ClassWeight)


def choice_problem(choices: tuple[str, ...]) -> Callable[[object], str | None]:
    """The rule of a text value that must be one of `choices`: why a value is refused, or None."""

    def problem(value: object) -> str | None:
        return None if value in choices else "must be one of " + ", ".join(choices)

    return problem


class_weight_problem = choice_problem(CLASS_WEIGHTS)
"""Why a value is not a --class-weight value, or None."""


def parse_decision_threshold(value: object) -> str | float:
    """A --decision-threshold value: ``"auto"``, ``"none"`` or a float in (0, 1); ValueError
    naming what is allowed otherwise."""
    if isinstance(value, str) and value.strip().lower() in [m.value for m in DecisionThreshold]:
        return value.strip().lower()
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not 0.0 < number < 1.0:
        raise ValueError("must be auto, none or a probability strictly between 0 and 1")
    return number


def decision_threshold_problem(value: object) -> str | None:
    """Why `value` is not a --decision-threshold value, or None."""
    try:
        parse_decision_threshold(value)
    except ValueError as error:
        return str(error)
    return None


N_ESTIMATORS_FLAG = "n-estimators"
LEARNING_RATE_FLAG = "learning-rate"
MAX_DEPTH_FLAG = "max-depth"
ALPHA_FLAG = "alpha"

HYPERPARAMETERS: tuple[Hyperparameter, ...] = (
    Hyperparameter(N_ESTIMATORS_FLAG, int, None, "boosting rounds or trees"),
    Hyperparameter(LEARNING_RATE_FLAG, float, None, "shrinkage of boosting estimators"),
    Hyperparameter(MAX_DEPTH_FLAG, int, None, "depth limit of each tree (None: unlimited)"),
    Hyperparameter(ALPHA_FLAG, float, None, "regularisation strength of linear: Ridge's alpha, "
                   "LogisticRegression's C = 1/alpha"),
    Hyperparameter(TARGET_TRANSFORM_FLAG, str, TargetTransform.NONE.value,
                   "regression: 'quantile' fits on the target's normal quantiles, robust to "
                   "outlying targets", TARGET_TRANSFORMS, ProblemType.REGRESSION),
    Hyperparameter(CLASS_WEIGHT_FLAG, str, ClassWeight.BALANCED.value,
                   "classification: balanced weights rows inversely to their class's "
                   "frequency when the training rows are imbalanced; none turns it off",
                   CLASS_WEIGHTS, ProblemType.CLASSIFICATION),
    Hyperparameter(DECISION_THRESHOLD_FLAG, str, DecisionThreshold.AUTO.value,
                   "binary classification: auto tunes the positive-class probability "
                   "threshold on the validation split (imbalanced rows only) to maximise the "
                   "gate metric; none keeps the estimator's labels; a number fixes it",
                   only_for=ProblemType.CLASSIFICATION),
)
ESTIMATOR_HYPERPARAMETERS: dict[str, dict[str, int | float | None]] = {
    Estimator.GRADIENT_BOOSTING.value: {
        N_ESTIMATORS_FLAG: 100, LEARNING_RATE_FLAG: 0.1, MAX_DEPTH_FLAG: 3},
    Estimator.HIST_GRADIENT_BOOSTING.value: {
        N_ESTIMATORS_FLAG: 100, LEARNING_RATE_FLAG: 0.1, MAX_DEPTH_FLAG: None},
    Estimator.RANDOM_FOREST.value: {N_ESTIMATORS_FLAG: 100, MAX_DEPTH_FLAG: None},
    Estimator.LINEAR.value: {ALPHA_FLAG: 1.0},
}
"""The hyperparameters each estimator uses, with its defaults: scikit-learn's own (a tree depth
of None is unlimited; histogram gradient boosting then grows 31 leaves a tree). Any other
estimator hyperparameter does nothing to it, so it is refused when set or tuned for it."""
ESTIMATOR_HYPERPARAMETER_NAMES: tuple[str, ...] = tuple(dict.fromkeys(
    name for defaults in ESTIMATOR_HYPERPARAMETERS.values() for name in defaults))
"""Hyperparameters whose default and use depend on the estimator (the others do not)."""
DEFAULT_HYPERPARAMETERS: dict[str, int | float | str] = {
    hp.name: hp.default for hp in HYPERPARAMETERS  # type: ignore[misc]
    if hp.name not in ESTIMATOR_HYPERPARAMETER_NAMES}
"""The defaults of the hyperparameters every estimator takes (see estimator_defaults)."""


REGRESSION_DEFAULTS: dict[str, dict[str, int | float | None]] = {
    Estimator.HIST_GRADIENT_BOOSTING.value: {MAX_DEPTH_FLAG: 3},
}
"""Where an estimator's regression default departs from its classification one. Histogram
boosting's unlimited depth (31 leaves) gains 0.02-0.04 balanced accuracy on the quality panel's
fraud-like and 10-digit tables, but costs the 442-row diabetes table 0.058 r2 (0.424 -> 0.366)
and gains only 0.008 r2 on make_friedman1: regression keeps depth 3."""


def estimator_defaults(estimator: str,
                       problem_type: ProblemType | str) -> dict[str, int | float | None]:
    """The hyperparameters `estimator` uses and its defaults for them under `problem_type`."""
    regression = ProblemType(problem_type) is ProblemType.REGRESSION
    return {**ESTIMATOR_HYPERPARAMETERS[estimator],
            **(REGRESSION_DEFAULTS.get(estimator, {}) if regression else {})}


def training_defaults(estimator: str,
                      problem_type: ProblemType | str) -> dict[str, int | float | str]:
    """train.py's hyperparameters when nothing is set: the shared defaults and the estimator's
    own, without those whose default is None (unlimited depth is train.py's default too)."""
    own = estimator_defaults(estimator, problem_type)
    return {**DEFAULT_HYPERPARAMETERS, **{k: v for k, v in own.items() if v is not None}}


def unused_hyperparameter_problem(estimator: str, name: str) -> str | None:
    """Why `name` may not be set or tuned for `estimator` (it does nothing to it), or None."""
    uses = ESTIMATOR_HYPERPARAMETERS.get(estimator)
    if uses is None or name not in ESTIMATOR_HYPERPARAMETER_NAMES or name in uses:
        return None
    return f"is not used by {estimator} (it uses: {', '.join(uses)})"

HYPERPARAMETER_TYPES: dict[str, type] = {hp.name: hp.type for hp in HYPERPARAMETERS}
HYPERPARAMETER_CHOICES: dict[str, tuple[str, ...]] = {
    hp.name: hp.choices for hp in HYPERPARAMETERS if hp.choices}
HYPERPARAMETER_PROBLEMS: dict[str, Callable[[object], str | None]] = {
    **{name: choice_problem(choices) for name, choices in HYPERPARAMETER_CHOICES.items()},
    DECISION_THRESHOLD_FLAG: decision_threshold_problem,
}
"""The rule of each text hyperparameter: why a value is refused, or None."""
DEFAULT_SEED = 42

#: Flags the builder sets from other spec fields (a spec may not set them as hyperparameters).
TARGET_FLAG = "target"
PROBLEM_TYPE_FLAG = "problem-type"
ESTIMATOR_FLAG = "estimator"
SEED_FLAG = "seed"
LEAK_POLICY_FLAG = "leak-policy"
"""Preprocess flag: what to do with a column that leaks the target (stop, drop, proceed)."""
SPLIT_KEY_FLAG = "split-key"
"""Preprocess flag: a column (a customer or patient ID) whose value decides a row's split, so
every row of one entity shares a split (the group split); unset, a date column's time split or
a hash of the feature values."""
SPLIT_TIME_FLAG = "split-time"
"""Preprocess flag: the date column whose order decides the splits (oldest rows train, newest
test), or "none" for the hash split; unset, the data's one date column if it has exactly one."""
NO_SPLIT_TIME = "none"
"""``--split-time none``: a hash split even when the data has a date column."""
GATE_METRIC_FLAG = "gate-metric"
"""Evaluate and train flag: the metric the gate compares, so the gaps Evaluate writes are the
gate's and the decision threshold train.py tunes maximises it."""
TUNED_FLAG = "tuned"
"""Train flag, set ("true") by the tuning step on its training jobs: the validation split chose
the hyperparameters, so train.py ships the fit on the train split; without it the final model
is refit on train + validation."""
SAGEMAKER_TUNING_HYPERPARAMETER = "_tuning_objective_metric"
"""The hyperparameter SageMaker reserves for a tuning job's objective; a training job that
receives it is treated as tuned too."""
RESERVED_HYPERPARAMETERS: tuple[str, ...] = (
    TARGET_FLAG, PROBLEM_TYPE_FLAG, ESTIMATOR_FLAG, SEED_FLAG, GATE_METRIC_FLAG, TUNED_FLAG,
    "sagemaker_program", "sagemaker_submit_directory")
TUNABLE_HYPERPARAMETERS: tuple[str, ...] = (
    *(hp.name for hp in HYPERPARAMETERS if hp.type in (int, float) or hp.choices),
    ESTIMATOR_FLAG)
"""Numeric hyperparameters, those with a closed set of choices, and the estimator; a
decision threshold is chosen on the validation split, not searched."""

# --------------------------------------------------------------------------------------
# Metrics and the quality gate
# --------------------------------------------------------------------------------------

METRIC_NAMES: dict[ProblemType, tuple[str, ...]] = {
    ProblemType.CLASSIFICATION: ("accuracy", "balanced_accuracy", "f1", "roc_auc"),
    ProblemType.REGRESSION: ("rmse", "mae", "r2"),
}
"""Metrics train.py prints and evaluate.py writes, per problem type, in that order."""

ALL_METRICS: tuple[str, ...] = tuple(name for names in METRIC_NAMES.values() for name in names)

HIGHER_IS_BETTER: dict[str, bool] = {
    "accuracy": True,
    "balanced_accuracy": True,
    "f1": True,
    "roc_auc": True,
    "rmse": False,
    "mae": False,
    "r2": True,
}

UNIT_INTERVAL_METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "f1", "roc_auc")
"""Metrics bounded to [0, 1]."""
NON_NEGATIVE_METRICS: tuple[str, ...] = ("rmse", "mae")
"""Metrics that cannot be negative."""

EVALUATION_SECTION: dict[ProblemType, str] = {
    ProblemType.CLASSIFICATION: "classification_metrics",
    ProblemType.REGRESSION: "regression_metrics",
}
"""Top-level key of evaluation.json (SageMaker model-metrics shape) per problem type."""

VALIDATION_SPLIT = "validation"
"""Prefix of the metric lines train.py prints (``validation:<metric>=<value>;``)."""

_NUMBER = r"(-?[0-9\.]+)"


def metric_regex(split: str, name: str) -> str:
    """Regex whose first group captures `name` from a `<split>:<name>=<value>;` log line."""
    return f"{re.escape(split)}:{re.escape(name)}={_NUMBER};"


def format_metric_line(split: str, name: str, value: float) -> str:
    """The log line a tuner's MetricDefinitions parse, e.g. `validation:accuracy=0.956140;`."""
    return f"{split}:{name}={value:.6f};"


def tuning_metric_name(metric: str) -> str:
    """The MetricDefinitions name of a metric: ``validation:<metric>``."""
    return f"{VALIDATION_SPLIT}:{metric}"


def metric_of_tuning_name(name: str) -> str:
    """``validation:f1`` -> ``f1``; a bare metric name is returned as it is."""
    return name.removeprefix(f"{VALIDATION_SPLIT}:")


METRIC_DEFINITIONS: dict[ProblemType, list[dict[str, str]]] = {
    problem_type: [
        {"Name": tuning_metric_name(name), "Regex": metric_regex(VALIDATION_SPLIT, name)}
        for name in names
    ]
    for problem_type, names in METRIC_NAMES.items()
}
"""SageMaker MetricDefinitions ({"Name", "Regex"}) matching train.py's lines, per problem type."""


@dataclass(frozen=True)
class GateMetric:
    """A metric the pipeline's condition step compares against a threshold."""

    name: str
    json_path: str
    """Path into evaluation.json for JsonGet, e.g. `classification_metrics.accuracy.value`."""
    higher_is_better: bool
    tuning_metric: str
    """The MetricDefinitions name a tuner optimises for this metric, e.g. `validation:accuracy`."""


DEFAULT_GATE_METRIC_NAME: dict[ProblemType, str] = {
    # Balanced accuracy (mean recall over classes): a majority-class predictor scores exactly
    # 1/k whatever the imbalance (0.5 on two classes), it is defined for any number of classes
    # and for every test split (roc_auc is not when a class is missing from it), and it reads
    # like accuracy, so a threshold means the same on balanced and imbalanced data. Plain
    # accuracy approves a model that always answers "no churn" on 9% churners.
    ProblemType.CLASSIFICATION: "balanced_accuracy",
    ProblemType.REGRESSION: "r2",  # scale-free, so one default threshold suits any target
}

DEFAULT_GATE_THRESHOLD: dict[str, float] = {"accuracy": 0.8, "balanced_accuracy": 0.8,
                                            "f1": 0.8, "roc_auc": 0.8, "r2": 0.3}
"""Gate thresholds used when none is configured; rmse and mae depend on the target's scale,
so they have none and need an explicit threshold."""

# The gate's comparisons beyond the threshold: against a trivial baseline (majority class or
# mean, scored on the same test split) and against the champion (the latest approved model).
# SageMaker conditions compare two values and pipeline expressions have no arithmetic, so
# Evaluate writes the differences into evaluation.json and the conditions compare them with
# the BaselineMargin and ChampionMargin parameters.

GATE_SECTION = "gate"
"""evaluation.json section the quality gate reads (the values below are its keys)."""
BASELINE_SECTION = "baseline_metrics"
"""evaluation.json section: the trivial baseline's metrics, in the model's metric shape."""
CHAMPION_SECTION = "champion_metrics"
"""evaluation.json section: the champion's metrics on the same split (when there is one)."""
BASELINE_GAP = "baseline_gap"
"""How much better the model is than the baseline on the gate metric (see `gate_gap`)."""
CHAMPION_GAP = "champion_gap"
"""How much better the model is than the champion (0 when there is none)."""
CHAMPION_PRESENT = "champion_present"
"""1 when a champion was scored, else 0 (then the champion condition holds)."""
MODEL_INTERVAL = "model_interval"
"""The gate metric's 95 % bootstrap interval [low, high] for the model on the test split."""
CHAMPION_GAP_INTERVAL = "champion_gap_interval"
"""The 95 % interval of the champion gap from a paired bootstrap (challenger and champion on
the same resampled test rows); an interval that holds 0 is a difference the test split
cannot tell from noise."""
CHAMPION_GAP_HIGH = "champion_gap_high"
"""The top of CHAMPION_GAP_INTERVAL (the point gap when the interval is undefined, 0 when there
is no champion): what the gate compares with ChampionMargin. Above the margin, the challenger
is not worse than the champion beyond what the test rows can tell (see
DEFAULT_CHAMPION_MARGIN)."""
CHAMPION_ROWS = "champion_rows"
"""How many test rows challenger and champion were compared on: the rows the champion never
learnt from, by the split rule its package records (its train and validation rows, which it
was fitted or chose its threshold on, are left out)."""
CHAMPION_SEEN_ROWS = "champion_seen_rows"
"""How many test rows were left out of the comparison because the champion learnt from them
(0 when the split rules agree, as they do on a retrain with the same settings; 0 too for a
champion whose package records no rule, which is compared on every row and says so)."""
CHAMPION_COMPARISON = "champion_comparison"
"""The paired comparison in words, e.g. "... difference +0.004, 95 % interval [-0.012,
+0.020] ...: not distinguishable"."""
DEFAULT_BASELINE_MARGIN = 0.05
"""The model must beat the baseline by this much: 0.05 of a unit-interval metric or of r2
(5 points of balanced accuracy over chance), or 5% of the baseline's rmse/mae (relative,
because their scale is the target's). Small enough that any useful model clears it, large
enough that a majority-class predictor or noise around it does not."""
DEFAULT_CHAMPION_MARGIN = 0.0
"""The challenger must not be worse than the champion beyond the noise of the test split: the
gate compares the top of the paired 95 % interval of the champion gap (CHAMPION_GAP_HIGH) with
the margin, so it refuses a challenger only when the whole interval lies below it. Comparing the
point gap instead let noise decide: on 86 test rows balanced accuracy has a standard error of
about 0.02 and models differing only in their seed score 0.913 to 0.950, so a retrain on more
data was refused for trailing by 0.007. A tie is reported as *matching* the champion, never as
beating it, and a retrain on the champion's own training data is held back by the
unchanged-data check instead (see DATA_UNCHANGED). A positive margin asks for a challenger
that could be better by at least that much."""
RELATIVE_GAP_METRICS: tuple[str, ...] = ("rmse", "mae")
"""Metrics whose gaps are relative to the reference value (their scale is the target's)."""
TIE_TOLERANCE = 1e-9
"""Gaps closer to 0 than this are written as exactly 0.0: a tie (floating-point noise from
summing in another order is not an improvement)."""
DATA_DIGEST = "data_digest"
"""The gate section's fingerprint of the data the model was trained on (see
`training.lineage`); empty when unknown."""
CHAMPION_DATA_DIGEST = "champion_data_digest"
"""The same for the champion (empty when there is none or it predates fingerprints)."""
DATA_UNCHANGED = "data_unchanged"
"""1 when the model was trained on exactly the champion's training data (both fingerprints
complete and equal), else 0. The gate registers such a model only when the
RegisterUnchangedData parameter is true."""
DEFAULT_REGISTER_UNCHANGED_DATA = False
"""Register a retrain on the champion's own training data? Default: no."""
TEST_ROWS = "test_rows"
"""Rows in the test split (the gate section)."""
TEST_SPLIT_NOTE = "test_split_note"
"""Why the test split cannot decide (rows, minimum, what to do), when it cannot."""
TEST_SPLIT_SUFFICIENT = "test_split_sufficient"
"""1 when the test split has enough rows to decide (see MIN_TEST_ROWS_PER_CLASS and
MIN_TEST_ROWS), else 0 (then the gate fails whatever the metric)."""
MIN_TEST_ROWS_PER_CLASS = 5
"""Classification: every class the model predicts needs this many test rows; below it one
row moves balanced accuracy by 0.1 per class or more, and the gate would decide on noise."""
MIN_TEST_ROWS = 20
"""Regression: rows the test split needs; r2 and rmse on fewer rows swing with one row."""


def gate_gap(metric: str, model: float, reference: float) -> float:
    """How much better `model` is than `reference` on `metric`: positive is better.

    Higher-is-better metrics: model - reference. rmse and mae: (reference - model) /
    reference, a share of the reference's error (0 when the reference is perfect and the
    model too; -1 per unit of error otherwise). Within TIE_TOLERANCE of 0 it is exactly 0.
    """
    if metric in RELATIVE_GAP_METRICS:
        if reference == 0:
            return 0.0 if model == 0 else -1.0
        gap = (reference - model) / abs(reference)
    else:
        gap = model - reference if HIGHER_IS_BETTER[metric] else reference - model
    return 0.0 if abs(gap) < TIE_TOLERANCE else gap


def comparison_verdict(gap: float) -> str:
    """How a gap reads: "beats" (positive), "matches" (exactly 0: a tie, see TIE_TOLERANCE)
    or "trails" (negative). A tie never "beats"."""
    if gap > 0:
        return "beats"
    return "matches" if gap == 0 else "trails"


def gate_json_path(key: str) -> str:
    """JsonGet path of a gate value in evaluation.json, e.g. ``gate.baseline_gap``."""
    return f"{GATE_SECTION}.{key}"


def gate_metric(problem_type: ProblemType | str, name: str | None = None) -> GateMetric:
    """The gate metric of a problem type: its default, or `name` if that is one of its metrics."""
    problem_type = ProblemType(problem_type)
    name = name or DEFAULT_GATE_METRIC_NAME[problem_type]
    if name not in METRIC_NAMES[problem_type]:
        allowed = ", ".join(METRIC_NAMES[problem_type])
        raise ValueError(
            f"metric {name!r} is not a {problem_type.value} metric (allowed: {allowed})"
        )
    return GateMetric(
        name=name,
        json_path=f"{EVALUATION_SECTION[problem_type]}.{name}.value",
        higher_is_better=HIGHER_IS_BETTER[name],
        tuning_metric=tuning_metric_name(name),
    )


DEFAULT_GATE_METRIC: dict[ProblemType, GateMetric] = {
    problem_type: gate_metric(problem_type) for problem_type in ProblemType
}

# --------------------------------------------------------------------------------------
# The job environment: what jobs need beyond the image, delivered without network
# --------------------------------------------------------------------------------------

JOB_PYTHON: tuple[int, int] = (3, 12)
"""The image's Python (major, minor); the local job environment matches it."""
IMAGE_REQUIREMENTS_FILE = "image-requirements.txt"
"""The image's exact package pins, inside :data:`PACKAGE`."""
REQUIREMENTS_FILE = "requirements.txt"
"""What jobs need beyond the image (pinned), inside :data:`PACKAGE` and inside a wheelhouse."""
BOOTSTRAP_SCRIPT = f"{PACKAGE}/bootstrap.py"
"""The entry point of every job: installs the wheelhouse offline, then runs the job module."""
JOB_ENV = "MLOPS_JOB"
"""Names the job when the bootstrap's argv does not (script-mode training)."""
WHEELHOUSE_ENV = "MLOPS_WHEELHOUSE"
"""A wheelhouse archive or folder the bootstrap uses before any other location."""
WHEELHOUSE_CHANNEL = "wheelhouse"
"""Training input channel, and processing input name, that delivers the wheelhouse."""
WHEELHOUSE_GLOB = "wheelhouse*.tar.gz"
WHEELHOUSE_PREFIX = "wheelhouse"
"""Folder of the code location's parent that holds wheelhouses, by requirements key."""
REQUIREMENTS_CHECK_ENV = "MLOPS_REQUIREMENTS_CHECK"
"""``warn``: the bootstrap reports unmet pins instead of stopping (the development-interpreter
opt-out of ``mlops up --local``, whose packages are not the image's)."""
REQUIREMENTS_CHECK_WARN = "warn"
LOCAL_METRICS_FILE_ENV = "MLOPS_LOCAL_METRICS_FILE"
"""A JSON Lines file the drift job appends its metric data to instead of calling CloudWatch:
the local stand-in for CloudWatch that ``mlops up --local`` evaluates the alarms against."""
LOCAL_S3_ROOT_ENV = "MLOPS_LOCAL_S3_ROOT"
"""A folder holding ``<bucket>/<key>``: the local runtime's S3, which the drift job lists and
reads instead of calling S3 (``training.monitor.source.LocalStore``)."""
PROCESSING_WHEELHOUSE_DIR = f"{PROCESSING_ROOT}/input/{WHEELHOUSE_CHANNEL}"
TRAINING_WHEELHOUSE_DIR = f"{TRAINING_CHANNEL_ROOT}/{WHEELHOUSE_CHANNEL}"


def wheelhouse_archive(key: str) -> str:
    """File name of the wheelhouse built from requirements with key `key`."""
    return f"wheelhouse-{key}.tar.gz"


# --------------------------------------------------------------------------------------
# Drift monitoring: what the drift job publishes and the ModelMonitor component alarms on
# --------------------------------------------------------------------------------------

DRIFT_METRIC_NAMESPACE = "MLOps/Drift"
"""CloudWatch namespace the drift job publishes to (its role may publish nowhere else)."""
DRIFT_DETECTED_METRIC = "DriftDetected"
"""1 when any feature drifted in the window, else 0 (dimensions Endpoint, Model)."""
FEATURE_DRIFT_SCORE_METRIC = "FeatureDriftScore"
"""Per feature: its largest metric/threshold ratio; >= 1 means drifted (+ dimension Feature)."""
RECORDS_ANALYZED_METRIC = "RecordsAnalyzed"
"""Capture records read in the window (0 = no data: no traffic, no capture, or no baseline
yet). Published by every run that reached its inputs: the monitor's health alarm watches it."""
MALFORMED_RECORDS_METRIC = "MalformedRecords"
"""Capture lines or rows skipped as malformed."""
SCHEMA_VIOLATIONS_METRIC = "SchemaViolations"
"""Count of schema violations (new/absent columns, wrong types) in the window."""
ENDPOINT_DIMENSION = "Endpoint"
MODEL_DIMENSION = "Model"
FEATURE_DIMENSION = "Feature"
DRIFT_REPORT_FILE = "drift_report.json"
"""The drift job's violations report (machine-readable)."""
DRIFT_HTML_FILE = "drift_report.html"
"""The drift job's report for people, with per-feature plots."""
DRIFT_OUTPUT = "drift"
"""The drift job's processing output (the two reports)."""
CAPTURE_INPUT = "capture"
"""Folder of the drift job's window: the capture files it read from S3 itself."""
PROCESSING_CAPTURE_DIR = f"{PROCESSING_ROOT}/input/{CAPTURE_INPUT}"
PROCESSING_BASELINE_DIR = f"{PROCESSING_ROOT}/input/{BASELINE_OUTPUT}"
PROCESSING_DRIFT_DIR = f"{PROCESSING_OUTPUT_DIR}/{DRIFT_OUTPUT}"
DEFAULT_DRIFT_WINDOW_HOURS = 24
MAX_DRIFT_WINDOW_HOURS = 168
"""The longest window a monitor may check (a week; capture older than that is history)."""
DRIFT_THRESHOLD_FLAGS: tuple[str, ...] = (
    "psi-threshold", "ks-threshold", "js-threshold", "missing-threshold")
"""drift.py flags a monitor may set (each > 0; unset: the job's conservative defaults)."""


# --------------------------------------------------------------------------------------
# Batch inference: what the batch job writes and the BatchInference component reads
# --------------------------------------------------------------------------------------

BATCH_OUTPUT = "scored"
"""The batch job's processing output: the scored files, the refused rows and the report."""
PROCESSING_BATCH_INPUT_DIR = f"{PROCESSING_ROOT}/input/batch"
PROCESSING_BATCH_OUTPUT_DIR = f"{PROCESSING_OUTPUT_DIR}/{BATCH_OUTPUT}"
BATCH_REPORT_PREFIX = "batch_report"
"""Each host of the batch job writes ``batch_report-<host>.json`` (counts, refused examples)."""
REFUSED_ROWS_PREFIX = "refused_rows"
"""Each host writes ``refused_rows-<host>.csv``: file, line, reason of every refused row."""
SCORED_SUFFIX = ".scored"
"""A scored file is its input's relative path + this + the output format's extension."""
PREDICTION_COLUMN = "prediction"
"""The column the batch job appends with the model's prediction."""
PROBABILITY_COLUMN_PREFIX = "probability_"
"""Classifiers: one column per class, ``probability_<class>``, in the model's class order."""
BATCH_OUTPUT_FORMATS: tuple[str, ...] = ("csv", "jsonl")
"""How scored rows are written: CSV (input columns + prediction columns) or JSON Lines."""
DEFAULT_BATCH_OUTPUT_FORMAT = "csv"
DEFAULT_MAX_REFUSED_SHARE = 0.05
"""The share of refused rows above which a batch run fails (its good rows are still scored)."""
DEFAULT_BATCH_CHUNK_ROWS = 20000
"""Rows scored per handler call: memory is bounded by a chunk (and the request size limit)."""
BATCH_METRIC_NAMESPACE = "MLOps/Batch"
"""CloudWatch namespace of batch runs' counts (the publishing function may write nowhere else)."""
ROWS_SCORED_METRIC = "RowsScored"
ROWS_REFUSED_METRIC = "RowsRefused"
"""Rows the model refused in a run (missing columns, wrong types); the batch alarm watches it."""
PIPELINE_DIMENSION = "Pipeline"
BATCH_CAPTURE_FOLDER = "capture"
"""Under a batch run's output: what it scored, as capture records (the drift job's window)."""
BATCH_DRIFT_METRICS_FILE = "metrics.json"
"""The drift job's metric data for a batch (it has no network; the pipeline publishes them)."""
BATCH_CAPTURE_ROWS = 1000
"""Rows per capture record the batch job writes (a request of that size, as a client sends)."""
