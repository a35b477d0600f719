"""The handler the SageMaker scikit-learn serving container loads (``SAGEMAKER_PROGRAM``).

Requests: ``text/csv`` (no header: the features in schema order; or a header row naming the
features, in any order, the target column allowed and ignored) and ``application/json``
(records ``[{...}]``, one record ``{...}``, columns ``{"col": [...]}``, ``{"instances": [...]}``
of records or of positional rows). Responses by ``Accept`` (default JSON): JSON
``{"predictions": [...], "probabilities": [[...]], "classes": [...]}`` (the last two for
classifiers only) or CSV, one line per row: the prediction, then the probabilities in
``classes`` order. A bad payload gets a 4xx with a one-line JSON body ``{"error": "..."}`` that
names the column and row; the model failing gets a 500 with a one-line message, never a trace.

How the image calls this module (read from the public sources, July 2026)
-------------------------------------------------------------------------
* Image ``sagemaker-scikit-learn:1.9-0`` (aws/deep-learning-containers
  ``docker/sklearn/1.9-0/Dockerfile`` and ``pyproject.toml``): Flask 3.1.3, gunicorn 26,
  sagemaker-containers 2.8.6.post2, sagemaker-inference 1.5.5, multi-model-server;
  ``SAGEMAKER_SERVING_MODULE=sagemaker_sklearn_container.serving:main``.
* A single-model endpoint (ours: ``SAGEMAKER_MULTI_MODEL`` unset) runs gunicorn + Flask from
  sagemaker-containers, NOT the sagemaker-inference/MMS stack (that one serves multi-model
  endpoints only): aws/sagemaker-scikit-learn-container ``src/sagemaker_sklearn_container/
  serving.py`` (``serving_entrypoint`` -> ``server.start``; ``main`` builds
  ``transformer.Transformer(model_fn, input_fn, predict_fn, output_fn)`` from this module and a
  ``worker.Worker`` Flask app with ``/ping`` and ``/invocations``).
* Dispatch, aws/sagemaker-containers ``src/sagemaker_containers/_transformer.py``:
  ``initialize()`` calls ``model_fn(/opt/ml/model)`` once per gunicorn worker; per request
  ``input_fn(request.content, request.content_type)`` -> ``predict_fn(data, model)`` ->
  ``output_fn(prediction, accept)``. If the result is a tuple it becomes
  ``Response(response=result[0], mimetype=result[1])``; anything else goes to Flask as is.
  A bare ``str`` therefore leaves as ``text/html; charset=utf-8`` with status 200 (the bug of
  the previous version of this file). Flask 3's ``make_response`` turns any WSGI callable
  into a response (``Response.force_type`` -> ``from_app``), so :class:`Reply` is a WSGI
  callable carrying its own status and content type, with no Flask import here.
* Errors, same file and ``_functions.py``: every user function is wrapped by
  ``error_wrapper(fn, ClientError)``, which re-raises ANY exception as ``ClientError``; the
  ``except UnsupportedFormatError`` branches (415/406) can then never match user code, and
  Flask answers ``500 Internal Server Error`` (no trace with debug off). So raising cannot
  produce a 4xx in this stack: ``input_fn``/``predict_fn`` return a :class:`Failure` value
  instead, passed along to ``output_fn``, which renders it with its status.
  (sagemaker-inference, ``src/sagemaker_inference/transformer.py``, used only for multi-model:
  a tuple ``(body, content_type)`` sets the content type; a ``BaseInferenceToolkitError``
  (``GenericInferenceToolkitError(status, message)``, ``errors.py``) sets the status and any
  other exception is a 500; its error body includes the stack trace.)
* Request fields, ``src/sagemaker_containers/_worker.py``: the content type is the
  ``ContentType`` header, else ``Content-Type``, else ``application/json``; the accept is the
  ``Accept`` header unless absent or ``*/*``, then ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``
  (default JSON); the body is ``str`` when the content type is exactly ``application/json``
  or ``text/csv`` (``_content_types.UTF8_TYPES``), else ``bytes`` (e.g. with ``; charset``).
* Code location, ``src/sagemaker_containers/_env.py`` and ``_modules.py``, ``_server.py``:
  the module dir is ``SAGEMAKER_SUBMIT_DIRECTORY``, default ``/opt/ml/code`` (NOT
  ``/opt/ml/model/code``: that default belongs to sagemaker-inference's ``environment.py``).
  Before gunicorn starts, ``import_module(module_dir, name)`` copies (local path) or downloads
  (``s3://`` tarball) the directory into ``/opt/ml/code``, writes a ``setup.py`` if missing
  and runs ``pip install . [-r requirements.txt]`` there; gunicorn gets ``/opt/ml/code`` on
  its ``--pythonpath``. A ``code/`` folder inside model.tar.gz is therefore used only if
  ``SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code`` is set, which is what the SageMaker Python
  SDK sets when it repacks code into the model for network isolation (``model.py``
  ``_framework_env_vars``/``_script_mode_env_vars``); an ``s3://`` submit directory needs the
  container to reach S3, which network isolation forbids.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # loaded as a top-level module: make `training` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np
import pandas as pd

from training import capture
from training.contract import FeatureType, ProblemType
from training.data.schema import DatasetSchema
from training.serve.request_body import (
    CSV,
    JSON,
    TEXT_IN_NUMBER_COLUMN,
    BadRequest,
    Body,
    RequestColumns,
    body_text,
    feature_table,
    media_type,
    parse_body,
)
from training.train.imbalance import predict_labels
from training.train.model_files import load_model

ANY = "*/*"
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
"""SageMaker's InvokeEndpoint payload limit for real-time endpoints (serverless: 4 MB)."""
DEFAULT_ACCEPT_ENV = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"
CAPTURE_S3_ENV = "MLOPS_CAPTURE_S3_URI"
CAPTURE_DIR_ENV = "MLOPS_CAPTURE_DIR"
CAPTURE_SAMPLING_ENV = "MLOPS_CAPTURE_SAMPLING"
ENDPOINT_NAME_ENV = "MLOPS_ENDPOINT_NAME"
"""The endpoint name in capture paths; the container is not told it, the deployer sets it."""
VARIANT_NAME = "AllTraffic"

