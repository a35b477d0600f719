"""The handler's contract with the image's serving stack, on real models (in-process)."""

from __future__ import annotations

import csv
import io
import json

import joblib
import numpy as np
import pytest

from training.data.schema import coerce_features, load_schema
from training.serve import inference


@pytest.fixture(scope="module")
def served(classifier):
    return inference.model_fn(str(classifier.model_dir))


@pytest.fixture(scope="module")
def rows(classifier):
    return classifier.frame.head(8)


@pytest.fixture(scope="module")
def expected(classifier, rows):
    """Probabilities straight from the pickled pipeline, without the serving code."""
    model = joblib.load(classifier.model_dir / "model.joblib")
    schema = load_schema(classifier.model_dir / "schema.json")
    return model.predict_proba(coerce_features(rows, schema.features))


def call(served, body, content_type, accept="application/json"):
    return inference.output_fn(
        inference.predict_fn(inference.input_fn(body, content_type), served), accept)


def ok_json(reply):
    assert (reply.status, reply.content_type) == (200, "application/json"), reply.body
    return json.loads(reply.body)


def error_of(reply, status):
    assert reply.status == status, reply.body
    assert reply.content_type == "application/json"
    assert reply.body.count(b"\n") == 1  # one line, no trace
    return json.loads(reply.body)["error"]


def test_reply_is_a_wsgi_app_that_sets_status_and_content_type(served, rows):
    reply = call(served, "1,2\n", "text/csv")
    seen = {}
    body = reply({}, lambda status, headers: seen.update(status=status, headers=dict(headers)))
    assert seen["status"] == "400 Bad Request"
    assert seen["headers"]["Content-Type"] == "application/json"
    assert int(seen["headers"]["Content-Length"]) == len(b"".join(body))


def test_flask_sends_the_reply_with_its_status_and_type(served):
    flask = pytest.importorskip("flask")  # the image's Flask (3.1.3) turns WSGI apps into replies
    app = flask.Flask("t")
    app.add_url_rule("/invocations", "i", methods=["POST"], view_func=lambda: call(
        served, flask.request.get_data(as_text=True), flask.request.content_type,
        flask.request.headers.get("Accept")))
    response = app.test_client().post("/invocations", data="1,2\n",
                                      headers={"Content-Type": "text/csv"})
    assert response.status_code == 400 and response.mimetype == "application/json"
    assert "need 31 values" in response.get_json()["error"]


def test_csv_without_header_is_the_features_in_schema_order(served, rows, expected):
    body = rows[served.schema.feature_names].to_csv(index=False, header=False)
    response = ok_json(call(served, body, "text/csv"))
    np.testing.assert_allclose(response["probabilities"], expected)
    assert response["predictions"] == expected.argmax(axis=1).tolist()
    assert response["classes"] == [0, 1]


def test_csv_header_may_reorder_columns_and_carry_the_target(served, rows, expected):
    body = rows[list(reversed(rows.columns))].to_csv(index=False).encode("utf-8")
    response = ok_json(call(served, body, "text/csv; charset=utf-8"))
    np.testing.assert_allclose(response["probabilities"], expected)


@pytest.mark.parametrize("shape", ["records", "single", "columns", "instances", "rows"])
def test_json_shapes(served, rows, expected, shape):
    features = rows[served.schema.feature_names]
    records = json.loads(features.to_json(orient="records"))
    payload = {
        "records": records,
        "single": records[0],
        "columns": {name: list(values.values())
                    for name, values in json.loads(features.to_json(orient="columns")).items()},
        "instances": {"instances": records},
        "rows": {"instances": json.loads(features.to_json(orient="values"))},
    }[shape]
    response = ok_json(call(served, json.dumps(payload), "application/json"))
    count = 1 if shape == "single" else len(rows)
    np.testing.assert_allclose(response["probabilities"], expected[:count])


