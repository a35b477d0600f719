"""Data checks: each problem on real data made dirty the way real files are, and its clean twin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from tests.training.dirty_data import REGRESSION_TARGET, TARGET, cancer, diabetes
from training.data.checks import check_data, check_file, check_frame, main, min_rows_per_class
from training.data.files import detect_delimiter, read_data_file
from training.data.problems import (
    DataCheckError,
    ProblemCode,
    SchemaError,
    errors,
    raise_for_errors,
)

C, R = "classification", "regression"


def codes(problems) -> list[str]:
    return [problem.code for problem in problems]


def only(problems, code: ProblemCode):
    found = [p for p in problems if p.code == code.value]
    assert len(found) == 1, problems
    return found[0]


def iris() -> pd.DataFrame:
    frame = load_iris(as_frame=True)
    data = frame.frame.drop(columns="target")
    data["species"] = frame.target_names[frame.target]
    return data


@pytest.fixture
def cancer_csv(tmp_path: Path) -> Path:
    path = tmp_path / "churn.csv"
    cancer().to_csv(path, index=False)
    return path


# --- the file ----------------------------------------------------------------------------------


def test_a_clean_csv_file_has_no_problem(cancer_csv: Path) -> None:
    assert check_file(cancer_csv, TARGET, C) == []


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    problem = only(check_file(tmp_path / "nope.csv", TARGET, C), ProblemCode.FILE_NOT_FOUND)
    assert "nope.csv" in problem.message


def test_latin1_bytes_are_reported_with_their_offset_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    frame = cancer().head(50)
    frame.insert(0, "city", "Zurich")
    frame.loc[7, "city"] = "Zürich"
    frame.to_csv(path, index=False, encoding="latin-1")
    offset = path.read_bytes().index(b"\xfc")
    problem = only(check_file(path, TARGET, C), ProblemCode.ENCODING)
    assert f"byte 0xFC at offset {offset} (line 9)" in problem.message
    assert "latin1.csv" in problem.message and problem.is_error


def test_utf8_with_a_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    frame = cancer()
    frame.insert(0, "city", "Zürich")
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    assert check_file(path, TARGET, C) == []
    assert list(read_data_file(path).columns)[0] == "city"


def test_a_spreadsheet_is_not_csv_text(tmp_path: Path) -> None:
    path = tmp_path / "churn.csv"
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)))
    assert "Excel" in only(check_file(path, TARGET, C), ProblemCode.NOT_TEXT).message


def test_an_empty_file_has_no_header(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("\n", encoding="utf-8")
    only(check_file(path, TARGET, C), ProblemCode.EMPTY_FILE)


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_other_delimiters_are_detected_read_and_noted(tmp_path: Path, delimiter: str) -> None:
    path = tmp_path / "churn.csv"
    cancer().to_csv(path, index=False, sep=delimiter)
    problems = check_file(path, TARGET, C)
    note = only(problems, ProblemCode.DELIMITER)
    assert note.severity == "note" and repr(delimiter) in note.message and not errors(problems)
    assert detect_delimiter(path) == delimiter
    pd.testing.assert_frame_equal(read_data_file(path), read_data_file_comma(cancer(), tmp_path))


def read_data_file_comma(frame: pd.DataFrame, folder: Path) -> pd.DataFrame:
    path = folder / "comma.csv"
    frame.to_csv(path, index=False)
    return read_data_file(path)


def test_a_comma_file_gets_no_delimiter_note_even_with_semicolons_in_text(tmp_path: Path) -> None:
    path = tmp_path / "churn.csv"
    frame = cancer()
    frame.insert(0, "note", np.where(frame.index % 7 == 0, "called; no answer", "ok"))
    frame.to_csv(path, index=False)
    assert check_file(path, TARGET, C) == []
    assert detect_delimiter(path) == ","


def test_decimal_commas_in_a_semicolon_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "churn.csv"
    frame = cancer().head(100)
    frame.to_csv(path, index=False, sep=";", decimal=",")
    problems = check_file(path, TARGET, C)
    problem = [p for p in problems if p.code == ProblemCode.DECIMAL_COMMA.value][0]
    assert "column 'mean radius'" in problem.message and "decimal point" in problem.message


def test_a_row_with_extra_fields_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "churn.csv"
    cancer().head(40).to_csv(path, index=False)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("1,2,3" + ",9" * 40 + "\n")
    assert "line 42" in only(check_file(path, TARGET, C), ProblemCode.MALFORMED_CSV).message


def test_repeated_column_names_in_a_header(tmp_path: Path) -> None:
    path = tmp_path / "churn.csv"
    frame = cancer()
    frame.columns = [*frame.columns[:-2], "mean radius", TARGET]
    frame.to_csv(path, index=False)
    problem = only(check_file(path, TARGET, C), ProblemCode.DUPLICATE_COLUMNS)
    assert "'mean radius'" in problem.message


def test_a_folder_of_files_with_the_same_columns_passes(tmp_path: Path) -> None:
    frame = cancer()
    frame.iloc[:300].to_csv(tmp_path / "a.csv", index=False)
    (tmp_path / "nested").mkdir()
    frame.iloc[300:].to_csv(tmp_path / "nested" / "b.csv", index=False, sep=";")
    problems = check_data(tmp_path, TARGET, C)
    assert codes(problems) == [ProblemCode.DELIMITER.value]


def test_a_folder_file_with_other_columns_is_named(tmp_path: Path) -> None:
    frame = cancer()
    frame.iloc[:300].to_csv(tmp_path / "a.csv", index=False)
    frame.iloc[300:].drop(columns="mean area").to_csv(tmp_path / "b.csv", index=False)
    problem = only(check_data(tmp_path, TARGET, C), ProblemCode.HEADER_MISMATCH)
    assert "b.csv" in problem.message and "mean area" in problem.message


def test_a_folder_without_csv_files(tmp_path: Path) -> None:
    only(check_data(tmp_path, TARGET, C), ProblemCode.FILE_NOT_FOUND)


# --- the content -------------------------------------------------------------------------------


def test_repeated_column_names_in_a_frame() -> None:
    frame = cancer()
    frame.columns = [*frame.columns[:-2], "mean radius", TARGET]
    only(check_frame(frame, TARGET, C), ProblemCode.DUPLICATE_COLUMNS)


def test_a_misspelt_target_gets_the_closest_name(cancer_csv: Path) -> None:
    problem = only(check_file(cancer_csv, "Churned", C), ProblemCode.TARGET_NOT_FOUND)
    assert "did you mean 'churned'?" in problem.message
    typo = only(check_frame(cancer(), "mean radus", C), ProblemCode.TARGET_NOT_FOUND)
    assert "did you mean 'mean radius'?" in typo.message


def test_a_target_nothing_resembles_gets_no_guess() -> None:
    problem = only(check_frame(cancer(), "xyz", C), ProblemCode.TARGET_NOT_FOUND)
    assert "did you mean" not in problem.message


def test_a_single_class_target() -> None:
    frame = cancer()
    frame[TARGET] = 1
    assert "single value" in only(check_frame(frame, TARGET, C),
                                  ProblemCode.CONSTANT_TARGET).message
    assert ProblemCode.CONSTANT_TARGET.value not in codes(check_frame(cancer(), TARGET, C))


def test_an_empty_target() -> None:
    frame = cancer()
    frame[TARGET] = np.nan
    only(check_frame(frame, TARGET, C), ProblemCode.EMPTY_TARGET)


def test_missing_target_values_are_a_counted_warning() -> None:
    frame = cancer()
    frame.loc[frame.index[:17], TARGET] = np.nan
    problems = check_frame(frame, TARGET, C)
    warning = only(problems, ProblemCode.MISSING_TARGET_VALUES)
    assert "17 of 569 rows" in warning.message and warning.severity == "warning"
    assert errors(problems) == []
    raise_for_errors(problems)  # a warning does not stop the run


def test_a_continuous_target_under_classification_suggests_regression() -> None:
    problem = only(check_frame(cancer(), "mean radius", C), ProblemCode.CONTINUOUS_TARGET)
    assert "--problem-type regression" in problem.message
    assert check_frame(iris(), "species", C) == []


def test_an_integer_quantity_under_classification_has_too_many_classes() -> None:
    problem = only(check_frame(diabetes(), REGRESSION_TARGET, C), ProblemCode.TOO_MANY_CLASSES)
    assert "--problem-type regression" in problem.message and "442 labelled rows" in problem.message
    assert check_frame(diabetes(), REGRESSION_TARGET, R) == []


def test_a_class_of_one_row_is_an_error_and_a_small_class_a_warning() -> None:
    frame = iris()
    frame.loc[0, "species"] = "hybrid"
    assert "'hybrid'" in only(check_frame(frame, "species", C), ProblemCode.RARE_CLASS).message
    few = iris().drop(index=range(10, 45))  # setosa keeps 15 rows, then 10
    assert check_frame(few, "species", C) == []
    fewer = iris().drop(index=range(10, 50))
    warning = only(check_frame(fewer, "species", C), ProblemCode.SMALL_CLASS)
    assert "setosa (10 rows)" in warning.message and not warning.is_error


def test_the_minimum_rows_follow_the_split() -> None:
    assert min_rows_per_class() == 14  # 2 rows in each 15% split
    assert min_rows_per_class(0.2, 0.25) == 10
    small = diabetes().head(13)
    assert "at least 14" in only(check_frame(small, REGRESSION_TARGET, R),
                                 ProblemCode.TOO_FEW_ROWS).message
    assert check_frame(diabetes().head(14), REGRESSION_TARGET, R) == []
    balanced = pd.concat([cancer()[cancer()[TARGET] == k].head(13) for k in (0, 1)])
    problems = check_frame(balanced, TARGET, C)
    assert "at least 28" in only(problems, ProblemCode.TOO_FEW_ROWS).message
    more = pd.concat([cancer()[cancer()[TARGET] == k].head(14) for k in (0, 1)])
    assert check_frame(more, TARGET, C) == []


def test_a_text_target_under_regression() -> None:
    problem = only(check_frame(iris(), "species", R), ProblemCode.NON_NUMERIC_TARGET)
    assert "'setosa'" in problem.message


def test_only_a_target_column_has_no_features() -> None:
    only(check_frame(cancer()[[TARGET]], TARGET, C), ProblemCode.NO_FEATURES)


def test_infinite_values_name_the_column_and_row(tmp_path: Path) -> None:
    path = tmp_path / "churn.csv"
    frame = cancer()
    frame["mean area"] = frame["mean area"].astype(object)
    frame.loc[4, "mean area"] = "inf"
    frame.to_csv(path, index=False)
    problem = only(check_file(path, TARGET, C), ProblemCode.INFINITE_VALUES)
    assert "column 'mean area'" in problem.message and "data row 5" in problem.message
    typed = cancer()
    typed.loc[9, "worst area"] = -np.inf
    assert "'worst area'" in only(check_frame(typed, TARGET, C),
                                  ProblemCode.INFINITE_VALUES).message


def test_text_that_says_inf_in_a_text_column_is_a_category() -> None:
    frame = iris()
    frame["grade"] = np.where(frame.index % 2 == 0, "inf", "sup")
    assert check_frame(frame, "species", C) == []


def test_errors_raise_one_schema_error_naming_each() -> None:
    frame = cancer()
    frame.loc[3, "mean area"] = np.inf
    frame.loc[0, TARGET] = 7
    with pytest.raises(DataCheckError) as caught:
        raise_for_errors(check_frame(frame, TARGET, C))
    assert isinstance(caught.value, SchemaError)
    assert len(caught.value.problems) == 2
    assert all("\n" not in message for message in caught.value.problems)


def test_the_command_exits_2_on_an_error_and_0_otherwise(
    cancer_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data", str(cancer_csv), "--target", TARGET, "--problem-type", C]) == 0
    assert capsys.readouterr().err == ""
    assert main(["--data", str(cancer_csv), "--target", "Churned", "--problem-type", C]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: file '{cancer_csv}': target column 'Churned' not found; "
                          "did you mean 'churned'?")
    assert err.endswith("[target_not_found]") and "\n" not in err
