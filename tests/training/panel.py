"""The quality panel: real tables that ship with scikit-learn, made to look like business data.

Each entry is a named table with its target and problem type, and for the dated and grouped
tables the date column and the entity column (which a user declares as the split key). The
benches (`bench/quality_panel.py`, `bench/drift_false_alarms.py`, `bench/honest_reference.py`)
run the default pipeline and the drift check over all of them,
and the tests use the same tables, so a number in a note and a test's assertion rest on the
same rows. Imbalance comes from dropping positives (all negatives kept, original row order);
the dirt is `dirty_data.add_dirt`'s (string IDs, a row number, signup dates, a constant), never
its leak column, which the pipeline rightly refuses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits, load_wine

from tests.training.dirty_data import (
    REGRESSION_TARGET,
    TARGET,
    add_dirt,
    cancer,
    diabetes,
    imbalanced,
)
from training.contract import ProblemType


@dataclass(frozen=True)
class PanelTable:
    name: str
    build: Callable[[], pd.DataFrame]
    target: str
    problem_type: ProblemType
    about: str
    split_key: str | None = None
    """The entity column a user of this table declares (Preprocess --split-key), if any."""
    time_column: str | None = None
    """The date column whose order is the table's time (found by Preprocess on its own)."""

    def frame(self) -> pd.DataFrame:
        return self.build().copy()

    def preprocess_flags(self) -> list[str]:
        """Preprocess's flags as this table's user sets them (the split key, if declared)."""
        return ["--split-key", self.split_key] if self.split_key else []


@cache
def shifted_digits() -> pd.DataFrame:
    """scikit-learn's 1,797 digits and their four one-pixel shifts (8,985 rows, 64 pixels):
    the standard augmentation, so imbalance at 1 % still leaves ~80 positives. `digit` is the
    class; `fraud` marks the nines."""
    digits = load_digits()
    images = digits.images
    shifted = [images]
    for axis, step in ((1, 1), (1, -1), (2, 1), (2, -1)):
        moved = np.roll(images, step, axis=axis)
        edge = (slice(None),) * axis + ((0 if step == 1 else -1),)
        moved[edge] = 0
        shifted.append(moved)
    pixels = np.concatenate(shifted).reshape(-1, 64)
    frame = pd.DataFrame(pixels, columns=[f"pixel_{i // 8}_{i % 8}" for i in range(64)])
    frame["digit"] = np.tile(digits.target, len(shifted))
    return frame


def _fraud(share: float, dirty: bool = False, seed: int = 0) -> Callable[[], pd.DataFrame]:
    def build() -> pd.DataFrame:
        frame = shifted_digits().drop(columns="digit")
        frame[TARGET] = (shifted_digits()["digit"] == 9).astype(int)
        frame = imbalanced(frame, share=share, seed=seed)
        if dirty:
            frame = _with_dirt(frame, seed=seed)
        return frame.rename(columns={TARGET: "fraud"})

    return build


def _with_dirt(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    return add_dirt(frame, seed=seed).drop(columns="leak")


def _with_missing(frame: pd.DataFrame, target: str, share: float = 0.15,
                  seed: int = 0) -> pd.DataFrame:
    """`share` of every feature's cells blanked at random (missing completely at random)."""
    rng = np.random.default_rng(seed)
    features = frame.drop(columns=target)
    holed = features.mask(rng.random(features.shape) < share)
    holed[target] = frame[target].to_numpy()
    return holed


def _with_target_outliers(frame: pd.DataFrame, target: str, share: float = 0.01,
                          factor: float = 50.0, seed: int = 0) -> pd.DataFrame:
    """`share` of the targets multiplied by `factor`: a unit slip or a data-entry error."""
    rng = np.random.default_rng(seed)
    spoiled = frame.copy()
    rows = rng.choice(len(frame), max(1, round(share * len(frame))), replace=False)
    spoiled.loc[rows, target] = spoiled.loc[rows, target] * factor
    return spoiled


def _wine() -> pd.DataFrame:
    return load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})


