"""train.py's code: arguments as SageMaker passes them, estimators, and the code it ships."""

from __future__ import annotations

import contextlib
import io
import os
import site
import subprocess
import sys
import tarfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_friedman1
from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score

from training.contract import (
    DEFAULT_ESTIMATOR,
    DEFAULT_HYPERPARAMETERS,
    DEFAULT_SEED,
    ESTIMATOR_HYPERPARAMETERS,
    ESTIMATORS,
    HYPERPARAMETERS,
    ProblemType,
)
from training.train import train
from training.train.model_files import extract_model


def test_train_arguments_accept_sagemaker_quoted_values_and_unknown_flags(monkeypatch, tmp_path):
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(tmp_path / "train"))
    args, unknown = train.parse_args(
        [
            "--learning-rate",
            '"0.05"',
            "--n_estimators",
            '"250"',
            "--max-depth",
            '"None"',
            "--estimator",
            '"gradient_boosting"',
            "--sagemaker_program",
            '"train.py"',
            "--seed",
            "7",
        ]
    )
    assert (args.learning_rate, args.n_estimators, args.max_depth) == (0.05, 250, None)
    assert (args.estimator, args.seed) == ("gradient_boosting", 7)
    assert args.model_dir == tmp_path / "model" and args.train == tmp_path / "train"
    assert unknown == ["--sagemaker_program", '"train.py"']


def test_train_arguments_reject_unknown_estimators():
    with pytest.raises(SystemExit):
        train.parse_args(["--estimator", "svm"])


@pytest.mark.parametrize(
    ("name", "problem_type", "expected"),
    [
        ("gradient_boosting", "classification", GradientBoostingClassifier),
        ("random_forest", "regression", RandomForestRegressor),
        ("linear", "classification", LogisticRegression),
        ("linear", "regression", Ridge),
    ],
)
def test_build_estimator(name, problem_type, expected):
    given = ({"alpha": 4.0} if name == "linear"
             else {"n-estimators": 20, "max-depth": 2})
    estimator = train.build_estimator(name, problem_type, given, seed=3)
    assert type(estimator) is expected
    if name != "linear":
        assert (estimator.n_estimators, estimator.max_depth, estimator.random_state) == (20, 2, 3)
    elif expected is Ridge:
        assert estimator.alpha == 4.0
    else:
        assert estimator.C == 0.25


# Each estimator's defaults, as scikit-learn names them: no depth cap for the forest and for
# histogram boosting (31 leaves a tree) on classification; depth 3 for classic boosting and
# for histogram boosting on regression; the linear models' regularisation strength 1.
DEFAULTS = [
    ("gradient_boosting", "classification",
     {"n_estimators": 100, "learning_rate": 0.1, "max_depth": 3}),
    ("hist_gradient_boosting", "classification",
     {"max_iter": 100, "learning_rate": 0.1, "max_depth": None, "max_leaf_nodes": 31}),
    ("hist_gradient_boosting", "regression",
     {"max_iter": 100, "learning_rate": 0.1, "max_depth": 3}),
    ("random_forest", "classification", {"n_estimators": 100, "max_depth": None}),
    ("random_forest", "regression", {"n_estimators": 100, "max_depth": None}),
    ("linear", "classification", {"C": 1.0}),
    ("linear", "regression", {"alpha": 1.0}),
]


@pytest.mark.parametrize(("name", "problem_type", "expected"), DEFAULTS,
                         ids=[f"{n}-{p}" for n, p, _ in DEFAULTS])
def test_each_estimator_has_its_own_defaults(name, problem_type, expected):
    params = train.build_estimator(name, problem_type).get_params()
    assert {key: params[key] for key in expected} == expected


def test_an_explicit_value_wins_over_the_estimators_default():
    forest = train.build_estimator("random_forest", "classification", {"max-depth": 5})
    boosting = train.build_estimator("hist_gradient_boosting", "regression", {"max-depth": None})
    assert (forest.max_depth, boosting.max_depth) == (5, None)
    args, _ = train.parse_args(["--estimator", "random_forest", "--max-depth", "5"])
    assert train.given_hyperparameters(args) == {"max-depth": 5}


