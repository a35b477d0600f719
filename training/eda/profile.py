"""EDA job: an HTML data report (tables and plots) and the drift-monitoring baseline.

    python3 training/eda/profile.py --data-dir /opt/ml/processing/input/data \
        --report-dir /opt/ml/processing/output/report \
        --baseline-dir /opt/ml/processing/output/baseline --target COLUMN --problem-type ...

Report folder: report.html (self-contained, PNGs embedded), the same PNGs, summary.json and
alerts.json (`training.data.alerts`: ID-like, constant, date, high-cardinality, missing, skewed,
duplicate rows, class imbalance, integer codes, target leakage, each with its evidence), which
the report shows first. Without matplotlib (it is not in the job image) the report and summary
are written without plots. The data goes through the pre-flight's checks first
(`training.data.checks.checked_schema`), so a bad upload fails with the same one-line messages.
Baseline folder: statistics.json and constraints.json in SageMaker Model Monitor's format (see
`training.baseline`): what drift checks compare live traffic against; constraints.json is also
valid as preprocess --schema.

On a processing job with N > 1 instances (input files sharded across them, every instance
uploading to the same prefixes; see `training.cluster.load_cluster`) each host profiles its own
files. The primary host (algo-1) writes the folders above, so the registered baseline
`baseline/statistics.json` describes the primary's shard: a uniform sample of the files, not all
the data (its report says so). Every other host writes `report/<host>/` and `baseline/<host>/`,
or, given no files, logs it and exits 0. The primary without files fails as a single host does.
"""

from __future__ import annotations

import argparse
import base64
import html
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file by the container: make `training` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np
import pandas as pd

from training import plots
from training.baseline import baseline_constraints, baseline_statistics
from training.cluster import SINGLE_HOST, Cluster, load_cluster
from training.contract import (
    ALERTS_FILE,
    BASELINE_CONSTRAINTS_FILE,
    BASELINE_OUTPUT,
    BASELINE_STATISTICS_FILE,
    CLASS_WEIGHT_FLAG,
    DECISION_THRESHOLD_FLAG,
    DEFAULT_HYPERPARAMETERS,
    HYPERPARAMETER_PROBLEMS,
    PROCESSING_DATA_DIR,
    PROCESSING_OUTPUT_DIR,
    REPORT_FILE,
    REPORT_OUTPUT,
    SUMMARY_FILE,
    ProblemType,
)
from training.data.alerts import Alert, AlertKind, AlertSeverity, alerts, write_alerts
from training.data.checks import checked_schema
from training.data.problems import exit_on_data_error
from training.data.schema import (
    DatasetSchema,
    coerce_features,
    coerce_target,
    has_csv_files,
    read_csv_folder,
)
from training.jsonio import write_json

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
TOP_CATEGORIES = 10
"""Categories listed per column in the report and summary.json."""
MAX_DISTRIBUTION_PLOTS = 60
MAX_CORRELATION_COLUMNS = 40


def correlation_columns(numeric_columns: int) -> int:
    """Numeric columns the correlation chart shows (the first MAX_CORRELATION_COLUMNS)."""
    return min(numeric_columns, MAX_CORRELATION_COLUMNS)


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


