"""Execute a SageMaker pipeline definition on this machine, step by step.

S3 locations map to folders under ``<workdir>/s3``; each job runs its container command as a
subprocess under the container contract (``/opt/ml/...`` mapped to a per-job folder, ``SM_*``
variables, hyperparameters as flags); property references, ``JsonGet`` and conditions are
resolved from the definition itself; registration lands in a :class:`LocalRegistry`.
Nothing here knows which steps our builder emits: it runs what the definition says.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_components.local.expressions import ExpressionError, Resolver, references
from mlops_components.local.registry import LocalRegistry

CONTAINER_ROOT = "/opt/ml"
MAX_LOCAL_TUNING_JOBS = 50


class StepFailed(RuntimeError):
    """A job exited non-zero or its arguments could not be honoured."""


@dataclass
class StepResult:
    """What one step did."""

    name: str
    type: str
    status: str  # Succeeded | Failed | Skipped
    seconds: float = 0.0
    detail: str = ""
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExecutionResult:
    """The outcome of one local pipeline execution."""

    execution_id: str
    status: str  # Succeeded | Failed
    parameters: dict[str, Any]
    steps: list[StepResult] = field(default_factory=list)
    failure_reason: str = ""

    def step(self, name: str) -> StepResult:
        for result in self.steps:
            if result.name == name:
                return result
        raise KeyError(name)


StepCallback = Callable[[str, str, str], None]  # (step name, step type, status or message)


class LocalS3:
    """``s3://bucket/key`` ↔ ``<root>/bucket/key``."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, uri: str) -> Path:
        match = re.match(r"^s3://([^/]+)/?(.*)$", uri)
        if not match:
            raise StepFailed(f"not an s3:// URI: {uri!r}")
        return self.root / match.group(1) / match.group(2)

    def objects(self, uri: str) -> list[tuple[str, Path]]:
        """Objects under a key prefix, as (path relative to the prefix, file)."""
        base = self.path(uri)
        if base.is_file():
            return [(base.name, base)]
        whole_bucket = re.match(r"^s3://[^/]+/?$", uri) is not None
        if whole_bucket and not uri.endswith("/"):
            uri += "/"
        prefix = base.name
        parent = base.parent if not uri.endswith("/") else base
        found = []
        if parent.is_dir():
            for file in sorted(p for p in parent.rglob("*") if p.is_file()):
                relative = file.relative_to(parent).as_posix()
                if uri.endswith("/") or relative.startswith(prefix):
                    cut = 0 if uri.endswith("/") else len(prefix)
                    found.append((relative[cut:].lstrip("/") or file.name, file))
        return found

    def download(self, uri: str, destination: Path) -> int:
        return copy_objects(self.objects(uri), destination)

    def read_text(self, uri: str) -> str | None:
        """The object's text, or None when there is no such object."""
        path = self.path(uri)
        return path.read_text() if path.is_file() else None

    def upload(self, source: Path, uri: str) -> None:
        target = self.path(uri)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def copy_objects(objects: list[tuple[str, Path]], destination: Path) -> int:
    """Copy (relative path, file) pairs under ``destination``; return how many."""
    destination.mkdir(parents=True, exist_ok=True)
    for relative, file in objects:
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, target)
    return len(objects)


@dataclass(frozen=True)
class LocalWorkdir:
    """Where a local runtime keeps its S3 stand-in, its registry and its jobs."""

    root: Path

    @property
    def s3(self) -> LocalS3:
        return LocalS3(self.root / "s3")

    @property
    def registry(self) -> LocalRegistry:
        return LocalRegistry(self.root / "registry")

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"


