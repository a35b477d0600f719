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
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from training.contract import SPLITS

HASH_NAME = "blake2b"
DIGEST_BYTES = 8
FIELD_SEPARATOR = "\x1f"
SALT_SEPARATOR = "\x1e"


@dataclass(frozen=True)
class SplitRule:
    """How rows were assigned to splits: enough to recompute every row's split."""

    salt: str
    validation_share: float
    test_share: float
    columns: tuple[str, ...]
    """The hashed columns, in order: the split key alone, or the hashed feature columns."""
    key: str | None = None
    """The declared split key (an ID column), or None for the content hash."""

    @property
    def train_share(self) -> float:
        return 1.0 - self.validation_share - self.test_share

    def to_dict(self) -> dict[str, Any]:
        return {
            "hash": f"{HASH_NAME}-{DIGEST_BYTES * 8}",
            "salt": self.salt,
            "key": self.key,
            "columns": list(self.columns),
            "shares": {"train": self.train_share, "validation": self.validation_share,
                       "test": self.test_share},
            "cuts": "position < test: test; < test + validation: validation; else train",
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SplitRule:
        shares = data["shares"]
        return cls(salt=str(data["salt"]), validation_share=float(shares["validation"]),
                   test_share=float(shares["test"]), columns=tuple(data["columns"]),
                   key=data.get("key"))


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
    """Each row's split name (one of SPLITS) under `rule`."""
    positions = row_positions(frame, rule).to_numpy()
    train, validation, test = SPLITS
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
