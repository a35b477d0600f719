"""Text becomes numbers exactly as float() reads it, in every environment the jobs run in."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.data.features import to_float
from training.data.floats import to_floats


def decimal_texts(count: int = 20_000, seed: int = 0) -> list[str]:
    """Shortest round-trip texts of floats of many magnitudes (what to_csv and json write)."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(count) * 10.0 ** rng.integers(-6, 7, count)
    return [repr(float(v)) for v in values]


def test_decimal_text_reads_as_float_reads_it():
    texts = decimal_texts()
    # the example of pandas 2.2's to_numeric landing a float away (the image's pandas)
    texts.append("-0.0029449126784123676")
    numbers = to_floats(pd.Series(texts, dtype=object)).to_numpy()
    assert numbers.tolist() == [float(text) for text in texts]


def test_what_is_not_a_number_is_missing_and_numbers_pass_through():
    values = pd.Series(["1.5", " 2 ", "", "abc", None, np.nan, 3, 4.25, "nan"], dtype=object)
    numbers = to_floats(values)
    assert numbers.index.equals(values.index)
    assert numbers.tolist()[:2] == [1.5, 2.0] and numbers.tolist()[6:8] == [3.0, 4.25]
    assert numbers.isna().tolist() == [False, False, True, True, True, True, False, False, True]
    typed = pd.Series([1, 2], dtype="int64")
    assert to_floats(typed).dtype == np.float64 and to_floats(typed).tolist() == [1.0, 2.0]


def test_the_models_number_transform_reads_text_the_same_way():
    texts = decimal_texts(2_000, seed=1)
    frame = pd.DataFrame({"a": texts, "b": texts[::-1]}, dtype=object)
    assert to_float(frame)[:, 0].tolist() == [float(text) for text in texts]


def test_a_typed_frame_converts_as_each_column_would_on_its_own():
    """The model's transform takes a frame of numbers in one conversion; it must give what
    converting column by column gives, nullable and boolean dtypes included."""
    frame = pd.DataFrame({
        "float": [1.5, np.nan, -0.0029449126784123676],
        "int": pd.Series([1, 2, 3], dtype="int64"),
        "uint": pd.Series([1, 2, 2**40], dtype="uint64"),
        "nullable": pd.Series([1, None, 3], dtype="Int64"),
        "bool": [True, False, True],
        "nullable_bool": pd.Series([True, None, False], dtype="boolean"),
        "float32": pd.Series([0.1, 0.2, np.nan], dtype="float32"),
    })
    by_column = np.column_stack([to_floats(frame[name]).to_numpy(dtype="float64",
                                                                  na_value=np.nan)
                                 for name in frame.columns])
    together = to_float(frame)
    assert together.dtype == np.float64
    np.testing.assert_array_equal(together, by_column)
    mixed = frame.assign(text=["1", "x", "2.5"])  # one text column: the general path
    np.testing.assert_array_equal(to_float(mixed)[:, -1], [1.0, np.nan, 2.5])
