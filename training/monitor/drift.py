"""Drift job: captured endpoint traffic against the model's training baseline.

Usage (a SageMaker processing job, or locally)::

    python -m training.monitor.drift --capture-dir /opt/ml/processing/input/capture \\
        --baseline-dir /opt/ml/processing/input/baseline \\
        --output-dir /opt/ml/processing/output/drift \\
        --endpoint churn --model churn-v3 --window-hours 24 [--no-publish]

The baseline is ``statistics.json`` in Model Monitor's format; its features are listed in the
column order CSV requests send them. Per numeric feature: the population stability index on
the baseline's buckets and the Kolmogorov–Smirnov statistic against the baseline's CDF; per
categorical feature: the Jensen–Shannon distance of category frequencies; per feature: the
missing-value rate against the baseline's; and schema violations (new or absent columns,
text in numeric columns). Output: ``drift_report.json``, ``drift_report.html`` (with plots
when matplotlib is installed) and CloudWatch metrics for alarms.

Traffic is streamed: per chunk of capture lines, values are binned into fixed bucket counts,
category counts and missing counts, so memory is bounded by the chunk, not the window.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import math
import os
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from training import capture
from training.contract import (
    BASELINE_STATISTICS_FILE,
    DEFAULT_DRIFT_WINDOW_HOURS,
    DRIFT_DETECTED_METRIC,
    DRIFT_HTML_FILE,
    DRIFT_METRIC_NAMESPACE,
    DRIFT_REPORT_FILE,
    DRIFT_THRESHOLD_FLAGS,
    ENDPOINT_DIMENSION,
    FEATURE_DIMENSION,
    FEATURE_DRIFT_SCORE_METRIC,
    LOCAL_METRICS_FILE_ENV,
    MALFORMED_RECORDS_METRIC,
    MODEL_DIMENSION,
    PROCESSING_BASELINE_DIR,
    PROCESSING_CAPTURE_DIR,
    PROCESSING_DRIFT_DIR,
    RECORDS_ANALYZED_METRIC,
    SCHEMA_VIOLATIONS_METRIC,
)

STATUS_OK = "ok"
STATUS_NO_TRAFFIC = "no traffic"
STATUS_LOW_TRAFFIC = "low traffic"

MAX_METRICS_PER_PUT = 1000
"""PutMetricData accepts at most 1000 metric data items per call."""

NUMERIC_TYPES = ("Integral", "Fractional")
STRING_TYPE = "String"
OTHER_CATEGORY = "__other__"
MAX_TRACKED_NEW_CATEGORIES = 1000
"""Distinct unseen categories remembered by name; more are only counted (bounded memory)."""


class DriftInputError(ValueError):
    """A baseline or argument the drift job cannot use (one line for the user)."""


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


# --------------------------------------------------------------------------------------
# The baseline (Model Monitor's statistics.json); one reader, swappable for baseline.py
# --------------------------------------------------------------------------------------


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

    @property
    def is_numeric(self) -> bool:
        return self.inferred_type in NUMERIC_TYPES

    @property
    def missing_rate(self) -> float:
        total = self.num_present + self.num_missing
        return self.num_missing / total if total else 0.0


@dataclass(frozen=True)
class Baseline:
    item_count: int
    features: tuple[FeatureBaseline, ...]

    @property
    def names(self) -> list[str]:
        return [feature.name for feature in self.features]


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
    if inferred == STRING_TYPE:
        buckets = (distribution.get("categorical") or {}).get("buckets") or []
        categories = {str(b["value"]): float(b["count"]) for b in buckets if "value" in b}
        return FeatureBaseline(name, inferred, present, missing, categories=categories)
    kll = distribution.get("kll") or {}
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
    return FeatureBaseline(name, inferred, present, missing, lower, upper, counts, values, cdf)


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
    features = data.get("features") if isinstance(data, Mapping) else None
    if not isinstance(features, list) or not features:
        raise DriftInputError(f"{path}: needs a non-empty 'features' list (Model Monitor format)")
    parsed = tuple(_feature_baseline(i, f, str(path)) for i, f in enumerate(features))
    names = [feature.name for feature in parsed]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DriftInputError(f"{path}: duplicate feature names {duplicates}")
    item_count = int((data.get("dataset") or {}).get("item_count") or 0)
    return Baseline(item_count, parsed)


# --------------------------------------------------------------------------------------
# Streaming accumulators: fixed-size state per feature, updated chunk by chunk
# --------------------------------------------------------------------------------------


class NumericWindow:
    """Bucket counts (PSI), counts at CDF points (KS), missing and type-mismatch counts.

    Buckets are (lower, upper], the outer two open-ended. Without a sketch the CDF points are
    the bucket bounds themselves, so one ``searchsorted`` per value serves both metrics.
    """

    def __init__(self, baseline: FeatureBaseline) -> None:
        self.baseline = baseline
        self.edges = baseline.upper[:-1]
        self.shared_grid = baseline.sketch_values is None
        if self.shared_grid:
            total = baseline.counts.sum()
            self.grid = np.concatenate([baseline.lower[:1], baseline.upper])
            self.base_cdf = np.concatenate([[0.0], np.cumsum(baseline.counts) / total])
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
        counts = self.grid_counts[1:-1].copy()
        counts[0] += self.grid_counts[0]
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
        self.grid_counts += _bin_counts(self.grid, values, present)
        if not self.shared_grid:
            self.bucket_counts += _bin_counts(self.edges, values, present)
        if missing:
            self.total += float(np.nansum(values))
            self.minimum = min(self.minimum, float(np.nanmin(values)))
            self.maximum = max(self.maximum, float(np.nanmax(values)))
        else:  # the nan* reductions copy
            self.total += float(values.sum())
            self.minimum = min(self.minimum, float(values.min()))
            self.maximum = max(self.maximum, float(values.max()))


_FEW_POINTS = 32
"""Up to this many points, one comparison pass per point beats ``searchsorted`` per value."""


def _bin_counts(points: np.ndarray, values: np.ndarray, present: int) -> np.ndarray:
    """Counts of `values` (`present` of them not NaN) per bin (previous point, point] of the
    sorted `points`, the outer two open-ended, NaN in none: what ``np.bincount(np.searchsorted(
    points, values))`` counts, 4x faster for the ten or so points of a baseline's buckets."""
    if len(points) > _FEW_POINTS:
        bins = np.bincount(np.searchsorted(points, values, side="left"),
                           minlength=len(points) + 1)
        bins[-1] -= len(values) - present  # NaN sorts after every point
        return bins
    at_most = [np.count_nonzero(values <= point) for point in points.tolist()]
    return np.diff(at_most, prepend=0, append=present)


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
    """CSV lines that were the baseline's header row (skipped)."""

    def __post_init__(self) -> None:
        for feature in self.baseline.features:
            window = NumericWindow if feature.is_numeric else CategoricalWindow
            self.windows[feature.name] = window(feature)

    def update_frame(self, frame: pd.DataFrame) -> None:
        """Add rows whose columns are named like the baseline's features (any dtype)."""
        self.rows += len(frame)
        for name, window in self.windows.items():
            if name not in frame.columns:
                column = pd.Series([None] * len(frame), dtype=object)
            else:
                column = frame[name]
            if isinstance(window, CategoricalWindow):
                window.update(column)
            else:
                values, mismatched = numeric_values(column)
                window.update(values, mismatched)


