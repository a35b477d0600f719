"""Serving tests: model_fn / input_fn / predict_fn / output_fn against a trained model."""

from __future__ import annotations

import csv
import io
import json

import joblib
import numpy as np
import pandas as pd
import pytest

from training import inference
from training.data import coerce_features, load_schema, read_csv_folder


@pytest.fixture(scope="module")
def served(classification_run):
    return inference.model_fn(str(classification_run.model_dir))


@pytest.fixture(scope="module")
def test_rows(classification_run) -> pd.DataFrame:
    return read_csv_folder(classification_run.processed / "test").head(8)


@pytest.fixture(scope="module")
def expected(classification_run, test_rows) -> np.ndarray:
    """Probabilities computed straight from the pickled pipeline, without the serving code."""
    model = joblib.load(classification_run.model_dir / "model.joblib")
    schema = load_schema(classification_run.model_dir / "schema.json")
    return model.predict_proba(coerce_features(test_rows, schema.features))


def serve(served, body, content_type, accept="application/json"):
    return inference.output_fn(
        inference.predict_fn(inference.input_fn(body, content_type), served), accept
    )


def test_csv_without_header_uses_the_training_feature_order(served, test_rows, expected):
    body = test_rows[served.schema.feature_names].to_csv(index=False, header=False)
    response = json.loads(serve(served, body, "text/csv"))
    np.testing.assert_allclose(response["probabilities"], expected)
    assert response["predictions"] == [int(p) for p in expected.argmax(axis=1)]
    assert response["classes"] == [0, 1]


def test_csv_with_header_may_reorder_columns_and_carry_the_target(served, test_rows, expected):
    shuffled = test_rows[list(reversed(test_rows.columns))]
    body = shuffled.to_csv(index=False).encode("utf-8")
    response = json.loads(serve(served, body, "text/csv; charset=utf-8"))
    np.testing.assert_allclose(response["probabilities"], expected)


@pytest.mark.parametrize("shape", ["records", "instances", "single"])
def test_json_requests(served, test_rows, expected, shape):
    records = json.loads(test_rows.drop(columns=served.schema.target).to_json(orient="records"))
    payload = {"records": records, "instances": {"instances": records}, "single": records[0]}[shape]
    response = json.loads(serve(served, json.dumps(payload), "application/json"))
    count = 1 if shape == "single" else len(records)
    np.testing.assert_allclose(response["probabilities"], expected[:count])


def test_csv_response_has_one_line_per_row_with_prediction_then_probabilities(
    served, test_rows, expected
):
    body = test_rows[served.schema.feature_names].to_csv(index=False, header=False)
    lines = list(csv.reader(io.StringIO(serve(served, body, "text/csv", accept="text/csv"))))
    assert len(lines) == len(test_rows)
    assert [int(line[0]) for line in lines] == list(expected.argmax(axis=1))
    np.testing.assert_allclose([[float(v) for v in line[1:]] for line in lines], expected)


def test_regression_responses_carry_predictions_only(regression_run):
    served = inference.model_fn(str(regression_run.model_dir))
    rows = read_csv_folder(regression_run.processed / "test").head(3)
    response = json.loads(serve(served, rows.to_csv(index=False), "text/csv"))
    assert set(response) == {"predictions"}
    model = joblib.load(regression_run.model_dir / "model.joblib")
    direct = model.predict(coerce_features(rows, served.schema.features))
    np.testing.assert_allclose(response["predictions"], direct)


def test_csv_with_the_wrong_number_of_values_says_how_many_are_needed(served):
    with pytest.raises(ValueError, match="need 31 values"):
        serve(served, "1,2,3\n", "text/csv")


def test_json_missing_a_feature_names_it(served, test_rows):
    record = json.loads(test_rows.drop(columns=["worst area"]).head(1).to_json(orient="records"))
    with pytest.raises(ValueError, match=r"missing feature column\(s\) \['worst area'\]"):
        serve(served, json.dumps(record), "application/json")


def test_unsupported_media_types_are_refused(served):
    with pytest.raises(ValueError, match="unsupported content type 'application/x-npy'"):
        inference.input_fn(b"\x93NUMPY", "application/x-npy")
    with pytest.raises(ValueError, match="unsupported accept type 'application/xml'"):
        inference.output_fn({"predictions": [1]}, "application/xml")
