"""Several `mlops up --local` on one workdir at once, and Ctrl-C, as real processes.

Runs start together from a shell loop or two terminals; each must get its own execution, read
only its own data and register its own version. Ctrl-C (a real SIGINT to the process) must
stop the running job, record the execution as Interrupted, exit 130 with one line, and leave
nothing a later run trips over. Linux/macOS: the workdir lock is ``fcntl.flock``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer

from mlops_components.cli.errors import EXIT_INTERRUPTED
from mlops_components.local.executions import (
    EXECUTION_RECORD,
    ExecutionStatus,
    allocate_execution,
    executions,
)
from mlops_components.local.jobs import JOB_LOG
from mlops_components.local.registry import LocalRegistry
from mlops_components.local.run import discard_execution
from mlops_components.local.workdir import LocalWorkdir
from tests.conftest import REPO_ROOT
from tests.local.conftest import run_cli

pytestmark = pytest.mark.slow

COLUMNS = ["mean radius", "mean texture", "mean concavity", "worst area", "target"]


def small_csv(path: Path, rows: slice) -> Path:
    """A few columns and rows of the breast-cancer data: a quick, still learnable run."""
    frame = load_breast_cancer(as_frame=True).frame[COLUMNS].iloc[rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.rename(columns={"target": "label"}).to_csv(path, index=False)
    return path


def start_up(project_dir: Path, workdir: Path, data: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mlops_components.cli", "up", "--local", "--no-loop",
         "--project-dir", str(project_dir), "--workdir", str(workdir), "--data", str(data),
         "--target", "label",
         # one group for all three: versions are allocated under the registry's lock
         "--model-name", "shared", "--threshold", "0.5"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "250"})


def _allocate(jobs: str) -> str:
    return allocate_execution(Path(jobs))


def test_executions_allocated_at_once_get_distinct_ids(tmp_path):
    jobs = tmp_path / "jobs"
    with ProcessPoolExecutor(max_workers=6) as pool:
        ids = list(pool.map(_allocate, [str(jobs)] * 24))

    assert sorted(ids) == [f"local-{n:04d}" for n in range(1, 25)]
    assert {r.status for r in executions(jobs)} == {ExecutionStatus.STOPPED}  # pids are gone


def test_three_runs_at_once_on_one_workdir_keep_to_their_own_data(project_dir, tmp_path):
    workdir = tmp_path / "shared-workdir"
    data = {name: small_csv(tmp_path / "data" / f"{name}.csv", rows)
            for name, rows in (("first", slice(0, 189)), ("second", slice(189, 378)),
                               ("third", slice(378, 569)))}

    processes = {name: start_up(project_dir, workdir, path) for name, path in data.items()}
    outputs = {name: process.communicate(timeout=600) for name, process in processes.items()}

    execution_of = {}
    for name, (out, err) in outputs.items():
        assert processes[name].returncode == 0, out[-2000:] + err[-2000:]
        assert "Traceback" not in out + err
        execution_of[name] = re.search(r"local execution (local-\d{4}): Succeeded", out).group(1)
    assert len(set(execution_of.values())) == 3, execution_of

    registry = LocalRegistry(workdir / "registry")
    packages = registry.packages()
    assert sorted(p["ModelPackageVersion"] for p in packages) == [1, 2, 3]
    bucket = next((workdir / "s3").iterdir())
    for name, execution_id in execution_of.items():
        # Its input prefix holds its own file and nothing else.
        inputs = bucket / "raw" / "local" / execution_id
        assert sorted(p.name for p in inputs.rglob("*") if p.is_file()) == [f"{name}.csv"]
        # Exactly one package, whose model, metrics and baselines are this execution's.
        own = [p for p in packages if f"/{execution_id}/" in
               p["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]]
        assert len(own) == 1, (execution_id, [p["ModelPackageArn"] for p in packages])
        uris = re.findall(r"s3://[^\"]+", json.dumps(own[0]["ModelMetrics"]))
        assert uris and all(f"/{execution_id}/" in uri for uri in uris), uris
    records = {r.execution_id: r.status for r in executions(workdir / "jobs")}
    assert records == {execution_id: ExecutionStatus.SUCCEEDED
                       for execution_id in execution_of.values()}


def _processes_in(folder: Path) -> list[int]:
    """PIDs whose working directory is under ``folder`` (a job that outlived its run)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")).is_relative_to(folder):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="needs /proc (Linux)")
def test_ctrl_c_stops_the_job_and_records_the_execution_as_interrupted(project_dir,
                                                                       tmp_path):
    workdir = tmp_path / "workdir"
    process = start_up(project_dir, workdir, small_csv(tmp_path / "data.csv", slice(0, 200)))
    jobs = workdir / "jobs"
    deadline = time.monotonic() + 300
    while not _processes_in(jobs / "local-0001") and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    assert _processes_in(jobs / "local-0001"), "no job started"

    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)

    assert process.returncode == EXIT_INTERRUPTED, out + err
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and re.match(
        r"interrupted: execution local-0001 interrupted during step \w+; its partial outputs "
        r"were removed and nothing was registered", lines[0]), err
    assert _processes_in(jobs) == []  # the job was stopped, not left running
    (record,) = executions(jobs)
    assert (record.execution_id, record.status) == ("local-0001", ExecutionStatus.INTERRUPTED)
    # Nothing left that a later run could read: no objects of the execution, no job folders.
    assert not [p for p in (workdir / "s3").rglob("local-0001")]
    leftovers = {p.name for p in (jobs / "local-0001").rglob("*") if p.is_file()}
    assert leftovers <= {JOB_LOG, EXECUTION_RECORD}
    assert LocalRegistry(workdir / "registry").packages() == []
    assert allocate_execution(jobs) == "local-0002"

    listing = run_cli("registry", "list", "--local", "--project-dir", project_dir,
                      "--workdir", workdir)
    assert "execution local-0001" in listing.text and "Interrupted" in listing.text


@pytest.mark.parametrize("registered", [False, True])
def test_discarding_an_interrupted_execution_keeps_what_a_registered_package_needs(
        tmp_path, registered):
    layout = LocalWorkdir(tmp_path)
    execution_id = allocate_execution(layout.jobs)
    model = layout.s3.root / "bucket" / "models" / "training" / execution_id / "model.tar.gz"
    other = layout.s3.root / "bucket" / "models" / "training" / "local-0099" / "model.tar.gz"
    job = layout.jobs / execution_id / "Train"
    for path in (model, other, job / JOB_LOG, job / "opt" / "ml" / "model" / "model.joblib"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")

    discard_execution(layout, execution_id, keep_objects=registered)

    assert model.exists() == registered
    assert other.exists()  # another execution's objects are never touched
    assert {p.relative_to(layout.jobs / execution_id).as_posix()
            for p in (layout.jobs / execution_id).rglob("*") if p.is_file()} == {
        EXECUTION_RECORD, f"Train/{JOB_LOG}"}
