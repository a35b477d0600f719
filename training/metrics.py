"""Metric names, tuner regexes and quality-gate facts shared by the jobs and the pipeline builder.

Standard library only: the SDK imports this module at definition time, without pandas or
scikit-learn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class ProblemType(str, Enum):  # noqa: UP042 - StrEnum needs Python 3.11
    """The kind of supervised problem a pipeline solves."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"

    def __str__(self) -> str:
        return self.value


ESTIMATORS: tuple[str, ...] = (
    "gradient_boosting",
    "hist_gradient_boosting",
    "random_forest",
    "linear",
)
"""Values accepted by `train.py --estimator`."""

DEFAULT_ESTIMATOR = "gradient_boosting"

METRIC_NAMES: dict[ProblemType, tuple[str, ...]] = {
    ProblemType.CLASSIFICATION: ("accuracy", "f1", "roc_auc"),
    ProblemType.REGRESSION: ("rmse", "mae", "r2"),
}
"""Metrics train.py prints and evaluate.py writes, per problem type, in that order."""

HIGHER_IS_BETTER: dict[str, bool] = {
    "accuracy": True,
    "f1": True,
    "roc_auc": True,
    "rmse": False,
    "mae": False,
    "r2": True,
}

EVALUATION_SECTION: dict[ProblemType, str] = {
    ProblemType.CLASSIFICATION: "classification_metrics",
    ProblemType.REGRESSION: "regression_metrics",
}
"""Top-level key of evaluation.json (SageMaker model-metrics shape) per problem type."""

_NUMBER = r"(-?[0-9\.]+)"


def metric_regex(split: str, name: str) -> str:
    """Regex whose first group captures `name` from a `<split>:<name>=<value>;` log line."""
    return f"{re.escape(split)}:{re.escape(name)}={_NUMBER};"


def format_metric_line(split: str, name: str, value: float) -> str:
    """The log line a tuner's MetricDefinitions parse, e.g. `validation:accuracy=0.956140;`."""
    return f"{split}:{name}={value:.6f};"


METRIC_DEFINITIONS: dict[ProblemType, list[dict[str, str]]] = {
    problem_type: [
        {"Name": f"validation:{name}", "Regex": metric_regex("validation", name)} for name in names
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
    ProblemType.CLASSIFICATION: "accuracy",
    ProblemType.REGRESSION: "r2",  # scale-free, so one default threshold suits any target
}

DEFAULT_GATE_THRESHOLD: dict[str, float] = {"accuracy": 0.8, "f1": 0.8, "roc_auc": 0.8,
                                            "r2": 0.3}
"""Gate thresholds used when none is configured; rmse and mae depend on the target's scale,
so they have none and need an explicit threshold."""


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
        tuning_metric=f"validation:{name}",
    )


DEFAULT_GATE_METRIC: dict[ProblemType, GateMetric] = {
    problem_type: gate_metric(problem_type) for problem_type in ProblemType
}
