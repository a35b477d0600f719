"""The dataset contract: CSV folders, feature types, coercion and the schema preprocess learns.

Every problem found is reported at once in a SchemaError that names the column or file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from training.baseline import MONITOR_FEATURE_TYPES
from training.contract import FeatureType, ProblemType
from training.data.files import detect_delimiter, read_data_file
from training.data.floats import to_floats
from training.data.problems import SchemaError
from training.jsonio import read_json, to_jsonable

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Feature:
    """One input column of the model."""

    name: str
    type: FeatureType
    nullable: bool = True


@dataclass(frozen=True)
class DatasetSchema:
    """What preprocess learned about the data; travels with the transformer and the model."""

    target: str
    problem_type: ProblemType
    features: tuple[Feature, ...]
    columns: tuple[str, ...]
    """Column order of the split CSV files, target included."""
    class_labels: tuple[int | str, ...] | None = None
    """Sorted class labels (classification only)."""
    dropped: Mapping[str, str] | None = None
    """Input columns the model does not use, with the reason (id_like, constant,
    target_leakage); a request may still send them."""
    training_data: Mapping[str, Any] | None = None
    """Fingerprint of the input files preprocess read (`training.lineage.fingerprint_files`):
    which data the model was trained on. None in schemas written before it existed."""
    split: Mapping[str, Any] | None = None
    """The rule that assigned rows to train, validation and test (`training.data.splits.
    SplitRule.to_dict`). None in schemas written before it existed."""

    @property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]

    @property
    def numeric_features(self) -> list[str]:
        return [f.name for f in self.features if f.type is FeatureType.NUMERIC]

    @property
    def categorical_features(self) -> list[str]:
        return [f.name for f in self.features if f.type is FeatureType.CATEGORICAL]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": SCHEMA_VERSION,
            "target": self.target,
            "problem_type": self.problem_type.value,
            "features": [
                {"name": f.name, "type": f.type.value, "nullable": f.nullable}
                for f in self.features
            ],
            "columns": list(self.columns),
            "class_labels": None if self.class_labels is None else list(self.class_labels),
            "dropped": dict(self.dropped or {}),
            **({"training_data": dict(self.training_data)} if self.training_data else {}),
            **({"split": dict(self.split)} if self.split else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetSchema:
        labels = data.get("class_labels")
        return cls(
            target=data["target"],
            problem_type=ProblemType(data["problem_type"]),
            features=features_from_json(data),
            columns=tuple(data["columns"]),
            class_labels=None if labels is None else tuple(labels),
            dropped=dict(data.get("dropped") or {}),
            training_data=data.get("training_data") or None,
            split=data.get("split") or None,
        )



# ---------------------------------------------------------------------------------------------
# Reading data


def list_csv_files(folder: str | Path) -> list[Path]:
    """Every *.csv file under `folder`, recursively, sorted by relative path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SchemaError(f"no data: {folder} is not a directory")
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() == ".csv"]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def has_csv_files(folder: str | Path) -> bool:
    """Whether `folder` exists and holds a *.csv file (a sharded input may hold none)."""
    return Path(folder).is_dir() and bool(list_csv_files(folder))


def _read_header(path: Path) -> list[str] | None:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(handle, delimiter=detect_delimiter(path)), None)


def read_csv_folder(folder: str | Path) -> pd.DataFrame:
    """Concatenate the CSV shards under `folder`, every value read as text (NaN when missing).

    Reading text keeps categories exactly as written ("007" stays "007"); `infer_schema` and
    `coerce_features` decide the types. All files must have the columns of the first file.
    """
    folder = Path(folder)
    files = list_csv_files(folder)
    if not files:
        raise SchemaError(f"no data: no *.csv files under {folder}")
    problems: list[str] = []
    frames: list[pd.DataFrame] = []
    reference: tuple[str, list[str]] | None = None
    for path in files:
        name = path.relative_to(folder).as_posix()
        header = _read_header(path)
        if not header:
            problems.append(f"file '{name}' is empty (no header row)")
            continue
        repeated = sorted({c for c in header if header.count(c) > 1})
        if repeated:
            problems.append(f"file '{name}' repeats column(s) {repeated}")
            continue
        if reference is None:
            reference = (name, header)
        else:
            first_name, first_header = reference
            missing = [c for c in first_header if c not in header]
            extra = [c for c in header if c not in first_header]
            if missing or extra:
                details = []
                if missing:
                    details.append(f"missing column(s) {missing}")
                if extra:
                    details.append(f"extra column(s) {extra}")
                problems.append(
                    f"file '{name}' has {' and '.join(details)} compared with '{first_name}'"
                )
                continue
        try:
            frame = read_data_file(path)
        except (pd.errors.ParserError, UnicodeDecodeError) as error:
            problems.append(f"file '{name}' is not valid UTF-8 CSV: {error}")
            continue
        frames.append(frame[reference[1]])
    if problems:
        raise SchemaError(problems)
    data = pd.concat(frames, ignore_index=True)
    if data.empty:
        raise SchemaError(f"no data: the CSV files under {folder} have a header but no rows")
    return data

