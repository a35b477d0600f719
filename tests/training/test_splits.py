"""Split membership: a row's split follows from the row, so retrains, duplicates and rare classes
cannot put a model's training rows in its test split (`training.data.splits`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score

from tests.training.conftest import write_shards
from tests.training.panel import PANEL
from training.contract import SPLITS, ProblemType
from training.data import preprocess
from training.data.problems import SchemaError
from training.data.splits import SplitRule, assign_splits

FEATURES = ["region", "plan", "channel", "tier"]


def run(frame: pd.DataFrame, root: Path, target: str, *extra: str,
        problem_type: str = "classification") -> dict[str, pd.DataFrame]:
    """Preprocess `frame` under `root`; the written splits, read back as text-free frames."""
    write_shards(frame, root / "data")
    preprocess.main(["--data-dir", str(root / "data"), "--output-dir", str(root / "out"),
                     "--target", target, "--problem-type", problem_type, *extra])
    return {name: pd.read_csv(root / "out" / name / f"{name}.csv") for name in SPLITS}


def few_categories(rows: int, seed: int) -> pd.DataFrame:
    """Four categorical columns (144 patterns) and a noisy label about 30 % positive: most rows
    repeat a pattern, and most repeated patterns carry both labels."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "region": rng.choice(["north", "south", "east"], rows),
        "plan": rng.choice(["basic", "plus", "pro", "team"], rows),
        "channel": rng.choice(["web", "shop", "phone"], rows),
        "tier": rng.choice(["a", "b", "c", "d"], rows),
    })
    score = ((frame["plan"] == "basic") * 1.4 + (frame["channel"] == "phone") * 1.0
             + (frame["region"] == "north") * 0.6 - 1.5)
    frame["churned"] = (rng.random(rows) < 1 / (1 + np.exp(-2 * score))).astype(int)
    return frame


def numeric_rows(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 4)).round(4), columns=list("abcd"))
    frame["label"] = (frame["a"] + rng.normal(size=rows) > 0).astype(int)
    return frame


def patterns(frame: pd.DataFrame, columns: list[str]) -> set[tuple]:
    return set(frame[columns].itertuples(index=False, name=None))


def binomial_tolerance(share: float, rows: int, sigmas: float = 4.0) -> float:
    """How far a hash split's share may stray from `share` on `rows` rows: `sigmas` standard
    errors of a binomial share (the split is a uniform draw per row)."""
    return sigmas * (share * (1 - share) / rows) ** 0.5


# --- stable membership --------------------------------------------------------------------------


def test_a_retrain_on_more_rows_keeps_every_old_row_in_its_old_split(tmp_path):
    # GIVEN 2,000 rows, then the same rows with 1,000 appended (a retrain on grown data)
    table = numeric_rows(3000).assign(row_id=[f"r{i:05d}" for i in range(3000)])
    before = run(table.iloc[:2000], tmp_path / "before", "label")
    after = run(table, tmp_path / "after", "label")

    def membership(splits: dict[str, pd.DataFrame]) -> pd.Series:
        return pd.concat(frame.assign(split=name) for name, frame in splits.items()) \
            .set_index("row_id")["split"]

    old, new = membership(before), membership(after)
    # THEN every old row is where it was: the champion's test rows were never its train rows
    assert (new.loc[old.index] == old).all()
    assert not set(after["test"]["row_id"]) & set(before["train"]["row_id"])


def test_duplicates_are_kept_and_every_copy_shares_one_split(tmp_path):
    # GIVEN a table where one pattern appears with both labels, and exact copies of rows
    base = numeric_rows(400)
    conflicting = base.iloc[:30].assign(label=1 - base["label"].iloc[:30])
    table = pd.concat([base, base.iloc[30:60], conflicting], ignore_index=True)
    splits = run(table, tmp_path, "label")
    assert sum(len(frame) for frame in splits.values()) == len(table)
    seen = {name: patterns(frame, list("abcd")) for name, frame in splits.items()}
    for first, second in (("train", "validation"), ("train", "test"), ("validation", "test")):
        assert not seen[first] & seen[second], (first, second)


