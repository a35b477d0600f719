"""Drift checks a data scientist can trust, on every table of the quality panel: unshifted
windows flag nothing, a real shift flags the shifted column only, dates are compared as
dates, many-level text by its top categories, IDs are not monitored, thresholds follow the
rows a decision rests on, and the report says all of that in words.

Baselines are built as Profile builds them (`baseline_of_frame`) from half of each table;
windows are the other half's rows (or the training rows), checked with the drift job's own
counting and metrics (`check_frame`).
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pandas as pd
import pytest

from tests.training.panel import PANEL, PANEL_BY_NAME, PanelTable
from training.eda.drift_baseline import baseline_of_frame
from training.monitor import drift
from training.monitor.drift import check_frame
from training.monitor.metrics import (
    DEFAULT_THRESHOLDS,
    effective_rows,
    g_test_p_value,
    ks_p_value,
    merged_bucket_starts,
    psi,
)
from training.monitor.reference import Baseline, baseline_of_document
from training.monitor.report import plotted_shares, render_html
from training.monitor.window import OTHER_CATEGORY

DIRTY = "churn-10pct-dirty"


def halves(frame: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    order = np.random.default_rng(seed).permutation(len(frame))
    half = len(frame) // 2
    return (frame.iloc[order[:half]].reset_index(drop=True),
            frame.iloc[order[half:]].reset_index(drop=True))


def baseline_of(training: pd.DataFrame, table: PanelTable) -> Baseline:
    return baseline_of_document(baseline_of_frame(training, table.target, table.problem_type,
                                                  table.split_key), table.name)


@cache
def panel_case(name: str) -> tuple[Baseline, pd.DataFrame, pd.DataFrame]:
    """(baseline of the training half, training half, held-out half) of a panel table."""
    table = PANEL_BY_NAME[name]
    training, held_out = halves(table.frame())
    return baseline_of(training, table), training, held_out


def sample(rows: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    replace = size > len(rows)
    return rows.iloc[rng.choice(len(rows), size, replace=replace)].reset_index(drop=True)


def most_spread(baseline: Baseline, training: pd.DataFrame) -> str:
    """The numeric feature with the most distinct training values (ties by name)."""
    numeric = [f.name for f in baseline.features if f.is_numeric and not f.is_date]
    return min(numeric, key=lambda name: (-training[name].nunique(), name))


def by_name(report: dict) -> dict:
    return {feature["name"]: feature for feature in report["features"]}


# --- no shift, no alarm --------------------------------------------------------------------


@pytest.mark.parametrize("name", [table.name for table in PANEL])
def test_unshifted_windows_of_every_panel_table_flag_nothing(name):
    baseline, training, held_out = panel_case(name)
    windows = [(sample(held_out, 100, 1), "held-out 100"),
               (sample(held_out, min(300, len(held_out)), 2), "held-out 300"),
               (sample(training, 1000, 3), "training 1000")]
    for rows, what in windows:
        report = check_frame(rows[baseline.names], baseline)
        assert report["status"] == "ok", what
        assert report["drifted_features"] == [], (what, report["drifted_features"])
        assert report["verdict"] == f"no drift in {len(baseline.features)} features"


@pytest.mark.parametrize("name", [table.name for table in PANEL])
def test_a_column_moved_by_one_standard_deviation_is_flagged_alone(name):
    baseline, training, held_out = panel_case(name)
    column = most_spread(baseline, training)
    source = held_out if len(held_out) >= 300 else training  # no bootstrap of a few rows
    rows = sample(source, 300, 4)[baseline.names]
    step = training[column].std()
    if np.all(np.mod(training[column].dropna(), 1) == 0):
        step = max(round(step), 1)  # an integer column moves by whole units
    rows[column] = rows[column] + step
    report = check_frame(rows, baseline)
    assert report["drifted_features"] == [column]
    assert report["verdict"].startswith(f"drift in 1 of {len(baseline.features)} features")


def test_the_default_loops_sparse_feature_is_quiet_over_many_small_windows():
    """`worst concave points` was flagged at PSI 0.2475 on 300 unshifted rows: on sparse
    buckets PSI passes a fixed 0.2 by chance. Forty windows of 300 rows: none flags it."""
    baseline, _, held_out = panel_case("cancer")
    for seed in range(40):
        report = check_frame(sample(held_out, 280, seed)[baseline.names], baseline)
        assert report["drifted_features"] == [], seed


# --- categories, many-level text, dates, IDs -------------------------------------------------


def with_text_columns(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """`plan` (3 levels, one-hot) and `city` (60 levels, Zipf-like shares: target-encoded)."""
    rng = np.random.default_rng(seed)
    frame = frame.copy()
    frame["plan"] = rng.choice(["basic", "plus", "pro"], len(frame), p=[0.5, 0.3, 0.2])
    shares = 1 / np.arange(1, 61)
    frame["city"] = rng.choice([f"city-{i:02d}" for i in range(60)], len(frame),
                               p=shares / shares.sum())
    return frame


@cache
def text_case() -> tuple[Baseline, pd.DataFrame]:
    table = PANEL_BY_NAME[DIRTY]
    frame = with_text_columns(pd.concat([table.frame()] * 4, ignore_index=True))
    training, held_out = halves(frame)
    return baseline_of(training, table), held_out


def test_unshifted_categories_and_many_level_text_flag_nothing():
    baseline, held_out = text_case()
    for seed, size in enumerate((100, 300)):
        report = check_frame(sample(held_out, size, seed)[baseline.names], baseline)
        assert report["drifted_features"] == [], report["drifted_features"]
    city = by_name(report)["city"]["metrics"]["js_distance"]
    assert len(city["compared"]) <= DEFAULT_THRESHOLDS.max_categories + 1
    assert city["compared"][-1] == OTHER_CATEGORY and "city-00" in city["compared"]


def test_a_category_whose_share_changes_is_flagged_alone():
    baseline, held_out = text_case()
    rows = sample(held_out, 300, 5)[baseline.names]
    basic = rows.index[rows["plan"] == "basic"]
    rows.loc[basic[: len(basic) // 2], "plan"] = "pro"  # basic 50 % -> 25 %, pro 20 % -> 45 %
    assert check_frame(rows, baseline)["drifted_features"] == ["plan"]


def test_new_cities_taking_a_third_of_the_traffic_are_flagged_as_other():
    baseline, held_out = text_case()
    rows = sample(held_out, 300, 6)[baseline.names]
    rows.loc[rows.index[:100], "city"] = [f"new-{i}" for i in range(100)]
    report = check_frame(rows, baseline)
    assert report["drifted_features"] == ["city"]
    assert len(by_name(report)["city"]["current"]["new_categories"]) == 20  # the 20 most seen
    labels, before, now = plotted_shares(by_name(report)["city"])  # the plot: what was compared
    assert labels == by_name(report)["city"]["metrics"]["js_distance"]["compared"]
    assert now[-1] > before[-1] + 0.2  # "other" grew by the new cities' third


def test_dates_are_compared_as_dates_not_as_a_thousand_strings():
    baseline, training, held_out = panel_case(DIRTY)
    signup = next(f for f in baseline.features if f.name == "signup_date")
    assert signup.kind == "datetime" and signup.date_format
    report = check_frame(training[baseline.names], baseline)  # the training rows themselves
    metrics = by_name(report)["signup_date"]["metrics"]
    assert set(metrics) == {"psi", "ks", "missing_rate"}
    assert metrics["psi"]["value"] == 0.0 and metrics["ks"]["value"] == pytest.approx(0, abs=1e-3)
    later = held_out[baseline.names].copy()
    later["signup_date"] = (pd.to_datetime(later["signup_date"]) + pd.DateOffset(years=1)
                            ).dt.strftime("%Y-%m-%d")
    shifted = check_frame(later, baseline)
    assert shifted["drifted_features"] == ["signup_date"]
    labels, _, _ = plotted_shares(by_name(shifted)["signup_date"])
    assert labels[0].startswith("≤2021-") and labels[-1].startswith(">2023-")  # dates, not days


def test_text_that_is_not_a_date_is_a_type_mismatch_in_a_date_column():
    baseline, _, held_out = panel_case(DIRTY)
    rows = held_out[baseline.names].copy()
    rows.loc[rows.index[:4], "signup_date"] = "soon"
    report = check_frame(rows, baseline)
    assert by_name(report)["signup_date"]["type_mismatches"] == 4
    assert [(v["feature"], v["kind"]) for v in report["violations"]] == [
        ("signup_date", "type_mismatch")]


def test_id_and_constant_columns_are_skipped_with_their_reason(tmp_path):
    from tests.training.test_drift import write_json_capture

    baseline, _, held_out = panel_case(DIRTY)
    assert dict(baseline.skipped) == {"customer_id": "id_like", "row_number": "id_like",
                                      "constant": "constant"}
    assert not set(baseline.skipped) & set(baseline.names)
    document = baseline_of_frame(halves(PANEL_BY_NAME[DIRTY].frame())[0], "churned",
                                 "classification")
    (tmp_path / "baseline").mkdir()
    (tmp_path / "baseline" / "statistics.json").write_text(json.dumps(document))
    assert document["target"] == "churned"  # the label a request may send, not a feature
    records = held_out.to_dict("records")  # IDs and the target sent along, as to the endpoint
    write_json_capture([records], tmp_path / "capture")
    report = drift.run_drift(tmp_path / "capture", tmp_path / "baseline", window_hours=0)
    assert report["violations"] == [] and report["drifted_features"] == []
    assert [(s["name"], s["reason"]) for s in report["skipped"]] == [
        ("customer_id", "id_like"), ("row_number", "id_like"), ("constant", "constant")]
    assert "customer_id: not monitored, an identifier" in report["skipped"][0]["description"]
    assert "customer_id" not in by_name(report)
    # the same rows as CSV with the table's header (IDs, the target, any column order): the
    # endpoint's reading, so the same traffic
    from tests.training.test_drift import T0
    from training import capture

    table = held_out[list(reversed(held_out.columns))]
    capture.append_records(tmp_path / "csv", [capture.capture_record(
        table.iloc[i:i + 25].to_csv(index=False), "text/csv", "0", "text/csv", time=T0)
        for i in range(0, len(table), 25)])
    headed = drift.run_drift(tmp_path / "csv", tmp_path / "baseline", window_hours=0)
    assert headed["malformed"]["total"] == 0 and headed["violations"] == []
    assert headed["rows_analyzed"] == report["rows_analyzed"] == len(held_out)


# --- thresholds follow the rows ------------------------------------------------------------


def test_the_g_test_holds_its_false_alarm_rate_where_psi_does_not():
    """Unshifted two-sample draws of sparse-tailed shares, on the bins the check merges for
    their size: the G-test's p-value falls below alpha in about alpha of them, at 60 rows as
    at 3,000. PSI against a fixed 0.2 fails at 60 rows: 7 % of windows on one feature, most
    windows of a 30-feature table."""
    rng = np.random.default_rng(0)
    shares = np.array([0.3, 0.25, 0.15, 0.1, 0.08, 0.06, 0.04, 0.02])
    alpha, baseline_rows, draws = 0.01, 2000, 4000
    for rows in (60, 3000):
        starts = merged_bucket_starts(shares * baseline_rows, rows,
                                      DEFAULT_THRESHOLDS.min_expected_rows)
        assert len(starts) == (5 if rows == 60 else len(shares))
        below = np.mean([
            g_test_p_value(np.add.reduceat(rng.multinomial(baseline_rows, shares), starts),
                           np.add.reduceat(rng.multinomial(rows, shares), starts)) < alpha
            for _ in range(draws)])
        assert 0.5 * alpha < below < 1.5 * alpha, (rows, below)
    base = rng.multinomial(baseline_rows, shares)
    fixed = np.mean([psi(base, rng.multinomial(60, base / base.sum())) > 0.2
                     for _ in range(2000)])
    assert 1 - (1 - fixed) ** 30 > 0.8


def test_the_g_test_is_not_liberal_on_the_smallest_judged_window_of_ten_equal_buckets():
    """50 rows (``min_rows``) on a numeric baseline's ten equal-count buckets: five expected
    rows a bin, where G's chi-square tail is too thin (p < alpha in 1.5 alpha of unshifted
    draws); Williams' correction brings it to about 1.2 alpha."""
    rng = np.random.default_rng(0)
    shares, alpha, draws = np.full(10, 0.1), 0.01, 20_000
    below = np.mean([g_test_p_value(rng.multinomial(5000, shares), rng.multinomial(50, shares))
                     < alpha for _ in range(draws)])
    assert 0.8 * alpha < below < 1.35 * alpha, below


