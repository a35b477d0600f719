"""Model tests: behaviour of the trained model and the evaluation contract, on real data."""

from __future__ import annotations

import json
import re

import joblib
import numpy as np
import pytest
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.metrics import accuracy_score, mean_squared_error

from training.contract import (
    DEFAULT_ESTIMATOR,
    DEFAULT_GATE_METRIC,
    METRIC_DEFINITIONS,
    METRIC_NAMES,
)
from training.data import preprocess
from training.data.schema import coerce_features, coerce_target, load_schema, read_csv_folder
from training.evaluate import resampling
from training.train import train


def evaluation(run) -> dict:
    return json.loads((run.evaluation / "evaluation.json").read_text())


def labelled(run, split: str):
    schema = load_schema(run.model_dir / "schema.json")
    frame = read_csv_folder(run.processed / split)
    return coerce_features(frame, schema.features), coerce_target(frame[schema.target], schema)


def test_classifier_clearly_beats_the_majority_class_on_test(classification_run):
    X_train, y_train = labelled(classification_run, "train")
    X_test, y_test = labelled(classification_run, "test")
    dummy = DummyClassifier(strategy="most_frequent").fit(X_train, y_train).score(X_test, y_test)
    metrics = evaluation(classification_run)["classification_metrics"]
    assert metrics["accuracy"]["value"] >= dummy + 0.25
    assert metrics["roc_auc"]["value"] >= 0.95


def test_regressor_clearly_beats_the_mean_on_test(regression_run):
    X_train, y_train = labelled(regression_run, "train")
    X_test, y_test = labelled(regression_run, "test")
    dummy = DummyRegressor().fit(X_train, y_train).predict(X_test)
    dummy_rmse = mean_squared_error(y_test, dummy) ** 0.5
    metrics = evaluation(regression_run)["regression_metrics"]
    assert metrics["rmse"]["value"] <= 0.85 * dummy_rmse
    assert metrics["r2"]["value"] >= 0.25


@pytest.mark.parametrize("run_name", ["classification_run", "regression_run"])
def test_evaluation_json_has_the_sagemaker_model_metrics_shape(run_name, request):
    run = request.getfixturevalue(run_name)
    document = json.loads(
        (run.evaluation / "evaluation.json").read_text(),
        parse_constant=lambda c: pytest.fail(f"evaluation.json must be strict JSON, found {c}"),
    )
    section = f"{run.problem_type}_metrics"
    assert sorted(document) == sorted([section, "baseline_metrics", "gate", "details"])
    extra = ["pr_auc"] if run.problem_type == "classification" else []
    assert sorted(document[section]) == sorted([*METRIC_NAMES[run.problem_type], *extra])
    assert list(document["baseline_metrics"]) == [section]
    for name, entry in document[section].items():
        assert set(entry) == {"value", "standard_deviation"}, name
        if name in resampling.BOOTSTRAPPED_METRICS:  # the bootstrap's, over the test rows
            assert 0 < entry["standard_deviation"] < 0.5 * abs(entry["value"]), name
        else:
            assert entry["standard_deviation"] == "NaN", name  # strict JSON: a string
        assert isinstance(entry["value"], float) and np.isfinite(entry["value"])


@pytest.mark.parametrize("run_name", ["classification_run", "regression_run"])
def test_default_gate_metric_path_resolves_in_evaluation_json(run_name, request):
    run = request.getfixturevalue(run_name)
    value = evaluation(run)
    for key in DEFAULT_GATE_METRIC[run.problem_type].json_path.split("."):
        value = value[key]
    assert isinstance(value, float)


def test_evaluation_values_match_an_independent_computation(classification_run, regression_run):
    model = joblib.load(classification_run.model_dir / "model.joblib")
    X_test, y_test = labelled(classification_run, "test")
    accuracy = evaluation(classification_run)["classification_metrics"]["accuracy"]["value"]
    assert accuracy == pytest.approx(accuracy_score(y_test, model.predict(X_test)))
    model = joblib.load(regression_run.model_dir / "model.joblib")
    X_test, y_test = labelled(regression_run, "test")
    rmse = evaluation(regression_run)["regression_metrics"]["rmse"]["value"]
    assert rmse == pytest.approx(mean_squared_error(y_test, model.predict(X_test)) ** 0.5)


@pytest.mark.parametrize("run_name", ["classification_run", "regression_run"])
def test_train_prints_every_tuner_metric_once(run_name, request):
    run = request.getfixturevalue(run_name)
    for definition in METRIC_DEFINITIONS[run.problem_type]:
        assert len(re.findall(definition["Regex"], run.train_stdout)) == 1, definition["Name"]


