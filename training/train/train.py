"""Training job (SageMaker script mode): compose the fitted transformer with an estimator and fit.

Channels and the model folder come from SM_CHANNEL_TRAIN, SM_CHANNEL_VALIDATION,
SM_CHANNEL_TRANSFORM and SM_MODEL_DIR; hyperparameters arrive as `--name value` flags (values
may be JSON-quoted strings); their names are `training.contract.HYPERPARAMETERS`, and
the defaults of the estimator's own (trees, rounds, regularisation) are the estimator's
(`ESTIMATOR_HYPERPARAMETERS`): one it does not use is refused.
Prints `validation:<metric>=<value>;` lines for the tuner and writes model.joblib + schema.json
into the model folder, with a copy of the `training` package's .py files under
`code/training/`: the serving container, isolated from the network, loads its code from there.

The train and validation channels are read whole: every CSV file under them, so the split
files of every preprocess host (`train-algo-1.csv`, `train-algo-2.csv`, ...) are used. The
transformer from the transform channel is refitted inside the model on all those train rows.

The model is first fit on the train split: the validation split then scores it (the
`validation:` lines and metrics.json are that fit's) and, for imbalanced binary
classification, chooses its decision threshold. Unless the job was launched by a tuning job
(``--tuned true``, which the tuning step sets, or SageMaker's ``_tuning_objective_metric``),
where the validation split chose the hyperparameters and the train-only fit ships, the shipped
model is then refit the same way on train + validation rows, with that threshold: more rows
for the same hyperparameters, and every class and category level either split holds.
HistGradientBoosting's early stopping (on by default above 10,000 rows) then holds out its own
10% of those rows, as it did of the train rows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file by the container: make `training` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import joblib
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from training.contract import (
    ALPHA_FLAG,
    DEFAULT_ESTIMATOR,
    DEFAULT_HYPERPARAMETERS,
    DEFAULT_SEED,
    ESTIMATOR_FLAG,
    ESTIMATOR_HYPERPARAMETER_NAMES,
    ESTIMATOR_HYPERPARAMETERS,
    ESTIMATORS,
    GATE_METRIC_FLAG,
    HYPERPARAMETER_PROBLEMS,
    HYPERPARAMETERS,
    LEARNING_RATE_FLAG,
    MAX_DEPTH_FLAG,
    MODEL_CODE_DIR,
    MODEL_FILE,
    N_ESTIMATORS_FLAG,
    PACKAGE,
    PREPROCESSOR_FILE,
    PROBLEM_TYPE_FLAG,
    SAGEMAKER_TUNING_HYPERPARAMETER,
    SCHEMA_FILE,
    SEED_FLAG,
    TARGET_FLAG,
    TRAINING_CHANNEL_ROOT,
    TRAINING_CHANNELS,
    TRAINING_METRICS_FILE,
    TRAINING_MODEL_DIR,
    TUNED_FLAG,
    VALIDATION_SPLIT,
    ClassWeight,
    DecisionThreshold,
    Estimator,
    Hyperparameter,
    ProblemType,
    estimator_defaults,
    format_metric_line,
    gate_metric,
    is_imbalanced,
    unused_hyperparameter_problem,
)
from training.data.schema import (
    DatasetSchema,
    coerce_features,
    coerce_target,
    load_schema,
    read_csv_folder,
)
from training.jsonio import to_jsonable, write_json
from training.train.imbalance import (
    ImbalancePlan,
    balanced_fit_params,
    class_counts,
    neutral_threshold,
    tune_threshold,
    with_threshold,
)
from training.train.scoring import score_model
from training.train.target import with_target_transform

NULLABLE_HYPERPARAMETERS = (MAX_DEPTH_FLAG,)
"""Hyperparameters that accept "None": a tree depth of None means unlimited."""
PACKAGE_DIR = Path(__file__).resolve().parents[1]
"""The `training` package this script runs from; its .py files ship inside the model."""


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1].strip()
    return value


def _hyperparameter(cast: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type that accepts SageMaker's stringified (possibly JSON-quoted) values."""

    def parse(value: str) -> Any:
        return cast(_unquote(value))

    parse.__name__ = getattr(cast, "__name__", "value")
    return parse


