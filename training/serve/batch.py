"""The batch inference job: score CSV files with the endpoint's own handler, every row accounted.

Each input file (a CSV with a header naming at least the model's features, in any order, any
other columns kept) is read in chunks of ``--chunk-rows`` rows; a chunk becomes one request as
the endpoint receives it (the feature cells as sent, in schema order) and goes through the
handler's own functions (`training.serve.inference`: `model_fn`, `table_features`,
`predict_features`, `reply_rows`), so a row scores here exactly as it scores on the endpoint.

A row the endpoint would refuse (a line with the wrong number of values, text or an infinity in
a numeric feature, a file whose header lacks a feature) is *refused*: listed in
``refused_rows-<host>.csv`` with its file, line number and reason, counted in the report, never
silently dropped; the other rows of its chunk are scored. A refused share above
``--max-refused-share`` is written in the report (``passed`` false); the job still exits 0 so
that SageMaker uploads what it scored and the refused rows, and the pipeline fails the run
after publishing the counts (a failed job's outputs would be lost).

Outputs under ``--output-dir`` (the processing output ``scored``): each input's rows joined to
their predictions, ``<input path>.scored.csv`` (input columns + ``prediction`` +
``probability_<class>`` per class) or ``.scored.jsonl``; the refused rows; and
``batch_report-<host>.json``. With several instances (files sharded by S3 key) each host writes
its own report and refused-rows file, so nothing is overwritten.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from training import capture
from training.cluster import load_cluster
from training.contract import (
    BATCH_CAPTURE_ROWS,
    BATCH_OUTPUT_FORMATS,
    BATCH_REPORT_PREFIX,
    DEFAULT_BATCH_CHUNK_ROWS,
    DEFAULT_BATCH_OUTPUT_FORMAT,
    DEFAULT_MAX_REFUSED_SHARE,
    MODEL_ARCHIVE,
    PREDICTION_COLUMN,
    PROBABILITY_COLUMN_PREFIX,
    PROCESSING_BATCH_INPUT_DIR,
    PROCESSING_BATCH_OUTPUT_DIR,
    PROCESSING_MODEL_DIR,
    REFUSED_ROWS_PREFIX,
    SCORED_SUFFIX,
)
from training.data.files import detect_delimiter
from training.data.schema import list_csv_files
from training.serve.inference import (
    MAX_PAYLOAD_BYTES,
    ServedModel,
    model_fn,
    predict_features,
    reply_rows,
    table_features,
)
from training.serve.request_body import BadRequest
from training.train.model_files import extract_model

#: How many refused rows the report quotes (all of them are in the refused-rows file).
REPORT_EXAMPLES = 20


class BatchInputError(ValueError):
    """The job cannot run: no model, no input folder; one line saying which."""


@dataclass(frozen=True)
class RefusedRow:
    """A row the endpoint would refuse: where it is and why."""

    file: str
    line: int
    reason: str


@dataclass
class FileCounts:
    """One input file's rows: read, scored, refused."""

    file: str
    output: str
    rows: int = 0
    scored: int = 0
    refused: int = 0
    problem: str = ""
    """A problem of the whole file (its header lacks a feature): every row refused."""


@dataclass
class BatchReport:
    """What one host of a batch run did (``batch_report-<host>.json``)."""

    host: str
    rows: int = 0
    scored: int = 0
    refused: int = 0
    max_refused_share: float = DEFAULT_MAX_REFUSED_SHARE
    output_format: str = DEFAULT_BATCH_OUTPUT_FORMAT
    seconds: float = 0.0
    files: list[FileCounts] = field(default_factory=list)
    examples: list[RefusedRow] = field(default_factory=list)

    @property
    def refused_share(self) -> float:
        return self.refused / self.rows if self.rows else 0.0

    @property
    def passed(self) -> bool:
        return self.refused_share <= self.max_refused_share

    def as_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["refused_share"] = round(self.refused_share, 6)
        document["passed"] = self.passed
        return document

    def summary(self) -> str:
        share = f"{self.refused_share:.2%}"
        verdict = "" if self.passed else \
            f", more than the limit of {self.max_refused_share:.2%}: the run fails"
        return (f"{self.scored} of {self.rows} rows scored in {len(self.files)} file(s), "
                f"{self.refused} refused ({share}){verdict}")


# --------------------------------------------------------------------------------------
# Reading: chunks of rows with their line numbers


