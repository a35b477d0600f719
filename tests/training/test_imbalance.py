"""Imbalanced classes handled by default: balanced row weights, a decision threshold chosen on
the validation split, the same labels from Evaluate and from the serving handler, and both
switches able to restore the old behaviour."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from tests.training.panel import PANEL_BY_NAME
from training import plots
from training.contract import (
    BASELINE_GAP,
    DEFAULT_BASELINE_MARGIN,
    DEFAULT_GATE_THRESHOLD,
    ESTIMATOR_HYPERPARAMETERS,
    ESTIMATORS,
    EVALUATION_FILE,
    GATE_SECTION,
    MODEL_FILE,
    PREPROCESSOR_FILE,
    SCHEMA_FILE,
    TRAINING_METRICS_FILE,
    DecisionThreshold,
    Estimator,
    ProblemType,
    decision_threshold_problem,
    is_imbalanced,
    parse_decision_threshold,
)
from training.data import preprocess
from training.data.alerts import AlertKind, alerts
from training.data.schema import coerce_features, coerce_target, load_schema, read_csv_folder
from training.evaluate import evaluate
from training.train import train
from training.train.imbalance import (
    balanced_fit_params,
    choose_threshold,
    predict_labels,
    with_threshold,
)
from training.train.model_files import load_model
from training.train.scoring import predict

FRAUD = PANEL_BY_NAME["fraud-5pct-dirty"]


@pytest.fixture
def no_plots(monkeypatch):
    monkeypatch.setattr(plots, "available", lambda: False)


# --- the rule and the settings -----------------------------------------------------------------


def test_one_imbalance_rule_minority_over_majority_below_a_quarter():
    assert is_imbalanced([90, 10]) and is_imbalanced([100, 100, 24])
    assert not is_imbalanced([80, 20]) and not is_imbalanced([100, 100, 25])
    assert not is_imbalanced([100]) and not is_imbalanced([100, 0])  # absent classes left out


@pytest.mark.parametrize("value", ["0", "1", "1.5", "-0.2", "best", "", "nan"])
def test_a_decision_threshold_outside_auto_none_and_0_1_is_refused(value):
    assert decision_threshold_problem(value) == (
        "must be auto, none or a probability strictly between 0 and 1")


def test_decision_threshold_values_parse():
    assert parse_decision_threshold(" AUTO ") == DecisionThreshold.AUTO.value
    assert parse_decision_threshold("none") == DecisionThreshold.NONE.value
    assert parse_decision_threshold('0.25') == 0.25


@pytest.mark.parametrize(("flag", "value"), [("--class-weight", "auto"),
                                             ("--decision-threshold", "2")])
def test_train_refuses_a_bad_switch_in_one_line_naming_flag_and_value(flag, value, capsys):
    with pytest.raises(SystemExit) as stopped:
        train.parse_args([flag, value])
    assert stopped.value.code == 2
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert flag in line and repr(value) in line and "must be" in line


# --- weights -----------------------------------------------------------------------------------


def test_balanced_weights_give_each_class_the_same_total_weight():
    y = np.array([0] * 90 + [1] * 10)
    (name, weights), = balanced_fit_params(y, "balanced").items()
    assert name == "model__sample_weight"
    assert weights[y == 0].sum() == pytest.approx(weights[y == 1].sum())


def test_no_weights_when_turned_off_or_when_the_classes_are_balanced():
    assert balanced_fit_params(np.array([0] * 90 + [1] * 10), "none") == {}
    assert balanced_fit_params(np.array([0] * 60 + [1] * 40), "balanced") == {}


# --- the threshold -----------------------------------------------------------------------------


def test_the_threshold_separates_separable_scores():
    positives = np.array([False] * 90 + [True] * 10)
    scores = np.r_[np.linspace(0.0, 0.1, 90), np.linspace(0.2, 0.3, 10)]
    threshold = choose_threshold(positives, scores, "balanced_accuracy", anchor=0.15)
    assert 0.1 < threshold < 0.2


def test_the_threshold_stays_near_the_anchor_unless_the_evidence_beats_noise():
    """One minority row's worth of balanced accuracy does not move it; a clear gain does."""
    rng = np.random.default_rng(0)
    positives = np.array([False] * 400 + [True] * 20)
    one_row = np.r_[rng.uniform(0, 0.45, 400), rng.uniform(0.55, 1, 19), [0.49]]
    best_cut = choose_threshold(positives, one_row, "balanced_accuracy", anchor=0.49)
    assert 0.45 < best_cut < 0.49  # the anchor's side: catches the 20th positive too
    assert 0.49 < choose_threshold(positives, one_row, "balanced_accuracy", anchor=0.5) < 0.55
    clear = np.r_[rng.uniform(0, 0.05, 400), rng.uniform(0.1, 0.3, 20)]
    moved = choose_threshold(positives, clear, "balanced_accuracy", anchor=0.5)
    assert 0.05 < moved < 0.3 and (clear[positives] >= moved).mean() >= 0.95


