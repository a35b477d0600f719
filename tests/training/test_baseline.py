"""The drift baseline: Model Monitor's statistics.json / constraints.json, written and read."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest

from training.baseline import (
    MONITORING_CONFIG,
    baseline_constraints,
    baseline_statistics,
    equal_width_buckets,
    parse_statistics,
    read_baseline,
    sketch_sample,
)
from training.contract import FeatureType
from training.data.schema import Feature

FIXTURES = Path(__file__).parent / "fixtures" / "model_monitor"
STATISTICS_SCHEMA = json.loads((FIXTURES / "statistics.schema.json").read_text())
CONSTRAINTS_SCHEMA = json.loads((FIXTURES / "constraints.schema.json").read_text())
FIXTURE_FEATURES = (
    Feature("tenure_months", FeatureType.NUMERIC),
    Feature("plan", FeatureType.CATEGORICAL),
)


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def rounded(value):
    """`value` with every float rounded, so documents compare despite float noise."""
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    if isinstance(value, float):
        return round(value, 9)
    return value


def fixture_frame() -> pd.DataFrame:
    """The data the fixture files describe: tenure 1..19 and one gap; 15 monthly, 5 yearly."""
    return pd.DataFrame(
        {
            "tenure_months": [*map(float, range(1, 20)), np.nan],
            "plan": ["monthly"] * 15 + ["yearly"] * 5,
            "churned": [0, 1] * 10,
        }
    )


# --- the published format ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "schema"),
    [("statistics.json", STATISTICS_SCHEMA), ("constraints.json", CONSTRAINTS_SCHEMA)],
)
def test_the_schemas_accept_the_published_structure(name, schema):
    jsonschema.validate(load(FIXTURES / name), schema)


@pytest.mark.parametrize(
    ("mangle", "where"),
    [
        (lambda d: d.pop("dataset"), []),
        (lambda d: d["features"][0]["numerical_statistics"].pop("distribution"), ["features", 0]),
        (lambda d: d["features"][1].update(inferred_type="Text"), ["features", 1]),
        (lambda d: d["features"][1]["string_statistics"]["distribution"]["categorical"][
            "buckets"][0].pop("count"), ["features", 1]),
    ],
)
def test_the_statistics_schema_rejects_a_mangled_file(mangle, where):
    document = load(FIXTURES / "statistics.json")
    mangle(document)
    with pytest.raises(jsonschema.ValidationError) as caught:
        jsonschema.validate(document, STATISTICS_SCHEMA)
    assert list(caught.value.absolute_path)[: len(where)] == where


def test_the_constraints_schema_rejects_an_unknown_drift_method():
    document = load(FIXTURES / "constraints.json")
    document["monitoring_config"]["distribution_constraints"]["categorical_drift_method"] = "KL"
    with pytest.raises(jsonschema.ValidationError, match="'KL' is not one of"):
        jsonschema.validate(document, CONSTRAINTS_SCHEMA)


def test_the_writer_reproduces_the_published_example_from_its_data():
    statistics = baseline_statistics(fixture_frame(), FIXTURE_FEATURES)
    assert rounded(statistics) == rounded(load(FIXTURES / "statistics.json"))
    assert baseline_constraints(statistics) == load(FIXTURES / "constraints.json")


# --- what the profile job writes -----------------------------------------------------------------


@pytest.mark.parametrize("run_name", ["classification_run", "regression_run"])
def test_profile_writes_files_valid_against_the_published_schemas(run_name, request):
    run = request.getfixturevalue(run_name)
    statistics = load(run.baseline / "statistics.json")
    constraints = load(run.baseline / "constraints.json")
    jsonschema.validate(statistics, STATISTICS_SCHEMA)
    jsonschema.validate(constraints, CONSTRAINTS_SCHEMA)
    assert statistics["version"] == constraints["version"] == 0.0
    assert constraints["monitoring_config"] == MONITORING_CONFIG
    for feature in statistics["features"]:
        if "numerical_statistics" in feature:
            assert len(feature["numerical_statistics"]["distribution"]["kll"]["buckets"]) == 10
    names = [f["name"] for f in statistics["features"]]
    assert [f["name"] for f in constraints["features"]] == names
    assert run.target not in names


def test_integral_columns_are_inferred_as_integral(regression_run, diabetes_frame):
    statistics = load(regression_run.baseline / "statistics.json")
    types = {f["name"]: f["inferred_type"] for f in statistics["features"]}
    assert types["sex"] == "String" and types["bmi"] == "Fractional"
    integral = baseline_statistics(pd.DataFrame({"n": [1.0, 2.0, 30.0]}), [Feature(
        "n", FeatureType.NUMERIC)])
    assert integral["features"][0]["inferred_type"] == "Integral"


def test_a_negative_value_breaks_is_non_negative():
    statistics = baseline_statistics(
        pd.DataFrame({"x": [-1.5, 2.0], "y": [0.0, 3.0]}),
        [Feature("x", FeatureType.NUMERIC), Feature("y", FeatureType.NUMERIC)],
    )
    constraints = {f["name"]: f for f in baseline_constraints(statistics)["features"]}
    assert constraints["x"]["num_constraints"] == {"is_non_negative": False}
    assert constraints["y"]["num_constraints"] == {"is_non_negative": True}


def test_domains_are_listed_for_small_cardinality_only():
    many = [f"id-{i:04d}" for i in range(150)]
    statistics = baseline_statistics(
        pd.DataFrame({"id": many, "colour": ["red", "blue"] * 75}),
        [Feature("id", FeatureType.CATEGORICAL), Feature("colour", FeatureType.CATEGORICAL)],
    )
    constraints = {f["name"]: f for f in baseline_constraints(statistics)["features"]}
    assert "string_constraints" not in constraints["id"]
    assert constraints["colour"]["string_constraints"] == {"domains": ["blue", "red"]}


# --- the pieces ----------------------------------------------------------------------------------


def test_equal_width_buckets_count_a_value_on_an_edge_in_the_bucket_below():
    values = [0.0, 0.5, 1.0, 9.99, 10.0, 10.0]
    buckets = equal_width_buckets(values)
    _, edges = np.histogram(values, bins=10)
    counts = np.bincount(np.searchsorted(edges[1:-1], values, side="left"), minlength=10)
    assert [b["count"] for b in buckets] == counts.tolist() == [3, 0, 0, 0, 0, 0, 0, 0, 0, 3]
    assert [b["upper_bound"] for b in buckets] == pytest.approx(edges[1:].tolist())


def test_a_constant_column_has_ten_empty_width_buckets_holding_every_value():
    buckets = equal_width_buckets([4.0, 4.0, 4.0])
    assert len(buckets) == 10
    assert sum(b["count"] for b in buckets) == 3
    assert {(b["lower_bound"], b["upper_bound"]) for b in buckets} == {(4.0, 4.0)}


def test_the_sketch_keeps_every_value_up_to_k_and_k_spread_values_beyond():
    assert sketch_sample([3.0, 1.0, 2.0]) == [1.0, 2.0, 3.0]
    sample = sketch_sample([float(v) for v in range(10_000, 0, -1)], k=2048)
    assert len(sample) == 2048 and sample == sorted(sample)
    assert (sample[0], sample[-1]) == (1.0, 10_000.0)


# --- reading -------------------------------------------------------------------------------------


def test_read_baseline_reads_the_published_example():
    tenure, plan = read_baseline(FIXTURES / "statistics.json")
    assert (tenure.name, tenure.kind, tenure.item_count) == ("tenure_months", "numeric", 20)
    assert len(tenure.edges) == len(tenure.counts) + 1 == 11
    assert tenure.edges[0] == 1.0 and tenure.edges[-1] == 19.0
    assert sum(tenure.counts) == tenure.num_present == 19
    assert tenure.missing_fraction == pytest.approx(0.05)
    assert (plan.kind, plan.categories) == (FeatureType.CATEGORICAL, {"monthly": 15.0,
                                                                      "yearly": 5.0})
    assert plan.edges == () and tenure.categories == {}


def test_read_baseline_round_trips_what_profile_wrote(classification_run, cancer_frame):
    baselines = {b.name: b for b in read_baseline(classification_run.baseline / "statistics.json")}
    radius = baselines["worst radius"]
    counts, edges = np.histogram(cancer_frame["worst radius"], bins=10)
    assert list(radius.counts) == counts.tolist()
    assert list(radius.edges) == pytest.approx(edges.tolist())
    band = baselines["size_band"]
    assert band.categories == cancer_frame["size_band"].value_counts().astype(float).to_dict()
    assert band.item_count == len(cancer_frame)


def test_read_baseline_names_the_file_and_the_feature_it_cannot_read(tmp_path):
    document = load(FIXTURES / "statistics.json")
    del document["features"][1]["string_statistics"]["distribution"]
    path = tmp_path / "statistics.json"
    path.write_text(json.dumps(document))
    message = rf"{path}: feature 'plan' lacks or mangles 'distribution'"
    with pytest.raises(ValueError, match=message):
        read_baseline(path)
    with pytest.raises(ValueError, match="statistics: not a Model Monitor statistics file"):
        parse_statistics({"features": []})
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_baseline(path)


def test_missing_values_are_counted_not_bucketed():
    statistics = baseline_statistics(
        pd.DataFrame({"x": [1.0, math.nan, 3.0], "c": ["a", None, "a"]}),
        [Feature("x", FeatureType.NUMERIC), Feature("c", FeatureType.CATEGORICAL)],
    )
    x, c = parse_statistics(statistics)
    assert (x.num_present, x.num_missing, sum(x.counts)) == (2, 1, 2)
    assert (c.num_present, c.num_missing, c.categories) == (2, 1, {"a": 2.0})
