"""JSON the jobs write: strict, sorted, numpy-free."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training.contract import ProblemType
from training.jsonio import write_json


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

