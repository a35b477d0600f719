"""Deprecated: the names moved to :mod:`training.contract` (kept while modules move)."""

from training.contract import *  # noqa: F401,F403
from training.contract import (  # noqa: F401
    DEFAULT_ESTIMATOR,
    DEFAULT_GATE_METRIC,
    DEFAULT_GATE_METRIC_NAME,
    DEFAULT_GATE_THRESHOLD,
    ESTIMATORS,
    EVALUATION_SECTION,
    HIGHER_IS_BETTER,
    METRIC_DEFINITIONS,
    METRIC_NAMES,
    GateMetric,
    ProblemType,
    format_metric_line,
    gate_metric,
    metric_regex,
)
