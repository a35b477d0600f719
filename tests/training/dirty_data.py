"""Real data made dirty the way real tables are: breast cancer as a churn-like table.

The issue's churn table had 9.45% positives, a customer ID, a row number, a signup date, a
constant column and a column that leaks the target; `churn_table` rebuilds each of those on
scikit-learn's shipped breast cancer data, so every alert has a real table to fire on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes

TARGET = "churned"
REGRESSION_TARGET = "progression"
DIRTY_COLUMNS = ("customer_id", "row_number", "signup_date", "constant", "leak")


def cancer() -> pd.DataFrame:
    """Breast cancer, target renamed `churned` (1 = benign, 63% of rows)."""
    return load_breast_cancer(as_frame=True).frame.rename(columns={"target": TARGET})


def diabetes() -> pd.DataFrame:
    return load_diabetes(as_frame=True).frame.rename(columns={"target": REGRESSION_TARGET})


def imbalanced(frame: pd.DataFrame, share: float = 0.0945, seed: int = 0) -> pd.DataFrame:
    """Keep all negatives and enough positives for `share` positives, in the original order."""
    rng = np.random.default_rng(seed)
    negatives = np.flatnonzero(frame[TARGET].to_numpy() == 0)
    positives = np.flatnonzero(frame[TARGET].to_numpy() == 1)
    keep = round(share * len(negatives) / (1 - share))
    chosen = np.sort(np.concatenate([negatives, rng.choice(positives, keep, replace=False)]))
    return frame.iloc[chosen].reset_index(drop=True)


def add_dirt(frame: pd.DataFrame, seed: int = 0, leak_noise: float = 0.01) -> pd.DataFrame:
    """The issue's columns: unique string IDs, a row number, signup dates (ISO text), a
    constant, and `leak` = the target with a random class in `leak_noise` of the rows
    (make_classification's flip_y)."""
    rng = np.random.default_rng(seed)
    n = len(frame)
    dirty = frame.copy()
    dirty.insert(0, "customer_id", [f"C{value:06d}" for value in rng.permutation(10 * n)[:n]])
    dirty.insert(1, "row_number", np.arange(n))
    start = pd.Timestamp("2021-01-01")
    days = rng.integers(0, 3 * 365, n)
    dirty.insert(2, "signup_date", (start + pd.to_timedelta(days, unit="D")).strftime("%Y-%m-%d"))
    dirty["constant"] = "yes"
    noisy = rng.random(n) < leak_noise  # sklearn's flip_y: these rows get a random class
    labels = dirty[TARGET].to_numpy()
    dirty["leak"] = np.where(noisy, rng.choice(np.unique(labels), n), labels)
    return dirty


def churn_table(seed: int = 0) -> pd.DataFrame:
    """The churn-like table: imbalanced (~9.45% positives) and dirty."""
    return add_dirt(imbalanced(cancer(), seed=seed), seed=seed)


def as_csv_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every value as the jobs read CSV: text, NaN when empty."""
    return frame.astype(object).where(frame.notna(), None).map(
        lambda v: v if v is None else str(v)).astype(object).where(frame.notna(), np.nan)
