"""Reading a data file: exists, is text, is UTF-8, has a delimiter we can read.

Delimiter policy: a file separated by ``;``, tab or ``|`` is read with that delimiter and a
note says so, instead of refusing it. Such files are what spreadsheet programs write in many
locales; the delimiter is accepted only when every sampled row splits into the same number
(> 1) of fields with it, so the choice is unambiguous; and the one real hazard of those
files, numbers written with a decimal comma (``3,14``, which would silently become text), is
refused by name (`ProblemCode.DECIMAL_COMMA`). Jobs read files with `read_data_file`, which
uses `detect_delimiter`, so the pre-flight and the jobs see the same columns.
"""

from __future__ import annotations

import codecs
import csv
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from training.data.problems import DataProblem, ProblemCode, Severity, data_problem, listing

ENCODINGS: tuple[str, ...] = ("utf-8", "utf-8-sig")
"""Encodings a data file may use (a byte-order mark is allowed)."""
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
"""Field separators we detect, in order of preference when several fit."""
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
SAMPLE_BYTES = 64 * 1024
"""How much of a file the delimiter detection reads."""


_BINARY_SIGNATURES = {
    b"PK\x03\x04": "a ZIP archive or an Excel workbook (export it as CSV)",
    b"PAR1": "a Parquet file (write it as CSV)",
    b"\x1f\x8b": "a gzip archive (decompress it)",
    b"\xff\xfe": "UTF-16 text (save it as UTF-8)",
    b"\xfe\xff": "UTF-16 text (save it as UTF-8)",
}


def _not_text(path: Path, head: bytes) -> DataProblem | None:
    for signature, what in _BINARY_SIGNATURES.items():
        if head.startswith(signature):
            return data_problem(ProblemCode.NOT_TEXT, f"file '{path}' is {what}, not CSV text")
    if b"\x00" in head:
        offset = head.index(b"\x00")
        return data_problem(
            ProblemCode.NOT_TEXT,
            f"file '{path}' is binary, not CSV text (NUL byte at offset {offset})",
        )
    return None


def _first_invalid_utf8(path: Path, chunk_size: int = 1 << 20) -> tuple[int, int, int] | None:
    """(byte offset, byte value, line number) of the first byte that is not UTF-8, if any."""
    offset, line, pending = 0, 1, b""
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(chunk_size)
            final = not chunk
            data = pending + chunk
            try:
                _, consumed = codecs.utf_8_decode(data, "strict", final)
            except UnicodeDecodeError as error:
                line += data[: error.start].count(b"\n")
                return offset + error.start, data[error.start], line
            line += data[:consumed].count(b"\n")
            offset += consumed
            pending = data[consumed:]
            if final:
                return None


def _encoding_problem(path: Path) -> DataProblem | None:
    bad = _first_invalid_utf8(path)
    if bad is None:
        return None
    offset, value, line = bad
    return data_problem(
        ProblemCode.ENCODING,
        f"file '{path}' is not UTF-8: byte 0x{value:02X} at offset {offset} (line {line}) is "
        f"invalid (allowed encodings: {', '.join(ENCODINGS)}; a file saved as Latin-1 or "
        "Windows-1252 must be re-saved as UTF-8)",
    )


def _sample_rows(text: str, complete: bool) -> list[str]:
    lines = text.splitlines()
    if not complete and len(lines) > 1:
        lines = lines[:-1]  # the sample may end mid-row
    return lines


def detect_delimiter_in(text: str, complete: bool = True) -> str:
    """The delimiter of CSV text: the candidate that splits the header into most rows' width.

    Deterministic instead of csv.Sniffer's character-frequency guess (which can pick a
    character that only occurs inside quoted text): each candidate parses the sample; it
    qualifies when it splits the header into more than one field; the one under which the
    largest share of rows has the header's width wins, ties going to the order of DELIMITERS
    (comma first). A single-column file is comma-separated.
    """
    lines = _sample_rows(text, complete)
    best, best_share = ",", 0.0
    for delimiter in DELIMITERS:
        rows = [row for row in csv.reader(lines, delimiter=delimiter) if row]
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        share = sum(len(row) == width for row in rows) / len(rows)
        if share > best_share:
            best, best_share = delimiter, share
    return best


