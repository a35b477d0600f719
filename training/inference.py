"""Serving entry points for the SageMaker scikit-learn container (model_fn, input_fn, ...).

Requests: text/csv (with or without a header row; without one, columns are the features in
training order) or application/json (a list of records, a single record, or
{"instances": [...]}). Responses: application/json
{"predictions": [...], "probabilities": [[...]], "classes": [...]} (probabilities and classes
for classification only) or text/csv, one row per input: the prediction then the class
probabilities in `classes` order.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (
    None,
    "",
):  # loaded as a top-level module by the container: make `training` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd

from training.data import DatasetSchema
from training.jsonio import to_jsonable
from training.model_files import load_model
from training.scoring import predict

CSV = "text/csv"
JSON = "application/json"


@dataclass(frozen=True)
class ServedModel:
    """The fitted pipeline and the schema it was trained with."""

    pipeline: Any
    schema: DatasetSchema


def _media_type(content_type: str | None) -> str:
    return (content_type or JSON).split(";")[0].strip().lower()


def _text(body: str | bytes | bytearray) -> str:
    return body.decode("utf-8-sig") if isinstance(body, (bytes, bytearray)) else body


def model_fn(model_dir: str) -> ServedModel:
    """Load model.joblib and schema.json from the extracted model folder."""
    pipeline, schema = load_model(model_dir)
    return ServedModel(pipeline, schema)


def _csv_frame(text: str) -> pd.DataFrame:
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        raise ValueError("empty CSV request")
    widths = sorted({len(row) for row in rows})
    if len(widths) > 1:
        raise ValueError(f"CSV rows have different numbers of values: {widths}")
    return pd.DataFrame(rows, dtype=object).replace("", np.nan)


def _json_frame(text: str) -> pd.DataFrame:
    payload = json.loads(text)
    if isinstance(payload, dict) and "instances" in payload:
        payload = payload["instances"]
    if isinstance(payload, dict):
        payload = [payload]
    if (
        not payload
        or not isinstance(payload, list)
        or not all(isinstance(r, dict) for r in payload)
    ):
        raise ValueError(
            'JSON requests must be a record, a list of records, or {"instances": [...]}'
        )
    return pd.DataFrame.from_records(payload)


def input_fn(request_body: str | bytes, request_content_type: str) -> pd.DataFrame:
    """The request's rows: named columns for JSON, positional (0..n-1) columns for CSV.

    The container calls this without the model, so CSV header detection and the mapping of
    positions to feature names happen in `predict_fn` (see `request_features`).
    """
    media_type = _media_type(request_content_type)
    if media_type == CSV:
        return _csv_frame(_text(request_body))
    if media_type == JSON:
        return _json_frame(_text(request_body))
    raise ValueError(f"unsupported content type {request_content_type!r} (use {CSV} or {JSON})")


def request_features(data: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """The schema's feature columns of a request frame from `input_fn`.

    Positional CSV columns: a first row made only of known column names is a header;
    otherwise the values are the features in training order. Other columns are ignored.
    """
    if isinstance(data.columns, pd.RangeIndex):
        first = [str(cell) for cell in data.iloc[0]]
        known = set(schema.columns) | set(schema.feature_names)
        if all(cell in known for cell in first):
            if len(data) == 1:
                raise ValueError("CSV request has a header but no rows")
            data = pd.DataFrame(data.iloc[1:].to_numpy(), columns=first)
        elif data.shape[1] == len(schema.features):
            data = data.set_axis(schema.feature_names, axis=1)
        else:
            raise ValueError(
                f"CSV rows without a header need {len(schema.features)} values "
                f"({', '.join(schema.feature_names)}); got {data.shape[1]}"
            )
    missing = [name for name in schema.feature_names if name not in data.columns]
    if missing:
        raise ValueError(f"request is missing feature column(s) {missing}")
    return data[schema.feature_names]


def predict_fn(input_data: pd.DataFrame, model: ServedModel) -> dict[str, Any]:
    """Predictions, and for classification the class probabilities and their class order."""
    features = request_features(input_data, model.schema)
    predictions, probabilities = predict(model.pipeline, features, model.schema)
    result: dict[str, Any] = {"predictions": to_jsonable(predictions)}
    if probabilities is not None:
        result["probabilities"] = to_jsonable(np.asarray(probabilities, dtype=float))
        result["classes"] = to_jsonable(model.pipeline.classes_)
    return result


def output_fn(prediction: dict[str, Any], accept: str | None) -> str:
    """Serialize as JSON (also for */*) or CSV; the container sends it with the accept type."""
    media_type = _media_type(accept)
    if media_type in (JSON, "*/*"):
        return json.dumps(prediction, sort_keys=True)
    if media_type == CSV:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        probabilities = prediction.get("probabilities")
        for index, value in enumerate(prediction["predictions"]):
            writer.writerow([value, *(probabilities[index] if probabilities is not None else [])])
        return buffer.getvalue()
    raise ValueError(f"unsupported accept type {accept!r} (use {CSV} or {JSON})")
