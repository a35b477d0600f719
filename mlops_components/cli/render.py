"""What the CLI shows: the plan's tree and outputs, live step progress, the run's summary."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from mlops_components.enums import ApprovalStatus
from mlops_components.local.workdir import LocalWorkdir
from mlops_components.sagemaker.packages import package_metrics
from mlops_components.sagemaker.spec import PipelineParameter, StepName
from training.contract import (
    ALERTS_FILE,
    BASELINE_GAP,
    CHAMPION_COMPARISON,
    CHAMPION_DATA_DIGEST,
    CHAMPION_GAP,
    CHAMPION_GAP_HIGH,
    CHAMPION_PRESENT,
    CHAMPION_ROWS,
    CHAMPION_SEEN_ROWS,
    DATA_DIGEST,
    DATA_UNCHANGED,
    EVALUATION_FILE,
    EVALUATION_OUTPUT,
    GATE_SECTION,
    REPORT_OUTPUT,
    SUMMARY_FILE,
    TEST_ROWS,
    TEST_SPLIT_NOTE,
    TEST_SPLIT_SUFFICIENT,
    comparison_verdict,
)
from training.lineage import short_digest

if TYPE_CHECKING:
    from mlops_components.local.run import LocalRun
    from mlops_components.plan import Plan

_MARKS = {"Succeeded": "[green]✓[/green]", "Failed": "[red]✗[/red]"}
#: Critical and warning data alerts listed one per line in the summary, at most.
MAX_ALERT_LINES = 8


class StepProgress:
    """A spinner on the running step; one line per finished step with its time."""

    def __init__(self, console: Console):
        self.console = console
        self._status = None
        self._started: dict[str, float] = {}

    def __enter__(self) -> StepProgress:
        self._status = self.console.status("planning offline (Pulumi mock runtime)…")
        self._status.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._status.__exit__(*exc_info)

    def update(self, name: str, kind: str, status: str) -> None:
        if status == "Executing":
            self._started[name] = time.perf_counter()
            self._status.update(f"[bold]{name}[/bold] ({kind}) running…")
        elif status in _MARKS:
            seconds = time.perf_counter() - self._started.get(name, time.perf_counter())
            self.console.print(f"{_MARKS[status]} {name:<22} {kind:<14} {seconds:6.1f}s",
                               highlight=False)
        else:
            self._status.update(f"[bold]{name}[/bold] ({kind}): {status}")

    def job_environment(self, dev_env: bool) -> Any:
        """The jobs' interpreter: the development one (``--dev-env``), or the image's, built
        once and cached, with its progress on the spinner."""
        from mlops_components.local.job_env import dev_environment
        from mlops_components.local.run import image_job_environment

        if dev_env:
            return dev_environment()
        return image_job_environment(
            progress=lambda message: self.update("job environment", "", message))


def render_summary(console: Console, run: LocalRun) -> None:
    """Metrics, the gate decision, the registered package and where the reports are."""
    execution = run.execution
    table = Table(title=f"local execution {execution.execution_id}: {execution.status}")
    for column in ("step", "type", "status", "seconds", "detail"):
        table.add_column(column, overflow="fold")
    for step in execution.steps:
        # A failure's reason (and its log) is printed once, below the table.
        detail = "see 'failed:' below" if step.status == "Failed" else step.detail
        if step.type in ("Training", "Tuning") and step.status == "Succeeded" and detail:
            detail = f"validation split: {detail}"  # the gate reads the test split
        table.add_row(step.name, step.type, step.status, f"{step.seconds:.1f}", detail)
    console.print(table)
    console.print(f"data: {run.dataset}", highlight=False)
    console.print(run.job_environment.description, highlight=False)
    console.print(f"registry: {run.registry.root}", highlight=False, soft_wrap=True)
    _render_profile(console, run)

    s3 = LocalWorkdir(run.workdir).s3
    for step in execution.steps:
        if step.name == StepName.NEW_DATA_CHECK.value and step.type == "Condition":
            console.print(training_data_line(run, bool(step.properties.get("Outcome"))),
                          highlight=False, soft_wrap=True)
        elif step.type == "Condition":
            passed = bool(step.properties.get("Outcome"))
            verdict = "[green]passed[/green]" if passed else "[red]failed[/red]"
            words = _gate_in_words(run)
            if words:
                console.print(f"quality gate: {verdict}: " + "; ".join(words), highlight=False)
            else:
                console.print(f"quality gate: {verdict} " + "; ".join(
                    _comparison(values) for values in step.properties.get("Conditions", [])))
        if step.type == "RegisterModel":
            console.print(f"registered: {step.detail}", highlight=False)
            arn = step.properties.get("ModelPackageArn", "")
            package = next((p for p in run.registry.packages()
                            if p["ModelPackageArn"] == arn), None)
            if package:
                metrics = package_metrics(package, s3.read_text)
                console.print(f"metrics: {format_metrics(metrics)}", highlight=False)
    if execution.failure_reason:
        console.print(f"[red]failed:[/red] {execution.failure_reason}", highlight=False)
    reports, plots = _reports(run)
    for path in reports:
        console.print(f"report: {path}", highlight=False, soft_wrap=True)
    for folder, count in plots.items():
        console.print(f"plots:  {count} PNG in {folder}", highlight=False, soft_wrap=True)


def format_metrics(metrics: dict[str, Any]) -> str:
    """``accuracy=0.9419, roc_auc=n/a``: a metric a split could not give (None) is n/a."""
    return ", ".join(
        f"{name}={value:.4f}" if isinstance(value, (int, float)) and not isinstance(value, bool)
        else f"{name}=n/a" for name, value in metrics.items())


_SYMBOLS = {"GreaterThanOrEqualTo": ">=", "GreaterThan": ">", "LessThanOrEqualTo": "<=",
            "LessThan": "<", "Equals": "=="}


def _comparison(values: dict[str, Any]) -> str:
    """``0.9419 >= 0.999 (short by 0.0571)`` for a resolved comparison."""
    symbol = _SYMBOLS.get(values.get("Type", ""))
    if symbol is None or not isinstance(values.get("LeftValue"), (int, float)):
        return json.dumps(values)
    left, right = float(values["LeftValue"]), float(values["RightValue"])
    text = f"{left:.4f} {symbol} {right:g}"
    holds = {">=": left >= right, ">": left > right, "<=": left <= right, "<": left < right,
             "==": left == right}[symbol]
    return text + ("" if holds else f" (missed by {abs(left - right):.4f})")


def _step_file(run: LocalRun, output: str, name: str) -> Any:
    """A JSON file a succeeded processing step wrote into one of its outputs, or None."""
    for step in run.execution.steps:
        if step.type != "Processing" or step.status != "Succeeded":
            continue
        folder = run.local_outputs(step.name).get(output)
        if folder is not None and (folder / name).is_file():
            return json.loads((folder / name).read_text())
    return None


def _render_profile(console: Console, run: LocalRun) -> None:
    """The EDA alerts (critical and warning ones by line) and the rows without a target."""
    found = _step_file(run, REPORT_OUTPUT, ALERTS_FILE)
    summary = _step_file(run, REPORT_OUTPUT, SUMMARY_FILE) or {}
    missing = summary.get("rows_missing_target")
    if missing:
        console.print(f"rows dropped: {missing} of {summary.get('rows')} have no target value",
                      highlight=False)
    if not found:
        return
    counts = found.get("counts", {})
    console.print("data alerts: " + ", ".join(f"{count} {severity}"
                                              for severity, count in counts.items()),
                  highlight=False)
    serious = [a for a in found.get("alerts", []) if a.get("severity") in ("critical", "warning")]
    for alert in serious[:MAX_ALERT_LINES]:
        console.print(f"  {alert['severity']}: {alert['message']}", highlight=False,
                      soft_wrap=True)
    if len(serious) > MAX_ALERT_LINES:
        console.print(f"  … {len(serious) - MAX_ALERT_LINES} more in {ALERTS_FILE}",
                      highlight=False)


def training_data_line(run: LocalRun, registered: bool) -> str:
    """One line on the training data against the champion's, and what that decided."""
    gate = (_step_file(run, EVALUATION_OUTPUT, EVALUATION_FILE) or {}).get(GATE_SECTION, {})
    digest = short_digest(gate.get(DATA_DIGEST)) or "unknown"
    if not gate.get(DATA_UNCHANGED):
        champion = short_digest(gate.get(CHAMPION_DATA_DIGEST))
        return f"training data: {digest}" + (
            f" (the champion's: {champion})" if gate.get(CHAMPION_PRESENT) and champion else "")
    version = (run.champion_package() or {}).get("ModelPackageVersion", "?")
    unchanged = f"training data unchanged since the champion (version {version}, data {digest})"
    if registered:
        return (f"{unchanged}: registered anyway, as {PipelineParameter.REGISTER_UNCHANGED_DATA}"
                " is true")
    return (f"{unchanged}: not registered (a model of the same data can only tie with it); "
            "new data registers, and so does the same run with --register-unchanged-data "
            "(or the stack's registerUnchangedData: true)")


