"""Features that fit the data: which columns the model uses, how each is encoded, and why.

`plan_features` reads the same alerts the EDA report shows (`training.data.alerts.column_alerts`
and `detect_leakage`) and turns them into a `FeaturePlan`: ID-like and constant columns are
dropped, a leaking column stops the run (or is dropped, or kept, by `leak_policy`), dates
become calendar features, text becomes one-hot (few levels) or target-encoded (many). A
regression column that predicts the target almost but not exactly perfectly is a warning
alert only (`training.data.alerts.detect_leakage`): it stays a feature under every policy.
`build_transformer` makes the scikit-learn ColumnTransformer for a plan. It takes RAW rows,
text or typed (numbers as "3.5" or 3.5, dates as "2024-03-01"), so the fitted transformer
transforms a serving request exactly as it transformed the training rows. A number or date
column with missing values in the rows it is fitted on gets a missing-value indicator
(``missingindicator_<column>``) next to its imputed value: when missingness carries signal
(a value left empty more often for one class), imputation alone hides it from a linear model.
A column that never missed in training gets none (a clean table keeps its width); a serving
request missing it is imputed, as before.

Everything in the transformer is picklable by reference to this module (joblib), so the
serving container needs only the ``training`` package it already receives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    StandardScaler,
    TargetEncoder,
)
from sklearn.utils.validation import check_is_fitted

from training.contract import DEFAULT_SEED, LEAK_POLICY_FLAG, ProblemType
from training.data.alerts import (
    Alert,
    AlertKind,
    column_alerts,
    days_since_epoch,
    detect_leakage,
    is_stopping_leak,
    parse_datetimes,
    typed_frame,
)
from training.data.floats import to_floats
from training.data.problems import SchemaError

__all__ = [
    "CALENDAR_PARTS",
    "DEFAULT_DATETIME_PARTS",
    "DatetimeFeatures",
    "DropReason",
    "FeaturePlan",
    "LeakError",
    "LeakPolicy",
    "build_transformer",
    "plan_columns",
    "plan_features",
]

DEFAULT_DATETIME_PARTS: tuple[str, ...] = ("year", "month", "dayofweek", "dayofyear")
DEFAULT_MAX_ONEHOT_LEVELS = 20
MISSING_CATEGORY = "(missing)"
"""The category an empty cell of a categorical column becomes (seen in training and serving)."""
MISSING_INDICATOR_PREFIX = "missingindicator_"
"""The name of a column's missing-value indicator feature, before the column's name (the name
scikit-learn's SimpleImputer(add_indicator=True) gives numbers; dates use the same)."""


def _part(accessor: str) -> Callable[[pd.Series], pd.Series]:
    return lambda dates: getattr(dates.dt, accessor)


CALENDAR_PARTS: dict[str, Callable[[pd.Series], pd.Series]] = {
    "year": _part("year"),
    "quarter": _part("quarter"),
    "month": _part("month"),
    "day": _part("day"),
    "dayofweek": _part("day_of_week"),
    "dayofyear": _part("day_of_year"),
    "hour": _part("hour"),
    "days_since_epoch": days_since_epoch,
}
"""Calendar features a date column can become (UTC), by name."""


class LeakPolicy(str, Enum):  # noqa: UP042 - the image's code style; StrEnum is 3.11+
    """What `plan_features` does with a column that leaks the target."""

    STOP = "stop"
    DROP = "drop"
    PROCEED = "proceed"

    def __str__(self) -> str:
        return self.value


class DropReason(str, Enum):  # noqa: UP042
    ID_LIKE = "id_like"
    CONSTANT = "constant"
    TARGET_LEAKAGE = "target_leakage"
    SPLIT_KEY = "split_key"
    """The declared split key: the test split holds only entities train never saw, so as a
    feature it could only be scored on entities unknown to it."""

    def __str__(self) -> str:
        return self.value


class LeakError(SchemaError):
    """Columns leak the target; the message is one line naming them and the way out (a
    SchemaError, so jobs report it like any other data problem)."""

    def __init__(self, target: str, leaks: Sequence[Alert]) -> None:
        self.columns = [alert.column for alert in leaks]
        exact = any(a.evidence.get("exact") for a in leaks)
        digits = 6 if exact else 3
        scores = ", ".join(
            f"'{a.column}' ({a.evidence['metric']} {a.evidence['score']:.{digits}f})"
            for a in leaks
        )
        threshold = (f"exactly: held-out r2 ≥ {leaks[0].evidence['exact_threshold']:g}" if exact
                     else f"threshold {leaks[0].evidence['threshold']:g}")
        super().__init__(
            f"column(s) {scores} alone predict target '{target}' ({threshold}): they likely "
            f"leak the answer; remove them from "
            f"the data, or set --{LEAK_POLICY_FLAG} drop to train without them or "
            f"--{LEAK_POLICY_FLAG} proceed to keep them"
        )


@dataclass(frozen=True)
class FeaturePlan:
    """The model's input columns by encoding, the dropped ones with their reason, and the
    alerts the decisions came from. Column order is the input's."""

    target: str
    problem_type: str
    target_type: str
    """TargetEncoder's target type: binary, multiclass or continuous."""
    numeric: tuple[str, ...] = ()
    datetime: tuple[str, ...] = ()
    onehot: tuple[str, ...] = ()
    target_encoded: tuple[str, ...] = ()
    dropped: dict[str, str] = field(default_factory=dict)
    """Column → DropReason value."""
    datetime_formats: dict[str, str | None] = field(default_factory=dict)
    datetime_parts: tuple[str, ...] = DEFAULT_DATETIME_PARTS
    seed: int = DEFAULT_SEED
    """Seeds the target encoder's cross-fitting folds, so a refit gives the same features."""
    alerts: tuple[Alert, ...] = ()

    @property
    def feature_columns(self) -> tuple[str, ...]:
        """Every input column the transformer reads."""
        return (*self.numeric, *self.datetime, *self.onehot, *self.target_encoded)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (plan.json next to the transformer; alerts are in alerts.json)."""
        return {
            "target": self.target,
            "problem_type": self.problem_type,
            "target_type": self.target_type,
            "numeric": list(self.numeric),
            "datetime": list(self.datetime),
            "onehot": list(self.onehot),
            "target_encoded": list(self.target_encoded),
            "dropped": dict(self.dropped),
            "datetime_formats": dict(self.datetime_formats),
            "datetime_parts": list(self.datetime_parts),
            "seed": self.seed,
        }


def _target_type(labels: pd.Series, problem_type: ProblemType) -> str:
    if problem_type is ProblemType.REGRESSION:
        return "continuous"
    return "binary" if labels.dropna().astype(object).nunique() == 2 else "multiclass"


def _validate_options(datetime_parts: Sequence[str], max_onehot_levels: int,
                      leak_policy: str) -> LeakPolicy:
    unknown = [p for p in datetime_parts if p not in CALENDAR_PARTS]
    if unknown or not datetime_parts:
        raise ValueError(f"datetime_parts {list(datetime_parts)} must be a non-empty subset of "
                         f"{list(CALENDAR_PARTS)}")
    if max_onehot_levels < 1:
        raise ValueError(f"max_onehot_levels must be >= 1 (got {max_onehot_levels})")
    try:
        return LeakPolicy(leak_policy)
    except ValueError:
        allowed = ", ".join(p.value for p in LeakPolicy)
        raise ValueError(f"leak_policy must be one of {allowed} (got {leak_policy!r})") from None


def _categorical_role(values: pd.Series, max_onehot_levels: int) -> str:
    levels = values.dropna().astype(object).nunique()
    return "onehot" if levels <= max_onehot_levels else "target_encoded"


def _role(values: pd.Series, kinds: Mapping[str, Alert], max_onehot_levels: int) -> str:
    """numeric, datetime, onehot or target_encoded, from the column's alerts and type."""
    if AlertKind.DATETIME.value in kinds:
        return "datetime"
    numeric = pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
        values.dtype)
    code = kinds.get(AlertKind.NUMERIC_CATEGORICAL.value)
    if numeric and not (code is not None and code.evidence.get("reason") == "code"):
        return "numeric"
    return _categorical_role(values, max_onehot_levels)


