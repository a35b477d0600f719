"""Feature plans and the transformer: drop what cannot generalise, stop on a leak, and transform
raw serving rows exactly as the training rows."""

from __future__ import annotations

import io
import json

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from tests.training.dirty_data import (
    REGRESSION_TARGET,
    TARGET,
    as_csv_text,
    cancer,
    churn_table,
    diabetes,
)
from training.data.features import (
    DatetimeFeatures,
    FeaturePlan,
    LeakError,
    build_transformer,
    plan_features,
)

C, R = "classification", "regression"


@pytest.fixture(scope="module")
def churn() -> pd.DataFrame:
    return as_csv_text(churn_table())  # as Preprocess reads CSV: every value text


@pytest.fixture(scope="module")
def plan(churn: pd.DataFrame) -> FeaturePlan:
    return plan_features(churn.drop(columns="leak"), TARGET, C)


def test_a_leak_stops_the_plan_by_default(churn: pd.DataFrame) -> None:
    with pytest.raises(LeakError) as caught:
        plan_features(churn, TARGET, C)
    message = str(caught.value)
    assert caught.value.columns == ["leak"] and "'leak'" in message and "\n" not in message
    assert "--leak-policy drop" in message and "--leak-policy proceed" in message


def test_a_leak_is_dropped_or_kept_when_asked(churn: pd.DataFrame) -> None:
    dropped = plan_features(churn, TARGET, C, leak_policy="drop")
    assert dropped.dropped["leak"] == "target_leakage" and "leak" not in dropped.feature_columns
    kept = plan_features(churn, TARGET, C, leak_policy="proceed")
    assert "leak" in kept.numeric
    assert any(a.kind == "target_leakage" for a in kept.alerts)


def test_without_the_leak_ids_and_constants_go_and_dates_become_calendar_parts(
    plan: FeaturePlan,
) -> None:
    assert plan.dropped == {"customer_id": "id_like", "row_number": "id_like",
                            "constant": "constant"}
    assert plan.datetime == ("signup_date",) and plan.datetime_formats == {
        "signup_date": "ISO8601"}
    assert set(plan.numeric) == set(cancer().columns) - {TARGET}
    assert plan.target_type == "binary"
    names = list(build_transformer(plan).fit(
        pd.DataFrame(churn_table()[list(plan.feature_columns)]),
        churn_table()[TARGET]).get_feature_names_out())
    assert [n for n in names if n.startswith("signup")] == [
        "signup_date_year", "signup_date_month", "signup_date_dayofweek",
        "signup_date_dayofyear"]
    assert not {"customer_id", "row_number", "constant"} & set(names)


def test_ids_and_constants_are_kept_when_asked(churn: pd.DataFrame) -> None:
    kept = plan_features(churn.drop(columns="leak"), TARGET, C, keep_id=True,
                         keep_constant=True)
    assert kept.dropped == {}
    assert "row_number" in kept.numeric and "customer_id" in kept.target_encoded
    assert "constant" in kept.onehot


def test_text_is_one_hot_or_target_encoded_by_its_levels() -> None:
    frame = cancer()
    frame["band"] = pd.qcut(frame["mean radius"], 3, labels=["s", "m", "l"]).astype(str)
    frame["city"] = [f"city-{i % 40}" for i in range(len(frame))]
    plan = plan_features(frame, TARGET, C)
    assert plan.onehot == ("band",) and plan.target_encoded == ("city",)
    wider = plan_features(frame, TARGET, C, max_onehot_levels=40)
    assert wider.onehot == ("band", "city") and wider.target_encoded == ()


def test_an_integer_code_is_a_category_and_a_count_stays_a_number() -> None:
    frame = cancer()
    rng = np.random.default_rng(0)
    frame["zip"] = rng.choice([8001, 8004, 3011, 1201, 6900, 4051], len(frame))
    frame["visits"] = rng.integers(0, 5, len(frame))
    plan = plan_features(frame, TARGET, C)
    assert "zip" in plan.onehot and "visits" in plan.numeric