@pytest.mark.parametrize(("name", "flag", "value", "uses"), [
    ("random_forest", "learning-rate", "0.05", "n-estimators, max-depth"),
    ("linear", "max-depth", "4", "alpha"),
    ("gradient_boosting", "alpha", "2", "n-estimators, learning-rate, max-depth"),
])
def test_a_hyperparameter_the_estimator_does_not_use_is_refused(name, flag, value, uses,
                                                               capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--estimator", name, f"--{flag}", value])
    assert (f"--{flag} is not used by {name} (it uses: {uses})"
            in capsys.readouterr().err)
    with pytest.raises(ValueError, match=f"--{flag} is not used by {name}"):
        train.build_estimator(name, "classification", {flag: float(value)})


def test_friedman1_random_forest_without_a_depth_cap_beats_the_capped_one():
    """The forest once inherited boosting's depth 3: r2 0.64 on make_friedman1, not 0.87."""
    x, y = make_friedman1(n_samples=1000, noise=1.0, random_state=0)
    train_x, test_x, train_y, test_y = x[:800], x[800:], y[:800], y[800:]

    def r2(hyperparameters):
        forest = train.build_estimator("random_forest", "regression", hyperparameters)
        return r2_score(test_y, forest.fit(train_x, train_y).predict(test_x))

    default, capped = r2({}), r2({"max-depth": 3})
    assert default > 0.8
    assert default > capped + 0.1


def test_every_advertised_estimator_can_be_built():
    for name in ESTIMATORS:
        for problem_type in ProblemType:
            assert hasattr(train.build_estimator(name, problem_type), "fit")


def test_hyperparameter_flags_and_defaults_come_from_the_contract():
    args, unknown = train.parse_args([])
    assert unknown == []
    for hyperparameter in HYPERPARAMETERS:
        if hyperparameter.name in DEFAULT_HYPERPARAMETERS:
            assert getattr(args, hyperparameter.name.replace("-", "_")) == hyperparameter.default
    assert train.given_hyperparameters(args) == {}  # the estimator's defaults apply
    assert (args.estimator, args.seed) == (DEFAULT_ESTIMATOR, DEFAULT_SEED)


def test_every_contract_hyperparameter_is_a_flag_in_both_spellings():
    for hyperparameter in HYPERPARAMETERS:
        text = hyperparameter.type is str
        value = "none" if text else str(hyperparameter.type(7))
        estimator = next((name for name, uses in ESTIMATOR_HYPERPARAMETERS.items()
                          if hyperparameter.name in uses), DEFAULT_ESTIMATOR)
        for flag in (hyperparameter.flag, "--" + hyperparameter.name.replace("-", "_")):
            args, unknown = train.parse_args(["--estimator", estimator, flag, f'"{value}"'])
            assert unknown == [], flag
            parsed = getattr(args, hyperparameter.name.replace("-", "_"))
            assert parsed == (value if text else float(value)), flag


def test_a_text_hyperparameter_accepts_only_its_choices():
    with pytest.raises(SystemExit):
        train.parse_args(["--target-transform", "log"])


def test_an_integer_hyperparameter_rejects_a_fraction():
    with pytest.raises(SystemExit):
        train.parse_args(["--n-estimators", "2.5"])


def test_copy_code_ships_the_package_py_files_only(tmp_path):
    package = tmp_path / "src" / "training"
    package.mkdir(parents=True)
    for name in ("__init__.py", "serve/__init__.py", "serve/inference.py", "data/schema.py"):
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(f"# {name}\n")
    (package / "requirements.txt").write_text("matplotlib==3.9.2\n")
    (package / "data" / "__pycache__").mkdir()
    (package / "data" / "__pycache__" / "schema.cpython-312.pyc").write_bytes(b"\x00")
    copied = train.copy_code(tmp_path / "model", package)
    code = tmp_path / "model" / "code"
    assert [p.relative_to(code).as_posix() for p in copied] == [
        "training/__init__.py",
        "training/data/schema.py",
        "training/serve/__init__.py",
        "training/serve/inference.py",
    ]
    assert sorted(p.name for p in code.iterdir()) == ["training"]  # no code/requirements.txt
    assert (code / "training" / "serve" / "inference.py").read_text() == "# serve/inference.py\n"


def test_train_copies_the_package_it_runs_from(classification_run):
    shipped = classification_run.model_dir / "code" / "training"
    source = Path(train.__file__).resolve().parents[1]
    assert sorted(p.relative_to(shipped) for p in shipped.rglob("*.py")) == sorted(
        p.relative_to(source) for p in source.rglob("*.py"))
    handler = Path("serve") / "inference.py"
    assert (shipped / handler).read_bytes() == (source / handler).read_bytes()


def test_the_model_archive_carries_the_serving_code(classification_run, tmp_path):
    with tarfile.open(classification_run.archive_dir / "model.tar.gz") as tar:
        names = tar.getnames()
    assert {"model.joblib", "schema.json", "code/training/serve/inference.py"} <= set(names)
    assert "code/training/contract.py" in names and "code/requirements.txt" not in names
    extracted = extract_model(classification_run.archive_dir, tmp_path / "model")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import training.serve.inference as i; "
        "print(i.model_fn(sys.argv[2]).schema.target)"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code, str(extracted / "code"), str(extracted)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(site.getsitepackages())},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == classification_run.target


