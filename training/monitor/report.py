"""The drift report of a window: ``drift_report.json``'s document and its HTML page.

The HTML page has one row per feature and, when matplotlib is installed, a plot of baseline
against current proportions per feature (see ``training.plots``).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from training.baseline import DATETIME_KIND
from training.contract import BASELINE_STATISTICS_FILE
from training.monitor.metrics import (
    DEFAULT_THRESHOLDS,
    DriftThresholds,
    feature_report,
    grouped_categories,
    schema_violations,
    tests_per_feature,
)
from training.monitor.window import WindowStatistics

STATUS_OK = "ok"
STATUS_NO_TRAFFIC = "no traffic"
STATUS_LOW_TRAFFIC = "low traffic"
STATUS_NO_BASELINE = "no baseline"
"""No statistics.json at the baseline URI (before the first deployment): nothing to compare."""
REPORT_VERSION = 2
"""2: each metric's ``p_value`` and ``alpha`` next to its ``value`` and ``threshold`` (drifted:
above the threshold and p below alpha), ``verdict``, ``kind``, ``baseline_rows``, ``skipped``,
``decision``, and the window and malformed input in words."""


def _when(text: str) -> str:
    """An ISO time as 'YYYY-MM-DD HH:MM UTC'."""
    try:
        moment = datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return text
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def describe_window(window: Mapping[str, Any], records: int, rows: int) -> str:
    """The window in words: 'from … to … (24 h): 300 requests, 300 rows'."""
    hours = window.get("hours")
    counts = f"{_plural(records, 'request')}, {_plural(rows, 'row')}"
    if not window.get("start") and not window.get("end"):
        return counts
    span = (f"every capture file up to {_when(window.get('end'))}"
            if not window.get("start") else
            f"from {_when(window.get('start'))} to {_when(window.get('end'))}"
            + (f" ({hours:g} h)" if isinstance(hours, (int, float)) else ""))
    return f"{span}: {counts}"


def describe_malformed(by_reason: Mapping[str, int]) -> str:
    """Malformed input in words: 'none' or '3 skipped: 2 bad JSON, 1 wrong column count'."""
    total = int(sum(by_reason.values()))
    if not total:
        return "no malformed requests or rows"
    reasons = ", ".join(f"{count} {reason}" for reason, count in
                        sorted(by_reason.items(), key=lambda item: (-item[1], item[0])))
    noun = "request or row" if total == 1 else "requests or rows"
    return f"{total:,} malformed {noun} skipped ({reasons})"


SKIP_REASONS = {"id_like": "an identifier (one value per row): nothing to compare",
                "constant": "constant in training: the model ignores it",
                "target_leakage": "leaks the target: the model does not use it"}
"""Why a skipped column is not monitored, by the feature plan's reason."""


def skipped_columns(skipped: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "reason": reason,
             "description": f"{name}: not monitored, {SKIP_REASONS.get(reason, reason)}"}
            for name, reason in skipped.items()]


def verdict(status: str, drifted: Sequence[str], features: int, rows: int,
            thresholds: DriftThresholds) -> str:
    """The report's one verdict, in words."""
    if status == STATUS_NO_TRAFFIC:
        return "no traffic: nothing to judge"
    if status == STATUS_NO_BASELINE:
        return "no baseline: nothing to compare with"
    if status == STATUS_LOW_TRAFFIC:
        return (f"not judged: {_plural(rows, 'row')}, fewer than the {thresholds.min_rows} "
                "a verdict needs")
    if drifted:
        return f"drift in {len(drifted)} of {features} features: {', '.join(drifted)}"
    return f"no drift in {features} features"


