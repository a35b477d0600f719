"""The reference a drift check compares traffic with: the baseline's statistics.json as arrays.

The baseline is Model Monitor's ``statistics.json`` (ours, written by the Profile job, or Model
Monitor's own); its features are listed in the column order CSV requests send them. Numeric
features keep their bucket bounds and counts and, when the file has one, the KLL sketch as a
CDF; categorical features keep their category counts. A date column (our ``monitoring``
extension, see `training.baseline`) is read as text and compared as days since the epoch, on
the numeric distribution the extension holds. Columns the baseline lists as skipped (IDs,
constants) are not monitored; they and the target (when the baseline names it) may come with a
request, which reads them as the endpoint does (`Baseline.request_columns`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from training.baseline import (
    DATETIME_KIND,
    FRACTIONAL,
    INTEGRAL,
    MONITORING_KEY,
    SKIPPED_COLUMNS_KEY,
    STRING,
    TARGET_KEY,
)
from training.contract import BASELINE_STATISTICS_FILE, FeatureType
from training.serve.request_body import RequestColumns

NUMERIC_TYPES = (INTEGRAL, FRACTIONAL)
STRING_TYPE = STRING


class DriftInputError(ValueError):
    """A baseline or argument the drift job cannot use (one line for the user)."""



@dataclass(frozen=True)
class FeatureBaseline:
    """What the drift checks need of one baseline feature."""

    name: str
    inferred_type: str
    num_present: float
    num_missing: float
    lower: np.ndarray = field(default_factory=lambda: np.empty(0))
    upper: np.ndarray = field(default_factory=lambda: np.empty(0))
    counts: np.ndarray = field(default_factory=lambda: np.empty(0))
    sketch_values: np.ndarray | None = None
    sketch_cdf: np.ndarray | None = None
    categories: Mapping[str, float] = field(default_factory=dict)
    date_format: str | None = None
    """A date column's format (its ``kind`` is ``datetime``): text parsed as the model does."""
    is_date: bool = False

    @property
    def is_numeric(self) -> bool:
        """Whether requests send numbers in this column (else text: categories, dates)."""
        return self.inferred_type in NUMERIC_TYPES

    @property
    def kind(self) -> str:
        """How the column is monitored: numeric, categorical or datetime."""
        if self.is_date:
            return DATETIME_KIND
        return (FeatureType.NUMERIC if self.is_numeric else FeatureType.CATEGORICAL).value

    @property
    def missing_rate(self) -> float:
        total = self.num_present + self.num_missing
        return self.num_missing / total if total else 0.0


@dataclass(frozen=True)
class Baseline:
    item_count: int
    features: tuple[FeatureBaseline, ...]
    skipped: Mapping[str, str] = field(default_factory=dict)
    """Input columns not monitored (a request may send them) -> the reason."""
    target: str | None = None
    """The label column (a request may send it; the endpoint ignores it); None in a baseline
    that does not name it (Model Monitor's own, or ours before it did)."""

    @property
    def names(self) -> list[str]:
        return [feature.name for feature in self.features]

    @property
    def request_columns(self) -> RequestColumns:
        """The columns a request may send, as the endpoint reads them."""
        return RequestColumns.of(self.names, [*self.skipped, self.target])


def _sketch(name: str, sketch: Any) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """Sorted values and CDF of a KLL sketch (level i items weigh 2**i); (None, None) if none."""
    levels = (sketch or {}).get("data") or []
    values, weights = [], []
    for level, items in enumerate(levels):
        items = [float(item) for item in items or [] if item is not None]
        values.extend(items)
        weights.extend([2.0**level] * len(items))
    if not values:
        return None, None
    order = np.argsort(values, kind="stable")
    sorted_values = np.asarray(values)[order]
    cdf = np.cumsum(np.asarray(weights)[order])
    unique, last = np.unique(sorted_values[::-1], return_index=True)
    cdf_at_unique = cdf[::-1][last]
    return unique, cdf_at_unique / cdf[-1]


