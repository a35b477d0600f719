"""EDA alerts: what in the data will hurt a model, found before training, with evidence.

Modelled on SageMaker Data Wrangler's Data Quality and Insights report and ydata-profiling's
alerts: ID-like, constant, date, high-cardinality, missing, skewed, duplicate rows, class
imbalance, integer codes, outlying regression targets, ID-named columns whose values repeat
(entities whose rows straddle train and test), and target leakage (a feature that alone
predicts the target: decided on the training split when `alerts` is given it, as Preprocess
decides, with a warning for a column that predicts the target only when every row is read).

One detector per idea, each a pure function returning an `Alert` or None; `column_alerts`
applies them to one column in precedence order (a date is not also an ID, an ID is not also
high-cardinality), and `features.plan_features` decides feature roles from the same alerts,
so the report and the model never disagree about a column. Detectors take columns typed by
`typed_frame` (numbers as float64, everything else as text), the way the jobs read CSV.

`alerts()` examines every column: a leak in column 281 of 300 must not pass. On a table of
more than ALERT_CELLS cells (rows × feature columns) the column detectors run on a uniform
sample of rows instead (at least MIN_ALERT_ROWS), and a `rows_sampled` alert says so; duplicate
rows and class balance are always counted on every row. On 31 columns × 569 rows it takes well
under a second, on 300 columns × 8,511 rows about 3 s (the leakage check is one depth-3 tree
per column, 3-fold, on at most LEAK_SAMPLE_ROWS rows).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn import config_context
from sklearn.feature_selection import mutual_info_classif, mutual_info_regression
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.tree import DecisionTreeRegressor

from training.contract import (
    ALERTS_FILE,
    CLASS_WEIGHT_FLAG,
    DECISION_THRESHOLD_FLAG,
    DEFAULT_GATE_METRIC_NAME,
    DEFAULT_GATE_THRESHOLD,
    DEFAULT_HYPERPARAMETERS,
    DEFAULT_SEED,
    IMBALANCE_RATIO,
    TARGET_TRANSFORM_FLAG,
    ClassWeight,
    DecisionThreshold,
    ProblemType,
    TargetTransform,
    is_imbalanced,
    parse_decision_threshold,
)
from training.data.floats import to_floats
from training.jsonio import to_jsonable, write_json

__all__ = [
    "ALERTS_FILE",
    "Alert",
    "AlertKind",
    "AlertSeverity",
    "alert_rows",
    "alerts",
    "alerts_to_json",
    "by_severity",
    "column_alerts",
    "detect_class_imbalance",
    "detect_constant",
    "detect_datetime",
    "detect_duplicate_rows",
    "detect_high_cardinality",
    "detect_id_like",
    "detect_leakage",
    "detect_missing",
    "detect_numeric_categorical",
    "detect_repeated_id",
    "detect_skewed",
    "detect_target_outliers",
    "imbalance_handling",
    "is_stopping_leak",
    "leakage_score",
    "line_r2",
    "robust_z_scores",
    "parse_datetimes",
    "typed_frame",
    "write_alerts",
]

ALERT_CELLS = 5_000_000
"""Rows × feature columns the column detectors examine; a larger table is sampled by rows."""
MIN_ALERT_ROWS = 2_000
"""However wide the table, at least this many rows (all of them when it has fewer)."""
NEAR_CONSTANT_SHARE = 0.99
DATETIME_SHARE = 0.95
"""Share of present values that must parse as dates for a text column to be a date."""
DATETIME_SAMPLE = 1000
HIGH_CARDINALITY_LEVELS = 50
HIGH_CARDINALITY_UNIQUE_SHARE = 0.5
MIN_LEVELS_FOR_UNIQUE_SHARE = 10
"""With fewer levels than this a column is not high-cardinality whatever its unique share."""
ID_NAME_UNIQUE_SHARE = 0.9
"""A column named like an ID is one when at least this share of its values is distinct."""
MIN_ROWS_FOR_UNIQUENESS = 20
"""Below this many values, 'every value is distinct' proves nothing."""
REPEATED_ID_MIN_VALUES = 10
REPEATED_ID_MIN_SHARE = 0.01
"""A column named like an ID whose values repeat names entities (`detect_repeated_id`) when it
has at least REPEATED_ID_MIN_VALUES values and at most 1/REPEATED_ID_MIN_SHARE rows per value on
average; fewer values, or more rows each (a store of thousands of rows), make it a category."""
MISSING_SHARE = 0.2
MISSING_WARNING_SHARE = 0.5
MISSING_CRITICAL_SHARE = 0.95
SKEWNESS = 2.0
OUTLIER_IQR_FACTOR = 3.0
OUTLIER_SHARE = 0.01
"""A numeric column with more values beyond Q1/Q3 ∓ 3·IQR than this share is heavy-tailed."""
MIN_ROWS_FOR_SHAPE = 20
FEW_LEVELS = 10
"""An integer column with 3..FEW_LEVELS distinct values may be a category."""
CODE_MIN_VALUE = 1000
CODE_LEVEL_SHARE = 0.05
"""An integer column of values ≥ CODE_MIN_VALUE (4+ digits) with distinct values below this
share of rows looks like a code (zip, branch, product code): categorical, not a quantity."""
ROBUST_Z_LIMIT = 3.5
"""A regression target whose robust z-score (0.6745·(y − median)/MAD, Iglewicz and Hoaglin)
exceeds this in absolute value is an outlier: ±3.5 MADs is about ±3.5 standard deviations of
a normal target, where one value in ~2000 lands."""
ROBUST_Z_SCALE = 0.6745
"""The normal distribution's MAD in standard deviations: it makes the robust z-score read like
an ordinary one on normal data."""
LEAK_SCORE = 0.98
"""One-feature cross-validated balanced accuracy (classification) or R² (regression) at or
above which a feature is a leak (classification) or a suspected one (regression: see
LEAK_EXACT_R2)."""
LEAK_EXACT_R2 = 1.0 - 1e-6
"""Held-out R² at or above which a regression target is an exact function of one column: the
prediction's error is at most 0.1 % of the target's standard deviation. Only such a column
stops the run; a legitimate noiseless relation (price = 3 × area + 10 × rooms: area alone
scores R² 0.99) is a warning."""
LEAK_FORGIVE_FROM = 20
"""Classes with at least this many rows have one misclassified row forgiven (see
`_forgiving_balanced_accuracy`); smaller ones none, so tiny data does not look leaky."""
LEAK_SAMPLE_ROWS = 5000
LEAK_FOLDS = 3
LEAK_TREE_DEPTH: dict[ProblemType, int] = {
    ProblemType.CLASSIFICATION: 3,
    # A depth-3 tree has 8 leaves: on diabetes even an exact copy of the target scores
    # R² 0.978 < 0.98 with it; depth 6 scores 0.998 on a copy, at most 0.25 on real features.
    ProblemType.REGRESSION: 6,
}
DATETIME_FORMATS: tuple[str, ...] = (
    "ISO8601",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%Y/%m/%d",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d %b %Y",
    "%b %d, %Y",
)
"""Date formats tried in order; the one parsing most values wins (ISO first on a tie)."""
_ID_TOKENS = frozenset({"id", "ids", "uuid", "guid", "idx", "index", "key", "pk", "rowid",
                        "rownum", "rownumber"})
_ID_PAIRS = frozenset({("row", "number"), ("row", "num"), ("row", "no"), ("row", "nr"),
                       ("record", "number"), ("serial", "number"), ("serial", "no")})
_NAME_TOKEN = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


class AlertKind(str, Enum):  # noqa: UP042 - the image's code style; StrEnum is 3.11+
    ID_LIKE = "id_like"
    CONSTANT = "constant"
    NEAR_CONSTANT = "near_constant"
    DATETIME = "datetime"
    HIGH_CARDINALITY = "high_cardinality"
    MISSING = "missing"
    SKEWED = "skewed"
    DUPLICATE_ROWS = "duplicate_rows"
    CLASS_IMBALANCE = "class_imbalance"
    TARGET_OUTLIERS = "target_outliers"
    NUMERIC_CATEGORICAL = "numeric_categorical"
    TARGET_LEAKAGE = "target_leakage"
    ROWS_SAMPLED = "rows_sampled"
    REPEATED_ID = "repeated_id"
    SPLIT = "split"
    LEAKAGE_OUTSIDE_TRAINING = "leakage_outside_training"

    def __str__(self) -> str:
        return self.value


class AlertSeverity(str, Enum):  # noqa: UP042
    """info: worth knowing; warning: likely to hurt the model; critical: likely makes the
    model wrong or its scores meaningless."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    def __str__(self) -> str:
        return self.value


