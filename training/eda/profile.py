"""EDA job: an HTML data report and the drift-monitoring baseline.

    python3 training/eda/profile.py --data-dir /opt/ml/processing/input/data \
        --report-dir /opt/ml/processing/output/report \
        --baseline-dir /opt/ml/processing/output/baseline --target COLUMN --problem-type ...

Report folder: report.html (self-contained, `training.eda.page`): our alerts first
(`training.data.alerts`: ID-like, constant, date, high-cardinality, missing, skewed, duplicate
rows, class imbalance, integer codes, target leakage, each with its evidence), what Preprocess
does with each special column, rows and the target over time, each feature against the target
(`training.eda.target_views`), then skrub's interactive TableReport of the table as the model
sees it (`training.eda.table_report`). Beside it the PNGs, summary.json and alerts.json.
Without matplotlib (it is not in the job image) the report and summary are written without
plots; without skrub, with a plain statistics table. The data goes through the pre-flight's
checks first (`training.data.checks.checked_schema`), so a bad upload fails with the same
one-line messages. Baseline folder: statistics.json and constraints.json in SageMaker Model
Monitor's format (see `training.baseline`): what drift checks compare live traffic against;
constraints.json is also valid as preprocess --schema.

On a processing job with N > 1 instances (input files sharded across them, every instance
uploading to the same prefixes; see `training.cluster.load_cluster`) each host profiles its own
files. The primary host (algo-1) writes the folders above, so the registered baseline
`baseline/statistics.json` describes the primary's shard: a uniform sample of the files, not all
the data (its report says so). Every other host writes `report/<host>/` and `baseline/<host>/`,
or, given no files, logs it and exits 0. The primary without files fails as a single host does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file by the container: make `training` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pandas as pd

from training import plots
from training.baseline import baseline_constraints
from training.cluster import SINGLE_HOST, Cluster, load_cluster
from training.contract import (
    ALERTS_FILE,
    BASELINE_CONSTRAINTS_FILE,
    BASELINE_OUTPUT,
    BASELINE_STATISTICS_FILE,
    CLASS_WEIGHT_FLAG,
    DECISION_THRESHOLD_FLAG,
    DEFAULT_HYPERPARAMETERS,
    DEFAULT_SEED,
    HYPERPARAMETER_PROBLEMS,
    PROCESSING_DATA_DIR,
    PROCESSING_OUTPUT_DIR,
    REPORT_FILE,
    REPORT_OUTPUT,
    SEED_FLAG,
    SPLIT_KEY_FLAG,
    SPLIT_TIME_FLAG,
    SPLITS,
    SUMMARY_FILE,
    ProblemType,
)
from training.data.alerts import (
    Alert,
    AlertKind,
    AlertSeverity,
    alerts,
    by_severity,
    is_stopping_leak,
    parse_datetimes,
    write_alerts,
)
from training.data.checks import checked_schema
from training.data.features import plan_columns
from training.data.preprocess import clean, split_rule
from training.data.problems import exit_on_data_error
from training.data.schema import (
    DatasetSchema,
    coerce_features,
    coerce_target,
    has_csv_files,
    read_csv_folder,
)
from training.data.splits import assign_splits
from training.eda.drift_baseline import drift_statistics, monitoring_plan
from training.eda.page import (
    alerts_section,
    column_statistics_table,
    feature_target_section,
    over_time_section,
    overview_section,
    render_page,
    roles_section,
)
from training.eda.table_report import SKRUB_MISSING_NOTE, table_report_html
from training.eda.target_views import feature_views, over_time, target_outcome
from training.jsonio import write_json

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)

TOP_CATEGORIES = 10
"""Categories listed per column in the report and summary.json."""


def _quantile_key(q: float) -> str:
    return f"p{round(q * 100):02d}"


def numeric_stats(values: pd.Series) -> dict[str, Any]:
    """Count, missing, moments, min/max and quantiles of a float column."""
    present = values.dropna()
    stats: dict[str, Any] = {
        "count": int(present.size),
        "missing": int(values.isna().sum()),
        "missing_fraction": float(values.isna().mean()),
        "unique": int(present.nunique()),
    }
    if present.empty:
        return stats
    quantiles = present.quantile(list(QUANTILES))
    stats.update(
        mean=float(present.mean()),
        std=float(present.std()) if present.size > 1 else None,
        min=float(present.min()),
        max=float(present.max()),
        quantiles={_quantile_key(q): float(v) for q, v in zip(QUANTILES, quantiles, strict=True)},
    )
    return stats


def category_counts(values: pd.Series) -> pd.Series:
    """Counts per category, most frequent first, ties by name (deterministic)."""
    counts = values.dropna().astype(str).value_counts()
    order = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return pd.Series(dict(order), dtype="int64")


def categorical_stats(values: pd.Series) -> dict[str, Any]:
    """Count, missing, cardinality and top categories of a text column."""
    counts = category_counts(values)
    return {
        "count": int(counts.sum()),
        "missing": int(values.isna().sum()),
        "missing_fraction": float(values.isna().mean()),
        "unique": int(counts.size),
        "top_categories": {str(k): int(v) for k, v in counts.head(TOP_CATEGORIES).items()},
    }


def target_summary(target: pd.Series, schema: DatasetSchema) -> dict[str, Any]:
    """Class balance (classification) or the distribution (regression) of the labelled rows."""
    summary: dict[str, Any] = {"name": schema.target, "problem_type": schema.problem_type.value}
    labelled = target.dropna()
    if schema.problem_type is ProblemType.REGRESSION:
        summary.update(numeric_stats(target))
        return summary
    counts = labelled.value_counts()
    classes = list(schema.class_labels or ())
    summary["missing"] = int(target.isna().sum())
    summary["class_counts"] = {str(c): int(counts.get(c, 0)) for c in classes}
    summary["class_fractions"] = {str(c): float(counts.get(c, 0) / labelled.size) for c in classes}
    summary["majority_fraction"] = float(counts.max() / labelled.size)
    return summary




def _target_figure(target: pd.Series, schema: DatasetSchema) -> Any:
    regression = schema.problem_type is ProblemType.REGRESSION
    figure = plots.new_figure(5.0, 3.2, fixed=regression and len(schema.target) <= 40)
    axes = figure.subplots()
    if not regression:
        counts = target.value_counts().reindex(list(schema.class_labels or ()), fill_value=0)
        axes.bar([str(c) for c in counts.index], counts.to_numpy(), color="#8172b2")
        axes.set(xlabel=schema.target, ylabel="rows", title="Target balance")
    else:
        axes.hist(target.dropna().to_numpy(), bins=30, color="#8172b2")
        axes.set(xlabel=schema.target, ylabel="rows", title="Target distribution")
    return figure




def feature_decisions(found: Sequence[Alert]) -> dict[str, list[str]]:
    """What Preprocess does by default with the alerted columns (`plan_features` acts on the
    same alerts): dropped IDs and constants, dates as calendar features, leaks stop the run,
    and a regression column that predicts the target almost (not exactly) perfectly is kept
    with a warning."""
    def columns(kind: AlertKind) -> list[str]:
        return [a.column for a in found if a.kind == kind.value and a.column is not None]

    leaks = columns(AlertKind.TARGET_LEAKAGE)
    stopping = {a.column for a in found if is_stopping_leak(a)}
    return {"dropped_id_like": columns(AlertKind.ID_LIKE),
            "dropped_constant": columns(AlertKind.CONSTANT),
            "calendar_features": columns(AlertKind.DATETIME),
            "leaking_stop_the_run": [name for name in leaks if name in stopping],
            "suspected_leak_kept": [name for name in leaks if name not in stopping]}



MAX_TIME_PLOTS = 3
"""Date columns given an over-time chart (the first ones, in column order)."""
ID_EXAMPLES = 3


def _over_time_figure(name: str, periods: pd.DataFrame, outcome_label: str) -> Any:
    figure = plots.new_figure(6.0, 3.2)
    rows = figure.subplots()
    width = (periods.index[1] - periods.index[0]) * 0.8 if len(periods) > 1 else 1
    rows.bar(periods.index, periods["rows"], width=width, color="#c8d3e6", label="rows")
    rows.set_ylabel("rows")
    outcome = rows.twinx()
    outcome.plot(periods.index, periods["outcome"], color="#c44e52", marker=".",
                 label=outcome_label)
    outcome.set_ylabel(outcome_label, color="#c44e52")
    rows.set_title(f"rows and {outcome_label} by {name}", fontsize=10)
    figure.autofmt_xdate()
    return figure


def model_columns(data: pd.DataFrame, features: pd.DataFrame, schema: DatasetSchema,
                  found: Sequence[Alert]) -> dict[str, tuple[pd.Series, str]]:
    """The feature columns as Preprocess sees them: name → (values, numeric|categorical|date);
    ID-like columns left out, dates parsed in the format their alert found."""
    ids = {a.column for a in found if a.kind == AlertKind.ID_LIKE.value}
    formats = {a.column: a.evidence.get("format") for a in found
               if a.kind == AlertKind.DATETIME.value}
    columns: dict[str, tuple[pd.Series, str]] = {}
    for name in schema.feature_names:
        if name in ids:
            continue
        if name in formats:
            columns[name] = (parse_datetimes(data[name], formats[name]), "date")
        else:
            numeric = name in schema.numeric_features
            columns[name] = (features[name], "numeric" if numeric else "categorical")
    return columns


def _id_examples(data: pd.DataFrame, decisions: dict[str, list[str]]) -> dict[str, list[str]]:
    return {name: [str(v) for v in data[name].dropna().head(ID_EXAMPLES)]
            for name in decisions["dropped_id_like"]}


def render_report(data: pd.DataFrame, features: pd.DataFrame, target_values: pd.Series,
                  schema: DatasetSchema, summary: dict[str, Any], found: Sequence[Alert],
                  report_dir: Path, can_plot: bool) -> str:
    """The page (`training.eda.page`): alerts, overview, roles, over time, each feature
    against the target, then skrub's TableReport; PNGs also written into `report_dir`.
    Adds `target_association` (feature → Cramér's V) to `summary`."""
    decisions = summary["feature_decisions"]
    columns = model_columns(data, features, schema, found)
    outcome = target_outcome(target_values, schema.problem_type, schema.target)
    constant = set(decisions["dropped_constant"])
    views = feature_views({n: c for n, c in columns.items() if n not in constant}, outcome)
    summary["target_association"] = {view.name: view.association for view in views}
    target_images: list[tuple[str, bytes]] = []
    time_images: list[tuple[str, bytes]] = []
    if can_plot:
        png = plots.save_png(_target_figure(target_values, schema), report_dir / "target.png")
        target_images.append(("target", png))
        dates = [n for n, (_, kind) in columns.items() if kind == "date"][:MAX_TIME_PLOTS]
        for number, name in enumerate(dates, 1):
            periods = over_time(columns[name][0], outcome)
            if len(periods) >= 2:
                figure = _over_time_figure(name, periods, outcome.label)
                time_images.append((f"{name} over time", plots.save_png(
                    figure, report_dir / f"over_time_{number}.png")))
    kinds: dict[str, list[str]] = {}
    for alert in found:
        if alert.column is not None:
            kinds.setdefault(alert.column, []).append(alert.kind)
    head = [
        alerts_section(found, decisions, {view.name for view in views}),
        overview_section(summary, target_images),
        roles_section(decisions, _id_examples(data, decisions), summary["column_stats"]),
        over_time_section(time_images),
        feature_target_section(views, outcome.overall, outcome.label, kinds),
    ]
    frame = pd.DataFrame({name: values.dt.tz_localize(None) if kind == "date" else values
                          for name, (values, kind) in columns.items()}, index=data.index)
    frame[schema.target] = target_values
    strongest = [view.name for view in views[:10]]
    body = table_report_html(frame, {"alerted columns": list(kinds),
                                     "most associated with the target": strongest})
    notes = list(summary["notes"])
    if body is None:
        notes.append(f"{SKRUB_MISSING_NOTE}: plain column statistics instead")
        return render_page(head, notes, column_statistics_table(summary["column_stats"]))
    table, table_notes = body
    return render_page(head, notes + table_notes, f'<h2 id="table">The table</h2>{table}')


def training_split(data: pd.DataFrame, schema: DatasetSchema, seed: int = DEFAULT_SEED,
                   split_key: str | None = None, split_time: str | None = None,
                   cluster: Cluster = SINGLE_HOST,
                   ) -> tuple[pd.Series | None, dict[str, Any] | None, Alert | str]:
    """The rows Preprocess will train on (a mask on `data`), its split rule (`SplitRule.
    to_dict`) and a note saying how the test rows will be chosen (`training.data.preprocess.
    split_rule`, on the same labelled rows with the same column roles), so the report's
    leakage check reads what Preprocess's reads. A rule Preprocess would refuse is a critical
    alert instead of the note, and the mask and rule None (the check reads every row)."""
    cleaned = clean(data, schema)
    try:
        columns = plan_columns(cleaned, schema.target, schema.problem_type, seed=seed)
        rule, note = split_rule(schema, columns, cleaned, seed=seed, split_key=split_key,
                                split_time=split_time, cluster=cluster)
    except ValueError as error:  # SchemaError included
        return None, None, Alert(AlertKind.SPLIT.value, None, AlertSeverity.CRITICAL.value,
                                 f"Preprocess cannot split this table: {error}")
    labelled = data.index[data[schema.target].notna()]
    names = assign_splits(cleaned, rule).set_axis(labelled)
    rows = (names == SPLITS[0]).reindex(data.index, fill_value=False)
    words = rule.describe() + (f" ({note})" if note else "")
    return rows, rule.to_dict(), (f"Preprocess will make a {words}; the leakage check reads "
                                  f"its {int(rows.sum())} training rows")


def profile_dataframe(
    data: pd.DataFrame,
    target: str,
    problem_type: ProblemType | str,
    report_dir: str | Path,
    baseline_dir: str | Path | None = None,
    notes: Sequence[str] = (),
    class_weight: str = DEFAULT_HYPERPARAMETERS[CLASS_WEIGHT_FLAG],
    decision_threshold: str | float = DEFAULT_HYPERPARAMETERS[DECISION_THRESHOLD_FLAG],
    seed: int = DEFAULT_SEED,
    split_key: str | None = None,
    split_time: str | None = None,
    cluster: Cluster = SINGLE_HOST,
) -> dict[str, Any]:
    """Profile `data`: write the report (and the baseline if `baseline_dir`); return the summary.

    `notes` head the report (e.g. that the data is one host's shard); `class_weight` and
    `decision_threshold` are training's settings, which the imbalance alert names; `seed`,
    `split_key` and `split_time` are Preprocess's, so the report says how the test rows will be
    chosen and checks leakage on the same training rows (`training_split`). Raises
    SchemaError on the same data problems as preprocess (missing target, mixed types).
    """
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    schema = checked_schema(data, target, problem_type)
    training_rows, split, split_note = training_split(data, schema, seed, split_key,
                                                      split_time, cluster)
    found = alerts(data, target, schema.problem_type, class_weight=class_weight,
                   decision_threshold=decision_threshold, seed=seed, leak_rows=training_rows,
                   split_key=split_key)
    if isinstance(split_note, Alert):
        found = by_severity([*found, split_note])
    features = coerce_features(data, schema.features)
    labelled = data[target].notna()
    target_values = coerce_target(data.loc[labelled, target], schema)
    if schema.problem_type is ProblemType.CLASSIFICATION:
        target_values = target_values.astype(object)  # int labels stay ints next to NaN
    target_values = target_values.reindex(data.index)

    column_stats: dict[str, Any] = {}
    for name in schema.columns:
        if name == target:
            values, numeric = target_values, schema.problem_type is ProblemType.REGRESSION
        else:
            values, numeric = features[name], name in schema.numeric_features
        stats = numeric_stats(values) if numeric else categorical_stats(values)
        column_stats[name] = {"type": "numeric" if numeric else "categorical", **stats}
    notes = list(notes)
    if isinstance(split_note, str):
        notes.append(split_note)
    missing_target = int(data[target].isna().sum())
    if missing_target:
        notes.append(f"{missing_target} of {len(data)} rows have no value for target "
                     f"'{target}': Preprocess drops them before training")
    can_plot = plots.available()
    if not can_plot:
        notes.append(plots.SKIPPED_NOTE)
    summary: dict[str, Any] = {
        "rows": len(data),
        "rows_missing_target": missing_target,
        "split": split,
        "alerts": {severity.value: sum(a.severity == severity.value for a in found)
                   for severity in AlertSeverity},
        "feature_decisions": feature_decisions(found),
        "columns": len(schema.columns),
        "duplicate_rows": int(data.duplicated().sum()),
        "missing_cells": int(data.isna().sum().sum()),
        "column_stats": column_stats,
        "target": target_summary(target_values, schema),
        "notes": notes,
    }
    page = render_report(data, features, target_values, schema, summary, found, report_dir,
                         can_plot)
    (report_dir / REPORT_FILE).write_text(page, encoding="utf-8")
    write_json(report_dir / SUMMARY_FILE, summary)
    write_alerts(report_dir / ALERTS_FILE, found)
    if baseline_dir is not None:
        baseline_dir = Path(baseline_dir)
        # The baseline describes what the served model is sent, as the feature plan reads
        # it: not the ID-like and constant columns Preprocess drops (a request has one value
        # per model feature, in order), dates as dates (`training.eda.drift_baseline`).
        statistics = drift_statistics(data, features, schema,
                                      monitoring_plan(data, schema, split_key))
        write_json(baseline_dir / BASELINE_STATISTICS_FILE, statistics)
        write_json(baseline_dir / BASELINE_CONSTRAINTS_FILE, baseline_constraints(statistics))
    return summary


def output_dirs(
    report_dir: Path, baseline_dir: Path, cluster: Cluster = SINGLE_HOST
) -> tuple[Path, Path]:
    """The primary host writes the given folders; any other host a subfolder named after it."""
    if cluster.is_primary:
        return report_dir, baseline_dir
    return report_dir / cluster.current_host, baseline_dir / cluster.current_host


def shard_notes(cluster: Cluster) -> list[str]:
    """The report's warning that it covers one host's share of the input files."""
    if not cluster.is_multi_host:
        return []
    return [
        f"profile of host {cluster.current_host}'s shard of the input files, one of "
        f"{len(cluster.hosts)} hosts ({', '.join(cluster.hosts)}): a sample, not all the data"
    ]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("--data-dir", type=Path, default=Path(PROCESSING_DATA_DIR))
    parser.add_argument(
        "--report-dir", type=Path, default=Path(PROCESSING_OUTPUT_DIR) / REPORT_OUTPUT
    )
    parser.add_argument(
        "--baseline-dir", type=Path, default=Path(PROCESSING_OUTPUT_DIR) / BASELINE_OUTPUT
    )
    parser.add_argument("--target", required=True)
    parser.add_argument("--problem-type", required=True, choices=[p.value for p in ProblemType])
    parser.add_argument(f"--{SEED_FLAG}", type=int, default=DEFAULT_SEED,
                        help="Preprocess's seed (the hash split's salt)")
    parser.add_argument(f"--{SPLIT_KEY_FLAG}", dest="split_key", default=None,
                        help="Preprocess's split key (group split), if declared")
    parser.add_argument(f"--{SPLIT_TIME_FLAG}", dest="split_time", default=None,
                        help="Preprocess's time split column (or 'none'), if declared")
    for name in (CLASS_WEIGHT_FLAG, DECISION_THRESHOLD_FLAG):
        parser.add_argument(f"--{name}", type=_training_setting(name),
                            default=DEFAULT_HYPERPARAMETERS[name],
                            help="training's setting, named by the imbalance alert "
                                 f"(default: {DEFAULT_HYPERPARAMETERS[name]})")
    return parser.parse_args(argv)


def _training_setting(name: str) -> Any:
    """An argparse type applying the contract's rule for training's text setting `name`."""
    def parse(value: str) -> str:
        problem = HYPERPARAMETER_PROBLEMS[name](value)
        if problem:
            raise argparse.ArgumentTypeError(f"{problem} (got {value!r})")
        return value

    parse.__name__ = name
    return parse


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """The summary; empty when a secondary host was given no files."""
    args = parse_args(argv)
    cluster = load_cluster()
    if not cluster.is_primary and not has_csv_files(args.data_dir):
        print(f"{cluster.current_host}: no *.csv files under {args.data_dir}; nothing to write")
        return {}
    report_dir, baseline_dir = output_dirs(args.report_dir, args.baseline_dir, cluster)
    summary = profile_dataframe(
        read_csv_folder(args.data_dir),
        args.target,
        args.problem_type,
        report_dir,
        baseline_dir,
        shard_notes(cluster),
        args.class_weight,
        args.decision_threshold,
        seed=args.seed,
        split_key=args.split_key,
        split_time=args.split_time,
        cluster=cluster,
    )
    print(f"profiled {summary['rows']} rows x {summary['columns']} columns into {report_dir}")
    return summary


if __name__ == "__main__":
    exit_on_data_error(main)
