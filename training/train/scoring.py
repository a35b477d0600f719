"""Metrics of a fitted model: the contract's metric names, computed with scikit-learn."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn import metrics as skmetrics

from training.contract import HIGHER_IS_BETTER, METRIC_NAMES, ProblemType
from training.data.schema import DatasetSchema, coerce_features, coerce_target
from training.train.imbalance import predict_labels


def compute_metrics(
    problem_type: ProblemType | str,
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    probabilities: np.ndarray | None = None,
    classes: Sequence[Any] | None = None,
) -> dict[str, float]:
    """The metrics named in `training.contract.METRIC_NAMES` for this problem type, each as
    `metric_value` defines it."""
    problem_type = ProblemType(problem_type)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return {name: metric_value(problem_type, name, y_true, y_pred, probabilities, classes)
            for name in METRIC_NAMES[problem_type]}


def metric_value(
    problem_type: ProblemType | str,
    metric: str,
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    probabilities: np.ndarray | None = None,
    classes: Sequence[Any] | None = None,
) -> float:
    """One metric of `training.contract.METRIC_NAMES`, computing only that one.

    Classification scores every label of y_true, also one the model never saw
    (`all_labels`: its rows count, with recall 0): balanced_accuracy is the mean recall over
    the labels present in y_true (a constant prediction scores 1/k); f1 and roc_auc score the
    model's greater class as positive for two classes (any other label is a negative) and are
    macro-averaged one-vs-rest for more (f1 over every label); roc_auc is NaN when y_true
    lacks a class's positives or negatives.
    """
    problem_type = _known_metric(problem_type, metric)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if problem_type is ProblemType.REGRESSION:
        if metric == "rmse":
            return float(np.sqrt(skmetrics.mean_squared_error(y_true, y_pred)))
        if metric == "mae":
            return float(skmetrics.mean_absolute_error(y_true, y_pred))
        return float(skmetrics.r2_score(y_true, y_pred))
    if probabilities is None or classes is None:
        raise ValueError("classification metrics need probabilities and classes")
    classes = list(classes)
    if metric == "accuracy":
        return float(skmetrics.accuracy_score(y_true, y_pred))
    if metric == "balanced_accuracy":
        return balanced_accuracy(y_true, y_pred, classes)
    if metric == "f1":
        labels = classes[1:] if len(classes) == 2 else all_labels(classes, y_true)
        return float(skmetrics.f1_score(y_true, y_pred, labels=labels, average="macro",
                                        zero_division=0))
    if len(classes) == 2:
        is_positive = y_true == classes[1]
        if 0 < is_positive.sum() < len(y_true):
            return float(skmetrics.roc_auc_score(is_positive, probabilities[:, 1]))
        return math.nan
    return float(macro_ovr_roc_auc(y_true, probabilities, classes))


def _known_metric(problem_type: ProblemType | str, metric: str) -> ProblemType:
    """The problem type; ValueError naming the allowed metrics when `metric` is not one."""
    problem_type = ProblemType(problem_type)
    if metric not in METRIC_NAMES[problem_type]:
        raise ValueError(f"metric {metric!r} is not a {problem_type.value} metric "
                         f"(allowed: {', '.join(METRIC_NAMES[problem_type])})")
    return problem_type


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[Any]) -> float:
    """Mean recall over the labels that occur in y_true, also those not in `classes`
    (scikit-learn's definition, without its warning when a predicted class never occurs);
    one pass, however many classes."""
    codes = {label: index for index, label in enumerate(all_labels(classes, y_true))}
    true = np.array([codes[label] for label in np.asarray(y_true).tolist()], dtype=int)
    pred = np.array([codes.get(label, -1) for label in np.asarray(y_pred).tolist()], dtype=int)
    support = np.bincount(true, minlength=len(codes))
    hits = np.bincount(true[true == pred], minlength=len(codes))
    present = support > 0
    return float(np.mean(hits[present] / support[present])) if present.any() else math.nan


def macro_ovr_roc_auc(y_true: np.ndarray, probabilities: np.ndarray,
                      classes: Sequence[Any]) -> float:
    """Macro one-vs-rest ROC-AUC, every class at once: the Mann-Whitney U of each column's
    ranks (ties averaged), equal to scikit-learn's, without one validated call per class
    (300 classes took seconds). NaN unless every class occurs and some row is not it."""
    y_true = np.asarray(y_true)
    positive = np.column_stack([y_true == label for label in classes])
    n_positive = positive.sum(axis=0)
    n_negative = len(y_true) - n_positive
    if (n_positive == 0).any() or (n_negative == 0).any():
        return math.nan
    ranks = rankdata(probabilities, axis=0)
    u = (ranks * positive).sum(axis=0) - n_positive * (n_positive + 1) / 2
    return float(np.mean(u / (n_positive * n_negative)))


def all_labels(classes: Sequence[Any], y_true: Sequence[Any]) -> list[Any]:
    """The model's classes, then the labels of y_true it never saw (in sorted order): a test
    row of an unseen class is scored (recall 0 for its class), never left out."""
    known = set(classes)
    return [*classes, *sorted({label for label in np.asarray(y_true).tolist()
                               if label not in known}, key=str)]


def constant_predictions(
    problem_type: ProblemType | str, metric: str, y_true: Sequence[Any],
    classes: Sequence[Any] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The strongest constant predictor of `metric` on these rows: the trivial baseline a
    model must beat. Regression: the median for mae (it minimises absolute error), the mean
    for rmse and r2. Classification: the probabilities are the class shares, the same on every
    row (a constant score: roc_auc 0.5, pr_auc the positive share); the label is the majority
    (the best accuracy; any constant gives balanced accuracy 1/k), and for f1 the better of
    the majority and the minority ("always positive" scores 2p/(1+p) where the majority
    scores 0 on a rare positive class).
    """
    problem_type = ProblemType(problem_type)
    y_true = np.asarray(y_true)
    if problem_type is ProblemType.REGRESSION:
        centre = np.median if metric == "mae" else np.mean
        return np.full(len(y_true), float(centre(y_true.astype(float)))), None
    classes = [] if classes is None else list(classes)
    counts = np.array([np.sum(y_true == label) for label in classes], dtype=float)
    shares = counts / counts.sum() if counts.sum() else np.full(len(classes), 1 / len(classes))
    probabilities = np.tile(shares, (len(y_true), 1))
    labels = all_labels(classes, y_true)
    support = np.array([np.sum(y_true == label) for label in labels])
    candidates = [labels[int(np.argmax(support))]]
    if metric == "f1":
        candidates.append(labels[int(np.argmin(np.where(support > 0, support,
                                                        support.max() + 1)))])
    outcomes = [(np.array([label] * len(y_true), dtype=y_true.dtype), probabilities)
                for label in candidates]
    if len(outcomes) == 1:
        return outcomes[0]
    scores = [compute_metrics(problem_type, y_true, *outcome, classes)[metric]
              for outcome in outcomes]
    return outcomes[int(np.argmax(scores) if HIGHER_IS_BETTER[metric] else np.argmin(scores))]


def baseline_metrics(
    problem_type: ProblemType | str, y_true: Sequence[Any], classes: Sequence[Any] | None = None
) -> dict[str, float]:
    """Each metric of the problem type scored for its own strongest constant predictor
    (`constant_predictions`): the baseline's value of a metric is the best any constant does."""
    problem_type = ProblemType(problem_type)
    return {metric: compute_metrics(problem_type, y_true,
                                    *constant_predictions(problem_type, metric, y_true,
                                                          classes), classes)[metric]
            for metric in METRIC_NAMES[problem_type]}


def predict(
    model: Any, data: pd.DataFrame, schema: DatasetSchema
) -> tuple[np.ndarray, np.ndarray | None]:
    """Predictions for `data` (features typed as in training) and class probabilities; a
    classifier's labels apply its decision threshold (`imbalance.predict_labels`)."""
    features = coerce_features(data, schema.features)
    if schema.problem_type is ProblemType.CLASSIFICATION:
        return predict_labels(model, features)
    return model.predict(features), None


def score_model(model: Any, data: pd.DataFrame, schema: DatasetSchema) -> dict[str, float]:
    """Metrics of `model` on a labelled frame (a split CSV read by `read_csv_folder`)."""
    y_true = coerce_target(data[schema.target], schema)
    predictions, probabilities = predict(model, data, schema)
    classes = getattr(model, "classes_", None)
    return compute_metrics(schema.problem_type, y_true, predictions, probabilities, classes)



def metric_scorer(problem_type: ProblemType | str, metric: str,
                  classes: Sequence[Any] | None = None) -> Callable[[Any, Any, Any], float]:
    """A scikit-learn scorer ``(estimator, features, y_true) -> float`` of `metric` computed
    as Evaluate computes it: `compute_metrics` on a classifier's `predict_labels` (its labels
    with the model's decision threshold, and its probabilities for roc_auc) or a regressor's
    predictions. Signed so that higher is better (rmse and mae negated), as scikit-learn's
    scorers are; `features` are already coerced (`coerce_features`)."""
    problem_type = _known_metric(problem_type, metric)
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0

    def score(estimator: Any, features: Any, y_true: Any) -> float:
        if problem_type is ProblemType.CLASSIFICATION:
            labels, probabilities = predict_labels(estimator, features)
            known = list(estimator.classes_) if classes is None else list(classes)
            return sign * metric_value(problem_type, metric, y_true, labels, probabilities,
                                       known)
        return sign * metric_value(problem_type, metric, y_true, estimator.predict(features))

    return score