def _feature_baseline(index: int, data: Mapping[str, Any], where: str) -> FeatureBaseline:
    name = data.get("name")
    inferred = data.get("inferred_type")
    if not isinstance(name, str) or not name:
        raise DriftInputError(f"{where}: features[{index}] has no name")
    if inferred not in (*NUMERIC_TYPES, STRING_TYPE):
        raise DriftInputError(
            f"{where}: feature {name!r} has inferred_type {inferred!r} "
            f"(allowed: {', '.join((*NUMERIC_TYPES, STRING_TYPE))})"
        )
    section = "string_statistics" if inferred == STRING_TYPE else "numerical_statistics"
    stats = data.get(section)
    if not isinstance(stats, Mapping):
        raise DriftInputError(f"{where}: feature {name!r} ({inferred}) has no {section}")
    common = stats.get("common") or {}
    present = float(common.get("num_present") or 0)
    missing = float(common.get("num_missing") or 0)
    distribution = stats.get("distribution") or {}
    monitoring = data.get(MONITORING_KEY)
    if isinstance(monitoring, Mapping) and monitoring.get("kind") == DATETIME_KIND:
        days = monitoring.get("numerical_statistics")
        if not isinstance(days, Mapping):
            raise DriftInputError(f"{where}: date feature {name!r} has no "
                                  f"{MONITORING_KEY}.numerical_statistics")
        common = days.get("common") or {}
        return FeatureBaseline(
            name, inferred, float(common.get("num_present") or 0),
            float(common.get("num_missing") or 0), *_buckets(name, days, where),
            date_format=monitoring.get("format"), is_date=True)
    if inferred == STRING_TYPE:
        buckets = (distribution.get("categorical") or {}).get("buckets") or []
        categories = {str(b["value"]): float(b["count"]) for b in buckets if "value" in b}
        return FeatureBaseline(name, inferred, present, missing, categories=categories)
    return FeatureBaseline(name, inferred, present, missing, *_buckets(name, stats, where))


def _buckets(name: str, stats: Mapping[str, Any], where: str) -> tuple[Any, ...]:
    """(lower, upper, counts, sketch values, sketch CDF) of a numerical_statistics section."""
    kll = (stats.get("distribution") or {}).get("kll") or {}
    buckets = kll.get("buckets") or []
    try:
        lower = np.array([float(b["lower_bound"]) for b in buckets])
        upper = np.array([float(b["upper_bound"]) for b in buckets])
        counts = np.array([float(b["count"]) for b in buckets])
    except (KeyError, TypeError, ValueError) as error:
        raise DriftInputError(
            f"{where}: feature {name!r} has a kll bucket without lower_bound/upper_bound/count"
        ) from error
    if len(buckets) == 0 or np.any(np.diff(upper) < 0) or counts.sum() <= 0:
        raise DriftInputError(
            f"{where}: feature {name!r} needs kll buckets in increasing order with counts "
            f"(got {len(buckets)} buckets)"
        )
    values, cdf = _sketch(name, kll.get("sketch"))
    return lower, upper, counts, values, cdf


def load_baseline(path: str | Path) -> Baseline:
    """Read Model Monitor's ``statistics.json`` (a file, or the folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / BASELINE_STATISTICS_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise DriftInputError(f"{path}: baseline statistics not found") from error
    except ValueError as error:
        raise DriftInputError(f"{path}: not valid JSON ({error})") from error
    return baseline_of_document(data, str(path))


def baseline_of_document(data: Any, where: str = BASELINE_STATISTICS_FILE) -> Baseline:
    """The baseline of a parsed ``statistics.json`` document (`where` names it in errors)."""
    features = data.get("features") if isinstance(data, Mapping) else None
    if not isinstance(features, list) or not features:
        raise DriftInputError(f"{where}: needs a non-empty 'features' list (Model Monitor format)")
    parsed = tuple(_feature_baseline(i, f, where) for i, f in enumerate(features))
    names = [feature.name for feature in parsed]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DriftInputError(f"{where}: duplicate feature names {duplicates}")
    item_count = int((data.get("dataset") or {}).get("item_count") or 0)
    skipped = {str(entry.get("name")): str(entry.get("reason", ""))
               for entry in data.get(SKIPPED_COLUMNS_KEY) or [] if isinstance(entry, Mapping)}
    target = data.get(TARGET_KEY)
    return Baseline(item_count, parsed, skipped, target if isinstance(target, str) else None)
