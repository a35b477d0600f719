"""Every `mlops ...` command in the README's ```bash blocks runs as written.

In a temporary copy of the project, as a user would type them (the data files they name are
made small so the runs are quick). Commands that talk to SageMaker run against a moto server
through ``AWS_ENDPOINT_URL`` and throwaway credentials, with no region in the environment: the
region must come from the stack's ``aws:region``. Commands of one stack run in README order
(the registry verbs need the run before them); the stacks run side by side, which
`mlops up --local` allows on one workdir.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import yaml
from sklearn.datasets import load_breast_cancer, load_diabetes

from tests.conftest import REPO_ROOT

PROJECT_FILES = ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.staging.yaml", "Pulumi.prod.yaml",
                 "__main__.py")
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
AWS_VERBS = ("registry", "approve", "reject", "status")
#: Commands that act on what the stack's latest local run left (so they follow it).
LOCAL_FOLLOWERS = (*AWS_VERBS, "serve", "drift", "batch", "promote", "lineage")
#: Commands that run until Ctrl-C: started, given time to come up, then interrupted.
SERVES_UNTIL_CTRL_C = ("serve",)


def serve_then_interrupt(argv: list[str], cwd: Path, environment: dict[str, str]
                         ) -> subprocess.CompletedProcess:
    """Run a serving command until it says where it serves (or exits), then press Ctrl-C."""
    process = subprocess.Popen(argv, cwd=cwd, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    first = process.stdout.readline() if process.stdout else ""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(argv, process.returncode, first + out, err)


@dataclass(frozen=True)
class Command:
    line: str
    argv: list[str]
    comment: str

    @property
    def stack(self) -> str:
        """The stack it reads (promote: the one it promotes from)."""
        flag = "--from" if self.argv[0] == "promote" else "--stack"
        return self.argv[self.argv.index(flag) + 1] if flag in self.argv else "dev"

    @property
    def needs_aws(self) -> bool:
        return self.argv[0] in AWS_VERBS and "--local" not in self.argv

    @property
    def expected_exit(self) -> int:
        found = re.search(r"\bexit (\d+)", self.comment)
        return int(found.group(1)) if found else 0


def readme_commands() -> list[Command]:
    text = (REPO_ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        for line in block.splitlines():
            if line.startswith("mlops "):
                code, _, comment = line.partition("#")
                commands.append(Command(line, shlex.split(code)[1:], comment))
    return commands


def _sequences(commands: list[Command]) -> list[list[Command]]:
    """Commands that must run in order: a local registry verb follows the latest run of its
    stack; every run and every other command can go alongside the rest."""
    sequences: list[list[Command]] = []
    latest_run: dict[str, list[Command]] = {}
    for command in commands:
        if command.argv[0] in LOCAL_FOLLOWERS and not command.needs_aws \
                and command.stack in latest_run:
            latest_run[command.stack].append(command)
            if command.argv[0] == "promote":  # the target's verbs follow the promotion
                target = command.argv[command.argv.index("--to") + 1]
                latest_run[target] = latest_run[command.stack]
            continue
        sequences.append([command])
        if command.argv[0] == "up":
            latest_run[command.stack] = sequences[-1]
    return sorted(sequences, key=lambda s: -len(s))  # the longest first


def _data_files(folder: Path) -> None:
    """Small versions of the files the README's commands name."""
    cancer = load_breast_cancer(as_frame=True).frame.iloc[:, [0, 1, 6, 23, 30]]
    cancer = cancer.rename(columns={"target": "churned"})
    cancer.iloc[:160].to_csv(folder / "my.csv", index=False)
    (folder / "shards").mkdir()
    for index in range(3):
        cancer.iloc[index * 60:(index + 1) * 60].to_csv(folder / "shards" / f"part-{index}.csv",
                                                        index=False)
    diabetes = load_diabetes(as_frame=True).frame
    diabetes.rename(columns={"target": "price"}).to_csv(folder / "house.csv", index=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def sagemaker_with_three_packages(tmp_path):
    """A moto server holding the prod stack's group with three pending packages."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    stack = yaml.safe_load((REPO_ROOT / "Pulumi.prod.yaml").read_text())["config"]
    group, region = stack["mlops:modelName"], stack["aws:region"]
    sagemaker = boto3.client("sagemaker", region_name=region, endpoint_url=endpoint,
                             aws_access_key_id="testing", aws_secret_access_key="testing")
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    for version in (1, 2, 3):
        sagemaker.create_model_package(
            ModelPackageGroupName=group, ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={
                "Containers": [{"Image": IMAGE,
                                "ModelDataUrl": f"s3://b/models/{version}/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"]})
    config = tmp_path / "aws-config"
    config.write_text("")
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE")}
    environment.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing",
                       AWS_SECRET_ACCESS_KEY="testing", AWS_CONFIG_FILE=str(config),
                       AWS_SHARED_CREDENTIALS_FILE=str(config))
    try:
        yield environment, sagemaker, group
    finally:
        server.stop()


def test_the_readme_names_the_commands_it_documents():
    commands = readme_commands()
    assert len(commands) >= 10
    assert any(c.needs_aws for c in commands) and any(c.expected_exit == 1 for c in commands)
    for command in commands:
        if "--data" in command.argv and command.argv[0] == "up":  # training data
            assert "--target" in command.argv, f"README: {command.line!r} lacks --target"


@pytest.mark.slow
def test_every_readme_command_runs_as_written(tmp_path, sagemaker_with_three_packages):
    environment, sagemaker, group = sagemaker_with_three_packages
    project = tmp_path / "project"
    project.mkdir()
    for name in PROJECT_FILES:
        shutil.copy(REPO_ROOT / name, project / name)
    _data_files(project)
    environment = {**environment, "COLUMNS": "250",
                   "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), environment.get(
                       "PYTHONPATH", "")])}

    def run(command: Command) -> tuple[Command, subprocess.CompletedProcess]:
        argv = [sys.executable, "-m", "mlops_components.cli", *command.argv]
        if command.argv[0] in SERVES_UNTIL_CTRL_C:
            return command, serve_then_interrupt(argv, project, environment)
        completed = subprocess.run(argv, cwd=project, env=environment,
                                   capture_output=True, text=True, timeout=900)
        return command, completed

    def run_in_order(commands: list[Command]) -> list:
        return [run(command) for command in commands]

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = [item for sequence in pool.map(run_in_order, _sequences(readme_commands()))
                   for item in sequence]

    for command, completed in results:
        output = completed.stdout + completed.stderr
        if command.argv[0] in SERVES_UNTIL_CTRL_C and completed.returncode == 130:
            assert "serving" in output, output  # it served, then Ctrl-C stopped it (130)
            continue
        assert completed.returncode == command.expected_exit, \
            f"{command.line}\nexit {completed.returncode}\n{output[-3000:]}"
        assert "Traceback" not in output, command.line
        if command.argv == ["up", "--local"]:  # the main job turns the loop once
            flat = " ".join(output.split())
            for promised in ("drift in", "drift-detected: ALARM", "retrain rule",
                             "retrain: the challenger"):
                assert promised in flat, f"{command.line}: no {promised!r} in\n{output[-3000:]}"
    assert json.loads((project / "plan.json").read_text())["resources"]
    statuses = {p["ModelPackageVersion"]: p["ModelApprovalStatus"] for p in [
        sagemaker.describe_model_package(ModelPackageName=s["ModelPackageArn"])
        for s in sagemaker.list_model_packages(ModelPackageGroupName=group)[
            "ModelPackageSummaryList"]]}
    assert statuses == {1: "PendingManualApproval", 2: "PendingManualApproval", 3: "Approved"}


def test_ci_runs_exactly_the_readmes_set_up_and_test_commands():
    """`.ci/run` is the newcomer's path: a set-up step the README lacks (or the other way
    round) would let CI pass where a newcomer fails."""
    quickstart = re.search(r"## Quickstart.*?```bash\n(.*?)```", (REPO_ROOT / "README.md")
                           .read_text(), flags=re.DOTALL).group(1)
    commands = [line.partition("  #")[0].strip() for line in quickstart.splitlines()]
    set_up, test = commands[0], commands[-1]
    ci = [line.strip() for line in (REPO_ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    assert set_up in ci and test in ci, (set_up, test, ci)
    assert ci.index(set_up) < ci.index(test)
