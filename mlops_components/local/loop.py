"""The loop closed on one machine: what `mlops up --local` does after serving a model.

In AWS the stack wires serve -> monitor -> retrain through services; here each service's
part runs as the plan declares it:

1. the deployer's part: the served package's drift baseline goes to the monitor's
   ``BaselineUri`` (``models/<model>/deployed-baseline/``);
2. traffic: rows of the run's test split with two numeric features shifted, sent to the local
   endpoint, which captures them where the real endpoint does (``capture/<endpoint>/``);
3. the plan's monitoring pipeline runs its DriftCheck job under the job environment; its
   metrics go to a local CloudWatch file (``cloudwatch/metrics.jsonl`` in the workdir);
4. the plan's drift alarms are evaluated against those metrics;
5. the alarm's state-change event is matched against the plan's retrain rules;
6. the retrain gate's cooldown is checked against the local executions (reported: in AWS it
   would hold the event; the loop starts the run anyway, to show it);
7. a new training run, whose gate compares the challenger with the champion.
"""

from __future__ import annotations

import csv
import io
import json
import operator
import shutil
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_components.functions import deployer, retrain_gate
from mlops_components.local.batch import execute_batch, has_batch
from mlops_components.local.events import matches
from mlops_components.local.executions import (
    ExecutionStatus,
    allocate_execution,
    executions,
    record_execution,
)
from mlops_components.local.executor import (
    ExecutionInterrupted,
    ExecutionResult,
    LocalPipelineExecutor,
    StepCallback,
)
from mlops_components.local.run import (
    PIPELINE,
    LocalRun,
    LocalRunInterrupted,
    job_variables,
    step_outputs,
)
from mlops_components.local.smoke import (
    FUNCTION,
    held_out_csv_files,
    invoke,
    planned_endpoint_name,
    serve_package,
)
from mlops_components.local.workdir import LocalWorkdir
from mlops_components.plan import Plan
from mlops_components.sagemaker.monitor_spec import (
    CAPTURE_URI_FLAG,
    DRIFT_CHECK_STEP,
    MonitorParameter,
)
from mlops_components.sagemaker.spec import StepName
from training.contract import (
    BASELINE_STATISTICS_FILE,
    DRIFT_HTML_FILE,
    DRIFT_OUTPUT,
    DRIFT_REPORT_FILE,
    LOCAL_METRICS_FILE_ENV,
    LOCAL_S3_ROOT_ENV,
    SPLITS,
)
from training.serve import request_body

MONITOR_TYPE = "mlops:index:ModelMonitor"
RETRAIN_TYPE = "mlops:index:RetrainTrigger"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
RULE = "aws:cloudwatch/eventRule:EventRule"
LOCAL_METRICS_FILE = Path("cloudwatch") / "metrics.jsonl"
"""The local CloudWatch: metric data the jobs would have put, one JSON object a line."""

SHIFTED_FEATURES = 2
SHIFT_STANDARD_DEVIATIONS = 3.0
TRAFFIC_ROWS = 300
ROWS_PER_REQUEST = 10

_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


class LoopStopped(Exception):
    """The loop cannot go on (the stack has no monitor, nothing was served...): why."""


@dataclass
class LoopResult:
    """What one turn of the loop did, stage by stage."""

    lines: list[tuple[str, str]] = field(default_factory=list)
    """(stage, message) in order."""
    report: dict[str, Any] | None = None
    alarms: dict[str, str] = field(default_factory=dict)
    """Drift alarm name -> ALARM, OK or INSUFFICIENT_DATA."""
    matched_rules: list[str] = field(default_factory=list)
    retrain: LocalRun | None = None


# --------------------------------------------------------------------------------------
# What the plan declares


def monitor_definition(plan: Plan) -> dict[str, Any]:
    """The processing monitor's pipeline definition (one DriftCheck step)."""
    pipelines = plan.of_type(PIPELINE, MONITOR_TYPE)
    if not pipelines:
        raise LoopStopped("the stack has no processing-engine ModelMonitor, so there is no "
                          "drift check to run here")
    return json.loads(pipelines[0].inputs["pipelineDefinition"])


def _drift_step(definition: Mapping[str, Any]) -> Mapping[str, Any]:
    return next(s for s in definition["Steps"] if s["Name"] == DRIFT_CHECK_STEP)["Arguments"]