def _optional_int(value: str) -> int | None:
    if value.lower() in ("", "none", "null"):
        return None
    number = float(value)
    if not number.is_integer():
        raise ValueError(f"not an integer: {value}")
    return int(number)


def _bool(value: str) -> bool:
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no", ""):
        return False
    raise ValueError(f"not true or false: {value}")


def _int(value: str) -> int:
    number = _optional_int(value)
    if number is None:
        raise ValueError("a number is required")
    return number


def estimator_hyperparameters(name: str, problem_type: ProblemType | str,
                               given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The hyperparameters `name` uses: its contract defaults for `problem_type`
    (`contract.estimator_defaults`) with the `given` values winning; ValueError naming a
    given one it does not use."""
    given = dict(given or {})
    if name not in ESTIMATOR_HYPERPARAMETERS:
        raise ValueError(f"unknown estimator {name!r} (allowed: {', '.join(ESTIMATORS)})")
    for key, value in given.items():
        problem = unused_hyperparameter_problem(name, key)
        if problem:
            raise ValueError(f"--{key} {problem} (got {value!r})")
    defaults = estimator_defaults(name, problem_type)
    return {**defaults, **{key: value for key, value in given.items() if key in defaults}}


def build_estimator(
    name: str,
    problem_type: ProblemType | str,
    hyperparameters: Mapping[str, Any] | None = None,
    seed: int = DEFAULT_SEED,
) -> BaseEstimator:
    """A seeded estimator with its own defaults (`estimator_hyperparameters`) and the given
    `hyperparameters` (contract names, e.g. ``{"max-depth": 4}``); a `max-depth` of None is
    unlimited. `linear` is Ridge(alpha) or LogisticRegression(C=1/alpha)."""
    values = estimator_hyperparameters(name, problem_type, hyperparameters)
    classify = ProblemType(problem_type) is ProblemType.CLASSIFICATION
    if name == Estimator.GRADIENT_BOOSTING:
        cls = GradientBoostingClassifier if classify else GradientBoostingRegressor
        return cls(n_estimators=values[N_ESTIMATORS_FLAG],
                   learning_rate=values[LEARNING_RATE_FLAG],
                   max_depth=values[MAX_DEPTH_FLAG], random_state=seed)
    if name == Estimator.HIST_GRADIENT_BOOSTING:
        cls = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
        return cls(max_iter=values[N_ESTIMATORS_FLAG], learning_rate=values[LEARNING_RATE_FLAG],
                   max_depth=values[MAX_DEPTH_FLAG], random_state=seed)
    if name == Estimator.RANDOM_FOREST:
        cls = RandomForestClassifier if classify else RandomForestRegressor
        return cls(n_estimators=values[N_ESTIMATORS_FLAG], max_depth=values[MAX_DEPTH_FLAG],
                   random_state=seed, n_jobs=-1)
    alpha = values[ALPHA_FLAG]
    if classify:
        return LogisticRegression(C=1.0 / alpha, max_iter=2000, random_state=seed)
    return Ridge(alpha=alpha)


ONE_THREAD_CELLS = 1_000_000
"""Tables up to this many cells fit on one thread. Histogram gradient boosting's OpenMP
loops start and join threads for every node of every tree: on small tables that costs more
than the work, and on cores shared with other processes (a notebook, the local runtime's
parallel tests) the waiting threads spin. On two busy cores a fit on 412 × 30 took 1.4-2.2 s
on every core and 0.3 s on one (100,000 × 30: 12.6 s and 3.9 s). Larger tables are left to
the libraries: a job alone on its instance gains from its cores there."""


def build_model(preprocessor: Any, estimator: BaseEstimator) -> Pipeline:
    """The shipped model: the feature transformer followed by the estimator."""
    return Pipeline([("features", preprocessor), ("model", estimator)])


def fit_model(model: Pipeline, train: Any, schema: DatasetSchema,
              class_weight: str = ClassWeight.NONE.value) -> Pipeline:
    """Fit on a train split as read by `read_csv_folder` (text columns, typed here); with
    `class_weight` balanced, imbalanced classes are weighted (`imbalance.balanced_fit_params`)."""
    y = coerce_target(train[schema.target], schema)
    weights = (balanced_fit_params(y, class_weight)
               if schema.problem_type is ProblemType.CLASSIFICATION else {})
    features = coerce_features(train, schema.features)
    with threadpool_limits(limits=fit_threads(*features.shape)):
        return model.fit(features, y, **weights)


def fit_threads(rows: int, columns: int) -> int | None:
    """Threads for a fit on `rows` × `columns` cells: one up to ONE_THREAD_CELLS, else the
    libraries' own choice (None: every core)."""
    return 1 if rows * columns <= ONE_THREAD_CELLS else None


def train_model(model: Pipeline, train: Any, validation: Any, schema: DatasetSchema,
                class_weight: str = ClassWeight.BALANCED.value,
                threshold: str | float = DecisionThreshold.AUTO.value,
                metric: str | None = None) -> tuple[Any, ImbalancePlan]:
    """Fit `model` on the train split and, for classification, set its decision threshold
    on the validation split (`imbalance.tune_threshold`) for the gate `metric`; returns the
    shipped model and what was done about the class balance."""
    if schema.problem_type is not ProblemType.CLASSIFICATION:
        return fit_model(model, train, schema), ImbalancePlan(False, ClassWeight.NONE.value)
    y = coerce_target(train[schema.target], schema)
    imbalanced = is_imbalanced(class_counts(y))
    fitted = fit_model(model, train, schema, class_weight)
    weighted = imbalanced and ClassWeight(class_weight) is ClassWeight.BALANCED
    metric = gate_metric(schema.problem_type, metric).name
    shipped, chosen, note = tune_threshold(
        fitted, coerce_features(validation, schema.features),
        coerce_target(validation[schema.target], schema), threshold, metric, imbalanced,
        neutral_threshold(y, fitted.classes_, metric, weighted))
    return shipped, ImbalancePlan(imbalanced, ClassWeight.BALANCED.value if weighted
                                  else ClassWeight.NONE.value, chosen, note)


def refit_on_all_rows(model: Pipeline, train: Any, validation: Any, schema: DatasetSchema,
                      balance: ImbalancePlan) -> Any:
    """`model` (unfitted, or fitted: it is cloned) fit on the train and validation rows
    together, with the class weighting and decision threshold `balance` records from the
    train-only fit (`train_model`): the threshold the validation split chose applies to the
    model fit on more rows (unless a class only the validation rows hold makes it multiclass:
    then its own labels, as `tune_threshold` leaves any multiclass model)."""
    rows = pd.concat([train, validation], ignore_index=True)
    fitted = fit_model(clone(model), rows, schema, balance.class_weight)
    if balance.decision_threshold is None or len(fitted.classes_) != 2:
        return fitted
    return with_threshold(fitted, balance.decision_threshold)


def is_tuned(args: argparse.Namespace, unknown: Sequence[str]) -> bool:
    """Whether a tuning job launched this training job: ``--tuned true`` (the tuning step's),
    or SageMaker's reserved tuning hyperparameter among the leftovers."""
    marker = f"--{SAGEMAKER_TUNING_HYPERPARAMETER}"
    return bool(args.tuned) or any(arg == marker or arg.startswith(f"{marker}=")
                                   for arg in unknown)


def with_trained_classes(schema: DatasetSchema, model: Any) -> DatasetSchema:
    """The schema with every class the model was trained on among its class labels.

    transform/schema.json lists the classes of the primary preprocess host's shard only; the
    train rows of every host can hold more. On one host nothing changes.
    """
    if schema.problem_type is not ProblemType.CLASSIFICATION:
        return schema
    trained = to_jsonable(list(getattr(model, "classes_", [])))
    labels = sorted(set(schema.class_labels or ()) | set(trained))
    return replace(schema, class_labels=tuple(labels))


def _checked_text(name: str) -> Callable[[str], str]:
    """An argparse type applying the contract's rule for the text hyperparameter `name`."""
    rule = HYPERPARAMETER_PROBLEMS[name]

    def parse(value: str) -> str:
        value = _unquote(value)
        problem = rule(value)
        if problem:
            raise argparse.ArgumentTypeError(f"{problem} (got {value!r})")
        return value

    parse.__name__ = name
    return parse


def _hyperparameter_type(hyperparameter: Hyperparameter) -> Callable[[str], Any]:
    if hyperparameter.type is int:
        nullable = hyperparameter.name in NULLABLE_HYPERPARAMETERS
        return _hyperparameter(_optional_int if nullable else _int)
    if hyperparameter.name in HYPERPARAMETER_PROBLEMS:
        return _checked_text(hyperparameter.name)
    return _hyperparameter(hyperparameter.type)


def _flags(name: str) -> list[str]:
    """`--name`, and `--name_with_underscores` when the name has dashes."""
    underscored = name.replace("-", "_")
    return [f"--{name}"] + ([f"--{underscored}"] if underscored != name else [])


def parse_args(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """Known flags and the leftovers (SageMaker adds some, e.g. --sagemaker_program)."""
    env = os.environ
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    text = _hyperparameter(str)
    parser.add_argument(*_flags(TARGET_FLAG), type=text)
    parser.add_argument(
        *_flags(PROBLEM_TYPE_FLAG), type=text, choices=[p.value for p in ProblemType]
    )
    parser.add_argument(
        *_flags(ESTIMATOR_FLAG), type=text, default=DEFAULT_ESTIMATOR, choices=ESTIMATORS
    )
    for hyperparameter in HYPERPARAMETERS:
        per_estimator = hyperparameter.name in ESTIMATOR_HYPERPARAMETER_NAMES
        parser.add_argument(
            *_flags(hyperparameter.name),
            type=_hyperparameter_type(hyperparameter),
            default=argparse.SUPPRESS if per_estimator else hyperparameter.default,
            help=f"{hyperparameter.description} (default: "
                 + ("the estimator's" if per_estimator else str(hyperparameter.default)) + ")",
        )
    parser.add_argument(*_flags(SEED_FLAG), type=_hyperparameter(_int), default=DEFAULT_SEED)
    parser.add_argument(*_flags(TUNED_FLAG), type=_hyperparameter(_bool), default=False,
                        help="launched by a tuning job: ship the fit on the train split "
                             "(default false: refit on train + validation)")
    parser.add_argument(*_flags(GATE_METRIC_FLAG), type=text, default=None,
                        help="the metric a tuned decision threshold maximises (default: the "
                             "problem type's gate metric)")
    parser.add_argument(
        "--model-dir", type=Path, default=Path(env.get("SM_MODEL_DIR", TRAINING_MODEL_DIR))
    )
    channels = Path(TRAINING_CHANNEL_ROOT)
    for channel in TRAINING_CHANNELS:
        variable = f"SM_CHANNEL_{channel.upper()}"
        parser.add_argument(
            f"--{channel}", type=Path, default=Path(env.get(variable, channels / channel))
        )
    output = env.get("SM_OUTPUT_DATA_DIR")
    parser.add_argument("--output-data-dir", type=Path, default=Path(output) if output else None)
    args, unknown = parser.parse_known_args(argv)
    for name, value in given_hyperparameters(args).items():
        problem = unused_hyperparameter_problem(args.estimator, name)
        if problem:
            parser.error(f"--{name} {problem} (got {value!r})")
    return args, unknown


def given_hyperparameters(args: argparse.Namespace) -> dict[str, Any]:
    """The estimator hyperparameters set on the command line (the others are the estimator's
    defaults, resolved with the problem type by `estimator_hyperparameters`)."""
    return {name: getattr(args, name.replace("-", "_")) for name in ESTIMATOR_HYPERPARAMETER_NAMES
            if hasattr(args, name.replace("-", "_"))}


def hyperparameter_values(args: argparse.Namespace,
                          problem_type: ProblemType | str) -> dict[str, Any]:
    """The estimator, the hyperparameters it uses as resolved, the shared ones and the seed
    (snake_case keys)."""
    values = {ESTIMATOR_FLAG: args.estimator,
              **estimator_hyperparameters(args.estimator, problem_type,
                                          given_hyperparameters(args)),
              **{name: getattr(args, name.replace("-", "_")) for name in DEFAULT_HYPERPARAMETERS},
              SEED_FLAG: args.seed}
    return {name.replace("-", "_"): value for name, value in values.items()}


def copy_code(model_dir: Path, package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """Copy the package's .py files, stage packages included, to `<model_dir>/code/training/`
    (sorted, nothing else).

    The serving container runs with network isolation and cannot fetch code from S3; with the
    code inside model.tar.gz it imports `training.serve.inference` from `code/`.
    """
    destination = model_dir / MODEL_CODE_DIR / PACKAGE
    destination.mkdir(parents=True, exist_ok=True)
    copied = []
    for source in sorted(package_dir.rglob("*.py")):
        target = destination / source.relative_to(package_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        copied.append(Path(shutil.copyfile(source, target)))
    return copied


def _check_matches(schema: DatasetSchema, target: str | None, problem_type: str | None) -> None:
    if target is not None and target != schema.target:
        raise ValueError(
            f"--target {target!r} differs from the preprocessed target {schema.target!r}"
        )
    if problem_type is not None and problem_type != schema.problem_type.value:
        raise ValueError(
            f"--problem-type {problem_type!r} differs from the preprocessed "
            f"problem type {schema.problem_type.value!r}"
        )


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    args, unknown = parse_args(argv)
    if unknown:
        print(f"ignoring arguments: {' '.join(unknown)}", file=sys.stderr)
    schema = load_schema(args.transform / SCHEMA_FILE)
    _check_matches(schema, args.target, args.problem_type)
    estimator = build_estimator(args.estimator, schema.problem_type,
                                given_hyperparameters(args), args.seed)
    estimator = with_target_transform(estimator, args.target_transform, schema.problem_type,
                                      args.seed)
    train_rows, validation = read_csv_folder(args.train), read_csv_folder(args.validation)
    untrained = build_model(joblib.load(args.transform / PREPROCESSOR_FILE), estimator)
    model, balance = train_model(
        clone(untrained), train_rows, validation, schema, args.class_weight,
        args.decision_threshold, args.gate_metric,
    )
    if balance.imbalanced or balance.decision_threshold is not None:
        print(f"class balance: {'imbalanced' if balance.imbalanced else 'balanced'}; "
              f"class weights {balance.class_weight}; decision threshold "
              f"{balance.decision_threshold} ({balance.threshold_note})")
    metrics = score_model(model, validation, with_trained_classes(schema, model))
    tuned = is_tuned(args, unknown)
    final_fit = {"splits": ["train"] if tuned else ["train", VALIDATION_SPLIT],
                 "rows": len(train_rows) + (0 if tuned else len(validation)),
                 "validation_scores_from": "the fit on the train split"}
    print(f"validation scores of the fit on the {len(train_rows)} train rows; the shipped model "
          + ("is that fit (tuned: the validation split chose the hyperparameters)" if tuned
             else f"is refit on train + validation ({final_fit['rows']} rows)"))
    for name, value in metrics.items():
        print(format_metric_line(VALIDATION_SPLIT, name, value))
    if not tuned:
        model = refit_on_all_rows(untrained, train_rows, validation, schema, balance)
    schema = with_trained_classes(schema, model)
    args.model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, args.model_dir / MODEL_FILE)
    write_json(args.model_dir / SCHEMA_FILE, schema.to_dict())
    copy_code(args.model_dir)
    if args.output_data_dir is not None:
        write_json(
            args.output_data_dir / TRAINING_METRICS_FILE,
            {"hyperparameters": hyperparameter_values(args, schema.problem_type),
             VALIDATION_SPLIT: metrics,
             "class_balance": balance.to_dict(),
             "final_fit": final_fit},
        )
    return metrics


if __name__ == "__main__":
    main()
