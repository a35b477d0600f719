"""Code tests: the shared helpers, argument parsing, metrics contract and packaging."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import site
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge

from training import train
from training.common import (
    Feature,
    FeatureType,
    SchemaError,
    coerce_features,
    compute_metrics,
    extract_model,
    infer_feature_type,
    package_model,
    read_csv_folder,
    write_json,
)
from training.metrics import (
    DEFAULT_GATE_METRIC,
    ESTIMATORS,
    METRIC_DEFINITIONS,
    METRIC_NAMES,
    ProblemType,
    format_metric_line,
    gate_metric,
)

REPO = Path(__file__).resolve().parents[2]


# --- reading and typing -------------------------------------------------------------------------


def test_read_csv_folder_reads_every_shard_recursively_in_path_order(
    tmp_path, cancer_frame, shards
):
    shards(cancer_frame, tmp_path, shards=3)  # part-000, part-001, nested/part-002
    data = read_csv_folder(tmp_path)
    assert len(data) == len(cancer_frame)
    last_shard_first_row = cancer_frame.iloc[len(cancer_frame) - len(cancer_frame) // 3]
    assert float(data.iloc[0]["mean radius"]) == last_shard_first_row["mean radius"]
    assert list(data.columns) == list(cancer_frame.columns)


def test_read_csv_folder_keeps_text_as_written(tmp_path):
    (tmp_path / "a.csv").write_text("code,value\n007,1.50\n,2\n")
    data = read_csv_folder(tmp_path)
    assert data["code"].iloc[0] == "007"
    assert pd.isna(data["code"].iloc[1])


def test_read_csv_folder_ignores_files_that_are_not_csv(tmp_path):
    (tmp_path / "a.csv").write_text("x,y\n1,2\n")
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / "notes.txt").write_text("x,z\n")
    assert read_csv_folder(tmp_path).shape == (1, 2)


def test_reading_a_missing_folder_is_a_schema_error(tmp_path):
    with pytest.raises(SchemaError, match="is not a directory"):
        read_csv_folder(tmp_path / "absent")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "2.5", None, "-3e2"], FeatureType.NUMERIC),
        (["red", "blue", None], FeatureType.CATEGORICAL),
        ([1.0, np.nan, 3.0], FeatureType.NUMERIC),
        ([True, False], FeatureType.CATEGORICAL),
    ],
)
def test_infer_feature_type(values, expected):
    assert infer_feature_type("x", pd.Series(values)) is expected


def test_infer_feature_type_rejects_datetimes_by_name():
    with pytest.raises(SchemaError, match="column 'when' has unsupported type datetime64"):
        infer_feature_type("when", pd.Series(pd.to_datetime(["2024-01-01", "2024-02-01"])))


def test_coerce_features_types_columns_and_orders_them():
    data = pd.DataFrame({"colour": [3, None], "size": ["1.5", "2"], "extra": ["a", "b"]})
    features = [Feature("size", FeatureType.NUMERIC), Feature("colour", FeatureType.CATEGORICAL)]
    typed = coerce_features(data, features)
    assert list(typed.columns) == ["size", "colour"]
    assert typed["size"].tolist() == [1.5, 2.0]
    assert typed["colour"].iloc[0] == "3.0" and pd.isna(typed["colour"].iloc[1])


def test_coerce_features_names_bad_numeric_values():
    with pytest.raises(SchemaError, match="column 'size' must be numeric \\(got 'big'\\)"):
        coerce_features(
            pd.DataFrame({"size": ["1", "big"]}), [Feature("size", FeatureType.NUMERIC)]
        )


# --- metrics ------------------------------------------------------------------------------------


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


@pytest.mark.parametrize("problem_type", list(ProblemType))
def test_metric_definitions_parse_the_lines_train_prints(problem_type):
    values = {name: -0.25 if name == "r2" else 12.5 for name in METRIC_NAMES[problem_type]}
    log = "\n".join(format_metric_line("validation", n, v) for n, v in values.items())
    log += "\n" + "\n".join(format_metric_line("train", n, 99.0) for n in values)
    for definition in METRIC_DEFINITIONS[problem_type]:
        matches = re.findall(definition["Regex"], log)
        assert [float(m) for m in matches] == [values[definition["Name"].split(":")[1]]]


def test_metric_line_matches_the_tuner_regex_from_the_contract():
    assert re.search(
        r"validation:accuracy=([0-9\.]+);", format_metric_line("validation", "accuracy", 0.9561)
    )


def test_default_gate_metrics():
    accuracy = DEFAULT_GATE_METRIC[ProblemType.CLASSIFICATION]
    r2 = DEFAULT_GATE_METRIC["regression"]
    assert (accuracy.json_path, accuracy.higher_is_better) == (
        "classification_metrics.accuracy.value",
        True,
    )
    assert (r2.json_path, r2.higher_is_better) == ("regression_metrics.r2.value", True)
    assert gate_metric("regression", "rmse").higher_is_better is False
    assert gate_metric("regression", "mae").higher_is_better is False
    assert gate_metric("regression", "r2").higher_is_better is True
    assert gate_metric("classification", "roc_auc").tuning_metric == "validation:roc_auc"


def test_gate_metric_rejects_a_metric_of_the_other_problem_type():
    with pytest.raises(ValueError, match="'rmse' is not a classification metric"):
        gate_metric("classification", "rmse")


def test_metrics_module_imports_only_the_standard_library():
    code = (
        "import sys, training.metrics\n"
        "heavy = {'numpy', 'pandas', 'sklearn', 'matplotlib', 'joblib'} & set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)


# --- JSON -----------------------------------------------------------------------------------------


def test_write_json_is_strict_sorted_and_converts_numpy(tmp_path):
    path = write_json(
        tmp_path / "deep" / "x.json",
        {"b": np.float64("nan"), "a": np.int64(3), "c": (np.float32(0.5), ProblemType.REGRESSION)},
    )
    text = path.read_text()
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}")) == {
        "a": 3,
        "b": None,
        "c": [0.5, "regression"],
    }
    assert text.index('"a"') < text.index('"b"') < text.index('"c"')


# --- train arguments ----------------------------------------------------------------------------


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


# --- packaging ----------------------------------------------------------------------------------


def test_package_model_is_reproducible_and_flat(tmp_path):
    model_dir = tmp_path / "model"
    (model_dir / "code").mkdir(parents=True)
    (model_dir / "schema.json").write_text("{}")
    (model_dir / "model.joblib").write_bytes(b"\x00model")
    (model_dir / "code" / "inference.py").write_text("x = 1\n")
    first = package_model(model_dir, tmp_path / "a" / "model.tar.gz").read_bytes()
    os.utime(model_dir / "model.joblib", (1, 1))
    second = package_model(model_dir, tmp_path / "b" / "model.tar.gz").read_bytes()
    assert first == second
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["code/inference.py", "model.joblib", "schema.json"]
    assert {m.mtime for m in members} == {0}


def test_extract_model_round_trips_an_archive(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.joblib").write_bytes(b"weights")
    (model_dir / "schema.json").write_text('{"a": 1}')
    package_model(model_dir, tmp_path / "input" / "model.tar.gz")
    extracted = extract_model(tmp_path / "input", tmp_path / "extracted")
    assert (extracted / "model.joblib").read_bytes() == b"weights"
    assert (extracted / "schema.json").read_text() == '{"a": 1}'
    assert extract_model(model_dir, tmp_path / "unused") == model_dir


def test_extract_model_refuses_members_outside_the_destination(tmp_path):
    archive = tmp_path / "input" / "model.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(tarfile.FilterError):
        extract_model(archive.parent, tmp_path / "out" / "model")
    assert not (tmp_path / "out" / "escaped.txt").exists()


def test_extract_model_says_what_it_found_when_there_is_no_model(tmp_path):
    (tmp_path / "readme.txt").write_text("")
    with pytest.raises(FileNotFoundError, match=r"no model.joblib or model.tar.gz .*readme.txt"):
        extract_model(tmp_path, tmp_path / "out")


# --- scripts run as files (the container's way) -------------------------------------------------


def container_code(tmp_path: Path) -> tuple[list[str], dict[str, str], Path]:
    """A python command and environment like the container's: the uploaded source folder
    (/opt/ml/code/training/...) and site-packages, but not this checkout's editable install,
    so `import training` works only through the scripts' own bootstrap."""
    code_dir = tmp_path / "opt-ml-code"
    shutil.copytree(
        REPO / "training", code_dir / "training", ignore=shutil.ignore_patterns("__pycache__")
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(site.getsitepackages())}
    return [sys.executable, "-S"], env, code_dir