def _read_sample(path: Path) -> tuple[str, bool]:
    with path.open("rb") as handle:
        raw = handle.read(SAMPLE_BYTES + 1)
    complete = len(raw) <= SAMPLE_BYTES
    raw = raw[:SAMPLE_BYTES]
    text = raw.decode("utf-8-sig", errors="ignore")  # a cut multi-byte character is dropped
    return text, complete


def detect_delimiter(path: str | Path) -> str:
    """The delimiter to read `path` with (see `detect_delimiter_in`)."""
    return detect_delimiter_in(*_read_sample(Path(path)))


def read_data_file(path: str | Path, delimiter: str | None = None) -> pd.DataFrame:
    """A data file as text columns (NaN when empty), with its detected delimiter by default.

    Values stay text so categories are kept exactly as written ("007"); the type decisions
    come later. Raises pandas' ParserError or UnicodeDecodeError on a broken file: call
    `check_file` first to turn those into messages.
    """
    path = Path(path)
    return pd.read_csv(
        path, sep=delimiter or detect_delimiter(path), dtype=str, encoding="utf-8-sig"
    )


_DECIMAL_COMMA = re.compile(r"^\s*[-+]?(\d{1,3}(\.\d{3})+|\d+),\d+\s*$")


def _decimal_comma_problems(path: Path, frame: pd.DataFrame) -> list[DataProblem]:
    problems = []
    for name in frame.columns:
        present = frame[name].dropna().astype(str)
        if not present.empty and present.str.match(_DECIMAL_COMMA).all():
            problems.append(
                data_problem(
                    ProblemCode.DECIMAL_COMMA,
                    f"file '{path}': column '{name}' writes numbers with a decimal comma "
                    f"(e.g. {present.iloc[0]!r}), which would be read as text; write them "
                    "with a decimal point (3.14)",
                )
            )
    return problems


def _header_problems(path: Path, header: list[str]) -> list[DataProblem]:
    repeated = sorted({name for name in header if header.count(name) > 1})
    if not repeated:
        return []
    return [
        data_problem(
            ProblemCode.DUPLICATE_COLUMNS,
            f"file '{path}' repeats column name(s) {listing(repeated)}; "
            "every column needs a distinct name",
        )
    ]


@dataclass(frozen=True)
class FileFormat:
    """What `inspect_file` learned: the delimiter, the header and any problems."""

    delimiter: str
    header: tuple[str, ...]
    problems: tuple[DataProblem, ...]


def inspect_file(path: str | Path) -> FileFormat:
    """The format of one data file: exists, text, UTF-8, delimiter, header without repeats."""
    path = Path(path)
    if not path.is_file():
        problem = data_problem(ProblemCode.FILE_NOT_FOUND, f"file '{path}' does not exist")
        return FileFormat(",", (), (problem,))
    with path.open("rb") as handle:
        head = handle.read(8192)
    found = _not_text(path, head) or _encoding_problem(path)
    if found:
        return FileFormat(",", (), (found,))
    text, complete = _read_sample(path)
    delimiter = detect_delimiter_in(text, complete)
    header = next(csv.reader(_sample_rows(text, complete)[:1], delimiter=delimiter), [])
    if not any(cell.strip() for cell in header):
        problem = data_problem(ProblemCode.EMPTY_FILE, f"file '{path}' is empty (no header row)")
        return FileFormat(delimiter, (), (problem,))
    problems = _header_problems(path, header)
    if delimiter != ",":
        problems.append(
            data_problem(
                ProblemCode.DELIMITER,
                f"file '{path}' is separated by {DELIMITER_NAMES[delimiter]}s ({delimiter!r}),"
                f" not commas: read with {delimiter!r} ({len(header)} columns)",
                Severity.NOTE,
            )
        )
    return FileFormat(delimiter, tuple(header), tuple(problems))


def read_checked(path: Path, delimiter: str) -> tuple[pd.DataFrame | None, list[DataProblem]]:
    try:
        frame = read_data_file(path, delimiter)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as error:
        detail = str(error).strip().splitlines()[-1] if str(error).strip() else type(error)
        return None, [
            data_problem(
                ProblemCode.MALFORMED_CSV,
                f"file '{path}' is not valid CSV with delimiter {delimiter!r}: {detail}",
            )
        ]
    problems = _decimal_comma_problems(path, frame) if delimiter != "," else []
    return frame, problems

