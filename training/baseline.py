"""The drift baseline in SageMaker Model Monitor's format: statistics.json and constraints.json.

The pipeline registers these files as the model's DriftCheckBaselines, so Model Monitor (and a
QualityCheckStep) can read them; the drift job reads them with
`training.monitor.reference.load_baseline` (arrays for its metrics), while `read_baseline` here
gives one plain record per feature for inspection. Features are the model's inputs in the order
a request sends them (the target is not one).

statistics.json (AWS "Schema for Statistics"):
    {"version": 0.0, "dataset": {"item_count"}, "features": [{"name", "inferred_type",
     "numerical_statistics": {"common": {"num_present", "num_missing"}, "mean", "sum",
     "std_dev", "min", "max", "distribution": {"kll": {"buckets", "sketch"}}}} |
     {"name", "inferred_type": "String", "string_statistics": {"common", "distinct_count",
     "distribution": {"categorical": {"buckets": [{"value", "count"}]}}}}]}
    Our extensions, which Model Monitor ignores: a date column's entry adds ``monitoring``
    (its days since the epoch as ``numerical_statistics``, compared instead of its text) and
    the document ``skipped_columns`` (columns a request may send that are not monitored, with
    the feature plan's reason) and ``target`` (the label column, which a request may also send
    and the endpoint ignores). Which column is a date or skipped is the feature plan's call
    (`training.eda.drift_baseline`).
constraints.json (AWS "Schema for Constraints"):
    {"version": 0.0, "features": [{"name", "inferred_type", "completeness",
     "num_constraints" | "string_constraints"}], "monitoring_config": {...}}

The module imports the standard library only: the writer takes any column container whose
columns have ``tolist()`` (a pandas DataFrame) or are sequences, and a drift checker or the
pipeline builder can import the reader without numpy or pandas. `bucket_counts`, the one
bucketing rule of the baseline and the drift checks, imports numpy when it is called.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from training.contract import FeatureType

FORMAT_VERSION = 0.0
INTEGRAL, FRACTIONAL, STRING = "Integral", "Fractional", "String"
MONITOR_FEATURE_TYPES: dict[str, FeatureType] = {
    INTEGRAL: FeatureType.NUMERIC,
    FRACTIONAL: FeatureType.NUMERIC,
    STRING: FeatureType.CATEGORICAL,
}
"""Model Monitor's inferred types and the feature type each one is here."""
NUMERIC_BUCKETS = 10
"""Buckets of a numeric distribution (as Model Monitor's 10), each holding a tenth of the
baseline's values; fewer when the column has fewer distinct values (`quantile_edges`)."""
KLL_PARAMETERS = {"c": 0.64, "k": 2048.0}
"""The KLL sketch parameters Model Monitor writes."""
MAX_DOMAIN_VALUES = 100
"""Categories listed as a constraint domain (Model Monitor lists domains for small cardinality)."""
MONITORING_KEY = "monitoring"
"""Our extension of a feature entry (Model Monitor ignores keys it does not know): how the drift
checks read a column whose raw type is not what the model sees. A date column keeps its
``string_statistics`` (the request sends text) and adds ``{"kind": "datetime", "format",
"unit", "numerical_statistics"}``: the distribution of its days since 1970-01-01, which the
drift checks compare instead of 1,000 date strings."""
SKIPPED_COLUMNS_KEY = "skipped_columns"
"""Our top-level extension: ``[{"name", "reason"}]``, input columns a request may send that are
not monitored (ID-like, constant: the model drops them), each with its feature-plan reason."""
TARGET_KEY = "target"
"""Our top-level extension: the name of the label column. A request may send it (the endpoint
ignores it, e.g. in a CSV header), so the drift job reads it as the endpoint does."""
DATETIME_KIND = "datetime"
"""The monitoring kind of a date column (the feature plan's role for it)."""
DATETIME_UNIT = "days since 1970-01-01 (UTC)"
MONITORING_CONFIG: dict[str, Any] = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 1.0,
    "domain_content_threshold": 1.0,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    },
}