def test_csv_response_is_prediction_then_probabilities(served, rows, expected):
    body = rows[served.schema.feature_names].to_csv(index=False, header=False)
    reply = call(served, body, "text/csv", accept="text/csv")
    assert (reply.status, reply.content_type) == (200, "text/csv")
    lines = list(csv.reader(io.StringIO(reply.body.decode())))
    assert [int(line[0]) for line in lines] == expected.argmax(axis=1).tolist()
    np.testing.assert_allclose([[float(v) for v in line[1:]] for line in lines], expected)


@pytest.mark.parametrize("accept", [None, "", "*/*", "application/json; q=1",
                                    "application/xml, application/json"])
def test_json_is_the_default_and_the_first_supported_accept_wins(served, rows, accept):
    body = rows[served.schema.feature_names].head(1).to_csv(index=False, header=False)
    assert ok_json(call(served, body, "text/csv", accept))["predictions"]


def test_regression_replies_carry_predictions_only(regressor):
    served = inference.model_fn(str(regressor.model_dir))
    rows = regressor.frame.head(3)
    response = ok_json(call(served, rows.to_csv(index=False), "text/csv"))
    assert set(response) == {"predictions"}
    model = joblib.load(regressor.model_dir / "model.joblib")
    direct = model.predict(coerce_features(rows, served.schema.features))
    np.testing.assert_allclose(response["predictions"], direct)


def test_missing_values_are_allowed_and_imputed(served, rows):
    features = rows[served.schema.feature_names].head(2).copy()
    features.iloc[0, 0] = np.nan
    body = features.to_csv(index=False, header=False)  # NaN -> empty cell
    assert len(ok_json(call(served, body, "text/csv"))["predictions"]) == 2
    record = json.loads(features.to_json(orient="records"))[0]
    assert record["mean radius"] is None
    assert ok_json(call(served, json.dumps(record), "application/json"))["predictions"]


def bad_cases(names):
    good = ",".join(["1"] * len(names))
    return {
        "too few values": ("1,2,3\n", "text/csv", 400, "need 31 values"),
        "ragged rows": (f"{good}\n1,2\n", "text/csv", 400, "CSV row 2 has 2 values"),
        "text in a numeric column": (
            good + "\n" + ",".join(["1", "abc", *["1"] * (len(names) - 2)]) + "\n", "text/csv",
            400, "row 2, column 'mean texture': expected a number, got 'abc'"),
        "infinity": (",".join(["inf", *["1"] * (len(names) - 1)]), "text/csv", 400,
                     "row 1, column 'mean radius'"),
        "boolean in a numeric column": (
            json.dumps({**dict.fromkeys(names, 1), "mean area": True}), "application/json",
            400, "column 'mean area': expected a number, got True"),
        "unknown column": (json.dumps({**dict.fromkeys(names, 1), "zip": 1}),
                           "application/json", 400, "unknown column(s) ['zip']"),
        "missing column": (json.dumps({n: 1 for n in names if n != "worst area"}),
                           "application/json", 400, "missing feature column(s) ['worst area']"),
        "header missing a column": (",".join(names[1:]) + "\n" + ",".join(["1"] * 30),
                                    "text/csv", 400, "missing feature column(s) ['mean radius']"),
        "header only": (",".join(names) + "\n", "text/csv", 400, "header row but no data"),
        "empty body": ("", "text/csv", 400, "empty request body"),
        "blank body": ("  \n", "application/json", 400, "empty request body"),
        "invalid JSON": ("{", "application/json", 400, "not valid JSON"),
        "JSON scalar": ("3", "application/json", 400, "got int"),
        "JSON empty list": ("[]", "application/json", 400, "(empty)"),
        "ragged JSON columns": (json.dumps({"a": [1], "b": [1, 2]}), "application/json", 400,
                                "different lengths"),
        "unsupported content type": ("x", "application/x-npy", 415,
                                     "unsupported content type 'application/x-npy'"),
        "oversized": ("1," * (3 * 1024 * 1024 + 1), "text/csv", 413, "limit is 6291456 bytes"),
        "not UTF-8": (b"\xff\xfe\x00", "text/csv", 400, "not UTF-8"),
    }