def test_printed_validation_accuracy_is_the_train_only_fits_accuracy(classification_run):
    """The shipped model is refit on train + validation; the validation scores are those of
    the same model fit on the train rows only."""
    processed = classification_run.processed
    schema = load_schema(processed / "transform" / "schema.json")
    estimator = train.build_estimator(DEFAULT_ESTIMATOR, schema.problem_type,
                                      {"n-estimators": 100, "learning-rate": 0.1})
    train_only, _ = train.train_model(
        train.build_model(joblib.load(processed / "transform" / "preprocessor.joblib"),
                          estimator),
        read_csv_folder(processed / "train"), read_csv_folder(processed / "validation"), schema)
    X_val, y_val = labelled(classification_run, "validation")
    printed = re.search(r"validation:accuracy=([0-9\.]+);", classification_run.train_stdout)
    assert float(printed.group(1)) == pytest.approx(
        accuracy_score(y_val, train_only.predict(X_val)), abs=1e-6
    )
    assert "is refit on train + validation" in classification_run.train_stdout


@pytest.mark.parametrize("run_name", ["classification_run", "regression_run"])
def test_predictions_do_not_depend_on_row_order(run_name, request):
    run = request.getfixturevalue(run_name)
    model = joblib.load(run.model_dir / "model.joblib")
    X_test, _ = labelled(run, "test")
    order = np.random.default_rng(0).permutation(len(X_test))
    np.testing.assert_allclose(model.predict(X_test.iloc[order]), model.predict(X_test)[order])


def test_unseen_category_does_not_break_prediction(classification_run):
    model = joblib.load(classification_run.model_dir / "model.joblib")
    X_test, _ = labelled(classification_run, "test")
    X_test["size_band"] = "never-seen"
    assert len(model.predict(X_test)) == len(X_test)


def test_model_ships_the_transformer_and_the_schema(classification_run):
    model = joblib.load(classification_run.model_dir / "model.joblib")
    assert [name for name, _ in model.steps] == ["features", "model"]
    assert model.named_steps["features"].named_transformers_["onehot"] is not None
    shipped = (classification_run.model_dir / "schema.json").read_text()
    assert shipped == (classification_run.processed / "transform" / "schema.json").read_text()
    assert sorted(p.name for p in classification_run.model_dir.iterdir()) == [
        "code",
        "model.joblib",
        "schema.json",
    ]


def test_training_writes_metrics_to_the_output_data_dir(classification_run):
    document = json.loads(
        (classification_run.model_dir.parent / "opt-ml-output-data" / "metrics.json").read_text()
    )
    assert document["hyperparameters"]["learning_rate"] == 0.1
    assert document["hyperparameters"]["n_estimators"] == 100
    assert set(document["validation"]) == set(METRIC_NAMES["classification"])


@pytest.mark.parametrize(
    ("run_name", "plots"),
    [
        ("classification_run", ["confusion_matrix.png", "roc_curve.png"]),
        ("regression_run", ["predicted_vs_actual.png", "residuals.png"]),
    ],
)
def test_evaluation_plots_are_png_images(run_name, plots, request):
    run = request.getfixturevalue(run_name)
    for plot in plots:
        assert (run.evaluation / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", plot


def test_an_informative_feature_gives_a_better_score(tmp_path, cancer_frame, shards, monkeypatch):
    rng = np.random.default_rng(0)
    cancer_frame["noise"] = rng.normal(size=len(cancer_frame))
    scores = {}
    for name, columns in (("noise", ["noise"]), ("informative", ["noise", "worst radius"])):
        root = tmp_path / name
        data = shards(cancer_frame[[*columns, "diagnosis_benign"]], root / "data")
        preprocess.main(
            [
                "--data-dir",
                str(data),
                "--output-dir",
                str(root / "out"),
                "--target",
                "diagnosis_benign",
                "--problem-type",
                "classification",
            ]
        )
        for channel in ("train", "validation", "transform"):
            monkeypatch.setenv(f"SM_CHANNEL_{channel.upper()}", str(root / "out" / channel))
        monkeypatch.setenv("SM_MODEL_DIR", str(root / "model"))
        scores[name] = train.main(["--estimator", "linear"])["accuracy"]
    assert scores["noise"] < 0.75
    assert scores["informative"] >= scores["noise"] + 0.2


def test_train_refuses_a_target_other_than_the_preprocessed_one(
    classification_run, monkeypatch, tmp_path
):
    for channel in ("train", "validation", "transform"):
        monkeypatch.setenv(
            f"SM_CHANNEL_{channel.upper()}", str(classification_run.processed / channel)
        )
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    with pytest.raises(ValueError, match="--target 'mean area' differs"):
        train.main(["--target", "mean area"])
    assert not (tmp_path / "model").exists()


def test_random_forest_trains_with_the_same_contract(classification_run, monkeypatch, tmp_path):
    for channel in ("train", "validation", "transform"):
        monkeypatch.setenv(
            f"SM_CHANNEL_{channel.upper()}", str(classification_run.processed / channel)
        )
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    metrics = train.main(
        ["--estimator", "random_forest", "--n-estimators", "50", "--max-depth", "6"]
    )
    model = joblib.load(tmp_path / "model" / "model.joblib")
    assert model.named_steps["model"].n_estimators == 50
    assert metrics["accuracy"] > 0.85
