"""Which split a row belongs to: a hash of the row, cut at the configured shares.

A row's split depends on the row alone, never on the other rows, their order or their count:

* a retrain on a larger table keeps every old row in its old split, so the champion's test
  rows were never its training rows and the two models are scored on rows neither saw;
* identical feature rows (duplicates, and copies of one pattern with different labels) share
  one split, so no copy in train answers a question in test;
* a cluster's hosts, each splitting its own files, agree with one host splitting them all.

The hashed text is the salt (the seed) and the row's values: the declared split key's value
when there is one (``--split-key``: a customer or patient ID, so every row of an entity shares
one split), else every feature column but the ID-like ones the feature plan drops (a row
number would make every copy distinct). Numbers are hashed as float() reads them (``repr`` of
the float), text as text, a missing value as the empty string, so a CSV round trip or a column
that gains a missing value (int becoming float) hashes alike.

The first 8 bytes of the BLAKE2b digest, read as an unsigned big-endian integer over 2**64, place
the row in [0, 1): below the test share it is test, below test + validation validation, else
train. The rule (`SplitRule.to_dict`) is stored in schema.json, which train copies into the
model, so a package says how its test rows were chosen and `assign_splits` can recompute them.

A hash split is not stratified: class shares per split follow the binomial noise of the split's
size, and a class with few rows may miss a split. `class_warnings` names each such class rather
than changing the rule for every class.

Three rules, one per kind of table (`SplitKind`):

* **time** (a date column, detected by the feature plan or declared with ``--split-time``): the
  oldest rows train, the next validation, the newest test, cut at two dates (`TimeCuts`) placed
  at the configured shares of the labelled rows' date order. A row dated on a cut goes to the
  newer split, so rows of one date share a split. A dated table's test score then estimates the
  model on rows newer than any it learnt from, which is what serving it means.
* **key** (the group split, ``--split-key``): the hash of an entity column (customer, patient),
  so every row of one entity shares a split and the test score is on entities never trained on.
* **hash** (the rest): the hash of the row's feature values, as above.

What a time split keeps stable across retrains, and what it does not: the cuts are quantiles of
the date order, so they are recomputed on every run. Appending rows no older than the old
validation cut (the usual retrain: newer data) only moves the cuts forward, so every row of the
champion's train split is still train, and the new test split holds rows at or after the new
test cut. Old test and validation rows may move to train (the challenger learns from them), and
the champion's validation rows (fitted on when nothing was tuned, and used to choose its
decision threshold) may land in the new test split when the appended rows are few: Evaluate
leaves them out of the champion comparison (`training.evaluate.evaluate.unseen_by_champion`).
Rows appended with OLD dates (a backfill) can move a cut backwards and put some of the
champion's training rows in the new validation or test split; the rule in schema.json (column
and cut dates) shows when that happened, and Evaluate leaves those out too. A time split needs
every row's date: rows without one cannot be placed in time (see `time_rule`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd

from training.contract import SPLITS
from training.data.alerts import parse_datetimes

HASH_NAME = "blake2b"
DIGEST_BYTES = 8
FIELD_SEPARATOR = "\x1f"
SALT_SEPARATOR = "\x1e"


class SplitKind(str, Enum):  # noqa: UP042 - the image's code style; StrEnum is 3.11+
    """Which rule placed the rows: a hash of the features, of a split key, or dates."""

    HASH = "hash"
    KEY = "key"
    TIME = "time"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class TimeCuts:
    """A time split: rows dated before `validation_from` train, before `test_from` validate,
    the rest (the newest) test. Dates are ISO 8601 in UTC."""

    column: str
    date_format: str | None
    """The format the column's text is parsed with (as the feature plan detected it)."""
    validation_from: str
    test_from: str

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "format": self.date_format,
                "validation_from": self.validation_from, "test_from": self.test_from}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TimeCuts:
        return cls(column=str(data["column"]), date_format=data.get("format"),
                   validation_from=str(data["validation_from"]),
                   test_from=str(data["test_from"]))