_SEVERITY_RANK = {AlertSeverity.CRITICAL.value: 0, AlertSeverity.WARNING.value: 1,
                  AlertSeverity.INFO.value: 2}


@dataclass(frozen=True)
class Alert:
    """One finding: its kind, the column (None for the whole table), why, and the numbers."""

    kind: str
    column: str | None
    severity: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "column": self.column, "severity": self.severity,
                "message": self.message, "evidence": to_jsonable(self.evidence)}


def _alert(kind: AlertKind, column: str | None, severity: AlertSeverity, message: str,
           **evidence: Any) -> Alert:
    return Alert(kind.value, column, severity.value, message, to_jsonable(evidence))


def alerts_to_json(found: Iterable[Alert]) -> str:
    """The alerts as strict JSON (no NaN), in the order given."""
    return json.dumps([alert.to_dict() for alert in found], indent=2, allow_nan=False)


def write_alerts(path: str | Path, found: Iterable[Alert]) -> Path:
    """Write alerts.json: {"alerts": [...], "counts": {severity: n}}."""
    found = list(found)
    counts = {s.value: sum(a.severity == s.value for a in found) for s in AlertSeverity}
    return write_json(path, {"alerts": [a.to_dict() for a in found], "counts": counts})


# ---------------------------------------------------------------------------------------------
# Typing


def _is_text(values: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(values.dtype)
                or pd.api.types.is_datetime64_any_dtype(values.dtype))


def typed_column(values: pd.Series) -> pd.Series:
    """float64 when every present value is a number (text from CSV included), else as is.

    Booleans count as categories, not numbers.
    """
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype(object)
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.astype("float64")
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values
    parsed = to_floats(values)
    if values.notna().any() and (parsed.notna() | values.isna()).all():
        return parsed.astype("float64")
    return values


