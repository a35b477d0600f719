"""Each feature against the target, and the rows and the target over time: the EDA report's
views that a table profiler (skrub's TableReport) does not give, because it knows no target.

Every feature is cut into at most FEATURE_BINS groups (quantile bins for numbers, the most
frequent levels and "other" for text, "missing" for empty cells) and its association with the
target is Cramér's V of that cross-table (the target cut into quantile bins for regression): one
scale, 0 to 1, for every kind of column. The outcome shown per group is the share of the
minority class (binary classification: the rare class people look for, churn or fraud), the
share of the majority class (several classes: where it drops, the column tells classes
apart) or the mean target (regression). The chart is a small inline SVG per feature, drawn
without matplotlib, so 300 columns cost a fraction of a second.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats.contingency import association

from training.contract import ProblemType
from training.data.floats import to_floats

FEATURE_BINS = 10
"""Groups per feature (quantile bins or levels) in the feature-vs-target view."""
TARGET_BINS = 10
"""Quantile bins of a regression target for Cramér's V."""
MISSING_LABEL = "missing"
OTHER_LABEL = "other"
SPARK_WIDTH, SPARK_HEIGHT = 180, 38


@dataclass(frozen=True)
class Outcome:
    """What the views show per group: a share of one class, or the mean target."""

    values: pd.Series
    """Per row: 1.0/0.0 for the class (classification) or the target (regression); NaN when
    unlabelled."""
    label: str
    """e.g. "share of churned = 1" or "mean progression"."""
    overall: float
    groups: np.ndarray
    """Per row: the target's class code, or its quantile bin (regression); -1 unlabelled.
    Cramér's V is taken against these."""


def target_outcome(target: pd.Series, problem_type: ProblemType | str, name: str) -> Outcome:
    """The outcome the views plot (see the module docstring)."""
    if ProblemType(problem_type) is ProblemType.REGRESSION:
        values = to_floats(target).astype("float64")
        numbers = values.to_numpy()
        labelled = ~np.isnan(numbers)
        groups = np.full(len(numbers), -1, dtype=np.int64)
        if labelled.any():
            edges = np.unique(np.quantile(numbers[labelled],
                                          np.linspace(0, 1, TARGET_BINS + 1)))
            groups[labelled] = np.clip(
                np.searchsorted(edges, numbers[labelled], side="right") - 1,
                0, max(len(edges) - 2, 0))
        return Outcome(values, f"mean {name}", float(values.mean()), groups)
    labels = target.map(lambda v: v if pd.isna(v) else str(v))
    counts = labels.value_counts()
    chosen = counts.index[-1] if len(counts) == 2 else counts.index[0]
    values = (labels == chosen).astype("float64").where(labels.notna())
    return Outcome(values, f"share of {name} = {chosen}", float(values.mean()),
                   pd.factorize(labels)[0].astype(np.int64))


def feature_groups(values: pd.Series, kind: str, bins: int = FEATURE_BINS
                   ) -> tuple[np.ndarray, list[str]]:
    """Each row's group code and the groups' labels (numbers and dates in order, levels by
    frequency, then "other", then "missing"). `kind`: numeric, date or categorical."""
    present = values.notna().to_numpy()
    codes = np.zeros(len(values), dtype=np.int64)
    if kind in ("numeric", "date"):
        _number = _day if kind == "date" else _significant
        if kind == "date":
            values = (values - pd.Timestamp("1970-01-01", tz=values.dt.tz)).dt.total_seconds() \
                / 86400.0
        numbers = values.to_numpy(dtype="float64")
        levels = np.unique(numbers[present])
        if len(levels) <= bins:
            labels = [_number(v) for v in levels]
            codes[present] = np.searchsorted(levels, numbers[present])
        else:
            edges = np.unique(np.quantile(numbers[present], np.linspace(0, 1, bins + 1)))
            labels = [f"{_number(lo)}–{_number(hi)}" for lo, hi in zip(edges, edges[1:],
                                                                          strict=False)]
            codes[present] = np.clip(np.searchsorted(edges, numbers[present], side="right") - 1,
                                     0, len(labels) - 1)
    else:
        text = values[present].map(str)
        counts = text.value_counts()
        top = counts.index[: bins - 1].tolist() if len(counts) > bins else counts.index.tolist()
        position = {level: i for i, level in enumerate(top)}
        codes[present] = text.map(position).fillna(len(top)).to_numpy(dtype=np.int64)
        labels = top + ([OTHER_LABEL] if len(counts) > len(top) else [])
    if not present.all():
        codes[~present] = len(labels)
        labels = [*labels, MISSING_LABEL]
    return codes, labels


def _significant(value: float) -> str:
    return f"{value:.3g}"


def _day(days: float) -> str:
    return (pd.Timestamp("1970-01-01") + pd.Timedelta(days=float(days))).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class FeatureView:
    """One feature against the target."""

    name: str
    kind: str
    association: float
    """Cramér's V of the feature's groups and the target (0: independent, 1: determined)."""
    groups: list[tuple[str, int, float]]
    """(group, labelled rows, outcome) in the group order."""


