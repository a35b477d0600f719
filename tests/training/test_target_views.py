"""Each feature against the target: groups, Cramér's V and the outcome per group, on known data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.training.dirty_data import REGRESSION_TARGET, TARGET, cancer, diabetes
from training.eda.target_views import (
    MISSING_LABEL,
    OTHER_LABEL,
    feature_groups,
    feature_views,
    over_time,
    sparkline_svg,
    target_outcome,
)


def test_a_copy_of_the_target_is_fully_associated_and_noise_is_not():
    frame = cancer()
    noise = pd.Series(np.random.default_rng(0).normal(size=len(frame)))
    outcome = target_outcome(frame[TARGET], "classification", TARGET)
    views = {v.name: v for v in feature_views(
        {"copy": (frame[TARGET].astype(float), "numeric"), "noise": (noise, "numeric"),
         "worst area": (frame["worst area"], "numeric")}, outcome)}
    assert views["copy"].association == pytest.approx(1.0)
    assert views["noise"].association < 0.25
    assert 0.5 < views["worst area"].association < 1.0
    # benign (1) is 63 %: the minority class 0 (malignant) is the share shown, high for big areas
    assert outcome.label == f"share of {TARGET} = 0"
    assert views["worst area"].groups[-1][2] == 1.0 and views["worst area"].groups[0][2] == 0.0


def test_groups_of_text_keep_the_frequent_levels_then_other_then_missing():
    values = pd.Series(["a"] * 5 + ["b"] * 4 + ["c", "d"] + [None])
    codes, labels = feature_groups(values, "categorical", bins=3)
    assert labels == ["a", "b", OTHER_LABEL, MISSING_LABEL]
    assert codes.tolist() == [0] * 5 + [1] * 4 + [2, 2, 3]


def test_dates_are_grouped_in_date_order_with_date_labels():
    dates = pd.Series(pd.date_range("2024-01-01", periods=100, freq="D", tz="UTC"))
    codes, labels = feature_groups(dates, "date", bins=4)
    assert labels[0].startswith("2024-01-01–") and len(labels) == 4
    assert np.all(np.diff(codes) >= 0)


def test_regression_shows_the_mean_target_per_group_and_over_time():
    frame = diabetes()
    outcome = target_outcome(frame[REGRESSION_TARGET], "regression", REGRESSION_TARGET)
    view = feature_views({"bmi": (frame["bmi"], "numeric")}, outcome)[0]
    means = [value for _, _, value in view.groups]
    assert means[-1] > 1.5 * means[0]  # heavier patients progress more
    svg = sparkline_svg(view, outcome.overall, outcome.label, (0.0, max(means)))
    assert svg.count("<rect") == len(view.groups) and "mean progression" in svg
    dates = pd.Series(pd.date_range("2024-01-01", periods=len(frame), freq="D", tz="UTC"))
    periods = over_time(dates, outcome)
    assert periods["rows"].sum() == len(frame) and len(periods) == 15  # monthly: 441 days