def test_each_decision_says_the_rows_it_rests_on_and_small_windows_need_more_evidence():
    """Each of the 10 equal-count buckets expects a tenth of the window: below 50 rows (10 x
    ``min_expected_rows``) adjacent ones are merged, 40 rows are compared on 5 bins."""
    baseline, training, _ = panel_case("cancer")
    small = check_frame(sample(training, 40, 7)[baseline.names], baseline)
    large = check_frame(sample(training, 2000, 8)[baseline.names], baseline)
    few, many = by_name(small)["mean radius"], by_name(large)["mean radius"]
    assert (few["rows"], many["rows"]) == (40, 2000)
    assert few["baseline_rows"] == many["baseline_rows"] == len(training)
    assert (few["metrics"]["psi"]["bins"], many["metrics"]["psi"]["bins"]) == (5, 10)
    assert large["decision"]["tests"] == 3 * len(baseline.features)
    assert many["metrics"]["ks"]["alpha"] == pytest.approx(0.001 / (3 * len(baseline.features)),
                                                         rel=1e-2)
    # the same KS distance is chance on 100 rows and not on 2,000
    assert ks_p_value(0.15, 100, 5000) > 0.01 > 1e-6 > ks_p_value(0.15, 2000, 5000)
    assert effective_rows(100, 100) == 50


# --- the report --------------------------------------------------------------------------


def test_the_report_has_one_verdict_and_leads_with_the_drifted_feature():
    baseline, training, held_out = panel_case("cancer")
    rows = sample(held_out, 280, 9)[baseline.names]
    rows["worst area"] *= 2
    report = check_frame(rows, baseline, window={"start": "2026-11-27T09:00:00+00:00",
                                                 "end": "2026-11-27T11:00:00+00:00",
                                                 "hours": 2})
    assert report["verdict"] == f"drift in 1 of {len(baseline.features)} features: worst area"
    assert report["window"]["description"] == (
        "from 2026-11-27 09:00 UTC to 2026-11-27 11:00 UTC (2 h): 280 requests, 280 rows")
    assert check_frame(rows, baseline)["window"]["description"] == "280 requests, 280 rows"
    page = render_html(report)
    assert page.count("<h1>") == 1
    assert f"<h1>Drift report: {report['verdict']}</h1>" in page
    assert "ok, DRIFT" not in page
    assert page.index("Drifted features") < page.index("<td>worst area</td>") < page.index(
        "Other features") < page.index("<td>mean radius</td>")
    assert "no malformed requests or rows" in page