def feature_view(name: str, values: pd.Series, kind: str, outcome: Outcome,
                 target_groups: np.ndarray) -> FeatureView:
    codes, labels = feature_groups(values, kind)
    labelled = target_groups >= 0
    codes, groups = codes[labelled], target_groups[labelled]
    width = int(groups.max()) + 1 if groups.size else 1
    table = np.bincount(codes * width + groups, minlength=len(labels) * width).reshape(
        len(labels), width)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    strength = float(association(table, method="cramer")) if min(table.shape) >= 2 else 0.0
    rows = np.bincount(codes, minlength=len(labels))
    totals = np.bincount(codes, weights=outcome.values.to_numpy(dtype="float64")[labelled],
                         minlength=len(labels))
    return FeatureView(name, kind, strength,
                       [(labels[i], int(rows[i]), float(totals[i] / rows[i]))
                        for i in range(len(labels)) if rows[i] > 0])


def feature_views(columns: dict[str, tuple[pd.Series, str]], outcome: Outcome
                  ) -> list[FeatureView]:
    """`columns`: name → (values, kind: numeric, categorical or date); strongest first."""
    views = [feature_view(name, values, kind, outcome, outcome.groups)
             for name, (values, kind) in columns.items()]
    return sorted(views, key=lambda view: -view.association)


def spark_scale(values: list[float], overall: float) -> tuple[float, float]:
    """One scale for every feature's bars, so they compare: from min(0, lowest) to the highest
    of `values` (the caller leaves out leaking columns, whose 100 % would flatten everything
    else; bars above the scale are cut at the top and drawn darker)."""
    low = min(0.0, overall, *values)
    high = max(overall, *values)
    return (low, high if high > low else low + 1.0)


def sparkline_svg(view: FeatureView, overall: float, outcome_label: str,
                  scale: tuple[float, float]) -> str:
    """Bars of the outcome per group on `scale`, the overall outcome as a dashed line; each
    bar's tooltip says the group, its rows and its outcome."""
    low, high = scale
    span = (high - low) or 1.0
    count = max(len(view.groups), 1)
    width = (SPARK_WIDTH - 2) / count
    bars = []
    for index, (group, rows, value) in enumerate(view.groups):
        cut = value > high
        height = max(1.0, (min(value, high) - low) / span * (SPARK_HEIGHT - 4))
        colour = "#c44e52" if group == MISSING_LABEL else "#1d3557" if cut else "#4c72b0"
        tip = html.escape(f"{view.name} {group}: {rows} rows, {outcome_label} {value:.3g}")
        bars.append(f'<rect x="{1 + index * width:.1f}" y="{SPARK_HEIGHT - 2 - height:.1f}" '
                    f'width="{max(width - 1, 1):.1f}" height="{height:.1f}" fill="{colour}">'
                    f"<title>{tip}</title></rect>")
    level = SPARK_HEIGHT - 2 - (overall - low) / span * (SPARK_HEIGHT - 4)
    return (f'<svg class="spark" width="{SPARK_WIDTH}" height="{SPARK_HEIGHT}" role="img" '
            f'aria-label="{html.escape(view.name)} against the target">{"".join(bars)}'
            f'<line x1="0" x2="{SPARK_WIDTH}" y1="{level:.1f}" y2="{level:.1f}" '
            'stroke="#333" stroke-dasharray="3,2" stroke-width="1"/></svg>')


MAX_PERIODS = 60
MIN_ROWS_PER_PERIOD = 15
"""Over time, the finest of day, week, month, quarter and year with at most MAX_PERIODS
periods and at least this many rows per period on average (a rate over 6 rows is noise)."""


def period_of(dates: pd.Series) -> str:
    """The pandas period alias for the over-time view of `dates` (see MIN_ROWS_PER_PERIOD)."""
    present = dates.dropna()
    if present.empty:
        return "Y"
    naive = present.dt.tz_localize(None) if present.dt.tz is not None else present
    for alias in ("D", "W", "M", "Q"):
        periods = naive.dt.to_period(alias).nunique()
        if periods <= MAX_PERIODS and len(present) / periods >= MIN_ROWS_PER_PERIOD:
            return alias
    return "Y"


def over_time(dates: pd.Series, outcome: Outcome) -> pd.DataFrame:
    """Rows and outcome per period of `dates` (UTC datetimes); index: period start."""
    present = dates.notna()
    naive = dates[present].dt.tz_localize(None) if dates.dt.tz is not None else dates[present]
    periods = naive.dt.to_period(period_of(dates)).dt.start_time
    grouped = outcome.values[present].groupby(periods)
    frame = pd.DataFrame({"rows": grouped.size(), "outcome": grouped.mean()})
    return frame.sort_index()
