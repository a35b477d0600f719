"""Scoring: the contract's metrics computed for a problem type."""

from __future__ import annotations

import numpy as np
import pytest

from training.train.scoring import compute_metrics


def test_compute_metrics_binary_scores_the_greater_label_as_positive():
    y_true = np.array(["benign", "malignant", "malignant", "benign"])
    y_pred = np.array(["benign", "malignant", "benign", "benign"])
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    scores = compute_metrics(
        "classification", y_true, y_pred, probabilities, ["benign", "malignant"]
    )
    assert scores["accuracy"] == 0.75
    assert scores["f1"] == pytest.approx(2 / 3)  # malignant: precision 1, recall 1/2
    assert scores["roc_auc"] == 1.0  # every malignant row outranks every benign one


def test_compute_metrics_multiclass_is_macro_one_vs_rest():
    y_true = np.array([0, 1, 2, 2])
    probabilities = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.6, 0.2, 0.2]])
    scores = compute_metrics(
        "classification", y_true, probabilities.argmax(1), probabilities, [0, 1, 2]
    )
    assert scores["accuracy"] == 0.75
    assert 0.0 < scores["f1"] < 1.0 and 0.5 < scores["roc_auc"] <= 1.0


def test_compute_metrics_roc_auc_is_nan_when_one_class_is_present():
    scores = compute_metrics(
        "classification", [1, 1], [1, 0], np.array([[0.2, 0.8], [0.6, 0.4]]), [0, 1]
    )
    assert np.isnan(scores["roc_auc"]) and scores["accuracy"] == 0.5


def test_compute_metrics_regression():
    scores = compute_metrics("regression", [1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    assert scores["rmse"] == pytest.approx(np.sqrt(4 / 3))
    assert scores["mae"] == pytest.approx(2 / 3)
    assert scores["r2"] == pytest.approx(1 - 4 / 2)