def test_a_table_of_few_categories_keeps_its_rows_class_share_and_honest_test_score(tmp_path):
    # GIVEN 5,000 rows over 144 patterns (dropping duplicates left ~142 rows at another share)
    table = few_categories(5000, seed=1)
    share = table["churned"].mean()
    splits = run(table, tmp_path, "churned")
    # THEN every row is kept, the class share holds in each split, no pattern crosses splits
    assert sum(len(frame) for frame in splits.values()) == 5000
    for frame in splits.values():
        assert frame["churned"].mean() == pytest.approx(
            share, abs=binomial_tolerance(share, len(frame)))
    assert not patterns(splits["train"], FEATURES) & patterns(splits["test"], FEATURES)
    # AND the test score is the score on fresh rows (0.136 vs 0.608 when duplicates were dropped)
    model = LogisticRegression().fit(pd.get_dummies(splits["train"][FEATURES]),
                                     splits["train"]["churned"])

    def score(frame: pd.DataFrame) -> float:
        encoded = pd.get_dummies(frame[FEATURES]).reindex(columns=model.feature_names_in_,
                                                          fill_value=False)
        return balanced_accuracy_score(frame["churned"], model.predict(encoded))

    fresh = few_categories(5000, seed=2)
    assert score(splits["test"]) == pytest.approx(score(fresh), abs=0.05)


def test_split_shares_follow_the_fractions(tmp_path):
    table = numeric_rows(20_000)
    splits = run(table, tmp_path, "label", "--validation-fraction", "0.2",
                 "--test-fraction", "0.1")
    for name, expected in (("train", 0.7), ("validation", 0.2), ("test", 0.1)):
        assert len(splits[name]) / len(table) == pytest.approx(
            expected, abs=binomial_tolerance(expected, len(table))), name


CLASSIFICATION_PANEL = [t for t in PANEL if t.problem_type is ProblemType.CLASSIFICATION]


@pytest.mark.parametrize("table", CLASSIFICATION_PANEL, ids=lambda t: t.name)
def test_class_shares_per_split_stay_close_on_the_panel(table):
    # A hash split is not stratified: each split's class shares are a uniform draw's.
    frame = table.frame().dropna(subset=[table.target])
    rule = SplitRule(salt="42", validation_share=0.15, test_share=0.15,
                     columns=tuple(frame.columns.drop(table.target)))
    names = assign_splits(frame, rule)
    overall = frame[table.target].value_counts(normalize=True)
    for split in SPLITS:
        labels = frame.loc[names == split, table.target]
        shares = labels.value_counts(normalize=True).reindex(overall.index, fill_value=0.0)
        for label, share in overall.items():
            assert shares[label] == pytest.approx(
                share, abs=binomial_tolerance(share, len(labels))), (split, label)
            if share * len(labels) >= 10:  # a class with enough rows appears in every split
                assert shares[label] > 0, (split, label)


# --- rare classes ---------------------------------------------------------------------------------


def test_a_rare_class_is_named_and_the_other_classes_stay_in_every_split(tmp_path, capsys):
    # GIVEN a class of two rows (a single row is refused by the pre-flight checks): it cannot be
    # in all three splits, and once that turned stratification off for every class
    table = numeric_rows(1000)
    table.loc[[0, 1], "label"] = 7
    splits = run(table, tmp_path, "label")
    missing = [line for line in capsys.readouterr().err.splitlines()
               if "has no rows in the" in line]
    absent = [name for name, frame in splits.items() if 7 not in set(frame["label"])]
    # THEN each split it misses is named in a warning line, and only it is affected
    assert len(missing) == len(absent) >= 1
    assert all(line.startswith("warning: class 7 (2 row(s)) has no rows in the")
               for line in missing)
    for frame in splits.values():
        assert {0, 1} <= set(frame["label"])


# --- the split key --------------------------------------------------------------------------------


def test_a_split_key_puts_every_row_of_an_entity_in_one_split(tmp_path):
    table = numeric_rows(3000).assign(customer=[f"c{i % 400:04d}" for i in range(3000)])
    splits = run(table, tmp_path, "label", "--split-key", "customer")
    customers = {name: set(frame["customer"]) for name, frame in splits.items()}
    assert not customers["train"] & customers["test"]
    assert not customers["train"] & customers["validation"]
    assert not customers["validation"] & customers["test"]
    rule = json.loads((tmp_path / "out/transform/schema.json").read_text())["split"]
    assert rule["key"] == "customer" and rule["columns"] == ["customer"]


@pytest.mark.parametrize(("key", "message"), [
    ("label", "split key 'label' is the target"),
    ("account", r"split key 'account' is not a column of the data"),
])
def test_a_bad_split_key_is_named(tmp_path, key, message):
    with pytest.raises(SchemaError, match=message):
        run(numeric_rows(200), tmp_path, "label", "--split-key", key)