def typed_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column through `typed_column`."""
    return pd.DataFrame({name: typed_column(frame[name]) for name in frame.columns},
                        index=frame.index)


def _text_values(values: pd.Series) -> pd.Series:
    """Present values as str (NaN stays out: pandas 2's astype(str) would write 'nan')."""
    present = values.dropna()
    return present.map(lambda v: v if isinstance(v, str) else str(v))


def _is_integer_valued(present: pd.Series) -> bool:
    array = present.to_numpy(dtype="float64")
    return bool(array.size) and bool(np.all(np.isfinite(array) & (array == np.round(array))))


# ---------------------------------------------------------------------------------------------
# Column detectors


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds: messages say 0.0, not np.float64(0.0)."""
    return value.item() if isinstance(value, np.generic) else value


def detect_constant(name: str, values: pd.Series) -> Alert | None:
    """`constant`: one value (or none) in every row; `near_constant`: one value in ≥ 99%."""
    counts = values.value_counts(dropna=False)
    if len(counts) <= 1:
        value = None if counts.empty else _plain(counts.index[0])
        return _alert(AlertKind.CONSTANT, name, AlertSeverity.WARNING,
                      f"column '{name}' has the same value {value!r} in every row: it carries "
                      "no information (dropped from the features)", value=value)
    share = float(counts.iloc[0] / len(values))
    if share >= NEAR_CONSTANT_SHARE:
        return _alert(AlertKind.NEAR_CONSTANT, name, AlertSeverity.INFO,
                      f"column '{name}' is {_plain(counts.index[0])!r} in {share:.1%} of rows",
                      value=counts.index[0], share=share, other_rows=int(len(values)
                                                                         - counts.iloc[0]))
    return None


def detect_missing(name: str, values: pd.Series) -> Alert | None:
    """`missing`: ≥ 20% of rows empty; warning from 50%, critical from 95%."""
    share = float(values.isna().mean()) if len(values) else 0.0
    if share < MISSING_SHARE:
        return None
    severity = (AlertSeverity.CRITICAL if share >= MISSING_CRITICAL_SHARE
                else AlertSeverity.WARNING if share >= MISSING_WARNING_SHARE
                else AlertSeverity.INFO)
    return _alert(AlertKind.MISSING, name, severity,
                  f"column '{name}' is missing in {share:.1%} of rows (imputed for the model)",
                  missing=int(values.isna().sum()), share=share)


def parse_datetimes(values: pd.Series, date_format: str | None) -> pd.Series:
    """Dates (UTC) from text in `date_format`; what does not parse becomes NaT. Values the
    format rejects get a second try as ISO 8601, so a service request in ISO form works."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        parsed = pd.to_datetime(values, utc=True)
        return parsed
    text = values.map(lambda v: v if isinstance(v, str) else (None if pd.isna(v) else str(v)))
    text = text.astype(object)
    parsed = _strict_dates(text, date_format or "ISO8601")
    retry = parsed.isna() & text.notna()
    if date_format not in (None, "ISO8601") and retry.any():
        parsed[retry] = _strict_dates(text[retry], "ISO8601")
    return parsed


def _strict_dates(text: pd.Series, date_format: str) -> pd.Series:
    return pd.to_datetime(text.astype(object), format=date_format, errors="coerce", utc=True)


def days_since_epoch(dates: pd.Series) -> pd.Series:
    """UTC dates as float days since 1970-01-01 (NaN for NaT), whatever pandas' time unit."""
    return (dates - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds() / 86400.0


def _sample(present: pd.Series, size: int) -> pd.Series:
    if len(present) <= size:
        return present
    return present.iloc[np.linspace(0, len(present) - 1, size).astype(int)]


def detect_datetime(name: str, values: pd.Series) -> Alert | None:
    """`datetime`: a date column, or text of which ≥ 95% of present values parse as dates in
    one of DATETIME_FORMATS (numbers are never dates here: 20240101 stays a number)."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        fmt, share, parsed = None, 1.0, parse_datetimes(values.dropna(), None)
    else:
        if not _is_text(values):
            return None
        sample = _sample(_text_values(values), DATETIME_SAMPLE)
        if sample.empty or not sample.head(20).str.contains(r"\d").any():
            return None
        fmt, share = None, 0.0
        for candidate in DATETIME_FORMATS:
            parsed_share = float(_strict_dates(sample, candidate).notna().mean())
            if parsed_share > share:
                fmt, share = candidate, parsed_share
        if share < DATETIME_SHARE:
            return None
        parsed = parse_datetimes(values.dropna(), fmt)
    present = parsed.dropna()
    return _alert(AlertKind.DATETIME, name, AlertSeverity.INFO,
                  f"column '{name}' holds dates ({share:.0%} parse as {fmt or 'datetime'}): "
                  "used as calendar features, not as text",
                  format=fmt, parsed_share=share,
                  min=present.min().isoformat() if not present.empty else None,
                  max=present.max().isoformat() if not present.empty else None)


def _id_name(name: str) -> bool:
    tokens = [token.lower() for token in _NAME_TOKEN.findall(str(name))]
    joined = "".join(tokens)
    return (bool(_ID_TOKENS.intersection(tokens)) or joined in _ID_TOKENS
            or any(pair in _ID_PAIRS for pair in zip(tokens, tokens[1:], strict=False)))


def detect_id_like(name: str, values: pd.Series) -> Alert | None:
    """`id_like`: text unique per row; an integer sequence (monotonic in row order, or
    consecutive once sorted); or a name like *id*/row_number with ≥ 90% distinct values.
    Non-integer numbers are measurements, never IDs."""
    present = values.dropna()
    if len(present) < MIN_ROWS_FOR_UNIQUENESS:
        return None
    distinct = int(present.nunique())
    unique_share = distinct / len(present)
    numeric = not _is_text(values)
    if numeric and not _is_integer_valued(present):
        return None
    reason = None
    if not numeric and distinct == len(present):
        reason = "unique per row"
    elif numeric and distinct == len(present):
        steps = np.diff(np.sort(present.to_numpy(dtype="float64")))
        if present.is_monotonic_increasing or present.is_monotonic_decreasing:
            reason = "a monotonic integer sequence"
        elif np.all(steps == steps[0]):
            reason = "consecutive integers"
    if reason is None and _id_name(name) and unique_share >= ID_NAME_UNIQUE_SHARE:
        reason = f"named like an identifier with {unique_share:.0%} distinct values"
    if reason is None:
        return None
    return _alert(AlertKind.ID_LIKE, name, AlertSeverity.WARNING,
                  f"column '{name}' looks like an identifier ({reason}): it cannot generalise "
                  "to new rows (dropped from the features)",
                  reason=reason, distinct=distinct, unique_share=unique_share)


def detect_repeated_id(name: str, values: pd.Series) -> Alert | None:
    """`repeated_id`: a column named like an identifier (not ID-like: below 90% distinct) whose
    values repeat, a few rows each: it names entities (customers, patients), and a split that
    is not by entity puts rows of one entity in train and test. Non-integer numbers are
    measurements, never IDs. The caller leaves out the declared split key, whose split is
    by entity already."""
    present = values.dropna()
    if not _id_name(name) or len(present) < MIN_ROWS_FOR_UNIQUENESS:
        return None
    if not _is_text(values) and not _is_integer_valued(present):
        return None
    distinct = int(present.nunique())
    unique_share = distinct / len(present)
    if (distinct < REPEATED_ID_MIN_VALUES or unique_share >= ID_NAME_UNIQUE_SHARE
            or unique_share < REPEATED_ID_MIN_SHARE):
        return None
    rows_per_value = len(present) / distinct
    return _alert(AlertKind.REPEATED_ID, name, AlertSeverity.WARNING,
                  f"column '{name}' is named like an identifier and its values repeat "
                  f"({distinct} values, {rows_per_value:.1f} rows each on average, "
                  f"{unique_share:.0%} distinct): if it names an entity (a customer, a patient), "
                  "rows of one entity straddle train and test, so the test score rewards "
                  "recognising entities seen in training instead of predicting new ones. Set "
                  f"the stack's splitKey to '{name}' (Preprocess --split-key {name}) for a group "
                  "split: every row of an entity in one split, the column left out of the "
                  "features, the test score on entities the model never saw. Otherwise it stays "
                  "a feature, which helps on entities seen in training and not on new ones",
                  distinct=distinct, unique_share=unique_share, rows_per_value=rows_per_value,
                  option={"setting": "splitKey", "flag": "split-key", "value": name})


def detect_high_cardinality(name: str, values: pd.Series) -> Alert | None:
    """`high_cardinality`: text with > 50 levels, or > 50% distinct (and ≥ 10 levels)."""
    if not _is_text(values):
        return None
    present = _text_values(values)
    if present.empty:
        return None
    levels = int(present.nunique())
    share = levels / len(present)
    if levels <= HIGH_CARDINALITY_LEVELS and not (
        share > HIGH_CARDINALITY_UNIQUE_SHARE and levels >= MIN_LEVELS_FOR_UNIQUE_SHARE
    ):
        return None
    top = present.value_counts().head(5)
    return _alert(AlertKind.HIGH_CARDINALITY, name, AlertSeverity.INFO,
                  f"column '{name}' has {levels} distinct values ({share:.0%} of rows): "
                  "target-encoded rather than one-hot",
                  levels=levels, unique_share=share, top_levels=dict(top.items()))


def detect_numeric_categorical(name: str, values: pd.Series) -> Alert | None:
    """`numeric_categorical`: integers that are labels, not quantities: 3..10 levels
    (reason `few_levels`: kept numeric, check it), or 4+-digit values with few levels
    (reason `code`, e.g. a zip code: encoded as a category)."""
    if _is_text(values) or pd.api.types.is_datetime64_any_dtype(values.dtype):
        return None
    present = values.dropna()
    if not _is_integer_valued(present):
        return None
    levels = int(present.nunique())
    if levels < 3:
        return None
    if present.min() >= CODE_MIN_VALUE and levels <= CODE_LEVEL_SHARE * len(present):
        return _alert(AlertKind.NUMERIC_CATEGORICAL, name, AlertSeverity.WARNING,
                      f"column '{name}' looks like a code ({levels} distinct values of 4+ "
                      "digits): encoded as a category, not a quantity",
                      reason="code", levels=levels)
    if levels <= FEW_LEVELS:
        return _alert(AlertKind.NUMERIC_CATEGORICAL, name, AlertSeverity.INFO,
                      f"column '{name}' has only {levels} integer values: if they are labels "
                      "rather than amounts, write them as text",
                      reason="few_levels", levels=levels,
                      values=sorted(present.unique().tolist())[:FEW_LEVELS])
    return None


def detect_skewed(name: str, values: pd.Series) -> Alert | None:
    """`skewed`: |skewness| > 2, or > 1% of values beyond the 3·IQR fences."""
    if _is_text(values) or pd.api.types.is_datetime64_any_dtype(values.dtype):
        return None
    present = values.to_numpy(dtype="float64", na_value=np.nan)
    present = present[~np.isnan(present)]
    if len(present) < MIN_ROWS_FOR_SHAPE or len(np.unique(present)) < 3:
        return None
    skewness = float(stats.skew(present, bias=False))  # pandas' Series.skew, without pandas
    q1, q3 = (float(q) for q in np.quantile(present, [0.25, 0.75]))
    iqr = q3 - q1
    low, high = q1 - OUTLIER_IQR_FACTOR * iqr, q3 + OUTLIER_IQR_FACTOR * iqr
    outliers = float(((present < low) | (present > high)).mean()) if iqr > 0 else 0.0
    if abs(skewness) <= SKEWNESS and outliers <= OUTLIER_SHARE:
        return None
    return _alert(AlertKind.SKEWED, name, AlertSeverity.INFO,
                  f"column '{name}' is skewed (skewness {skewness:.1f}, {outliers:.1%} of values "
                  f"beyond {OUTLIER_IQR_FACTOR:g}×IQR): consider a log transform or clipping",
                  skewness=skewness, outlier_share=outliers, fences=[low, high])


def column_alerts(name: str, values: pd.Series) -> list[Alert]:
    """The alerts of one typed feature column, in precedence order: a constant column gets
    no others; a date is not also an ID or high-cardinality; an ID is not also skewed."""
    missing = detect_missing(name, values)
    found = [missing] if missing else []
    constant = detect_constant(name, values)
    if constant is not None and constant.kind == AlertKind.CONSTANT.value:
        return [constant, *found]
    if constant is not None:
        found.append(constant)
    for detector in (detect_datetime, detect_id_like):
        alert = detector(name, values)
        if alert is not None:
            return [alert, *found]
    if _is_text(values):
        candidates = [detect_high_cardinality(name, values)]
    else:
        categorical = detect_numeric_categorical(name, values)
        candidates = [categorical, None if categorical else detect_skewed(name, values)]
    return [*[alert for alert in candidates if alert is not None], *found]


# ---------------------------------------------------------------------------------------------
# Table detectors


def detect_duplicate_rows(frame: pd.DataFrame, id_columns: Sequence[str] = ()) -> Alert | None:
    """`duplicate_rows`: rows repeated exactly, or repeated but for their ID-like columns
    (an ID hides duplicates: two rows for one customer record)."""
    if frame.empty:
        return None
    exact = int(frame.duplicated().sum())
    rest = [c for c in frame.columns if c not in set(id_columns)]
    ignoring_ids = int(frame[rest].duplicated().sum()) if id_columns and rest else exact
    count = max(exact, ignoring_ids)
    if count == 0:
        return None
    share = count / len(frame)
    which = (f"{exact} exact" if exact == count
             else f"{ignoring_ids} identical apart from ID-like column(s) {list(id_columns)}")
    return _alert(AlertKind.DUPLICATE_ROWS, None,
                  AlertSeverity.WARNING if share >= 0.01 else AlertSeverity.INFO,
                  f"{count} duplicate rows ({share:.1%}; {which}): kept, and every copy lands "
                  "in the same split (a row's split is a hash of its feature values), so no "
                  "copy in train answers a test row; training weighs a row by its copies",
                  exact=exact, ignoring_id_columns=ignoring_ids, share=share)


def detect_class_imbalance(
    target: str, labels: pd.Series,
    class_weight: str = DEFAULT_HYPERPARAMETERS[CLASS_WEIGHT_FLAG],
    decision_threshold: str | float = DEFAULT_HYPERPARAMETERS[DECISION_THRESHOLD_FLAG],
) -> Alert | None:
    """`class_imbalance`: minority/majority class ratio < IMBALANCE_RATIO (0.25; binary:
    minority < 20%), the rule training uses (`training.contract.is_imbalanced`).

    Critical when always predicting the majority class would pass an accuracy gate at its
    default threshold (the default gate metric, balanced accuracy, scores that predictor 1/k).
    The message says what training does about it with these `class_weight` and
    `decision_threshold` settings, or that they are off and how to turn them on.
    """
    counts = _text_values(labels).value_counts()
    if not is_imbalanced(counts.tolist()):
        return None
    total = int(counts.sum())
    baseline = float(counts.iloc[0] / total)
    accuracy_gate = DEFAULT_GATE_THRESHOLD["accuracy"]
    default_metric = DEFAULT_GATE_METRIC_NAME[ProblemType.CLASSIFICATION]
    passes = baseline >= accuracy_gate
    # critical only when nothing corrects for it: the model would then lean to the majority
    weighted = ClassWeight(class_weight) is ClassWeight.BALANCED
    severity = AlertSeverity.CRITICAL if passes and not weighted else AlertSeverity.WARNING
    gate_note = (f"; that passes an accuracy gate at {accuracy_gate:g}: gate on "
                 f"{default_metric} (the default; this predictor scores "
                 f"{1 / len(counts):.2f} on it)" if passes else "")
    handling = imbalance_handling(class_weight, decision_threshold, binary=len(counts) == 2)
    return _alert(AlertKind.CLASS_IMBALANCE, target, severity,
                  f"target '{target}' is imbalanced: class {counts.index[-1]!r} is "
                  f"{counts.iloc[-1] / total:.1%} of rows; always predicting {counts.index[0]!r} "
                  f"scores accuracy {baseline:.3f} (the majority baseline){gate_note}. "
                  f"{handling}",
                  class_counts=dict(counts.items()), minority_class=counts.index[-1],
                  minority_share=float(counts.iloc[-1] / total), majority_class=counts.index[0],
                  majority_baseline_accuracy=baseline, accuracy_gate_threshold=accuracy_gate,
                  majority_baseline_balanced_accuracy=1 / len(counts),
                  imbalance_ratio=IMBALANCE_RATIO, class_weight=class_weight,
                  decision_threshold=decision_threshold)


def imbalance_handling(class_weight: str, decision_threshold: str | float,
                       binary: bool) -> str:
    """What training does about imbalanced classes with these settings, in one sentence or
    two: class weights, the decision threshold (binary only), or what to set to get them."""
    threshold = parse_decision_threshold(decision_threshold)
    parts, advice = [], []
    if ClassWeight(class_weight) is ClassWeight.BALANCED:
        parts.append("weights classes inversely to their frequency")
    else:
        parts.append(f"does not weight classes ({CLASS_WEIGHT_FLAG} {ClassWeight.NONE})")
        advice.append(f"{CLASS_WEIGHT_FLAG} {ClassWeight.BALANCED}")
    if binary and threshold == DecisionThreshold.AUTO.value:
        parts.append("tunes the decision threshold on the validation split for the gate "
                     "metric")
    elif binary and threshold == DecisionThreshold.NONE.value:
        parts.append(f"keeps the estimator's labels ({DECISION_THRESHOLD_FLAG} "
                     f"{DecisionThreshold.NONE})")
        advice.append(f"{DECISION_THRESHOLD_FLAG} {DecisionThreshold.AUTO}")
    elif binary:
        parts.append(f"labels a row positive from probability {threshold:g} "
                     f"({DECISION_THRESHOLD_FLAG})")
    sentence = "Training " + " and ".join(parts)
    if advice:
        sentence += ("; the model will lean towards the majority class: set "
                     + " and ".join(advice)
                     + (" (the defaults)" if len(advice) > 1 else " (the default)")
                     + " to correct for it")
    return sentence + "."


def robust_z_scores(values: np.ndarray) -> np.ndarray:
    """0.6745·(x − median)/MAD per value; zeros when the MAD is 0 (half the values equal)."""
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median)))
    if mad == 0:
        return np.zeros(len(values))
    return ROBUST_Z_SCALE * (values - median) / mad


def detect_target_outliers(target: str, values: pd.Series) -> Alert | None:
    """`target_outliers`: regression targets beyond ±ROBUST_Z_LIMIT robust z-scores.

    A squared-error fit chases them (1 % of diabetes targets ×50 takes r2 on the other rows
    below 0), so the alert names how many, how extreme, and the option that resists them:
    the quantile target transform. A warning, since a unit slip or entry error is the usual
    cause and the model is then wrong for everyone else.
    """
    present = to_floats(values).to_numpy(dtype="float64")
    present = present[np.isfinite(present)]
    if len(present) < MIN_ROWS_FOR_SHAPE:
        return None
    scores = robust_z_scores(present)
    outlying = np.abs(scores) > ROBUST_Z_LIMIT
    count = int(outlying.sum())
    if count == 0:
        return None
    share = count / len(present)
    worst = float(np.max(np.abs(scores)))
    examples = sorted(present[outlying].tolist(), key=abs, reverse=True)[:5]
    median = float(np.median(present))
    option = f"{TARGET_TRANSFORM_FLAG} {TargetTransform.QUANTILE.value}"
    return _alert(AlertKind.TARGET_OUTLIERS, target, AlertSeverity.WARNING,
                  f"target '{target}' has {count} outlying value(s) ({share:.1%} of rows; "
                  f"robust z-score up to {worst:.0f}, limit ±{ROBUST_Z_LIMIT:g} around the "
                  f"median {median:.4g}; e.g. {', '.join(f'{v:.4g}' for v in examples)}): a "
                  "squared-error model chases them at the other rows' expense; check them for "
                  f"unit or entry errors, or train with --{option} (the stack's "
                  "targetTransform)",
                  count=count, share=share, max_robust_z=worst, limit=ROBUST_Z_LIMIT,
                  median=median, examples=examples,
                  option={"hyperparameter": TARGET_TRANSFORM_FLAG,
                          "value": TargetTransform.QUANTILE.value})


# ---------------------------------------------------------------------------------------------
# Target leakage


@dataclass(frozen=True)
class _LeakSetup:
    y: np.ndarray
    rows: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]
    classes: int


def _leak_setup(target: pd.Series, problem_type: ProblemType, seed: int) -> _LeakSetup | None:
    labelled = np.flatnonzero(target.notna().to_numpy())
    if len(labelled) < LEAK_FOLDS * 2:
        return None
    rng = np.random.default_rng(seed)
    if len(labelled) > LEAK_SAMPLE_ROWS:
        labelled = np.sort(rng.choice(labelled, LEAK_SAMPLE_ROWS, replace=False))
    values = target.iloc[labelled]
    if problem_type is ProblemType.CLASSIFICATION:
        y, uniques = pd.factorize(_text_values(values), sort=True)
        counts = np.bincount(y)
        if len(uniques) < 2:
            return None
        splitter = (StratifiedKFold(LEAK_FOLDS, shuffle=True, random_state=seed)
                    if counts.min() >= LEAK_FOLDS else KFold(LEAK_FOLDS, shuffle=True,
                                                             random_state=seed))
        classes = len(uniques)
    else:
        y = to_floats(values).to_numpy(dtype="float64")
        if np.nanstd(y) == 0:
            return None
        splitter, classes = KFold(LEAK_FOLDS, shuffle=True, random_state=seed), 0
    folds = list(splitter.split(np.zeros((len(y), 1)), y))
    return _LeakSetup(np.asarray(y), labelled, folds, classes)


def _encode_in_fold(text: pd.Series, y: np.ndarray, train: np.ndarray, classes: int
                    ) -> np.ndarray:
    """A text column as per-category target means learnt on the train fold (class shares for
    classification); categories unseen in train become NaN."""
    codes = pd.Series(pd.factorize(text)[0]).where(text.notna().to_numpy(), -1).to_numpy()
    outcome = np.eye(classes)[y] if classes else y.reshape(-1, 1)
    means = pd.DataFrame(outcome[train]).groupby(codes[train]).mean()
    encoded = means.reindex(codes).to_numpy(dtype="float64")
    return encoded[:, 1:] if classes == 2 else encoded


def _leak_input(values: pd.Series, date_format: str | None) -> pd.Series:
    if date_format is not None or pd.api.types.is_datetime64_any_dtype(values.dtype):
        return days_since_epoch(parse_datetimes(values, date_format))
    return values


def _tree_input(encoded: np.ndarray) -> np.ndarray:
    """float32 without NaN (missing → below the minimum, so a split can isolate it): the
    trees then fit with check_input=False, which skips most of scikit-learn's per-call cost."""
    encoded = np.asarray(encoded, dtype="float64")
    present = encoded[~np.isnan(encoded)]
    floor = (present.min() - 1.0) if present.size else 0.0
    return np.ascontiguousarray(np.where(np.isnan(encoded), floor, encoded), dtype=np.float32)


def _forgiving_balanced_accuracy(y: np.ndarray, predicted: np.ndarray, classes: int) -> float:
    """Mean recall over classes, forgiving one error in each class of ≥ LEAK_FORGIVE_FROM rows.

    With 22 positives one noisy row costs 4.5% recall, enough to hide a column that agrees
    with the target on 232 of 234 rows (the issue's churn table) below a 0.98 threshold.
    """
    recalls = []
    for label in range(classes):
        rows = y == label
        size = int(rows.sum())
        if size == 0:
            continue
        wrong = int((predicted[rows] != label).sum())
        if size >= LEAK_FORGIVE_FROM:
            wrong = max(wrong - 1, 0)
        recalls.append(1.0 - wrong / size)
    return float(np.mean(recalls))


def _r2(y: np.ndarray, predicted: np.ndarray) -> float:
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - predicted) ** 2).sum()) / total if total else 0.0


