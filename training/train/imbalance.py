"""Imbalanced classification: balanced row weights for the fit, a decision threshold tuned on
the validation split, and the one function every caller predicts labels with.

The threshold lives in the model object itself: the fitted pipeline wrapped in scikit-learn's
own `FixedThresholdClassifier` (binary only, positive class = the greater label, as the
metrics score it). It pickles with nothing of ours inside, so model.joblib loads wherever
scikit-learn does; its `predict` applies the threshold, `predict_proba` is the pipeline's.
`predict_labels` gives both from one `predict_proba` pass: Evaluate, train.py's validation
scores and the serving handler all use it, so they return the same labels for the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.utils.class_weight import compute_sample_weight

from training.contract import (
    ClassWeight,
    DecisionThreshold,
    is_imbalanced,
    parse_decision_threshold,
)

ESTIMATOR_STEP = "model"
"""Name of the estimator's step in the shipped pipeline (`train.build_model`)."""
THRESHOLD_METRICS: tuple[str, ...] = ("balanced_accuracy", "accuracy", "f1")
"""Gate metrics a threshold changes; roc_auc ranks probabilities and ignores it."""


@dataclass(frozen=True)
class ImbalancePlan:
    """What training does about the class balance of its rows, and why (for metrics.json)."""

    imbalanced: bool
    class_weight: str
    """``balanced`` when rows are weighted, else ``none``."""
    decision_threshold: float | None = None
    """The positive-class probability threshold in the model, or None (the estimator's own)."""
    threshold_note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"imbalanced": self.imbalanced, "class_weight": self.class_weight,
                "decision_threshold": self.decision_threshold,
                "threshold_note": self.threshold_note}


def class_counts(y: Any) -> list[int]:
    """Rows per class of a label vector."""
    return np.unique(np.asarray(y), return_counts=True)[1].tolist()


def balanced_fit_params(y: Any, class_weight: str) -> dict[str, np.ndarray]:
    """Pipeline fit params weighting rows by class: ``{"model__sample_weight": w}`` with
    scikit-learn's "balanced" weights (n / (k * rows of the class)) when `class_weight` is
    balanced and the classes are imbalanced (`training.contract.is_imbalanced`), else none.

    Row weights reach every estimator the same way (GradientBoostingClassifier has no
    `class_weight`); for the others they equal `class_weight="balanced"`.
    """
    if ClassWeight(class_weight) is ClassWeight.NONE or not is_imbalanced(class_counts(y)):
        return {}
    return {f"{ESTIMATOR_STEP}__sample_weight": compute_sample_weight("balanced", np.asarray(y))}


def choose_threshold(positives: np.ndarray, scores: np.ndarray, metric: str,
                     anchor: float = 0.5) -> float | None:
    """The positive-class probability threshold (``score >= threshold`` is positive) for
    `metric` on these rows, or None when it cannot be chosen (a class absent, or a metric the
    threshold does not change).

    Every cut between two distinct scores is scored at once (cumulative counts). The cut
    that scores best on a validation split of a few dozen minority rows is mostly noise
    (on the panel's 3 % table it cost 0.045 balanced accuracy on test), so the one-standard-
    error rule picks it: of the cuts within one standard error of the best score
    (sqrt(best·(1-best)/minority rows), and at least one minority row's worth of balanced
    accuracy, 1/(2·minority rows)), the one nearest `anchor`, the threshold the model
    already implies (0.5 with balanced class weights). The threshold is the midpoint between
    the scores either side of the cut, so it is not fitted to one row's score.
    """
    positives = np.asarray(positives, dtype=bool)
    scores = np.asarray(scores, dtype=float)
    n_positive = int(positives.sum())
    n_negative = len(positives) - n_positive
    if metric not in THRESHOLD_METRICS or n_positive == 0 or n_negative == 0:
        return None
    order = np.argsort(-scores, kind="mergesort")
    ranked, hits = scores[order], positives[order]
    run_ends = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]
    run_scores = ranked[run_ends]
    true_pos = np.r_[0, np.cumsum(hits)[run_ends]].astype(float)
    false_pos = np.r_[0, run_ends + 1] - true_pos
    false_neg, true_neg = n_positive - true_pos, n_negative - false_pos
    if metric == "balanced_accuracy":
        values = (true_pos / n_positive + true_neg / n_negative) / 2
    elif metric == "accuracy":
        values = (true_pos + true_neg) / len(positives)
    else:
        values = 2 * true_pos / np.maximum(2 * true_pos + false_pos + false_neg, 1)
    thresholds = (np.r_[1.0, run_scores] + np.r_[run_scores, 0.0]) / 2
    best = float(values.max())
    minority = min(n_positive, n_negative)
    tolerance = max(np.sqrt(best * (1 - best) / minority), 1 / (2 * minority))
    near_best = np.flatnonzero(values >= best - tolerance - 1e-12)
    return float(thresholds[near_best[np.argmin(np.abs(thresholds[near_best] - anchor))]])


