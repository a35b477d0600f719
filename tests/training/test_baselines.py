"""The trivial baseline of each metric is the strongest constant predictor of that metric:
checked metric by metric against a brute-force search over constants on real data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris, load_wine

from tests.training.dirty_data import TARGET, cancer, diabetes, imbalanced
from training.contract import HIGHER_IS_BETTER, METRIC_NAMES, ProblemType
from training.train.scoring import baseline_metrics, compute_metrics

REGRESSION_TARGETS = {
    "diabetes progression": diabetes()["progression"].to_numpy(),
    "breast cancer mean area (skewed)": cancer()["mean area"].to_numpy(),
}
CLASSIFICATION_TARGETS = {
    "breast cancer": cancer()[TARGET].to_numpy(),
    "breast cancer, 9% positives": imbalanced(cancer())[TARGET].to_numpy(),
    "iris": load_iris().target,
    "wine": load_wine().target,
}


def best_of(metric: str, scores: list[float]) -> float:
    return max(scores) if HIGHER_IS_BETTER[metric] else min(scores)


@pytest.mark.parametrize("metric", METRIC_NAMES[ProblemType.REGRESSION])
@pytest.mark.parametrize("name", REGRESSION_TARGETS)
def test_the_regression_baseline_is_the_best_constant(name, metric):
    y = REGRESSION_TARGETS[name].astype(float)
    # every observed value (the mae optimum is one of them) and a fine grid between them
    constants = np.unique(np.r_[y, np.linspace(y.min(), y.max(), 4001)])
    errors = y[None, :] - constants[:, None]  # one row per constant, in plain numpy
    searched = list({"mae": np.mean(np.abs(errors), axis=1),
                     "rmse": np.sqrt(np.mean(errors ** 2, axis=1)),
                     "r2": 1 - np.sum(errors ** 2, axis=1) / np.sum((y - y.mean()) ** 2),
                     }[metric])
    baseline = baseline_metrics("regression", y)[metric]
    assert baseline == pytest.approx(best_of(metric, searched), rel=1e-4, abs=1e-6)
    assert best_of(metric, [baseline, *searched]) == pytest.approx(baseline)


def test_the_mae_baseline_is_the_median_not_the_mean():
    y = REGRESSION_TARGETS["breast cancer mean area (skewed)"].astype(float)
    mean_mae = np.mean(np.abs(y - y.mean()))
    assert baseline_metrics("regression", y)["mae"] == pytest.approx(
        np.mean(np.abs(y - np.median(y))))
    assert baseline_metrics("regression", y)["mae"] < 0.95 * mean_mae


@pytest.mark.parametrize("metric", METRIC_NAMES[ProblemType.CLASSIFICATION])
@pytest.mark.parametrize("name", CLASSIFICATION_TARGETS)
def test_the_classification_baseline_is_the_best_constant(name, metric):
    y = CLASSIFICATION_TARGETS[name]
    classes = sorted(set(y.tolist()))
    rng = np.random.default_rng(0)
    shares = np.array([np.mean(y == c) for c in classes])
    score_rows = [shares, np.full(len(classes), 1 / len(classes)), *np.eye(len(classes)),
                  *rng.dirichlet(np.ones(len(classes)), 5)]
    searched = [compute_metrics("classification", y, np.full(len(y), label),
                                np.tile(row, (len(y), 1)), classes)[metric]
                for label in classes for row in score_rows]
    assert baseline_metrics("classification", y, classes)[metric] == pytest.approx(
        best_of(metric, searched))


def test_the_f1_baseline_on_a_rare_positive_class_is_always_positive():
    y = CLASSIFICATION_TARGETS["breast cancer, 9% positives"]
    share = np.mean(y == 1)
    assert baseline_metrics("classification", y, [0, 1])["f1"] == pytest.approx(
        2 * share / (1 + share))  # the majority ("never positive") scores 0