def _digits() -> pd.DataFrame:
    return shifted_digits()


DRIFT_START = pd.Timestamp("2022-01-01")
DRIFT_DAYS = 3 * 365


def _dates(order: np.ndarray) -> list[str]:
    """One date per row, spread over DRIFT_DAYS from DRIFT_START in the rank order of `order`
    (rows keep their file order; only their dates say when they happened)."""
    rank = np.argsort(np.argsort(order, kind="stable"), kind="stable")
    days = np.floor(rank * DRIFT_DAYS / len(order)).astype(int)
    return list((DRIFT_START + pd.to_timedelta(days, unit="D")).strftime("%Y-%m-%d"))


def diabetes_drifting(seed: int = 0) -> pd.DataFrame:
    """Diabetes (442 rows) with a visit date over three years, in random order, and a
    progression that drifts upward by 60 over those years (about 0.8 standard deviations): the
    same patients' measurements, a disease measure whose level rises with time (a new assay,
    an ageing cohort). A random split tests on the past; the time split on the newest rows."""
    rng = np.random.default_rng(seed)
    frame = diabetes()
    position = rng.random(len(frame))
    frame.insert(0, "visit_date", _dates(position))
    rank = np.argsort(np.argsort(position)) / (len(frame) - 1)
    frame[REGRESSION_TARGET] = (frame[REGRESSION_TARGET] + 60.0 * (rank - 0.5)).round(1)
    return frame


@cache
def digits_drifting(seed: int = 0) -> pd.DataFrame:
    """The shifted digits (8,985 rows) with a scan date over three years, where the scanner's
    alignment drifts: the original images come mostly early, the one-pixel shifts mostly late
    (covariate drift, beta(2, 5) versus beta(5, 2) positions in time); `nine` is the class."""
    rng = np.random.default_rng(seed)
    frame = shifted_digits().copy()
    original = np.arange(len(frame)) < len(frame) // 5
    position = np.where(original, rng.beta(2, 5, len(frame)), rng.beta(5, 2, len(frame)))
    frame.insert(0, "scan_date", _dates(position))
    frame["nine"] = (frame.pop("digit") == 9).astype(int)
    return frame


@cache
def digits_by_image() -> pd.DataFrame:
    """The shifted digits grouped by their image: `image_id` names each of the 1,797 scans,
    present 5 times (the original and four one-pixel shifts; 20 % distinct). The copies share
    their label and strokes, so a row split scores the model on shifted copies of images it
    trained on; `nine` is the class."""
    frame = shifted_digits().copy()
    images = len(frame) // 5
    frame.insert(0, "image_id", [f"IMG{i:05d}" for i in np.tile(np.arange(images), 5)])
    frame["nine"] = (frame.pop("digit") == 9).astype(int)
    return frame


def customers_of_five(seed: int = 0) -> pd.DataFrame:
    """Breast cancer's first 565 rows as 113 customers of 5 rows each (`customer_id`, 20 %
    distinct) with a customer effect on the label: churn = the mean radius's signal plus a
    per-customer effect (sd 1.5) plus noise, as repeat customers behave alike."""
    rng = np.random.default_rng(seed)
    customers = 113
    frame = cancer().iloc[: customers * 5].reset_index(drop=True)
    customer = np.repeat(np.arange(customers), 5)
    effect = rng.normal(scale=1.5, size=customers)[customer]
    radius = frame["mean radius"]
    score = -(radius - radius.mean()) / radius.std()
    frame[TARGET] = (score + effect + rng.normal(size=len(frame)) > 0).astype(int)
    frame.insert(0, "customer_id",
                 [f"C{c:05d}" for c in rng.permutation(customers)[customer]])
    return frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)


CLASSIFICATION = ProblemType.CLASSIFICATION
REGRESSION = ProblemType.REGRESSION