def retrain_outcome(run: LocalRun) -> str:
    """One line: what a retraining run's champion/challenger gate led to."""
    if run.unchanged_data_held_back():
        version = (run.champion_package() or {}).get("ModelPackageVersion", "?")
        return (f"the challenger was trained on the champion's own data (version {version}): "
                "nothing was registered; the champion keeps serving")
    registered = [step for step in run.execution.steps
                  if step.type == "RegisterModel" and step.status == "Succeeded"]
    if registered:
        arn = registered[-1].properties.get("ModelPackageArn", "")
        package = next((p for p in run.registry.packages() if p["ModelPackageArn"] == arn), {})
        approved = package.get("ModelApprovalStatus") == ApprovalStatus.APPROVED.value
        approve = run.where.with_group(package.get("ModelPackageGroupName")).quoted(
            "approve", version=package.get("ModelPackageVersion"))
        return (f"the challenger passed the gate and is registered ({registered[-1].detail}); "
                + ("approved, so the endpoint's deployer would deploy it now" if approved else
                   f"it is deployed once approved ({approve})"))
    if any(step.type == "Fail" for step in run.execution.steps):
        return ("the challenger did not pass the gate: the champion keeps serving "
                "(nothing was registered)")
    return f"the retraining run {run.execution.status}: {run.execution.failure_reason}"


