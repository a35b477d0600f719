"""The drift baseline Profile writes: each served column described as the model reads it.

The feature plan (`training.data.features.plan_features`, the rules Preprocess applies) decides
each column's kind, so the monitor and the model never disagree about a column: ID-like and
constant columns are not monitored (listed as skipped, with the plan's reason), date columns
are monitored as dates (days since the epoch, parsed with the plan's format, as the model's
calendar features parse them), numbers as numbers, text as categories (the drift checks group
many-level text into its top categories and "other").
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from training.baseline import baseline_statistics
from training.contract import ProblemType
from training.data.alerts import days_since_epoch, parse_datetimes
from training.data.checks import checked_schema
from training.data.features import DropReason, FeaturePlan, LeakPolicy, plan_features
from training.data.schema import DatasetSchema, coerce_features


def monitoring_plan(data: pd.DataFrame, schema: DatasetSchema,
                    split_key: str | None = None) -> FeaturePlan | None:
    """Preprocess's default feature plan of `data` (a leak is Preprocess's to stop, not the
    baseline's: it is planned with leak policy "proceed"; the split key, which Preprocess
    leaves out of the features, is skipped); None when no plan can be made (no usable
    feature: Preprocess stops with the reason, the baseline monitors every column as its
    schema type)."""
    try:
        return plan_features(data, schema.target, schema.problem_type,
                             leak_policy=LeakPolicy.PROCEED,
                             drop={split_key: DropReason.SPLIT_KEY.value} if split_key else None)
    except ValueError:
        return None


def date_days(values: pd.Series, date_format: str | None) -> pd.Series:
    """A date column as float days since 1970-01-01 (NaN when missing or unparseable), parsed
    as the model's calendar features parse it."""
    return days_since_epoch(parse_datetimes(values.reset_index(drop=True), date_format))


def drift_statistics(data: pd.DataFrame, features: pd.DataFrame, schema: DatasetSchema,
                     plan: FeaturePlan | None) -> dict[str, Any]:
    """statistics.json of the columns a request sends (the schema's features the plan keeps,
    in order), `features` being `data`'s feature columns coerced to the schema's types."""
    skipped = dict(plan.dropped) if plan else {}
    served = [f for f in schema.features if f.name not in skipped]
    dates = {name: (plan.datetime_formats.get(name), date_days(data[name], plan.datetime_formats
                                                                 .get(name)))
             for name in (plan.datetime if plan else ()) if name not in skipped}
    return baseline_statistics(features, served, dates=dates, skipped=skipped,
                               target=schema.target)


def baseline_of_frame(data: pd.DataFrame, target: str,
                      problem_type: ProblemType | str,
                      split_key: str | None = None) -> dict[str, Any]:
    """statistics.json of a raw table (target included), as Profile writes it (given
    Preprocess's split key, which is not a feature and so not monitored)."""
    schema = checked_schema(data, target, problem_type)
    features = coerce_features(data, schema.features)
    return drift_statistics(data, features, schema, monitoring_plan(data, schema, split_key))
