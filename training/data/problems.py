"""Problems with the data as a user reads them: one line each, naming file, column and value.

Every check returns a list of `DataProblem`; nothing raises for bad data. A problem's
``severity`` is ``error`` (the run cannot succeed), ``warning`` (it runs, but read this) or
``note`` (what we did, e.g. the delimiter we detected). `raise_for_errors` turns the errors
into one `DataCheckError` for code that must stop, and `exit_on_data_error` turns that into
one line per problem and exit status 2 in a job.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

LISTED = 5
"""Values or classes named in one message at most."""


class SchemaError(ValueError):
    """The data does not meet the contract; the message names every offending column or file."""

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))



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


def data_problem(code: ProblemCode, message: str,
                 severity: Severity = Severity.ERROR) -> DataProblem:
    """A problem of `code`; an error unless `severity` says otherwise."""
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


def listing(values: Iterable[object], limit: int = LISTED) -> str:
    """The first `limit` values, quoted, and how many more there are."""
    values = list(values)
    shown = ", ".join(repr(value) for value in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")
