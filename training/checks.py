"""Data checks a user can read, before any job runs: file format, target, size, values.

The CLI runs `check_data` on ``--data`` before it starts a job (exit 2 on an error) and
Preprocess runs `check_frame` on what it read, so a bad file fails in seconds with one line
per problem (file, column, value, what is allowed) instead of a job traceback.

Every function returns a list of `DataProblem`; nothing raises for bad data. A problem's
``severity`` is ``error`` (the run cannot succeed), ``warning`` (it runs, but read this) or
``note`` (what we did, e.g. the delimiter we detected). `raise_for_errors` turns the errors
into one `DataCheckError` for code that must stop.

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
import difflib
import math
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
import pandas as pd

from training.contract import ProblemType
from training.data import DatasetSchema, Feature, SchemaError, infer_schema

__all__ = [
    "DELIMITERS",
    "ENCODINGS",
    "DataCheckError",
    "DataProblem",
    "ProblemCode",
    "Severity",
    "check_data",
    "check_file",
    "check_frame",
    "checked_schema",
    "detect_delimiter",
    "errors",
    "exit_on_data_error",
    "format_problems",
    "min_rows_per_class",
    "raise_for_errors",
    "read_data_file",
]

ENCODINGS: tuple[str, ...] = ("utf-8", "utf-8-sig")
"""Encodings a data file may use (a byte-order mark is allowed)."""
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
"""Field separators we detect, in order of preference when several fit."""
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
SAMPLE_BYTES = 64 * 1024
"""How much of a file the delimiter detection reads."""
MIN_ROWS_PER_SPLIT = 2
"""Rows (per class, for classification) each of validation and test must get at least."""
MIN_ROWS_PER_CLASS_ON_AVERAGE = 5
"""Fewer labelled rows per class than this on average: the target is not a class label."""
MAX_NON_INTEGER_CLASSES = 20
"""A classification target with more distinct non-integer values looks continuous."""
DEFAULT_VALIDATION_FRACTION = 0.15
DEFAULT_TEST_FRACTION = 0.15
_LISTED = 5
"""Values or classes named in one message at most."""


class Severity(str, Enum):  # noqa: UP042 - the image's code style; StrEnum is 3.11+
    """How a problem affects the run."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"

    def __str__(self) -> str:
        return self.value


class ProblemCode(str, Enum):  # noqa: UP042
    """One code per kind of problem, stable for scripts and tests."""

    FILE_NOT_FOUND = "file_not_found"
    NOT_TEXT = "not_text"
    ENCODING = "encoding"
    EMPTY_FILE = "empty_file"
    DELIMITER = "delimiter"
    DECIMAL_COMMA = "decimal_comma"
    MALFORMED_CSV = "malformed_csv"
    HEADER_MISMATCH = "header_mismatch"
    DUPLICATE_COLUMNS = "duplicate_columns"
    TARGET_NOT_FOUND = "target_not_found"
    NO_FEATURES = "no_features"
    EMPTY_TARGET = "empty_target"
    MISSING_TARGET_VALUES = "missing_target_values"
    CONSTANT_TARGET = "constant_target"
    NON_NUMERIC_TARGET = "non_numeric_target"
    CONTINUOUS_TARGET = "continuous_target"
    TOO_MANY_CLASSES = "too_many_classes"
    RARE_CLASS = "rare_class"
    SMALL_CLASS = "small_class"
    TOO_FEW_ROWS = "too_few_rows"
    INFINITE_VALUES = "infinite_values"
    SCHEMA = "schema"
    """A problem the dataset schema found (mixed types, an empty column, --schema mismatch)."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class DataProblem:
    """One problem with the data: a code and a one-line message naming file, column, value."""

    code: str
    message: str
    severity: str = Severity.ERROR.value

    @property
    def is_error(self) -> bool:
        return self.severity == Severity.ERROR.value

    def __str__(self) -> str:
        return f"{self.severity}: {self.message} [{self.code}]"


def _problem(code: ProblemCode, message: str, severity: Severity = Severity.ERROR) -> DataProblem:
    return DataProblem(code.value, message, severity.value)


class DataCheckError(SchemaError):
    """The data has errors; `problems` holds one line per error (a SchemaError, so the jobs'
    existing handlers report it the same way)."""

    def __init__(self, problems: Sequence[DataProblem]) -> None:
        self.data_problems = list(problems)
        super().__init__([problem.message for problem in self.data_problems])


def errors(problems: Iterable[DataProblem]) -> list[DataProblem]:
    """The problems that stop a run."""
    return [problem for problem in problems if problem.is_error]


def raise_for_errors(problems: Iterable[DataProblem]) -> None:
    """Raise one DataCheckError listing every error; warnings and notes pass."""
    found = errors(problems)
    if found:
        raise DataCheckError(found)


def exit_on_data_error(main: Callable[[], object]) -> None:
    """Run a job's `main`; bad data (a SchemaError: DataCheckError, LeakError, ...) ends it
    with one line per problem on stderr and exit status 2 instead of a traceback, so the job
    log, and SageMaker's failure reason, say what is wrong with the data."""
    try:
        main()
    except DataCheckError as error:
        message = format_problems(error.data_problems)
    except SchemaError as error:
        message = "\n".join(f"error: {problem}" for problem in error.problems)
    else:
        return
    print(message, file=sys.stderr)
    raise SystemExit(2)


