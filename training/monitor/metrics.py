"""The drift metrics and their verdicts: PSI, KS, JS distance, missing rate, schema violations.

Per numeric feature: the population stability index on the baseline's buckets and the
Kolmogorov–Smirnov statistic against the baseline's CDF; per categorical feature: the
Jensen–Shannon distance of category frequencies; per feature: the missing-value rate against
the baseline's; and schema violations (new or absent columns, text in numeric columns).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.monitor.reference import FeatureBaseline
from training.monitor.window import (
    OTHER_CATEGORY,
    CategoricalWindow,
    NumericWindow,
    WindowStatistics,
)


@dataclass(frozen=True)
class DriftThresholds:
    """When a feature counts as drifted. Each default is a conventional, conservative level.

    - ``psi`` 0.2: the usual reading is < 0.1 stable, 0.1-0.2 moderate, > 0.2 significant.
      An iid window of n rows on 10 buckets has expected PSI of about 9/n, so windows of a
      few hundred rows stay well below it.
    - ``ks`` 0.2: a fifth of the mass moved past some bucket edge; the two-sample 1% critical
      value is below 0.2 for windows of more than ~100 rows, so noise rarely reaches it.
    - ``js_distance`` 0.1 (base 2, in [0, 1]): e.g. a 50/50 category split turning 64/36;
      iid windows of a few hundred rows on a handful of categories stay near 0.03-0.05.
    - ``missing_rate_increase`` 0.1: a tenth more requests missing a field is an incident,
      smaller changes are within the sampling noise of small windows. Decreases never alarm.
    - ``type_mismatch_rate`` 0.0: any text in a numeric column breaks the request contract.
    - ``min_rows`` 50: below it distribution metrics are reported but never alarm.
    - ``smoothing`` 0.5: pseudo-count added to every PSI bucket on both sides (Jeffreys), so
      an empty bucket is not infinite and sparse tail buckets of small windows do not
      dominate (a fixed floor such as 1e-4 let 4 rows in a bucket the baseline left empty
      score 0.07 alone); its weight vanishes as windows grow.
    """

    psi: float = 0.2
    ks: float = 0.2
    js_distance: float = 0.1
    missing_rate_increase: float = 0.1
    type_mismatch_rate: float = 0.0
    min_rows: int = 50
    smoothing: float = 0.5


DEFAULT_THRESHOLDS = DriftThresholds()
"""The conventional levels above; what a check uses unless told otherwise."""


def psi(expected: np.ndarray, actual: np.ndarray, smoothing: float = 0.5) -> float:
    """Population stability index of two count vectors over the same bins, each bin given
    `smoothing` pseudo-counts on both sides."""
    expected = np.asarray(expected, float) + smoothing
    actual = np.asarray(actual, float) + smoothing
    p, q = expected / expected.sum(), actual / actual.sum()
    return float(np.sum((q - p) * np.log(q / p)))


def ks_statistic(window: NumericWindow) -> float:
    """Largest gap between the window's CDF and the baseline's at the baseline's CDF points."""
    if not window.present:
        return 0.0
    current = np.cumsum(window.grid_counts[:-1]) / window.present
    return float(np.max(np.abs(current - window.base_cdf)))


def js_distance(expected: Mapping[str, float], actual: Mapping[str, float]) -> float:
    """Jensen–Shannon distance (base 2, in [0, 1]) of two category count maps."""
    keys = sorted(set(expected) | set(actual))
    p = np.array([expected.get(k, 0.0) for k in keys], float)
    q = np.array([actual.get(k, 0.0) for k in keys], float)
    if p.sum() <= 0 or q.sum() <= 0:
        return 0.0
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    return float(math.sqrt(max((kl(p) + kl(q)) / 2, 0.0)))


def _metric(value: float, threshold: float, judged: bool, **extra: Any) -> dict[str, Any]:
    return {"value": round(float(value), 6), "threshold": threshold,
            "drifted": bool(judged and value > threshold), **extra}


def _baseline_categories(feature: FeatureBaseline) -> dict[str, float]:
    """Baseline category counts, with the part the baseline did not list as 'other'."""
    counts = dict(feature.categories)
    other = feature.num_present - sum(counts.values())
    if other > 0:
        counts[OTHER_CATEGORY] = other
    return counts


def feature_report(
    window: NumericWindow | CategoricalWindow, thresholds: DriftThresholds, judged: bool
) -> dict[str, Any]:
    """Metrics, thresholds and verdicts of one feature (judged=False: report, never alarm)."""
    feature = window.baseline
    rows = window.present + window.missing
    missing_rate = window.missing / rows if rows else 0.0
    metrics: dict[str, Any] = {}
    current: dict[str, Any]
    if isinstance(window, NumericWindow):
        metrics["psi"] = _metric(psi(feature.counts, window.counts, thresholds.smoothing),
                                 thresholds.psi, judged and window.present > 0)
        metrics["ks"] = _metric(ks_statistic(window), thresholds.ks,
                                judged and window.present > 0)
        current = {
            "bucket_counts": window.counts.tolist(),
            "mean": window.total / window.present if window.present else None,
            "min": window.minimum if window.present else None,
            "max": window.maximum if window.present else None,
        }
        baseline_view = {"bucket_counts": feature.counts.tolist(),
                         "lower_bounds": feature.lower.tolist(),
                         "upper_bounds": feature.upper.tolist()}
    else:
        base = _baseline_categories(feature)
        metrics["js_distance"] = _metric(js_distance(base, window.counts),
                                         thresholds.js_distance, judged and window.present > 0)
        current = {"category_counts": dict(window.counts),
                   "new_categories": dict(window.new_categories.most_common(20))}
        baseline_view = {"category_counts": base}
    metrics["missing_rate"] = _metric(
        missing_rate - feature.missing_rate, thresholds.missing_rate_increase, judged,
        current=round(missing_rate, 6), baseline=round(feature.missing_rate, 6),
    )
    ratios = [m["value"] / m["threshold"] for m in metrics.values() if m["threshold"] > 0]
    return {
        "name": feature.name,
        "inferred_type": feature.inferred_type,
        "rows": rows,
        "missing": window.missing,
        "type_mismatches": window.mismatched,
        "metrics": metrics,
        "drift_score": round(max([0.0, *ratios]), 6),
        "drifted": any(m["drifted"] for m in metrics.values()),
        "current": current,
        "baseline": baseline_view,
    }


def schema_violations(
    stats: WindowStatistics, thresholds: DriftThresholds
) -> list[dict[str, Any]]:
    """New columns, columns absent from every named record, and text in numeric columns."""
    violations = []
    for name, count in sorted(stats.new_columns.items()):
        violations.append({"feature": name, "kind": "new_column", "count": count,
                           "description": f"column {name!r} is not in the baseline"})
    if stats.named_rows:
        for name, count in sorted(stats.absent_columns.items()):
            if count >= stats.named_rows:
                violations.append({"feature": name, "kind": "missing_column", "count": count,
                                   "description": f"column {name!r} absent from every record"})
    for name, window in stats.windows.items():
        rows = window.present + window.missing
        if window.mismatched and rows and window.mismatched / rows > thresholds.type_mismatch_rate:
            violations.append({
                "feature": name, "kind": "type_mismatch", "count": window.mismatched,
                "description": f"{window.mismatched} non-numeric values in "
                               f"{window.baseline.inferred_type} column {name!r}",
            })
    return violations