@pytest.mark.parametrize("case", list(bad_cases(["x"] * 31)))
def test_bad_payloads_get_a_4xx_naming_the_problem(served, case):
    body, content_type, status, message = bad_cases(served.schema.feature_names)[case]
    assert message in error_of(call(served, body, content_type), status)


def test_unsupported_accept_is_406(served, rows):
    body = rows[served.schema.feature_names].head(1).to_csv(index=False, header=False)
    assert "unsupported accept type 'application/xml'" in error_of(
        call(served, body, "text/csv", accept="application/xml"), 406)


def test_a_failing_model_is_a_one_line_500(served, rows):
    class Broken:
        classes_ = np.array([0, 1])

        def predict_proba(self, features):
            raise RuntimeError("weights corrupted\nsecond line")

    broken = inference.ServedModel(Broken(), served.schema, None, served.numeric,
                                   served.known_columns)
    body = rows[served.schema.feature_names].head(1).to_csv(index=False, header=False)
    message = error_of(call(broken, body, "text/csv"), 500)
    assert message == "prediction failed: RuntimeError: weights corrupted"


def test_capture_records_are_in_sagemaker_format(served, rows, tmp_path):
    capturing = inference.with_capture(served, tmp_path)
    body = rows[served.schema.feature_names].head(2).to_csv(index=False, header=False)
    reply = call(capturing, body, "text/csv")
    call(capturing, "1,2\n", "text/csv")  # a 400 is not captured
    [path] = list(tmp_path.rglob("*.jsonl"))
    assert path.relative_to(tmp_path).parts[:2] == ("endpoint", "AllTraffic")
    [record] = [json.loads(line) for line in path.read_text().splitlines()]
    assert record["eventVersion"] == "0"
    assert set(record["eventMetadata"]) == {"eventId", "inferenceTime"}
    assert record["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv", "mode": "INPUT", "data": body, "encoding": "CSV"}
    assert record["captureData"]["endpointOutput"] == {
        "observedContentType": "application/json", "mode": "OUTPUT",
        "data": reply.body.decode(), "encoding": "JSON"}


def test_capture_sampling_zero_writes_nothing_and_capture_errors_do_not_fail(served, rows,
                                                                           tmp_path):
    body = rows[served.schema.feature_names].head(1).to_csv(index=False, header=False)
    none = inference.with_capture(served, tmp_path / "none", sampling_percent=0)
    assert call(none, body, "text/csv").status == 200
    assert not (tmp_path / "none").exists()
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert call(inference.with_capture(served, blocked), body, "text/csv").status == 200


def test_capture_settings_from_the_environment(tmp_path):
    assert inference.capture_from_env({}) is None
    sink = inference.capture_from_env({"MLOPS_CAPTURE_DIR": str(tmp_path),
                                       "MLOPS_CAPTURE_SAMPLING": "25"})
    assert (sink.directory, sink.sampling_percent) == (tmp_path, 25.0)
    assert inference.capture_from_env({"MLOPS_CAPTURE_S3_URI": "s3://b/p",
                                       "MLOPS_CAPTURE_SAMPLING": "250"}).sampling_percent == 100


def test_features_are_typed_as_in_training(served, rows):
    """float64 numbers and object text (not pandas' inferred str dtype), in schema order."""
    from training.data.schema import coerce_features as reference

    body = rows[served.schema.feature_names].to_csv(index=False, header=False)
    features = inference.request_features(inference.input_fn(body, "text/csv"), served)
    expected = reference(rows, served.schema.features).reset_index(drop=True)
    assert list(features.columns) == served.schema.feature_names
    assert features.dtypes.to_dict() == expected.dtypes.to_dict()
    assert features.equals(expected)
