"""The streaming state of a drift check: fixed-size counts per feature, updated chunk by chunk.

Per numeric feature, counts per baseline bucket (PSI) and at the baseline's CDF points (KS);
per categorical feature, counts per baseline category and of unseen ones (bounded); per
feature, missing values and text in numeric columns. Memory is bounded by the chunk, not the
window.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from training.baseline import bucket_counts
from training.data.floats import to_floats
from training.monitor.reference import Baseline, FeatureBaseline

OTHER_CATEGORY = "__other__"
MAX_TRACKED_NEW_CATEGORIES = 1000
"""Distinct unseen categories remembered by name; more are only counted (bounded memory)."""


class NumericWindow:
    """Bucket counts (PSI), counts at CDF points (KS), missing and type-mismatch counts.

    Buckets are (lower, upper], the outer two open-ended. Without a sketch the CDF points are
    the buckets' upper bounds, where the baseline's CDF is known exactly (not the first lower
    bound, the minimum: how many rows sit on it is unknown, and taking 0 there made a column
    whose minimum is common, or a constant one, drift against its own rows), so one pass of
    `bucket_counts` serves both metrics.
    """

    def __init__(self, baseline: FeatureBaseline) -> None:
        self.baseline = baseline
        self.edges = baseline.upper[:-1]
        self.shared_grid = baseline.sketch_values is None
        if self.shared_grid:
            self.grid = baseline.upper
            self.base_cdf = np.cumsum(baseline.counts) / baseline.counts.sum()
        else:
            self.grid, self.base_cdf = baseline.sketch_values, baseline.sketch_cdf
        self.bucket_counts = np.zeros(len(baseline.counts), dtype=np.int64)
        self.grid_counts = np.zeros(len(self.grid) + 1, dtype=np.int64)
        self.present = self.missing = self.mismatched = 0
        self.total = 0.0
        self.minimum, self.maximum = math.inf, -math.inf

    @property
    def counts(self) -> np.ndarray:
        """Counts per baseline bucket (outer buckets open-ended)."""
        if not self.shared_grid:
            return self.bucket_counts
        counts = self.grid_counts[:-1].copy()
        counts[-1] += self.grid_counts[-1]
        return counts

    def update(self, values: np.ndarray, mismatched: int = 0) -> None:
        """Add a column of floats (NaN = missing; `mismatched` of those were not numbers)."""
        values = np.asarray(values, dtype=np.float64)
        missing = int(np.count_nonzero(np.isnan(values)))
        self.missing += missing
        self.mismatched += mismatched
        present = len(values) - missing
        if not present:
            return
        self.present += present
        self.grid_counts += bucket_counts(self.grid, values, present)
        if not self.shared_grid:
            self.bucket_counts += bucket_counts(self.edges, values, present)
        if missing:
            self.total += float(np.nansum(values))
            self.minimum = min(self.minimum, float(np.nanmin(values)))
            self.maximum = max(self.maximum, float(np.nanmax(values)))
        else:  # the nan* reductions copy
            self.total += float(values.sum())
            self.minimum = min(self.minimum, float(values.min()))
            self.maximum = max(self.maximum, float(values.max()))


class DateWindow(NumericWindow):
    """A date column: its text parsed as the model parses it, counted as days since the epoch
    on the baseline's day buckets; a value that is not a date is a type mismatch (and missing,
    as the model imputes it)."""

    def update(self, values: Any, mismatched: int = 0) -> None:
        from training.eda.drift_baseline import date_days  # pandas' date parsing, as trained

        text = pd.Series(values, dtype=object).reset_index(drop=True)
        present = text.notna() & (text.astype(str).str.strip() != "")
        days = date_days(text.where(present, None), self.baseline.date_format).to_numpy(
            dtype=np.float64, na_value=np.nan)
        unparsed = int(np.count_nonzero(present.to_numpy() & np.isnan(days)))
        super().update(days, mismatched + unparsed)


class CategoricalWindow:
    """Counts of the baseline's categories, of unseen ones (bounded), and of missing values."""

    def __init__(self, baseline: FeatureBaseline) -> None:
        self.baseline = baseline
        self.counts: Counter[str] = Counter()
        self.new_categories: Counter[str] = Counter()
        self.present = self.missing = self.mismatched = 0

    def update(self, values: pd.Series) -> None:
        """Add a column of values (None/NaN/empty = missing; others compared as text)."""
        text = values[values.notna()].astype(str)
        text = text[text.str.strip() != ""]
        self.missing += len(values) - len(text)
        self.present += len(text)
        for value, count in text.value_counts().items():
            if value in self.baseline.categories:
                self.counts[value] += int(count)
            else:
                self.counts[OTHER_CATEGORY] += int(count)
                if value in self.new_categories or len(self.new_categories) < \
                        MAX_TRACKED_NEW_CATEGORIES:
                    self.new_categories[value] += int(count)


@dataclass
class WindowStatistics:
    """Everything the report needs about a window, in memory independent of its size."""

    baseline: Baseline
    windows: dict[str, NumericWindow | CategoricalWindow] = field(default_factory=dict)
    files: int = 0
    lines: int = 0
    records: int = 0
    rows: int = 0
    malformed: Counter = field(default_factory=Counter)
    new_columns: Counter = field(default_factory=Counter)
    absent_columns: Counter = field(default_factory=Counter)
    named_rows: int = 0
    header_rows: int = 0
    """Requests whose first row was a header, skipped as the endpoint skips it."""

    def __post_init__(self) -> None:
        for feature in self.baseline.features:
            self.windows[feature.name] = window_of(feature)

    def update_frame(self, frame: pd.DataFrame) -> None:
        """Add rows whose columns are named like the baseline's features (any dtype)."""
        self.rows += len(frame)
        for name, window in self.windows.items():
            if name not in frame.columns:
                column = pd.Series([None] * len(frame), dtype=object)
            else:
                column = frame[name]
            if isinstance(window, (CategoricalWindow, DateWindow)):
                window.update(column)
            else:
                values, mismatched = numeric_values(column)
                window.update(values, mismatched)


def window_of(feature: FeatureBaseline) -> NumericWindow | CategoricalWindow:
    """The window that counts a baseline feature: dates, numbers, or categories."""
    if feature.is_date:
        return DateWindow(feature)
    return NumericWindow(feature) if feature.is_numeric else CategoricalWindow(feature)


def numeric_values(column: pd.Series) -> tuple[np.ndarray, int]:
    """Floats of a column (NaN = missing) and how many present values were not numbers."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=np.float64, na_value=np.nan), 0
    numbers = to_floats(column)
    present = column.notna() & (column.astype(str).str.strip() != "")
    mismatched = int((present & numbers.isna()).sum())
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan), mismatched