logger = logging.getLogger(__name__)

_REASONS = {
    200: "OK",
    400: "Bad Request",
    406: "Not Acceptable",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
}


# ---------------------------------------------------------------------------------------------
# Values passed between the handler functions


@dataclass(frozen=True)
class Failure:
    """A request that cannot be answered: passed through to `output_fn`, which renders it."""

    status: int
    message: str
    reason: str = ""
    """A refused body's reason key (`training.serve.request_body`), as the drift job counts it."""


@dataclass(frozen=True)
class Reply:
    """A finished HTTP response; a WSGI app, so Flask (and our local server) can send it."""

    body: bytes
    content_type: str
    status: int = 200

    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        reason = _REASONS.get(self.status, "")
        start_response(
            f"{self.status} {reason}".strip(),
            [("Content-Type", self.content_type), ("Content-Length", str(len(self.body)))],
        )
        return [self.body]


@dataclass(frozen=True)
class Payload:
    """A parsed request: its content type, the raw body to capture, and what it holds."""

    content_type: str
    body: str | bytes
    parsed: Body
    """Its rows or columns (`training.serve.request_body`, as the drift job reads it)."""


@dataclass(frozen=True)
class Prediction:
    """What the model said about one request."""

    payload: Payload
    predictions: np.ndarray
    probabilities: np.ndarray | None = None
    classes: list[Any] | None = None
    capture: CaptureSink | None = None
    """Where output_fn writes the capture record (output_fn is not given the model)."""


@dataclass
class CaptureSink:
    """Where and how often to write capture records: under ``<endpoint>/AllTraffic/`` of a
    local `directory` and/or an `s3_uri`, as SageMaker lays them out."""

    directory: Path | None = None
    s3_uri: str | None = None
    sampling_percent: float = 100.0
    endpoint_name: str = "endpoint"
    writers: list[capture.FolderCaptureWriter | capture.S3CaptureWriter] = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        variant = f"{self.endpoint_name}/{VARIANT_NAME}"
        self.writers = []
        if self.directory is not None:
            self.writers.append(capture.FolderCaptureWriter(Path(self.directory) / variant))
        if self.s3_uri:
            self.writers.append(capture.S3CaptureWriter(f"{self.s3_uri.rstrip('/')}/{variant}"))


