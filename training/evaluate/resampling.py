"""How sure a test-split score is: bootstrap resamples of the test rows, every metric of every
resample at once in numpy.

A resample is a row of multinomial counts (how often each test row was drawn), so a metric of
many resamples is a few matrix products instead of one scikit-learn call per resample, and
two models scored with the same counts are compared on the same resampled rows (a paired
bootstrap: the noise both share cancels in their difference). `weighted_metric` with every
count 1 equals `training.train.scoring.compute_metrics`; the tests hold it to that.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from scipy import sparse

from training.contract import DEFAULT_SEED, RELATIVE_GAP_METRICS, ProblemType, gate_gap
from training.train.scoring import all_labels

BOOTSTRAP_RESAMPLES = 1000
"""Resamples of the test rows behind every standard deviation and interval."""
CONFIDENCE = 0.95
"""Coverage of the percentile intervals."""
CONFIDENCE_LABEL = f"{CONFIDENCE * 100:g} %"
"""How the reports write it: "95 %"."""
MAX_CELLS_PER_CHUNK = 4_000_000
"""Resamples are drawn in chunks of at most this many counts (resamples x rows), so memory
stays flat on a large test split."""
MAX_ROC_AUC_CLASSES = 20
"""Above this many classes, macro roc_auc has no bootstrap (one pass per class and chunk);
its standard deviation stays NaN."""
BOOTSTRAPPED_METRICS = ("accuracy", "balanced_accuracy", "f1", "roc_auc", "rmse", "mae", "r2")
"""Metrics with a weighted form below (pr_auc has none: its standard deviation stays NaN)."""


def resample_counts(rows: int, resamples: int = BOOTSTRAP_RESAMPLES,
                    seed: int = DEFAULT_SEED) -> Iterator[np.ndarray]:
    """Chunks of bootstrap resamples, each row of a chunk the draw counts of the `rows` rows
    (they sum to `rows`); the same seed gives the same resamples."""
    rng = np.random.default_rng(seed)
    chunk = max(1, MAX_CELLS_PER_CHUNK // max(rows, 1))
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        drawn = rng.integers(0, rows, size=(size, rows)) + rows * np.arange(size)[:, None]
        yield np.bincount(drawn.ravel(), minlength=size * rows).reshape(size, rows).astype(float)


def _by_group(weights: np.ndarray, codes: np.ndarray, groups: int,
              mask: np.ndarray | None = None) -> np.ndarray:
    """(resamples, groups): the summed counts of the rows of each group (rows where `mask`)."""
    keep = np.ones(len(codes)) if mask is None else mask.astype(float)
    membership = sparse.csr_array((keep, (np.arange(len(codes)), codes)),
                                  shape=(len(codes), groups))
    return np.asarray((membership.T @ weights.T).T)


def _ratio(numerator: np.ndarray, denominator: np.ndarray, empty: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1),
                        empty)


def _binary_roc_auc(weights: np.ndarray, is_positive: np.ndarray,
                    scores: np.ndarray) -> np.ndarray:
    """Weighted Mann-Whitney U: for each positive row, the weight of negatives scored below it
    plus half of those tied with it; NaN in a resample without positives or negatives."""
    _, tie_group = np.unique(scores, return_inverse=True)
    groups = int(tie_group.max()) + 1
    negatives = _by_group(weights, tie_group, groups, ~is_positive)
    positives = _by_group(weights, tie_group, groups, is_positive)
    below = np.cumsum(negatives, axis=1) - negatives
    pairs = positives.sum(axis=1) * negatives.sum(axis=1)
    return _ratio((positives * (below + negatives / 2)).sum(axis=1), pairs, math.nan)


def weighted_metric(problem_type: ProblemType | str, metric: str, y_true: np.ndarray,
                    y_pred: np.ndarray, probabilities: np.ndarray | None,
                    classes: Sequence[Any] | None, weights: np.ndarray) -> np.ndarray:
    """`metric` of each resample (a row of `weights`, the draw count of each test row), as
    `compute_metrics` defines it; NaN where undefined."""
    problem_type = ProblemType(problem_type)
    total = weights.sum(axis=1)
    if problem_type is ProblemType.REGRESSION:
        error = y_true.astype(float) - np.asarray(y_pred, float)
        squared = weights @ error ** 2
        if metric == "rmse":
            return np.sqrt(squared / total)
        if metric == "mae":
            return weights @ np.abs(error) / total
        y = y_true.astype(float) - np.mean(y_true.astype(float))  # centred: no cancellation
        spread = weights @ y ** 2 - (weights @ y) ** 2 / total
        spread = np.where(spread > 1e-12 * (weights @ y ** 2), spread, 0.0)
        return np.where(spread > 0, 1 - _ratio(squared, spread, 0.0),
                        np.where(squared == 0, 1.0, 0.0))
    classes = [] if classes is None else list(classes)
    labels = all_labels(classes, y_true)
    codes = {label: index for index, label in enumerate(labels)}
    true = np.array([codes[label] for label in y_true.tolist()], dtype=int)
    pred = np.array([codes.get(label, -1) for label in np.asarray(y_pred).tolist()], dtype=int)
    correct = true == pred
    if metric == "accuracy":
        return weights @ correct / total
    support = _by_group(weights, true, len(labels))
    hits = _by_group(weights, true, len(labels), correct)
    if metric == "balanced_accuracy":
        present = support > 0
        return (_ratio(hits, support, 0.0) * present).sum(axis=1) / present.sum(axis=1)
    if metric == "f1":
        predicted = _by_group(weights, np.maximum(pred, 0), len(labels), pred >= 0)
        f1 = _ratio(2 * hits, support + predicted, 0.0)
        return f1[:, codes[classes[1]]] if len(classes) == 2 else f1.mean(axis=1)
    if metric == "roc_auc":
        if len(classes) == 2:
            return _binary_roc_auc(weights, y_true == classes[1], probabilities[:, 1])
        if len(classes) > MAX_ROC_AUC_CLASSES:
            return np.full(len(weights), math.nan)
        return np.mean([_binary_roc_auc(weights, y_true == label, probabilities[:, index])
                        for index, label in enumerate(classes)], axis=0)
    raise ValueError(f"no bootstrap for metric {metric!r}")


def bootstrap(problem_type: ProblemType | str, y_true: np.ndarray,
              outcomes: dict[str, tuple[np.ndarray, np.ndarray | None, Sequence[Any] | None]],
              metrics: Sequence[str], resamples: int = BOOTSTRAP_RESAMPLES,
              seed: int = DEFAULT_SEED) -> dict[str, dict[str, np.ndarray]]:
    """{outcome: {metric: values over the resamples}} for each outcome (predictions,
    probabilities, classes) scored on the same resampled rows, so differences are paired."""
    y_true = np.asarray(y_true)
    names = [metric for metric in metrics if metric in BOOTSTRAPPED_METRICS]
    chunks: dict[str, dict[str, list[np.ndarray]]] = {
        outcome: {metric: [] for metric in names} for outcome in outcomes}
    for weights in resample_counts(len(y_true), resamples, seed):
        for outcome, (y_pred, probabilities, classes) in outcomes.items():
            for metric in names:
                chunks[outcome][metric].append(weighted_metric(
                    problem_type, metric, y_true, y_pred, probabilities, classes, weights))
    return {outcome: {metric: np.concatenate(parts) for metric, parts in by_metric.items()}
            for outcome, by_metric in chunks.items()}


def standard_deviation(values: np.ndarray) -> float:
    """The bootstrap standard deviation (resamples where the metric is undefined left out)."""
    finite = values[np.isfinite(values)]
    return float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan


def interval(values: np.ndarray) -> list[float]:
    """The CONFIDENCE percentile interval [low, high]; [NaN, NaN] when undefined."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return [math.nan, math.nan]
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return [float(low), float(high)]