def _gate_in_words(run: LocalRun) -> list[str]:
    """Each check of the gate as a true sentence, with the split its numbers come from."""
    document = _step_file(run, EVALUATION_OUTPUT, EVALUATION_FILE)
    gate = (document or {}).get(GATE_SECTION)
    parameters = run.execution.parameters
    if not gate:
        return []
    metric, model = gate["metric"], gate["model"]
    threshold = float(parameters.get(PipelineParameter.METRIC_THRESHOLD.value, math.nan))
    higher = gate.get("higher_is_better", True)
    meets = model >= threshold if higher else model <= threshold
    rows = f" ({gate[TEST_ROWS]} test rows)" if gate.get(TEST_ROWS) else ""
    words = [f"{metric} on the test split {_fmt(model)} "
             + (f"meets the threshold {threshold:g}" if meets else
                f"is {'below' if higher else 'above'} the threshold {threshold:g}") + rows]
    if not gate.get(TEST_SPLIT_SUFFICIENT, 1):
        words.insert(0, gate.get(TEST_SPLIT_NOTE, "the test split is too small to decide"))

    def against(rival: str, value_key: str, gap_key: str, margin: PipelineParameter) -> str:
        """How the model compares with ``rival`` (beats, matches, trails: a tie never
        beats) and whether that clears the margin, with both numbers."""
        needed = float(parameters.get(margin.value, math.nan))
        gap = gate.get(gap_key)
        value = _fmt(gate.get(value_key))
        if gap is None:
            return f"was not compared with the {rival}"
        verdict = comparison_verdict(gap)
        if gap >= needed:
            if verdict == "matches":
                return (f"matches the {rival} ({value}): a tie, which the margin {needed:g} "
                        "accepts (gap 0.0000)")
            return f"beats the {rival} ({value}) by the margin {needed:g} (gap {_fmt(gap)})"
        how = "by less" if verdict == "beats" else ""
        return (f"does not beat the {rival} ({value}) by the margin {needed:g} "
                f"(gap {_fmt(gap)}: it {verdict} it{' ' + how if how else ''})")

    words.append(against("trivial baseline", "baseline", BASELINE_GAP,
                         PipelineParameter.BASELINE_MARGIN))
    if gate.get(CHAMPION_PRESENT):
        words.append(_against_champion(gate, float(parameters.get(
            PipelineParameter.CHAMPION_MARGIN.value, math.nan))))
        if gate.get(CHAMPION_SEEN_ROWS):
            words.append(f"compared on the {gate[CHAMPION_ROWS]} test rows the champion never "
                         f"learnt from ({gate[CHAMPION_SEEN_ROWS]} left out: its split rule puts "
                         "them in its train or validation split)")
        if gate.get(CHAMPION_COMPARISON):
            words.append(gate[CHAMPION_COMPARISON])
    else:
        words.append(gate.get("champion_note") or "no champion yet")
    return words