def _drift_argument(definition: Mapping[str, Any], flag: str) -> str:
    arguments = list(_drift_step(definition)["AppSpecification"]["ContainerArguments"])
    return arguments[arguments.index(flag) + 1]


def capture_uri(definition: Mapping[str, Any]) -> str:
    """s3:// prefix of the endpoint's capture the DriftCheck job reads (its --capture-uri)."""
    return _drift_argument(definition, CAPTURE_URI_FLAG)


def baseline_uri(definition: Mapping[str, Any]) -> str:
    defaults = {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}
    return defaults[MonitorParameter.BASELINE_URI.value]


# --------------------------------------------------------------------------------------
# 1. the deployer's part


def publish_baseline(workdir: LocalWorkdir, package: Mapping[str, Any], destination: str,
                     source_workdir: LocalWorkdir | None = None) -> list[str]:
    """Copy the package's drift baseline files under ``destination`` (the local S3), reading
    them from ``source_workdir``'s local S3 (default: the same workdir)."""
    target = workdir.s3.path(destination)
    copied = []
    for uri in deployer.baseline_uris(package):
        source = (source_workdir or workdir).s3.path(uri)
        if not source.is_file():
            raise LoopStopped(f"the package's drift baseline {uri} is missing ({source})")
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / source.name)
        copied.append(source.name)
    if not copied:
        raise LoopStopped(f"package version {package.get('ModelPackageVersion')} has no "
                          "drift baseline to monitor against")
    return copied


# --------------------------------------------------------------------------------------
# 2. traffic


def baseline_features(statistics: Path) -> list[str]:
    """The model's input columns in request order: the baseline's features."""
    try:
        return [feature["name"] for feature in json.loads(statistics.read_text())["features"]]
    except (OSError, ValueError, KeyError, TypeError) as problem:
        raise LoopStopped(f"cannot read the baseline's features from {statistics}: "
                          f"{problem}") from problem


def shifted_traffic(sources: Path | Sequence[Path], features: Sequence[str],
                    rows: int = TRAFFIC_ROWS, seed: int = 0) -> tuple[list[str], list[str]]:
    """CSV request bodies (``ROWS_PER_REQUEST`` rows each, no header: what SageMaker clients
    send) of `rows` distinct rows of the `sources` CSV files (fewer if they hold fewer), only
    the model's ``features`` in their order (no target, no dropped ID column), the most
    spread numeric ones moved by a few standard deviations; and the names of the shifted
    features. Rows are drawn without replacement: 300 draws from the 86 rows of a test split
    repeat each row 3.5 times, a window that is not a sample of the training distribution,
    and the drift check rightly flags unshifted features of it."""
    import pandas as pd

    paths = [sources] if isinstance(sources, Path) else list(sources)
    frame = pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise LoopStopped(f"the split data lacks the model's features {missing}")
    frame = frame[list(features)]
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])
               and frame[c].nunique() > 2]
    spread = frame[numeric].std().sort_values(ascending=False) if numeric else pd.Series()
    shifted = [str(c) for c in spread.index[:SHIFTED_FEATURES]]
    rows = min(rows, len(frame))
    sample = frame.sample(n=rows, replace=False, random_state=seed).reset_index(drop=True)
    for column in shifted:
        step = float(spread[column]) or 1.0
        sample[column] = sample[column] + SHIFT_STANDARD_DEVIATIONS * step
    bodies = []
    for start in range(0, rows, ROWS_PER_REQUEST):
        out = io.StringIO()
        sample.iloc[start:start + ROWS_PER_REQUEST].to_csv(out, index=False, header=False,
                                                           quoting=csv.QUOTE_MINIMAL)
        bodies.append(out.getvalue())
    return bodies, shifted


def traffic_sources(run: LocalRun, test: Sequence[Path]) -> list[Path]:
    """The split files traffic is drawn from: the test split, then validation and train (a
    small table's test split alone is too few distinct rows for a window)."""
    outputs = run.local_outputs(StepName.PREPROCESS.value)
    others = [path for split in reversed(SPLITS[:-1]) if (folder := outputs.get(split))
              and folder.is_dir() for path in sorted(folder.glob("*.csv"))]
    return [*test, *others]


def send_traffic(url: str, bodies: Sequence[str]) -> tuple[int, list[str]]:
    """POST every body; (how many answered 200, the distinct failure lines)."""
    answered, failures = 0, []
    for body in bodies:
        status, text = invoke(url, body)
        if status == 200:
            answered += 1
        elif (line := f"HTTP {status}: {text.strip()[:200]}") not in failures:
            failures.append(line)
    return answered, failures