def _chunks(reader: Iterator[list[str]], lines: _LineCounter, size: int
            ) -> Iterator[tuple[list[list[str]], list[int]]]:
    rows: list[list[str]] = []
    numbers: list[int] = []
    for row in reader:
        start = lines.start()
        if not row:  # a blank line is no row
            continue
        rows.append(row)
        numbers.append(start)
        if len(rows) >= size:
            yield rows, numbers
            rows, numbers = [], []
    if rows:
        yield rows, numbers


class _LineCounter:
    """The first physical line of each row csv.reader yields (a quoted cell may span lines)."""

    def __init__(self, reader: Any):
        self.reader = reader
        self.last = reader.line_num

    def start(self) -> int:
        first, self.last = self.last + 1, self.reader.line_num
        return first


# --------------------------------------------------------------------------------------
# Scoring a chunk


def refused_by_values(table: np.ndarray, model: ServedModel) -> dict[int, str]:
    """Rows of ``table`` (features in schema order, CSV text) the handler would refuse, with
    why: the same test as the handler's (``float()`` of each non-empty cell of a numeric
    feature, infinities refused), vectorised, walking cells only in a column that fails."""
    refused: dict[int, str] = {}
    names = model.schema.feature_names
    for position in model.numeric_positions:
        column = table[:, position]
        missing = column == ""
        values = column.copy()
        values[missing] = np.nan
        try:
            parsed = values.astype(np.float64)
        except (TypeError, ValueError):
            parsed = None
        if parsed is not None:
            for index in np.flatnonzero(np.isinf(parsed)):
                refused.setdefault(int(index), f"column '{names[position]}': expected a "
                                               f"number, got {column[index]!r}")
            continue
        for index, value in enumerate(column):
            if value == "":
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = None
            if number is None or np.isinf(number):
                refused.setdefault(index, f"column '{names[position]}': expected a number, "
                                          f"got {value!r}")
    return refused


def score_table(table: np.ndarray, model: ServedModel) -> list[list[Any]]:
    """Reply rows for ``table`` (every row acceptable): the handler's own path, split so each
    request stays within the endpoint's payload limit."""
    size = sum(len(cell) + 1 for cell in table[0]) * len(table) if len(table) else 0
    if size > MAX_PAYLOAD_BYTES and len(table) > 1:
        half = len(table) // 2
        return score_table(table[:half], model) + score_table(table[half:], model)
    features = table_features(table, model, text_only=True)
    predictions, probabilities, _ = predict_features(features, model)
    return reply_rows(predictions, probabilities)


def _score_or_isolate(table: np.ndarray, model: ServedModel, lines: Sequence[int]
                      ) -> tuple[list[list[Any] | None], dict[int, str]]:
    """Replies for every row the handler accepts; a chunk it refuses is halved until the
    refused rows are found (the handler decides, whatever the pre-check missed)."""
    if not len(table):
        return [], {}
    try:
        return list(score_table(table, model)), {}
    except BadRequest as error:
        if len(table) == 1:
            return [None], {0: str(error).removeprefix("row 1, ")}
    half = len(table) // 2
    first, first_refused = _score_or_isolate(table[:half], model, lines[:half])
    second, second_refused = _score_or_isolate(table[half:], model, lines[half:])
    return first + second, {**first_refused,
                            **{index + half: why for index, why in second_refused.items()}}


