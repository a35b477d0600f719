"""Each shared name is defined once: no other module of the SDK spells it as a literal.

File names, step outputs and container paths belong to ``training/contract.py``; bucket
prefixes to ``bucket_layout.py``; pipeline parameter and step names to
``sagemaker/spec.py``. A string constant equal to one of them (or any ``/opt/ml`` path)
anywhere else in ``mlops_components/`` is a copy that a rename would miss. Docstrings are
prose and are not read.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mlops_components.bucket_layout import PREFIXES
from mlops_components.sagemaker.monitor_spec import DRIFT_CHECK_STEP, MonitorParameter
from mlops_components.sagemaker.spec import PipelineParameter, StepName
from tests.conftest import REPO_ROOT
from tests.python_source import parse_file
from training import contract

PACKAGE = REPO_ROOT / "mlops_components"

#: Contract values, and the one module allowed to spell each group.
FACTS: dict[str, tuple[Path, set[str]]] = {
    "contract file name": (REPO_ROOT / "training" / "contract.py", {
        value for name, value in vars(contract).items()
        if name.endswith(("_FILE", "_ARCHIVE", "_TARBALL")) and isinstance(value, str)
        and not value.startswith("/")}),
    "bucket prefix": (PACKAGE / "bucket_layout.py", set(PREFIXES.values())),
    # ModelApprovalStatus is also the field of SageMaker's model package API, by that name.
    "pipeline parameter": (PACKAGE / "sagemaker" / "spec.py",
                           {member.value for member in PipelineParameter}
                           - {PipelineParameter.MODEL_APPROVAL_STATUS.value}),
    "step name": (PACKAGE / "sagemaker" / "spec.py", {member.value for member in StepName}),
    "monitor parameter or step": (PACKAGE / "sagemaker" / "monitor_spec.py",
                                  {member.value for member in MonitorParameter}
                                  | {DRIFT_CHECK_STEP}),
    "drift metric, dimension or namespace": (REPO_ROOT / "training" / "contract.py", {
        contract.DRIFT_METRIC_NAMESPACE, contract.DRIFT_DETECTED_METRIC,
        contract.FEATURE_DRIFT_SCORE_METRIC, contract.SCHEMA_VIOLATIONS_METRIC,
        contract.ENDPOINT_DIMENSION, contract.MODEL_DIMENSION}),
}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def literal_copies(path: Path) -> list[str]:
    """``file:line: 'value' (kind)`` for every contract literal spelled in ``path``."""
    tree = parse_file(path)
    skip = _docstrings(tree)
    copies = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str) \
                or id(node) in skip:
            continue
        for kind, (owner, values) in FACTS.items():
            if path != owner and node.value in values:
                copies.append(f"{path.name}:{node.lineno}: {node.value!r} ({kind})")
        if node.value.startswith(contract.CONTAINER_ROOT):
            copies.append(f"{path.name}:{node.lineno}: {node.value!r} (container path)")
    return copies


def test_no_module_of_the_sdk_copies_a_shared_name():
    copies = [copy for path in sorted(PACKAGE.rglob("*.py")) for copy in literal_copies(path)]
    assert copies == []


@pytest.mark.parametrize("literal", ['"evaluation.json"', '"raw/"', '"MetricThreshold"',
                                     '"/opt/ml/processing/output"'])
def test_a_copied_literal_is_found(tmp_path, literal):
    module = tmp_path / "module.py"
    module.write_text(f'"""Docstring naming evaluation.json is fine."""\nNAME = {literal}\n')
    assert len(literal_copies(module)) == 1