def paired_gaps(metric: str, model: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The gate's gap (`gate_gap`: positive is better) of model over reference in each
    resample; NaN where either is undefined."""
    return np.array([gate_gap(metric, m, r) if math.isfinite(m) and math.isfinite(r)
                     else math.nan for m, r in zip(model, reference, strict=True)])


def comparison_in_words(metric: str, model: float, champion: float, gap: float,
                        gap_interval: Sequence[float]) -> str:
    """The challenger against the champion on the same rows, and whether the difference is
    beyond the resampling noise: e.g. "challenger 0.951 vs champion 0.947: difference +0.004,
    95 % interval [-0.012, +0.020]: not distinguishable"."""
    low, high = gap_interval
    if not (math.isfinite(low) and math.isfinite(high)):
        verdict = "undefined on the resamples"
    elif low > 0:
        verdict = "the challenger is better"
    elif high < 0:
        verdict = "the challenger is worse"
    else:
        verdict = "not distinguishable"
    kind = "relative difference" if metric in RELATIVE_GAP_METRICS else "difference"
    return (f"{metric}: challenger {model:.3f} vs champion {champion:.3f}: {kind} {gap:+.3f}, "
            f"{CONFIDENCE_LABEL} interval [{low:+.3f}, {high:+.3f}] over "
            f"{BOOTSTRAP_RESAMPLES} paired resamples of the test rows: {verdict}")
