"""EDA alerts: every kind fires on the churn-like table built from real data, none on clean data."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.training.dirty_data import (
    REGRESSION_TARGET,
    TARGET,
    add_dirt,
    as_csv_text,
    cancer,
    churn_table,
    diabetes,
)
from tests.training.panel import WIDE_LEAK_POSITION, wide_fraud
from training.data import alerts as alerts_module
from training.data.alerts import (
    Alert,
    AlertKind,
    alerts,
    alerts_to_json,
    column_alerts,
    detect_datetime,
    detect_duplicate_rows,
    detect_missing,
    detect_numeric_categorical,
    detect_skewed,
    typed_frame,
    write_alerts,
)

C, R = "classification", "regression"


def by_kind(found: list[Alert], kind: AlertKind) -> dict[str | None, Alert]:
    return {alert.column: alert for alert in found if alert.kind == kind.value}


@pytest.fixture(scope="module")
def churn_alerts() -> list[Alert]:
    return alerts(churn_table(), TARGET, C)


@pytest.fixture(scope="module")
def clean_alerts() -> list[Alert]:
    return alerts(cancer(), TARGET, C)


def test_the_churn_table_raises_every_alert_of_the_issue(churn_alerts: list[Alert]) -> None:
    assert set(by_kind(churn_alerts, AlertKind.ID_LIKE)) == {"customer_id", "row_number"}
    assert set(by_kind(churn_alerts, AlertKind.CONSTANT)) == {"constant"}
    assert set(by_kind(churn_alerts, AlertKind.DATETIME)) == {"signup_date"}
    assert set(by_kind(churn_alerts, AlertKind.TARGET_LEAKAGE)) == {"leak"}
    assert set(by_kind(churn_alerts, AlertKind.CLASS_IMBALANCE)) == {TARGET}


def test_clean_data_raises_none_of_them(clean_alerts: list[Alert]) -> None:
    kinds = {alert.kind for alert in clean_alerts}
    assert kinds <= {AlertKind.SKEWED.value}, clean_alerts


def test_the_row_number_of_a_subsample_is_still_a_sequence(churn_alerts: list[Alert]) -> None:
    evidence = by_kind(churn_alerts, AlertKind.ID_LIKE)
    assert evidence["row_number"].evidence["reason"] == "a monotonic integer sequence"
    assert evidence["customer_id"].evidence["reason"] == "unique per row"
    shuffled = pd.Series(np.random.default_rng(1).permutation(500).astype(float))
    assert column_alerts("n", shuffled)[0].evidence["reason"] == "consecutive integers"


def test_an_id_by_name_needs_mostly_distinct_values() -> None:
    ids = pd.Series([f"{i % 450:05d}x" for i in range(500)])  # 90% distinct
    assert column_alerts("CustomerID", ids)[0].kind == AlertKind.ID_LIKE.value
    assert all(a.kind != AlertKind.ID_LIKE.value for a in column_alerts("paid", ids))
    regions = pd.Series([f"R{i % 5}" for i in range(500)])
    assert all(a.kind != AlertKind.ID_LIKE.value for a in column_alerts("region_id", regions))


def test_measurements_are_never_ids() -> None:
    area = cancer()["mean area"].drop_duplicates().sort_values()  # distinct and monotonic
    assert area.is_unique and area.is_monotonic_increasing
    assert column_alerts("mean area id", area) == []


def test_imbalance_gives_the_majority_baseline(churn_alerts: list[Alert]) -> None:
    table = churn_table()
    alert = by_kind(churn_alerts, AlertKind.CLASS_IMBALANCE)[TARGET]
    baseline = (table[TARGET] == 0).mean()
    assert alert.evidence["majority_baseline_accuracy"] == pytest.approx(baseline)
    assert alert.evidence["minority_share"] == pytest.approx(1 - baseline)
    # weighted by default, so the model does not lean to the majority: a warning
    assert alert.severity == "warning" and f"{baseline:.3f}" in alert.message


def test_a_balanced_enough_target_is_not_imbalanced(clean_alerts: list[Alert]) -> None:
    assert not by_kind(clean_alerts, AlertKind.CLASS_IMBALANCE)  # 37% malignant


def test_the_leak_alert_carries_its_evidence(churn_alerts: list[Alert]) -> None:
    alert = by_kind(churn_alerts, AlertKind.TARGET_LEAKAGE)["leak"]
    assert alert.severity == "critical" and alert.evidence["metric"] == "balanced_accuracy"
    assert alert.evidence["score"] >= 0.98
    assert alert.evidence["normalized_mutual_information"] > 0.5
    assert churn_alerts[0].severity == "critical"  # most severe first


def test_the_best_real_feature_is_not_a_leak(clean_alerts: list[Alert]) -> None:
    assert not by_kind(clean_alerts, AlertKind.TARGET_LEAKAGE)


def test_a_text_column_that_encodes_the_target_leaks() -> None:
    frame = cancer()
    frame["status"] = np.where(frame[TARGET] == 1, "renewed", "cancelled")
    assert "status" in by_kind(alerts(frame, TARGET, C), AlertKind.TARGET_LEAKAGE)


def test_regression_leaks_are_found_and_real_features_pass() -> None:
    frame = diabetes()
    noise = np.random.default_rng(0).normal(0, 0.2, len(frame))  # cents of rounding
    frame["monthly_cost"] = frame[REGRESSION_TARGET] / 12 + noise
    found = alerts(frame, REGRESSION_TARGET, R)
    leaks = by_kind(found, AlertKind.TARGET_LEAKAGE)
    assert set(leaks) == {"monthly_cost"} and leaks["monthly_cost"].evidence["metric"] == "r2"
    # Noise of 3% of its spread: not exact, so a warning (a stop needs an exact match).
    assert leaks["monthly_cost"].severity == "warning"
    assert not by_kind(alerts(diabetes(), REGRESSION_TARGET, R), AlertKind.TARGET_LEAKAGE)


def test_csv_text_gives_the_same_alerts_as_typed_columns(churn_alerts: list[Alert]) -> None:
    from_text = alerts(as_csv_text(churn_table()), TARGET, C)
    assert [(a.kind, a.column) for a in from_text] == [(a.kind, a.column) for a in churn_alerts]


def test_dates_in_other_formats_are_dates_and_numbers_are_not() -> None:
    dates = pd.Series(pd.date_range("2020-01-01", periods=300, freq="D").strftime("%d/%m/%Y"))
    alert = detect_datetime("signup", dates)
    assert alert is not None and alert.evidence["format"] == "%d/%m/%Y"
    assert alert.evidence["min"].startswith("2020-01-01")
    mostly = dates.copy()
    mostly[:30] = "unknown"  # 90% dates
    assert detect_datetime("signup", mostly) is None
    assert detect_datetime("day", typed_frame(pd.DataFrame({"d": ["20240101"] * 5}))["d"]) is None
    assert detect_datetime("customer", pd.Series([f"C{i:06d}" for i in range(300)])) is None


def test_high_cardinality_text() -> None:
    frame = cancer()
    frame["city"] = [f"city-{i % 80}" for i in range(len(frame))]
    frame["size_band"] = pd.qcut(frame["mean radius"], 3, labels=["s", "m", "l"]).astype(str)
    found = by_kind(alerts(frame, TARGET, C), AlertKind.HIGH_CARDINALITY)
    assert set(found) == {"city"} and found["city"].evidence["levels"] == 80


@pytest.mark.parametrize(("share", "severity"), [
    (0.1, None), (0.3, "info"), (0.6, "warning"), (0.97, "critical")])
def test_missing_severity_follows_the_share(share: float, severity: str | None) -> None:
    values = cancer()["mean texture"].copy()
    values.iloc[: round(share * len(values))] = np.nan
    alert = detect_missing("mean texture", values)
    assert (alert.severity if alert else None) == severity


def test_skewed_and_symmetric_columns() -> None:
    frame = cancer()
    assert detect_skewed("area error", frame["area error"]).evidence["skewness"] > 2
    assert detect_skewed("mean texture", frame["mean texture"]) is None


def test_near_constant_column() -> None:
    values = pd.Series(["ok"] * 566 + ["fail"] * 3)
    assert column_alerts("status", values)[0].kind == AlertKind.NEAR_CONSTANT.value
    assert column_alerts("status", pd.Series(["ok"] * 500 + ["fail"] * 69)) == []


def test_duplicate_rows_even_behind_an_id() -> None:
    frame = pd.concat([cancer(), cancer().head(12)], ignore_index=True)
    assert detect_duplicate_rows(frame).evidence["exact"] == 12
    frame.insert(0, "customer_id", [f"C{i}" for i in range(len(frame))])
    alert = detect_duplicate_rows(frame, ["customer_id"])
    assert alert.evidence["exact"] == 0 and alert.evidence["ignoring_id_columns"] == 12
    assert detect_duplicate_rows(cancer()) is None


def test_the_duplicate_alert_says_what_preprocess_does_with_them() -> None:
    # Preprocess keeps duplicates and hashes each row to its split: copies never straddle
    # train and test, so the alert must not warn that they inflate scores.
    message = detect_duplicate_rows(pd.concat([cancer(), cancer().head(12)])).message
    assert "kept" in message and "same split" in message and "inflate" not in message


def test_integer_codes_and_few_levels_are_categorical_hints() -> None:
    rng = np.random.default_rng(0)
    zips = pd.Series(rng.choice([8001, 8004, 3011, 1201, 6900, 4051], 569).astype(float))
    assert detect_numeric_categorical("zip", zips).evidence["reason"] == "code"
    children = pd.Series(rng.integers(0, 5, 569).astype(float))
    assert detect_numeric_categorical("children", children).evidence["reason"] == "few_levels"
    assert detect_numeric_categorical("flag", pd.Series([0.0, 1.0] * 50)) is None
    assert detect_numeric_categorical("mean radius", cancer()["mean radius"]) is None


def test_a_leak_in_column_281_of_300_is_found() -> None:
    wide = wide_fraud()
    assert wide.shape == (8511, 300) and wide.columns[WIDE_LEAK_POSITION] == "leak"
    found = alerts(wide, "fraud", C)
    assert list(by_kind(found, AlertKind.TARGET_LEAKAGE)) == ["leak"]
    assert not by_kind(found, AlertKind.ROWS_SAMPLED)


def test_wide_tables_are_sampled_by_rows_not_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alerts_module, "ALERT_CELLS", 35 * 150)
    monkeypatch.setattr(alerts_module, "MIN_ALERT_ROWS", 100)
    found = alerts(churn_table(), TARGET, C)
    sampled = by_kind(found, AlertKind.ROWS_SAMPLED)[None]
    assert sampled.evidence == {"rows": 150, "total_rows": 234, "columns": 35}
    assert "leak" in by_kind(found, AlertKind.TARGET_LEAKAGE)
    assert {"customer_id", "row_number"} <= set(by_kind(found, AlertKind.ID_LIKE))
    assert alerts_module.alert_rows(234, 35) == 150
    assert alerts_module.alert_rows(10**6, 10**5) == 100  # never fewer than MIN_ALERT_ROWS


def test_alerts_are_strict_json(tmp_path: Path, churn_alerts: list[Alert]) -> None:
    decoded = json.loads(alerts_to_json(churn_alerts))
    assert {entry["kind"] for entry in decoded} >= {"id_like", "target_leakage"}
    written = json.loads(write_alerts(tmp_path / "alerts.json", churn_alerts).read_text())
    assert written["counts"]["critical"] == 1 and len(written["alerts"]) == len(churn_alerts)


def test_thirty_one_columns_by_569_rows_is_fast() -> None:
    frame = add_dirt(cancer())
    alerts(frame, TARGET, C)  # warm imports
    start = time.perf_counter()
    alerts(cancer(), TARGET, C)
    assert time.perf_counter() - start < 2.0  # ~0.3 s on an idle core


def test_constant_messages_name_plain_values_not_numpy_reprs() -> None:
    zeros = pd.Series([0.0] * 30)
    assert "same value 0.0 in every row" in column_alerts("pixel", zeros)[0].message
    mostly = pd.Series([0.0] * 300 + [1.0])
    assert "'pixel' is 0.0 in 99.7% of rows" in by_kind(column_alerts("pixel", mostly),
                                                      AlertKind.NEAR_CONSTANT)["pixel"].message


def houses(price: str = "noiseless", rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Area, rooms and age of houses; `price` is 3 × area + 10 × rooms (noiseless: area alone
    explains 99.4% of it), a copy of area, or 2 × area + 1."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"area": rng.uniform(50, 250, rows).round(1),
                          "rooms": rng.integers(1, 6, rows),
                          "age": rng.uniform(0, 50, rows).round(0)})
    prices = {"noiseless": 3 * frame["area"] + 10 * frame["rooms"], "copy": frame["area"],
              "affine": 2 * frame["area"] + 1}
    return frame.assign(price=prices[price])


def test_a_noiseless_regression_feature_is_a_warning_not_a_leak() -> None:
    leaks = by_kind(alerts(houses(), "price", R), AlertKind.TARGET_LEAKAGE)
    assert set(leaks) == {"area"}
    alert = leaks["area"]
    assert alert.severity == "warning" and alert.evidence["exact"] is False
    assert 0.98 <= alert.evidence["score"] < alerts_module.LEAK_EXACT_R2
    assert "'area'" in alert.message and "almost perfectly" in alert.message
    assert "not a copy of the target" in alert.message
    assert not alerts_module.is_stopping_leak(alert)


@pytest.mark.parametrize("price", ["copy", "affine"])
def test_an_exact_regression_copy_is_a_critical_leak(price: str) -> None:
    leaks = by_kind(alerts(as_csv_text(houses(price)), "price", R), AlertKind.TARGET_LEAKAGE)
    assert set(leaks) == {"area"}
    alert = leaks["area"]
    assert alert.severity == "critical" and alert.evidence["exact"] is True
    assert alert.evidence["line_r2"] >= alerts_module.LEAK_EXACT_R2
    assert "exactly" in alert.message and alerts_module.is_stopping_leak(alert)


def test_classification_leaks_are_critical_without_being_exact() -> None:
    frame = cancer()
    labels = frame[TARGET].to_numpy()
    flipped = np.random.default_rng(0).random(len(frame)) < 0.02  # 12 of 569 rows
    frame["leak"] = np.where(flipped, 1 - labels, labels)
    alert = by_kind(alerts(frame, TARGET, C), AlertKind.TARGET_LEAKAGE)["leak"]
    assert 0.98 <= alert.evidence["score"] < 0.99 and alert.severity == "critical"
    assert alerts_module.is_stopping_leak(alert) and "exact" not in alert.evidence


def five_rows_per_customer(customers: int = 110, seed: int = 0) -> pd.DataFrame:
    """Breast cancer's rows grouped 5 to a customer (`customer_id`, 20 % distinct): each
    customer's rows share a customer effect on the label, as repeat customers do."""
    rng = np.random.default_rng(seed)
    frame = cancer().iloc[: customers * 5].reset_index(drop=True)
    customer = np.repeat(np.arange(customers), 5)
    effect = rng.normal(scale=1.5, size=customers)[customer]
    score = (frame["mean radius"] - frame["mean radius"].mean()) / frame["mean radius"].std()
    frame[TARGET] = (-score + effect + rng.normal(size=len(frame)) > 0).astype(int)
    frame.insert(0, "customer_id", [f"C{c:05d}" for c in rng.permutation(customers)[customer]])
    return frame


