"""train.py's code: arguments as SageMaker passes them, estimators, and the code it ships."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge

from training.contract import (
    DEFAULT_ESTIMATOR,
    DEFAULT_HYPERPARAMETERS,
    DEFAULT_SEED,
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
            '"random_forest"',
            "--sagemaker_program",
            '"train.py"',
            "--seed",
            "7",
        ]
    )
    assert (args.learning_rate, args.n_estimators, args.max_depth) == (0.05, 250, None)
    assert (args.estimator, args.seed) == ("random_forest", 7)
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
    estimator = train.build_estimator(name, problem_type, n_estimators=20, max_depth=2, seed=3)
    assert type(estimator) is expected
    if name != "linear":
        assert (estimator.n_estimators, estimator.max_depth, estimator.random_state) == (20, 2, 3)


def test_every_advertised_estimator_can_be_built():
    for name in ESTIMATORS:
        for problem_type in ProblemType:
            assert hasattr(train.build_estimator(name, problem_type), "fit")



def test_hyperparameter_flags_and_defaults_come_from_the_contract():
    args, unknown = train.parse_args([])
    assert unknown == []
    for hyperparameter in HYPERPARAMETERS:
        assert getattr(args, hyperparameter.name.replace("-", "_")) == hyperparameter.default
    assert (args.estimator, args.seed) == (DEFAULT_ESTIMATOR, DEFAULT_SEED)
    assert DEFAULT_HYPERPARAMETERS["max-depth"] == 3  # the pipeline's default, now train's too


def test_every_contract_hyperparameter_is_a_flag_in_both_spellings():
    for hyperparameter in HYPERPARAMETERS:
        text = hyperparameter.type is str
        value = "none" if text else str(hyperparameter.type(7))
        for flag in (hyperparameter.flag, "--" + hyperparameter.name.replace("-", "_")):
            args, unknown = train.parse_args([flag, f'"{value}"'])
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
