"""Data code: reading CSV folders, typing columns, schemas from schema.json or constraints.json."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.contract import FeatureType
from training.data.problems import SchemaError
from training.data.schema import (
    Feature,
    coerce_features,
    features_from_json,
    infer_feature_type,
    read_csv_folder,
)


def test_read_csv_folder_reads_every_shard_recursively_in_path_order(
    tmp_path, cancer_frame, shards
):
    shards(cancer_frame, tmp_path, shards=3)  # part-000, part-001, nested/part-002
    data = read_csv_folder(tmp_path)
    assert len(data) == len(cancer_frame)
    last_shard_first_row = cancer_frame.iloc[len(cancer_frame) - len(cancer_frame) // 3]
    assert float(data.iloc[0]["mean radius"]) == last_shard_first_row["mean radius"]
    assert list(data.columns) == list(cancer_frame.columns)


def test_read_csv_folder_keeps_text_as_written(tmp_path):
    (tmp_path / "a.csv").write_text("code,value\n007,1.50\n,2\n")
    data = read_csv_folder(tmp_path)
    assert data["code"].iloc[0] == "007"
    assert pd.isna(data["code"].iloc[1])


def test_read_csv_folder_ignores_files_that_are_not_csv(tmp_path):
    (tmp_path / "a.csv").write_text("x,y\n1,2\n")
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / "notes.txt").write_text("x,z\n")
    assert read_csv_folder(tmp_path).shape == (1, 2)


def test_reading_a_missing_folder_is_a_schema_error(tmp_path):
    with pytest.raises(SchemaError, match="is not a directory"):
        read_csv_folder(tmp_path / "absent")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "2.5", None, "-3e2"], FeatureType.NUMERIC),
        (["red", "blue", None], FeatureType.CATEGORICAL),
        ([1.0, np.nan, 3.0], FeatureType.NUMERIC),
        ([True, False], FeatureType.CATEGORICAL),
    ],
)
def test_infer_feature_type(values, expected):
    assert infer_feature_type("x", pd.Series(values)) is expected


def test_infer_feature_type_rejects_datetimes_by_name():
    with pytest.raises(SchemaError, match="column 'when' has unsupported type datetime64"):
        infer_feature_type("when", pd.Series(pd.to_datetime(["2024-01-01", "2024-02-01"])))


def test_coerce_features_types_columns_and_orders_them():
    data = pd.DataFrame({"colour": [3, None], "size": ["1.5", "2"], "extra": ["a", "b"]})
    features = [Feature("size", FeatureType.NUMERIC), Feature("colour", FeatureType.CATEGORICAL)]
    typed = coerce_features(data, features)
    assert list(typed.columns) == ["size", "colour"]
    assert typed["size"].tolist() == [1.5, 2.0]
    assert typed["colour"].iloc[0] == "3.0" and pd.isna(typed["colour"].iloc[1])


def test_coerce_features_names_bad_numeric_values():
    with pytest.raises(SchemaError, match="column 'size' must be numeric \\(got 'big'\\)"):
        coerce_features(
            pd.DataFrame({"size": ["1", "big"]}), [Feature("size", FeatureType.NUMERIC)]
        )



# --- schemas from files ---------------------------------------------------------------------------


def test_features_from_a_schema_json():
    features = features_from_json(
        {"features": [{"name": "a", "type": "numeric", "nullable": False}, {"name": "b",
                                                                          "type": "categorical"}]}
    )
    assert features == (
        Feature("a", FeatureType.NUMERIC, False),
        Feature("b", FeatureType.CATEGORICAL, True),
    )


def test_features_from_a_model_monitor_constraints_json():
    features = features_from_json(
        {
            "version": 0.0,
            "features": [
                {"name": "age", "inferred_type": "Integral", "completeness": 1.0},
                {"name": "bmi", "inferred_type": "Fractional", "completeness": 0.9},
                {"name": "sex", "inferred_type": "String", "completeness": 1.0},
            ],
        }
    )
    assert features == (
        Feature("age", FeatureType.NUMERIC, False),
        Feature("bmi", FeatureType.NUMERIC, True),
        Feature("sex", FeatureType.CATEGORICAL, False),
    )


def test_an_unknown_inferred_type_is_named_with_the_allowed_ones():
    with pytest.raises(SchemaError, match=r"column 'x' has unsupported type 'Unknown' \(allowed: "
                       r"numeric, categorical, Integral, Fractional, String\)"):
        features_from_json({"features": [{"name": "x", "inferred_type": "Unknown"}]})