def test_a_split_key_with_missing_values_is_refused(tmp_path):
    table = numeric_rows(200).assign(customer=[f"c{i}" if i % 50 else None for i in range(200)])
    with pytest.raises(SchemaError, match="split key 'customer' has 4 missing value"):
        run(table, tmp_path, "label", "--split-key", "customer")


# --- the stored rule --------------------------------------------------------------------------


def test_the_rule_in_schema_json_recomputes_every_rows_split(tmp_path):
    table = numeric_rows(1500).assign(row_number=range(1500))
    splits = run(table, tmp_path, "label", "--seed", "7")
    rule = json.loads((tmp_path / "out/transform/schema.json").read_text())["split"]
    assert rule["hash"] == "blake2b-64" and rule["salt"] == "7" and rule["key"] is None
    assert rule["columns"] == list("abcd")  # the ID-like row number is not hashed
    assert rule["shares"] == {"train": pytest.approx(0.7), "validation": 0.15, "test": 0.15}
    for name, frame in splits.items():
        assert (assign_splits(frame, SplitRule.from_dict(rule)) == name).all(), name


# --- the time split -------------------------------------------------------------------------------


def dated_rows(rows: int, seed: int = 0, start: str = "2022-01-01") -> pd.DataFrame:
    """`numeric_rows` with one order date per row (a day each, from `start`), shuffled so the
    file order says nothing about time, and a regression target that drifts upward with time."""
    rng = np.random.default_rng(seed)
    frame = numeric_rows(rows, seed)
    days = np.arange(rows)
    frame.insert(0, "order_date", (pd.Timestamp(start) + pd.to_timedelta(days, unit="D"))
                 .strftime("%Y-%m-%d"))
    frame["amount"] = (frame["a"] + 3.0 * days / rows + rng.normal(scale=0.3, size=rows)).round(4)
    return frame.drop(columns="label").iloc[rng.permutation(rows)].reset_index(drop=True)


def dates_of(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["order_date"])


def test_a_dated_table_gets_a_time_split_whose_test_rows_are_the_newest(tmp_path):
    # GIVEN 1,000 dated rows in shuffled order, the target drifting upward with time
    splits = run(dated_rows(1000), tmp_path, "amount", problem_type="regression")
    # THEN train holds the oldest rows, test the newest, validation those between
    assert dates_of(splits["train"]).max() < dates_of(splits["validation"]).min()
    assert dates_of(splits["validation"]).max() < dates_of(splits["test"]).min()
    assert [len(splits[name]) for name in SPLITS] == [700, 150, 150]
    # AND schema.json says so: the column and the cut dates recompute every row's split
    rule = json.loads((tmp_path / "out/transform/schema.json").read_text())["split"]
    assert rule["kind"] == "time" and rule["columns"] == ["order_date"]
    assert rule["time"]["column"] == "order_date"
    assert rule["time"]["test_from"].startswith(str(dates_of(splits["test"]).min().date()))
    assert rule["time"]["validation_from"].startswith(
        str(dates_of(splits["validation"]).min().date()))
    for name, frame in splits.items():
        assert (assign_splits(frame, SplitRule.from_dict(rule)) == name).all(), name


def test_split_time_none_gives_the_hash_split_on_a_dated_table(tmp_path):
    splits = run(dated_rows(1000), tmp_path, "amount", "--split-time", "none",
                 problem_type="regression")
    rule = json.loads((tmp_path / "out/transform/schema.json").read_text())["split"]
    assert rule["kind"] == "hash" and "order_date" in rule["columns"]
    # the test rows come from the whole period, not its end
    assert dates_of(splits["test"]).min() < dates_of(splits["train"]).median()


def test_a_retrain_on_newer_rows_keeps_the_champions_training_rows_out_of_the_test_split(
        tmp_path):
    # GIVEN the champion trained on the oldest 2,000 rows; 1,000 newer rows are appended
    table = dated_rows(3000).assign(row_id=lambda f: [f"r{i:05d}" for i in range(len(f))])
    older = table[dates_of(table) < dates_of(table).sort_values().iloc[2000]]
    champion = run(older, tmp_path / "champion", "amount", problem_type="regression")
    challenger = run(table, tmp_path / "challenger", "amount", problem_type="regression")
    trained_on = set(champion["train"]["row_id"])
    # THEN every row the champion trained on is still train, none is in the new test split,
    assert trained_on <= set(challenger["train"]["row_id"])
    assert not trained_on & set(challenger["test"]["row_id"])
    # AND the new test rows are newer than anything the champion trained on or tuned on
    seen = pd.concat([champion["train"], champion["validation"]])
    assert dates_of(challenger["test"]).min() > dates_of(seen).max()


