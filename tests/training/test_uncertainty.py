"""Bootstrap uncertainty of the test-split scores: each resample's metric equals scikit-learn's
on the resampled rows, resamples are seeded, and challenger and champion are compared on the
same resampled rows."""

from __future__ import annotations

import contextlib
import io
import time

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from training import plots
from training.contract import (
    CHAMPION_COMPARISON,
    CHAMPION_GAP,
    CHAMPION_GAP_HIGH,
    CHAMPION_GAP_INTERVAL,
    CHAMPION_ROWS,
    CHAMPION_SEEN_ROWS,
    EVALUATION_SECTION,
    METRIC_NAMES,
    MODEL_INTERVAL,
    ProblemType,
)
from training.data.schema import coerce_target, read_csv_folder
from training.evaluate import evaluate, resampling
from training.train.imbalance import predict_labels
from training.train.model_files import load_model
from training.train.scoring import compute_metrics


def held_out(model, x, y):
    """A model fitted on every other row, predicting the rest: real predictions, fast."""
    model.fit(x[::2], y[::2])
    proba = model.predict_proba(x[1::2]) if hasattr(model, "predict_proba") else None
    return y[1::2], model.predict(x[1::2]), proba, getattr(model, "classes_", None)


def cases():
    cancer, wine, diabetes = load_breast_cancer(), load_wine(), load_diabetes()
    binary = held_out(LogisticRegression(max_iter=5000), cancer.data, cancer.target)
    multiclass = held_out(DecisionTreeClassifier(max_depth=2, random_state=0), wine.data,
                          wine.target)
    unseen = (np.where(np.arange(len(binary[0])) % 7 == 0, 2, binary[0]), *binary[1:])
    regression = held_out(LinearRegression(), diabetes.data, diabetes.target)
    return {"binary": ("classification", *binary), "multiclass": ("classification", *multiclass),
            "binary model, unseen label": ("classification", *unseen),
            "regression": ("regression", *regression)}


CASES = cases()


@pytest.mark.parametrize("case", CASES)
def test_every_resample_scores_as_scikit_learn_scores_the_resampled_rows(case):
    problem_type, y, predicted, proba, classes = CASES[case]
    weights = next(resampling.resample_counts(len(y), 40, seed=3))
    for metric in METRIC_NAMES[ProblemType(problem_type)]:
        fast = resampling.weighted_metric(problem_type, metric, y, predicted, proba, classes,
                                          weights)
        for resample, counts in enumerate(weights):
            rows = np.repeat(np.arange(len(y)), counts.astype(int))
            expected = compute_metrics(problem_type, y[rows], predicted[rows],
                                       None if proba is None else proba[rows],
                                       classes)[metric]
            assert fast[resample] == pytest.approx(expected, nan_ok=True), (metric, resample)


def test_resamples_are_seeded_and_fast():
    problem_type, y, predicted, proba, classes = CASES["binary"]
    y, predicted, proba = np.tile(y, 20), np.tile(predicted, 20), np.tile(proba, (20, 1))
    outcomes = {"model": (predicted, proba, classes)}
    start = time.perf_counter()
    first = resampling.bootstrap(problem_type, y, outcomes, METRIC_NAMES[ProblemType(
        problem_type)])
    elapsed = time.perf_counter() - start
    again = resampling.bootstrap(problem_type, y, outcomes, ["balanced_accuracy"])
    assert len(first["model"]["balanced_accuracy"]) == resampling.BOOTSTRAP_RESAMPLES
    np.testing.assert_array_equal(first["model"]["balanced_accuracy"],
                                  again["model"]["balanced_accuracy"])
    assert elapsed < 10, f"{elapsed:.1f} s for {len(y)} rows, 4 metrics"


def test_the_standard_deviation_shrinks_with_more_rows():
    problem_type, y, predicted, proba, classes = CASES["binary"]
    small = resampling.bootstrap(problem_type, y, {"m": (predicted, proba, classes)},
                                 ["accuracy"])["m"]["accuracy"]
    large = resampling.bootstrap(problem_type, np.tile(y, 16),
                                 {"m": (np.tile(predicted, 16), None, classes)},
                                 ["accuracy"])["m"]["accuracy"]
    # the binomial standard error, sqrt(p(1-p)/n), and a quarter of it on 16x the rows
    p = np.mean(y == predicted)
    assert resampling.standard_deviation(small) == pytest.approx(
        np.sqrt(p * (1 - p) / len(y)), rel=0.1)
    assert resampling.standard_deviation(large) == pytest.approx(
        resampling.standard_deviation(small) / 4, rel=0.15)


