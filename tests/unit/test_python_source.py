"""The tests that read code parse it safely even when garbage with finalizers is pending."""

from __future__ import annotations

import ast
import gc
import warnings
from collections.abc import Iterator

import pytest

from tests.conftest import REPO_ROOT
from tests.python_source import parse

SOURCE = (REPO_ROOT / "mlops_components" / "sagemaker" / "builder.py").read_text()


class _Garbage:
    """A reference cycle whose finalizer warns and parses, as pending Pulumi coroutines do."""

    finalized = 0

    def __init__(self) -> None:
        self.cycle = self

    def __del__(self) -> None:
        _Garbage.finalized += 1
        warnings.warn("finalizer ran", RuntimeWarning, stacklevel=1)
        ast.parse("x = [1, [2, [3]]]")


@pytest.fixture
def eager_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    gc.set_threshold(50)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)


@pytest.mark.filterwarnings("ignore:finalizer ran:RuntimeWarning")
@pytest.mark.usefixtures("eager_collector")
def test_parse_survives_finalizers_of_pending_garbage() -> None:
    gc.collect()
    _Garbage.finalized = 0
    for _ in range(20):
        _Garbage()
    tree = parse(SOURCE)  # fails with plain ast.parse: the collector runs finalizers in it
    assert _Garbage.finalized == 0  # no collection during the parse ...
    assert gc.isenabled()
    gc.collect()
    assert _Garbage.finalized == 20  # ... and the garbage is collected afterwards
    assert any(isinstance(node, ast.FunctionDef) for node in tree.body)