def test_no_threshold_for_a_missing_class_or_a_threshold_free_metric():
    scores = np.linspace(0, 1, 10)
    assert choose_threshold(np.zeros(10, bool), scores, "balanced_accuracy") is None
    assert choose_threshold(scores > 0.5, scores, "roc_auc") is None


def _fitted(estimator_name: str, classes: int = 2):
    x, y = make_classification(n_samples=300, n_features=6, n_informative=4,
                               n_classes=classes, weights=None, random_state=0)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(6)])
    rounds = ({"n-estimators": 20}
              if "n-estimators" in ESTIMATOR_HYPERPARAMETERS[estimator_name] else {})
    estimator = train.build_estimator(estimator_name, ProblemType.CLASSIFICATION, rounds)
    return Pipeline([("features", StandardScaler()), ("model", estimator)]).fit(frame, y), frame


@pytest.mark.parametrize("name", ESTIMATORS)
def test_predict_labels_is_the_estimators_own_predict_without_a_threshold(name):
    model, frame = _fitted(name, classes=3)
    labels, probabilities = predict_labels(model, frame)
    np.testing.assert_array_equal(labels, model.predict(frame))
    np.testing.assert_allclose(probabilities, model.predict_proba(frame))  # forests: threads


def test_predict_labels_applies_the_threshold_and_leaves_probabilities_alone():
    model, frame = _fitted("linear")
    thresholded = with_threshold(model, 0.2)
    labels, probabilities = predict_labels(thresholded, frame)
    np.testing.assert_array_equal(labels, thresholded.predict(frame))  # scikit-learn's rule
    np.testing.assert_array_equal(probabilities, model.predict_proba(frame))
    assert (labels != model.predict(frame)).any()  # the threshold changed some labels
    np.testing.assert_array_equal(labels, (probabilities[:, 1] >= 0.2).astype(int))


def test_a_thresholded_model_pickles_with_nothing_of_ours():
    """The serving container unpickles model.joblib before importing anything of ours."""
    model, _ = _fitted("gradient_boosting")
    payload = pickle.dumps(with_threshold(model, 0.3))
    assert b"training" not in payload
    assert isinstance(pickle.loads(payload), FixedThresholdClassifier)


# --- the alert says what training does ---------------------------------------------------------


def _imbalance_alert(**settings):
    frame = pd.DataFrame({"x": np.arange(200.0), "y": [0] * 190 + [1] * 10})
    (alert,) = [a for a in alerts(frame, "y", "classification", **settings)
                if a.kind == AlertKind.CLASS_IMBALANCE]
    return alert


def _imbalance_message(**settings) -> str:
    return _imbalance_alert(**settings).message


def test_the_imbalance_alert_is_critical_only_when_nothing_corrects_for_it():
    assert _imbalance_alert().severity == "warning"
    assert _imbalance_alert(class_weight="none").severity == "critical"


def test_the_imbalance_alert_names_what_training_does_by_default():
    message = _imbalance_message()
    assert "weights classes inversely to their frequency" in message
    assert "tunes the decision threshold on the validation split" in message


def test_the_imbalance_alert_says_what_to_set_when_the_user_turned_it_off():
    message = _imbalance_message(class_weight="none", decision_threshold="none")
    assert "does not weight classes (class-weight none)" in message
    assert "keeps the estimator's labels (decision-threshold none)" in message
    assert "set class-weight balanced and decision-threshold auto" in message


# --- end to end on the fraud-like table --------------------------------------------------------


def _quiet(function, *args):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return function(*args)


@pytest.fixture(scope="module")
def fraud_split(tmp_path_factory):
    """fraud-5pct-dirty (5 % positives, IDs, dates) through Preprocess."""
    root = tmp_path_factory.mktemp("fraud")
    (root / "data").mkdir()
    FRAUD.frame().to_csv(root / "data" / "data.csv", index=False)
    _quiet(preprocess.preprocess, read_csv_folder(root / "data"), FRAUD.target,
           FRAUD.problem_type.value, root / "processed")
    return root


def _train(root, name: str, *flags: str):
    processed = root / "processed"
    _quiet(train.main, ["--train", str(processed / "train"),
                        "--validation", str(processed / "validation"),
                        "--transform", str(processed / "transform"),
                        "--model-dir", str(root / name / "model"),
                        "--output-data-dir", str(root / name / "output"), *flags])
    return root / name


