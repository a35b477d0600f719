"""Captured request bodies into the window's counts: CSV rows and JSON records, streamed.

Capture files are read chunk by chunk (``training.capture``); each request body is read as the
endpoint reads it (`training.serve.request_body`: a header naming known columns, the target
and dropped columns ignored, columns in the header's order) and its rows added to
:class:`WindowStatistics`. A request the endpoint refuses is counted as malformed under the
endpoint's reason, never fatal. Two things are counted instead of refused, because they are
what the report is for: text in a numeric column (a type mismatch of that column) and, in JSON
records, columns the baseline does not know or that are absent (schema violations).

A chunk whose CSV rows cannot hold a header is parsed in one C call (pyarrow or pandas); only
when a line may be a header, or a row has another width, are its requests read one by one.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from training import capture
from training.monitor.reference import Baseline
from training.monitor.window import NumericWindow, WindowStatistics
from training.serve.request_body import (
    CSV,
    JSON,
    BadRequest,
    Body,
    RequestColumns,
    body_text,
    feature_table,
    header_of,
    parse_body,
)


def _add_csv_pyarrow(stats: WindowStatistics, data: bytes) -> bool:
    """The fast path with pyarrow (in the image): False (nothing added) when a row has another
    width than the features'; text in a numeric column is counted per column."""
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
            # only an empty cell is missing, as to the endpoint ('NA', 'n/a' are text)
            convert_options=pacsv.ConvertOptions(column_types=types, null_values=[""],
                                                 strings_can_be_null=True),
        )

    typed = {f.name: (pa.float64() if f.is_numeric else pa.string())
             for f in stats.baseline.features}
    try:
        table = read(typed)
    except pa.ArrowInvalid:  # text in a numeric column: read as text, count per column
        bad_rows = 0
        frame = read({name: pa.string() for name in names}).to_pandas()
        if bad_rows:
            return False
        stats.update_frame(frame)
        return True
    if bad_rows:
        return False
    stats.rows += table.num_rows
    for feature in stats.baseline.features:
        column = table.column(feature.name)
        window = stats.windows[feature.name]
        if isinstance(window, NumericWindow):
            window.update(column.to_numpy())
        else:
            window.update(column.to_pandas())
    return True


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
                            dtype=dtypes, engine="c", keep_default_na=False, na_values=[""],
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


def _may_hold_a_header(data: bytes, columns: RequestColumns) -> bool:
    """Whether a line of `data` may be a header row: one that starts with a quote, a byte-order
    mark or a column a request may name. Without one, every line is a row of features.

    The lines' first bytes are looked at all at once (numeric rows start with a digit, names
    seldom do); only when one may start a name is each name searched for.
    """
    view = np.frombuffer(data, dtype=np.uint8)
    firsts = set(np.unique(np.concatenate(
        [view[:1], view[np.flatnonzero(view[:-1] == ord("\n")) + 1]])).tolist())
    leading = {ord('"'), 0xEF} | {name.encode("utf-8")[0] for name in columns.known if name}
    if not firsts & leading:
        return False
    lines = b"\n" + data
    return (b'\n"' in lines or b"\xef\xbb\xbf" in data
            or any(b"\n" + name.encode("utf-8") in lines for name in columns.known))


def _add_csv_at_once(stats: WindowStatistics, data: bytes) -> bool:
    """Headerless rows in one C parse: pyarrow (in the image; its C++ reader parses floats
    exactly, as json.loads does, and is the fastest there), else pandas. False (nothing added)
    when a row has another width."""
    try:
        import pyarrow  # noqa: F401 - in the image
    except ImportError:
        return _add_csv_pandas(stats, data)
    return _add_csv_pyarrow(stats, data)


def add_csv(stats: WindowStatistics, batch: capture.PayloadBatch,
            columns: RequestColumns) -> None:
    """Add a batch's CSV requests, read as the endpoint reads them."""
    if not batch.csv.strip():
        return
    if not _may_hold_a_header(batch.csv, columns) and _add_csv_at_once(stats, batch.csv):
        return
    tables = [table for data in batch.csv_requests()
              if (body := _parsed(stats, data, CSV)) is not None
              and (table := _features(stats, body, columns)) is not None]
    if tables:
        table = np.concatenate(tables)
        table[table == ""] = None  # an empty CSV cell is a missing value
        stats.update_frame(pd.DataFrame(table, columns=list(columns.features), dtype=object))


def _parsed(stats: WindowStatistics, data: bytes, kind: str) -> Body | None:
    """One request's body as the endpoint parses it, or None, counted as malformed under the
    endpoint's reason, when the endpoint refuses it."""
    try:
        return parse_body(body_text(data), kind)
    except BadRequest as refused:
        stats.malformed[refused.reason] += 1
        return None


def _features(stats: WindowStatistics, body: Body, columns: RequestColumns
              ) -> np.ndarray | None:
    """The features of a parsed body as the endpoint reads them (object array, columns in the
    features' order), or None, counted as malformed, when the endpoint refuses it."""
    try:
        table = feature_table(body, columns)
    except BadRequest as refused:
        stats.malformed[refused.reason] += 1
        return None
    if body.rows is not None and header_of(body.rows, columns) is not None:
        stats.header_rows += 1
    return table


def add_json(stats: WindowStatistics, payloads: Sequence[bytes],
             columns: RequestColumns) -> None:
    """Add JSON request bodies: records by column name, rows as the endpoint reads them.

    Records are read by name with the names the baseline does not know counted as new columns
    and features absent from every record as absent, for the report's schema violations (the
    endpoint refuses both); the target and dropped columns are ignored, as the endpoint does.
    """
    named: dict[str, list[Any]] = {}
    named_rows = 0
    tables = []
    for data in payloads:
        body = _parsed(stats, data, JSON)
        if body is None:
            continue
        if body.columns is None:
            table = _features(stats, body, columns)
            if table is not None:
                tables.append(table)
            continue
        for name, values in body.columns.items():
            named.setdefault(name, [None] * named_rows).extend(values)
        named_rows += len(next(iter(body.columns.values())))
        for values in named.values():
            values.extend([None] * (named_rows - len(values)))
    if named:
        frame = pd.DataFrame(named)
        stats.named_rows += named_rows
        for column in frame.columns:
            if column not in columns.known:
                stats.new_columns[str(column)] += int(frame[column].notna().sum())
        for name in columns.features:
            stats.absent_columns[name] += 0 if name in frame.columns else named_rows
        stats.update_frame(frame)
    if tables:
        stats.update_frame(pd.DataFrame(np.concatenate(tables), columns=list(columns.features),
                                        dtype=object))


def collect(
    baseline: Baseline,
    files: Sequence[str | Path],
    chunk_bytes: int = capture.DEFAULT_CHUNK_BYTES,
) -> WindowStatistics:
    """Stream capture files into per-feature window statistics."""
    stats = WindowStatistics(baseline, files=len(files))
    columns = baseline.request_columns
    for batch in capture.iter_payloads(files, chunk_bytes):
        stats.lines += batch.lines
        stats.records += batch.records
        stats.malformed.update(batch.malformed)
        add_csv(stats, batch, columns)
        if batch.json:
            add_json(stats, batch.json, columns)
    return stats