# ---------------------------------------------------------------------------------------------
# Types


def infer_feature_type(name: str, values: pd.Series) -> FeatureType:
    """Numeric if every present value is a number, categorical if none is; anything else fails."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return FeatureType.CATEGORICAL
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        raise SchemaError(
            f"column '{name}' has unsupported type {dtype}; derive numeric or text columns from it"
        )
    present = values.dropna()
    if present.empty:
        raise SchemaError(f"column '{name}' has no values (every row is missing)")
    if pd.api.types.is_numeric_dtype(dtype):
        return FeatureType.NUMERIC
    parsed = to_floats(present)
    is_number = parsed.notna().to_numpy()
    if is_number.all():
        return FeatureType.NUMERIC
    if not is_number.any():
        return FeatureType.CATEGORICAL
    number, text = present[is_number].iloc[0], present[~is_number].iloc[0]
    raise SchemaError(
        f"column '{name}' mixes numbers and text (e.g. {number!r} and {text!r}); "
        "clean it or declare its type in --schema"
    )


def _to_numeric(name: str, values: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(values.dtype):
        raise SchemaError(f"column '{name}' must be numeric (got booleans)")
    parsed = to_floats(values)
    bad = values.notna() & parsed.isna()
    if bad.any():
        example = values[bad].iloc[0]
        raise SchemaError(f"column '{name}' must be numeric (got {example!r})")
    return parsed.astype("float64")


def _to_text(values: pd.Series) -> pd.Series:
    present = values.notna()
    text = pd.Series(np.nan, index=values.index, dtype=object)
    text[present] = [v if isinstance(v, str) else str(v) for v in values[present]]
    return text


def coerce_features(data: pd.DataFrame, features: Iterable[Feature]) -> pd.DataFrame:
    """The feature columns in schema order: numeric as float64, categorical as text (object)."""
    features = list(features)
    missing = [f.name for f in features if f.name not in data.columns]
    if missing:
        raise SchemaError(f"missing feature column(s) {missing}")
    problems: list[str] = []
    columns: dict[str, pd.Series] = {}
    for feature in features:
        values = data[feature.name]
        try:
            if feature.type is FeatureType.NUMERIC:
                columns[feature.name] = _to_numeric(feature.name, values)
            else:
                columns[feature.name] = _to_text(values)
        except SchemaError as error:
            problems.extend(error.problems)
    if problems:
        raise SchemaError(problems)
    return pd.DataFrame(columns, index=data.index)


def _label_values(name: str, values: pd.Series) -> pd.Series:
    """Class labels as int64 when every label is an integer, else as text."""
    parsed = to_floats(values)
    if not pd.api.types.is_bool_dtype(values.dtype) and parsed.notna().all():
        whole = np.isfinite(parsed) & (parsed == np.round(parsed))
        if whole.all():
            return parsed.astype("int64")
    return _to_text(values)


def coerce_target(values: pd.Series, schema: DatasetSchema) -> pd.Series:
    """Target values typed like the schema's: float for regression, the label type otherwise."""
    if schema.problem_type is ProblemType.REGRESSION:
        return _to_numeric(schema.target, values)
    labels = schema.class_labels or ()
    if labels and all(isinstance(label, int) for label in labels):
        return _to_numeric(schema.target, values).astype("int64")
    return _to_text(values)


def _feature_kind(entry: Mapping[str, Any]) -> tuple[Any, bool]:
    """(type, nullable) of a schema.json entry, or of a Model Monitor constraints.json entry."""
    if "type" not in entry and "inferred_type" in entry:
        completeness = entry.get("completeness", 0.0)
        nullable = not isinstance(completeness, (int, float)) or completeness < 1.0
        return MONITOR_FEATURE_TYPES.get(entry["inferred_type"], entry["inferred_type"]), nullable
    return entry.get("type"), bool(entry.get("nullable", True))