def numeric_values(column: pd.Series) -> tuple[np.ndarray, int]:
    """Floats of a column (NaN = missing) and how many present values were not numbers."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=np.float64, na_value=np.nan), 0
    numbers = pd.to_numeric(column, errors="coerce")
    present = column.notna() & (column.astype(str).str.strip() != "")
    mismatched = int((present & numbers.isna()).sum())
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan), mismatched


# --------------------------------------------------------------------------------------
# Parsing payloads into the accumulators
# --------------------------------------------------------------------------------------


def _add_csv_pyarrow(stats: WindowStatistics, data: bytes) -> None:
    import pyarrow as pa
    from pyarrow import csv as pacsv

    names = stats.baseline.names
    bad_rows = 0

    def skip(_row: Any) -> str:
        nonlocal bad_rows
        bad_rows += 1
        return "skip"

    def read(types: Mapping[str, Any]) -> Any:
        return pacsv.read_csv(
            pa.py_buffer(data),
            # one thread: on a shared or busy host pyarrow's pool waits on its slowest
            # thread (1M-record bench under load: 3.8 s against 4.6 s)
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pacsv.ParseOptions(invalid_row_handler=skip),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
        )

    typed = {f.name: (pa.float64() if f.is_numeric else pa.string())
             for f in stats.baseline.features}
    try:
        table = read(typed)
    except pa.ArrowInvalid:  # text in a numeric column: read as text, count per column
        bad_rows = 0
        frame = read({name: pa.string() for name in names}).to_pandas()
        stats.malformed["wrong column count"] += bad_rows
        stats.update_frame(frame)
        return
    stats.malformed["wrong column count"] += bad_rows
    stats.rows += table.num_rows
    for feature in stats.baseline.features:
        column = table.column(feature.name)
        window = stats.windows[feature.name]
        if isinstance(window, NumericWindow):
            window.update(column.to_numpy())
        else:
            window.update(column.to_pandas())


def _add_csv_python(stats: WindowStatistics, data: bytes) -> None:
    import csv

    width = len(stats.baseline.features)
    rows = [row for row in csv.reader(io.StringIO(data.decode("utf-8", "replace"))) if row]
    good = [row for row in rows if len(row) == width]
    stats.malformed["wrong column count"] += len(rows) - len(good)
    frame = pd.DataFrame(good, columns=stats.baseline.names, dtype=object).replace("", None)
    stats.update_frame(frame)


def _add_csv_pandas(stats: WindowStatistics, data: bytes) -> bool:
    """The fast path: pandas' C parser, when every row has the baseline's width and numeric
    columns hold only numbers. False (nothing added) when that cannot be vouched for."""
    width = len(stats.baseline.features)
    rows = data.count(b"\n") + (not data.endswith(b"\n"))
    if b'"' in data or b"\r" in data or b"\n\n" in data or data.startswith(b"\n") \
            or data.count(b",") != rows * (width - 1):
        return False
    dtypes = {f.name: (np.float64 if f.is_numeric else object) for f in stats.baseline.features}
    try:
        frame = pd.read_csv(io.BytesIO(data), header=None, names=stats.baseline.names,
                            dtype=dtypes, engine="c", keep_default_na=True,
                            float_precision="round_trip")  # as json.loads parses floats
    except (ValueError, pd.errors.ParserError):
        return False
    if len(frame) != rows:
        return False
    stats.rows += len(frame)
    for feature in stats.baseline.features:
        window = stats.windows[feature.name]
        column = frame[feature.name]
        if isinstance(window, NumericWindow):
            window.update(column.to_numpy())
        else:
            window.update(column)
    return True


def _without_header_lines(stats: WindowStatistics, data: bytes) -> bytes:
    """``data`` without the lines that are the baseline's header (a client that sends its
    CSV with a header row, which the serving handler accepts); they are counted, not parsed
    as a row of text in numeric columns."""
    header = ",".join(f.name for f in stats.baseline.features).encode("utf-8")
    if header not in data:
        return data
    lines = data.split(b"\n")
    kept = [line for line in lines if line.rstrip(b"\r") != header]
    stats.header_rows += len(lines) - len(kept)
    return b"\n".join(kept)


def add_csv(stats: WindowStatistics, data: bytes) -> None:
    """Add headerless CSV rows (columns in the baseline's order); wrong widths are skipped.

    pyarrow (in the image) first: its C++ reader parses floats exactly, as json.loads does,
    and is the fastest there (pandas 2.2's exact ``round_trip`` parse is three times slower).
    """
    data = _without_header_lines(stats, data)
    if not data.strip():
        return
    try:
        import pyarrow  # noqa: F401 - in the image
    except ImportError:
        if not _add_csv_pandas(stats, data):
            _add_csv_python(stats, data)
    else:
        _add_csv_pyarrow(stats, data)


def json_rows(payload: Any) -> tuple[list[Mapping[str, Any]], list[list[Any]]]:
    """(named records, positional rows) of a JSON request body.

    Accepts records ``[{"col": v}]``, a record ``{"col": v}``, columns ``{"col": [..]}``,
    rows ``[[..]]``, one row ``[..]`` and ``{"instances": [...]}`` of any of these (an
    instance ``{"features": [..]}`` is a positional row).
    """
    if isinstance(payload, Mapping) and "instances" in payload:
        payload = payload["instances"]
    if isinstance(payload, Mapping):
        if payload and all(isinstance(v, list) for v in payload.values()):
            lengths = {len(v) for v in payload.values()}
            if len(lengths) != 1:
                raise ValueError("columns of different lengths")
            return pd.DataFrame(payload).to_dict("records"), []
        payload = [payload]
    if not isinstance(payload, list):
        raise ValueError("not a record, records, columns or instances")
    if payload and not isinstance(payload[0], (Mapping, list)):
        payload = [payload]
    named, positional = [], []
    for item in payload:
        if isinstance(item, Mapping) and set(item) == {"features"}:
            item = item["features"]
        if isinstance(item, Mapping):
            named.append(item)
        elif isinstance(item, list):
            positional.append(item)
        else:
            raise ValueError("mixed rows")
    return named, positional


def add_json(stats: WindowStatistics, payloads: Sequence[bytes]) -> None:
    """Add JSON request bodies: named columns by name, positional rows by baseline order."""
    names = stats.baseline.names
    named: list[Mapping[str, Any]] = []
    positional: list[list[Any]] = []
    for payload in payloads:
        try:
            records, rows = json_rows(json.loads(payload))
        except (ValueError, TypeError):
            stats.malformed["bad JSON payload"] += 1
            continue
        named.extend(records)
        for row in rows:
            if len(row) == len(names):
                positional.append(row)
            else:
                stats.malformed["wrong column count"] += 1
    if named:
        frame = pd.DataFrame.from_records(named)
        stats.named_rows += len(frame)
        for column in frame.columns:
            if column not in stats.windows:
                stats.new_columns[str(column)] += int(frame[column].notna().sum())
        for name in names:
            if name not in frame.columns:
                stats.absent_columns[name] += len(frame)
            else:
                stats.absent_columns[name] += 0
        stats.update_frame(frame)
    if positional:
        stats.update_frame(pd.DataFrame(positional, columns=names, dtype=object))


def collect(
    baseline: Baseline,
    files: Sequence[str | Path],
    chunk_bytes: int = capture.DEFAULT_CHUNK_BYTES,
) -> WindowStatistics:
    """Stream capture files into per-feature window statistics."""
    stats = WindowStatistics(baseline, files=len(files))
    for batch in capture.iter_payloads(files, chunk_bytes):
        stats.lines += batch.lines
        stats.records += batch.records
        stats.malformed.update(batch.malformed)
        add_csv(stats, batch.csv)
        if batch.json:
            add_json(stats, batch.json)
    return stats


# --------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------


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


def drift_report(
    stats: WindowStatistics,
    thresholds: DriftThresholds = DriftThresholds(),
    window: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The violations report of a window (see the module docstring for its meaning)."""
    if stats.records == 0:
        status = STATUS_NO_TRAFFIC
    elif stats.rows < thresholds.min_rows:
        status = STATUS_LOW_TRAFFIC
    else:
        status = STATUS_OK
    judged = status == STATUS_OK
    features = [] if status == STATUS_NO_TRAFFIC else [
        feature_report(w, thresholds, judged) for w in stats.windows.values()
    ]
    violations = schema_violations(stats, thresholds)
    drifted = [feature["name"] for feature in features if feature["drifted"]]
    return {
        "version": 1,
        "status": status,
        "drift": bool(drifted),
        "drifted_features": drifted,
        "schema_violation": bool(violations),
        "window": dict(window or {}),
        "files_read": stats.files,
        "lines_read": stats.lines,
        "records_read": stats.records,
        "rows_analyzed": stats.rows,
        "header_rows_skipped": stats.header_rows,
        "malformed": {"total": int(sum(stats.malformed.values())),
                      "by_reason": dict(stats.malformed)},
        "thresholds": asdict(thresholds),
        "baseline": {"item_count": stats.baseline.item_count,
                     "features": len(stats.baseline.features)},
        "features": features,
        "violations": violations,
    }


# --------------------------------------------------------------------------------------
# HTML report
# --------------------------------------------------------------------------------------


def _feature_plot(feature: Mapping[str, Any]) -> str | None:
    """A base64 PNG of baseline vs current proportions, or None without matplotlib."""
    try:
        from training import plots
    except ImportError:
        return None
    if "bucket_counts" in feature["current"]:
        base = np.asarray(feature["baseline"]["bucket_counts"], float)
        cur = np.asarray(feature["current"]["bucket_counts"], float)
        uppers = feature["baseline"]["upper_bounds"]
        labels = [f"≤{u:.3g}" for u in uppers[:-1]] + [f">{uppers[-2]:.3g}" if len(uppers) > 1
                                                       else "all"]
    else:
        base_map = feature["baseline"]["category_counts"]
        cur_map = feature["current"]["category_counts"]
        labels = sorted(set(base_map) | set(cur_map))
        base = np.array([base_map.get(k, 0.0) for k in labels], float)
        cur = np.array([cur_map.get(k, 0.0) for k in labels], float)
    base = base / base.sum() if base.sum() else base
    cur = cur / cur.sum() if cur.sum() else cur
    figure = plots.new_figure(6.0, 3.0)
    axes = figure.add_subplot()
    x = np.arange(len(labels))
    axes.bar(x - 0.2, base, width=0.4, label="baseline")
    axes.bar(x + 0.2, cur, width=0.4, label="current")
    axes.set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
    axes.set_ylabel("share of rows")
    axes.set_title(feature["name"])
    axes.legend()
    return base64.b64encode(plots.figure_png(figure)).decode("ascii")


def render_html(report: Mapping[str, Any]) -> str:
    """A standalone HTML page: status, schema violations, one row and plot per feature."""
    esc = html.escape
    rows, plots_html = [], []
    for feature in report["features"]:
        metrics = ", ".join(f"{name} {m['value']:.4g} (≤ {m['threshold']})"
                            for name, m in feature["metrics"].items())
        verdict = "DRIFT" if feature["drifted"] else "ok"
        rows.append(f"<tr><td>{esc(feature['name'])}</td><td>{esc(feature['inferred_type'])}"
                    f"</td><td>{feature['rows']}</td><td>{esc(metrics)}</td>"
                    f"<td>{feature['drift_score']:.3g}</td><td>{verdict}</td></tr>")
        image = _feature_plot(feature)
        if image:
            plots_html.append(f'<figure><img alt="{esc(feature["name"])}" '
                              f'src="data:image/png;base64,{image}"></figure>')
    violations = "".join(f"<li>{esc(v['description'])} ({v['count']})</li>"
                         for v in report["violations"]) or "<li>none</li>"
    note = "" if plots_html or not report["features"] else \
        "<p>Plots need matplotlib, which is not installed here.</p>"
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Drift report</title>"
        "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:2px 6px}"
        "table{border-collapse:collapse}</style></head><body>"
        f"<h1>Drift report: {esc(report['status'])}, "
        f"{'DRIFT' if report['drift'] else 'no drift'}</h1>"
        f"<p>Window {esc(json.dumps(report['window']))}; {report['records_read']} records, "
        f"{report['rows_analyzed']} rows, {report['malformed']['total']} malformed "
        f"{esc(json.dumps(report['malformed']['by_reason']))}.</p>"
        f"<h2>Schema violations</h2><ul>{violations}</ul>"
        "<h2>Features</h2><table><tr><th>feature</th><th>type</th><th>rows</th>"
        f"<th>metrics (threshold)</th><th>score</th><th>verdict</th></tr>{''.join(rows)}"
        f"</table>{note}{''.join(plots_html)}</body></html>"
    )


# --------------------------------------------------------------------------------------
# CloudWatch
# --------------------------------------------------------------------------------------


def cloudwatch_metric_data(
    report: Mapping[str, Any], endpoint: str, model: str, timestamp: datetime | None = None
) -> list[dict[str, Any]]:
    """PutMetricData items of a report: the drift flag, counts, and a score per feature."""
    timestamp = timestamp or datetime.now(UTC)
    dims = [{"Name": ENDPOINT_DIMENSION, "Value": endpoint},
            {"Name": MODEL_DIMENSION, "Value": model}]

    def datum(name: str, value: float, unit: str, extra: list | None = None) -> dict[str, Any]:
        return {"MetricName": name, "Dimensions": dims + (extra or []), "Timestamp": timestamp,
                "Value": float(value), "Unit": unit}

    data = [
        datum(DRIFT_DETECTED_METRIC, 1.0 if report["drift"] else 0.0, "None"),
        datum(RECORDS_ANALYZED_METRIC, report["records_read"], "Count"),
        datum(MALFORMED_RECORDS_METRIC, report["malformed"]["total"], "Count"),
        datum(SCHEMA_VIOLATIONS_METRIC, len(report["violations"]), "Count"),
    ]
    for feature in report["features"]:
        data.append(datum(FEATURE_DRIFT_SCORE_METRIC, feature["drift_score"], "None",
                          [{"Name": FEATURE_DIMENSION, "Value": feature["name"][:255]}]))
    return data


def publish_metrics(
    cloudwatch_client: Any,
    metric_data: Sequence[Mapping[str, Any]],
    namespace: str = DRIFT_METRIC_NAMESPACE,
    batch_size: int = MAX_METRICS_PER_PUT,
) -> int:
    """PutMetricData in batches within the API's per-call limit; returns the number of calls."""
    calls = 0
    for start in range(0, len(metric_data), batch_size):
        cloudwatch_client.put_metric_data(
            Namespace=namespace, MetricData=list(metric_data[start:start + batch_size])
        )
        calls += 1
    return calls


def write_local_metrics(path: Path, metric_data: Sequence[Mapping[str, Any]]) -> None:
    """Append PutMetricData items (with the namespace) as JSON lines: local CloudWatch."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        for datum in metric_data:
            out.write(json.dumps({"Namespace": DRIFT_METRIC_NAMESPACE, **datum}, default=str)
                      + "\n")


# --------------------------------------------------------------------------------------
# The job
# --------------------------------------------------------------------------------------


def run_drift(
    capture_dir: str | Path,
    baseline: str | Path | Baseline,
    output_dir: str | Path | None = None,
    window_hours: float = DEFAULT_DRIFT_WINDOW_HOURS,
    window_end: datetime | None = None,
    thresholds: DriftThresholds = DriftThresholds(),
    chunk_bytes: int = capture.DEFAULT_CHUNK_BYTES,
) -> dict[str, Any]:
    """Check the capture files of a window against a baseline; write the reports if asked.

    ``window_hours`` <= 0 reads every file regardless of its hour folder.
    """
    if not isinstance(baseline, Baseline):
        baseline = load_baseline(baseline)
    end = window_end or datetime.now(UTC)
    start = end - timedelta(hours=window_hours) if window_hours > 0 else None
    files = capture.list_capture_files(capture_dir, start, end if start else None)
    stats = collect(baseline, files, chunk_bytes)
    window = {"start": start.isoformat() if start else None, "end": end.isoformat(),
              "hours": window_hours}
    report = drift_report(stats, thresholds, window)
    if output_dir is not None:
        output = Path(output_dir)
        output.mkdir(parents=True, exist_ok=True)
        (output / DRIFT_REPORT_FILE).write_text(json.dumps(report, indent=2, default=str))
        (output / DRIFT_HTML_FILE).write_text(render_html(report))
    return report


def _time(text: str) -> datetime:
    try:
        return capture.parse_time(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from error


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    defaults = DriftThresholds()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture-dir", type=Path, default=Path(PROCESSING_CAPTURE_DIR))
    parser.add_argument("--baseline-dir", type=Path, default=Path(PROCESSING_BASELINE_DIR))
    parser.add_argument("--output-dir", type=Path, default=Path(PROCESSING_DRIFT_DIR))
    parser.add_argument("--endpoint", default="")
    parser.add_argument("--model", default="")
    parser.add_argument("--window-hours", type=float, default=DEFAULT_DRIFT_WINDOW_HOURS,
                        help="hours of capture folders before --window-end (<= 0: all files)")
    parser.add_argument("--window-end", type=_time, default=None, help="default: now (UTC)")
    parser.add_argument("--publish", action=argparse.BooleanOptionalAction, default=True,
                        help="publish CloudWatch metrics (needs --endpoint and --model)")
    psi_flag, ks_flag, js_flag, missing_flag = DRIFT_THRESHOLD_FLAGS
    parser.add_argument(f"--{psi_flag}", type=float, default=defaults.psi)
    parser.add_argument(f"--{ks_flag}", type=float, default=defaults.ks)
    parser.add_argument(f"--{js_flag}", type=float, default=defaults.js_distance)
    parser.add_argument(f"--{missing_flag}", type=float,
                        default=defaults.missing_rate_increase)
    parser.add_argument("--min-rows", type=int, default=defaults.min_rows)
    parser.add_argument("--chunk-mb", type=float, default=capture.DEFAULT_CHUNK_BYTES / 2**20)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Processing-job entry point: 0 when the check ran (drift or not), 2 on bad input."""
    args = parse_args(argv)
    try:
        if args.publish and not (args.endpoint and args.model):
            raise DriftInputError("--publish needs --endpoint and --model (or use --no-publish)")
        for name in ("psi_threshold", "ks_threshold", "js_threshold", "missing_threshold"):
            if getattr(args, name) <= 0:
                raise DriftInputError(f"--{name.replace('_', '-')} must be > 0 "
                                      f"(got {getattr(args, name)})")
        thresholds = DriftThresholds(psi=args.psi_threshold, ks=args.ks_threshold,
                                     js_distance=args.js_threshold,
                                     missing_rate_increase=args.missing_threshold,
                                     min_rows=args.min_rows)
        report = run_drift(args.capture_dir, args.baseline_dir, args.output_dir,
                           args.window_hours, args.window_end, thresholds,
                           max(int(args.chunk_mb * 2**20), 1024))
    except DriftInputError as error:
        print(f"drift: {error}", file=sys.stderr)
        return 2
    print(f"drift: {report['status']}; drift={report['drift']} "
          f"{report['drifted_features']}; records={report['records_read']}; "
          f"malformed={report['malformed']['total']}; "
          f"schema violations={len(report['violations'])}")
    if args.publish and os.environ.get(LOCAL_METRICS_FILE_ENV):
        path = Path(os.environ[LOCAL_METRICS_FILE_ENV])
        write_local_metrics(path, cloudwatch_metric_data(report, args.endpoint, args.model))
        print(f"drift: metrics appended to {path} (the local stand-in for CloudWatch)")
    elif args.publish:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            publish_metrics(boto3.client("cloudwatch"),
                            cloudwatch_metric_data(report, args.endpoint, args.model))
        except (BotoCoreError, ClientError) as error:
            print(f"drift: publishing CloudWatch metrics failed: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