def leakage_score(values: pd.Series, setup: _LeakSetup, problem_type: ProblemType,
                  seed: int = DEFAULT_SEED) -> float:
    """Cross-validated score of a small tree on this one column: every sampled row predicted
    once out of fold; balanced accuracy (see `_forgiving_balanced_accuracy`) or R²."""
    x = values.iloc[setup.rows].reset_index(drop=True)
    text = _is_text(x)
    depth = LEAK_TREE_DEPTH[problem_type]
    classification = problem_type is ProblemType.CLASSIFICATION
    numeric = None if text else _tree_input(x.to_numpy(dtype="float64").reshape(-1, 1))
    with config_context(skip_parameter_validation=True):  # 90 tiny fits: validation dominates
        predicted = _out_of_fold(x, text, numeric, setup, classification, depth, seed)
    if classification:
        return _forgiving_balanced_accuracy(setup.y, predicted, setup.classes)
    return _r2(setup.y, predicted)


def _out_of_fold(x: pd.Series, text: bool, numeric: np.ndarray | None, setup: _LeakSetup,
                 classification: bool, depth: int, seed: int) -> np.ndarray:
    """Each row predicted once by a tree fitted on the other folds.

    Classification fits a regression tree on the one-hot classes: squared error summed over
    one-hot outputs is the Gini impurity, so the splits are a DecisionTreeClassifier's, and
    the argmax of the leaf shares is its prediction; it skips the classifier's per-fit target
    checks, which cost more than the fit on small data.
    """
    predicted = np.zeros(len(setup.y), dtype=setup.y.dtype)
    outcome = np.eye(setup.classes)[setup.y] if classification else setup.y
    for train, test in setup.folds:
        encoded = _tree_input(_encode_in_fold(x, setup.y, train, setup.classes)) if text \
            else numeric
        tree = DecisionTreeRegressor(max_depth=depth, random_state=seed)
        tree.fit(encoded[train], outcome[train], check_input=False)
        estimate = tree.predict(encoded[test], check_input=False)
        predicted[test] = np.argmax(estimate, axis=1) if classification else estimate
    return predicted