def format_problems(problems: Iterable[DataProblem]) -> str:
    """One line per problem, errors first, for a terminal or a job log."""
    order = {Severity.ERROR.value: 0, Severity.WARNING.value: 1, Severity.NOTE.value: 2}
    ranked = sorted(problems, key=lambda problem: order.get(problem.severity, 3))
    return "\n".join(str(problem) for problem in ranked)


def _listing(values: Iterable[object], limit: int = _LISTED) -> str:
    values = list(values)
    shown = ", ".join(repr(value) for value in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


# ---------------------------------------------------------------------------------------------
# The file: exists, is text, is UTF-8, has a delimiter we can read


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
            return _problem(ProblemCode.NOT_TEXT, f"file '{path}' is {what}, not CSV text")
    if b"\x00" in head:
        offset = head.index(b"\x00")
        return _problem(
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
    return _problem(
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
                _problem(
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
        _problem(
            ProblemCode.DUPLICATE_COLUMNS,
            f"file '{path}' repeats column name(s) {_listing(repeated)}; "
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
        problem = _problem(ProblemCode.FILE_NOT_FOUND, f"file '{path}' does not exist")
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
        problem = _problem(ProblemCode.EMPTY_FILE, f"file '{path}' is empty (no header row)")
        return FileFormat(delimiter, (), (problem,))
    problems = _header_problems(path, header)
    if delimiter != ",":
        problems.append(
            _problem(
                ProblemCode.DELIMITER,
                f"file '{path}' is separated by {DELIMITER_NAMES[delimiter]}s ({delimiter!r}),"
                f" not commas: read with {delimiter!r} ({len(header)} columns)",
                Severity.NOTE,
            )
        )
    return FileFormat(delimiter, tuple(header), tuple(problems))


def _read_checked(path: Path, delimiter: str) -> tuple[pd.DataFrame | None, list[DataProblem]]:
    try:
        frame = read_data_file(path, delimiter)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as error:
        detail = str(error).strip().splitlines()[-1] if str(error).strip() else type(error)
        return None, [
            _problem(
                ProblemCode.MALFORMED_CSV,
                f"file '{path}' is not valid CSV with delimiter {delimiter!r}: {detail}",
            )
        ]
    problems = _decimal_comma_problems(path, frame) if delimiter != "," else []
    return frame, problems


def check_file(
    path: str | Path,
    target: str,
    problem_type: ProblemType | str,
    *,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> list[DataProblem]:
    """Every problem of one CSV file: its format first, then its content (`check_frame`)."""
    path = Path(path)
    file_format = inspect_file(path)
    problems = list(file_format.problems)
    if errors(problems):
        return problems
    frame, read_problems = _read_checked(path, file_format.delimiter)
    problems += read_problems
    if frame is None or errors(read_problems):
        return problems
    content = check_frame(
        frame, target, problem_type,
        validation_fraction=validation_fraction, test_fraction=test_fraction,
    )
    return problems + [
        DataProblem(p.code, f"file '{path}': {p.message}", p.severity) for p in content
    ]


def check_data(
    path: str | Path,
    target: str,
    problem_type: ProblemType | str,
    *,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> list[DataProblem]:
    """`check_file` for a file, or for a folder of *.csv files (searched recursively): each
    file's format, the same header in every file, then the content of all rows together."""
    path = Path(path)
    if not path.is_dir():
        return check_file(
            path, target, problem_type,
            validation_fraction=validation_fraction, test_fraction=test_fraction,
        )
    files = sorted(
        (p for p in path.rglob("*") if p.is_file() and p.suffix.lower() == ".csv"),
        key=lambda p: p.relative_to(path).as_posix(),
    )
    if not files:
        return [_problem(ProblemCode.FILE_NOT_FOUND, f"folder '{path}' holds no *.csv files")]
    problems: list[DataProblem] = []
    frames: list[pd.DataFrame] = []
    first: tuple[Path, tuple[str, ...]] | None = None
    for file in files:
        file_format = inspect_file(file)
        problems += file_format.problems
        if errors(file_format.problems):
            continue
        if first is None:
            first = (file, file_format.header)
        elif set(file_format.header) != set(first[1]):
            missing = [c for c in first[1] if c not in file_format.header]
            extra = [c for c in file_format.header if c not in first[1]]
            problems.append(
                _problem(
                    ProblemCode.HEADER_MISMATCH,
                    f"file '{file}' has columns unlike '{first[0]}' (missing {missing}, "
                    f"extra {extra}); every file needs the same columns",
                )
            )
            continue
        frame, read_problems = _read_checked(file, file_format.delimiter)
        problems += read_problems
        if frame is not None and not errors(read_problems):
            frames.append(frame[list(first[1])])
    if errors(problems) or not frames:
        return problems
    content = check_frame(
        pd.concat(frames, ignore_index=True), target, problem_type,
        validation_fraction=validation_fraction, test_fraction=test_fraction,
    )
    return problems + [
        DataProblem(p.code, f"folder '{path}': {p.message}", p.severity) for p in content
    ]


# ---------------------------------------------------------------------------------------------
# The content: columns, target, size, values


def min_rows_per_class(
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> int:
    """Rows a class (or, for regression, the data) needs so that validation and test each
    get at least MIN_ROWS_PER_SPLIT of it: 14 for the 70/15/15 split."""
    smallest = min(validation_fraction, test_fraction)
    return math.ceil(MIN_ROWS_PER_SPLIT / smallest - 1e-9)


def _duplicate_column_problems(frame: pd.DataFrame) -> list[DataProblem]:
    repeated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if not repeated:
        return []
    return [
        _problem(
            ProblemCode.DUPLICATE_COLUMNS,
            f"column name(s) {_listing(repeated)} appear more than once; "
            "every column needs a distinct name",
        )
    ]


def _target_not_found(target: str, columns: Sequence[str]) -> DataProblem:
    by_case = {str(c).casefold(): str(c) for c in columns}
    guess = by_case.get(target.casefold())
    if guess is None:
        close = difflib.get_close_matches(target, [str(c) for c in columns], n=1, cutoff=0.6)
        guess = close[0] if close else None
    hint = f"; did you mean '{guess}'?" if guess else ""
    return _problem(
        ProblemCode.TARGET_NOT_FOUND,
        f"target column '{target}' not found{hint} (columns: {_listing(columns, 20)})",
    )


def _as_numbers(values: pd.Series) -> pd.Series | None:
    """Float values when every present value is a number, else None."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return None
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.astype("float64")
    parsed = pd.to_numeric(values, errors="coerce")
    if (parsed.notna() | values.isna()).all():
        return parsed.astype("float64")
    return None


def _infinite_value_problems(frame: pd.DataFrame) -> list[DataProblem]:
    problems = []
    for position, name in enumerate(frame.columns):
        numbers = _as_numbers(frame.iloc[:, position])
        if numbers is None:
            continue
        infinite = np.isinf(numbers.to_numpy(dtype="float64", na_value=np.nan))
        if infinite.any():
            first = int(np.flatnonzero(infinite)[0])
            value = frame.iloc[first, position]
            problems.append(
                _problem(
                    ProblemCode.INFINITE_VALUES,
                    f"column '{name}' has {int(infinite.sum())} infinite value(s) (first "
                    f"{value!r} in data row {first + 1}); only finite numbers or empty cells "
                    "are allowed",
                )
            )
    return problems


def _classification_problems(
    target: str, labels: pd.Series, min_per_class: int
) -> list[DataProblem]:
    numbers = _as_numbers(labels)
    counts = labels.astype(str).value_counts() if numbers is None else numbers.value_counts()
    if numbers is not None:
        non_integer = numbers[numbers != np.round(numbers)]
        if not non_integer.empty and numbers.nunique() > MAX_NON_INTEGER_CLASSES:
            return [
                _problem(
                    ProblemCode.CONTINUOUS_TARGET,
                    f"target column '{target}' has {numbers.nunique()} distinct values, "
                    f"non-integer ones among them (e.g. {non_integer.iloc[0]:g}): it looks "
                    "continuous; use --problem-type regression (classification allows at "
                    f"most {MAX_NON_INTEGER_CLASSES} distinct non-integer labels)",
                )
            ]
    rows, classes = len(labels), len(counts)
    most = rows // MIN_ROWS_PER_CLASS_ON_AVERAGE
    if classes > max(most, 2):
        hint = "; for a numeric quantity use --problem-type regression" if numbers is not None \
            else "; is it an identifier?"
        return [
            _problem(
                ProblemCode.TOO_MANY_CLASSES,
                f"target column '{target}' has {classes} classes for {rows} labelled rows; "
                f"classification needs at least {MIN_ROWS_PER_CLASS_ON_AVERAGE} rows per class "
                f"on average (at most {most} classes){hint}",
            )
        ]
    problems = []
    rare = counts[counts < MIN_ROWS_PER_SPLIT]
    if not rare.empty:
        problems.append(
            _problem(
                ProblemCode.RARE_CLASS,
                f"target column '{target}' has class(es) with a single row: "
                f"{_listing(_label_text(rare.index))}; a stratified split needs at least "
                f"{MIN_ROWS_PER_SPLIT} rows per class (drop those rows or merge the classes)",
            )
        )
    small = counts[(counts >= MIN_ROWS_PER_SPLIT) & (counts < min_per_class)]
    if not small.empty:
        listed = ", ".join(f"{label} ({count} rows)" for label, count in
                           zip(_label_text(small.index), small.to_numpy(), strict=True))
        problems.append(
            _problem(
                ProblemCode.SMALL_CLASS,
                f"target column '{target}' has small class(es) {listed}; validation and test "
                f"get {MIN_ROWS_PER_SPLIT}+ rows of a class only from {min_per_class} rows on, "
                "so scores for these classes will be unreliable",
                Severity.WARNING,
            )
        )
    return problems


def _label_text(labels: Iterable[object]) -> list[str]:
    """Class labels as written: 1.0 → '1'."""
    texts = []
    for label in labels:
        if isinstance(label, float) and label.is_integer():
            label = int(label)
        texts.append(str(label))
    return texts


def _target_problems(
    frame: pd.DataFrame, target: str, problem_type: ProblemType, min_per_class: int
) -> list[DataProblem]:
    values = frame[target]
    labels = values.dropna()
    if labels.empty:
        return [_problem(ProblemCode.EMPTY_TARGET,
                         f"target column '{target}' has no values (every row is missing)")]
    problems = []
    missing = int(values.isna().sum())
    if missing:
        problems.append(
            _problem(
                ProblemCode.MISSING_TARGET_VALUES,
                f"target column '{target}' is missing in {missing} of {len(values)} rows "
                f"({missing / len(values):.1%}); those rows will be dropped",
                Severity.WARNING,
            )
        )
    distinct = labels.astype(str).nunique()
    if distinct < 2:
        need = ("at least two classes" if problem_type is ProblemType.CLASSIFICATION
                else "varying values")
        problems.append(
            _problem(
                ProblemCode.CONSTANT_TARGET,
                f"target column '{target}' has the single value {labels.iloc[0]!r}; "
                f"{problem_type.value} needs {need}",
            )
        )
        return problems
    if problem_type is ProblemType.REGRESSION:
        parsed = pd.to_numeric(labels, errors="coerce")
        text = labels[parsed.isna()]
        if pd.api.types.is_bool_dtype(labels.dtype) or not text.empty:
            example = labels.iloc[0] if text.empty else text.iloc[0]
            problems.append(
                _problem(
                    ProblemCode.NON_NUMERIC_TARGET,
                    f"target column '{target}' must be numeric for regression (got "
                    f"{example!r} in {max(len(text), 1)} row(s)); for labels use "
                    "--problem-type classification",
                )
            )
        return problems
    return problems + _classification_problems(target, labels, min_per_class)


def check_frame(
    frame: pd.DataFrame,
    target: str,
    problem_type: ProblemType | str,
    *,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> list[DataProblem]:
    """Every problem of a table's content: column names, target, row counts, infinities.

    Works on text columns (as the jobs read CSV) and on typed ones. Minimum sizes follow the
    split: validation and test each need MIN_ROWS_PER_SPLIT rows (per class when
    classifying), so the data needs `min_rows_per_class` labelled rows (regression) or that
    many per class (classification: a class below it is a warning, below 2 an error).
    """
    problem_type = ProblemType(problem_type)
    problems = _duplicate_column_problems(frame)
    if problems:
        return problems
    columns = [str(c) for c in frame.columns]
    if target not in columns:
        return [_target_not_found(target, columns)]
    if len(columns) == 1:
        problems.append(
            _problem(ProblemCode.NO_FEATURES,
                     f"the data has only the target column '{target}'; it needs feature columns")
        )
    problems += _target_problems(frame, target, problem_type, min_rows_per_class(
        validation_fraction, test_fraction))
    labelled = int(frame[target].notna().sum())
    per_class = min_rows_per_class(validation_fraction, test_fraction)
    needed = per_class * (2 if problem_type is ProblemType.CLASSIFICATION else 1)
    if 0 < labelled < needed:
        split = (f"{1 - validation_fraction - test_fraction:.0%}/{validation_fraction:.0%}/"
                 f"{test_fraction:.0%}")
        unit = " per class, two classes at least" if needed > per_class else ""
        problems.append(
            _problem(
                ProblemCode.TOO_FEW_ROWS,
                f"the data has {labelled} labelled rows; a {split} split needs at least "
                f"{needed} ({per_class}{unit}) so that validation and test each get "
                f"{MIN_ROWS_PER_SPLIT}",
            )
        )
    problems += _infinite_value_problems(frame)
    return problems


def checked_schema(
    data: pd.DataFrame,
    target: str,
    problem_type: ProblemType | str,
    expected: Sequence[Feature] | None = None,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> DatasetSchema:
    """The schema, after the pre-flight's data checks (`training.checks.check_frame`).

    Raises one DataCheckError with every error of both: the checks' messages first (the ones
    `mlops up --local` prints), then the schema's about other columns. Warnings are printed.
    """
    problems = check_frame(data, target, problem_type, validation_fraction=validation_fraction,
                           test_fraction=test_fraction)
    found = errors(problems)
    try:
        schema = infer_schema(data, target, problem_type, expected)
    except SchemaError as error:
        named = {p.message for p in found}
        target_named = any(f"'{target}'" in message for message in named)
        found += [DataProblem(ProblemCode.SCHEMA.value, message) for message in error.problems
                  if not (target_named and f"'{target}'" in message)]
        raise_for_errors(found)
        raise
    raise_for_errors(found)
    if problems:
        print(format_problems(problems), file=sys.stderr)
    return schema


def main(argv: Sequence[str] | None = None) -> int:
    """``python3 -m training.checks --data PATH --target COLUMN --problem-type TYPE``:
    print every problem, one per line; exit 2 when one is an error, else 0."""
    import argparse

    parser = argparse.ArgumentParser(description="Check a data file or folder before a run.")
    parser.add_argument("--data", type=Path, required=True, help="a CSV file or a folder of them")
    parser.add_argument("--target", required=True)
    parser.add_argument("--problem-type", required=True, choices=[p.value for p in ProblemType])
    args = parser.parse_args(argv)
    problems = check_data(args.data, args.target, args.problem_type)
    if problems:
        print(format_problems(problems), file=sys.stderr)
    return 2 if errors(problems) else 0


if __name__ == "__main__":
    raise SystemExit(main())