# --------------------------------------------------------------------------------------
# 3-4. the drift check and the alarms

MALFORMED_REASONS = {
    request_body.WRONG_COLUMN_COUNT: "requests whose rows have another number of values than "
                                     "the model's features",
    request_body.MISSING_COLUMN: "requests whose header leaves out a feature",
    request_body.UNKNOWN_COLUMN: "requests naming a column the model does not know",
    request_body.REPEATED_COLUMN: "requests naming a column twice",
    request_body.HEADER_WITHOUT_ROWS: "CSV requests with a header and no rows",
    request_body.BAD_CSV: "CSV requests that cannot be parsed",
    request_body.BAD_JSON: "JSON requests that are neither records, rows nor columns",
    request_body.EMPTY_BODY: "empty requests",
    request_body.NOT_UTF8: "requests that are not UTF-8 text",
    "bad JSON": "capture lines that are not JSON",
    "bad base64": "requests whose base64 body does not decode",
    "unknown encoding": "requests in an encoding SageMaker capture does not write",
    "unsupported content type": "requests that are neither CSV nor JSON",
}
"""The drift job's reasons for not reading a request, in words: the endpoint's reasons for
refusing one (`training.serve.request_body`), then the capture reader's (a reason not listed
here is shown as the job names it)."""


def malformed(report: Mapping[str, Any]) -> Counter:
    """What the drift report counted as malformed, by reason (reasons with a count only)."""
    by_reason = (report.get("malformed") or {}).get("by_reason") or {}
    return Counter({str(reason): int(count) for reason, count in by_reason.items() if count})


def malformed_words(counts: Mapping[str, int]) -> str:
    """``4 requests whose rows...; 1 ...``: each reason in words."""
    return "; ".join(f"{count} {MALFORMED_REASONS.get(reason, reason)}"
                     for reason, count in sorted(counts.items(), key=lambda item: -item[1]))


def malformed_summary(report: Mapping[str, Any]) -> str:
    """How many requests the drift check could not read and why, or '' when it read them all
    (it reads them as the endpoint does, so the smoke request's header and target column are
    traffic)."""
    counts = malformed(report)
    if not counts:
        return ""
    return f"{sum(counts.values())} malformed: {malformed_words(counts)}"


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The local CloudWatch's metric data, oldest first (unreadable lines skipped)."""
    data = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                data.append(json.loads(line))
            except ValueError:
                continue
    return data


def alarm_state(alarm: Mapping[str, Any], metrics: Sequence[Mapping[str, Any]]
                ) -> tuple[str, float | None]:
    """The state a metric alarm of the plan takes on the newest matching datum."""
    dimensions = dict(alarm.get("dimensions") or {})
    values = [m["Value"] for m in metrics
              if m.get("Namespace") == alarm.get("namespace")
              and m.get("MetricName") == alarm.get("metricName")
              and {d["Name"]: d["Value"] for d in m.get("Dimensions", [])} == dimensions]
    compare = _COMPARISONS.get(alarm.get("comparisonOperator", ""))
    if not values or compare is None:
        return "INSUFFICIENT_DATA", None
    return ("ALARM" if compare(values[-1], float(alarm["threshold"])) else "OK"), values[-1]


def alarm_event(name: str, reason: str, region: str = "us-east-1") -> dict[str, Any]:
    """The CloudWatch Alarm State Change event EventBridge would deliver."""
    return {"version": "0", "source": "aws.cloudwatch",
            "detail-type": "CloudWatch Alarm State Change", "region": region,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "resources": [f"arn:aws:cloudwatch:{region}:000000000000:alarm:{name}"],
            "detail": {"alarmName": name, "state": {"value": "ALARM", "reason": reason},
                       "previousState": {"value": "OK"}}}


# --------------------------------------------------------------------------------------
# The loop