def line_r2(values: pd.Series, setup: _LeakSetup) -> float:
    """Out-of-fold R² of a straight line through one numeric column (least squares on each
    fold's train rows where the column is present, scored on the other rows where it is): 1.0
    for a copy of the target, a unit change or an offset (target = 2 × column + 1), which a
    depth-limited tree only approximates. NaN for text or too few present rows."""
    x_values = values.iloc[setup.rows].reset_index(drop=True)
    if _is_text(x_values):
        return float("nan")
    x = x_values.to_numpy(dtype="float64")
    present = ~np.isnan(x)
    predicted = np.full(len(setup.y), np.nan)
    for train, test in setup.folds:
        fit = train[present[train]]
        if len(fit) < 2:
            continue
        centred = x[fit] - x[fit].mean()
        spread = float((centred ** 2).sum())
        slope = float((centred * (setup.y[fit] - setup.y[fit].mean())).sum()) / spread \
            if spread else 0.0
        predicted[test] = setup.y[fit].mean() + slope * (x[test] - x[fit].mean())
    scored = ~np.isnan(predicted)
    if scored.sum() < LEAK_FOLDS * 2:
        return float("nan")
    return _r2(setup.y[scored], predicted[scored])


def _leak_alert(name: str, target: str, problem_type: ProblemType, score: float,
                line: float, setup: _LeakSetup, mutual_information: Mapping[str, float]
                ) -> Alert:
    """Classification: a leak (critical). Regression: a leak when the column determines the
    target exactly (the tree's or the line's held-out R² ≥ LEAK_EXACT_R2), else a warning."""
    folds = f"{LEAK_FOLDS}-fold"
    if problem_type is ProblemType.CLASSIFICATION:
        return _alert(
            AlertKind.TARGET_LEAKAGE, name, AlertSeverity.CRITICAL,
            f"column '{name}' alone predicts target '{target}' (balanced_accuracy {score:.3f} ≥ "
            f"{LEAK_SCORE:g}, {folds}): it likely leaks the answer",
            metric="balanced_accuracy", score=score, threshold=LEAK_SCORE,
            rows=len(setup.rows), **mutual_information)
    best = max(score, line) if not np.isnan(line) else score
    exact = best >= LEAK_EXACT_R2
    evidence = dict(metric="r2", score=best, threshold=LEAK_SCORE, exact=exact,
                    exact_threshold=LEAK_EXACT_R2, tree_r2=score,
                    line_r2=None if np.isnan(line) else line, rows=len(setup.rows),
                    **mutual_information)
    if exact:
        how = "a straight line through it" if line >= LEAK_EXACT_R2 else "a tree on it"
        return _alert(
            AlertKind.TARGET_LEAKAGE, name, AlertSeverity.CRITICAL,
            f"column '{name}' determines target '{target}' exactly (r2 {best:.6f} on held-out "
            f"rows, {folds}, {how}): it is the answer, copied or rescaled", **evidence)
    return _alert(
        AlertKind.TARGET_LEAKAGE, name, AlertSeverity.WARNING,
        f"column '{name}' predicts target '{target}' almost perfectly (r2 {best:.4f} ≥ "
        f"{LEAK_SCORE:g}, {folds}) but not exactly: it stays a feature; check it is not a copy "
        f"of the target (computed from it, or recorded after it) and remove it from the data "
        f"if it is", **evidence)


