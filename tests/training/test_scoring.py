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




def test_a_label_the_binary_model_never_saw_counts_as_scikit_learn_counts_it():
    from sklearn import metrics

    y_true = np.array([0, 0, 1, 1, 2, 2, 0, 1])  # 2: a class that appeared after training
    y_pred = np.array([0, 0, 1, 1, 1, 0, 0, 1])
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.3, 0.7], [0.4, 0.6],
                              [0.6, 0.4], [0.7, 0.3], [0.1, 0.9]])
    scores = compute_metrics("classification", y_true, y_pred, probabilities, [0, 1])
    labels = [0, 1, 2]
    assert scores["balanced_accuracy"] == pytest.approx(
        metrics.balanced_accuracy_score(y_true, y_pred))  # 2/3, not 1.0 over the known two
    assert scores["accuracy"] == pytest.approx(metrics.accuracy_score(y_true, y_pred))
    assert scores["f1"] == pytest.approx(metrics.f1_score(
        y_true, y_pred, labels=[1], average="macro"))  # the 2 predicted as 1 is a false positive
    assert scores["roc_auc"] == pytest.approx(metrics.roc_auc_score(y_true == 1,
                                                                    probabilities[:, 1]))
    assert metrics.recall_score(y_true, y_pred, labels=labels, average=None)[2] == 0


def test_a_label_the_multiclass_model_never_saw_lowers_macro_scores_like_scikit_learns():
    from sklearn import metrics

    y_true = np.array([0, 1, 2, 3, 3, 0, 1, 2])
    y_pred = np.array([0, 1, 2, 2, 0, 0, 1, 2])
    probabilities = np.eye(3)[[0, 1, 2, 2, 0, 0, 1, 2]] * 0.7 + 0.1
    scores = compute_metrics("classification", y_true, y_pred, probabilities, [0, 1, 2])
    labels = [0, 1, 2, 3]
    assert scores["balanced_accuracy"] == pytest.approx(0.75)
    assert scores["balanced_accuracy"] == pytest.approx(
        metrics.balanced_accuracy_score(y_true, y_pred))
    assert scores["f1"] == pytest.approx(metrics.f1_score(y_true, y_pred, labels=labels,
                                                          average="macro", zero_division=0))