def plan_columns(
    frame: pd.DataFrame,
    target: str,
    problem_type: ProblemType | str,
    *,
    keep_id: bool = False,
    keep_constant: bool = False,
    datetime_parts: Sequence[str] = DEFAULT_DATETIME_PARTS,
    max_onehot_levels: int = DEFAULT_MAX_ONEHOT_LEVELS,
    seed: int = DEFAULT_SEED,
) -> FeaturePlan:
    """The feature plan before the leakage check: each column's role from its alerts, on every
    row. None of it reads the target, so it may see the test rows: the split rule needs the
    ID-like columns (not hashed) and the date columns (a time split) before any split exists.
    `plan_features` then decides leakage on the rows it is given."""
    problem_type = ProblemType(problem_type)
    _validate_options(datetime_parts, max_onehot_levels, LeakPolicy.STOP)
    if target not in frame.columns:
        raise ValueError(f"target column '{target}' not found (columns: {list(frame.columns)})")
    typed = typed_frame(frame)
    roles: dict[str, list[str]] = {"numeric": [], "datetime": [], "onehot": [],
                                   "target_encoded": []}
    dropped: dict[str, str] = {}
    formats: dict[str, str | None] = {}
    found: list[Alert] = []
    for name in [c for c in frame.columns if c != target]:
        column = column_alerts(name, typed[name])
        found.extend(column)
        kinds = {alert.kind: alert for alert in column}
        if AlertKind.CONSTANT.value in kinds and not keep_constant:
            dropped[name] = DropReason.CONSTANT.value
            continue
        if AlertKind.ID_LIKE.value in kinds and not keep_id:
            dropped[name] = DropReason.ID_LIKE.value
            continue
        role = _role(typed[name], kinds, max_onehot_levels)
        if role == "datetime":
            formats[name] = kinds[AlertKind.DATETIME.value].evidence["format"]
        roles[role].append(name)
    return FeaturePlan(
        target=target,
        problem_type=problem_type.value,
        target_type=_target_type(frame[target], problem_type),
        numeric=tuple(roles["numeric"]),
        datetime=tuple(roles["datetime"]),
        onehot=tuple(roles["onehot"]),
        target_encoded=tuple(roles["target_encoded"]),
        dropped=dropped,
        datetime_formats=formats,
        datetime_parts=tuple(datetime_parts),
        seed=seed,
        alerts=tuple(found),
    )


