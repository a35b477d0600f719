"""Data tests: the schema contract (SchemaError names the culprit), leakage, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from training.contract import SPLITS
from training.data import preprocess
from training.data.problems import SchemaError
from training.data.schema import read_csv_folder

TARGET = "diagnosis_benign"


def run(
    data_dir: Path,
    output_dir: Path,
    *extra: str,
    target: str = TARGET,
    problem_type: str = "classification",
) -> dict:
    return preprocess.main(
        [
            "--data-dir",
            str(data_dir),
            "--output-dir",
            str(output_dir),
            "--target",
            target,
            "--problem-type",
            problem_type,
            *extra,
        ]
    )


def read_splits(output_dir: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(output_dir / name / f"{name}.csv") for name in SPLITS}


# --- schema errors ---------------------------------------------------------------------------


def test_schema_error_is_a_value_error():
    assert issubclass(SchemaError, ValueError)


def test_empty_folder_is_rejected(tmp_path):
    (tmp_path / "data").mkdir()
    with pytest.raises(SchemaError, match=r"no data: no \*\.csv files"):
        run(tmp_path / "data", tmp_path / "out")


def test_header_only_csv_is_rejected(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "part.csv").write_text(f"mean radius,{TARGET}\n")
    with pytest.raises(SchemaError, match="header but no rows"):
        run(tmp_path / "data", tmp_path / "out")


def test_zero_byte_file_is_named(tmp_path, cancer_frame, shards):
    data = shards(cancer_frame, tmp_path / "data")
    (data / "part-zz-empty.csv").write_text("")
    with pytest.raises(SchemaError, match="file 'part-zz-empty.csv' is empty"):
        run(data, tmp_path / "out")


def test_missing_target_is_named(tmp_path, cancer_frame, shards):
    data = shards(cancer_frame, tmp_path / "data")
    with pytest.raises(SchemaError, match="target column 'outcome' not found"):
        run(data, tmp_path / "out", target="outcome")


def test_target_with_only_missing_values_is_named(tmp_path, cancer_frame, shards):
    cancer_frame[TARGET] = np.nan
    data = shards(cancer_frame, tmp_path / "data")
    with pytest.raises(SchemaError, match=f"target column '{TARGET}' has no values"):
        run(data, tmp_path / "out")


def test_single_class_target_is_rejected(tmp_path, cancer_frame, shards):
    data = shards(cancer_frame[cancer_frame[TARGET] == 1], tmp_path / "data")
    single = f"'{TARGET}' has the single value '1'; classification needs at least two"
    with pytest.raises(SchemaError, match=single):
        run(data, tmp_path / "out")


def test_regression_target_must_be_numeric(tmp_path, diabetes_frame, shards):
    data = shards(diabetes_frame, tmp_path / "data")
    with pytest.raises(SchemaError, match="'sex' must be numeric"):
        run(data, tmp_path / "out", target="sex", problem_type="regression")


def test_column_mixing_numbers_and_text_is_named(tmp_path, cancer_frame, shards):
    cancer_frame["mean area"] = cancer_frame["mean area"].astype(object)
    cancer_frame.loc[cancer_frame.index[5:9], "mean area"] = "not measured"
    data = shards(cancer_frame, tmp_path / "data")
    with pytest.raises(SchemaError, match="column 'mean area' mixes numbers and text"):
        run(data, tmp_path / "out")


def test_column_without_any_value_is_named(tmp_path, cancer_frame, shards):
    cancer_frame["notes"] = np.nan
    data = shards(cancer_frame, tmp_path / "data")
    with pytest.raises(SchemaError, match="column 'notes' has no values"):
        run(data, tmp_path / "out")


def test_shard_with_an_extra_column_is_named(tmp_path, cancer_frame, shards):
    data = shards(cancer_frame, tmp_path / "data")
    late = data / "part-001.csv"
    frame = pd.read_csv(late)
    frame["leaked_label"] = frame[TARGET]
    frame.to_csv(late, index=False)
    with pytest.raises(
        SchemaError, match=r"file 'part-001.csv' has extra column\(s\) \['leaked_label'\]"
    ):
        run(data, tmp_path / "out")


def test_shard_missing_a_column_is_named(tmp_path, cancer_frame, shards):
    data = shards(cancer_frame, tmp_path / "data")
    late = data / "part-001.csv"
    pd.read_csv(late).drop(columns=["worst area"]).to_csv(late, index=False)
    with pytest.raises(
        SchemaError, match=r"part-001.csv' has missing column\(s\) \['worst area'\]"
    ):
        run(data, tmp_path / "out")


def test_every_problem_is_reported_at_once(tmp_path, cancer_frame, shards):
    cancer_frame["mean area"] = cancer_frame["mean area"].astype(object)
    cancer_frame.loc[cancer_frame.index[0], "mean area"] = "?"
    cancer_frame["notes"] = np.nan
    data = shards(cancer_frame, tmp_path / "data")
    with pytest.raises(SchemaError) as caught:
        run(data, tmp_path / "out", target="outcome")
    message = str(caught.value)
    assert len(caught.value.problems) == 3
    for column in ("'outcome'", "'mean area'", "'notes'"):
        assert column in message


# --- --schema ----------------------------------------------------------------------------------


def schema_file(tmp_path: Path, frame: pd.DataFrame, **overrides: dict) -> Path:
    features = []
    for name in frame.columns.drop(TARGET):
        kind = "numeric" if pd.api.types.is_numeric_dtype(frame[name]) else "categorical"
        features.append({"name": name, "type": kind, "nullable": True, **overrides.get(name, {})})
    path = tmp_path / "schema.json"
    path.write_text(json.dumps({"features": features}))
    return path


def test_schema_file_that_matches_is_accepted(tmp_path, cancer_frame, shards):
    data = shards(cancer_frame, tmp_path / "data")
    counts = run(data, tmp_path / "out", "--schema", str(schema_file(tmp_path, cancer_frame)))
    assert counts["rows_after_cleaning"] == len(cancer_frame)


def test_schema_file_unsupported_type_is_named(tmp_path, cancer_frame, shards):
    data = shards(cancer_frame, tmp_path / "data")
    schema = schema_file(tmp_path, cancer_frame, **{"mean radius": {"type": "datetime"}})
    with pytest.raises(SchemaError, match="column 'mean radius' has unsupported type 'datetime'"):
        run(data, tmp_path / "out", "--schema", str(schema))


def test_schema_file_declared_column_missing_from_data_is_named(tmp_path, cancer_frame, shards):
    schema = schema_file(tmp_path, cancer_frame)
    data = shards(cancer_frame.drop(columns=["worst symmetry"]), tmp_path / "data")
    with pytest.raises(
        SchemaError, match=r"\['worst symmetry'\] declared in the schema are missing"
    ):
        run(data, tmp_path / "out", "--schema", str(schema))


def test_schema_file_undeclared_column_is_named(tmp_path, cancer_frame, shards):
    schema = schema_file(tmp_path, cancer_frame)
    cancer_frame["patient_id"] = range(len(cancer_frame))
    data = shards(cancer_frame, tmp_path / "data")
    with pytest.raises(
        SchemaError, match=r"\['patient_id'\] are in the data but not in the schema"
    ):
        run(data, tmp_path / "out", "--schema", str(schema))


def test_schema_file_numeric_column_with_text_is_named(tmp_path, cancer_frame, shards):
    schema = schema_file(tmp_path, cancer_frame, size_band={"type": "numeric"})
    data = shards(cancer_frame, tmp_path / "data")
    with pytest.raises(SchemaError, match="column 'size_band' must be numeric"):
        run(data, tmp_path / "out", "--schema", str(schema))


def test_schema_file_non_nullable_column_with_gaps_is_named(tmp_path, cancer_frame, shards):
    schema = schema_file(tmp_path, cancer_frame, **{"mean texture": {"nullable": False}})
    data = shards(cancer_frame, tmp_path / "data")
    with pytest.raises(
        SchemaError, match="column 'mean texture' is not nullable but has 57 missing"
    ):
        run(data, tmp_path / "out", "--schema", str(schema))


def test_schema_file_can_keep_numeric_looking_codes_as_categories(tmp_path, cancer_frame, shards):
    cancer_frame["clinic"] = np.where(cancer_frame.index % 2 == 0, "007", "012")
    schema = schema_file(tmp_path, cancer_frame, clinic={"type": "categorical"})
    data = shards(cancer_frame, tmp_path / "data")
    run(data, tmp_path / "out", "--schema", str(schema))
    train = read_csv_folder(tmp_path / "out" / "train")
    assert set(train["clinic"]) == {"007", "012"}


# --- cleaning and splitting ---------------------------------------------------------------------


@pytest.fixture
def dirty_cancer(cancer_frame: pd.DataFrame) -> pd.DataFrame:
    """The data with 25 exact duplicate rows and 6 rows without a label appended."""
    duplicates = cancer_frame.sample(25, random_state=1)
    unlabelled = cancer_frame.sample(6, random_state=2).assign(**{TARGET: np.nan})
    unlabelled["mean radius"] += 1000  # distinct rows: only the missing label should drop them
    return pd.concat([cancer_frame, duplicates, unlabelled], ignore_index=True)


def test_splits_are_disjoint_and_keep_every_labelled_row(tmp_path, dirty_cancer, shards):
    # Duplicates stay, every copy in one split; rows without a label go.
    counts = run(shards(dirty_cancer, tmp_path / "data"), tmp_path / "out")
    splits = read_splits(tmp_path / "out")
    rows = {name: set(frame.drop(columns=TARGET).itertuples(index=False, name=None))
            for name, frame in splits.items()}
    assert not rows["train"] & rows["validation"]
    assert not rows["train"] & rows["test"]
    assert not rows["validation"] & rows["test"]
    expected = len(dirty_cancer.dropna(subset=[TARGET]))
    assert sum(len(frame) for frame in splits.values()) == expected == counts["rows_after_cleaning"]
    assert all(frame[TARGET].notna().all() for frame in splits.values())
    assert counts["rows_dropped_missing_target"] == 6


def test_split_sizes_follow_the_fractions(tmp_path, cancer_frame, shards):
    run(
        shards(cancer_frame, tmp_path / "data"),
        tmp_path / "out",
        "--validation-fraction",
        "0.2",
        "--test-fraction",
        "0.1",
    )
    sizes = {name: len(frame) for name, frame in read_splits(tmp_path / "out").items()}
    total = sum(sizes.values())
    # Each row is placed by its own hash: sizes are binomial draws (3 standard errors here;
    # test_splits.py checks 20,000 rows closely).
    for name, share in (("test", 0.1), ("validation", 0.2)):
        assert abs(sizes[name] - share * total) <= 3 * (total * share * (1 - share)) ** 0.5


def test_classification_splits_keep_the_class_share(classification_run):
    # Not stratified (a hash of each row): a split's share is within 3 standard errors.
    splits = read_splits(classification_run.processed)
    overall = pd.concat(splits.values())[classification_run.target].mean()
    for frame in splits.values():
        tolerance = 3 * (overall * (1 - overall) / len(frame)) ** 0.5
        assert frame[classification_run.target].mean() == pytest.approx(overall, abs=tolerance)


def test_every_split_has_the_input_column_order(classification_run):
    expected = list(pd.read_csv(next(classification_run.data.rglob("*.csv")), nrows=0).columns)
    for frame in read_splits(classification_run.processed).values():
        assert list(frame.columns) == expected


def test_same_seed_writes_identical_files_and_another_seed_does_not(tmp_path, cancer_frame, shards):
    data = shards(cancer_frame, tmp_path / "data")
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        run(data, tmp_path / name, "--seed", seed)
    files = [f"{s}/{s}.csv" for s in SPLITS] + ["transform/schema.json"]
    for file in files:
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file
    assert (tmp_path / "a/test/test.csv").read_bytes() != (
        tmp_path / "c/test/test.csv"
    ).read_bytes()


def test_invalid_fractions_are_rejected(tmp_path, cancer_frame, shards):
    data = shards(cancer_frame, tmp_path / "data")
    with pytest.raises(ValueError, match="must be below 1"):
        run(data, tmp_path / "out", "--validation-fraction", "0.5", "--test-fraction", "0.5")
    with pytest.raises(ValueError, match=r"test_fraction must be between 0 and 1 \(got 0.0\)"):
        run(data, tmp_path / "out", "--test-fraction", "0")


# --- the fitted transformer ---------------------------------------------------------------------


def test_transformer_is_fitted_on_the_train_split_only(classification_run):
    splits = read_splits(classification_run.processed)
    transformer = joblib.load(classification_run.processed / "transform" / "preprocessor.joblib")
    numeric = transformer.named_transformers_["numeric"]
    columns = list(transformer.transformers_[0][2])
    column = columns.index("mean texture")
    train_median = splits["train"]["mean texture"].median()
    overall_median = pd.concat(splits.values())["mean texture"].median()
    assert train_median != overall_median  # the check below can tell the two apart
    assert numeric.named_steps["impute"].statistics_[column] == pytest.approx(train_median)
    scaler_means = numeric.named_steps["scale"].mean_
    assert scaler_means[columns.index("mean radius")] == pytest.approx(
        splits["train"]["mean radius"].mean()
    )


def test_transformer_one_hot_encodes_the_categorical_column(classification_run):
    transformer = joblib.load(classification_run.processed / "transform" / "preprocessor.joblib")
    encoder = transformer.named_transformers_["onehot"].named_steps["encode"]
    assert [set(c) for c in encoder.categories_] == [{"small", "medium", "large"}]
    assert encoder.handle_unknown == "ignore"


def test_schema_json_describes_features_target_and_classes(classification_run):
    schema = json.loads((classification_run.processed / "transform" / "schema.json").read_text())
    types = {f["name"]: f["type"] for f in schema["features"]}
    assert types.pop("size_band") == "categorical"
    assert set(types.values()) == {"numeric"} and len(types) == 30
    assert schema["target"] == classification_run.target
    assert schema["problem_type"] == "classification"
    assert schema["class_labels"] == [0, 1]
    nullable = {f["name"] for f in schema["features"] if f["nullable"]}
    assert nullable == {"mean texture"}


def test_regression_schema_has_no_class_labels(regression_run):
    schema = json.loads((regression_run.processed / "transform" / "schema.json").read_text())
    assert schema["class_labels"] is None
    assert {f["name"]: f["type"] for f in schema["features"]}["sex"] == "categorical"