@pytest.mark.parametrize(("option", "value", "match"), [
    ("leak_policy", "ignore", "leak_policy must be one of stop, drop, proceed"),
    ("datetime_parts", ("year", "week"), "datetime_parts"),
    ("max_onehot_levels", 0, "max_onehot_levels must be >= 1"),
])
def test_bad_options_are_named(option: str, value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        plan_features(cancer(), TARGET, C, **{option: value})


def test_a_table_of_only_ids_has_no_features() -> None:
    frame = churn_table()[["customer_id", "row_number", "constant", TARGET]]
    with pytest.raises(ValueError, match="no feature columns left .*'customer_id' \\(id_like\\)"):
        plan_features(frame, TARGET, C)


def test_target_types_follow_the_problem() -> None:
    iris = load_iris(as_frame=True)
    frame = iris.frame.assign(species=iris.target_names[iris.target]).drop(columns="target")
    assert plan_features(frame, "species", C).target_type == "multiclass"
    assert plan_features(diabetes(), REGRESSION_TARGET, R).target_type == "continuous"


# --- the transformer -------------------------------------------------------------------------


def dirty_with_text(seed: int = 0) -> pd.DataFrame:
    """The churn table without the leak, plus a few- and a many-level text column, as CSV
    text, with holes."""
    frame = churn_table(seed).drop(columns="leak")
    rng = np.random.default_rng(seed)
    frame["plan"] = rng.choice(["basic", "plus", "pro"], len(frame))
    frame["city"] = [f"city-{i}" for i in rng.integers(0, 60, len(frame))]
    frame.loc[frame.index[::9], "plan"] = np.nan
    frame.loc[frame.index[::11], "signup_date"] = np.nan
    frame.loc[frame.index[::13], "mean texture"] = np.nan
    return as_csv_text(frame)


def request_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows as the serving container parses a JSON request: numbers as numbers, dates text."""
    typed = rows.copy()
    for name in typed.columns:
        parsed = pd.to_numeric(typed[name], errors="coerce")
        if parsed.notna().sum() == typed[name].notna().sum():
            typed[name] = parsed
    return typed


def test_the_fitted_transformer_transforms_raw_request_rows_after_pickling() -> None:
    frame = dirty_with_text()
    plan = plan_features(frame, TARGET, C)
    assert plan.onehot == ("plan",) and plan.target_encoded == ("city",)
    train, serve = train_test_split(frame, test_size=0.2, random_state=0)
    features = list(plan.feature_columns)
    transformer = build_transformer(plan).fit(train[features], train[TARGET])
    buffer = io.BytesIO()
    joblib.dump(transformer, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    expected = transformer.transform(serve[features])
    assert np.isfinite(expected).all()
    np.testing.assert_allclose(loaded.transform(serve[features]), expected)
    np.testing.assert_allclose(loaded.transform(request_rows(serve[features])), expected)
    one = serve[features].head(1)
    np.testing.assert_allclose(loaded.transform(one), expected[:1])


def test_fitting_twice_gives_the_same_features() -> None:
    frame = dirty_with_text()
    plan = plan_features(frame, TARGET, C)
    features = frame[list(plan.feature_columns)]
    first = build_transformer(plan).fit_transform(features, frame[TARGET])
    np.testing.assert_array_equal(build_transformer(plan).fit_transform(features, frame[TARGET]),
                                  first)


def test_unknown_levels_and_bad_dates_do_not_break_serving() -> None:
    frame = dirty_with_text()
    plan = plan_features(frame, TARGET, C)
    features = list(plan.feature_columns)
    transformer = build_transformer(plan).fit(frame[features], frame[TARGET])
    odd = frame[features].head(2).copy()
    odd["plan"] = ["enterprise", None]
    odd["city"] = ["atlantis", "city-3"]
    odd["signup_date"] = ["not a date", "2022-05-01T10:00:00+02:00"]
    out = transformer.transform(odd)
    assert out.shape == (2, len(transformer.get_feature_names_out())) and np.isfinite(out).all()


def test_a_model_trains_on_the_plan_and_predicts_raw_rows() -> None:
    frame = dirty_with_text()
    plan = plan_features(frame, TARGET, C)
    features = list(plan.feature_columns)
    train, test = train_test_split(frame, test_size=0.3, random_state=0,
                                   stratify=frame[TARGET])
    model = Pipeline([("features", build_transformer(plan)),
                      ("model", GradientBoostingClassifier(random_state=0))])
    model.fit(train[features], train[TARGET])
    assert model.score(test[features], test[TARGET]) > 0.9
    assert set(model.predict(request_rows(test[features]))) <= {"0", "1"}


def test_datetime_features_honour_the_format_and_handle_missing_dates() -> None:
    dates = pd.DataFrame({"opened": ["03/04/2021", None, "31/12/2020", "2021-06-15"]})
    calendar = DatetimeFeatures(("year", "month", "day"), {"opened": "%d/%m/%Y"}).fit(dates)
    out = calendar.transform(dates)
    np.testing.assert_array_equal(out[0], [2021, 4, 3])
    assert np.isnan(out[1]).all()
    np.testing.assert_array_equal(out[2:], [[2020, 12, 31], [2021, 6, 15]])
    assert list(calendar.get_feature_names_out()) == ["opened_year", "opened_month",
                                                      "opened_day"]
    np.testing.assert_array_equal(calendar.transform(dates.to_numpy())[0], [2021, 4, 3])


def test_datetime_features_reject_an_unknown_part() -> None:
    with pytest.raises(ValueError, match="unknown calendar part"):
        DatetimeFeatures(("fortnight",)).fit(pd.DataFrame({"d": ["2021-01-01"]}))


def test_the_plan_is_json() -> None:
    plan = plan_features(dirty_with_text(), TARGET, C)
    decoded = json.loads(json.dumps(plan.to_dict()))
    assert decoded["dropped"]["customer_id"] == "id_like"
    assert decoded["datetime_formats"] == {"signup_date": "ISO8601"}


# --- missing-value indicators ----------------------------------------------------------------


def informative_missingness(rows: int = 2000, seed: int = 0) -> pd.DataFrame:
    """`income` is left empty for 60% of the positives and 10% of the negatives; its values
    carry little signal, its missingness much; `tenure` and `opened` never miss."""
    rng = np.random.default_rng(seed)
    positive = rng.random(rows) < 0.4
    income = rng.normal(50, 10, rows) + 2 * positive
    income[rng.random(rows) < np.where(positive, 0.6, 0.1)] = np.nan
    opened = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 900, rows), unit="D")
    return pd.DataFrame({"income": income, "tenure": rng.normal(5, 2, rows),
                         "opened": opened.strftime("%Y-%m-%d"),
                         TARGET: positive.astype(int)})


def test_a_missing_value_indicator_lets_a_linear_model_see_informative_missingness() -> None:
    from sklearn.metrics import roc_auc_score

    from training.train.train import build_estimator, build_model

    frame = as_csv_text(informative_missingness())
    plan = plan_features(frame, TARGET, C)
    features = list(plan.feature_columns)
    train, test = frame.iloc[:1400], frame.iloc[1400:]

    def auc(indicator: bool) -> float:
        transformer = build_transformer(plan).set_params(numeric__impute__add_indicator=indicator)
        model = build_model(transformer, build_estimator("linear", C))
        model.fit(train[features], train[TARGET].astype(int))
        return roc_auc_score(test[TARGET].astype(int), model.predict_proba(test[features])[:, 1])

    with_indicator, imputed_only = auc(True), auc(False)  # 0.744 and 0.521 (seed 0)
    assert with_indicator > 0.7 and with_indicator - imputed_only > 0.15
    names = list(build_transformer(plan).fit(train[features], train[TARGET])
                 .get_feature_names_out())
    assert names == ["income", "tenure", "missingindicator_income", "opened_year",
                     "opened_month", "opened_dayofweek", "opened_dayofyear"]


def test_a_clean_table_gets_no_indicator_columns() -> None:
    frame = cancer()
    plan = plan_features(frame, TARGET, C)
    features = list(plan.feature_columns)
    transformer = build_transformer(plan).fit(frame[features], frame[TARGET])
    assert list(transformer.get_feature_names_out()) == features
    assert transformer.transform(frame[features]).shape == (len(frame), len(features))


def test_a_date_that_misses_in_training_gets_one_indicator_and_unseen_gaps_are_imputed() -> None:
    dates = pd.DataFrame({"opened": ["2021-04-03", None, "not a date", "2021-06-15"],
                          "closed": ["2022-01-01", "2022-02-01", "2022-03-01", "2022-04-01"]})
    calendar = DatetimeFeatures(("year", "month"), indicate_missing=True).fit(dates)
    assert list(calendar.get_feature_names_out()) == [
        "opened_year", "opened_month", "closed_year", "closed_month",
        "missingindicator_opened"]
    np.testing.assert_array_equal(calendar.transform(dates)[:, -1], [0, 1, 1, 0])
    frame = informative_missingness().assign(
        opened=lambda f: f["opened"].where(f.index % 7 != 0))
    plan = plan_features(frame, TARGET, C)
    transformer = build_transformer(plan).fit(frame[list(plan.feature_columns)], frame[TARGET])
    request = frame[list(plan.feature_columns)].head(2).copy()
    request["tenure"] = [np.nan, np.nan]  # never missed in training: imputed, no indicator
    request["opened"] = [None, "2021-05-01"]
    out = transformer.transform(request)
    assert out.shape == (2, len(transformer.get_feature_names_out())) and np.isfinite(out).all()
    assert "missingindicator_opened" in transformer.get_feature_names_out()


def test_the_served_model_answers_a_request_missing_a_column_that_never_missed(
    tmp_path, monkeypatch,
) -> None:
    import contextlib
    import os

    from training.data import preprocess
    from training.serve import inference
    from training.train import train

    for variable in [v for v in os.environ if v.startswith("MLOPS_CAPTURE")]:
        monkeypatch.delenv(variable)
    data = tmp_path / "data"
    data.mkdir()
    informative_missingness(600).to_csv(data / "data.csv", index=False)
    processed = tmp_path / "processed"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        preprocess.main(["--data-dir", str(data), "--output-dir", str(processed),
                         "--target", TARGET, "--problem-type", C])
        train.main(["--train", str(processed / "train"),
                    "--validation", str(processed / "validation"),
                    "--transform", str(processed / "transform"),
                    "--model-dir", str(tmp_path / "model"), "--estimator", "linear"])
    model = inference.model_fn(str(tmp_path / "model"))
    pipeline = getattr(model.pipeline, "estimator", model.pipeline)  # under a threshold or not
    names = list(pipeline.named_steps["features"].get_feature_names_out())
    assert "missingindicator_income" in names and "missingindicator_tenure" not in names
    body = "income,tenure,opened\n,,2021-05-01\n52.0,,\n"
    prediction = inference.predict_fn(inference.input_fn(body, "text/csv"), model)
    assert not isinstance(prediction, inference.Failure), prediction
    assert np.isfinite(np.asarray(prediction.probabilities)).all()