def capture_records(header: Sequence[str], table_rows: Sequence[Sequence[str]],
                    replies: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """Scored rows as the endpoint's capture holds requests: CSV bodies of at most
    BATCH_CAPTURE_ROWS rows with the features' header, each with its reply, so the drift job
    reads a batch as it reads a window of traffic."""
    records = []
    for start in range(0, len(table_rows), BATCH_CAPTURE_ROWS):
        request, reply = io.StringIO(), io.StringIO()
        csv.writer(request, lineterminator="\n").writerows(
            [header, *table_rows[start:start + BATCH_CAPTURE_ROWS]])
        csv.writer(reply, lineterminator="\n").writerows(
            replies[start:start + BATCH_CAPTURE_ROWS])
        records.append(capture.capture_record(request.getvalue(), "text/csv",
                                              reply.getvalue(), "text/csv"))
    return records


def score_chunk(rows: list[list[str]], lines: Sequence[int], width: int,
                positions: Sequence[int], model: ServedModel
                ) -> tuple[list[tuple[list[str], list[Any]]], dict[int, str]]:
    """(input row, reply row) for each scored row, and ``{index in chunk: reason}`` for each
    refused one."""
    refused = {index: f"the line has {len(row)} values, the header has {width}"
               for index, row in enumerate(rows) if len(row) != width}
    kept = [index for index in range(len(rows)) if index not in refused]
    if not kept:
        return [], refused
    full = np.empty((len(kept), width), dtype=object)
    full[:] = [rows[index] for index in kept] if refused else rows
    table = full[:, list(positions)]
    try:  # a clean chunk (the common case) is typed once, by the handler
        replies, late, by_value = list(score_table(table, model)), {}, {}
    except BadRequest:
        by_value = refused_by_values(table, model)
        replies, late = [], {}
    for index, reason in by_value.items():
        refused[kept[index]] = reason
    good = [row for row in range(len(kept)) if row not in by_value]
    if by_value or not replies:
        replies, late = _score_or_isolate(table[good], model,
                                          [lines[kept[row]] for row in good])
    for index, reason in late.items():
        refused[kept[good[index]]] = reason
    scored = [(rows[kept[row]], reply) for row, reply in zip(good, replies, strict=True)
              if reply is not None]
    return scored, refused


# --------------------------------------------------------------------------------------
# Writing


class _Writer:
    """Scored rows of one file, as CSV (input columns + prediction columns) or JSON Lines."""

    def __init__(self, handle: TextIO, output_format: str, header: list[str],
                 prediction_columns: list[str]):
        self.handle = handle
        self.output_format = output_format
        self.columns = [*header, *prediction_columns]
        if output_format == "csv":
            self.csv = csv.writer(handle, lineterminator="\n")
            self.csv.writerow(self.columns)

    def write(self, scored: list[tuple[list[str], list[Any]]]) -> None:
        if self.output_format == "csv":
            self.csv.writerows([*row, *reply] for row, reply in scored)
            return
        columns = self.columns
        self.handle.writelines(json.dumps(dict(zip(columns, [*row, *reply], strict=True)))
                               + "\n" for row, reply in scored)


def prediction_columns(model: ServedModel) -> list[str]:
    """``prediction``, then ``probability_<class>`` per class for a classifier."""
    classes = getattr(model.pipeline, "classes_", None)
    if model.schema.problem_type.value != "classification" or classes is None:
        return [PREDICTION_COLUMN]
    return [PREDICTION_COLUMN, *(f"{PROBABILITY_COLUMN_PREFIX}{label}"
                                 for label in np.asarray(classes).tolist())]


def scored_name(relative: str, output_format: str) -> str:
    return f"{relative}{SCORED_SUFFIX}.{output_format}"


def score_file(model: ServedModel, source: Path, relative: str, output_dir: Path,
               refused_writer: Any, report: BatchReport, chunk_rows: int,
               capture_dir: Path | None = None) -> FileCounts:
    """Score one CSV file into ``output_dir``; refused rows go to ``refused_writer``; with
    ``capture_dir``, the scored rows also as capture records there."""
    counts = FileCounts(relative, scored_name(relative, report.output_format))
    destination = output_dir / counts.output
    destination.parent.mkdir(parents=True, exist_ok=True)

    def refuse(line: int, reason: str) -> None:
        counts.refused += 1
        refused_writer.writerow([relative, line, reason])
        if len(report.examples) < REPORT_EXAMPLES:
            report.examples.append(RefusedRow(relative, line, reason))

    with source.open(newline="", encoding="utf-8-sig") as handle, \
            destination.open("w", newline="", encoding="utf-8") as out:
        reader = csv.reader(handle, delimiter=detect_delimiter(source))
        header = next(reader, None)
        if not header:
            counts.problem = "the file is empty (no header row)"
            return counts
        lines = _LineCounter(reader)
        missing = [name for name in model.schema.feature_names if name not in header]
        if missing:
            counts.problem = (f"the header lacks feature column(s) {missing[:5]}"
                              f"{f' and {len(missing) - 5} more' if len(missing) > 5 else ''}")
            for _, numbers in _chunks(reader, lines, chunk_rows):
                counts.rows += len(numbers)
                for line in numbers:
                    refuse(line, f"missing column(s): {counts.problem}")
            return counts
        positions = [header.index(name) for name in model.schema.feature_names]
        writer = _Writer(out, report.output_format, header, prediction_columns(model))
        for rows, numbers in _chunks(reader, lines, chunk_rows):
            counts.rows += len(rows)
            scored, refused = score_chunk(rows, numbers, len(header), positions, model)
            for index in sorted(refused):
                refuse(numbers[index], refused[index])
            writer.write(scored)
            counts.scored += len(scored)
            if capture_dir is not None and scored:
                capture.append_records(capture_dir, capture_records(
                    model.schema.feature_names, [[row[p] for p in positions]
                                                 for row, _ in scored],
                    [reply for _, reply in scored]))
    return counts


def score_folder(model: ServedModel, input_dir: Path, output_dir: Path, *, host: str = "algo-1",
                 chunk_rows: int = DEFAULT_BATCH_CHUNK_ROWS,
                 output_format: str = DEFAULT_BATCH_OUTPUT_FORMAT,
                 max_refused_share: float = DEFAULT_MAX_REFUSED_SHARE,
                 capture_dir: Path | None = None) -> BatchReport:
    """Score every CSV file under ``input_dir`` (or the one file it names) into ``output_dir``;
    write the refused rows and the report (and, with ``capture_dir``, the scored rows as
    capture records: the batch as a drift window); return the report."""
    started = time.perf_counter()
    report = BatchReport(host=host, max_refused_share=max_refused_share,
                         output_format=output_format)
    files = [input_dir] if input_dir.is_file() else list_csv_files(input_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with (output_dir / f"{REFUSED_ROWS_PREFIX}-{host}.csv").open(
            "w", newline="", encoding="utf-8") as refused_file:
        refused_writer = csv.writer(refused_file, lineterminator="\n")
        refused_writer.writerow(["file", "line", "reason"])
        for source in files:
            relative = source.name if source == input_dir else \
                source.relative_to(input_dir).as_posix()
            counts = score_file(model, source, relative, output_dir, refused_writer, report,
                                chunk_rows, capture_dir)
            report.files.append(counts)
            report.rows += counts.rows
            report.scored += counts.scored
            report.refused += counts.refused
    report.seconds = round(time.perf_counter() - started, 3)
    (output_dir / f"{BATCH_REPORT_PREFIX}-{host}.json").write_text(
        json.dumps(report.as_json(), indent=2, sort_keys=True) + "\n")
    return report


def load_served_model(model_dir: Path, scratch: Path) -> ServedModel:
    """The handler's model (``model_fn``) from a folder holding model.tar.gz or its files."""
    if not model_dir.is_dir():
        raise BatchInputError(f"--model-dir {model_dir}: no such folder")
    if (model_dir / MODEL_ARCHIVE).is_file():
        model_dir = extract_model(model_dir, scratch)
    return model_fn(str(model_dir))


# --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=PROCESSING_MODEL_DIR)
    parser.add_argument("--input-dir", default=PROCESSING_BATCH_INPUT_DIR)
    parser.add_argument("--output-dir", default=PROCESSING_BATCH_OUTPUT_DIR)
    parser.add_argument("--chunk-rows", type=int, default=DEFAULT_BATCH_CHUNK_ROWS)
    parser.add_argument("--output-format", choices=BATCH_OUTPUT_FORMATS,
                        default=DEFAULT_BATCH_OUTPUT_FORMAT)
    parser.add_argument("--max-refused-share", type=float, default=DEFAULT_MAX_REFUSED_SHARE)
    parser.add_argument("--capture-dir", type=Path, default=None,
                        help="also write the scored rows as capture records here (the drift "
                             "job's window of this batch)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Processing-job entry point: 0 scored (the report says whether the refused share is
    within the limit), 2 cannot run."""
    args = parse_args(argv)
    try:
        if args.chunk_rows < 1:
            raise BatchInputError(f"--chunk-rows must be >= 1 (got {args.chunk_rows})")
        if not 0 <= args.max_refused_share <= 1:
            raise BatchInputError(f"--max-refused-share must be between 0 and 1 "
                                  f"(got {args.max_refused_share})")
        input_dir = Path(args.input_dir)
        if not input_dir.exists():
            raise BatchInputError(f"--input-dir {input_dir}: no such file or folder")
        with tempfile.TemporaryDirectory() as scratch:
            model = load_served_model(Path(args.model_dir), Path(scratch))
            report = score_folder(model, input_dir, Path(args.output_dir),
                                  host=load_cluster().current_host,
                                  chunk_rows=args.chunk_rows, output_format=args.output_format,
                                  max_refused_share=args.max_refused_share,
                                  capture_dir=args.capture_dir)
    except (BatchInputError, FileNotFoundError) as error:
        print(f"batch: {error}", file=sys.stderr)
        return 2
    for counts in report.files:
        if counts.problem:
            print(f"batch: {counts.file}: {counts.problem}", file=sys.stderr)
    print(f"batch: {report.summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