def _mutual_information(values: pd.Series, setup: _LeakSetup, problem_type: ProblemType,
                        seed: int) -> dict[str, float]:
    x = values.iloc[setup.rows].reset_index(drop=True)
    discrete = _is_text(x)
    if discrete:
        column = pd.factorize(x)[0].astype("float64")
    else:
        column = x.to_numpy(dtype="float64")
        column = np.where(np.isnan(column), np.nanmedian(column), column)
    column = column.reshape(-1, 1)
    if problem_type is ProblemType.CLASSIFICATION:
        mi = float(mutual_info_classif(column, setup.y, discrete_features=discrete,
                                       random_state=seed)[0])
        shares = np.bincount(setup.y) / len(setup.y)
        entropy = float(-(shares[shares > 0] * np.log(shares[shares > 0])).sum())
        return {"mutual_information": mi, "normalized_mutual_information": mi / entropy}
    mi = float(mutual_info_regression(column, setup.y, discrete_features=discrete,
                                      random_state=seed)[0])
    return {"mutual_information": mi}


def detect_leakage(
    frame: pd.DataFrame,
    target: str,
    problem_type: ProblemType | str,
    columns: Sequence[str] | None = None,
    *,
    date_formats: Mapping[str, str | None] | None = None,
    seed: int = DEFAULT_SEED,
) -> list[Alert]:
    """`target_leakage`: each column (typed) that alone predicts the target almost perfectly.

    A tree (depth 3; 6 for regression, see LEAK_TREE_DEPTH) on the one column, 3-fold
    cross-validated on at most LEAK_SAMPLE_ROWS sampled rows, scores balanced accuracy (one
    error forgiven per class of ≥ LEAK_FORGIVE_FROM rows) or R²; ≥ LEAK_SCORE is a leak for
    classification (critical). For regression a score that high is also what a legitimate
    noiseless relation gives, so only an exact one is a leak (critical): the tree's held-out
    R², or a straight line's (`line_r2`: copies, unit changes, offsets), ≥ LEAK_EXACT_R2; the
    others are warnings (`evidence["exact"]` False), which `plan_features` neither stops on nor
    drops. An exact non-linear function (target = column²) is only warned about: on held-out
    rows it is not told apart from a strong real feature. Text is target-mean encoded inside
    each fold. Mutual information with the target is reported as supporting evidence.
    """
    problem_type = ProblemType(problem_type)
    setup = _leak_setup(frame[target], problem_type, seed)
    if setup is None:
        return []
    date_formats = date_formats or {}
    regression = problem_type is ProblemType.REGRESSION
    found = []
    for name in columns if columns is not None else [c for c in frame.columns if c != target]:
        values = _leak_input(frame[name], date_formats.get(name)) if name in date_formats \
            else frame[name]
        if values.iloc[setup.rows].isna().all():
            continue
        score = leakage_score(values, setup, problem_type, seed)
        line = line_r2(values, setup) if regression else float("nan")
        if score < LEAK_SCORE and not line >= LEAK_EXACT_R2:
            continue
        found.append(_leak_alert(name, target, problem_type, score, line, setup,
                                 _mutual_information(values, setup, problem_type, seed)))
    return found