def test_an_id_named_column_whose_values_repeat_names_the_group_split() -> None:
    # GIVEN a customer ID repeated 5 times a customer (20 % distinct: not an ID by the ID rule)
    found = alerts(five_rows_per_customer(), TARGET, C)
    (repeated,) = [a for a in found if a.kind == AlertKind.REPEATED_ID.value]
    # THEN one warning says what goes wrong, the setting that fixes it, and the feature question
    assert repeated.column == "customer_id" and repeated.severity == "warning"
    assert "rows of one entity straddle train and test" in repeated.message
    assert "splitKey" in repeated.message and "--split-key customer_id" in repeated.message
    assert "stays a feature" in repeated.message
    assert repeated.evidence["distinct"] == 110 and repeated.evidence["rows_per_value"] == 5.0
    assert not [a for a in found if a.kind == AlertKind.ID_LIKE.value]


def test_no_repeated_id_alert_for_the_declared_split_key_or_for_unique_ids() -> None:
    table = five_rows_per_customer()
    assert not [a for a in alerts(table, TARGET, C, split_key="customer_id")
                if a.kind == AlertKind.REPEATED_ID.value]
    unique = add_dirt(cancer())  # customer_id unique per row: ID-like, dropped, not repeated
    assert not [a for a in alerts(unique, TARGET, C) if a.kind == AlertKind.REPEATED_ID.value]


def test_profile_names_the_split_and_leaves_the_declared_key_alone(tmp_path: Path) -> None:
    from training.eda.profile import profile_dataframe

    table = five_rows_per_customer()
    summaries = {name: profile_dataframe(table, TARGET, C, tmp_path / name, split_key=key)
                 for name, key in (("hashed", None), ("grouped", "customer_id"))}
    kinds = {name: [a["kind"] for a in json.loads((tmp_path / name / "alerts.json")
                                                  .read_text())["alerts"]]
             for name in summaries}
    assert "repeated_id" in kinds["hashed"] and "repeated_id" not in kinds["grouped"]
    grouped = summaries["grouped"]
    assert grouped["split"]["kind"] == "key" and grouped["split"]["key"] == "customer_id"
    assert any("group split: a hash of split key 'customer_id'" in note
               for note in grouped["notes"])
