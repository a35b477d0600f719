"""Permutation importance in Evaluate (issue 17): scikit-learn's implementation scored with the
gate metric as Evaluate computes it, over every column or a stated random sample."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from training import plots
from training.data.schema import infer_schema
from training.evaluate import evaluate

TARGET = "y"


@pytest.fixture(autouse=True)
def no_plots(monkeypatch):
    """Plots cost seconds each and are tested elsewhere."""
    monkeypatch.setattr(plots, "available", lambda: False)


def table(columns: int, rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """Independent standard normal columns x0 .. x{columns-1}."""
    values = np.random.default_rng(seed).normal(size=(rows, columns))
    return pd.DataFrame(values, columns=[f"x{i}" for i in range(columns)])


def run_evaluate(model, frame: pd.DataFrame, problem_type: str, out, metric=None) -> dict:
    schema = infer_schema(frame, TARGET, problem_type)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return evaluate.evaluate(model, schema, frame, out, metric=metric)


def importance_of(document: dict) -> dict[str, float]:
    return {e["column"]: e["mean_drop"]
            for e in document["details"]["permutation_importance"]["importances"]}


def test_the_only_informative_column_is_ranked_first_wherever_it_is(tmp_path):
    frame = table(70)
    frame[TARGET] = (frame["x60"] > 0).astype(int)
    model = LogisticRegression().fit(frame.drop(columns=TARGET), frame[TARGET])
    document = run_evaluate(model, frame, "classification", tmp_path)
    importance = document["details"]["permutation_importance"]
    assert importance["score"] == "balanced_accuracy"
    assert importance["columns_examined"] == importance["columns_total"] == 70
    assert importance["column_sample"] == "all"
    ranked = importance["importances"]
    assert ranked[0]["column"] == "x60" and ranked[0]["mean_drop"] > 0.3
    drops = [e["mean_drop"] for e in ranked]
    assert drops == sorted(drops, reverse=True)
    assert importance["repeats"] >= 5


@pytest.mark.parametrize("metric", ["r2", "mae"])
def test_regression_importance_is_the_gate_metric_worsening(tmp_path, metric):
    frame = table(8)
    frame[TARGET] = 3 * frame["x5"] + 0.1 * frame["x1"]
    model = LinearRegression().fit(frame.drop(columns=TARGET), frame[TARGET])
    document = run_evaluate(model, frame, "regression", tmp_path, metric)
    importance = document["details"]["permutation_importance"]
    assert importance["score"] == metric
    assert importance["reference"] == pytest.approx(document["gate"]["model"])
    ranked = importance["importances"]
    assert [e["column"] for e in ranked[:2]] == ["x5", "x1"]
    assert ranked[0]["mean_drop"] > 1.0  # r2 falls by about 2, mae rises by more than 2


class RankingModel:
    """Labels from the sign of x0 alone; x1 only orders the probabilities within each label,
    so shuffling x1 changes no label but does change roc_auc."""

    classes_ = np.array([0, 1])

    def fit(self, frame: pd.DataFrame, y: np.ndarray) -> RankingModel:
        return self  # scikit-learn's permutation_importance accepts estimators only

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        positive = 0.5 + 0.25 * np.sign(frame["x0"].to_numpy()) + 0.2 * np.tanh(
            frame["x1"].to_numpy())
        return np.column_stack([1 - positive, positive])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.classes_[(self.predict_proba(frame)[:, 1] >= 0.5).astype(int)]


def test_a_probability_metric_scores_probabilities_not_labels(tmp_path):
    frame = table(4)
    frame[TARGET] = (frame["x0"] + frame["x1"] > 0).astype(int)
    on_labels = importance_of(run_evaluate(RankingModel(), frame, "classification",
                                           tmp_path / "labels", "balanced_accuracy"))
    on_probabilities = run_evaluate(RankingModel(), frame, "classification",
                                    tmp_path / "probabilities", "roc_auc")
    assert on_labels["x1"] == 0.0  # no label changes
    importance = on_probabilities["details"]["permutation_importance"]
    assert importance["score"] == "roc_auc"
    assert importance["reference"] == pytest.approx(on_probabilities["gate"]["model"])
    assert importance_of(on_probabilities)["x1"] > 0.05


def test_more_columns_than_the_limit_examines_a_stated_random_sample(tmp_path):
    columns = evaluate.MAX_IMPORTANCE_COLUMNS + 20
    frame = table(columns, rows=300)
    frame[TARGET] = (frame["x3"] + frame[f"x{columns - 1}"] > 0).astype(int)
    model = LogisticRegression().fit(frame.drop(columns=TARGET), frame[TARGET])
    document = run_evaluate(model, frame, "classification", tmp_path)
    importance = document["details"]["permutation_importance"]
    assert importance["columns_examined"] == evaluate.MAX_IMPORTANCE_COLUMNS
    assert importance["columns_total"] == columns
    assert importance["column_sample"] == "random"
    examined = {e["column"] for e in importance["importances"]}
    assert len(examined) == evaluate.MAX_IMPORTANCE_COLUMNS
    assert examined != {f"x{i}" for i in range(evaluate.MAX_IMPORTANCE_COLUMNS)}  # not the first
    again = run_evaluate(model, frame, "classification", tmp_path / "again")
    assert importance_of(again) == importance_of(document)  # seeded
    report = (tmp_path / evaluate.EVALUATION_REPORT_FILE).read_text()
    assert "<h2>Permutation importance</h2>" in report
    assert (f"a random sample of {evaluate.MAX_IMPORTANCE_COLUMNS} of {columns} columns"
            in report)


def test_the_report_states_every_column_was_examined(tmp_path):
    frame = table(5)
    frame[TARGET] = (frame["x2"] > 0).astype(int)
    model = LogisticRegression().fit(frame.drop(columns=TARGET), frame[TARGET])
    run_evaluate(model, frame, "classification", tmp_path)
    report = (tmp_path / evaluate.EVALUATION_REPORT_FILE).read_text()
    assert "how much balanced_accuracy worsens when a column is shuffled" in report
    assert "all 5 columns" in report