def plan_features(
    frame: pd.DataFrame,
    target: str,
    problem_type: ProblemType | str,
    *,
    keep_id: bool = False,
    keep_constant: bool = False,
    datetime_parts: Sequence[str] = DEFAULT_DATETIME_PARTS,
    max_onehot_levels: int = DEFAULT_MAX_ONEHOT_LEVELS,
    leak_policy: LeakPolicy | str = LeakPolicy.STOP,
    seed: int = DEFAULT_SEED,
    leak_rows: pd.Series | None = None,
    columns: FeaturePlan | None = None,
    drop: Mapping[str, str] | None = None,
) -> FeaturePlan:
    """The feature plan for `frame` (raw text or typed columns; the target included).

    Raises LeakError (leak_policy "stop") naming every column that alone predicts the target
    (for regression: exactly; an almost perfect one is a warning alert in `alerts`, kept as a
    feature whatever the policy), and ValueError for a bad option or a frame without the
    target or without usable features.
    Like `alerts()`, the plan examines every column, and on every row (alerts may sample the
    rows of a very wide table): a column it did not look at would silently become a feature.
    The leakage check reads only the rows `leak_rows` (a boolean mask on `frame`) marks: the
    training split in Preprocess, so no test label decides which features the model gets.
    `columns` is `plan_columns`'s result when the caller already has it; `drop` names further
    columns to leave out (column → reason, e.g. the split key).
    """
    problem_type = ProblemType(problem_type)
    policy = _validate_options(datetime_parts, max_onehot_levels, leak_policy)
    if columns is None:
        columns = plan_columns(frame, target, problem_type, keep_id=keep_id,
                               keep_constant=keep_constant, datetime_parts=datetime_parts,
                               max_onehot_levels=max_onehot_levels, seed=seed)
    typed = typed_frame(frame)
    roles: dict[str, list[str]] = {"numeric": list(columns.numeric),
                                   "datetime": list(columns.datetime),
                                   "onehot": list(columns.onehot),
                                   "target_encoded": list(columns.target_encoded)}
    dropped: dict[str, str] = dict(columns.dropped)
    formats: dict[str, str | None] = dict(columns.datetime_formats)
    found: list[Alert] = list(columns.alerts)
    for name, reason in (drop or {}).items():
        for names in roles.values():
            if name in names:
                names.remove(name)
                formats.pop(name, None)
                dropped[name] = reason
    kept = [c for c in frame.columns if any(c in names for names in roles.values())]
    checked = typed if leak_rows is None else typed[leak_rows.to_numpy(dtype=bool)]
    suspects = detect_leakage(checked, target, problem_type, kept, date_formats=formats,
                              seed=seed)
    found.extend(suspects)
    leaks = [alert for alert in suspects if is_stopping_leak(alert)]
    if leaks and policy is LeakPolicy.STOP:
        raise LeakError(target, leaks)
    if leaks and policy is LeakPolicy.DROP:
        for alert in leaks:
            dropped[alert.column] = DropReason.TARGET_LEAKAGE.value
            for names in roles.values():
                if alert.column in names:
                    names.remove(alert.column)
                    formats.pop(alert.column, None)
    if not any(roles.values()):
        reasons = ", ".join(f"'{c}' ({r})" for c, r in dropped.items()) or "none"
        raise ValueError(f"no feature columns left for target '{target}' (dropped: {reasons})")
    return replace(
        columns,
        numeric=tuple(roles["numeric"]),
        datetime=tuple(roles["datetime"]),
        onehot=tuple(roles["onehot"]),
        target_encoded=tuple(roles["target_encoded"]),
        dropped=dropped,
        datetime_formats=formats,
        alerts=tuple(found),
    )


