"""Local pipeline executions: unique IDs when runs start together, and a record of each.

``jobs/<execution>/execution.json`` says how an execution ended (``Executing`` while it
runs, then ``Succeeded``, ``Failed`` or ``Interrupted``), so `mlops registry list --local` can
say which runs were cut short. IDs are allocated under the jobs folder's lock and the
execution's folder is created with ``mkdir`` (which fails if it exists), so two runs that
start at the same moment on one workdir never share an ID, an input prefix or a job folder.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_components.local.atomic import locked, write_atomic

EXECUTION_RECORD = "execution.json"
EXECUTION_PREFIX = "local-"
_EXECUTION_RE = re.compile(rf"^{EXECUTION_PREFIX}(\d+)$")


class ExecutionStatus:
    """The states a local execution's record can hold (SageMaker's names where it has one)."""

    EXECUTING = "Executing"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    INTERRUPTED = "Interrupted"
    STOPPED = "Stopped"
    """Read-only: the record says Executing but its process is gone (killed, not Ctrl-C)."""


@dataclass(frozen=True)
class ExecutionRecord:
    execution_id: str
    status: str
    detail: str
    started: str


def allocate_execution(jobs: Path) -> str:
    """A new execution ID, its folder created and recorded as Executing."""
    with locked(jobs):
        numbers = [int(match.group(1)) for path in jobs.iterdir()
                   if (match := _EXECUTION_RE.match(path.name))]
        number = max(numbers, default=0) + 1
        while True:
            execution_id = f"{EXECUTION_PREFIX}{number:04d}"
            try:
                (jobs / execution_id).mkdir()
                break
            except FileExistsError:  # another writer that does not take the lock
                number += 1
    record_execution(jobs, execution_id, ExecutionStatus.EXECUTING)
    return execution_id


def record_execution(jobs: Path, execution_id: str, status: str, detail: str = "") -> None:
    """Write (atomically) how ``execution_id`` stands."""
    path = jobs / execution_id / EXECUTION_RECORD
    previous = _read(path) or {}
    write_atomic(path, json.dumps({
        "ExecutionId": execution_id, "Status": status, "Detail": detail,
        "StartTime": previous.get("StartTime", time.strftime("%Y-%m-%dT%H:%M:%S%z")),
        "Pid": os.getpid(),
    }, indent=2) + "\n")


def executions(jobs: Path) -> list[ExecutionRecord]:
    """Every recorded execution, oldest first; Executing ones whose process died are Stopped."""
    found = []
    paths = sorted(jobs.glob(f"{EXECUTION_PREFIX}*/{EXECUTION_RECORD}")) if jobs.is_dir() else []
    for path in paths:
        record = _read(path)
        if record is None:
            continue
        status = record.get("Status", "")
        if status == ExecutionStatus.EXECUTING and not _alive(record.get("Pid")):
            status = ExecutionStatus.STOPPED
        found.append(ExecutionRecord(record.get("ExecutionId", path.parent.name), status,
                                     record.get("Detail", ""), record.get("StartTime", "")))
    return found


def _read(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
