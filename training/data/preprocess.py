"""Data preparation job: validate, clean, split by row hash, fit the feature transformer.

    python3 training/data/preprocess.py --data-dir /opt/ml/processing/input/data \
        --output-dir /opt/ml/processing/output --target COLUMN --problem-type classification

Writes train/train.csv, validation/validation.csv, test/test.csv (raw features and target, the
input's column order) and transform/preprocessor.joblib + transform/schema.json +
transform/feature_plan.json. schema.json carries the fingerprint of the input files
(`training.lineage`), which train.py copies into the model with the rest of the schema: each
model says which data it was trained on, and Evaluate compares that with the champion's.

Before anything is written the data goes through the same checks `mlops up --local` runs before
any job (`training.data.checks.check_frame`): a bad upload fails here with the same one-line
messages. The features follow the data (`training.data.features.plan_features`: column roles on
every labelled row, the leakage check on the train split, the transformer fitted on the train
split; see `plan_and_split_rule`): ID-like and constant columns are dropped
(``--keep-id``, ``--keep-constant`` keep them), dates become calendar features, many-level
text is target-encoded, and a column that alone predicts the target stops the run
(``--leak-policy drop`` or ``proceed`` instead); for regression only an exact match stops it,
an almost perfect one is kept with a warning line on stderr. The fitted transformer is part
of the model, so serving applies the same features to raw requests.

How rows are split (`training.data.splits`; the rule, with its column and cut dates or hash
salt, is written into schema.json and printed):
* ``--split-key COLUMN`` (a customer or patient ID): the group split, a hash of that column, so
  all rows of an entity share a split; the key is then not a feature.
* else a date column (``--split-time COLUMN``, or the data's one date column): the time split,
  oldest rows train, newest test. Several date columns and none declared stop the run (which
  one orders the rows is the user's call); ``--split-time none`` asks for the hash split.
* else a hash of the feature values: a retrain on more rows keeps every old row in its old
  split, and duplicate rows are kept, each copy in the same split.

On a processing job with N > 1 instances (input files sharded across them, every instance
uploading to the same prefix; see `training.cluster.load_cluster`) each host splits its own
files by the same row hash (a row lands where one host would put it, as long as the hosts
agree which columns are ID-like) and writes `train/train-<host>.csv` (likewise validation and
test); the training and evaluation channels read every file in the folder. Only the primary
host (algo-1) writes transform/: its schema and transformer are fitted on the primary's shard,
which is a uniform sample of the files, not on all the data. Train refits the transformer
inside the model on every host's train rows, and adds to the model's schema.json any class
the primary's shard lacked; transform/schema.json (feature types, nullability, class labels)
stays the primary's view. A secondary host given no files logs it and exits 0; the primary
without files fails as a single host does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file by the container: make `training` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import joblib
import pandas as pd

from training.cluster import SINGLE_HOST, Cluster, load_cluster
from training.contract import (
    DEFAULT_SEED,
    FEATURE_PLAN_FILE,
    LEAK_POLICY_FLAG,
    NO_SPLIT_TIME,
    PREPROCESSOR_FILE,
    PROCESSING_DATA_DIR,
    PROCESSING_OUTPUT_DIR,
    SCHEMA_FILE,
    SPLIT_KEY_FLAG,
    SPLIT_TIME_FLAG,
    SPLITS,
    TRANSFORM_OUTPUT,
    ProblemType,
)
from training.data.alerts import AlertKind, is_stopping_leak
from training.data.checks import checked_schema
from training.data.features import (
    DropReason,
    FeaturePlan,
    LeakPolicy,
    build_transformer,
    plan_columns,
    plan_features,
)
from training.data.problems import SchemaError, exit_on_data_error
from training.data.schema import (
    DatasetSchema,
    Feature,
    coerce_features,
    coerce_target,
    features_from_json,
    has_csv_files,
    list_csv_files,
    read_csv_folder,
)
from training.data.splits import (
    SplitRule,
    assign_splits,
    class_warnings,
    split_frame,
    time_rule,
)
from training.jsonio import read_json, write_json
from training.lineage import fingerprint_files, short_digest


def load_expected_features(path: str | Path) -> tuple[Feature, ...]:
    """Expected feature columns from a --schema file (the shape of constraints.json/schema.json)."""
    return features_from_json(read_json(path))


def clean(data: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """Typed columns in input order, without rows missing the target.

    Duplicate rows stay: the split puts every copy in one split (`training.data.splits`), and
    dropping them would change the class shares and the weight of the rows that repeat."""
    typed = coerce_features(data, schema.features)
    labelled = data[schema.target].notna()
    typed = typed[labelled]
    typed[schema.target] = coerce_target(data.loc[labelled, schema.target], schema)
    typed = typed[list(schema.columns)]
    if typed.empty:
        raise SchemaError(f"no data left after dropping rows without target '{schema.target}'")
    return typed.reset_index(drop=True)


def check_fractions(validation_fraction: float, test_fraction: float) -> None:
    """ValueError unless both fractions are in (0, 1) and leave rows to train on."""
    for name, value in (
        ("validation_fraction", validation_fraction),
        ("test_fraction", test_fraction),
    ):
        if not 0.0 < value < 1.0:
            raise ValueError(f"{name} must be between 0 and 1 (got {value})")
    if validation_fraction + test_fraction >= 1.0:
        raise ValueError(
            "validation_fraction + test_fraction must be below 1 "
            f"(got {validation_fraction} + {test_fraction})"
        )


def _time_split_column(plan: FeaturePlan, split_time: str | None) -> str | None:
    """The date column a time split uses: the declared one, else the one date column the plan
    found; None for ``none`` or no date column. SchemaError for a declared column that is not a
    date, and for several date columns with none declared (which one orders the rows is the
    user's call: a birth date and an order date give very different test splits)."""
    if split_time == NO_SPLIT_TIME:
        return None
    if split_time is not None:
        if split_time not in plan.datetime:
            raise SchemaError(f"--{SPLIT_TIME_FLAG} '{split_time}' is not a date column of the "
                              f"data (date columns: {list(plan.datetime)}); name one, or "
                              f"'{NO_SPLIT_TIME}' for a hash split")
        return split_time
    if len(plan.datetime) > 1:
        names = ", ".join(f"'{name}'" for name in plan.datetime)
        raise SchemaError(f"the data has several date columns ({names}): declare the one that "
                          f"orders the rows in time with --{SPLIT_TIME_FLAG} COLUMN (the "
                          f"stack's splitTime), or --{SPLIT_TIME_FLAG} {NO_SPLIT_TIME} for a "
                          "hash split")
    return plan.datetime[0] if plan.datetime else None


def split_rule(
    schema: DatasetSchema,
    plan: FeaturePlan,
    data: pd.DataFrame,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = DEFAULT_SEED,
    split_key: str | None = None,
    split_time: str | None = None,
    cluster: Cluster = SINGLE_HOST,
) -> tuple[SplitRule, str | None]:
    """The split rule, and a note when an automatic time split was not made (else None).

    A declared split key: a hash of it (the group split). Else a date column (declared, or the
    one the plan found, unless `split_time` is "none"): a time split of `data` (the cleaned,
    labelled rows).
    Else a hash of every feature but the ID-like ones the plan drops (copies that differ only by
    a row number share a split). SchemaError for a bad key or time column, both declared, a
    declared date column with undated rows, or a declared time split on a cluster (each host
    sees its own files, so none knows where the cuts fall). A detected date column with undated
    rows, or on a cluster, gives the hash split and the note says why."""
    check_fractions(validation_fraction, test_fraction)
    if split_key is not None and split_time not in (None, NO_SPLIT_TIME):
        raise SchemaError(f"--{SPLIT_KEY_FLAG} '{split_key}' and --{SPLIT_TIME_FLAG} "
                          f"'{split_time}' ask for two split rules; set one")
    note = None
    if split_key is not None:
        if split_key == schema.target:
            raise SchemaError(f"split key '{split_key}' is the target; name an ID column")
        if split_key not in schema.feature_names:
            raise SchemaError(f"split key '{split_key}' is not a column of the data "
                              f"(columns: {schema.feature_names})")
        return SplitRule(salt=str(seed), validation_share=validation_fraction,
                         test_share=test_fraction, columns=(split_key,), key=split_key), None
    time_column = _time_split_column(plan, split_time)
    if time_column is not None:
        declared = split_time is not None
        if cluster.is_multi_host:
            if declared:
                raise SchemaError(f"--{SPLIT_TIME_FLAG} '{time_column}' needs every row's date "
                                  f"on one host; this job runs on {len(cluster.hosts)} hosts, "
                                  "each splitting its own files: run it on one instance")
            note = (f"date column '{time_column}' found, but each of the {len(cluster.hosts)} "
                    "hosts splits its own files: hash split (one instance makes a time split)")
        else:
            try:
                return time_rule(data, time_column, plan.datetime_formats.get(time_column),
                                 validation_fraction, test_fraction), None
            except ValueError as error:
                if declared:
                    raise SchemaError(f"time split on '{time_column}': {error}; fill or drop "
                                      f"those rows, or set --{SPLIT_TIME_FLAG} "
                                      f"{NO_SPLIT_TIME} for a hash split") from None
                note = (f"date column '{time_column}' not used for a time split: {error}; "
                        f"hash split instead (fill the dates and set --{SPLIT_TIME_FLAG} "
                        f"{time_column} for a time split)")
    id_like = {name for name, reason in plan.dropped.items()
               if reason == DropReason.ID_LIKE.value}
    columns = tuple(name for name in schema.feature_names if name not in id_like)
    columns = columns or tuple(schema.feature_names)
    return SplitRule(salt=str(seed), validation_share=validation_fraction,
                     test_share=test_fraction, columns=columns), note


def split_dataset(
    data: pd.DataFrame, schema: DatasetSchema, rule: SplitRule,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Train, validation and test frames by `rule`; a warning line (stderr) for each class
    missing from a split. SchemaError when a split is empty or the key has missing values."""
    if rule.key is not None and (missing := int(data[rule.key].isna().sum())):
        raise SchemaError(f"split key '{rule.key}' has {missing} missing value(s); every row "
                          "needs one to be placed in a split")
    train, validation, test = split_frame(data, rule)
    empty = [name for name, frame in zip(SPLITS, (train, validation, test), strict=True)
             if frame.empty]
    if empty and rule.time is not None:
        raise SchemaError(f"too few distinct dates in '{rule.time.column}' to split {len(data)} "
                          f"rows in time: the {' and '.join(empty)} split(s) would be empty; "
                          f"set --{SPLIT_TIME_FLAG} {NO_SPLIT_TIME} for a hash split")
    if empty:
        raise SchemaError(f"too few rows ({len(data)}) to split: the {' and '.join(empty)} "
                          "split(s) would be empty")
    if schema.problem_type is ProblemType.CLASSIFICATION:
        for line in class_warnings((train, validation, test), schema.target):
            print(line, file=sys.stderr)
    return train, validation, test


def split_file(split: str, cluster: Cluster = SINGLE_HOST) -> str:
    """`train/train.csv` on one host; `train/train-algo-2.csv` on each host of a cluster."""
    suffix = f"-{cluster.current_host}" if cluster.is_multi_host else ""
    return f"{split}/{split}{suffix}.csv"


def model_schema(schema: DatasetSchema, plan: FeaturePlan) -> DatasetSchema:
    """The schema of what the model reads: the plan's feature columns (input order) and the
    dropped ones with their reason."""
    used = set(plan.feature_columns)
    return replace(schema, features=tuple(f for f in schema.features if f.name in used),
                   dropped=dict(plan.dropped))


def plan_and_split_rule(
    cleaned: pd.DataFrame,
    schema: DatasetSchema,
    *,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = DEFAULT_SEED,
    split_key: str | None = None,
    split_time: str | None = None,
    cluster: Cluster = SINGLE_HOST,
    keep_id: bool = False,
    keep_constant: bool = False,
    leak_policy: LeakPolicy | str = LeakPolicy.STOP,
) -> tuple[SplitRule, str | None, FeaturePlan]:
    """The split rule (and `split_rule`'s note), then the feature plan with leakage decided on
    the training split, for `clean`'s labelled rows.

    The order matters. Column roles (ID-like, constant, date) read no target, so they are
    decided on every labelled row: the rule needs them (IDs are not hashed; a date column makes
    a time split), and Profile decides them on the same rows. Whether a column leaks the target
    reads labels, so it is decided on the training split only: a test label choosing the
    features would be a look at the test split. (On a small table the training split alone can
    hide a leak that all rows show by one noisy row; the price is paid for an honest test
    split.) Profile computes the same rule, so its report names the same leaks
    (`training.eda.profile`). The split key, if any, is not a feature: the test split holds
    only entities train never saw, so it could be scored only on entities unknown to it."""
    columns = plan_columns(cleaned, schema.target, schema.problem_type, keep_id=keep_id,
                           keep_constant=keep_constant, seed=seed)
    rule, note = split_rule(schema, columns, cleaned, validation_fraction, test_fraction, seed,
                            split_key, split_time, cluster)
    training_rows = assign_splits(cleaned, rule) == SPLITS[0]
    plan = plan_features(cleaned, schema.target, schema.problem_type, keep_id=keep_id,
                         keep_constant=keep_constant, leak_policy=leak_policy, seed=seed,
                         leak_rows=training_rows, columns=columns,
                         drop={split_key: DropReason.SPLIT_KEY.value} if split_key else None)
    return rule, note, plan


def preprocess(
    data: pd.DataFrame,
    target: str,
    problem_type: ProblemType | str,
    output_dir: str | Path,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = DEFAULT_SEED,
    expected: Sequence[Feature] | None = None,
    cluster: Cluster = SINGLE_HOST,
    leak_policy: LeakPolicy | str = LeakPolicy.STOP,
    keep_id: bool = False,
    keep_constant: bool = False,
    training_data: Mapping[str, Any] | None = None,
    split_key: str | None = None,
    split_time: str | None = None,
) -> dict[str, Any]:
    """Check, clean, split, plan and fit the features on train; write it all under `output_dir`.

    Raises DataCheckError (the pre-flight's problems), SchemaError, or LeakError when a column
    leaks the target under the "stop" policy. On a cluster the split files carry the host's
    name and only the primary writes transform/.
    """
    output_dir = Path(output_dir)
    check_fractions(validation_fraction, test_fraction)
    schema = checked_schema(data, target, problem_type, expected, validation_fraction,
                            test_fraction)
    cleaned = clean(data, schema)
    rule, note, plan = plan_and_split_rule(
        cleaned, schema, validation_fraction=validation_fraction, test_fraction=test_fraction,
        seed=seed, split_key=split_key, split_time=split_time, cluster=cluster,
        keep_id=keep_id, keep_constant=keep_constant, leak_policy=leak_policy)
    print(rule.describe() + (f" ({note})" if note else ""))
    frames = split_dataset(cleaned, schema, rule)
    schema = replace(model_schema(schema, plan), training_data=training_data,
                     split=rule.to_dict())
    splits = dict(zip(SPLITS, frames, strict=True))
    for name, frame in splits.items():
        path = output_dir / split_file(name, cluster)
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
    if cluster.is_primary:
        train = frames[0]
        preprocessor = build_transformer(plan).fit(
            coerce_features(train, schema.features), train[schema.target])
        transform_dir = output_dir / TRANSFORM_OUTPUT
        transform_dir.mkdir(parents=True, exist_ok=True)
        joblib.dump(preprocessor, transform_dir / PREPROCESSOR_FILE)
        write_json(transform_dir / SCHEMA_FILE, schema.to_dict())
        write_json(transform_dir / FEATURE_PLAN_FILE, plan.to_dict())
    for alert in plan.alerts:
        if alert.kind == AlertKind.TARGET_LEAKAGE.value and not is_stopping_leak(alert):
            print(f"warning: {alert.message}", file=sys.stderr)
    return {
        "rows_in": len(data),
        "rows_dropped_missing_target": int(data[target].isna().sum()),
        "rows_after_cleaning": len(cleaned),
        **{f"rows_{name}": len(frame) for name, frame in splits.items()},
        "split": rule.kind.value,
        "dropped_columns": dict(plan.dropped),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("--data-dir", type=Path, default=Path(PROCESSING_DATA_DIR))
    parser.add_argument("--output-dir", type=Path, default=Path(PROCESSING_OUTPUT_DIR))
    parser.add_argument("--target", required=True)
    parser.add_argument("--problem-type", required=True, choices=[p.value for p in ProblemType])
    parser.add_argument("--validation-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--schema", type=Path, help="JSON of expected feature columns and types")
    parser.add_argument(f"--{LEAK_POLICY_FLAG}", dest="leak_policy", default=LeakPolicy.STOP.value,
                        choices=[p.value for p in LeakPolicy],
                        help="a column that alone predicts the target: stop the run (default), "
                             "drop it, or proceed with it")
    parser.add_argument(f"--{SPLIT_KEY_FLAG}", dest="split_key", default=None,
                        help="a column (customer or patient ID) whose value decides each row's "
                             "split, so all rows of an entity share one (the group split; "
                             "default: a date column's time split, else a hash of the feature "
                             "values)")
    parser.add_argument(f"--{SPLIT_TIME_FLAG}", dest="split_time", default=None,
                        help="the date column whose order decides the splits (oldest rows "
                             f"train, newest test), or '{NO_SPLIT_TIME}' for a hash split "
                             "(default: the data's date column, if it has exactly one)")
    parser.add_argument("--keep-id", action="store_true",
                        help="keep ID-like columns as features (default: dropped)")
    parser.add_argument("--keep-constant", action="store_true",
                        help="keep constant columns as features (default: dropped)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Row counts of what was written; empty when a secondary host was given no files."""
    args = parse_args(argv)
    cluster = load_cluster()
    if not cluster.is_primary and not has_csv_files(args.data_dir):
        print(f"{cluster.current_host}: no *.csv files under {args.data_dir}; nothing to write")
        return {}
    expected = load_expected_features(args.schema) if args.schema else None
    # A host of a cluster sees its shard of the files only: its fingerprint is partial.
    training_data = fingerprint_files(list_csv_files(args.data_dir),
                                      complete=not cluster.is_multi_host)
    counts = preprocess(
        read_csv_folder(args.data_dir),
        args.target,
        args.problem_type,
        args.output_dir,
        args.validation_fraction,
        args.test_fraction,
        args.seed,
        expected,
        cluster,
        leak_policy=args.leak_policy,
        keep_id=args.keep_id,
        keep_constant=args.keep_constant,
        training_data=training_data,
        split_key=args.split_key,
        split_time=args.split_time,
    )
    host = f"{cluster.current_host}: " if cluster.is_multi_host else ""
    print(host + " ".join(f"{key}={value}" for key, value in counts.items())
          + f" training_data={short_digest(training_data['digest'])}")
    return counts


if __name__ == "__main__":
    exit_on_data_error(main)
