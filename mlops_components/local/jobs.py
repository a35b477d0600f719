"""SageMaker processing and training jobs emulated as local processes.

Each job gets a folder that stands in for the container's ``/opt/ml``: its inputs are copied
there from the local S3, container paths in its command are mapped into it, ``SM_*``
variables and ``resourceconfig.json`` describe the (emulated) cluster, and its outputs are
copied back to the local S3 when it exits. The job's own output goes to ``job.log``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from mlops_components.local.workdir import LocalS3, copy_objects
from training.archives import pack_folder
from training.contract import (
    CONTAINER_ROOT,
    MODEL_ARCHIVE,
    RESOURCE_CONFIG_ENV,
    WHEELHOUSE_CHANNEL,
)

#: The log each job folder keeps.
JOB_LOG = "job.log"


class StepFailed(RuntimeError):
    """A job exited non-zero or its arguments could not be honoured."""


class JobRunner:
    """Runs one execution's jobs under ``jobs_dir`` with the ``python`` interpreter."""

    def __init__(self, s3: LocalS3, jobs_dir: Path, python: str = sys.executable,
                 on_message: Callable[[str, str], None] | None = None,
                 variables: Mapping[str, str] | None = None):
        self.s3 = s3
        self.jobs_dir = jobs_dir
        self.python = python
        self.variables = dict(variables or {})
        self.on_message = on_message or (lambda job, message: None)

    def processing_job(self, name: str, args: Mapping[str, Any]) -> str:
        """Run a CreateProcessingJob request on each of its instances; return a summary."""
        count = int(args["ProcessingResources"]["ClusterConfig"]["InstanceCount"])
        hosts = [f"algo-{index}" for index in range(1, count + 1)]
        inputs = []
        for item in args.get("ProcessingInputs", []):
            if item["InputName"] == WHEELHOUSE_CHANNEL:
                continue  # the local job environment already holds what it would install
            source = item["S3Input"]
            if source.get("S3DataType", "S3Prefix") != "S3Prefix":
                raise StepFailed(f"input {item['InputName']}: only S3Prefix inputs run locally")
            objects = self.s3.objects(source["S3Uri"])
            if not objects:
                raise StepFailed(f"input {item['InputName']}: no objects at {source['S3Uri']}")
            inputs.append((item, objects))
        outputs = args.get("ProcessingOutputConfig", {}).get("Outputs", [])
        app = args["AppSpecification"]
        for index, host in enumerate(hosts):
            # One job folder per instance; a single instance keeps the plain layout.
            job = self.job_dir(name if count == 1 else f"{name}/{host}")
            for item, objects in inputs:
                sharded = item["S3Input"].get("S3DataDistributionType") == "ShardedByS3Key"
                # ShardedByS3Key gives each instance a disjoint part of the objects (by key).
                share = objects[index::count] if sharded else objects
                copy_objects(share, local_path(job, item["S3Input"]["LocalPath"]))
            for item in outputs:
                local_path(job, item["S3Output"]["LocalPath"]).mkdir(parents=True, exist_ok=True)
            resource_config = local_path(job, f"{CONTAINER_ROOT}/config/resourceconfig.json")
            resource_config.parent.mkdir(parents=True, exist_ok=True)
            resource_config.write_text(json.dumps({"current_host": host, "hosts": hosts}))
            if count > 1:
                self.on_message(name, f"instance {host} of {count}")
            command = [local_argument(job, part)
                       for part in app.get("ContainerEntrypoint", []) +
                       app.get("ContainerArguments", [])]
            self.execute(f"{name} on {host}", job, command,
                         {**args.get("Environment", {}), RESOURCE_CONFIG_ENV: str(resource_config)})
            for item in outputs:
                self.s3.upload(local_path(job, item["S3Output"]["LocalPath"]),
                               item["S3Output"]["S3Uri"])
        suffix = f" on {count} instances" if count > 1 else ""
        return f"{len(outputs)} outputs{suffix}"

    def training_job(self, job_name: str, args: Mapping[str, Any],
                     hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
        """Run a script-mode training job; return its DescribeTrainingJob-shaped properties."""
        job = self.job_dir(job_name)
        opt = local_path(job, CONTAINER_ROOT)
        hps = {key: _decode_hyperparameter(value) for key, value in hyperparameters.items()}
        submit = hps.pop("sagemaker_submit_directory", None)
        program = hps.pop("sagemaker_program", None)
        if not submit or not program:
            raise StepFailed("script mode needs sagemaker_program and "
                             "sagemaker_submit_directory hyperparameters")
        channels = []
        for channel in args.get("InputDataConfig", []):
            if channel["ChannelName"] == WHEELHOUSE_CHANNEL:
                continue  # as for processing jobs: the job environment has these packages
            source = channel["DataSource"]["S3DataSource"]
            if not self.s3.download(source["S3Uri"],
                                    opt / "input" / "data" / channel["ChannelName"]):
                raise StepFailed(f"channel {channel['ChannelName']}: no objects at "
                                 f"{source['S3Uri']}")
            channels.append(channel["ChannelName"])
        code = opt / "code"
        code.mkdir(parents=True, exist_ok=True)
        # The toolkit takes an s3:// URI or a path inside the container (a code channel).
        archive_path = local_path(job, submit) if submit.startswith(CONTAINER_ROOT) \
            else self.s3.path(submit)
        with tarfile.open(archive_path) as archive:
            archive.extractall(code, filter="data")
        model_dir, output_dir = opt / "model", opt / "output" / "data"
        model_dir.mkdir(parents=True, exist_ok=True)
        output_dir.mkdir(parents=True, exist_ok=True)
        env = {
            "SM_MODEL_DIR": str(model_dir), "SM_OUTPUT_DATA_DIR": str(output_dir),
            "SM_CHANNELS": json.dumps(channels), "SM_HPS": json.dumps(hps),
            "SM_CURRENT_HOST": "algo-1", "SM_HOSTS": json.dumps(["algo-1"]),
            "SM_USER_ENTRY_POINT": program,
            **{f"SM_CHANNEL_{name.upper()}": str(opt / "input" / "data" / name)
               for name in channels},
            **args.get("Environment", {}),
        }
        command = [self.python, str(code / program)]
        for key, value in hps.items():
            if not key.startswith("sagemaker_"):
                command += [f"--{key}", str(value)]
        log = self.execute(job_name, job, command, env, cwd=code)
        artifact = f"{args['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{job.name}" \
                   f"/output/{MODEL_ARCHIVE}"
        self.s3.upload(pack_folder(model_dir, job / MODEL_ARCHIVE), artifact)
        metrics = []
        definitions = args.get("AlgorithmSpecification", {}).get("MetricDefinitions", [])
        for definition in definitions:
            found = re.findall(definition["Regex"], log)
            if found:
                metrics.append({"MetricName": definition["Name"], "Value": float(found[-1])})
        return {**args, "TrainingJobName": job.name, "TrainingJobStatus": "Completed",
                "HyperParameters": dict(hyperparameters),
                "ModelArtifacts": {"S3ModelArtifacts": artifact},
                "FinalMetricDataList": metrics}

    def execute(self, name: str, job: Path, command: list[str], env: Mapping[str, str],
                cwd: Path | None = None) -> str:
        """Run ``command`` in ``job`` as the container would; return its log."""
        if command and command[0] in ("python", "python3"):
            command = [self.python, *command[1:]]
        environment = {**os.environ, **self.variables, **{k: str(v) for k, v in env.items()},
                       "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
        with open(job / JOB_LOG, "wb") as log_file:
            returncode = run_process_group(command, cwd or job, environment, log_file)
        log = (job / JOB_LOG).read_text(errors="replace")
        if returncode != 0:
            # The job's last line is its error (a traceback ends with it); the rest stays in
            # the log, which the message points to once.
            lines = [line.strip() for line in log.splitlines() if line.strip()]
            last = lines[-1] if lines else "no output"
            raise StepFailed(f"{name} exited with {returncode}: {last} (log: {job / JOB_LOG})")
        return log

    def job_dir(self, name: str) -> Path:
        job = self.jobs_dir / name
        if job.exists():
            shutil.rmtree(job)
        job.mkdir(parents=True)
        return job


def run_process_group(command: list[str], cwd: Path, env: Mapping[str, str],
                      log_file: IO[bytes]) -> int:
    """Run ``command`` in a process group of its own; return its exit status.

    The job does not get the terminal's Ctrl-C itself: the interrupted `mlops` stops it (and
    anything it started) here, so no job outlives the run that started it.
    """
    process = subprocess.Popen(command, cwd=cwd, env=dict(env), stdout=log_file,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        return process.wait()
    except BaseException:
        _stop_group(process)
        raise


def _stop_group(process: subprocess.Popen, grace_seconds: float = 5.0) -> None:
    """SIGTERM the job's process group, SIGKILL what is left after a grace period."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        pass
    try:  # also any worker the job started, even when the job itself has exited
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def local_path(job: Path, container_path: str) -> Path:
    """Where ``container_path`` (under /opt/ml) lives in the job folder."""
    if not container_path.startswith(CONTAINER_ROOT):
        raise StepFailed(f"container path {container_path!r} is outside {CONTAINER_ROOT}")
    return job / container_path.lstrip("/")


def local_argument(job: Path, argument: Any) -> str:
    """A command-line argument with a container path mapped into the job folder."""
    text = str(argument)
    return str(local_path(job, text)) if text.startswith(CONTAINER_ROOT) else text


def _decode_hyperparameter(value: Any) -> Any:
    """Hyperparameters are strings, script-mode ones JSON-encoded (``'"train.py"'``)."""
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            return value
        return decoded if isinstance(decoded, str) else value
    return value