# ---------------------------------------------------------------------------------------------
# The transformer


_NUMBER_KINDS = frozenset("biuf")
"""numpy dtype kinds that to_floats converts as they are: bool, signed, unsigned, float."""


def to_float(values: Any) -> np.ndarray:
    """Numbers from text or numbers; anything unparseable becomes NaN (then imputed)."""
    frame = pd.DataFrame(values)
    if all(dtype.kind in _NUMBER_KINDS for dtype in frame.dtypes):
        # Already numbers (a typed frame: Evaluate, the importance shuffles): one conversion
        # instead of a column-by-column apply, which costs ~0.5 ms a column on every predict.
        return frame.to_numpy(dtype="float64", na_value=np.nan)
    return frame.apply(to_floats).to_numpy(dtype="float64", na_value=np.nan)


def _category(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return MISSING_CATEGORY
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))  # 12345.0 (typed) and "12345" (CSV text) are one category
    return value.strip() if isinstance(value, str) else str(value)


def to_category(values: Any) -> np.ndarray:
    """Categories as text, the same for "7", 7 and 7.0; empty cells become MISSING_CATEGORY."""
    frame = pd.DataFrame(values)
    return np.array([[_category(v) for v in row] for row in frame.itertuples(index=False)],
                    dtype=object).reshape(len(frame), frame.shape[1])


