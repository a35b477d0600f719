"""The regression target transform of ``train.py --target-transform``.

A few outlying targets (a unit slip, an entry error: 1 % of them ×50) dominate any
squared-error fit: on scikit-learn's diabetes table they take r2 on the clean test rows from
0.41 to below -10. ``quantile`` fits the estimator on the targets' normal quantiles (learnt
from the train rows) and maps its predictions back, so such targets weigh as much as the
largest ordinary ones, for every estimator alike. The Profile alert on outlying targets
(`training.data.alerts.detect_target_outliers`) recommends it.
"""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator
from sklearn.compose import TransformedTargetRegressor
from sklearn.preprocessing import QuantileTransformer

from training.contract import (
    DEFAULT_SEED,
    TARGET_TRANSFORM_FLAG,
    TARGET_TRANSFORMS,
    ProblemType,
    TargetTransform,
)

MAX_QUANTILES = 1000
"""Quantiles the transform learns at most (scikit-learn's default); fewer on fewer rows."""


class TargetQuantiles(QuantileTransformer):
    """A QuantileTransformer to the normal distribution that learns at most one quantile per
    train row (scikit-learn's warns, then does the same)."""

    def __init__(self, n_quantiles: int = MAX_QUANTILES, random_state: Any = DEFAULT_SEED):
        super().__init__(n_quantiles=n_quantiles, output_distribution="normal",
                         random_state=random_state)

    def fit(self, X: Any, y: Any = None) -> TargetQuantiles:  # noqa: N803 - scikit-learn's
        self.n_quantiles = max(1, min(self.n_quantiles, len(X)))
        return super().fit(X, y)


def with_target_transform(estimator: BaseEstimator, transform: TargetTransform | str,
                          problem_type: ProblemType | str,
                          seed: int = DEFAULT_SEED) -> BaseEstimator:
    """The estimator, fitted on the transformed target when ``transform`` asks for it.

    ValueError (one line naming the flag, the value and what is allowed) for an unknown
    transform, or any transform but ``none`` under classification.
    """
    if transform not in TARGET_TRANSFORMS:
        raise ValueError(f"--{TARGET_TRANSFORM_FLAG} {transform!r}: unknown (allowed: "
                         f"{', '.join(TARGET_TRANSFORMS)})")
    transform = TargetTransform(transform)
    if transform is TargetTransform.NONE:
        return estimator
    if ProblemType(problem_type) is not ProblemType.REGRESSION:
        raise ValueError(f"--{TARGET_TRANSFORM_FLAG} {transform.value}: applies to regression "
                         f"only (this is {ProblemType(problem_type).value}; allowed: "
                         f"{TargetTransform.NONE.value})")
    return TransformedTargetRegressor(regressor=estimator,
                                      transformer=TargetQuantiles(random_state=seed))