@dataclass(frozen=True)
class ServedModel:
    """The fitted pipeline, the schema it was trained with, and the capture settings."""

    pipeline: Any
    schema: DatasetSchema
    capture: CaptureSink | None = None
    numeric: tuple[bool, ...] = ()
    """Per feature in schema order: numeric (True) or categorical."""
    known_columns: frozenset[str] = frozenset()
    numeric_positions: list[int] = field(init=False, repr=False, compare=False)
    """Schema positions of the numeric features (worked out once, not per request)."""
    numeric_columns: pd.Index = field(init=False, repr=False, compare=False)
    """Their names, as the columns of the numeric block of every request's frame."""
    request_columns: RequestColumns = field(init=False, repr=False, compare=False)
    """The features and the known columns a request may also send."""

    def __post_init__(self) -> None:
        positions = [index for index, flag in enumerate(self.numeric) if flag]
        names = self.schema.feature_names
        object.__setattr__(self, "numeric_positions", positions)
        object.__setattr__(self, "numeric_columns", pd.Index([names[i] for i in positions]))
        object.__setattr__(self, "request_columns",
                           RequestColumns(tuple(names), frozenset([*names, *self.known_columns])))


# ---------------------------------------------------------------------------------------------
# model_fn


def model_fn(model_dir: str) -> ServedModel:
    """Load model.joblib and schema.json; capture settings come from the environment."""
    pipeline, schema = load_model(model_dir)
    return ServedModel(
        pipeline=pipeline,
        schema=schema,
        capture=capture_from_env(os.environ),
        numeric=tuple(f.type is FeatureType.NUMERIC for f in schema.features),
        # Columns Preprocess dropped (IDs, constants) may come with a request: ignored.
        known_columns=frozenset([*schema.feature_names, *(schema.dropped or {}),
                                 schema.target]),
    )


def with_capture(
    model: ServedModel, directory: str | Path | None, sampling_percent: float = 100.0,
    endpoint_name: str = CaptureSink.endpoint_name,
) -> ServedModel:
    """The same model writing capture records to a local `directory` (None: no capture),
    under ``<endpoint_name>/AllTraffic/yyyy/mm/dd/hh/`` as SageMaker lays them out."""
    sink = None if directory is None else CaptureSink(Path(directory), None, sampling_percent,
                                                      endpoint_name)
    return replace(model, capture=sink)


def capture_from_env(environ: dict[str, str] | os._Environ) -> CaptureSink | None:
    """Capture settings from MLOPS_CAPTURE_S3_URI / MLOPS_CAPTURE_DIR / MLOPS_CAPTURE_SAMPLING."""
    s3_uri, directory = environ.get(CAPTURE_S3_ENV), environ.get(CAPTURE_DIR_ENV)
    if not s3_uri and not directory:
        return None
    raw = environ.get(CAPTURE_SAMPLING_ENV, "100")
    try:
        sampling = float(raw)
    except ValueError:
        sampling = math.nan
    if not 0 <= sampling <= 100:
        logger.warning("%s=%r is not a percentage in [0, 100]; capturing every request",
                       CAPTURE_SAMPLING_ENV, raw)
        sampling = 100.0
    return CaptureSink(
        directory=Path(directory) if directory else None,
        s3_uri=s3_uri or None,
        sampling_percent=sampling,
        endpoint_name=environ.get(ENDPOINT_NAME_ENV, "endpoint"),
    )


# ---------------------------------------------------------------------------------------------
# input_fn: parse the body (the container gives no model here, so no schema checks yet)