class LocalPipelineExecutor:
    """Runs one pipeline definition; each :meth:`run` is one execution."""

    def __init__(self, definition: str | Mapping[str, Any], workdir: Path,
                 on_step: StepCallback | None = None):
        self.definition = json.loads(definition) if isinstance(definition, str) else definition
        self.workdir = LocalWorkdir(Path(workdir))
        self.s3 = self.workdir.s3
        self.registry = self.workdir.registry
        self.on_step = on_step or (lambda name, kind, status: None)

    def parameter_defaults(self) -> dict[str, Any]:
        return {p["Name"]: p.get("DefaultValue") for p in self.definition.get("Parameters", [])}

    def run(self, parameters: Mapping[str, Any] | None = None,
            execution_id: str | None = None) -> ExecutionResult:
        values = self.parameter_defaults()
        unknown = set(parameters or {}) - set(values)
        if unknown:
            raise ValueError(f"unknown pipeline parameters: {', '.join(sorted(unknown))} "
                             f"(declared: {', '.join(sorted(values))})")
        values.update(parameters or {})
        missing = sorted(name for name, value in values.items() if value is None)
        if missing:
            raise ValueError(f"pipeline parameters without a default need a value: "
                             f"{', '.join(missing)}")
        execution_id = execution_id or time.strftime("local-%Y%m%d-%H%M%S")
        result = ExecutionResult(execution_id=execution_id, status="Succeeded",
                                 parameters=values)
        self._properties: dict[str, Any] = {}
        self._property_files: dict[str, dict[str, Any]] = {}
        self._resolver = Resolver(
            values,
            {"PipelineExecutionId": execution_id,
             "PipelineExecutionArn": f"arn:aws:sagemaker:local:000000000000:pipeline/"
                                     f"local/execution/{execution_id}",
             "PipelineName": "local", "StartDateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "CurrentDateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ")},
            self._properties, self._read_property_file)
        self._jobs = self.workdir.jobs / execution_id
        try:
            self._run_steps(self.definition["Steps"], result)
        except _ExecutionFailed as failure:
            result.status, result.failure_reason = "Failed", str(failure)
        return result

    # -- scheduling ----------------------------------------------------------------------

    def _run_steps(self, steps: list[dict[str, Any]], result: ExecutionResult) -> None:
        pending = {step["Name"]: step for step in steps}
        while pending:
            ready = [step for name, step in pending.items()
                     if not (_waits_on(step) & set(pending) - {name})]
            if not ready:
                raise _ExecutionFailed(f"steps wait on each other: {', '.join(pending)}")
            step = ready[0]
            del pending[step["Name"]]
            self._run_step(step, result)

    def _run_step(self, step: dict[str, Any], result: ExecutionResult) -> None:
        name, kind = step["Name"], step["Type"]
        runner = getattr(self, f"_step_{kind.lower()}", None)
        if runner is None:
            raise _ExecutionFailed(f"step {name}: type {kind} cannot run locally")
        self.on_step(name, kind, "Executing")
        started = time.perf_counter()
        step_result = StepResult(name=name, type=kind, status="Succeeded")
        result.steps.append(step_result)
        try:
            outcome = runner(step, result)
        except (StepFailed, ExpressionError, OSError, ValueError, KeyError,
                _ExecutionFailed) as error:
            step_result.status, step_result.detail = "Failed", str(error)
            step_result.seconds = time.perf_counter() - started
            self.on_step(name, kind, "Failed")
            if isinstance(error, _ExecutionFailed):
                raise
            raise _ExecutionFailed(f"step {name} failed: {error}") from error
        step_result.seconds = time.perf_counter() - started
        step_result.properties = self._properties.get(name, {})
        if isinstance(outcome, str):
            step_result.detail = outcome
        self.on_step(name, kind, step_result.status)
        if kind == "Condition":
            self._run_steps(self._branch, result)

    # -- step types ----------------------------------------------------------------------

    def _step_processing(self, step: dict[str, Any], _: ExecutionResult) -> str:
        args = self._resolver.resolve(step["Arguments"])
        count = int(args["ProcessingResources"]["ClusterConfig"]["InstanceCount"])
        hosts = [f"algo-{index}" for index in range(1, count + 1)]
        inputs = []
        for item in args.get("ProcessingInputs", []):
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
            job = self._job_dir(step["Name"] if count == 1 else f"{step['Name']}/{host}")
            for item, objects in inputs:
                sharded = item["S3Input"].get("S3DataDistributionType") == "ShardedByS3Key"
                # ShardedByS3Key gives each instance a disjoint part of the objects (by key).
                share = objects[index::count] if sharded else objects
                copy_objects(share, self._local(job, item["S3Input"]["LocalPath"]))
            for item in outputs:
                self._local(job, item["S3Output"]["LocalPath"]).mkdir(parents=True,
                                                                       exist_ok=True)
            resource_config = job / "opt" / "ml" / "config" / "resourceconfig.json"
            resource_config.parent.mkdir(parents=True, exist_ok=True)
            resource_config.write_text(json.dumps({"current_host": host, "hosts": hosts}))
            if count > 1:
                self.on_step(step["Name"], step["Type"], f"instance {host} of {count}")
            command = [self._local_arg(job, part)
                       for part in app.get("ContainerEntrypoint", []) +
                       app.get("ContainerArguments", [])]
            self._execute(f"{step['Name']} on {host}", job, command,
                          {**args.get("Environment", {}),
                           "SM_RESOURCE_CONFIG": str(resource_config)})
            for item in outputs:
                self.s3.upload(self._local(job, item["S3Output"]["LocalPath"]),
                               item["S3Output"]["S3Uri"])
        self._properties[step["Name"]] = {**args, "ProcessingJobName": step["Name"],
                                          "ProcessingJobStatus": "Completed"}
        for property_file in step.get("PropertyFiles", []):
            self._property_files.setdefault(step["Name"], {})[
                property_file["PropertyFileName"]] = property_file
        suffix = f" on {count} instances" if count > 1 else ""
        return f"{len(outputs)} outputs{suffix}"

    def _step_training(self, step: dict[str, Any], _: ExecutionResult) -> str:
        args = self._resolver.resolve(step["Arguments"])
        properties = self._train(step["Name"], args, args.get("HyperParameters", {}))
        self._properties[step["Name"]] = properties
        return " ".join(f"{m['MetricName'].split(':')[-1]}={m['Value']:.4f}"
                        for m in properties["FinalMetricDataList"])

    def _step_tuning(self, step: dict[str, Any], _: ExecutionResult) -> str:
        args = self._resolver.resolve(step["Arguments"])
        config = args["HyperParameterTuningJobConfig"]
        definition = args["TrainingJobDefinition"]
        objective = config["HyperParameterTuningJobObjective"]
        limit = config["ResourceLimits"]["MaxNumberOfTrainingJobs"]
        rng = random.Random(f"{self._resolver.execution['PipelineExecutionId']}/{step['Name']}")
        summaries = []
        for trial in range(1, min(limit, MAX_LOCAL_TUNING_JOBS) + 1):
            tuned = _sample(config.get("ParameterRanges", {}), rng)
            self.on_step(step["Name"], "Tuning", f"training job {trial}/{limit} {tuned}")
            hyperparameters = {**definition.get("StaticHyperParameters", {}), **tuned}
            properties = self._train(f"{step['Name']}-{trial:03d}", definition, hyperparameters)
            value = {m["MetricName"]: m["Value"]
                     for m in properties["FinalMetricDataList"]}.get(objective["MetricName"])
            if value is None:
                raise StepFailed(f"training job {trial} printed no {objective['MetricName']}")
            summaries.append({
                "TrainingJobName": properties["TrainingJobName"],
                "TunedHyperParameters": tuned,
                "FinalHyperParameterTuningJobObjectiveMetric": {
                    "MetricName": objective["MetricName"], "Value": value},
                "TrainingJobStatus": "Completed",
            })
        summaries.sort(key=lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
                       reverse=objective["Type"] == "Maximize")
        self._properties[step["Name"]] = {**args, "TrainingJobSummaries": summaries,
                                          "BestTrainingJob": summaries[0]}
        best = summaries[0]
        return (f"best of {len(summaries)}: {objective['MetricName']}="
                f"{best['FinalHyperParameterTuningJobObjectiveMetric']['Value']:.4f} "
                f"{best['TunedHyperParameters']}")

    def _step_condition(self, step: dict[str, Any], _: ExecutionResult) -> str:
        args = step["Arguments"]
        evaluated = [self._condition(condition) for condition in args["Conditions"]]
        outcome = all(passed for passed, _ in evaluated)
        self._branch = args["IfSteps"] if outcome else args["ElseSteps"]
        self._properties[step["Name"]] = {"Outcome": outcome,
                                          "Conditions": [values for _, values in evaluated]}
        return "passed" if outcome else "failed"

    def _step_registermodel(self, step: dict[str, Any], _: ExecutionResult) -> str:
        args = self._resolver.resolve(step["Arguments"])
        package = self.registry.register(args)
        self._properties[step["Name"]] = {**args, "ModelPackageArn": package["ModelPackageArn"]}
        return f"{package['ModelPackageArn']} ({package['ModelApprovalStatus']})"

    def _step_fail(self, step: dict[str, Any], _: ExecutionResult) -> str:
        message = self._resolver.resolve(step["Arguments"].get("ErrorMessage", ""))
        raise _ExecutionFailed(f"step {step['Name']}: {message}")

    # -- helpers -------------------------------------------------------------------------

    def _train(self, job_name: str, args: dict[str, Any],
               hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
        job = self._job_dir(job_name)
        opt = job / CONTAINER_ROOT.lstrip("/")
        hps = {key: _decode_hyperparameter(value) for key, value in hyperparameters.items()}
        submit = hps.pop("sagemaker_submit_directory", None)
        program = hps.pop("sagemaker_program", None)
        if not submit or not program:
            raise StepFailed("script mode needs sagemaker_program and "
                             "sagemaker_submit_directory hyperparameters")
        channels = []
        for channel in args.get("InputDataConfig", []):
            source = channel["DataSource"]["S3DataSource"]
            if not self.s3.download(source["S3Uri"],
                                    opt / "input" / "data" / channel["ChannelName"]):
                raise StepFailed(f"channel {channel['ChannelName']}: no objects at "
                                 f"{source['S3Uri']}")
            channels.append(channel["ChannelName"])
        code = opt / "code"
        code.mkdir(parents=True, exist_ok=True)
        # The toolkit takes an s3:// URI or a path inside the container (a code channel).
        archive_path = self._local(job, submit) if submit.startswith(CONTAINER_ROOT) \
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
        command = [sys.executable, str(code / program)]
        for key, value in hps.items():
            if not key.startswith("sagemaker_"):
                command += [f"--{key}", str(value)]
        log = self._execute(job_name, job, command, env, cwd=code)
        artifact = f"{args['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{job.name}" \
                   "/output/model.tar.gz"
        model_archive = job / "model.tar.gz"
        with tarfile.open(model_archive, "w:gz") as archive:
            for file in sorted(model_dir.rglob("*")):
                archive.add(file, arcname=file.relative_to(model_dir).as_posix(),
                            recursive=False)
        self.s3.upload(model_archive, artifact)
        metrics = []
        definitions = args.get("AlgorithmSpecification", {}).get("MetricDefinitions", [])
        for definition in definitions:
            found = re.findall(definition["Regex"], log)
            if found:
                metrics.append({"MetricName": definition["Name"], "Value": float(found[-1])})
        return {**args, "TrainingJobName": job.name, "TrainingJobStatus": "Completed",
                "HyperParameters": hyperparameters,
                "ModelArtifacts": {"S3ModelArtifacts": artifact},
                "FinalMetricDataList": metrics}

    def _execute(self, name: str, job: Path, command: list[str], env: Mapping[str, str],
                 cwd: Path | None = None) -> str:
        import os

        if command and command[0] in ("python", "python3"):
            command = [sys.executable, *command[1:]]
        environment = {**os.environ, **{k: str(v) for k, v in env.items()},
                       "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
        completed = subprocess.run(command, cwd=cwd or job, env=environment,
                                   capture_output=True, text=True)
        log = completed.stdout + completed.stderr
        (job / "job.log").write_text(log)
        if completed.returncode != 0:
            tail = "\n".join(log.strip().splitlines()[-8:])
            raise StepFailed(f"{name} exited with {completed.returncode} "
                             f"(log: {job / 'job.log'}):\n{tail}")
        return log

    def _job_dir(self, name: str) -> Path:
        job = self._jobs / name
        if job.exists():
            shutil.rmtree(job)
        job.mkdir(parents=True)
        return job

    @staticmethod
    def _local(job: Path, container_path: str) -> Path:
        if not container_path.startswith(CONTAINER_ROOT):
            raise StepFailed(f"container path {container_path!r} is outside {CONTAINER_ROOT}")
        return job / container_path.lstrip("/")

    def _local_arg(self, job: Path, argument: Any) -> str:
        text = str(argument)
        return str(self._local(job, text)) if text.startswith(CONTAINER_ROOT) else text

    def _read_property_file(self, step: str, name: str) -> Any:
        spec = self._property_files.get(step, {}).get(name)
        if spec is None:
            raise ExpressionError(f"step {step} declares no property file {name!r}")
        outputs = self._properties[step]["ProcessingOutputConfig"]["Outputs"]
        (output,) = [o for o in outputs if o["OutputName"] == spec["OutputName"]]
        path = self.s3.path(output["S3Output"]["S3Uri"].rstrip("/") + "/" + spec["FilePath"])
        return json.loads(path.read_text())

    def _condition(self, condition: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """Whether ``condition`` holds, and the resolved values it compared."""
        kind = condition["Type"]
        if kind == "Not":  # the service's key is Condition; older SDKs wrote Expression
            inner, values = self._condition(condition.get("Condition",
                                                          condition.get("Expression")))
            return not inner, {"Type": kind, "Condition": values}
        if kind == "Or":
            evaluated = [self._condition(c) for c in condition["Conditions"]]
            return any(passed for passed, _ in evaluated), {
                "Type": kind, "Conditions": [values for _, values in evaluated]}
        if kind == "In":
            query = self._resolver.resolve(condition["QueryValue"])
            values = self._resolver.resolve(condition["Values"])
            return query in values, {"Type": kind, "QueryValue": query, "Values": values}
        left = self._resolver.resolve(condition["LeftValue"])
        right = self._resolver.resolve(condition["RightValue"])
        compare = {
            "Equals": lambda a, b: a == b,
            "GreaterThan": lambda a, b: float(a) > float(b),
            "GreaterThanOrEqualTo": lambda a, b: float(a) >= float(b),
            "LessThan": lambda a, b: float(a) < float(b),
            "LessThanOrEqualTo": lambda a, b: float(a) <= float(b),
        }
        if kind not in compare:
            raise StepFailed(f"condition type {kind} cannot run locally")
        return compare[kind](left, right), {"Type": kind, "LeftValue": left, "RightValue": right}


def _waits_on(step: dict[str, Any]) -> set[str]:
    """Steps that must finish first: DependsOn and references, a condition's branches included."""
    waits = set(step.get("DependsOn", [])) | references(step.get("Arguments"))
    for branch in ("IfSteps", "ElseSteps"):
        for inner in step.get("Arguments", {}).get(branch, []) if step["Type"] == "Condition" \
                else []:
            waits |= _waits_on(inner)
    return waits


class _ExecutionFailed(Exception):
    """Stops the execution: a step failed or a Fail step ran."""


def _decode_hyperparameter(value: Any) -> Any:
    """Hyperparameters are strings, script-mode ones JSON-encoded (``'"train.py"'``)."""
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            return value
        return decoded if isinstance(decoded, str) else value
    return value


def _sample(ranges: Mapping[str, Any], rng: random.Random) -> dict[str, str]:
    """One random point of the tuning ranges (the Random strategy; Bayesian runs as Random)."""
    point = {}
    for item in ranges.get("IntegerParameterRanges", []):
        point[item["Name"]] = str(rng.randint(int(item["MinValue"]), int(item["MaxValue"])))
    for item in ranges.get("ContinuousParameterRanges", []):
        low, high = float(item["MinValue"]), float(item["MaxValue"])
        if item.get("ScalingType") == "Logarithmic" and low > 0:
            import math
            value = math.exp(rng.uniform(math.log(low), math.log(high)))
        else:
            value = rng.uniform(low, high)
        point[item["Name"]] = f"{value:.6g}"
    for item in ranges.get("CategoricalParameterRanges", []):
        point[item["Name"]] = rng.choice(item["Values"])
    return point