def drift_report(
    stats: WindowStatistics,
    thresholds: DriftThresholds = DEFAULT_THRESHOLDS,
    window: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The drift report of a window: one verdict, the window and input in words, per-feature
    metrics (value, threshold, verdict) and the rows each rests on, schema violations."""
    if stats.records == 0:
        status = STATUS_NO_TRAFFIC
    elif stats.rows < thresholds.min_rows:
        status = STATUS_LOW_TRAFFIC
    else:
        status = STATUS_OK
    judged = status == STATUS_OK
    tests = sum(tests_per_feature(w) for w in stats.windows.values())
    alpha = thresholds.false_alarm_rate / max(tests, 1)
    features = [] if status == STATUS_NO_TRAFFIC else [
        feature_report(w, thresholds, judged, alpha) for w in stats.windows.values()
    ]
    violations = schema_violations(stats, thresholds)
    ranked = sorted((f for f in features if f["drifted"]), key=lambda f: -f["drift_score"])
    drifted = [feature["name"] for feature in ranked]
    window = dict(window or {})
    window["description"] = describe_window(window, stats.records, stats.rows)
    malformed = dict(stats.malformed)
    return {
        "version": REPORT_VERSION,
        "status": status,
        "verdict": verdict(status, drifted, len(features), stats.rows, thresholds),
        "drift": bool(drifted),
        "drifted_features": drifted,
        "schema_violation": bool(violations),
        "window": window,
        "files_read": stats.files,
        "lines_read": stats.lines,
        "records_read": stats.records,
        "rows_analyzed": stats.rows,
        "header_rows_skipped": stats.header_rows,
        "malformed": {"total": int(sum(malformed.values())), "by_reason": malformed,
                      "description": describe_malformed(malformed)},
        "thresholds": asdict(thresholds),
        "decision": {"tests": tests, "false_alarm_rate": thresholds.false_alarm_rate,
                     "alpha_per_test": alpha,
                     "description": f"a metric alarms when it exceeds its threshold and its "
                                    f"p-value is below {alpha:.2g} ({tests} tests: every "
                                    f"metric of every feature), so a window without drift "
                                    f"alarms with probability at most "
                                    f"{thresholds.false_alarm_rate:g}"},
        "baseline": {"item_count": stats.baseline.item_count,
                     "features": len(stats.baseline.features)},
        "features": features,
        "skipped": skipped_columns(stats.baseline.skipped),
        "violations": violations,
    }


def no_baseline_report(baseline_uri: str, window: Mapping[str, Any] | None = None,
                       thresholds: DriftThresholds = DEFAULT_THRESHOLDS) -> dict[str, Any]:
    """The report of a run with no baseline to compare with: no data, no drift, one note."""
    window = dict(window or {})
    window["description"] = describe_window(window, 0, 0)
    return {
        "version": REPORT_VERSION,
        "status": STATUS_NO_BASELINE,
        "verdict": verdict(STATUS_NO_BASELINE, [], 0, 0, thresholds),
        "note": f"no {BASELINE_STATISTICS_FILE} under {baseline_uri}: nothing to compare the "
                "window with (no model deployed yet?); records were not read",
        "drift": False,
        "drifted_features": [],
        "schema_violation": False,
        "window": window,
        "files_read": 0,
        "lines_read": 0,
        "records_read": 0,
        "rows_analyzed": 0,
        "header_rows_skipped": 0,
        "malformed": {"total": 0, "by_reason": {}, "description": describe_malformed({})},
        "thresholds": asdict(thresholds),
        "baseline": None,
        "features": [],
        "skipped": [],
        "violations": [],
    }


def _day(days: float) -> str:
    """Days since 1970-01-01 as a date."""
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=days)).strftime("%Y-%m-%d")


def plotted_shares(feature: Mapping[str, Any]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(bar labels, baseline shares, current shares) of a feature's plot: its buckets (dates as
    dates), or the categories the check compared (top ones and "other")."""
    if "bucket_counts" in feature["current"]:
        base = np.asarray(feature["baseline"]["bucket_counts"], float)
        cur = np.asarray(feature["current"]["bucket_counts"], float)
        uppers = feature["baseline"]["upper_bounds"]
        edge = _day if feature.get("kind") == DATETIME_KIND else (lambda u: f"{u:.3g}")
        labels = [f"≤{edge(u)}" for u in uppers[:-1]] + [f">{edge(uppers[-2])}"
                                                         if len(uppers) > 1 else "all"]
    else:
        base_map = feature["baseline"]["category_counts"]
        cur_map = feature["current"]["category_counts"]
        compared = feature["metrics"].get("js_distance", {}).get("compared")
        if compared:
            base_map, cur_map = (grouped_categories(base_map, compared[:-1]),
                                 grouped_categories(cur_map, compared[:-1]))
            labels = list(compared)
        else:
            labels = sorted(set(base_map) | set(cur_map))
        base = np.array([base_map.get(k, 0.0) for k in labels], float)
        cur = np.array([cur_map.get(k, 0.0) for k in labels], float)
    base = base / base.sum() if base.sum() else base
    cur = cur / cur.sum() if cur.sum() else cur
    return labels, base, cur


def _feature_plot(feature: Mapping[str, Any]) -> str | None:
    """A base64 PNG of baseline vs current proportions, or None without matplotlib."""
    try:
        from training import plots
    except ImportError:
        return None
    labels, base, cur = plotted_shares(feature)
    figure = plots.new_figure(6.0, 3.0)
    axes = figure.add_subplot()
    x = np.arange(len(labels))
    axes.bar(x - 0.2, base, width=0.4, label="baseline")
    axes.bar(x + 0.2, cur, width=0.4, label="current")
    axes.set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
    axes.set_ylabel("share of rows")
    axes.set_title(feature["name"])
    axes.legend()
    return base64.b64encode(plots.figure_png(figure)).decode("ascii")


def metric_text(name: str, metric: Mapping[str, Any]) -> str:
    """One metric against its threshold and its p-value against alpha, e.g. ``psi 6.73 > 0.1,
    p 1.9e-182 < 1.1e-05`` (drifted only when both comparisons point up)."""
    value, threshold = metric.get("value"), metric.get("threshold")
    if not isinstance(value, (int, float)) or not isinstance(threshold, (int, float)):
        return f"{name} {value} (threshold {threshold})"
    text = f"{name} {value:.3g} {'>' if value > threshold else '≤'} {threshold:g}"
    p_value, alpha = metric.get("p_value"), metric.get("alpha")
    if isinstance(p_value, (int, float)) and isinstance(alpha, (int, float)):
        text += f", p {p_value:.2g} {'<' if p_value < alpha else '≥'} {alpha:.2g}"
    return text


def _metrics_text(feature: Mapping[str, Any]) -> str:
    return "; ".join(metric_text(name, m) for name, m in feature["metrics"].items())


def _feature_rows(features: Sequence[Mapping[str, Any]]) -> str:
    esc = html.escape
    return "".join(
        f"<tr><td>{esc(f['name'])}</td><td>{esc(f['kind'])}</td><td>{f['rows']:,}</td>"
        f"<td>{f['baseline_rows']:,}</td><td>{esc(_metrics_text(f))}</td>"
        f"<td>{f['drift_score']:.3g}</td><td>{'DRIFT' if f['drifted'] else 'ok'}</td></tr>"
        for f in features)


_TABLE_HEAD = ("<tr><th>feature</th><th>kind</th><th>rows</th><th>baseline rows</th>"
               "<th>metric vs threshold, p-value vs alpha</th><th>score</th><th>verdict</th></tr>")


def render_html(report: Mapping[str, Any]) -> str:
    """A standalone HTML page: the verdict, the drifted features and their plots first, then
    the window, skipped columns, schema violations and every other feature."""
    esc = html.escape
    features = report["features"]
    order = {name: i for i, name in enumerate(report["drifted_features"])}
    drifted = sorted((f for f in features if f["drifted"]), key=lambda f: order[f["name"]])
    others = [f for f in features if not f["drifted"]]

    def figures(chosen: Sequence[Mapping[str, Any]]) -> list[str]:
        shown = []
        for feature in chosen:
            image = _feature_plot(feature)
            if image:
                shown.append(f'<figure><img alt="{esc(feature["name"])}" '
                             f'src="data:image/png;base64,{image}"></figure>')
        return shown

    drifted_plots, other_plots = figures(drifted), figures(others)
    note = "" if drifted_plots or other_plots or not features else \
        "<p>Plots need matplotlib, which is not installed here.</p>"
    lead = ""
    if drifted:
        lead = (f"<h2>Drifted features</h2><table>{_TABLE_HEAD}{_feature_rows(drifted)}"
                f"</table>{''.join(drifted_plots)}")
    decision = report.get("decision")
    skipped = "".join(f"<li>{esc(s['description'])}</li>" for s in report.get("skipped", []))
    violations = "".join(f"<li>{esc(v['description'])} ({v['count']})</li>"
                         for v in report["violations"]) or "<li>none</li>"
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Drift report</title>"
        "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:2px 6px}"
        "table{border-collapse:collapse}</style></head><body>"
        f"<h1>Drift report: {esc(report['verdict'])}</h1>"
        + (f"<p>{esc(report['note'])}</p>" if report.get("note") else "")
        + f"<p>Window {esc(report['window']['description'])}; "
        f"{esc(report['malformed']['description'])}.</p>"
        + (f"<p>{esc(decision['description'])}.</p>" if decision else "")
        + lead
        + (f"<h2>Not monitored</h2><ul>{skipped}</ul>" if skipped else "")
        + f"<h2>Schema violations</h2><ul>{violations}</ul>"
        + (f"<h2>{'Other features' if drifted else 'Features'}</h2><table>{_TABLE_HEAD}"
           f"{_feature_rows(others)}</table>" if others else "")
        + f"{note}{''.join(other_plots)}</body></html>"
    )