def input_fn(request_body: str | bytes, request_content_type: str | None) -> Payload | Failure:
    """The request's rows or columns, or the Failure (4xx) that answers it."""
    kind = media_type(request_content_type) or JSON
    if kind not in (CSV, JSON):
        return Failure(415, f"unsupported content type {request_content_type!r}: "
                            f"send {CSV} or {JSON}")
    size = len(request_body.encode("utf-8") if isinstance(request_body, str) else request_body)
    if size > MAX_PAYLOAD_BYTES:
        return Failure(413, f"request body is {size} bytes; the limit is "
                            f"{MAX_PAYLOAD_BYTES} bytes (6 MB): send fewer rows per request")
    try:
        parsed = parse_body(body_text(request_body), kind)
    except BadRequest as error:
        return Failure(400, str(error), error.reason)
    return Payload(request_content_type or kind, request_body, parsed)


# ---------------------------------------------------------------------------------------------
# predict_fn: check the request against the schema, type the features, call the model


def predict_fn(input_data: Payload | Failure, model: ServedModel) -> Prediction | Failure:
    """Predictions (and class probabilities) for the request, or the Failure that answers it."""
    if isinstance(input_data, Failure):
        return input_data
    try:
        features = request_features(input_data, model)
    except BadRequest as error:
        return Failure(400, str(error), error.reason)
    try:
        return _predict(input_data, features, model)
    except Exception as error:  # noqa: BLE001 - a model failure is a 500, logged, never raised
        logger.exception("prediction failed")
        message = str(error).splitlines()[0] if str(error) else ""
        return Failure(500, f"prediction failed: {type(error).__name__}: {message}")


def _predict(payload: Payload, features: pd.DataFrame, model: ServedModel) -> Prediction:
    predictions, probabilities, classes = predict_features(features, model)
    return Prediction(payload, predictions, probabilities, classes, model.capture)


def predict_features(features: pd.DataFrame, model: ServedModel
                     ) -> tuple[np.ndarray, np.ndarray | None, list[Any] | None]:
    """The model's predictions for typed features, with the class probabilities and the
    classes (in the probabilities' order) of a classifier: what every reply is made of."""
    pipeline = model.pipeline
    if model.schema.problem_type is ProblemType.CLASSIFICATION:
        labels, probabilities = predict_labels(pipeline, features)
        return labels, probabilities, np.asarray(pipeline.classes_).tolist()
    return np.asarray(pipeline.predict(features)), None, None


def request_features(payload: Payload, model: ServedModel) -> pd.DataFrame:
    """The schema's features as the model was trained on them (float64 / text), in order.

    Numeric columns are converted in one vectorised step; only when that fails are the cells
    walked to name the first bad one. Raises BadRequest naming the column and row.
    """
    table = feature_table(payload.parsed, model.request_columns)
    return table_features(table, model, text_only=payload.parsed.media_type == CSV)


def table_features(table: np.ndarray, model: ServedModel, text_only: bool) -> pd.DataFrame:
    """Typed features of a table of values as sent, one column per feature in schema order
    (`text_only`: every cell is CSV text). Raises BadRequest naming the column and row."""
    names = model.schema.feature_names
    block = _numeric_block(table[:, model.numeric_positions], model.numeric_columns,
                           text_only=text_only)
    frame = pd.DataFrame(block, columns=model.numeric_columns, copy=False)
    for index, flag in enumerate(model.numeric):
        if not flag:
            text = pd.Series(_categorical(table[:, index], len(table)), dtype=object, copy=False)
            frame.insert(index, names[index], text)  # object, as training typed it (not str)
    return frame


def _numeric_block(block: np.ndarray, names: Sequence[str], text_only: bool) -> np.ndarray:
    """float64 values; empty, null and 'nan' are missing; text, booleans and infinities are not
    numbers (the error names the first offending row and column).

    `block` is the request's own copy (a fancy-indexed slice), so it is cleaned in place. CSV
    cells are always strings: only ``""`` can be missing there, so the null check is skipped.
    """
    parsed = None
    if text_only or not any(isinstance(v, bool) for v in block.flat):
        missing = block == ""
        if not text_only:
            missing |= pd.isna(block)
        block[missing] = np.nan  # still missing to the error walk below
        try:
            parsed = block.astype(np.float64)
        except (TypeError, ValueError):
            parsed = None
    if parsed is not None and not np.isinf(parsed).any():
        return parsed
    for row, values in enumerate(block, start=1):
        for name, value in zip(names, values, strict=True):
            if _is_missing(value):
                continue
            try:
                number = None if isinstance(value, bool) else float(value)
            except (TypeError, ValueError):
                number = None
            if number is None or math.isinf(number):
                raise BadRequest(TEXT_IN_NUMBER_COLUMN, f"row {row}, column '{name}': "
                                                        f"expected a number, got {value!r}")
    raise BadRequest(TEXT_IN_NUMBER_COLUMN,
                     "numeric columns hold values that are not numbers")  # pragma: no cover