class DatetimeFeatures(TransformerMixin, BaseEstimator):
    """Date columns (text in a known format, or datetimes) → calendar parts as floats.

    Unparseable or missing dates give NaN (imputed downstream). Text is parsed with the
    column's format from `formats` (as the plan detected it), falling back to ISO 8601.
    With `indicate_missing`, each date column that had a missing or unparseable value in the
    rows it was fitted on also gives one 0/1 column (``missingindicator_<column>``): one per
    date, where an imputer's indicator would repeat it for every calendar part.
    Mixins come first, as scikit-learn requires for the MRO of its estimators.
    """

    def __init__(self, parts: Sequence[str] = DEFAULT_DATETIME_PARTS,
                 formats: Mapping[str, str | None] | None = None,
                 indicate_missing: bool = False) -> None:
        self.parts = parts
        self.formats = formats
        self.indicate_missing = indicate_missing

    def _frame(self, X: Any) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame):
            return X
        names = getattr(self, "feature_names_in_", None)
        array = np.asarray(X, dtype=object)
        if array.ndim == 1:
            array = array.reshape(-1, 1)
        columns = list(names) if names is not None else [f"x{i}" for i in range(array.shape[1])]
        return pd.DataFrame(array, columns=columns)

    def fit(self, X: Any, y: Any = None) -> DatetimeFeatures:
        unknown = [p for p in self.parts if p not in CALENDAR_PARTS]
        if unknown:
            raise ValueError(f"unknown calendar part(s) {unknown} (allowed: "
                             f"{list(CALENDAR_PARTS)})")
        frame = self._frame(X)
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.indicated_ = np.asarray(
            [name for position, name in enumerate(self.feature_names_in_)
             if self.indicate_missing and self._dates(frame, position, name).isna().any()],
            dtype=object)
        return self

    def _dates(self, frame: pd.DataFrame, position: int, name: str) -> pd.Series:
        return parse_datetimes(frame.iloc[:, position].reset_index(drop=True),
                               dict(self.formats or {}).get(name))

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "feature_names_in_")
        frame = self._frame(X)
        if frame.shape[1] != self.n_features_in_:
            raise ValueError(f"DatetimeFeatures expects {self.n_features_in_} column(s) "
                             f"{list(self.feature_names_in_)}; got {frame.shape[1]}")
        columns, indicators = [], []
        indicated = set(getattr(self, "indicated_", ()))  # absent in a model pickled before
        for position, name in enumerate(self.feature_names_in_):
            dates = self._dates(frame, position, name)
            for part in self.parts:
                columns.append(pd.Series(CALENDAR_PARTS[part](dates)).to_numpy(
                    dtype="float64", na_value=np.nan))
            if name in indicated:
                indicators.append(dates.isna().to_numpy(dtype="float64"))
        columns.extend(indicators)
        return np.column_stack(columns) if columns else np.empty((len(frame), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "feature_names_in_")
        indicated = getattr(self, "indicated_", ())
        return np.asarray([f"{name}_{part}" for name in self.feature_names_in_
                           for part in self.parts]
                          + [f"{MISSING_INDICATOR_PREFIX}{name}" for name in indicated],
                          dtype=object)


def _encoder_folds(plan: FeaturePlan) -> KFold:
    """TargetEncoder's cross-fitting folds, seeded (scikit-learn 1.9 deprecates its
    random_state in favour of a splitter; unseeded, every fit encodes differently)."""
    splitter = KFold if plan.target_type == "continuous" else StratifiedKFold
    return splitter(n_splits=5, shuffle=True, random_state=plan.seed)


def build_transformer(plan: FeaturePlan) -> ColumnTransformer:
    """The ColumnTransformer of a plan: numbers median-imputed and scaled; dates as calendar
    parts (imputed, scaled); few-level text one-hot (unknown levels ignored); many-level text
    target-encoded (cross-fitted: fit it with the target, `fit(X, y)`).

    Numbers and dates with missing values in the fitted rows also get a missing-value
    indicator (``missingindicator_<column>``, scaled with the rest); a column without any gets
    none, and a serving row missing it is imputed (the indicator ignores columns it was not
    fitted on: scikit-learn's ``error_on_new=False``). Text needs none: an empty cell is its
    own category (MISSING_CATEGORY)."""
    transformers: list[tuple[str, Any, list[str]]] = []
    if plan.numeric:
        transformers.append(("numeric", Pipeline([
            ("number", FunctionTransformer(to_float, feature_names_out="one-to-one")),
            ("impute", SimpleImputer(strategy="median", add_indicator=True)),
            ("scale", StandardScaler()),
        ]), list(plan.numeric)))
    if plan.datetime:
        transformers.append(("datetime", Pipeline([
            ("calendar", DatetimeFeatures(plan.datetime_parts, dict(plan.datetime_formats),
                                          indicate_missing=True)),
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]), list(plan.datetime)))
    if plan.onehot:
        transformers.append(("onehot", Pipeline([
            ("text", FunctionTransformer(to_category, feature_names_out="one-to-one")),
            ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]), list(plan.onehot)))
    if plan.target_encoded:
        transformers.append(("target_encoded", Pipeline([
            ("text", FunctionTransformer(to_category, feature_names_out="one-to-one")),
            ("encode", TargetEncoder(target_type=plan.target_type, cv=_encoder_folds(plan))),
        ]), list(plan.target_encoded)))
    if not transformers:
        raise ValueError(f"the feature plan for target '{plan.target}' has no feature columns")
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
