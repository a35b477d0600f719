"""A request body as the endpoint reads it: one parse for the handler and the drift job.

The handler (`training.serve.inference`) answers requests with it and the drift job
(`training.monitor.payloads`) reads captured requests with it, so a request the endpoint
accepts is traffic to the monitor, and one it refuses is malformed there for the same reason.

CSV: rows without a header hold the features in order; a first row naming only known columns
(the features, columns the model drops, the target) is a header, and the features then come in
its order, the other known columns ignored. JSON: records ``[{...}]``, one record ``{...}``,
columns ``{"col": [...]}``, ``{"instances": [...]}`` of records or of positional rows (read as
CSV rows are). Values stay as sent (CSV cells are text): typing them is each reader's own
business (the handler refuses text in a numeric column, the drift job counts it as a type
mismatch).

Standard library and numpy only: the drift job imports it without the model's libraries.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

CSV = "text/csv"
JSON = "application/json"

# Why a body is refused: the key the drift job counts it under (the handler's message names
# the row and column).
WRONG_COLUMN_COUNT = "wrong column count"
BAD_CSV = "bad CSV"
BAD_JSON = "bad JSON payload"
EMPTY_BODY = "empty body"
NOT_UTF8 = "not UTF-8"
UNKNOWN_COLUMN = "unknown column"
REPEATED_COLUMN = "repeated column"
MISSING_COLUMN = "missing column"
HEADER_WITHOUT_ROWS = "header without rows"
TEXT_IN_NUMBER_COLUMN = "text in a number column"
"""The handler's own rule on values (`training.serve.inference`); the drift job counts such
values per column as type mismatches instead."""


class BadRequest(ValueError):
    """A body the endpoint refuses with a 400: `reason` is one of the keys above, the message
    names the row or column for the client."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class RequestColumns:
    """The columns a request may send: the features, in the order of a headerless row, and
    every name a header may hold (the features, columns the model drops, the target)."""

    features: tuple[str, ...]
    known: frozenset[str]

    @classmethod
    def of(cls, features: Iterable[str], ignored: Iterable[str | None] = ()) -> RequestColumns:
        """The features and the columns a request may send that are `ignored`."""
        features = tuple(features)
        return cls(features, frozenset([*features, *(name for name in ignored if name)]))


@dataclass(frozen=True)
class Body:
    """A parsed body: positional `rows` (CSV, JSON rows) or named `columns` (JSON records)."""

    media_type: str
    rows: list[list[Any]] | None = None
    columns: dict[str, list[Any]] | None = None

    @property
    def kind(self) -> str:
        return "CSV" if self.media_type == CSV else "JSON"


def media_type(value: str | None) -> str:
    """``text/csv`` of ``text/csv; charset=utf-8``: lower case, no parameters."""
    return (value or "").split(";")[0].strip().lower()


def body_text(body: str | bytes | bytearray) -> str:
    """The body as text (a UTF-8 byte-order mark dropped); not UTF-8 is refused."""
    if isinstance(body, (bytes, bytearray)):
        try:
            return bytes(body).decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise BadRequest(NOT_UTF8,
                             f"request body is not UTF-8 text (byte {error.start})") from None
    return body[1:] if body.startswith("\ufeff") else body


def parse_body(text: str, kind: str) -> Body:
    """The rows or columns of a CSV or JSON body (`kind`: :data:`CSV` or :data:`JSON`)."""
    if not text.strip():
        raise BadRequest(EMPTY_BODY, f"empty request body: send {CSV} rows or a {JSON} document")
    return _csv_body(text) if kind == CSV else _json_body(text)


def _csv_body(text: str) -> Body:
    try:
        rows = [row for row in csv.reader(io.StringIO(text)) if row]
    except csv.Error as error:
        raise BadRequest(BAD_CSV, f"CSV request cannot be parsed: {error}") from None
    width = len(rows[0])
    for index, row in enumerate(rows, start=1):
        if len(row) != width:
            raise BadRequest(WRONG_COLUMN_COUNT,
                             f"CSV row {index} has {len(row)} values but row 1 has {width}")
    return Body(CSV, rows=rows)


