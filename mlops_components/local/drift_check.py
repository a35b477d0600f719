"""`mlops drift --local`: a file's rows checked as if they were the approved model's traffic.

The rows are read as the jobs read a data file (``training/data/files.py``: the delimiter
detected, values kept as written), put in the model's feature order (its baseline's), and
written as capture records (``training/capture.py``, the one writer) under the planned
endpoint's capture prefix of a temporary local S3. The approved package's baseline goes where
the monitor reads it (the deployer's part), and the plan's monitoring pipeline runs its
DriftCheck job there, as the loop after serving does; the plan's monitor alarms are judged on
the metrics it writes. Nothing lands in the workdir: the file's rows are not the endpoint's
traffic and must not reach its monitor, its metrics or its alarms.

The drift job's report is read generically: per feature ``name``, ``drifted`` and ``metrics``
(each ``{value, threshold, drifted}``); top level ``status``, ``rows_analyzed``,
``malformed.by_reason``, ``violations[].description`` and ``note`` when present.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_components.enums import ApprovalStatus
from mlops_components.functions import deployer
from mlops_components.functions.deployer.config import VARIANT_NAME
from mlops_components.local.commands import Where
from mlops_components.local.executions import allocate_execution, record_execution
from mlops_components.local.executor import LocalPipelineExecutor, StepCallback
from mlops_components.local.job_env import JobEnvironment
from mlops_components.local.jobs import JOB_LOG
from mlops_components.local.loop import (
    ALARM,
    MONITOR_TYPE,
    ROWS_PER_REQUEST,
    alarm_state,
    baseline_features,
    baseline_uri,
    capture_uri,
    monitor_definition,
    monitor_variables,
    publish_baseline,
    read_metrics,
)
from mlops_components.local.registry import LocalRegistry
from mlops_components.local.run import job_variables, materialise_uploads, step_outputs
from mlops_components.local.workdir import LocalWorkdir, writable_workdir
from mlops_components.plan import plan_stack
from mlops_components.sagemaker.monitor_spec import DRIFT_CHECK_STEP
from mlops_components.sagemaker.spec import TARGET_COLUMN_METADATA
from training import capture
from training.contract import BASELINE_STATISTICS_FILE, DRIFT_OUTPUT, DRIFT_REPORT_FILE
from training.data.files import DELIMITER_NAMES, inspect_file, read_checked
from training.data.problems import errors

#: The content type the rows are captured with: what SageMaker clients send.
CSV_CONTENT_TYPE = "text/csv"
#: The accept type recorded with each request (no model answers: the rows are not served).
ACCEPT_TYPE = "application/json"
_SHOWN_COLUMNS = 8


class DriftCheckError(LookupError):
    """The check cannot run on what was given (one line for the user, exit status 2)."""


class DriftJobFailed(RuntimeError):
    """The drift job ran and failed (exit status 1): its reason and the end of its log."""


@dataclass
class DriftCheck:
    """The outcome of checking a file's rows against the approved package's baseline."""

    group: str
    version: int
    data: Path
    rows: int
    report: dict[str, Any]
    alarms: dict[str, str] = field(default_factory=dict)
    """The plan's monitor alarm name -> ALARM, OK or INSUFFICIENT_DATA on this check's metrics."""
    notes: list[str] = field(default_factory=list)

    @property
    def alarm(self) -> bool:
        """Whether a planned monitor alarm would go to ALARM on these rows."""
        return any(state == "ALARM" for state in self.alarms.values())

    def features(self) -> list[dict[str, Any]]:
        """Per feature: its name, its verdict and each metric ``{value, threshold, drifted}``."""
        return [{"name": feature.get("name"), "drifted": bool(feature.get("drifted")),
                 **dict(feature.get("metrics") or {})}
                for feature in self.report.get("features") or []]

    def summary(self) -> dict[str, Any]:
        """The ``--json`` document."""
        return {"alarm": self.alarm, "features": self.features(), "group": self.group,
                "version": self.version, "data": str(self.data), "rows": self.rows,
                "status": self.report.get("status"), "alarms": dict(self.alarms)}


# --------------------------------------------------------------------------------------
# What to check against


def approved_package(registry: LocalRegistry, group: str, here: Where) -> dict[str, Any]:
    """The latest approved package of ``group``, or a :class:`DriftCheckError` that says
    which command makes one (repeating the ``--workdir`` and ``--group`` given)."""
    groups = registry.groups()
    versions = registry.packages(group) if group in groups else []
    if not versions:
        there = (f"no approved model package to check against: group {group} has no "
                 f"packages under {registry.root} (groups there: {', '.join(groups) or 'none'})")
        if here.group:  # a --data run registers into a group of its own: a template, unquoted
            raise DriftCheckError(
                f"{there}; pick one of those with --group, or train this one with "
                f"{here.command('up', data='FILE', target='COLUMN', model_name=group)}")
        raise DriftCheckError(
            f"{there}; {here.quoted('up')} trains and registers one (approved at once unless "
            f"the stack's approvalStatus is {ApprovalStatus.PENDING_MANUAL_APPROVAL.value})")
    package = registry.latest_approved(group)
    if package is None:
        latest = versions[-1]["ModelPackageVersion"]
        states = ", ".join(f"{p['ModelPackageVersion']} {p['ModelApprovalStatus']}"
                           for p in versions)
        raise DriftCheckError(
            f"no approved model package in group {group} under {registry.root} (versions: "
            f"{states}); approve one with {here.quoted('approve', version=latest)}")
    return package


def baseline_statistics(workdir: LocalWorkdir, package: Mapping[str, Any]) -> Path:
    """The package's statistics.json in the workdir's local S3 (its features, in order)."""
    for uri in deployer.baseline_uris(package):
        path = workdir.s3.path(uri)
        if path.name == BASELINE_STATISTICS_FILE:
            if not path.is_file():
                raise DriftCheckError(f"version {package.get('ModelPackageVersion')}'s drift "
                                      f"baseline {uri} is missing ({path})")
            return path
    raise DriftCheckError(f"version {package.get('ModelPackageVersion')} has no drift "
                          "baseline (statistics.json) to check against")


# --------------------------------------------------------------------------------------
# The file's rows


def _shown(names: Sequence[str]) -> str:
    text = ", ".join(names[:_SHOWN_COLUMNS])
    return text + (f" and {len(names) - _SHOWN_COLUMNS} more" if len(names) > _SHOWN_COLUMNS
                   else "")


def read_rows(path: Path, features: Sequence[str], target: str | None = None
              ) -> tuple[Any, list[str]]:
    """The file's rows as the jobs read them, only ``features`` in their order; and notes.

    A ``target`` column is left out (the endpoint ignores it); any other column the model
    does not take, or a feature the file lacks, is refused by name.
    """
    if path.is_dir():
        raise DriftCheckError(f"--data {path}: is a folder; give one CSV file")
    try:
        file_format = inspect_file(path)
        problems = list(file_format.problems)
        frame = None
        if not errors(problems):
            frame, read_problems = read_checked(path, file_format.delimiter)
            problems += read_problems
    except OSError as problem:
        raise DriftCheckError(f"--data {path}: cannot read it "
                              f"({problem.strerror or problem})") from problem
    failed = errors(problems)
    if failed or frame is None:
        raise DriftCheckError(f"--data: {(failed or problems)[0].message}")
    notes = [problem.message for problem in problems]
    columns = [str(column) for column in frame.columns]
    missing = [name for name in features if name not in columns]
    extra = [name for name in columns if name not in features and name != target]
    if len(columns) == 1 and len(features) > 1 and missing:
        allowed = ", ".join(f"{name} ({symbol!r})" for symbol, name in DELIMITER_NAMES.items())
        raise DriftCheckError(
            f"--data {path}: reads as one column ({columns[0][:60]!r}): its delimiter is not "
            f"one that is read: {allowed}; the model takes {len(features)} columns")
    if missing or extra:
        parts = ([f"missing {len(missing)}: {_shown(missing)}"] if missing else []) + \
                ([f"extra {len(extra)}: {_shown(extra)}"] if extra else [])
        allowed = f" (the target column {target!r} may stay)" if target else ""
        raise DriftCheckError(
            f"--data {path}: its columns are not the model's {len(features)} features: "
            f"{'; '.join(parts)}{allowed}")
    if target and target in columns:
        notes.append(f"column {target!r} is the model's target: left out, as the endpoint "
                     "ignores it")
    if frame.empty:
        raise DriftCheckError(f"--data {path}: has a header but no rows to check")
    return frame[list(features)], notes


def capture_rows(frame: Any, folder: Path, time: datetime | None = None,
                 rows_per_request: int = ROWS_PER_REQUEST) -> int:
    """Write the rows as capture records under ``folder`` (CSV bodies, no header, as
    SageMaker clients send them; ``rows_per_request`` rows each); return the record count."""
    time = time or datetime.now(UTC)
    records = []
    for start in range(0, len(frame), rows_per_request):
        body = io.StringIO()
        frame.iloc[start:start + rows_per_request].to_csv(
            body, index=False, header=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        records.append(capture.capture_record(body.getvalue().removesuffix("\n"),
                                              CSV_CONTENT_TYPE, "",
                                              ACCEPT_TYPE, time=time))
    capture.append_records(folder, records)
    return len(records)


# --------------------------------------------------------------------------------------
# The check


def check_file(project_dir: Path, stack: str, workdir: Path, group: str, data: Path,
               here: Where, job_environment: JobEnvironment,
               model_name: str | None = None, on_step: StepCallback | None = None
               ) -> DriftCheck:
    """Check ``data``'s rows against the latest approved package of ``group`` in ``workdir``
    with the stack's planned drift check (``model_name``: the stack's model, planned under
    ``group`` when they differ, as a ``--data`` run plans it)."""
    source = LocalWorkdir(workdir)
    package = approved_package(source.registry, group, here)
    metadata = package.get("CustomerMetadataProperties") or {}
    features = baseline_features(baseline_statistics(source, package))
    frame, notes = read_rows(data, features, metadata.get(TARGET_COLUMN_METADATA))
    overrides = {"modelName": group} if model_name and group != model_name else {}
    plan = plan_stack(project_dir, stack, overrides)
    definition = monitor_definition(plan)
    with tempfile.TemporaryDirectory(prefix="mlops-drift-") as temporary:
        layout = writable_workdir(Path(temporary))
        materialise_uploads(plan, layout.s3)
        publish_baseline(layout, package, baseline_uri(definition), source_workdir=source)
        capture_rows(frame, layout.s3.path(capture_uri(definition)) / VARIANT_NAME)
        metrics_file = layout.root / "metrics.jsonl"
        executor = LocalPipelineExecutor(
            definition, layout.root, on_step=on_step, python=str(job_environment.python),
            job_variables={**job_variables(job_environment),
                           **monitor_variables(layout, metrics_file)})
        execution_id = allocate_execution(layout.jobs)
        execution = executor.run(execution_id=execution_id)
        record_execution(layout.jobs, execution_id, execution.status, execution.failure_reason)
        if execution.status != "Succeeded":  # the temporary folder goes: keep the log's end
            log = next((layout.jobs / execution_id).rglob(JOB_LOG), None)
            tail = log.read_text(errors="replace").strip().splitlines()[-5:] if log else []
            raise DriftJobFailed("\n".join([f"the drift check {execution.status}: "
                                             f"{execution.failure_reason}", *tail]))
        report_dir = step_outputs(execution, DRIFT_CHECK_STEP, layout.s3)[DRIFT_OUTPUT]
        report = json.loads((report_dir / DRIFT_REPORT_FILE).read_text())
        metrics = read_metrics(metrics_file)
    alarms = {}
    for alarm in plan.of_type(ALARM, MONITOR_TYPE):
        alarms[alarm.inputs.get("name") or alarm.name] = alarm_state(alarm.inputs, metrics)[0]
    return DriftCheck(group=group, version=int(package["ModelPackageVersion"]), data=data,
                      rows=len(frame), report=report, alarms=alarms, notes=notes)