def _against_champion(gate: dict[str, Any], needed: float) -> str:
    """The champion check as the gate decides it: on the top of the paired interval of the
    gap (CHAMPION_GAP_HIGH), so a challenger trailing within the noise passes and says so."""
    gap, value = gate.get(CHAMPION_GAP), _fmt(gate.get("champion"))
    if gap is None:
        return "was not compared with the champion"
    high = gate.get(CHAMPION_GAP_HIGH, gap)
    verdict = comparison_verdict(gap)
    if high < needed:
        return (f"is worse than the champion ({value}) beyond the noise (gap {_fmt(gap)}; the "
                f"top of its 95 % interval {_fmt(high)} is below the margin {needed:g})")
    if verdict == "matches":
        return f"matches the champion ({value}): a tie, which the margin {needed:g} accepts"
    if verdict == "beats" and gap >= needed:
        return f"beats the champion ({value}) by the margin {needed:g} (gap {_fmt(gap)})"
    return (f"{verdict} the champion ({value}) within the noise (gap {_fmt(gap)}; the top of "
            f"its 95 % interval {_fmt(high)} reaches the margin {needed:g})")


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "n/a"


def _reports(run: LocalRun) -> tuple[list[Path], dict[Path, int]]:
    """HTML reports and evaluation files, and the folders of plots, the steps wrote."""
    reports: list[Path] = []
    plots: dict[Path, int] = {}
    for step in run.execution.steps:
        if step.type != "Processing" or step.status != "Succeeded":
            continue
        for folder in run.local_outputs(step.name).values():
            reports += sorted(folder.rglob("*.html")) + sorted(folder.rglob(EVALUATION_FILE))
            for png in folder.rglob("*.png"):
                plots[png.parent] = plots.get(png.parent, 0) + 1
    return reports, plots


def render_tree(plan: Plan) -> Tree:
    """The resource tree: type and name of every resource under its parent."""
    root = Tree(f"[bold]stack {plan.stack}[/bold]")
    nodes: dict[str, Tree] = {}
    for resource in plan.resources:
        parent = nodes.get(resource.parent or "", root)
        style = "bold cyan" if not resource.custom else "green"
        nodes[resource.urn] = parent.add(
            f"[{style}]{resource.type}[/{style}] {resource.name}", highlight=False)
    return root


def render_outputs(plan: Plan) -> Table:
    table = Table(title="stack outputs", show_lines=False)
    table.add_column("output")
    table.add_column("value", overflow="fold")
    for name, value in sorted(plan.outputs.items()):
        table.add_row(name, value if isinstance(value, str) else json.dumps(value))
    return table


_AUTOMATION_TYPES = {
    "aws:cloudwatch/eventRule:EventRule": "rule",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "alarm",
    "aws:sagemaker/monitoringSchedule:MonitoringSchedule": "schedule",
}


def render_automation(plan: Plan) -> Table | None:
    """Every schedule, event rule and alarm: when each fires and what it starts or watches."""
    targets: dict[str, list[str]] = {}
    for resource in plan.resources:
        if resource.type == "aws:cloudwatch/eventTarget:EventTarget":
            targets.setdefault(resource.name.rsplit("-target", 1)[0], []).append(
                str(resource.inputs.get("arn", "")).rsplit(":", 1)[-1])
    table = Table(title="schedules, rules and alarms")
    for column in ("kind", "name", "fires on", "starts / watches"):
        table.add_column(column, overflow="fold")
    for resource in plan.resources:
        kind = _AUTOMATION_TYPES.get(resource.type)
        if kind is not None:
            table.add_row(kind, resource.name, *_automation_row(kind, resource.inputs,
                                                                targets.get(resource.name)))
    return table if table.row_count else None


def _automation_row(kind: str, inputs: dict[str, Any], targets: list[str] | None
                    ) -> tuple[str, str]:
    if kind == "alarm":
        symbol = {"GreaterThanOrEqualToThreshold": ">=", "GreaterThanThreshold": ">"}.get(
            inputs.get("comparisonOperator", ""), inputs.get("comparisonOperator", "?"))
        metric = inputs.get("metricName") or "max of " + ", ".join(
            q["metric"]["metricName"] for q in inputs.get("metricQueries", []) if q.get("metric"))
        threshold = inputs.get("threshold")
        shown = f"{threshold:g}" if isinstance(threshold, (int, float)) else threshold
        return f"{metric} {symbol} {shown}", str(inputs.get("name", ""))
    if kind == "schedule":
        config = inputs.get("monitoringScheduleConfig", {})
        return (config.get("scheduleConfig", {}).get("scheduleExpression", ""),
                f"Model Monitor {config.get('monitoringType', '')}")
    if inputs.get("scheduleExpression"):
        fires = inputs["scheduleExpression"]
    else:
        pattern = json.loads(inputs.get("eventPattern") or "{}")
        fires = " ".join(pattern.get("detail-type", [])) + " " + json.dumps(
            pattern.get("detail", {}), sort_keys=True)
    return fires, ", ".join(targets or [])
