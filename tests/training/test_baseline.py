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
    bucket_counts,
    parse_statistics,
    quantile_buckets,
    quantile_edges,
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
        if "numerical_statistics" in feature:  # 10 buckets of a tenth each, fewer if tied
            stats = feature["numerical_statistics"]
            counts = [b["count"] for b in stats["distribution"]["kll"]["buckets"]]
            present = stats["common"]["num_present"]
            assert sum(counts) == present and min(counts) > 0 and len(counts) <= 10
            assert len(counts) == 10 or max(counts) > present / 10
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


def numeric_buckets(values) -> list[dict]:
    """The kll buckets baseline_statistics writes for a numeric column of `values`."""
    statistics = baseline_statistics(pd.DataFrame({"x": values}),
                                     [Feature("x", FeatureType.NUMERIC)])
    return statistics["features"][0]["numerical_statistics"]["distribution"]["kll"]["buckets"]


def test_a_lognormal_feature_spreads_over_ten_buckets_of_equal_counts():
    """Equal widths over [min, max] put 83 % of a lognormal sample in the first bucket."""
    values = np.random.default_rng(0).lognormal(size=5000)
    buckets = numeric_buckets(values)
    assert len(buckets) == 10
    assert max(b["count"] for b in buckets) <= 0.15 * len(values)
    assert [b["count"] for b in buckets] == [500] * 10
    deciles = np.quantile(values, np.arange(1, 10) / 10, method="inverted_cdf")
    assert [b["upper_bound"] for b in buckets[:-1]] == deciles.tolist()
    assert (buckets[0]["lower_bound"], buckets[-1]["upper_bound"]) == (values.min(), values.max())


@pytest.mark.parametrize("values", [
    np.random.default_rng(1).lognormal(size=997),
    np.random.default_rng(2).poisson(1.5, size=800).astype(float),
    [0.0] * 95 + [1.0] * 5,
    [2.0**i for i in range(20)] + [np.nan] * 4,
    [4.0, 4.0, 4.0],
    [0.0, 0.5, 1.0, 9.99, 10.0, 10.0],
])
def test_bucket_counts_on_the_baselines_own_values_reproduce_its_counts(values):
    """The drift check bins traffic with `bucket_counts` on the stored upper bounds: on the
    training values it finds exactly the stored counts, and no bucket is empty."""
    buckets = numeric_buckets(values)
    present = np.asarray(values, float)[~np.isnan(np.asarray(values, float))]
    uppers = [b["upper_bound"] for b in buckets]
    stored = [b["count"] for b in buckets]
    assert bucket_counts(uppers[:-1], values).tolist() == stored
    assert sum(stored) == len(present) and min(stored) > 0
    assert uppers == sorted(set(uppers))  # strictly increasing: tied edges merged
    assert [b["lower_bound"] for b in buckets[1:]] == uppers[:-1]
    assert (buckets[0]["lower_bound"], uppers[-1]) == (present.min(), present.max())


def test_a_value_on_an_edge_counts_in_the_bucket_below_and_tied_edges_merge():
    values = [0.0, 0.5, 1.0, 9.99, 10.0, 10.0]
    assert quantile_edges(values) == [0.0, 0.0, 0.5, 1.0, 9.99, 10.0]
    assert [b["count"] for b in quantile_buckets(values)] == [1, 1, 1, 1, 2]


def test_an_integer_column_with_few_distinct_values_gets_one_bucket_per_value():
    values = [0] * 50 + [1] * 30 + [2] * 15 + [3] * 5
    buckets = numeric_buckets(values)
    assert [(b["lower_bound"], b["upper_bound"]) for b in buckets] == [
        (0.0, 0.0), (0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]
    assert [b["count"] for b in buckets] == [50, 30, 15, 5]


def test_a_constant_column_has_one_bucket_holding_every_value():
    assert numeric_buckets([4.0, 4.0, 4.0]) == [
        {"lower_bound": 4.0, "upper_bound": 4.0, "count": 3}]


def test_missing_values_are_counted_as_missing_and_in_no_bucket():
    statistics = baseline_statistics(pd.DataFrame({"x": [np.nan, 3.0, None, 1.0, 2.0]}),
                                     [Feature("x", FeatureType.NUMERIC)])
    stats = statistics["features"][0]["numerical_statistics"]
    assert stats["common"] == {"num_present": 3, "num_missing": 2}
    assert [(b["lower_bound"], b["upper_bound"], b["count"])
            for b in stats["distribution"]["kll"]["buckets"]] == [
        (1.0, 1.0, 1), (1.0, 2.0, 1), (2.0, 3.0, 1)]
    assert quantile_buckets([]) == numeric_buckets([np.nan, np.nan]) == []


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
    values = cancer_frame["worst radius"].to_numpy()
    deciles = np.quantile(values, np.arange(1, 10) / 10, method="inverted_cdf")
    assert list(radius.edges) == [values.min(), *deciles, values.max()]
    assert list(radius.counts) == bucket_counts(deciles, values).tolist()
    assert max(radius.counts) - min(radius.counts) <= 2  # a tenth each, ties aside
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