def neutral_threshold(y_train: Any, classes: Any, metric: str, weighted: bool) -> float:
    """The threshold a model fitted on `y_train` already implies for `metric`: 0.5, except
    for balanced accuracy without class weights, where it is the positive class's share of
    the training rows (a calibrated model's best threshold for mean recall)."""
    if weighted or metric != "balanced_accuracy":
        return 0.5
    return float(np.mean(np.asarray(y_train) == classes[1]))


def with_threshold(model: Any, threshold: float) -> FixedThresholdClassifier:
    """The fitted binary `model` labelling a row positive (its greater class) when its
    probability is at least `threshold`; probabilities unchanged."""
    classes = model.classes_
    return FixedThresholdClassifier(model, threshold=float(threshold), pos_label=classes[1],
                                    response_method="predict_proba")


def decision_threshold(model: Any) -> float | None:
    """The threshold inside a model made by `with_threshold`, else None."""
    return float(model.threshold) if isinstance(model, FixedThresholdClassifier) else None


def tune_threshold(model: Any, features: Any, y_true: Any, setting: str | float,
                   metric: str, imbalanced: bool,
                   anchor: float = 0.5) -> tuple[Any, float | None, str]:
    """The model with the decision threshold `setting` asks for, the threshold, and a note.

    ``auto``: on binary, imbalanced rows, the one `choose_threshold` picks for `metric` on
    (features, y_true), the validation split, near `anchor`; ``none``: the model as it is; a
    number: that threshold (binary only: ValueError on more classes).
    """
    setting = parse_decision_threshold(setting)
    classes = list(model.classes_)
    if setting == DecisionThreshold.NONE.value:
        return model, None, "turned off (decision-threshold none): the estimator's labels"
    if not isinstance(setting, str):
        if len(classes) != 2:
            raise ValueError(f"decision-threshold {setting} needs two classes "
                             f"(the model has {len(classes)}); use auto or none")
        return with_threshold(model, setting), setting, f"fixed at {setting:g}"
    if len(classes) != 2:
        return model, None, f"not tuned: {len(classes)} classes (binary only)"
    if not imbalanced:
        return model, None, "not tuned: the classes are balanced"
    scores = model.predict_proba(features)[:, 1]
    threshold = choose_threshold(np.asarray(y_true) == classes[1], scores, metric, anchor)
    if threshold is None:
        reason = (f"{metric} does not depend on it" if metric not in THRESHOLD_METRICS
                  else "the validation split lacks a class")
        return model, None, f"not tuned: {reason}"
    return (with_threshold(model, threshold), threshold,
            f"tuned on the validation split to maximise {metric}")


def predict_labels(model: Any, features: Any) -> tuple[np.ndarray, np.ndarray]:
    """Labels and class probabilities of a classifier from one `predict_proba` pass: the
    threshold's labels for a model made by `with_threshold`, else the most probable class
    (what the estimators' own `predict` returns)."""
    probabilities = np.asarray(model.predict_proba(features), dtype=float)
    classes = np.asarray(model.classes_)
    threshold = decision_threshold(model)
    if threshold is None:
        return classes[probabilities.argmax(axis=1)], probabilities
    positive = probabilities[:, 1] >= threshold
    return classes[positive.astype(int)], probabilities