def test_train_runs_as_a_file_like_the_container_runs_it(classification_run, tmp_path):
    python, env, code_dir = container_code(tmp_path)
    env.update(
        {
            "SM_MODEL_DIR": str(tmp_path / "model"),
            "SM_CHANNEL_TRAIN": str(classification_run.processed / "train"),
            "SM_CHANNEL_VALIDATION": str(classification_run.processed / "validation"),
            "SM_CHANNEL_TRANSFORM": str(classification_run.processed / "transform"),
        }
    )
    result = subprocess.run(
        [
            *python,
            "training/train.py",
            "--estimator",
            '"linear"',
            "--problem-type",
            "classification",
            "--sagemaker_program",
            "training/train.py",
        ],
        cwd=code_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"validation:accuracy=([0-9\.]+);", result.stdout)
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["model.joblib", "schema.json"]


def test_every_script_bootstraps_when_executed_as_a_file(tmp_path):
    """Execute each file as __main__ (like `python training/x.py --help`) in one interpreter;
    inference.py is imported as a top-level module, the way the serving container loads it."""
    python, env, code_dir = container_code(tmp_path)
    code = (
        "import runpy, sys\n"
        "clean_path = list(sys.path)\n"
        "for path in sys.argv[1:]:\n"
        "    sys.path[:] = clean_path  # each script must find `training` on its own\n"
        "    for name in [m for m in sys.modules if m.split('.')[0] == 'training']:\n"
        "        del sys.modules[name]\n"
        "    sys.argv = [path, '--help']\n"
        "    try:\n"
        "        name = 'inference' if path.endswith('inference.py') else '__main__'\n"
        "        runpy.run_path(path, run_name=name)\n"
        "    except SystemExit as done:\n"
        "        assert done.code == 0, (path, done.code)\n"
        "    print('ok', path)\n"
    )
    scripts = [
        str(code_dir / "training" / f"{name}.py")
        for name in ("profile", "preprocess", "evaluate", "inference")
    ]
    result = subprocess.run(
        [*python, "-c", code, *scripts],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("usage: ") == 3
    assert result.stdout.count("ok ") == 4