def _evaluate(run, root) -> dict:
    model, schema = load_model(run / "model")
    test = read_csv_folder(root / "processed" / "test")
    return _quiet(evaluate.evaluate, model, schema, test, run / "evaluation")


@pytest.fixture(scope="module")
def fraud_default(fraud_split):
    return _train(fraud_split, "default")


def test_the_fraud_like_table_passes_the_default_gate(fraud_split, fraud_default, no_plots):
    document = _evaluate(fraud_default, fraud_split)
    gate = document[GATE_SECTION]
    assert gate["metric"] == "balanced_accuracy"
    assert gate["model"] >= DEFAULT_GATE_THRESHOLD["balanced_accuracy"]
    assert gate[BASELINE_GAP] >= DEFAULT_BASELINE_MARGIN
    balance = json.loads((fraud_default / "output" / TRAINING_METRICS_FILE).read_text())[
        "class_balance"]
    assert balance["imbalanced"] and balance["class_weight"] == "balanced"
    assert balance["decision_threshold"] is not None  # tuned on validation, kept in the model
    model = joblib.load(fraud_default / "model" / MODEL_FILE)
    assert model.threshold == balance["decision_threshold"]
    assert document["details"]["decision_threshold"] == model.threshold


def test_turning_both_off_restores_the_old_model_which_fails_the_gate(fraud_split, no_plots):
    """`--class-weight none --decision-threshold none` ship what training shipped before: the
    plain pipeline fitted unweighted (now on train + validation rows, as every untuned model).
    With the estimator of then (gradient boosting, depth 3) it fails the default gate on this
    table; histogram boosting's unlimited depth now passes it even unweighted, so the old
    estimator is named here."""
    old_estimator = Estimator.GRADIENT_BOOSTING.value
    run = _train(fraud_split, "off", "--estimator", old_estimator,
                 "--class-weight", "none", "--decision-threshold", "none")
    shipped = joblib.load(run / "model" / MODEL_FILE)
    assert isinstance(shipped, Pipeline)
    processed = fraud_split / "processed"
    schema = load_schema(processed / "transform" / SCHEMA_FILE)
    old = train.fit_model(
        train.build_model(joblib.load(processed / "transform" / PREPROCESSOR_FILE),
                          train.build_estimator(old_estimator, schema.problem_type)),
        pd.concat([read_csv_folder(processed / "train"),
                   read_csv_folder(processed / "validation")], ignore_index=True), schema)
    test = read_csv_folder(processed / "test")
    features = coerce_features(test, schema.features)
    np.testing.assert_array_equal(shipped.predict_proba(features), old.predict_proba(features))
    gate = _evaluate(run, fraud_split)[GATE_SECTION]
    assert gate["model"] < DEFAULT_GATE_THRESHOLD["balanced_accuracy"]


@pytest.mark.parametrize("setting", ["auto", "0.2"])
def test_the_handler_returns_the_evaluations_labels(fraud_split, fraud_default, setting,
                                                    monkeypatch, no_plots):
    """Same rows, same labels, threshold applied on both sides: Evaluate's confusion matrix
    is the handler's. A fixed 0.2 makes the threshold's labels differ from the most probable
    class, so a handler that ignored it would fail here."""
    from training.serve import inference

    for variable in [v for v in os.environ if v.startswith("MLOPS_CAPTURE")]:
        monkeypatch.delenv(variable)
    run = fraud_default if setting == "auto" else _train(
        fraud_split, "fixed", "--decision-threshold", setting, "--n-estimators", "30")
    document = _evaluate(run, fraud_split)
    model, schema = load_model(run / "model")
    test = read_csv_folder(fraud_split / "processed" / "test")
    evaluation_labels, probabilities = predict(model, test, schema)

    served = inference.model_fn(str(run / "model"))
    raw = test.drop(columns=[schema.target])
    prediction = inference.predict_fn(inference.input_fn(raw.to_csv(index=False), "text/csv"),
                                      served)
    assert not isinstance(prediction, inference.Failure), prediction
    np.testing.assert_array_equal(np.asarray(prediction.predictions), evaluation_labels)
    np.testing.assert_array_equal(prediction.probabilities, probabilities)
    y_true = coerce_target(test[schema.target], schema).to_numpy()
    confusion = evaluate.capped_confusion(y_true, np.asarray(prediction.predictions),
                                          list(model.classes_))
    assert confusion == document["details"]["confusion_matrix"]
    if setting != "auto":
        assert (evaluation_labels != probabilities.argmax(axis=1)).any()
    evaluation = json.loads((run / "evaluation" / EVALUATION_FILE).read_text())
    assert evaluation["details"]["confusion_matrix"] == confusion
