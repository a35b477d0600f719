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
messages. The features follow the data (`training.data.features.plan_features`, on every labelled
row; the transformer is fitted on the train split): ID-like and constant columns are dropped
(``--keep-id``, ``--keep-constant`` keep them), dates become calendar features, many-level
text is target-encoded, and a column that alone predicts the target stops the run
(``--leak-policy drop`` or ``proceed`` instead); for regression only an exact match stops it,
an almost perfect one is kept with a warning line on stderr. The fitted transformer is part
of the model, so serving applies the same features to raw requests.

A row's split is a hash of its feature values, or of its ``--split-key`` column
(`training.data.splits`): a retrain on more rows keeps every old row in its old split, and
duplicate rows are kept, each copy in the same split. The rule is written into schema.json.

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
    PREPROCESSOR_FILE,
    PROCESSING_DATA_DIR,
    PROCESSING_OUTPUT_DIR,
    SCHEMA_FILE,
    SPLIT_KEY_FLAG,
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
from training.data.splits import SplitRule, class_warnings, split_frame
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


def split_rule(
    schema: DatasetSchema,
    plan: FeaturePlan,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = DEFAULT_SEED,
    split_key: str | None = None,
) -> SplitRule:
    """The split rule: hash the split key, or every feature but the ID-like ones the plan drops
    (copies that differ only by a row number share a split). SchemaError for a bad key."""
    check_fractions(validation_fraction, test_fraction)
    if split_key is not None:
        if split_key == schema.target:
            raise SchemaError(f"split key '{split_key}' is the target; name an ID column")
        if split_key not in schema.feature_names:
            raise SchemaError(f"split key '{split_key}' is not a column of the data "
                              f"(columns: {schema.feature_names})")
        columns: tuple[str, ...] = (split_key,)
    else:
        id_like = {name for name, reason in plan.dropped.items()
                   if reason == DropReason.ID_LIKE.value}
        columns = tuple(name for name in schema.feature_names if name not in id_like)
        columns = columns or tuple(schema.feature_names)
    return SplitRule(salt=str(seed), validation_share=validation_fraction,
                     test_share=test_fraction, columns=columns, key=split_key)


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
    # The plan reads every labelled row, as Profile's alerts do, so the report and the run
    # agree about a column (on 70% of a small table one noisy row can hide a leak); only the
    # transformer is fitted, on the train split.
    plan = plan_features(cleaned, target, schema.problem_type, keep_id=keep_id,
                         keep_constant=keep_constant, leak_policy=leak_policy, seed=seed)
    rule = split_rule(schema, plan, validation_fraction, test_fraction, seed, split_key)
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
                             "split (default: a hash of the feature values)")
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
    )
    host = f"{cluster.current_host}: " if cluster.is_multi_host else ""
    print(host + " ".join(f"{key}={value}" for key, value in counts.items())
          + f" training_data={short_digest(training_data['digest'])}")
    return counts


if __name__ == "__main__":
    exit_on_data_error(main)
