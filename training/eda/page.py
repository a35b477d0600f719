"""The EDA report page: our alerts and target views as its head, skrub's TableReport its body.

Sections, each with an anchor: `#alerts` (every alert `#alert-<n>`, its column linked to the
column's row below), `#overview`, `#roles` (what Preprocess does with ID-like, constant, date
and leaking columns: IDs are listed here, never plotted), `#over-time` (rows and the target per
period of each date column), `#feature-target` (each feature against the target, strongest
first, `#col-<name>` per feature), `#table` (skrub's report: the rows, statistics,
distributions, associations). Self-contained: PNGs inlined, skrub's script and styles inline.
"""

from __future__ import annotations

import base64
import html
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from training.contract import ProblemType
from training.data.alerts import Alert, AlertKind, AlertSeverity
from training.eda.target_views import FeatureView, spark_scale, sparkline_svg

DECISION_LABELS = {
    "dropped_id_like": "dropped as ID-like",
    "dropped_constant": "dropped as constant",
    "calendar_features": "used as calendar features",
    "leaking_stop_the_run": "leak the target: the run stops (--leak-policy)",
    "suspected_leak_kept": "predict the target almost exactly: kept, check they are not copies",
}
STYLE = (
    "body{font-family:sans-serif;margin:2em;color:#222;max-width:1400px}"
    "table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left;"
    "vertical-align:middle}"
    ".grid{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}figure{margin:4px}"
    "figcaption{font-size:12px;color:#555}.note{color:#a60}"
    ".critical td{background:#fbe3e3}.warning td{background:#fff4d6}"
    ":target td,tr:target td{outline:2px solid #4c72b0}"
    ".scroll{max-height:34em;overflow-y:auto;display:inline-block;border:1px solid #ddd}"
    ".scroll.short{max-height:16em}.scroll table{margin:0}"
    ".scroll th{position:sticky;top:0;background:#f6f6f6}"
    ".bar{display:inline-block;height:10px;background:#8172b2;vertical-align:middle}"
    ".kinds{color:#a60;font-size:12px}nav a{margin-right:1em}"
)


def anchor(column: str) -> str:
    """The id of a column's row in the feature-vs-target table (stable, HTML-safe)."""
    return "col-" + re.sub(r"[^A-Za-z0-9_-]+", "-", column).strip("-")


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def image(title: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(title)}</figcaption></figure>")


def alerts_section(found: Sequence[Alert], decisions: Mapping[str, list[str]],
                   linked: set[str]) -> str:
    """Serious alerts in a table, info ones in a scrolling box; each column links to its row
    in the feature-vs-target table (`linked`), its role, or the overview (the target)."""
    roles = {column for columns in decisions.values() for column in columns}
    if not found:
        return ('<h2 id="alerts">Alerts</h2><p>none: no column looks like an ID, a date, a '
                "constant or a leak, and nothing is badly missing, skewed or imbalanced</p>")

    def column_cell(column: str | None) -> str:
        if column is None:
            return "(table)"
        target = anchor(column) if column in linked else "roles" if column in roles else \
            "overview"
        return f'<a href="#{target}">{html.escape(column)}</a>'

    def row(number: int, alert: Alert) -> str:
        return (f'<tr id="alert-{number}" class={html.escape(alert.severity)}>'
                f"<td>{html.escape(alert.severity)}</td><td>{html.escape(alert.kind)}</td>"
                f"<td>{column_cell(alert.column)}</td><td>{html.escape(alert.message)}</td></tr>")

    header = "<tr><th>severity</th><th>alert</th><th>column</th><th>evidence</th></tr>"
    numbered = list(enumerate(found, 1))
    serious = "".join(row(n, a) for n, a in numbered if a.severity != AlertSeverity.INFO.value)
    info = [(n, a) for n, a in numbered if a.severity == AlertSeverity.INFO.value]
    tables = f'<div class="scroll"><table>{header}{serious}</table></div>' if serious else ""
    if info:  # on a wide table, hundreds of "skewed": in their own box, not burying the rest
        counts = Counter(a.kind for _, a in info)
        kinds = ", ".join(f"{kind} {count}" for kind, count in counts.most_common())
        tables += (f"<p>{len(info)} info alerts ({html.escape(kinds)}):</p>"
                   f'<div class="scroll short"><table>{header}'
                   + "".join(row(n, a) for n, a in info) + "</table></div>")
    lines = "".join(f"<li>{html.escape(', '.join(columns))}: {DECISION_LABELS[key]}</li>"
                    for key, columns in decisions.items() if columns)
    return ('<h2 id="alerts">Alerts</h2>' + tables
            + (f"<p>What Preprocess does with these by default:</p><ul>{lines}</ul>"
               if lines else ""))


def overview_section(summary: Mapping[str, Any], images: Sequence[tuple[str, bytes]]) -> str:
    target = summary["target"]
    overview = [
        ("rows", summary["rows"]),
        ("rows without a target (dropped)", summary.get("rows_missing_target", 0)),
        ("columns", summary["columns"]),
        ("duplicate rows", summary["duplicate_rows"]),
        ("missing cells", summary["missing_cells"]),
        ("target", f"{target['name']} ({target['problem_type']})"),
    ]
    if target["problem_type"] == ProblemType.CLASSIFICATION.value:
        balance = "".join(
            f"<tr><td>{_fmt(label)}</td><td>{count}</td>"
            f"<td>{target['class_fractions'][label]:.1%}</td></tr>"
            for label, count in target["class_counts"].items())
        target_table = f"<table><tr><th>class</th><th>rows</th><th>share</th></tr>{balance}</table>"
    else:
        stats = [(k, target.get(k)) for k in ("count", "missing", "mean", "std", "min", "max")]
        target_table = ("<table>" + "".join(f"<tr><th>{k}</th><td>{_fmt(v)}</td></tr>"
                                            for k, v in stats) + "</table>")
    return ('<h2 id="overview">Overview</h2><div class="grid"><table>'
            + "".join(f"<tr><th>{k}</th><td>{_fmt(v)}</td></tr>" for k, v in overview)
            + f"</table>{target_table}{''.join(image(t, png) for t, png in images)}</div>")


