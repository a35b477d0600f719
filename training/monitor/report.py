"""The drift report of a window: ``drift_report.json``'s document and its HTML page.

The HTML page has one row per feature and, when matplotlib is installed, a plot of baseline
against current proportions per feature (see ``training.plots``).
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import numpy as np

from training.contract import BASELINE_STATISTICS_FILE
from training.monitor.metrics import (
    DEFAULT_THRESHOLDS,
    DriftThresholds,
    feature_report,
    schema_violations,
)
from training.monitor.window import WindowStatistics

STATUS_OK = "ok"
STATUS_NO_TRAFFIC = "no traffic"
STATUS_LOW_TRAFFIC = "low traffic"
STATUS_NO_BASELINE = "no baseline"
"""No statistics.json at the baseline URI (before the first deployment): nothing to compare."""


def drift_report(
    stats: WindowStatistics,
    thresholds: DriftThresholds = DEFAULT_THRESHOLDS,
    window: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The violations report of a window (see the module docstring for its meaning)."""
    if stats.records == 0:
        status = STATUS_NO_TRAFFIC
    elif stats.rows < thresholds.min_rows:
        status = STATUS_LOW_TRAFFIC
    else:
        status = STATUS_OK
    judged = status == STATUS_OK
    features = [] if status == STATUS_NO_TRAFFIC else [
        feature_report(w, thresholds, judged) for w in stats.windows.values()
    ]
    violations = schema_violations(stats, thresholds)
    drifted = [feature["name"] for feature in features if feature["drifted"]]
    return {
        "version": 1,
        "status": status,
        "drift": bool(drifted),
        "drifted_features": drifted,
        "schema_violation": bool(violations),
        "window": dict(window or {}),
        "files_read": stats.files,
        "lines_read": stats.lines,
        "records_read": stats.records,
        "rows_analyzed": stats.rows,
        "header_rows_skipped": stats.header_rows,
        "malformed": {"total": int(sum(stats.malformed.values())),
                      "by_reason": dict(stats.malformed)},
        "thresholds": asdict(thresholds),
        "baseline": {"item_count": stats.baseline.item_count,
                     "features": len(stats.baseline.features)},
        "features": features,
        "violations": violations,
    }


def no_baseline_report(baseline_uri: str, window: Mapping[str, Any] | None = None,
                       thresholds: DriftThresholds = DEFAULT_THRESHOLDS) -> dict[str, Any]:
    """The report of a run with no baseline to compare with: no data, no drift, one note."""
    return {
        "version": 1,
        "status": STATUS_NO_BASELINE,
        "note": f"no {BASELINE_STATISTICS_FILE} under {baseline_uri}: nothing to compare the "
                "window with (no model deployed yet?); records were not read",
        "drift": False,
        "drifted_features": [],
        "schema_violation": False,
        "window": dict(window or {}),
        "files_read": 0,
        "lines_read": 0,
        "records_read": 0,
        "rows_analyzed": 0,
        "header_rows_skipped": 0,
        "malformed": {"total": 0, "by_reason": {}},
        "thresholds": asdict(thresholds),
        "baseline": None,
        "features": [],
        "violations": [],
    }


def _feature_plot(feature: Mapping[str, Any]) -> str | None:
    """A base64 PNG of baseline vs current proportions, or None without matplotlib."""
    try:
        from training import plots
    except ImportError:
        return None
    if "bucket_counts" in feature["current"]:
        base = np.asarray(feature["baseline"]["bucket_counts"], float)
        cur = np.asarray(feature["current"]["bucket_counts"], float)
        uppers = feature["baseline"]["upper_bounds"]
        labels = [f"≤{u:.3g}" for u in uppers[:-1]] + [f">{uppers[-2]:.3g}" if len(uppers) > 1
                                                       else "all"]
    else:
        base_map = feature["baseline"]["category_counts"]
        cur_map = feature["current"]["category_counts"]
        labels = sorted(set(base_map) | set(cur_map))
        base = np.array([base_map.get(k, 0.0) for k in labels], float)
        cur = np.array([cur_map.get(k, 0.0) for k in labels], float)
    base = base / base.sum() if base.sum() else base
    cur = cur / cur.sum() if cur.sum() else cur
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


def render_html(report: Mapping[str, Any]) -> str:
    """A standalone HTML page: status, schema violations, one row and plot per feature."""
    esc = html.escape
    rows, plots_html = [], []
    for feature in report["features"]:
        metrics = ", ".join(f"{name} {m['value']:.4g} (≤ {m['threshold']})"
                            for name, m in feature["metrics"].items())
        verdict = "DRIFT" if feature["drifted"] else "ok"
        rows.append(f"<tr><td>{esc(feature['name'])}</td><td>{esc(feature['inferred_type'])}"
                    f"</td><td>{feature['rows']}</td><td>{esc(metrics)}</td>"
                    f"<td>{feature['drift_score']:.3g}</td><td>{verdict}</td></tr>")
        image = _feature_plot(feature)
        if image:
            plots_html.append(f'<figure><img alt="{esc(feature["name"])}" '
                              f'src="data:image/png;base64,{image}"></figure>')
    violations = "".join(f"<li>{esc(v['description'])} ({v['count']})</li>"
                         for v in report["violations"]) or "<li>none</li>"
    note = "" if plots_html or not report["features"] else \
        "<p>Plots need matplotlib, which is not installed here.</p>"
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Drift report</title>"
        "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:2px 6px}"
        "table{border-collapse:collapse}</style></head><body>"
        f"<h1>Drift report: {esc(report['status'])}, "
        f"{'DRIFT' if report['drift'] else 'no drift'}</h1>"
        + (f"<p>{esc(report['note'])}</p>" if report.get("note") else "") +
        f"<p>Window {esc(json.dumps(report['window']))}; {report['records_read']} records, "
        f"{report['rows_analyzed']} rows, {report['malformed']['total']} malformed "
        f"{esc(json.dumps(report['malformed']['by_reason']))}.</p>"
        f"<h2>Schema violations</h2><ul>{violations}</ul>"
        "<h2>Features</h2><table><tr><th>feature</th><th>type</th><th>rows</th>"
        f"<th>metrics (threshold)</th><th>score</th><th>verdict</th></tr>{''.join(rows)}"
        f"</table>{note}{''.join(plots_html)}</body></html>"
    )