def _safe_name(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "column"
    candidate, suffix = base, 1
    while candidate in taken:
        suffix += 1
        candidate = f"{base}_{suffix}"
    taken.add(candidate)
    return candidate


FIXED_TITLE_CHARACTERS = 28
"""A distribution titled by a longer column name is cropped to fit, not laid out fixed."""


def _distribution_figure(name: str, values: pd.Series, numeric: bool) -> Any:
    # A histogram's labels are numbers and its title the column name: a fixed layout fits it
    # (drawn once); category names on the axis need the crop.
    figure = plots.new_figure(4.0, 3.0, fixed=numeric and len(name) <= FIXED_TITLE_CHARACTERS)
    axes = figure.subplots()
    if numeric:
        # hist's bins as one filled outline: the same picture as its 30 adjacent, edgeless bars,
        # one patch to lay out and draw instead of 30 (most of a histogram's plotting time)
        counts, edges = np.histogram(values.dropna().to_numpy(dtype=float), bins=30)
        axes.stairs(counts, edges, fill=True, color="#4c72b0")
        axes.set_ylabel("rows")
    else:
        counts = category_counts(values).head(20)
        axes.barh([str(k) for k in counts.index][::-1], counts.to_numpy()[::-1], color="#55a868")
        axes.set_xlabel("rows")
    axes.set_title(name, fontsize=10)
    return figure


def _missing_figure(missing: pd.Series) -> Any:
    figure = plots.new_figure(6.0, max(2.0, 0.22 * len(missing) + 1))
    axes = figure.subplots()
    axes.barh(list(missing.index)[::-1], missing.to_numpy()[::-1], color="#c44e52")
    axes.set_xlim(0, 1)
    axes.set(xlabel="fraction missing", title="Missing values per column")
    axes.tick_params(axis="y", labelsize=7)
    return figure


def _correlation_figure(correlation: pd.DataFrame) -> Any:
    size = 2.5 + 0.28 * len(correlation)
    figure = plots.new_figure(size + 1, size)
    axes = figure.subplots()
    image = axes.imshow(correlation.to_numpy(), cmap="coolwarm", vmin=-1, vmax=1)
    figure.colorbar(image, ax=axes, shrink=0.8)
    ticks = range(len(correlation))
    axes.set_xticks(ticks, labels=correlation.columns, rotation=90, fontsize=7)
    axes.set_yticks(ticks, labels=correlation.index, fontsize=7)
    axes.set_title("Pearson correlation (numeric columns)")
    return figure


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


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _image(title: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(title)}</figcaption></figure>"
    )


def feature_decisions(found: Sequence[Alert]) -> dict[str, list[str]]:
    """What Preprocess does by default with the alerted columns (`plan_features` acts on the
    same alerts): dropped IDs and constants, dates as calendar features, leaks stop the run."""
    def columns(kind: AlertKind) -> list[str]:
        return [a.column for a in found if a.kind == kind.value and a.column is not None]

    return {"dropped_id_like": columns(AlertKind.ID_LIKE),
            "dropped_constant": columns(AlertKind.CONSTANT),
            "calendar_features": columns(AlertKind.DATETIME),
            "leaking_stop_the_run": columns(AlertKind.TARGET_LEAKAGE)}


def _alerts_html(found: Sequence[Alert], decisions: dict[str, list[str]]) -> str:
    if not found:
        return "<h2>Alerts</h2><p>none: no column looks like an ID, a date, a constant or a " \
               "leak, and nothing is badly missing, skewed or imbalanced</p>"
    rows = "".join(
        f"<tr class={html.escape(a.severity)}><td>{html.escape(a.severity)}</td>"
        f"<td>{html.escape(a.kind)}</td><td>{html.escape(a.column or '(table)')}</td>"
        f"<td>{html.escape(a.message)}</td></tr>" for a in found)
    labels = {"dropped_id_like": "dropped as ID-like", "dropped_constant": "dropped as constant",
              "calendar_features": "used as calendar features",
              "leaking_stop_the_run": "leak the target: the run stops (--leak-policy)"}
    lines = "".join(f"<li>{html.escape(', '.join(columns))}: {labels[key]}</li>"
                    for key, columns in decisions.items() if columns)
    return ("<h2>Alerts</h2><table><tr><th>severity</th><th>alert</th><th>column</th>"
            f"<th>evidence</th></tr>{rows}</table>"
            + (f"<p>What Preprocess does with these by default:</p><ul>{lines}</ul>"
               if lines else ""))