def is_stopping_leak(alert: Alert) -> bool:
    """A `target_leakage` alert the leak policy acts on (stop or drop): every critical one (a
    classification leak, an exact regression one); a warning only informs."""
    return (alert.kind == AlertKind.TARGET_LEAKAGE.value
            and alert.severity == AlertSeverity.CRITICAL.value)


# ---------------------------------------------------------------------------------------------
# All of it


def _leaks_outside_training(leaks: Sequence[Alert], training_rows: int) -> list[Alert]:
    """`leakage_outside_training`: a column the leak rule flags on every labelled row but not
    on the training split, where Preprocess decides. Preprocess keeps it (its decision reads no
    test label), so this is a warning for a person to look at: on a small training split a
    single noisy row can hide a real leak, and a column that matches only the newer rows may be
    one filled in after the outcome was known."""
    return [_alert(AlertKind.LEAKAGE_OUTSIDE_TRAINING, alert.column, AlertSeverity.WARNING,
                   f"column '{alert.column}' alone predicts the target on all labelled rows "
                   f"({alert.evidence['metric']} {alert.evidence['score']:.3f}) but not on the "
                   f"{training_rows} training rows Preprocess decides on, so Preprocess keeps "
                   "it: check whether it leaks the answer (on a small training split one noisy "
                   "row can hide a leak); remove it from the data if it does",
                   **{**alert.evidence, "training_rows": training_rows})
            for alert in leaks]