@dataclass(frozen=True)
class SplitRule:
    """How rows were assigned to splits: enough to recompute every row's split."""

    salt: str
    validation_share: float
    test_share: float
    columns: tuple[str, ...]
    """The hashed columns, in order: the split key alone, or the hashed feature columns (the
    date column alone for a time split)."""
    key: str | None = None
    """The declared split key (an ID column), or None for the content hash."""
    time: TimeCuts | None = None
    """The date column and its cut dates, for a time split."""

    @property
    def train_share(self) -> float:
        return 1.0 - self.validation_share - self.test_share

    @property
    def kind(self) -> SplitKind:
        if self.time is not None:
            return SplitKind.TIME
        return SplitKind.KEY if self.key is not None else SplitKind.HASH

    def describe(self) -> str:
        """One line for a job's log: which rule, on which column(s)."""
        if self.time is not None:
            return (f"time split on '{self.time.column}': train before "
                    f"{self.time.validation_from}, validation before {self.time.test_from}, "
                    "test from then on")
        if self.key is not None:
            return f"group split: a hash of split key '{self.key}'"
        return f"hash split: a hash of {len(self.columns)} feature column(s)"

    def to_dict(self) -> dict[str, Any]:
        shares = {"train": self.train_share, "validation": self.validation_share,
                  "test": self.test_share}
        if self.time is not None:
            return {"kind": SplitKind.TIME.value, "key": None, "columns": list(self.columns),
                    "time": self.time.to_dict(), "shares": shares,
                    "cuts": "date < validation_from: train; < test_from: validation; "
                            "else test"}
        return {
            "kind": self.kind.value,
            "hash": f"{HASH_NAME}-{DIGEST_BYTES * 8}",
            "salt": self.salt,
            "key": self.key,
            "columns": list(self.columns),
            "shares": shares,
            "cuts": "position < test: test; < test + validation: validation; else train",
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SplitRule:
        shares = data["shares"]
        time = data.get("time")
        return cls(salt=str(data.get("salt", "")), validation_share=float(shares["validation"]),
                   test_share=float(shares["test"]), columns=tuple(data["columns"]),
                   key=data.get("key"), time=TimeCuts.from_dict(time) if time else None)


def row_dates(frame: pd.DataFrame, cuts: TimeCuts) -> pd.Series:
    """The split column's dates (UTC; NaT where missing or unparseable)."""
    return parse_datetimes(frame[cuts.column].reset_index(drop=True), cuts.date_format) \
        .set_axis(frame.index)


def time_rule(frame: pd.DataFrame, column: str, date_format: str | None,
              validation_share: float, test_share: float) -> SplitRule:
    """A time split of `frame` on `column`: the cut dates at the shares of its date order (the
    row at each share's position in date order opens the newer split). ValueError naming the
    column and the count when some rows have no parseable date: they cannot be placed in
    time, and putting them anywhere would make the test split's 'newest rows' claim untrue."""
    dates = parse_datetimes(frame[column].reset_index(drop=True), date_format)
    undated = int(dates.isna().sum())
    if undated:
        raise ValueError(f"{undated} of {len(frame)} row(s) have no date in column '{column}' "
                         "(missing or unparseable)")
    ordered = np.sort(dates.to_numpy(dtype="datetime64[ns]"))
    rows = len(ordered)
    validation_at = min(int(np.floor(rows * (1.0 - validation_share - test_share))), rows - 1)
    test_at = min(int(np.floor(rows * (1.0 - test_share))), rows - 1)

    def iso(value: np.datetime64) -> str:
        return pd.Timestamp(value).tz_localize("UTC").isoformat()

    cuts = TimeCuts(column, date_format, iso(ordered[validation_at]), iso(ordered[test_at]))
    return SplitRule(salt="", validation_share=validation_share, test_share=test_share,
                     columns=(column,), time=cuts)


def _cell_text(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        return values.astype("float64").map(lambda v: "" if np.isnan(v) else repr(float(v)))
    return values.map(lambda v: "" if pd.isna(v) else str(v))


def row_positions(frame: pd.DataFrame, rule: SplitRule) -> pd.Series:
    """Each row's place in [0, 1), from the hash of the salt and its `rule.columns` values."""
    texts = [_cell_text(frame[column]) for column in rule.columns]
    joined = texts[0].str.cat(texts[1:], sep=FIELD_SEPARATOR) if len(texts) > 1 else texts[0]
    prefix = (rule.salt + SALT_SEPARATOR).encode()
    scale = float(2 ** (DIGEST_BYTES * 8))
    positions = [
        int.from_bytes(hashlib.blake2b(prefix + text.encode(), digest_size=DIGEST_BYTES).digest(),
                       "big") / scale
        for text in joined
    ]
    return pd.Series(positions, index=frame.index, dtype="float64")


def assign_splits(frame: pd.DataFrame, rule: SplitRule) -> pd.Series:
    """Each row's split name (one of SPLITS) under `rule`; under a time split a row without a
    date is train (`time_rule` refuses such rows before a split is made; a later reader of the
    rule gets a name for every row)."""
    train, validation, test = SPLITS
    if rule.time is not None:
        dates = row_dates(frame, rule.time)
        newer = [dates >= pd.Timestamp(cut) for cut in (rule.time.test_from,
                                                         rule.time.validation_from)]
        names = np.where(newer[0], test, np.where(newer[1], validation, train))
        return pd.Series(names, index=frame.index)
    positions = row_positions(frame, rule).to_numpy()
    names = np.where(positions < rule.test_share, test,
                     np.where(positions < rule.test_share + rule.validation_share,
                              validation, train))
    return pd.Series(names, index=frame.index)


def split_frame(frame: pd.DataFrame, rule: SplitRule) -> tuple[pd.DataFrame, ...]:
    """Train, validation and test frames (in SPLITS order), each in input row order."""
    names = assign_splits(frame, rule)
    return tuple(frame[names == name] for name in SPLITS)


def class_warnings(frames: Sequence[pd.DataFrame], target: str) -> list[str]:
    """One line per class that is missing from a split it should be in (classification)."""
    totals = pd.concat(frames)[target].value_counts()
    lines = []
    for name, frame in zip(SPLITS, frames, strict=True):
        present = set(frame[target])
        for label, count in totals.items():
            if label not in present:
                lines.append(f"warning: class {label!r} ({count} row(s)) has no rows in the "
                             f"{name} split: the split is a hash of each row, not stratified; "
                             "more rows of it would place some there")
    return lines