def render_html(summary: dict[str, Any], images: dict[str, list[tuple[str, bytes]]],
                found: Sequence[Alert] = ()) -> str:
    """A self-contained HTML report: alerts first, then tables from `summary` and `images`
    (section -> PNGs) inline."""
    target = summary["target"]
    overview = [
        ("rows", summary["rows"]),
        ("rows without a target (dropped)", summary.get("rows_missing_target", 0)),
        ("columns", summary["columns"]),
        ("duplicate rows", summary["duplicate_rows"]),
        ("missing cells", summary["missing_cells"]),
        ("target", f"{target['name']} ({target['problem_type']})"),
    ]
    rows = []
    for name, stats in summary["column_stats"].items():
        quantiles = stats.get("quantiles", {})
        top = ", ".join(f"{k} ({v})" for k, v in list(stats.get("top_categories", {}).items())[:5])
        cells = [
            name,
            stats["type"],
            stats["missing"],
            f"{stats['missing_fraction']:.1%}",
            stats["unique"],
            stats.get("mean"),
            stats.get("std"),
            stats.get("min"),
            quantiles.get("p50"),
            stats.get("max"),
            top,
        ]
        rows.append("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in cells) + "</tr>")
    headers = [
        "column",
        "type",
        "missing",
        "missing %",
        "unique",
        "mean",
        "std",
        "min",
        "median",
        "max",
        "top categories",
    ]
    if target["problem_type"] == ProblemType.CLASSIFICATION.value:
        target_rows = "".join(
            f"<tr><td>{_fmt(label)}</td><td>{count}</td>"
            f"<td>{target['class_fractions'][label]:.1%}</td></tr>"
            for label, count in target["class_counts"].items()
        )
        target_table = (
            f"<table><tr><th>class</th><th>rows</th><th>share</th></tr>{target_rows}</table>"
        )
    else:
        stats = [(k, target.get(k)) for k in ("count", "missing", "mean", "std", "min", "max")]
        target_table = (
            "<table>"
            + "".join(f"<tr><th>{k}</th><td>{_fmt(v)}</td></tr>" for k, v in stats)
            + "</table>"
        )
    sections = {
        "Target": target_table,
        "Column statistics": "<table><tr>"
        + "".join(f"<th>{h}</th>" for h in headers)
        + "</tr>"
        + "".join(rows)
        + "</table>",
    }
    notes = "".join(f"<p class=note>{html.escape(n)}</p>" for n in summary.get("notes", []))
    body = [
        "<h1>Data profile</h1>",
        _alerts_html(found, summary.get("feature_decisions", {})),
        "<h2>Overview</h2><table>"
        + "".join(f"<tr><th>{k}</th><td>{_fmt(v)}</td></tr>" for k, v in overview)
        + "</table>",
        notes,
    ]
    for title, content in sections.items():
        body.append(f"<h2>{title}</h2>{content}")
        for image_title, png in images.get(title, []):
            body.append(_image(image_title, png))
    for title in ("Missing values", "Distributions", "Correlation"):
        if images.get(title):
            figures = "".join(_image(t, png) for t, png in images[title])
            body.append(f'<h2>{title}</h2><div class="grid">{figures}</div>')
    style = (
        "body{font-family:sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}"
        ".grid{display:flex;flex-wrap:wrap;gap:8px}figure{margin:4px}"
        "figcaption{font-size:12px;color:#555}.note{color:#a60}"
        ".critical td{background:#fbe3e3}.warning td{background:#fff4d6}"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Data profile</title>'
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def plot_profile(
    report_dir: Path,
    summary: dict[str, Any],
    schema: DatasetSchema,
    features: pd.DataFrame,
    target_values: pd.Series,
    plotted: Sequence[str],
) -> dict[str, list[tuple[str, bytes]]]:
    """Write the report's PNGs into `report_dir`; return them by report section."""
    target = schema.target
    column_stats = summary["column_stats"]
    images: dict[str, list[tuple[str, bytes]]] = {}
    target_png = plots.save_png(_target_figure(target_values, schema), report_dir / "target.png")
    images["Target"] = [("target", target_png)]
    missing = pd.Series({name: stats["missing_fraction"] for name, stats in column_stats.items()})
    missing = missing[missing > 0]
    if not missing.empty:  # no chart for a problem that is not there
        missing_png = plots.save_png(_missing_figure(missing), report_dir / "missing_values.png")
        images["Missing values"] = [("missing values", missing_png)]
    taken: set[str] = set()
    images["Distributions"] = []
    for name in plotted:  # features only: the target has its own chart
        values = features[name]
        figure = _distribution_figure(name, values, column_stats[name]["type"] == "numeric")
        path = report_dir / f"dist_{_safe_name(name, taken)}.png"
        images["Distributions"].append((name, plots.save_png(figure, path)))
    numeric = pd.concat(
        [features[schema.numeric_features], target_values.rename(target)]
        if schema.problem_type is ProblemType.REGRESSION
        else [features[schema.numeric_features]],
        axis=1,
    )
    numeric = numeric.iloc[:, :correlation_columns(numeric.shape[1])]
    if numeric.shape[1] >= 2:
        correlation = numeric.corr().fillna(0.0)
        png = plots.save_png(_correlation_figure(correlation), report_dir / "correlation.png")
        images["Correlation"] = [("correlation", png)]
    return images


def profile_dataframe(
    data: pd.DataFrame,
    target: str,
    problem_type: ProblemType | str,
    report_dir: str | Path,
    baseline_dir: str | Path | None = None,
    notes: Sequence[str] = (),
    class_weight: str = DEFAULT_HYPERPARAMETERS[CLASS_WEIGHT_FLAG],
    decision_threshold: str | float = DEFAULT_HYPERPARAMETERS[DECISION_THRESHOLD_FLAG],
) -> dict[str, Any]:
    """Profile `data`: write the report (and the baseline if `baseline_dir`); return the summary.

    `notes` head the report (e.g. that the data is one host's shard); `class_weight` and
    `decision_threshold` are training's settings, which the imbalance alert names. Raises
    SchemaError on the same data problems as preprocess (missing target, mixed types).
    """
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    schema = checked_schema(data, target, problem_type)
    found = alerts(data, target, schema.problem_type, class_weight=class_weight,
                   decision_threshold=decision_threshold)
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
    missing_target = int(data[target].isna().sum())
    if missing_target:
        notes.append(f"{missing_target} of {len(data)} rows have no value for target "
                     f"'{target}': Preprocess drops them before training")
    feature_names = schema.feature_names
    plotted = feature_names[:MAX_DISTRIBUTION_PLOTS]
    can_plot = plots.available()
    if not can_plot:
        notes.append(plots.SKIPPED_NOTE)
    else:
        if len(feature_names) > len(plotted):
            notes.append(f"distributions plotted for the first {len(plotted)} of "
                         f"{len(feature_names)} feature columns")
        numeric_count = len(schema.numeric_features) + (
            1 if schema.problem_type is ProblemType.REGRESSION else 0)
        shown = correlation_columns(numeric_count)
        if shown < numeric_count:
            notes.append(f"correlation shown for {shown} of {numeric_count:,} numeric columns")
    summary: dict[str, Any] = {
        "rows": len(data),
        "rows_missing_target": missing_target,
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

    images = (
        plot_profile(report_dir, summary, schema, features, target_values, plotted)
        if can_plot
        else {}
    )
    (report_dir / REPORT_FILE).write_text(render_html(summary, images, found),
                                          encoding="utf-8")
    write_json(report_dir / SUMMARY_FILE, summary)
    write_alerts(report_dir / ALERTS_FILE, found)
    if baseline_dir is not None:
        baseline_dir = Path(baseline_dir)
        # The baseline describes what the served model is sent: not the ID-like and constant
        # columns Preprocess drops (a request has one value per model feature, in order).
        decisions = summary["feature_decisions"]
        dropped = {*decisions["dropped_id_like"], *decisions["dropped_constant"]}
        statistics = baseline_statistics(
            features, [f for f in schema.features if f.name not in dropped])
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
    )
    print(f"profiled {summary['rows']} rows x {summary['columns']} columns into {report_dir}")
    return summary


if __name__ == "__main__":
    exit_on_data_error(main)