def close_the_loop(run: LocalRun, package: Mapping[str, Any],
                   retrain: Callable[[], LocalRun], say: Callable[[str, str], None],
                   on_step: StepCallback | None = None) -> LoopResult:
    """Turn the loop once after ``run`` served ``package`` (see the module docstring).

    ``retrain`` starts the new training run (the caller knows its data and flags); ``say``
    reports each stage as it ends. Raises :class:`LoopStopped` when a stage cannot run.
    """
    result = LoopResult()

    def tell(stage: str, message: str) -> None:
        result.lines.append((stage, message))
        say(stage, message)

    workdir = LocalWorkdir(run.workdir)
    definition = monitor_definition(run.plan)
    endpoint = planned_endpoint_name(run.plan)
    if endpoint is None:
        raise LoopStopped("the stack has no ModelEndpoint, so no traffic to monitor")

    # 1. the deployer copies the baseline where the monitor reads it
    destination = baseline_uri(definition)
    copied = publish_baseline(workdir, package, destination)
    tell("deploy", f"version {package['ModelPackageVersion']}'s drift baseline "
                   f"({', '.join(copied)}) copied to {destination}, as the deployer does")

    # 2. shifted traffic to the local endpoint, captured where the real one captures
    test = held_out_csv_files(run)
    if not test:
        raise LoopStopped("the run left no test split to draw traffic from")
    bodies, shifted = shifted_traffic(traffic_sources(run, test), baseline_features(
        workdir.s3.path(destination) / BASELINE_STATISTICS_FILE))
    captured = capture_uri(definition)
    with serve_package(run.workdir, package, python=str(run.job_environment.python),
                       endpoint_name=endpoint) as server:
        answered, failures = send_traffic(server.url, bodies)
    rows = sum(len(body.splitlines()) for body in bodies)
    tell("traffic", f"{rows} distinct rows of the splits (test first) in {len(bodies)} requests to "
                    f"the local endpoint {endpoint}, with {', '.join(shifted) or 'no feature'} "
                    f"moved by +{SHIFT_STANDARD_DEVIATIONS:g} standard deviations; "
                    f"{answered} answered 200; captured under {captured}"
         + (f"; failures: {'; '.join(failures)}" if failures else ""))
    if answered == 0:
        raise LoopStopped("no request was answered, so nothing was captured")

    # 3. the monitoring pipeline's DriftCheck, metrics to the local CloudWatch
    metrics_file = run.workdir / LOCAL_METRICS_FILE
    execution = _run_monitor(run, definition, metrics_file, on_step)
    if execution.status != "Succeeded":
        logs = workdir.jobs / execution.execution_id
        raise LoopStopped(f"drift check {execution.execution_id} {execution.status}: "
                          f"{execution.failure_reason} (logs: {logs})")
    report_dir = step_outputs(execution, DRIFT_CHECK_STEP, workdir.s3)[DRIFT_OUTPUT]
    report = json.loads((report_dir / DRIFT_REPORT_FILE).read_text())
    result.report = report
    drifted = [f for f in report["features"] if f["drifted"]]
    checked = f"{report['rows_analyzed']} captured rows of the monitor's window checked"
    if report["status"] != "ok":
        checked += f" ({report['status']}: too few rows to judge)"
    unread = malformed_summary(report)
    tell("drift", f"{checked}: " + (
        f"drift in {', '.join(_scored(f) for f in drifted)}" if drifted else "no drift")
        + (f"; {len(report['violations'])} schema violations" if report["violations"] else "")
        + (f"; {unread}" if unread else "")
        + f"; report: {report_dir / DRIFT_HTML_FILE}")

    # 3b. with batch inference in the stack: one batch (the held-out rows) through its pipeline
    if has_batch(run.plan):
        tell("batch", _score_one_batch(run, test, package, on_step))

    # 4. the drift alarms on those metrics
    metrics = read_metrics(metrics_file)
    alarms = run.plan.of_type(ALARM, MONITOR_TYPE)
    rules = {r.inputs.get("name") or r.name: json.loads(r.inputs["eventPattern"])
             for r in run.plan.of_type(RULE, RETRAIN_TYPE) if r.inputs.get("eventPattern")}
    events = []
    for alarm in alarms:
        name = alarm.inputs.get("name") or alarm.name
        state, value = alarm_state(alarm.inputs, metrics)
        result.alarms[name] = state
        if state == "ALARM":
            events.append(alarm_event(name, f"{alarm.inputs.get('metricName')} = {value:g}"))
    tell("alarm", ", ".join(f"{name}: {state}" for name, state in result.alarms.items())
         or "the monitor declares no alarms")

    # 5. the retrain rules against the alarm events
    for event in events:
        result.matched_rules += [name for name, pattern in rules.items()
                                 if matches(pattern, event)]
    if not result.matched_rules:
        tell("rule", "no retrain rule matches " + (
            "the alarm events" if events else "(no alarm is in ALARM)") + ": no retraining")
        return result
    tell("rule", f"retrain rule {', '.join(sorted(set(result.matched_rules)))} matches "
                 f"{events[0]['detail']['alarmName']} entering ALARM")

    # 6. the gate's cooldown, as the Lambda would judge it
    tell("gate", _cooldown_verdict(run, ignore={execution.execution_id}))

    # 7. retrain: the new run's gate compares the challenger with the champion
    result.retrain = retrain()
    return result


