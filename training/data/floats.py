"""Text to numbers, one rule for every job and the endpoint: exactly as Python's float() reads.

pandas 2.2 (the image's) parses decimal text in `pd.to_numeric` with its own fast routine,
which lands some values one float away from the correctly rounded one (`float()`, pyarrow and
`read_csv(float_precision="round_trip")` agree with each other, not with it). A value that
sits on a drift bucket's edge then falls into the neighbouring bucket on one side only, and a
model may see a value its training never saw. Every place that turns text into numbers reads
it here instead.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def _float_or_nan(value: object) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def to_floats(values: pd.Series) -> pd.Series:
    """float64 values of a column of text or numbers (same index); NaN where a value is
    missing or not a number. Booleans read as 1.0 / 0.0, as pandas reads them."""
    if values.dtype != object:
        return pd.to_numeric(values, errors="coerce").astype("float64")
    array = values.to_numpy(dtype=object)
    try:
        numbers = array.astype(np.float64)  # float() on each value, in C
    except (TypeError, ValueError):  # some value is not a number: one at a time
        numbers = np.fromiter((_float_or_nan(v) for v in array), np.float64, len(array))
    return pd.Series(numbers, index=values.index, name=values.name)
