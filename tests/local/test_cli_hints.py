"""Every command the CLI prints as a hint works as printed, on the workdir and group it came from;
and `mlops serve`, run as a process, stops its model server on SIGTERM and SIGHUP.

The hints are collected from real output (a served run, a run waiting for approval, `serve`
with nothing approved, `approve`, `status`) and each one is run in a subprocess from another
folder, exactly as printed. Each run's project also has a decoy registry in the stack's
default workdir, so a hint that forgets ``--workdir`` acts on the decoy and the test sees it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import yaml
from sklearn.datasets import load_breast_cancer

from mlops_components.cli.main import _parser
from mlops_components.local.commands import Where
from mlops_components.local.registry import LocalRegistry
from tests.conftest import REPO_ROOT
from tests.local.conftest import PROJECT_FILES, UpRun, run_cli, up_local

HINT_RE = re.compile(r"`(mlops [^`]+)`")
STACK = "staging"  # not the default stack: hints must name it
GROUP = "tumours"  # the group a --data run on tumours.csv registers into
SERVE_START_SECONDS = 90
COMMAND_SECONDS = 60


def hints(text: str) -> list[str]:
    return HINT_RE.findall(text)


def argv(hint: str) -> list[str]:
    words = shlex.split(hint)
    assert words[0] == "mlops"
    return [sys.executable, "-m", "mlops_components.cli", *words[1:]]


def environment() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "250", "PYTHONPATH": str(REPO_ROOT)}


def run_hint(hint: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(argv(hint), cwd=cwd, env=environment(), capture_output=True,
                          text=True, timeout=COMMAND_SECONDS)


def serve_hint(hint: str, cwd: Path) -> str:
    """Start an `mlops serve` hint, wait for the line saying where it serves, Ctrl-C it.

    ``--port 0`` is added: the hint leaves the port at its default (8080), which another
    process on a shared machine may hold; the port is not what the hint chooses."""
    process = subprocess.Popen([*argv(hint), "--port", "0"], cwd=cwd, env=environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = _read_line(process, SERVE_START_SECONDS)
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert " at http://127.0.0.1:" in line, f"{hint}: {line}{out}{err}"
    assert process.returncode == 0, f"{hint}: {err}"
    return line


def _read_line(process: subprocess.Popen, timeout: float) -> str:
    import selectors

    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    if not selector.select(timeout):
        return "(no output in time)"
    return process.stdout.readline()


def decoy_registry(project: Path, stack: str, group: str) -> LocalRegistry:
    """A package of ``group`` in the stack's default workdir: what a hint without
    --workdir would act on (it has no model archive, so serving it fails)."""
    registry = LocalRegistry(project / ".mlops" / stack / "registry")
    registry.register({"ModelPackageGroupName": group,
                       "ModelApprovalStatus": "PendingManualApproval",
                       "InferenceSpecification": {"Containers": [
                           {"ModelDataUrl": "s3://decoy/model.tar.gz"}]}})
    return registry


@pytest.fixture(scope="session")
def pending_run(tmp_path_factory) -> tuple[UpRun, Path]:
    """`mlops up --local` with --project-dir, --stack staging (manual approval), --workdir
    and --data: a package waiting for approval in a group named after the data."""
    project = tmp_path_factory.mktemp("hint-project")
    for name in PROJECT_FILES:
        shutil.copy(REPO_ROOT / name, project / name)
    config = yaml.safe_load((project / "Pulumi.dev.yaml").read_text())
    config["config"]["mlops:approvalStatus"] = "PendingManualApproval"
    (project / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(config))
    data = tmp_path_factory.mktemp("hint-data") / f"{GROUP}.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(data, index=False)
    decoy_registry(project, STACK, GROUP)
    return up_local(project, tmp_path_factory.mktemp("hint-workdir"), "--stack", STACK,
                    "--data", data, "--target", "target"), project


@pytest.mark.slow
def test_hints_after_a_pending_run_approve_and_serve_the_run_s_package(pending_run, tmp_path):
    # GIVEN a run with every flag a hint must repeat, whose package waits for approval
    run, project = pending_run
    assert run.cli.code == 0, run.cli.text
    decoy = LocalRegistry(project / ".mlops" / STACK / "registry")
    printed = hints(run.cli.text)
    approve = [hint for hint in printed if hint.startswith("mlops approve")]
    serve = [hint for hint in printed if hint.startswith("mlops serve")]
    assert approve and serve, run.cli.text
    # `mlops serve` with nothing approved says how to approve: the same command
    waiting = run_hint(Where(STACK, project, run.workdir, GROUP).command("serve"),
                       tmp_path)
    assert waiting.returncode == 2
    approve += [hint for hint in hints(waiting.stderr) if hint.startswith("mlops approve")]
    assert len(approve) == 2, waiting.stderr

    # WHEN each approve hint runs as printed, from another folder
    for hint in approve:
        result = run_hint(hint, tmp_path)
        # THEN it approved the run's package, not the decoy's
        assert result.returncode == 0, f"{hint}: {result.stderr}"
        assert run.registry.get(GROUP, 1)["ModelApprovalStatus"] == "Approved"
        assert decoy.get(GROUP, 1)["ModelApprovalStatus"] == "PendingManualApproval"
        serve += [h for h in hints(result.stdout) if h.startswith("mlops serve")]

    status = run_hint(Where(STACK, project, run.workdir, GROUP).command("status"),
                      tmp_path)
    assert status.returncode == 0, status.stderr
    serve += [hint for hint in hints(status.stdout) if hint.startswith("mlops serve")]
    assert len(serve) == 4, serve

    # and each serve hint serves the run's package (the decoy has no model to serve)
    for hint in serve:
        assert f"serving {GROUP} version 1 at" in serve_hint(hint, tmp_path)


@pytest.mark.slow
def test_hints_after_a_served_run_keep_serving_its_model(default_run, project_dir, tmp_path):
    run, project = default_run, project_dir
    assert run.cli.code == 0, run.cli.text
    decoy_registry(project, "dev", run.registry.groups()[0])
    printed = [hint for hint in hints(run.cli.text) if hint.startswith("mlops serve")]
    assert printed, run.cli.text
    status = run_hint(Where("dev", project, run.workdir).command("status"), tmp_path)
    assert status.returncode == 0, status.stderr
    printed += [hint for hint in hints(status.stdout) if hint.startswith("mlops serve")]
    assert len(printed) == 2
    for hint in printed:
        assert "version 1 at" in serve_hint(hint, tmp_path)


def test_hints_to_run_mlops_up_name_the_workdir_they_looked_in(tmp_path):
    """The `mlops up` hints are not run (a full run and loop); they must parse, and point at
    the project, stack and workdir the command looked in."""
    project = tmp_path / "project"
    project.mkdir()
    for name in PROJECT_FILES:
        shutil.copy(REPO_ROOT / name, project / name)
    workdir = tmp_path / "empty workdir"
    workdir.mkdir()
    serve = run_cli("serve", "--project-dir", project, "--workdir", workdir, "--port", "0")
    listing = run_cli("registry", "list", "--local", "--project-dir", project, "--stack",
                      "prod", "--workdir", tmp_path / "missing")
    drift = run_cli("drift", "--local", "--project-dir", project, "--stack", "prod",
                    "--workdir", workdir, "--data", tmp_path / "rows.csv")
    for cli, folder, stack in ((serve, workdir, "dev"), (listing, tmp_path / "missing", "prod"),
                               (drift, workdir, "prod")):
        assert cli.code == 2
        (hint,) = hints(cli.err.replace("\n", " "))
        args = _parser().parse_args(shlex.split(hint)[1:])
        assert args.handler.__name__ == "_up" and args.local, hint
        assert (args.project_dir, args.stack, args.workdir) == (project, stack, folder), hint


def test_drift_hints_approve_and_check_on_the_workdir_and_group_they_came_from(tmp_path):
    """`mlops drift` names `mlops approve` when nothing is approved, and itself with --local
    when that is missing; each runs as printed, from another folder, on the same registry."""
    from tests.local.test_drift_cli import approved_package

    project = tmp_path / "project"
    project.mkdir()
    for name in PROJECT_FILES:
        shutil.copy(REPO_ROOT / name, project / name)
    workdir = tmp_path / "drift workdir"
    approved_package(workdir, GROUP, status="PendingManualApproval")
    decoy = decoy_registry(project, "dev", GROUP)
    rows = tmp_path / "rows.csv"
    rows.write_text("age,income\n1,2\n")  # not the model's features: refused once approved
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    flags = ["--project-dir", project, "--workdir", workdir, "--group", GROUP, "--data", rows]

    (approve,) = hints(run_cli("drift", "--local", *flags).err.replace("\n", " "))
    result = run_hint(approve, elsewhere)
    assert result.returncode == 0, f"{approve}: {result.stderr}"
    assert LocalRegistry(workdir / "registry").get(GROUP, 1)["ModelApprovalStatus"] == "Approved"
    assert decoy.get(GROUP, 1)["ModelApprovalStatus"] == "PendingManualApproval"

    (drift,) = hints(run_cli("drift", *flags).err.replace("\n", " "))
    result = run_hint(drift, elsewhere)
    # the approved package is found; the file's columns are what stops it now
    assert result.returncode == 2 and "its columns are not the model's 3 features" in \
        result.stderr, f"{drift}: {result.stderr}"


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_serve_stops_its_model_server_on_sigterm_and_sighup(default_run, project_dir, signum,
                                                             tmp_path):
    # GIVEN `mlops serve` of a model trained under the image's Python: a server process
    command = Where("dev", project_dir, default_run.workdir).command("serve")
    process = subprocess.Popen([*argv(command), "--port", "0"], cwd=tmp_path, env=environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # a hang-up reaches it alone
    children: list[psutil.Process] = []
    try:
        line = _read_line(process, SERVE_START_SECONDS)
        port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
        children = psutil.Process(process.pid).children(recursive=True)
        assert children, "the model server was expected to run in a process of its own"
        # WHEN it is asked to stop as a service manager or a closed terminal asks
        process.send_signal(signum)
        out, err = process.communicate(timeout=30)
        # THEN it stopped as on Ctrl-C: the model server is gone and the port is closed
        assert process.returncode == 0, err
        assert f"stopped by {signum.name}" in out
        _, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"left running: {alive}"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        for child in children:  # what this test started, if the command left it behind
            if child.is_running():
                child.kill()
        if process.poll() is None:
            process.kill()
            process.communicate()