def test_several_date_columns_without_a_declared_one_stop_the_run_naming_them(tmp_path):
    table = dated_rows(300).assign(signup_date=lambda f: f["order_date"][::-1].to_numpy())
    with pytest.raises(SchemaError, match=r"several date columns \('order_date', "
                                          r"'signup_date'\): declare .*--split-time COLUMN"):
        run(table, tmp_path / "auto", "amount", problem_type="regression")
    splits = run(table, tmp_path / "declared", "amount", "--split-time", "signup_date",
                 problem_type="regression")
    assert pd.to_datetime(splits["train"]["signup_date"]).max() < \
        pd.to_datetime(splits["test"]["signup_date"]).min()


def test_undated_rows_refuse_a_declared_time_split_and_turn_a_detected_one_into_a_hash_split(
        tmp_path, capsys):
    table = dated_rows(400)
    table.loc[::40, "order_date"] = None
    with pytest.raises(SchemaError, match=r"time split on 'order_date': 10 of 400 row\(s\) "
                                          r"have no date in column 'order_date'"):
        run(table, tmp_path / "declared", "amount", "--split-time", "order_date",
            problem_type="regression")
    run(table, tmp_path / "detected", "amount", problem_type="regression")
    rule = json.loads((tmp_path / "detected/out/transform/schema.json").read_text())["split"]
    assert rule["kind"] == "hash"
    assert "date column 'order_date' not used for a time split: 10 of 400" in \
        capsys.readouterr().out


def test_a_declared_split_key_is_the_group_split_and_not_a_feature(tmp_path):
    table = numeric_rows(1000).assign(customer_id=[f"c{i % 200:04d}" for i in range(1000)])
    run(table, tmp_path, "label", "--split-key", "customer_id")
    schema = json.loads((tmp_path / "out/transform/schema.json").read_text())
    assert schema["split"]["kind"] == "key"
    assert schema["dropped"] == {"customer_id": "split_key"}


# --- leakage decided on the training split -------------------------------------------------


def late_leak(rows: int = 1000, seed: int = 0) -> pd.DataFrame:
    """A dated churn table whose `cancel_reason_logged` records the outcome: reliably for the
    recent rows, with errors on a few early churners (logged by hand before a system did it).
    Churn grows over time: 4 % of the oldest 70 % of rows, 45 % of the newest 30 %."""
    rng = np.random.default_rng(seed)
    days = np.arange(rows)
    recent = days >= int(0.7 * rows)
    churned = (rng.random(rows) < np.where(recent, 0.45, 0.04)).astype(int)
    logged = churned.copy()
    early_churners = np.flatnonzero(~recent & (churned == 1))
    logged[early_churners[:: max(1, len(early_churners) // 5)][:5]] = 0
    frame = pd.DataFrame({
        "order_date": (pd.Timestamp("2022-01-01") + pd.to_timedelta(days, unit="D"))
        .strftime("%Y-%m-%d"),
        "spend": rng.normal(size=rows).round(3) + churned * 0.3,
        "cancel_reason_logged": np.where(logged == 1, "yes", "no"),
        "churned": churned,
    })
    return frame.iloc[rng.permutation(rows)].reset_index(drop=True)


def test_leakage_is_decided_on_the_training_split_without_the_test_rows(tmp_path):
    from training.data.alerts import detect_leakage, typed_frame

    table = late_leak()
    # GIVEN the column is a leak by the detector's rule when every row is read
    assert [a.column for a in detect_leakage(typed_frame(table), "churned", "classification",
                                             ["cancel_reason_logged"])] \
        == ["cancel_reason_logged"]
    # WHEN Preprocess decides on the training split (the oldest 700 rows)
    run(table, tmp_path, "churned")
    # THEN the column is not flagged: the decision did not read a test label
    plan = json.loads((tmp_path / "out/transform/feature_plan.json").read_text())
    assert "cancel_reason_logged" in plan["onehot"]
    assert "cancel_reason_logged" not in plan["dropped"]


def test_profile_reports_the_split_preprocess_would_refuse_as_a_critical_alert(tmp_path):
    from training.eda.profile import profile_dataframe

    table = dated_rows(300).assign(signup_date=lambda f: f["order_date"][::-1].to_numpy())
    summary = profile_dataframe(table, "amount", "regression", tmp_path)
    found = json.loads((tmp_path / "alerts.json").read_text())["alerts"]
    (split,) = [a for a in found if a["kind"] == "split"]
    assert split["severity"] == "critical" and "several date columns" in split["message"]
    assert summary["split"] is None