PANEL: tuple[PanelTable, ...] = (
    PanelTable("cancer", cancer, TARGET, CLASSIFICATION,
               "breast cancer, 63 % positives"),
    PanelTable("churn-10pct-dirty", lambda: _with_dirt(imbalanced(cancer(), share=0.10)),
               TARGET, CLASSIFICATION, "breast cancer at 10 % positives with IDs and dates"),
    PanelTable("cancer-missing", lambda: _with_missing(cancer(), TARGET), TARGET,
               CLASSIFICATION, "breast cancer with 15 % of feature cells missing"),
    PanelTable("fraud-10pct", _fraud(0.10), "fraud", CLASSIFICATION,
               "shifted digits, nines at 10 %"),
    PanelTable("fraud-5pct-dirty", _fraud(0.05, dirty=True), "fraud", CLASSIFICATION,
               "shifted digits, nines at 5 %, with IDs and dates"),
    PanelTable("fraud-3pct", _fraud(0.03), "fraud", CLASSIFICATION,
               "shifted digits, nines at 3 %"),
    PanelTable("fraud-1pct", _fraud(0.01), "fraud", CLASSIFICATION,
               "shifted digits, nines at 1 %"),
    PanelTable("wine", _wine, "cultivar", CLASSIFICATION, "wine, 3 classes"),
    PanelTable("digits-10-classes", _digits, "digit", CLASSIFICATION,
               "shifted digits, 10 classes"),
    PanelTable("diabetes", diabetes, REGRESSION_TARGET, REGRESSION, "diabetes progression"),
    PanelTable("diabetes-outliers",
               lambda: _with_target_outliers(diabetes(), REGRESSION_TARGET),
               REGRESSION_TARGET, REGRESSION, "diabetes with 1 % of targets ×50"),
    PanelTable("diabetes-drift-dated", diabetes_drifting, REGRESSION_TARGET, REGRESSION,
               "diabetes with visit dates, progression drifting up over time",
               time_column="visit_date"),
    PanelTable("digits-drift-dated", lambda: digits_drifting().copy(), "nine",
               CLASSIFICATION, "shifted digits with scan dates, alignment drifting over time",
               time_column="scan_date"),
    PanelTable("digits-by-image", lambda: digits_by_image().copy(), "nine", CLASSIFICATION,
               "shifted digits, each image 5 times (image_id)", split_key="image_id"),
    PanelTable("churn-customers", customers_of_five, TARGET, CLASSIFICATION,
               "breast cancer as 113 customers of 5 rows, customer effect on the label",
               split_key="customer_id"),
)
"""Every table of the panel, in the order the benches print them."""

PANEL_BY_NAME = {table.name: table for table in PANEL}


WIDE_LEAK_POSITION = 281
"""Where `wide_fraud` puts its leak: past the 200 columns alerts once examined."""


@cache
def wide_fraud(columns: int = 300, leak_position: int = WIDE_LEAK_POSITION) -> pd.DataFrame:
    """A wide table: fraud-5pct-dirty (8,511 rows) with the digits seen at more shifts (two
    pixels each way, then diagonally) until it has `columns` columns, and `leak` (the target
    with 1 % noise, `add_dirt`'s) moved to position `leak_position`."""
    build = _fraud(0.05)
    frame = build()
    pixels = frame.filter(like="pixel_").to_numpy().reshape(-1, 8, 8)
    extra = {}
    shifts = [(2, 0), (-2, 0), (0, 2), (0, -2), (1, 1), (-1, -1), (1, -1), (-1, 1)]
    for down, right in shifts:
        moved = np.roll(pixels, (down, right), axis=(1, 2)).reshape(len(frame), 64)
        for i in range(64):
            extra[f"pixel_{i // 8}_{i % 8}_shift_{down}_{right}"] = moved[:, i]
    dirty = add_dirt(frame.rename(columns={"fraud": TARGET}), seed=0).rename(
        columns={TARGET: "fraud"})
    leak = dirty.pop("leak")
    room = columns - dirty.shape[1] - 1
    wide = pd.concat([dirty, pd.DataFrame(extra, index=dirty.index).iloc[:, :room]], axis=1)
    wide.insert(leak_position, "leak", leak)
    return wide