def alert_rows(rows: int, columns: int) -> int:
    """Rows the column detectors examine in a table of `rows` × `columns` features."""
    return min(rows, max(MIN_ALERT_ROWS, ALERT_CELLS // max(columns, 1)))


def alerts(
    frame: pd.DataFrame, target: str, problem_type: ProblemType | str, *,
    seed: int = DEFAULT_SEED,
    class_weight: str = DEFAULT_HYPERPARAMETERS[CLASS_WEIGHT_FLAG],
    decision_threshold: str | float = DEFAULT_HYPERPARAMETERS[DECISION_THRESHOLD_FLAG],
    leak_rows: pd.Series | None = None,
    split_key: str | None = None,
) -> list[Alert]:
    """Every alert for a table, most severe first (then table-wide, then column order);
    `class_weight` and `decision_threshold` are training's, which the imbalance alert names.
    `leak_rows` (a boolean mask on `frame`) limits the leakage check to those rows: the
    training split, as Preprocess decides it; `split_key` is the declared split key, which the
    repeated-ID alert leaves alone."""
    problem_type = ProblemType(problem_type)
    if target not in frame.columns:
        raise ValueError(f"target column '{target}' not found (columns: {list(frame.columns)})")
    examined = [c for c in frame.columns if c != target]
    rows = alert_rows(len(frame), len(examined))
    found: list[Alert] = []
    sample = frame
    if rows < len(frame):
        picked = np.sort(np.random.default_rng(seed).choice(len(frame), rows, replace=False))
        sample = frame.iloc[picked]
        found.append(_alert(AlertKind.ROWS_SAMPLED, None, AlertSeverity.INFO,
                            f"{len(examined)} feature columns × {len(frame)} rows: the column "
                            f"alerts and the leakage check looked at every column on a uniform "
                            f"sample of {rows} rows", rows=rows, total_rows=len(frame),
                            columns=len(examined)))
    typed = typed_frame(sample[[*examined, target]])
    per_column = {name: column_alerts(name, typed[name]) for name in examined}
    kinds = {name: {a.kind: a for a in column} for name, column in per_column.items()}
    id_columns = [n for n, k in kinds.items() if AlertKind.ID_LIKE.value in k]
    duplicates = detect_duplicate_rows(frame, id_columns)
    if duplicates:
        found.append(duplicates)
    if problem_type is ProblemType.CLASSIFICATION:
        imbalance = detect_class_imbalance(target, frame[target].dropna(), class_weight,
                                           decision_threshold)
        if imbalance:
            found.append(imbalance)
    else:
        outliers = detect_target_outliers(target, frame[target])
        if outliers:
            found.append(outliers)
    for column in per_column.values():
        found.extend(column)
    skip = {AlertKind.ID_LIKE.value, AlertKind.CONSTANT.value}
    not_entities = {*skip, AlertKind.DATETIME.value}
    for name in examined:
        if name != split_key and not not_entities.intersection(kinds[name]):
            repeated = detect_repeated_id(name, typed[name])
            if repeated is not None:
                found.append(repeated)
    candidates = [n for n in examined if not skip.intersection(kinds[n]) and n != split_key]
    date_formats = {n: k[AlertKind.DATETIME.value].evidence["format"] for n, k in kinds.items()
                    if AlertKind.DATETIME.value in k}
    checked = typed if leak_rows is None else typed[
        leak_rows.reindex(typed.index, fill_value=False).to_numpy(dtype=bool)]
    leaks = detect_leakage(checked, target, problem_type, candidates,
                           date_formats=date_formats, seed=seed)
    found.extend(leaks)
    if leak_rows is not None:
        flagged = {alert.column for alert in leaks}
        unflagged = [name for name in candidates if name not in flagged]
        found.extend(_leaks_outside_training(
            detect_leakage(typed, target, problem_type, unflagged, date_formats=date_formats,
                           seed=seed), int(len(checked))))
    return by_severity(found)


def by_severity(found: Iterable[Alert]) -> list[Alert]:
    """Alerts most severe first, otherwise in the order given."""
    return sorted(found, key=lambda alert: _SEVERITY_RANK[alert.severity])