def test_a_paired_comparison_sees_a_difference_the_unpaired_intervals_hide():
    """Two models that differ on a few rows: their own intervals overlap, but the paired
    difference is always positive."""
    problem_type, y, predicted, proba, classes = CASES["binary"]
    wrong = np.flatnonzero(predicted != y)
    better = predicted.copy()
    better[wrong[: max(3, len(wrong) // 2)]] = y[wrong[: max(3, len(wrong) // 2)]]
    values = resampling.bootstrap(problem_type, y, {"challenger": (better, proba, classes),
                                                    "champion": (predicted, proba, classes)},
                                  ["accuracy"])
    challenger, champion = values["challenger"]["accuracy"], values["champion"]["accuracy"]
    assert resampling.interval(challenger)[0] < resampling.interval(champion)[1]
    gaps = resampling.paired_gaps("accuracy", challenger, champion)
    low, high = resampling.interval(gaps)
    assert low > 0
    words = resampling.comparison_in_words("accuracy", 0.951, 0.947, 0.004, [low, high])
    assert words.endswith("the challenger is better")
    assert resampling.comparison_in_words("accuracy", 0.951, 0.947, 0.004,
                                          [-0.012, 0.020]).endswith("not distinguishable")
    assert "95 % interval [-0.012, +0.020]" in resampling.comparison_in_words(
        "accuracy", 0.951, 0.947, 0.004, [-0.012, 0.020])


def _gate_against(challenger: np.ndarray, champion: np.ndarray, y: np.ndarray,
                  with_resamples: bool = True) -> dict:
    problem_type = "classification"
    outcomes = {name: (labels, np.eye(2)[labels], [0, 1])
                for name, labels in (("model", challenger), ("champion", champion))}
    scores = {name: compute_metrics(problem_type, y, *outcome)
              for name, outcome in outcomes.items()}
    resampled = resampling.bootstrap(problem_type, y, outcomes, ["accuracy"]) \
        if with_resamples else None
    return evaluate.gate_values("accuracy", scores["model"], scores["model"], scores["champion"],
                                None, {}, resampled=resampled)


def test_the_gate_reads_the_top_of_the_paired_interval_so_noise_does_not_refuse():
    """A challenger 2 rows behind on 100 (within the noise) reaches the default margin 0; one
    30 rows behind does not; without resamples the point gap decides, as before."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 100)
    champion = np.where(rng.random(100) < 0.9, y, 1 - y)
    right = np.flatnonzero(champion == y)
    close, far = champion.copy(), champion.copy()
    close[right[:2]] = 1 - y[right[:2]]
    far[right[:30]] = 1 - y[right[:30]]

    trailing = _gate_against(close, champion, y)
    assert trailing[CHAMPION_GAP] == pytest.approx(-0.02)
    assert trailing[CHAMPION_GAP_HIGH] == trailing[CHAMPION_GAP_INTERVAL][1] >= 0.0
    worse = _gate_against(far, champion, y)
    assert worse[CHAMPION_GAP_HIGH] == worse[CHAMPION_GAP_INTERVAL][1] < 0.0
    assert worse[CHAMPION_COMPARISON].endswith("the challenger is worse")
    unresampled = _gate_against(close, champion, y, with_resamples=False)
    assert unresampled[CHAMPION_GAP_HIGH] == unresampled[CHAMPION_GAP] < 0.0


class ConstantModel:
    """Always one answer (the majority class, or the mean): a champion any real model beats."""

    def __init__(self, answer, classes=None):
        self.answer = answer
        if classes is not None:
            self.classes_ = np.asarray(classes)

    def predict(self, frame):
        return np.full(len(frame), self.answer)

    def predict_proba(self, frame):
        return np.tile(np.asarray(self.classes_) == self.answer, (len(frame), 1)).astype(float)


@pytest.mark.parametrize("run_name", ["classification_run", "regression_run"])
def test_evaluate_writes_the_spread_and_compares_with_the_champion_on_the_same_rows(
        run_name, request, tmp_path, monkeypatch):
    run = request.getfixturevalue(run_name)  # before plots are off: the run is shared
    monkeypatch.setattr(plots, "available", lambda: False)
    model, schema = load_model(run.model_dir)
    test = read_csv_folder(run.processed / "test")
    classes = getattr(model, "classes_", None)
    y = coerce_target(test[schema.target], schema).to_numpy()
    constant = ConstantModel(*((classes[np.argmax([np.sum(y == c) for c in classes])], classes)
                               if classes is not None else (float(np.mean(y)),)))

    def evaluated(champion):
        with contextlib.redirect_stdout(io.StringIO()):
            return evaluate.evaluate(model, schema, test, tmp_path, (champion, schema))

    document = evaluated(constant)
    gate = document["gate"]
    section = document[EVALUATION_SECTION[schema.problem_type]]
    spread = section[gate["metric"]]["standard_deviation"]
    assert isinstance(spread, float) and 0.001 < spread < 0.2  # "NaN" before
    assert gate[MODEL_INTERVAL][0] < gate["model"] < gate[MODEL_INTERVAL][1]
    assert gate[CHAMPION_GAP_INTERVAL][0] > 0
    assert gate[CHAMPION_COMPARISON].endswith("the challenger is better")
    assert gate[CHAMPION_COMPARISON] in (tmp_path / "evaluation.html").read_text()
    # against itself: the same resampled rows, so every paired difference is exactly 0
    itself = evaluated(model)["gate"]
    assert itself[CHAMPION_GAP_INTERVAL] == [0.0, 0.0]
    assert itself[CHAMPION_COMPARISON].endswith("not distinguishable")
    assert itself[MODEL_INTERVAL] == gate[MODEL_INTERVAL]  # seeded: the same resamples


def test_the_champion_is_compared_only_on_rows_it_never_learnt_from(classification_run,
                                                                    tmp_path, monkeypatch):
    """A champion whose package records another split (another salt) learnt from some of
    today's test rows: they are left out of the comparison, counted and said; with the same
    rule every test row is compared; without a rule there is no fair comparison."""
    from dataclasses import replace

    from training.data.splits import SplitRule, assign_splits

    monkeypatch.setattr(plots, "available", lambda: False)
    model, schema = load_model(classification_run.model_dir)
    test = read_csv_folder(classification_run.processed / "test")
    other_rule = {**schema.split, "salt": "another salt"}
    unseen = (assign_splits(test, SplitRule.from_dict(other_rule)) == "test").to_numpy()
    assert 0 < unseen.sum() < len(test)

    def evaluated(champion_schema):
        with contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            return evaluate.evaluate(model, schema, test, tmp_path, (model, champion_schema))

    gate = evaluated(replace(schema, split=other_rule))["gate"]
    assert (gate[CHAMPION_ROWS], gate[CHAMPION_SEEN_ROWS]) == (unseen.sum(), (~unseen).sum())
    y = coerce_target(test[schema.target], schema).to_numpy()
    labels, proba = predict_labels(model, test[unseen])
    expected = compute_metrics(schema.problem_type, y[unseen], labels, proba,
                               list(model.classes_))[gate["metric"]]
    assert gate["champion"] == pytest.approx(expected)
    assert gate[CHAMPION_GAP] == 0.0  # the same model on the same rows
    assert f"compared on {unseen.sum()} of {len(test)} test rows" in \
        (tmp_path / "evaluation.html").read_text()

    same = evaluated(schema)["gate"]
    assert (same[CHAMPION_ROWS], same[CHAMPION_SEEN_ROWS]) == (len(test), 0)
    unknown = evaluated(replace(schema, split=None))["gate"]  # a package from before rules
    assert (unknown[CHAMPION_ROWS], unknown[CHAMPION_SEEN_ROWS]) == (len(test), 0)
    assert "records no split rule: it was compared on every test row" in \
        (tmp_path / "evaluation.html").read_text()
