"""Honest retraining: which data made a model, a tie is not a win, a test split too small to
decide on fails the gate. Real preprocess -> train -> evaluate runs on shipped datasets."""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import joblib
import numpy as np
import pytest

from tests.training.conftest import REGRESSION_TARGET, diabetes, run_pipeline
from training import plots
from training.contract import (
    CHAMPION_GAP,
    DATA_DIGEST,
    DATA_UNCHANGED,
    MIN_TEST_ROWS,
    MIN_TEST_ROWS_PER_CLASS,
    TEST_ROWS,
    TEST_SPLIT_NOTE,
    TEST_SPLIT_SUFFICIENT,
    ProblemType,
    comparison_verdict,
    gate_gap,
)
from training.data.schema import load_schema, read_csv_folder
from training.evaluate import evaluate
from training.lineage import (
    fingerprint_files,
    same_data,
)


@pytest.fixture
def no_plots(monkeypatch):
    """Plots cost seconds each and are tested elsewhere."""
    monkeypatch.setattr(plots, "available", lambda: False)


# -- the fingerprint ---------------------------------------------------------------------


def test_the_fingerprint_is_the_bytes_not_the_names_or_order(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("x,y\n1,2\n")
    second.write_text("x,y\n3,4\n")
    renamed = tmp_path / "copy" / "z.csv"
    renamed.parent.mkdir()
    shutil.copy(first, renamed)

    fingerprint = fingerprint_files([first, second])
    assert fingerprint == fingerprint_files([second, renamed])  # same bytes, new name
    assert fingerprint["files"] == 2 and fingerprint["bytes"] == 16
    second.write_text("x,y\n3,5\n")  # one byte changed
    assert fingerprint_files([first, second])["digest"] != fingerprint["digest"]


def test_only_complete_equal_fingerprints_prove_the_same_data(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("x\n1\n")
    complete, shard = fingerprint_files([path]), fingerprint_files([path], complete=False)
    assert same_data(complete, dict(complete))
    assert not same_data(shard, shard)  # one host's shard says nothing of the others
    assert not same_data(None, None) and not same_data(complete, None)


def test_the_model_says_which_files_it_was_trained_on(classification_run):
    files = sorted(classification_run.data.rglob("*.csv"))
    schema = load_schema(classification_run.model_dir / "schema.json")
    assert schema.training_data == fingerprint_files(files)
    assert len(files) == 3  # three shards, one in a nested folder: all of them count


# -- a tie is not a win -----------------------------------------------------------------


def test_a_tie_matches_and_never_beats():
    assert comparison_verdict(gate_gap("r2", 0.5, 0.5)) == "matches"
    assert comparison_verdict(gate_gap("rmse", 3.0, 3.0)) == "matches"
    assert gate_gap("balanced_accuracy", 0.9 + 1e-12, 0.9) == 0.0  # float noise is a tie
    assert comparison_verdict(gate_gap("balanced_accuracy", 0.91, 0.9)) == "beats"
    assert comparison_verdict(gate_gap("rmse", 3.1, 3.0)) == "trails"


def evaluate_quietly(*args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return evaluate.evaluate(*args, **kwargs)


def test_a_retrain_on_the_champions_data_is_measured_as_unchanged(classification_run,
                                                                  tmp_path, no_plots):
    model = joblib.load(classification_run.model_dir / "model.joblib")
    schema = load_schema(classification_run.model_dir / "schema.json")
    test = read_csv_folder(classification_run.processed / "test")

    gate = evaluate_quietly(model, schema, test, tmp_path, champion=(model, schema))["gate"]
    assert gate[CHAMPION_GAP] == 0.0 and gate[DATA_UNCHANGED] == 1
    assert gate[DATA_DIGEST] == schema.training_data["digest"]

    # a champion of other data (or one that predates fingerprints) is not "unchanged"
    other = load_schema(classification_run.model_dir / "schema.json")
    other = type(other).from_dict({**other.to_dict(), "training_data": {
        **schema.training_data, "digest": "sha256:" + "0" * 64}})
    gate = evaluate_quietly(model, schema, test, tmp_path, champion=(model, other))["gate"]
    assert gate[DATA_UNCHANGED] == 0
    legacy = type(other).from_dict({k: v for k, v in schema.to_dict().items()
                                    if k != "training_data"})
    gate = evaluate_quietly(model, schema, test, tmp_path, champion=(model, legacy))["gate"]
    assert gate[DATA_UNCHANGED] == 0 and gate["champion_data_digest"] == "unknown"
    # no champion: nothing to be unchanged from
    assert evaluate_quietly(model, schema, test, tmp_path)["gate"][DATA_UNCHANGED] == 0


# -- a test split too small to decide ---------------------------------------------------


def test_every_class_needs_its_minimum_of_test_rows():
    labels = np.array([0] * 20 + [1] * (MIN_TEST_ROWS_PER_CLASS - 1))
    check = evaluate.test_split_check(ProblemType.CLASSIFICATION, labels, [0, 1])
    assert check[TEST_SPLIT_SUFFICIENT] == 0 and check[TEST_ROWS] == len(labels)
    note = check[TEST_SPLIT_NOTE]
    assert f"it has {len(labels)} rows (1: {MIN_TEST_ROWS_PER_CLASS - 1})" in note
    assert f"the minimum is {MIN_TEST_ROWS_PER_CLASS} rows of every class" in note
    assert "add labelled rows" in note
    enough = np.array([0] * 20 + [1] * MIN_TEST_ROWS_PER_CLASS)
    assert evaluate.test_split_check(ProblemType.CLASSIFICATION, enough, [0, 1]) == {
        TEST_ROWS: len(enough), TEST_SPLIT_SUFFICIENT: 1}
    # a class the model knows but the split lacks counts as zero rows
    assert evaluate.test_split_check(ProblemType.CLASSIFICATION, enough, [0, 1, 2])[
        TEST_SPLIT_SUFFICIENT] == 0


def test_regression_needs_its_minimum_of_test_rows():
    short = evaluate.test_split_check(ProblemType.REGRESSION, np.arange(MIN_TEST_ROWS - 1.0),
                                      None)
    assert short[TEST_SPLIT_SUFFICIENT] == 0
    assert (f"it has {MIN_TEST_ROWS - 1} rows; the minimum is {MIN_TEST_ROWS} for regression"
            in short[TEST_SPLIT_NOTE])
    assert evaluate.test_split_check(ProblemType.REGRESSION, np.arange(MIN_TEST_ROWS * 1.0),
                                     None)[TEST_SPLIT_SUFFICIENT] == 1


def test_a_30_row_table_gets_a_split_too_small_to_decide(tmp_path, no_plots):
    """The real jobs on 30 rows: 15% is a test split of a handful of rows (each row is hashed
    to its split, so about 5), and the gate is told so."""
    small = diabetes().sample(30, random_state=0).reset_index(drop=True)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        run = run_pipeline(tmp_path, small, REGRESSION_TARGET, "regression")
    gate = json.loads((run.evaluation / "evaluation.json").read_text())["gate"]
    test_rows = len(read_csv_folder(run.processed / "test"))
    assert 0 < test_rows < MIN_TEST_ROWS
    assert gate[TEST_ROWS] == test_rows and gate[TEST_SPLIT_SUFFICIENT] == 0
    assert f"too small to decide: it has {test_rows} rows" in gate[TEST_SPLIT_NOTE]


def test_the_shipped_datasets_are_large_enough_to_decide(classification_run, regression_run):
    for run in (classification_run, regression_run):
        gate = json.loads((run.evaluation / "evaluation.json").read_text())["gate"]
        assert gate[TEST_SPLIT_SUFFICIENT] == 1, (run.target, gate)
    assert regression_run.target == REGRESSION_TARGET
