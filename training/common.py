"""Shared helpers for the jobs: the cluster, CSV shards, dataset schema, JSON, metrics, models."""

from __future__ import annotations

import csv
import gzip
import json
import math
import os
import re
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn import metrics as skmetrics

from training.metrics import ProblemType

__all__ = [
    "DEFAULT_RESOURCE_CONFIG",
    "MODEL_ARCHIVE",
    "MODEL_FILE",
    "RESOURCE_CONFIG_ENV",
    "SCHEMA_FILE",
    "SINGLE_HOST",
    "Cluster",
    "DatasetSchema",
    "Feature",
    "FeatureType",
    "ProblemType",
    "SchemaError",
    "coerce_features",
    "coerce_target",
    "compute_metrics",
    "extract_model",
    "features_from_json",
    "infer_feature_type",
    "has_csv_files",
    "infer_schema",
    "list_csv_files",
    "load_cluster",
    "load_model",
    "load_schema",
    "package_model",
    "predict",
    "read_csv_folder",
    "read_json",
    "to_jsonable",
    "write_json",
]

MODEL_FILE = "model.joblib"
SCHEMA_FILE = "schema.json"
MODEL_ARCHIVE = "model.tar.gz"
SCHEMA_VERSION = 1


class SchemaError(ValueError):
    """The data does not meet the contract; the message names every offending column or file."""

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class FeatureType(str, Enum):  # noqa: UP042 - StrEnum needs Python 3.11
    """How a feature column is encoded."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"

    def __str__(self) -> str:
        return self.value


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
        )


# ---------------------------------------------------------------------------------------------
# The processing cluster

RESOURCE_CONFIG_ENV = "SM_RESOURCE_CONFIG"
"""Overrides where the cluster description is read from (tests, the local runner)."""
DEFAULT_RESOURCE_CONFIG = "/opt/ml/config/resourceconfig.json"
"""Where SageMaker Processing describes the cluster to each container."""
_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class Cluster:
    """The instances of one processing job and which of them this container is.

    Host names end up in output paths (`train/train-algo-2.csv`), so they must be plain names.
    """

    current_host: str
    hosts: tuple[str, ...]

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not self.hosts:
            problems.append("hosts must list at least one host (got [])")
        bad = [h for h in (self.current_host, *self.hosts) if not _HOST_NAME.fullmatch(str(h))]
        if bad:
            problems.append(f"host names must match {_HOST_NAME.pattern} (got {bad})")
        repeated = sorted({h for h in self.hosts if self.hosts.count(h) > 1})
        if repeated:
            problems.append(f"hosts lists {repeated} more than once")
        if self.hosts and self.current_host not in self.hosts:
            problems.append(
                f"current_host {self.current_host!r} is not one of the hosts {list(self.hosts)}"
            )
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def primary(self) -> str:
        """The host that writes the job-wide outputs (SageMaker's first host, algo-1)."""
        return self.hosts[0]

    @property
    def is_primary(self) -> bool:
        return self.current_host == self.primary

    @property
    def is_multi_host(self) -> bool:
        return len(self.hosts) > 1


SINGLE_HOST = Cluster("algo-1", ("algo-1",))
"""A run outside SageMaker, or a job with one instance."""


def load_cluster(path: str | Path | None = None) -> Cluster:
    """This container's place in the processing job, from SageMaker's resourceconfig.json.

    The file is `path`, else $SM_RESOURCE_CONFIG, else /opt/ml/config/resourceconfig.json. A
    missing default file means a run outside SageMaker: a single host. A file named explicitly
    (argument or variable) must exist, so a misconfigured runner fails instead of letting every
    instance write the same output names.
    """
    explicit = path or os.environ.get(RESOURCE_CONFIG_ENV) or None
    config = Path(explicit or DEFAULT_RESOURCE_CONFIG)
    if not config.is_file():
        if explicit:
            raise FileNotFoundError(
                f"resource config {config} not found (named by {RESOURCE_CONFIG_ENV} or argument)"
            )
        return SINGLE_HOST
    try:
        data = read_json(config)
        missing = [key for key in ("current_host", "hosts") if key not in data]
        if missing:
            raise ValueError(f"missing key(s) {missing}")
        if not isinstance(data["hosts"], list):
            raise ValueError(f"hosts must be a list (got {data['hosts']!r})")
        return Cluster(str(data["current_host"]), tuple(str(h) for h in data["hosts"]))
    except (ValueError, TypeError) as error:
        raise ValueError(f"resource config {config} is not a valid cluster: {error}") from error


# ---------------------------------------------------------------------------------------------
# JSON


def to_jsonable(value: Any) -> Any:
    """Plain JSON types from numpy/pandas/enum values; NaN and infinities become null."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(to_jsonable(k)): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray, pd.Index, pd.Series)):
        return [to_jsonable(v) for v in list(value)]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    return value


def write_json(path: str | Path, data: Any) -> Path:
    """Write deterministic JSON (sorted keys, strict: no NaN), creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(to_jsonable(data), sort_keys=True, indent=2, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


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
        return next(csv.reader(handle), None)


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
            frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
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
    parsed = pd.to_numeric(present, errors="coerce")
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
    parsed = pd.to_numeric(values, errors="coerce")
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
    parsed = pd.to_numeric(values, errors="coerce")
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


def features_from_json(data: Mapping[str, Any]) -> tuple[Feature, ...]:
    """Features from a schema/constraints document: {"features": [{"name", "type", "nullable"}]}."""
    entries = data.get("features")
    if not isinstance(entries, list) or not entries:
        raise SchemaError("schema must have a non-empty 'features' list")
    allowed = ", ".join(t.value for t in FeatureType)
    problems: list[str] = []
    features: list[Feature] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            problems.append(f"schema feature #{index} needs a 'name'")
            continue
        name, kind = entry["name"], entry.get("type")
        if kind not in {t.value for t in FeatureType}:
            problems.append(f"column '{name}' has unsupported type {kind!r} (allowed: {allowed})")
            continue
        features.append(Feature(name, FeatureType(kind), bool(entry.get("nullable", True))))
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


# ---------------------------------------------------------------------------------------------
# Metrics


def compute_metrics(
    problem_type: ProblemType | str,
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    probabilities: np.ndarray | None = None,
    classes: Sequence[Any] | None = None,
) -> dict[str, float]:
    """The metrics named in `training.metrics.METRIC_NAMES` for this problem type.

    Classification: f1 and roc_auc score the greater label as positive for two classes and are
    macro-averaged one-vs-rest for more; roc_auc is NaN when y_true holds a single class.
    """
    problem_type = ProblemType(problem_type)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if problem_type is ProblemType.REGRESSION:
        return {
            "rmse": float(np.sqrt(skmetrics.mean_squared_error(y_true, y_pred))),
            "mae": float(skmetrics.mean_absolute_error(y_true, y_pred)),
            "r2": float(skmetrics.r2_score(y_true, y_pred)),
        }
    if probabilities is None or classes is None:
        raise ValueError("classification metrics need probabilities and classes")
    classes = list(classes)
    scores = {"accuracy": float(skmetrics.accuracy_score(y_true, y_pred))}
    roc_auc = math.nan
    if len(classes) == 2:
        positive = classes[1]
        scores["f1"] = float(
            skmetrics.f1_score(
                y_true, y_pred, pos_label=positive, average="binary", zero_division=0
            )
        )
        if len(np.unique(y_true)) == 2:
            roc_auc = skmetrics.roc_auc_score(y_true == positive, probabilities[:, 1])
    else:
        scores["f1"] = float(
            skmetrics.f1_score(y_true, y_pred, labels=classes, average="macro", zero_division=0)
        )
        if len(np.unique(y_true)) == len(classes):
            roc_auc = skmetrics.roc_auc_score(
                y_true, probabilities, multi_class="ovr", average="macro", labels=classes
            )
    scores["roc_auc"] = float(roc_auc)
    return scores


def predict(
    model: Any, data: pd.DataFrame, schema: DatasetSchema
) -> tuple[np.ndarray, np.ndarray | None]:
    """Predictions for `data` (features typed as in training) and class probabilities."""
    features = coerce_features(data, schema.features)
    predictions = model.predict(features)
    if schema.problem_type is ProblemType.CLASSIFICATION:
        return predictions, model.predict_proba(features)
    return predictions, None


def score_model(model: Any, data: pd.DataFrame, schema: DatasetSchema) -> dict[str, float]:
    """Metrics of `model` on a labelled frame (a split CSV read by `read_csv_folder`)."""
    y_true = coerce_target(data[schema.target], schema)
    predictions, probabilities = predict(model, data, schema)
    classes = getattr(model, "classes_", None)
    return compute_metrics(schema.problem_type, y_true, predictions, probabilities, classes)


# ---------------------------------------------------------------------------------------------
# Model files


def _reset_tarinfo(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o644
    return info


def package_model(model_dir: str | Path, archive_path: str | Path) -> Path:
    """Create the model.tar.gz SageMaker would make from SM_MODEL_DIR, byte-for-byte reproducible.

    Every file under `model_dir` is stored at its relative path, sorted, with zeroed
    timestamps and owners (the gzip header carries no name or time either).
    """
    model_dir, archive_path = Path(model_dir), Path(archive_path)
    files = sorted(
        (p for p in model_dir.rglob("*") if p.is_file() and p.resolve() != archive_path.resolve()),
        key=lambda p: p.relative_to(model_dir).as_posix(),
    )
    if not files:
        raise FileNotFoundError(f"nothing to package: {model_dir} has no files")
    archive_path.parent.mkdir(parents=True, exist_ok=True)
    with archive_path.open("wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped:
            with tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for path in files:
                    name = path.relative_to(model_dir).as_posix()
                    info = _reset_tarinfo(tar.gettarinfo(path, arcname=name))
                    with path.open("rb") as handle:
                        tar.addfile(info, handle)
    return archive_path


def extract_model(source: str | Path, destination: str | Path) -> Path:
    """The folder holding model.joblib: `source` itself, or `destination` after unpacking.

    `source` is a folder with model.joblib, a folder with model.tar.gz, or the archive itself.
    Archives are extracted with the "data" filter (no absolute paths, links out, or devices).
    """
    source = Path(source)
    if source.is_dir() and (source / MODEL_FILE).is_file():
        return source
    archive = source / MODEL_ARCHIVE if source.is_dir() else source
    if not archive.is_file():
        found = sorted(p.name for p in source.iterdir()) if source.is_dir() else []
        raise FileNotFoundError(f"no {MODEL_FILE} or {MODEL_ARCHIVE} in {source} (found {found})")
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, mode="r:*") as tar:
        tar.extractall(destination, filter="data")
    if not (destination / MODEL_FILE).is_file():
        raise FileNotFoundError(f"{archive} holds no {MODEL_FILE} at its root")
    return destination


def load_model(model_dir: str | Path) -> tuple[Any, DatasetSchema]:
    """The fitted pipeline and its schema from an extracted model folder."""
    model_dir = Path(model_dir)
    return joblib.load(model_dir / MODEL_FILE), load_schema(model_dir / SCHEMA_FILE)