# --- the final fit: train + validation unless tuned -------------------------------------------


@pytest.fixture(scope="module")
def churn_splits(tmp_path_factory):
    """The imbalanced churn table (no leak) preprocessed, with a `plan` column whose level
    "validation-only" is written into one validation row after the split."""
    from tests.training.dirty_data import churn_table
    from training.data import preprocess

    root = tmp_path_factory.mktemp("refit")
    frame = churn_table().drop(columns=["leak"])
    frame["plan"] = np.random.default_rng(0).choice(["basic", "plus", "pro"], len(frame))
    (root / "data").mkdir()
    frame.to_csv(root / "data" / "data.csv", index=False)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        preprocess.main(["--data-dir", str(root / "data"), "--output-dir", str(root / "out"),
                         "--target", "churned", "--problem-type", "classification"])
    validation_file = root / "out" / "validation" / "validation.csv"
    validation = pd.read_csv(validation_file)
    validation.loc[0, "plan"] = "validation-only"
    validation.to_csv(validation_file, index=False)
    return root / "out"


def run_train(splits: Path, model_dir: Path, *extra: str) -> tuple[dict, str]:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):
        metrics = train.main(["--train", str(splits / "train"),
                              "--validation", str(splits / "validation"),
                              "--transform", str(splits / "transform"),
                              "--model-dir", str(model_dir), "--estimator", "linear", *extra])
    return metrics, printed.getvalue()


def encoder_levels(model) -> list[str]:
    pipeline = getattr(model, "estimator", model)  # under a FixedThresholdClassifier or not
    return list(pipeline.named_steps["features"].get_feature_names_out())


def test_without_tuning_the_model_is_refit_on_train_and_validation(churn_splits, tmp_path):
    from training.data.schema import load_schema, read_csv_folder
    from training.train.imbalance import decision_threshold
    from training.train.scoring import score_model

    metrics, printed = run_train(churn_splits, tmp_path / "model")
    shipped = joblib.load(tmp_path / "model" / "model.joblib")
    assert "plan_validation-only" in encoder_levels(shipped)  # a level only validation holds
    train_rows = read_csv_folder(churn_splits / "train")
    validation = read_csv_folder(churn_splits / "validation")
    # The threshold and the validation scores are the train-only fit's.
    schema = load_schema(churn_splits / "transform" / "schema.json")
    estimator = train.build_estimator("linear", "classification")
    train_only, balance = train.train_model(
        train.build_model(joblib.load(churn_splits / "transform" / "preprocessor.joblib"),
                          estimator), train_rows, validation, schema)
    assert balance.decision_threshold is not None
    assert decision_threshold(shipped) == balance.decision_threshold
    assert metrics == score_model(train_only, validation, schema)
    assert "plan_validation-only" not in encoder_levels(train_only)
    assert f"refit on train + validation ({len(train_rows) + len(validation)} rows)" in printed


@pytest.mark.parametrize("flag", [["--tuned", "true"],
                                  ["--_tuning_objective_metric", "validation:f1"]])
def test_a_tuned_job_ships_the_train_only_fit(churn_splits, tmp_path, flag):
    metrics, printed = run_train(churn_splits, tmp_path / "model", *flag)
    shipped = joblib.load(tmp_path / "model" / "model.joblib")
    assert "plan_validation-only" not in encoder_levels(shipped)
    assert "tuned: the validation split chose the hyperparameters" in printed
    refit_metrics, _ = run_train(churn_splits, tmp_path / "refit")
    assert metrics == refit_metrics  # the validation scores are the train-only fit's either way


def test_a_small_table_fits_on_one_thread_and_a_large_one_on_the_librarys_choice():
    from threadpoolctl import threadpool_info

    from training.data.schema import DatasetSchema, Feature, FeatureType, ProblemType

    class ThreadsSeen(LogisticRegression):
        """Records the thread counts of the OpenMP and BLAS pools in force while it fits."""

        def fit(self, X, y, sample_weight=None):
            self.threads_ = {pool["num_threads"] for pool in threadpool_info()}
            return super().fit(X, y, sample_weight=sample_weight)

    rows = pd.DataFrame({"a": [str(value) for value in range(40)], "target": ["0", "1"] * 20})
    schema = DatasetSchema(target="target", problem_type=ProblemType.CLASSIFICATION,
                           features=(Feature("a", FeatureType.NUMERIC),),
                           columns=("target", "a"), class_labels=(0, 1))
    fitted = train.fit_model(ThreadsSeen(), rows, schema)
    assert fitted.threads_ == {1}
    assert train.fit_threads(train.ONE_THREAD_CELLS, 1) == 1
    assert train.fit_threads(train.ONE_THREAD_CELLS + 1, 1) is None