def _score_one_batch(run: LocalRun, files: Sequence[Path], package: Mapping[str, Any],
                     on_step: StepCallback | None) -> str:
    """The test split's files scored by the stack's batch pipeline, as a batch landing under
    batch/input/ would be: the counts, the batch's own drift verdict, where the output is."""
    folder = Path(files[0]).parent
    batch = execute_batch(run.plan, run.workdir, folder, files, run.job_environment,
                          group=str(package["ModelPackageGroupName"]),
                          shown=f"the held-out split ({len(files)} file(s))", on_step=on_step)
    if not batch.ready or batch.output_dir is None:
        return (f"batch run {batch.execution.execution_id}: "
                f"{batch.reason or batch.execution.failure_reason}")
    report, drift = batch.report, batch.drift_report() or {}
    drifted = [str(f["name"]) for f in drift.get("features", []) if f.get("drifted")]
    return (f"{report['scored']} of {report['rows']} rows of {batch.data} scored with version "
            f"{package['ModelPackageVersion']} by the batch pipeline ({report['refused']} "
            f"refused); its drift: {', '.join(drifted) or 'none'}; output: "
            f"{batch.output_dir}")


def _scored(feature: Mapping[str, Any]) -> str:
    return f"{feature['name']} (score {feature['drift_score']:.2f})"


def _run_monitor(run: LocalRun, definition: dict[str, Any], metrics_file: Path,
                 on_step: StepCallback | None) -> ExecutionResult:
    workdir = LocalWorkdir(run.workdir)
    variables = {**job_variables(run.job_environment),
                 **monitor_variables(workdir, metrics_file)}
    executor = LocalPipelineExecutor(definition, run.workdir, on_step=on_step,
                                     python=str(run.job_environment.python),
                                     job_variables=variables)
    execution_id = allocate_execution(workdir.jobs)
    try:
        execution = executor.run(execution_id=execution_id)
    except ExecutionInterrupted as interrupt:
        reason = interrupt.result.failure_reason
        record_execution(workdir.jobs, execution_id, ExecutionStatus.INTERRUPTED, reason)
        raise LocalRunInterrupted(f"drift check {execution_id} {reason}; no report, no alarm "
                                  f"(logs: {workdir.jobs / execution_id})") from None
    record_execution(workdir.jobs, execution_id, execution.status, execution.failure_reason)
    return execution


def monitor_variables(workdir: LocalWorkdir, metrics_file: Path) -> dict[str, str]:
    """What the drift job gets locally: the local CloudWatch file, and the local S3 folder,
    which it lists and reads (the window's hour folders, the baseline) instead of S3."""
    return {LOCAL_METRICS_FILE_ENV: str(metrics_file), LOCAL_S3_ROOT_ENV: str(workdir.s3.root)}


def _cooldown_verdict(run: LocalRun, ignore: set[str]) -> str:
    """What the retrain gate Lambda would decide now, from the local executions (those in
    ``ignore``, the monitor's, are not training executions)."""
    gates = run.plan.of_type(FUNCTION, RETRAIN_TYPE)
    variables = ((gates[0].inputs.get("environment") or {}).get("variables") or {}) \
        if gates else {}
    try:
        config = retrain_gate.Config.from_env(variables)
    except retrain_gate.ConfigError:
        return "the rule starts the pipeline directly (no cooldown gate): retraining"
    now = datetime.now(UTC)
    training = [{"PipelineExecutionArn": record.execution_id,
                 "PipelineExecutionStatus": record.status,
                 "StartTime": _started(record.started)}
                for record in executions(LocalWorkdir(run.workdir).jobs)
                if record.execution_id not in ignore]
    blocked = retrain_gate.blocking_execution(training, now, config.cooldown_seconds)
    if blocked:
        return (f"in AWS the retrain gate would hold this event ({blocked}); the local loop "
                "starts the run anyway, to show the challenger against the champion")
    return f"the retrain gate (cooldown {config.cooldown_seconds} s) lets it start: retraining"


def _started(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None
