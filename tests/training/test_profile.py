"""Profile (EDA) tests: the report, summary.json and the drift baseline, checked against pandas."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pandas as pd
import pytest

from tests.training.dirty_data import TARGET, churn_table
from training.baseline import bucket_counts
from training.data import preprocess
from training.data.problems import SchemaError
from training.eda.profile import profile_dataframe


def load(path):
    return json.loads(path.read_text())


def test_report_is_self_contained_alerts_first_then_skrubs_table(classification_run,
                                                                cancer_frame):
    report = (classification_run.report / "report.html").read_text()
    # nothing is loaded from elsewhere: no src, stylesheet or import outside the page (skrub's
    # links to Wikipedia are for a reader to follow, not loaded)
    assert not re.search(r"""src=["']?(https?:|//|file:)|<link|@import|url\((https?:|//)""",
                         report)
    sections = re.findall(r'<h2 id="([^"]+)">', report)
    assert sections[:2] == ["alerts", "overview"] and sections[-2:] == ["feature-target", "table"]
    table = report[report.index('<h2 id="table">'):]
    assert "<skrub-table-report" in table and "data-test-plots-skipped" not in table
    for column in cancer_frame.columns:
        assert html.escape(column) in table, column


def test_report_folder_has_the_target_plot_and_no_per_column_pngs(classification_run):
    pngs = {p.name for p in classification_run.report.glob("*.png")}
    assert pngs == {"target.png"}  # distributions are skrub's SVGs inside the page


@pytest.fixture(scope="module")
def churn_profile(tmp_path_factory):
    """The churn-like table's profile (IDs, a date, a constant, a leak): summary, folder."""
    folder = tmp_path_factory.mktemp("churn-profile")
    return profile_dataframe(churn_table(), TARGET, "classification", folder), folder


def test_ids_are_listed_not_plotted_and_dates_are_dates(churn_profile):
    summary, folder = churn_profile
    report = (folder / "report.html").read_text()
    head, table = report.split('<h2 id="table">')
    roles = head[head.index('<h2 id="roles">'):head.index('<h2 id="over-time">')]
    assert "customer_id" in roles and "ID-like: listed, not plotted" in roles
    assert "customer_id" not in table and "row_number" not in table
    assert "signup_date" in table and "DateTime64DType" in table  # skrub's date dtype
    assert (folder / "over_time_1.png").is_file() and "signup_date over time" in head
    assert set(summary["target_association"]) == set(summary["column_stats"]) - {
        "customer_id", "row_number", "constant", TARGET}


def test_every_feature_is_set_against_the_target_strongest_first(churn_profile):
    summary, folder = churn_profile
    association = summary["target_association"]
    assert next(iter(association)) == "leak" and association["leak"] > 0.9
    assert 0.3 < association["worst perimeter"] < 0.9
    report = (folder / "report.html").read_text()
    assert '<tr id="col-leak">' in report and '<a href="#col-leak">leak</a>' in report
    assert '<a href="#roles">customer_id</a>' in report  # an ID's alert links to its role


def test_summary_matches_pandas_on_the_source_data(classification_run, cancer_frame):
    summary = load(classification_run.report / "summary.json")
    target = classification_run.target
    assert (summary["rows"], summary["columns"]) == cancer_frame.shape
    assert summary["missing_cells"] == int(cancer_frame.isna().sum().sum())
    texture = summary["column_stats"]["mean texture"]
    assert texture["missing"] == int(cancer_frame["mean texture"].isna().sum())
    assert texture["mean"] == pytest.approx(cancer_frame["mean texture"].mean())
    assert texture["std"] == pytest.approx(cancer_frame["mean texture"].std())
    assert texture["quantiles"]["p50"] == pytest.approx(cancer_frame["mean texture"].median())
    assert (
        summary["column_stats"]["size_band"]["top_categories"]
        == cancer_frame["size_band"].value_counts().to_dict()
    )
    counts = cancer_frame[target].value_counts()
    assert summary["target"]["class_counts"] == {"0": int(counts[0]), "1": int(counts[1])}
    assert summary["target"]["majority_fraction"] == pytest.approx(counts.max() / len(cancer_frame))


def test_regression_summary_describes_the_target_distribution(regression_run, diabetes_frame):
    target = load(regression_run.report / "summary.json")["target"]
    assert target["problem_type"] == "regression"
    assert target["mean"] == pytest.approx(diabetes_frame[regression_run.target].mean())
    assert target["max"] == pytest.approx(diabetes_frame[regression_run.target].max())


def by_name(document: dict) -> dict:
    return {feature["name"]: feature for feature in document["features"]}


def test_baseline_statistics_describe_the_features_in_request_order(
    classification_run, cancer_frame
):
    statistics = load(classification_run.baseline / "statistics.json")
    schema = load(classification_run.model_dir / "schema.json")
    names = [feature["name"] for feature in statistics["features"]]
    assert names == [feature["name"] for feature in schema["features"]]
    assert classification_run.target not in names
    assert statistics["dataset"]["item_count"] == len(cancer_frame)