def _is_missing(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and value != value)


def _categorical(column: Sequence[Any], count: int) -> np.ndarray:
    """Text values as training saw them (numbers as their text); empty and null are missing."""
    out = np.empty(count, dtype=object)
    out[:] = [np.nan if _is_missing(v) else (v if isinstance(v, str) else str(v))
              for v in column]
    return out


# ---------------------------------------------------------------------------------------------
# output_fn: serialize, capture, and reply with the right status and content type


def _accepted(accept: str | None) -> str | None:
    """The response media type for an Accept header (JSON when absent or */*), or None."""
    if not accept or not accept.strip():
        return JSON
    for part in accept.split(","):
        kind = media_type(part)
        if kind in (JSON, CSV):
            return kind
        if kind in (ANY, "application/*"):
            return JSON
        if kind == "text/*":
            return CSV
    return None


def output_fn(prediction: Prediction | Failure, accept: str | None) -> Reply:
    """The response: JSON or CSV by `accept`, or a one-line JSON error with its 4xx/5xx."""
    if isinstance(prediction, Failure):
        return error_reply(prediction)
    reply_type = _accepted(accept)
    if reply_type is None:
        return error_reply(Failure(406, f"unsupported accept type {accept!r}: "
                                        f"ask for {JSON} or {CSV}"))
    body = _json_body(prediction) if reply_type == JSON else _csv_body(prediction)
    reply = Reply(body, reply_type)
    if prediction.capture is not None:
        _write_capture(prediction.capture, prediction.payload, reply)
    return reply


def error_reply(failure: Failure) -> Reply:
    body = json.dumps({"error": failure.message}) + "\n"
    return Reply(body.encode("utf-8"), JSON, failure.status)


def _plain(values: np.ndarray) -> list[Any]:
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        return [float(v) if math.isfinite(v) else None for v in values.tolist()]
    return values.tolist()


def _json_body(prediction: Prediction) -> bytes:
    document: dict[str, Any] = {"predictions": _plain(prediction.predictions)}
    if prediction.probabilities is not None:
        document["probabilities"] = prediction.probabilities.tolist()
        document["classes"] = prediction.classes
    return json.dumps(document).encode("utf-8")


def _csv_body(prediction: Prediction) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(reply_rows(prediction.predictions, prediction.probabilities))
    return buffer.getvalue().encode("utf-8")


def reply_rows(predictions: np.ndarray, probabilities: np.ndarray | None) -> list[list[Any]]:
    """One list per row, as a CSV reply holds it: the prediction, then the probabilities in
    ``classes`` order (classifiers)."""
    values = _plain(predictions)
    if probabilities is None:
        return [[value] for value in values]
    return [[value, *row] for value, row in zip(values, probabilities.tolist(), strict=True)]


# ---------------------------------------------------------------------------------------------
# Data capture (serverless endpoints have none; the handler writes SageMaker's format itself)


def _write_capture(sink: CaptureSink, payload: Payload, reply: Reply) -> None:
    """Write a sampled capture record; never raises (capture must not fail a prediction)."""
    try:
        if sink.sampling_percent < 100 and random.random() * 100 >= sink.sampling_percent:
            return
        now = datetime.now(UTC)
        record = capture.capture_record(payload.body, payload.content_type, reply.body,
                                        reply.content_type, time=now)
        for writer in sink.writers:
            writer.write(record, now)
    except Exception:  # noqa: BLE001
        logger.warning("data capture failed; the prediction is unaffected", exc_info=True)


def flush_capture(model: ServedModel) -> None:
    """Put buffered S3 capture records now (they are also put at exit); never raises."""
    if model.capture is not None:
        for writer in model.capture.writers:
            writer.flush()
