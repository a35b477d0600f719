"""The contract: tuner metric definitions, gate metrics, and one home for every shared name."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.python_source import parse_file
from training import contract
from training.contract import (
    DEFAULT_GATE_METRIC,
    METRIC_DEFINITIONS,
    METRIC_NAMES,
    ProblemType,
    format_metric_line,
    gate_gap,
    gate_metric,
)

REPO = Path(__file__).resolve().parents[2]

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
    balanced = DEFAULT_GATE_METRIC[ProblemType.CLASSIFICATION]
    r2 = DEFAULT_GATE_METRIC["regression"]
    assert (balanced.json_path, balanced.higher_is_better) == (
        "classification_metrics.balanced_accuracy.value",
        True,
    )
    assert gate_metric("classification", "accuracy").json_path == (
        "classification_metrics.accuracy.value")
    assert (r2.json_path, r2.higher_is_better) == ("regression_metrics.r2.value", True)
    assert gate_metric("regression", "rmse").higher_is_better is False
    assert gate_metric("regression", "mae").higher_is_better is False
    assert gate_metric("regression", "r2").higher_is_better is True
    assert gate_metric("classification", "roc_auc").tuning_metric == "validation:roc_auc"


@pytest.mark.parametrize(("metric", "model", "reference", "gap"), [
    ("balanced_accuracy", 0.9, 0.5, 0.4),
    ("r2", 0.1, 0.3, -0.2),
    ("rmse", 40.0, 50.0, 0.2),  # 20% less error than the reference
    ("mae", 60.0, 50.0, -0.2),
    ("rmse", 0.0, 0.0, 0.0),
])
def test_gate_gap_is_positive_when_the_model_is_better(metric, model, reference, gap):
    assert gate_gap(metric, model, reference) == pytest.approx(gap)


def test_gate_metric_rejects_a_metric_of_the_other_problem_type():
    with pytest.raises(ValueError, match="'rmse' is not a classification metric"):
        gate_metric("classification", "rmse")


@pytest.mark.parametrize("module", ["training.contract", "training.baseline"])
def test_light_modules_import_only_the_standard_library(module):
    """The builder imports the contract, and a drift checker the baseline reader, cheaply."""
    code = (
        f"import sys, {module}\n"
        "heavy = {'numpy', 'pandas', 'sklearn', 'matplotlib', 'joblib'} & set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)


# --- one home for each name ----------------------------------------------------------------------

SHARED_LITERALS = {
    value: name
    for name, value in vars(contract).items()
    if name.isupper()
    and isinstance(value, str)
    and (name.endswith(("_FILE", "_DIR", "_ROOT", "_ARCHIVE", "_TARBALL")))
    # A folder name that is a plain word (MODEL_CODE_DIR = "code") is checked as a path only.
    and (not name.endswith("_DIR") or "/" in value)
}
SHARED_LITERALS.update({split: "SPLITS" for split in contract.SPLITS})


def string_literals(path: Path) -> list[tuple[int, str]]:
    """(line, value) of every string constant in `path` except docstrings."""
    tree = parse_file(path)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_the_scan_finds_a_retyped_file_name(tmp_path):
    module = tmp_path / "job.py"
    module.write_text('"""Writes model.joblib."""\nPATH = "model.joblib"\n')
    assert [value for _, value in string_literals(module) if value in SHARED_LITERALS] == [
        "model.joblib"
    ]


@pytest.mark.parametrize(
    "path", sorted(p.name for p in (REPO / "training").glob("*.py") if p.name != "contract.py")
)
def test_job_code_imports_file_names_and_paths_from_the_contract(path):
    retyped = [
        f"line {line}: {value!r} is contract.{SHARED_LITERALS[value]}"
        for line, value in string_literals(REPO / "training" / path)
        if value in SHARED_LITERALS or value.startswith(contract.CONTAINER_ROOT)
    ]
    assert not retyped, retyped