def test_baseline_numeric_statistics_match_pandas(classification_run, cancer_frame):
    features = by_name(load(classification_run.baseline / "statistics.json"))
    texture = features["mean texture"]
    assert texture["inferred_type"] == "Fractional"
    stats = texture["numerical_statistics"]
    column = cancer_frame["mean texture"]
    assert stats["common"] == {
        "num_present": int(column.notna().sum()),
        "num_missing": int(column.isna().sum()),
    }
    assert stats["mean"] == pytest.approx(column.mean())
    assert stats["sum"] == pytest.approx(column.sum())
    assert stats["std_dev"] == pytest.approx(column.std(ddof=0))
    assert (stats["min"], stats["max"]) == (column.min(), column.max())
    buckets = stats["distribution"]["kll"]["buckets"]
    values = column.dropna().to_numpy()
    deciles = np.quantile(values, np.arange(1, 10) / 10, method="inverted_cdf")
    assert [b["lower_bound"] for b in buckets] == [column.min(), *deciles]
    assert [b["upper_bound"] for b in buckets] == [*deciles, column.max()]
    assert [b["count"] for b in buckets] == bucket_counts(deciles, values).tolist()
    sketch = stats["distribution"]["kll"]["sketch"]
    assert sketch["parameters"] == {"c": 0.64, "k": 2048.0}
    assert sketch["data"] == [sorted(column.dropna().tolist())]


def test_baseline_string_statistics_count_every_category(classification_run, cancer_frame):
    band = by_name(load(classification_run.baseline / "statistics.json"))["size_band"]
    assert band["inferred_type"] == "String"
    stats = band["string_statistics"]
    assert stats["distinct_count"] == cancer_frame["size_band"].nunique()
    buckets = stats["distribution"]["categorical"]["buckets"]
    assert {b["value"]: b["count"] for b in buckets} == cancer_frame["size_band"].value_counts(
    ).to_dict()


def test_constraints_name_types_completeness_and_domains(classification_run, cancer_frame):
    constraints = load(classification_run.baseline / "constraints.json")
    features = by_name(constraints)
    assert features["size_band"]["inferred_type"] == "String"
    assert features["size_band"]["string_constraints"]["domains"] == ["large", "medium", "small"]
    assert features["worst radius"]["inferred_type"] == "Fractional"
    assert features["worst radius"]["num_constraints"] == {"is_non_negative": True}
    incomplete = {n: f["completeness"] for n, f in features.items() if f["completeness"] < 1}
    assert incomplete == {
        "mean texture": pytest.approx(cancer_frame["mean texture"].notna().mean())
    }
    assert constraints["monitoring_config"]["distribution_constraints"][
        "categorical_drift_method"] == "LInfinity"


def test_constraints_are_a_valid_preprocess_schema(classification_run, tmp_path):
    preprocess.main(
        [
            "--data-dir",
            str(classification_run.data),
            "--output-dir",
            str(tmp_path),
            "--target",
            classification_run.target,
            "--problem-type",
            "classification",
            "--schema",
            str(classification_run.baseline / "constraints.json"),
        ]
    )
    assert (tmp_path / "transform" / "schema.json").read_text() == (
        classification_run.processed / "transform" / "schema.json"
    ).read_text()


def test_profile_outputs_are_byte_for_byte_reproducible(tmp_path, diabetes_frame):
    small = diabetes_frame[["age", "sex", "bmi", "progression"]]
    for name in ("a", "b"):
        profile_dataframe(
            small,
            "progression",
            "regression",
            tmp_path / name / "report",
            tmp_path / name / "baseline",
        )
    files = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    assert len(files) >= 6  # report, summary, alerts, target.png, the two baseline files
    for file in files:
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file


def test_profile_accepts_an_in_memory_frame_with_real_dtypes(tmp_path, cancer_frame):
    frame = cancer_frame[["mean radius", "size_band", "diagnosis_benign"]].copy()
    frame["size_band"] = frame["size_band"].astype("category")
    summary = profile_dataframe(frame, "diagnosis_benign", "classification", tmp_path)
    assert summary["column_stats"]["size_band"]["type"] == "categorical"
    assert summary["column_stats"]["mean radius"]["max"] == frame["mean radius"].max()
    assert not (tmp_path / "statistics.json").exists()


def test_profile_names_the_missing_target(tmp_path, cancer_frame):
    with pytest.raises(SchemaError, match="target column 'label' not found"):
        profile_dataframe(cancer_frame, "label", "classification", tmp_path)


def test_profile_counts_missing_labels_and_duplicates(tmp_path, cancer_frame):
    columns = ["mean radius", "mean texture", "size_band", "diagnosis_benign"]
    frame = pd.concat([cancer_frame[columns], cancer_frame[columns].head(4)], ignore_index=True)
    frame.loc[frame.index[:3], "diagnosis_benign"] = np.nan
    summary = profile_dataframe(frame, "diagnosis_benign", "classification", tmp_path)
    assert summary["duplicate_rows"] == int(frame.duplicated().sum())
    assert summary["target"]["missing"] == 3
    assert sum(summary["target"]["class_counts"].values()) == len(frame) - 3


def test_the_baseline_leaves_out_the_columns_preprocess_drops(tmp_path):
    """The monitor compares requests with the baseline: one value per model feature, in order;
    an ID column Preprocess drops is not in a request, so it is not in the baseline."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"customer_id": range(1000, 1300), "age": rng.normal(40, 9, 300),
                          "region": "eu", "plan": rng.choice(["a", "b"], 300),
                          "label": rng.integers(0, 2, 300)})
    profile_dataframe(frame, "label", "classification", tmp_path / "report", tmp_path / "base")
    statistics = json.loads((tmp_path / "base" / "statistics.json").read_text())
    served = preprocess.plan_features(frame, "label", "classification").feature_columns
    assert [f["name"] for f in statistics["features"]] == list(served) == ["age", "plan"]
