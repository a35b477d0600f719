"""Data checks a user can read, before any job runs: file format, target, size, values.

The CLI runs `check_data` on ``--data`` before it starts a job (exit 2 on an error) and
Preprocess runs `check_frame` on what it read, so a bad file fails in seconds with one line
per problem (file, column, value, what is allowed) instead of a job traceback. The file's
format is `training.data.files`'s; the problems and their severities are
`training.data.problems`'.
"""

from __future__ import annotations

import difflib
import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from training.contract import ProblemType
from training.data.files import inspect_file, read_checked
from training.data.floats import to_floats
from training.data.problems import (
    DataProblem,
    ProblemCode,
    SchemaError,
    Severity,
    data_problem,
    errors,
    format_problems,
    listing,
    raise_for_errors,
)
from training.data.schema import DatasetSchema, Feature, infer_schema, list_csv_files

MIN_ROWS_PER_SPLIT = 2
"""Rows (per class, for classification) each of validation and test must get at least."""
MIN_ROWS_PER_CLASS_ON_AVERAGE = 5
"""Fewer labelled rows per class than this on average: the target is not a class label."""
MAX_NON_INTEGER_CLASSES = 20
"""A classification target with more distinct non-integer values looks continuous."""
DEFAULT_VALIDATION_FRACTION = 0.15
DEFAULT_TEST_FRACTION = 0.15


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
    frame, read_problems = read_checked(path, file_format.delimiter)
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
    files = list_csv_files(path)
    if not files:
        return [data_problem(ProblemCode.FILE_NOT_FOUND, f"folder '{path}' holds no *.csv files")]
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
                data_problem(
                    ProblemCode.HEADER_MISMATCH,
                    f"file '{file}' has columns unlike '{first[0]}' (missing {missing}, "
                    f"extra {extra}); every file needs the same columns",
                )
            )
            continue
        frame, read_problems = read_checked(file, file_format.delimiter)
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
        data_problem(
            ProblemCode.DUPLICATE_COLUMNS,
            f"column name(s) {listing(repeated)} appear more than once; "
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
    return data_problem(
        ProblemCode.TARGET_NOT_FOUND,
        f"target column '{target}' not found{hint} (columns: {listing(columns, 20)})",
    )


def _as_numbers(values: pd.Series) -> pd.Series | None:
    """Float values when every present value is a number, else None."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return None
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.astype("float64")
    parsed = to_floats(values)
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
                data_problem(
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
                data_problem(
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
            data_problem(
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
            data_problem(
                ProblemCode.RARE_CLASS,
                f"target column '{target}' has class(es) with a single row: "
                f"{listing(_label_text(rare.index))}; such a row lands in one split, so the "
                "model either never learns its class or is never scored on it (drop those "
                "rows or merge the classes)",
            )
        )
    small = counts[(counts >= MIN_ROWS_PER_SPLIT) & (counts < min_per_class)]
    if not small.empty:
        listed = ", ".join(f"{label} ({count} rows)" for label, count in
                           zip(_label_text(small.index), small.to_numpy(), strict=True))
        problems.append(
            data_problem(
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
        return [data_problem(ProblemCode.EMPTY_TARGET,
                         f"target column '{target}' has no values (every row is missing)")]
    problems = []
    missing = int(values.isna().sum())
    if missing:
        problems.append(
            data_problem(
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
            data_problem(
                ProblemCode.CONSTANT_TARGET,
                f"target column '{target}' has the single value {labels.iloc[0]!r}; "
                f"{problem_type.value} needs {need}",
            )
        )
        return problems
    if problem_type is ProblemType.REGRESSION:
        parsed = to_floats(labels)
        text = labels[parsed.isna()]
        if pd.api.types.is_bool_dtype(labels.dtype) or not text.empty:
            example = labels.iloc[0] if text.empty else text.iloc[0]
            problems.append(
                data_problem(
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
            data_problem(ProblemCode.NO_FEATURES,
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
            data_problem(
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
    """The schema, after the pre-flight's data checks (`training.data.checks.check_frame`).

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
    """``python3 -m training.data.checks --data PATH --target COLUMN --problem-type TYPE``:
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