def roles_section(decisions: Mapping[str, list[str]], id_examples: Mapping[str, list[str]],
                  column_stats: Mapping[str, Any]) -> str:
    """What Preprocess does with each column that is not an ordinary feature."""
    items = []
    for name in decisions.get("dropped_id_like", []):
        examples = ", ".join(id_examples.get(name, []))
        items.append(f"<tr><td>{html.escape(name)}</td><td>ID-like: listed, not plotted, "
                     f"dropped</td><td>{column_stats[name]['unique']:,} distinct, e.g. "
                     f"{html.escape(examples)}</td></tr>")
    for key, role in (("dropped_constant", "constant: dropped"),
                      ("calendar_features", "date: calendar features (see over time)"),
                      ("leaking_stop_the_run", "leaks the target: the run stops"),
                      ("suspected_leak_kept", "predicts the target almost exactly: kept "
                                              "(check it is not a copy)")):
        for name in decisions.get(key, []):
            stats = column_stats.get(name, {})
            items.append(f"<tr><td>{html.escape(name)}</td><td>{role}</td>"
                         f"<td>{stats.get('unique', '')} distinct</td></tr>")
    if not items:
        return ""
    return ('<h2 id="roles">Columns that are not plain features</h2><div class="scroll short">'
            "<table><tr><th>column</th><th>role</th><th>values</th></tr>"
            f"{''.join(items)}</table></div>")


def over_time_section(images: Sequence[tuple[str, bytes]]) -> str:
    if not images:
        return ""
    return ('<h2 id="over-time">Over time</h2><div class="grid">'
            + "".join(image(t, png) for t, png in images) + "</div>")


def feature_target_section(views: Sequence[FeatureView], overall: float, outcome_label: str,
                           kinds: Mapping[str, list[str]]) -> str:
    """One row per feature, strongest association first, each with its sparkline."""
    if not views:
        return ""
    leaks = {name for name, found in kinds.items() if AlertKind.TARGET_LEAKAGE.value in found}
    scale = spark_scale([value for view in views if view.name not in leaks
                         for _, _, value in view.groups], overall)
    rows = []
    for view in views:
        alerted = ", ".join(kinds.get(view.name, []))
        rows.append(
            f'<tr id="{anchor(view.name)}"><td>{html.escape(view.name)}'
            + (f' <span class="kinds">{html.escape(alerted)}</span>' if alerted else "")
            + f"</td><td>{view.kind}</td><td>{view.association:.3f} "
            f'<span class="bar" style="width:{round(60 * view.association)}px"></span></td>'
            f"<td>{sparkline_svg(view, overall, outcome_label, scale)}</td></tr>")
    return ('<h2 id="feature-target">Each feature against the target</h2>'
            f"<p>Association: Cramér's V of the feature's groups (deciles, or the most frequent "
            f"levels) with the target, 0 (none) to 1 (determines it). Bars: "
            f"{html.escape(outcome_label)} per group (red: missing values), dashed: overall "
            f"{overall:.3g}; hover a bar for its rows.</p>"
            '<div class="scroll"><table><tr><th>feature</th><th>kind</th><th>association</th>'
            f"<th>{html.escape(outcome_label)} by group</th></tr>{''.join(rows)}</table></div>")


def column_statistics_table(column_stats: Mapping[str, Any]) -> str:
    """The plain per-column table: the body when skrub is not installed."""
    headers = ["column", "type", "missing", "missing %", "unique", "mean", "std", "min",
               "median", "max", "top categories"]
    rows = []
    for name, stats in column_stats.items():
        quantiles = stats.get("quantiles", {})
        top = ", ".join(f"{k} ({v})" for k, v in list(stats.get("top_categories", {}).items())[:5])
        cells = [name, stats["type"], stats["missing"], f"{stats['missing_fraction']:.1%}",
                 stats["unique"], stats.get("mean"), stats.get("std"), stats.get("min"),
                 quantiles.get("p50"), stats.get("max"), top]
        rows.append("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in cells) + "</tr>")
    return ('<h2 id="table">Column statistics</h2><table><tr>'
            + "".join(f"<th>{h}</th>" for h in headers) + "</tr>" + "".join(rows) + "</table>")


def render_page(head: Sequence[str], notes: Sequence[str], body: str) -> str:
    """The document: the title, a menu of the sections present, notes, `head`, then `body`."""
    sections = re.findall(r'<h2 id="([^"]+)">([^<]+)</h2>', "".join(head) + body)
    menu = "".join(f'<a href="#{i}">{html.escape(html.unescape(t))}</a>' for i, t in sections)
    notes_html = "".join(f"<p class=note>{html.escape(n)}</p>" for n in notes)
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Data profile</title><style>{STYLE}</style></head><body>"
            f"<h1>Data profile</h1><nav>{menu}</nav>{notes_html}{''.join(head)}{body}"
            "</body></html>\n")
