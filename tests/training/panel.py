"""The quality panel: real tables that ship with scikit-learn, made to look like business data.

Each entry is a named table with its target and problem type. The benches (`bench/quality_panel.py`,
`bench/drift_false_alarms.py`) run the default pipeline and the drift check over all of them,
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

    def frame(self) -> pd.DataFrame:
        return self.build().copy()


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