class _Feature(Protocol):
    name: str
    type: FeatureType


def _present(column: Any) -> tuple[list[Any], int]:
    """The present values of a column (None and NaN are missing) and the number missing."""
    values = column.tolist() if hasattr(column, "tolist") else list(column)
    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return present, len(values) - len(present)


def _common(present: int, missing: int) -> dict[str, int]:
    return {"num_present": present, "num_missing": missing}


_FEW_EDGES = 32
"""Up to this many edges, one comparison pass per edge beats ``searchsorted`` per value."""


def bucket_counts(edges: Sequence[float], values: Any, present: int | None = None) -> Any:
    """Counts of `values` per bucket of the sorted `edges`, as a numpy array one longer.

    Bucket i holds (edges[i-1], edges[i]]: a value on an edge counts in the bucket below it.
    The first and last buckets are open-ended; NaN counts in none (`present`: how many values
    are not NaN, when the caller knows). The one bucketing rule of the baseline Profile
    writes and of the drift checks that compare traffic with it, so identical data gives
    identical counts. For the ten or so edges of a baseline's buckets, one comparison pass
    per edge is 4x faster than ``np.bincount(np.searchsorted(edges, values))``.
    """
    import numpy as np  # here, not at the top: the reader stays standard-library only

    edges = np.asarray(edges, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if present is None:
        present = len(values) - int(np.count_nonzero(np.isnan(values)))
    if len(edges) > _FEW_EDGES:
        counts = np.bincount(np.searchsorted(edges, values, side="left"),
                             minlength=len(edges) + 1)
        counts[-1] -= len(values) - present  # NaN sorts after every edge
        return counts
    at_most = np.array([np.count_nonzero(values <= edge) for edge in edges.tolist()],
                       dtype=np.int64)
    return np.diff(at_most, prepend=0, append=present)


def quantile_edges(values: Sequence[float], buckets: int = NUMERIC_BUCKETS) -> list[float]:
    """Bounds of about `buckets` buckets holding equal shares of `values`: [min, edges..., max].

    The one choice of a numeric baseline's buckets. The inner edges are the 1/buckets, ...,
    (buckets-1)/buckets quantiles of the values (the smallest value with at least that share
    at or below it), so under `bucket_counts`' rule (a value on an edge counts in the bucket
    below) every bucket holds about len(values)/buckets of them. Equal widths would not: on a
    skewed feature most rows share one bucket and PSI barely sees a shift. Tied quantiles
    merge and an edge at the maximum is dropped, so every bucket holds at least one value: a
    column of k < buckets distinct values gets k buckets (one per value), a constant column
    one. The edges are values of the column, which statistics.json stores exactly.
    """
    ordered = sorted(values)
    if not ordered:
        return []
    n, maximum = len(ordered), ordered[-1]
    inner = {ordered[-(-share * n // buckets) - 1] for share in range(1, buckets)}
    return [ordered[0], *sorted(edge for edge in inner if edge < maximum), maximum]


def quantile_buckets(values: Sequence[float], buckets: int = NUMERIC_BUCKETS) -> list[dict]:
    """The buckets of `quantile_edges` with their counts under `bucket_counts`, as
    statistics.json's ``kll.buckets`` lists them (unequal widths are valid there)."""
    edges = quantile_edges(values, buckets)
    if not edges:
        return []
    counts = bucket_counts(edges[1:-1], values).tolist()
    return [
        {"lower_bound": edges[i], "upper_bound": edges[i + 1], "count": counts[i]}
        for i in range(len(counts))
    ]


def sketch_sample(values: Sequence[float], k: int = int(KLL_PARAMETERS["k"])) -> list[float]:
    """The sorted values, or `k` of them evenly spaced by rank when there are more."""
    ordered = sorted(values)
    if len(ordered) <= k:
        return ordered
    return [ordered[round(i * (len(ordered) - 1) / (k - 1))] for i in range(k)]


def numeric_feature_statistics(name: str, column: Any) -> dict[str, Any]:
    """A numeric feature's entry: moments (population std_dev), up to 10 KLL buckets of equal
    counts (`quantile_buckets`) and the sketch."""
    present, missing = _present(column)
    values = sorted(float(v) for v in present)  # so the sorts of the buckets and sketch are O(n)
    inferred = INTEGRAL if all(v.is_integer() for v in values) else FRACTIONAL
    count = len(values)
    total = math.fsum(values)
    mean = total / count if count else 0.0
    variance = math.fsum((v - mean) ** 2 for v in values) / count if count else 0.0
    return {
        "name": name,
        "inferred_type": inferred,
        "numerical_statistics": {
            "common": _common(count, missing),
            "mean": mean,
            "sum": total,
            "std_dev": math.sqrt(variance),
            "min": min(values, default=0.0),
            "max": max(values, default=0.0),
            "distribution": {
                "kll": {
                    "buckets": quantile_buckets(values),
                    "sketch": {"parameters": dict(KLL_PARAMETERS), "data": [sketch_sample(values)]},
                }
            },
        },
    }


def category_counts(present: Sequence[Any]) -> list[tuple[str, int]]:
    """(category, count) pairs, most frequent first, ties by name (deterministic)."""
    counts = Counter(str(v) for v in present)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def string_feature_statistics(name: str, column: Any) -> dict[str, Any]:
    """A categorical feature's entry: distinct count and a bucket per category."""
    present, missing = _present(column)
    counts = category_counts(present)
    return {
        "name": name,
        "inferred_type": STRING,
        "string_statistics": {
            "common": _common(len(present), missing),
            "distinct_count": float(len(counts)),
            "distribution": {
                "categorical": {"buckets": [{"value": v, "count": c} for v, c in counts]}
            },
        },
    }


def date_feature_statistics(name: str, column: Any, days: Any,
                            date_format: str | None) -> dict[str, Any]:
    """A date column's entry: its text as a string feature (what Model Monitor sees) and, under
    `MONITORING_KEY`, the distribution of `days` (the same rows as days since the epoch, NaN
    where missing or unparseable), which the drift checks compare."""
    entry = string_feature_statistics(name, column)
    entry[MONITORING_KEY] = {
        "kind": DATETIME_KIND,
        "format": date_format,
        "unit": DATETIME_UNIT,
        "numerical_statistics": numeric_feature_statistics(name, days)["numerical_statistics"],
    }
    return entry


def baseline_statistics(
    columns: Any,
    features: Sequence[_Feature],
    *,
    dates: Mapping[str, tuple[str | None, Any]] | None = None,
    skipped: Mapping[str, str] | None = None,
    target: str | None = None,
) -> dict[str, Any]:
    """statistics.json for `features` (in request order) of `columns` (e.g. a DataFrame).

    `dates`: feature name -> (its date format, its values as days since the epoch), for the
    columns the feature plan reads as dates; `skipped`: input columns not monitored, with the
    reason (listed under `SKIPPED_COLUMNS_KEY`); `target`: the label column (`TARGET_KEY`).
    """
    dates = dates or {}
    entries = []
    item_count = 0
    for feature in features:
        column = columns[feature.name]
        item_count = len(column)
        if feature.name in dates:
            date_format, days = dates[feature.name]
            entries.append(date_feature_statistics(feature.name, column, days, date_format))
        elif feature.type == FeatureType.NUMERIC:
            entries.append(numeric_feature_statistics(feature.name, column))
        else:
            entries.append(string_feature_statistics(feature.name, column))
    document: dict[str, Any] = {"version": FORMAT_VERSION, "dataset": {"item_count": item_count},
                                "features": entries}
    if skipped:
        document[SKIPPED_COLUMNS_KEY] = [{"name": name, "reason": str(reason)}
                                         for name, reason in skipped.items()]
    if target:
        document[TARGET_KEY] = target
    return document


def baseline_constraints(statistics: Mapping[str, Any]) -> dict[str, Any]:
    """constraints.json suggested from a statistics.json document, as Model Monitor does."""
    item_count = statistics["dataset"]["item_count"]
    entries = []
    for feature in statistics["features"]:
        entry: dict[str, Any] = {"name": feature["name"], "inferred_type": feature["inferred_type"]}
        if "numerical_statistics" in feature:
            stats = feature["numerical_statistics"]
            entry["num_constraints"] = {"is_non_negative": stats["min"] >= 0}
        else:
            stats = feature["string_statistics"]
            buckets = stats["distribution"]["categorical"]["buckets"]
            if len(buckets) <= MAX_DOMAIN_VALUES:
                entry["string_constraints"] = {"domains": sorted(b["value"] for b in buckets)}
        present = stats["common"]["num_present"]
        entry["completeness"] = present / item_count if item_count else 0.0
        entries.append(entry)
    return {"version": FORMAT_VERSION, "features": entries, "monitoring_config": MONITORING_CONFIG}


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class FeatureBaseline:
    """What a drift check compares live traffic with, for one feature."""

    name: str
    kind: FeatureType
    item_count: int
    num_present: int
    num_missing: int
    edges: tuple[float, ...] = ()
    """Numeric: bucket boundaries, one more than `counts`."""
    counts: tuple[float, ...] = ()
    """Numeric: rows per bucket."""
    categories: dict[str, float] = field(default_factory=dict)
    """Categorical: rows per category."""

    @property
    def missing_fraction(self) -> float:
        return self.num_missing / self.item_count if self.item_count else 0.0


def _numeric_baseline(name: str, stats: Mapping[str, Any], item_count: int) -> FeatureBaseline:
    buckets = stats["distribution"]["kll"]["buckets"]
    edges = [float(b["lower_bound"]) for b in buckets[:1]] + [
        float(b["upper_bound"]) for b in buckets
    ]
    return FeatureBaseline(
        name=name,
        kind=FeatureType.NUMERIC,
        item_count=item_count,
        num_present=int(stats["common"]["num_present"]),
        num_missing=int(stats["common"]["num_missing"]),
        edges=tuple(edges),
        counts=tuple(float(b["count"]) for b in buckets),
    )


def _string_baseline(name: str, stats: Mapping[str, Any], item_count: int) -> FeatureBaseline:
    buckets = stats["distribution"]["categorical"]["buckets"]
    return FeatureBaseline(
        name=name,
        kind=FeatureType.CATEGORICAL,
        item_count=item_count,
        num_present=int(stats["common"]["num_present"]),
        num_missing=int(stats["common"]["num_missing"]),
        categories={str(b["value"]): float(b["count"]) for b in buckets},
    )


def parse_statistics(
    document: Mapping[str, Any], source: str = "statistics"
) -> list[FeatureBaseline]:
    """Per-feature baselines of a statistics.json document, in its feature order.

    Raises ValueError naming `source`, the feature and the missing or bad field.
    """
    try:
        item_count = int(document["dataset"]["item_count"])
        features = document["features"]
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{source}: not a Model Monitor statistics file ({error!r})") from error
    baselines = []
    for index, feature in enumerate(features):
        name = feature.get("name", f"#{index}") if isinstance(feature, Mapping) else f"#{index}"
        try:
            if "numerical_statistics" in feature:
                stats = feature["numerical_statistics"]
                baselines.append(_numeric_baseline(name, stats, item_count))
            elif "string_statistics" in feature:
                stats = feature["string_statistics"]
                baselines.append(_string_baseline(name, stats, item_count))
            else:
                raise KeyError("numerical_statistics or string_statistics")
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{source}: feature {name!r} lacks or mangles {error}") from error
    return baselines


def read_baseline(statistics_path: str | Path) -> list[FeatureBaseline]:
    """Per-feature baselines from a statistics.json file (ours or Model Monitor's)."""
    path = Path(statistics_path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    return parse_statistics(document, str(path))