def features_from_json(data: Mapping[str, Any]) -> tuple[Feature, ...]:
    """Features from a schema.json ({"features": [{"name", "type", "nullable"}]}) or from a
    Model Monitor constraints.json ({"features": [{"name", "inferred_type", "completeness"}]})."""
    entries = data.get("features")
    if not isinstance(entries, list) or not entries:
        raise SchemaError("schema must have a non-empty 'features' list")
    allowed = ", ".join([*(t.value for t in FeatureType), *MONITOR_FEATURE_TYPES])
    problems: list[str] = []
    features: list[Feature] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            problems.append(f"schema feature #{index} needs a 'name'")
            continue
        name = entry["name"]
        kind, nullable = _feature_kind(entry)
        if kind not in {t.value for t in FeatureType}:
            problems.append(f"column '{name}' has unsupported type {kind!r} (allowed: {allowed})")
            continue
        features.append(Feature(name, FeatureType(kind), nullable))
    names = [f.name for f in features]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f"schema declares column(s) {repeated} more than once")
    if problems:
        raise SchemaError(problems)
    return tuple(features)


def infer_schema(
    data: pd.DataFrame,
    target: str,
    problem_type: ProblemType | str,
    expected: Sequence[Feature] | None = None,
) -> DatasetSchema:
    """Validate `data` and describe it; every problem found is reported in one SchemaError.

    With `expected` (from --schema) the feature columns and types must match it exactly;
    without it they are inferred. Column names appear in every message.
    """
    problem_type = ProblemType(problem_type)
    problems: list[str] = []
    if data.empty:
        raise SchemaError("no data: the dataset has no rows")
    class_labels: tuple[int | str, ...] | None = None
    if target not in data.columns:
        problems.append(f"target column '{target}' not found (columns: {list(data.columns)})")
    else:
        labels = data[target].dropna()
        if labels.empty:
            problems.append(f"target column '{target}' has no values (every row is missing)")
        elif problem_type is ProblemType.REGRESSION:
            try:
                _to_numeric(target, labels)
            except SchemaError as error:
                problems.append(f"target {error} for regression")
        else:
            classes = pd.unique(_label_values(target, labels))
            if len(classes) < 2:
                problems.append(
                    f"target column '{target}' has a single class {classes[0]!r}; "
                    "classification needs at least two"
                )
            class_labels = tuple(to_jsonable(sorted(classes)))
    feature_columns = [c for c in data.columns if c != target]
    features: list[Feature] = []
    if expected is not None:
        declared = {f.name: f for f in expected}
        if target in declared:
            problems.append(f"target column '{target}' is declared as a feature in the schema")
        missing = [name for name in declared if name not in data.columns]
        extra = [c for c in feature_columns if c not in declared]
        if missing:
            problems.append(f"column(s) {missing} declared in the schema are missing from the data")
        if extra:
            problems.append(f"column(s) {extra} are in the data but not in the schema")
        for name in feature_columns:
            feature = declared.get(name)
            if feature is None:
                continue
            values = data[name]
            if feature.type is FeatureType.NUMERIC:
                try:
                    _to_numeric(name, values)
                except SchemaError as error:
                    problems.extend(error.problems)
            if not feature.nullable and values.isna().any():
                count = int(values.isna().sum())
                problems.append(f"column '{name}' is not nullable but has {count} missing value(s)")
            features.append(feature)
    else:
        for name in feature_columns:
            try:
                kind = infer_feature_type(name, data[name])
            except SchemaError as error:
                problems.extend(error.problems)
                continue
            features.append(Feature(name, kind, bool(data[name].isna().any())))
    if not feature_columns:
        problems.append(f"no feature columns: the data has only the target column '{target}'")
    if problems:
        raise SchemaError(problems)
    return DatasetSchema(
        target=target,
        problem_type=problem_type,
        features=tuple(features),
        columns=tuple(data.columns),
        class_labels=class_labels,
    )


def load_schema(path: str | Path) -> DatasetSchema:
    """Read a schema.json written by preprocess (or found next to a model)."""
    return DatasetSchema.from_dict(read_json(path))