def _json_body(text: str) -> Body:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadRequest(BAD_JSON, f"JSON request is not valid JSON: {error.msg} at line "
                                   f"{error.lineno} column {error.colno}") from None
    if isinstance(document, dict) and set(document) == {"instances"}:
        document = document["instances"]
    shapes = ('a record {...}, a list of records [{...}], columns {"col": [...]}, '
              'or {"instances": [...]}')
    if isinstance(document, dict):
        if not document:
            raise BadRequest(BAD_JSON, f"JSON request is an empty object; send {shapes}")
        if all(isinstance(v, list) for v in document.values()):
            lengths = {name: len(values) for name, values in document.items()}
            if len(set(lengths.values())) > 1:
                raise BadRequest(BAD_JSON, f"JSON columns have different lengths: {lengths}")
            if not next(iter(lengths.values())):
                raise BadRequest(BAD_JSON, "JSON columns hold no rows")
            return Body(JSON, columns=document)
        listed = [name for name, value in document.items() if isinstance(value, list)]
        if listed:
            raise BadRequest(BAD_JSON, f"JSON record mixes lists (column(s) {listed}) and "
                                       f"single values; send {shapes}")
        document = [document]
    if not isinstance(document, list) or not document:
        raise BadRequest(BAD_JSON, f"JSON request must be {shapes} (got "
                                   f"{type(document).__name__}"
                                   f"{' (empty)' if document == [] else ''})")
    if all(isinstance(row, dict) for row in document):
        columns: dict[str, list[Any]] = {}
        for index, record in enumerate(document):
            for name in record:
                if name not in columns:
                    columns[name] = [None] * index
            for name, values in columns.items():
                values.append(record.get(name))
        return Body(JSON, columns=columns)
    if all(isinstance(row, list) for row in document):
        width = len(document[0])
        for index, row in enumerate(document, start=1):
            if len(row) != width:
                raise BadRequest(WRONG_COLUMN_COUNT, f"JSON row {index} has {len(row)} values "
                                                     f"but row 1 has {width}")
        return Body(JSON, rows=document)
    kinds = sorted({type(row).__name__ for row in document})
    raise BadRequest(BAD_JSON, f"JSON list must hold only records or only rows (got {kinds})")


def header_of(rows: Sequence[Sequence[Any]], columns: RequestColumns) -> list[str] | None:
    """The first row when it is a header (it names only known columns), else None."""
    first = rows[0]
    if all(isinstance(cell, str) and cell in columns.known for cell in first):
        return list(first)
    return None


def feature_table(body: Body, columns: RequestColumns) -> np.ndarray:
    """The body's values as sent, one column per feature in order (object array): a header's
    or record's other known columns dropped. Raises BadRequest as the endpoint refuses."""
    names = columns.features
    if body.columns is not None:
        check_names(list(body.columns), columns, "JSON")
        count = len(body.columns[names[0]])
        table = np.empty((count, len(names)), dtype=object)
        for index, name in enumerate(names):
            table[:, index] = body.columns[name]
        return table
    rows = body.rows or []
    header = header_of(rows, columns)
    if header is not None:
        rows = rows[1:]
        if not rows:
            raise BadRequest(HEADER_WITHOUT_ROWS,
                             f"{body.kind} request has a header row but no data rows")
        check_names(header, columns, f"{body.kind} header")
    elif len(rows[0]) != len(names):
        raise BadRequest(
            WRONG_COLUMN_COUNT,
            f"{body.kind} rows without a header need {len(names)} values, one per feature "
            f"in schema order ({_short(names)}); got {len(rows[0])}")
    table = np.empty((len(rows), len(rows[0])), dtype=object)
    table[:] = rows
    if header is not None:
        position = {name: index for index, name in enumerate(header)}
        table = table[:, [position[name] for name in names]]
    return table


def check_names(given: Sequence[str], columns: RequestColumns, where: str) -> None:
    """Refuse names that are unknown or repeated, and a feature left out."""
    unknown = [name for name in given if name not in columns.known]
    if unknown:
        raise BadRequest(UNKNOWN_COLUMN,
                         f"{where} has unknown column(s) {unknown[:5]}; the model's features "
                         f"are {_short(columns.features)}")
    repeated = sorted({name for name in given if given.count(name) > 1})
    if repeated:
        raise BadRequest(REPEATED_COLUMN, f"{where} names column(s) {repeated} more than once")
    present = set(given)
    missing = [name for name in columns.features if name not in present]
    if missing:
        raise BadRequest(MISSING_COLUMN,
                         f"{where} is missing feature column(s) {missing[:5]}"
                         f"{f' and {len(missing) - 5} more' if len(missing) > 5 else ''}")


def _short(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... {len(names) - limit} more" if len(names) > limit else "")
