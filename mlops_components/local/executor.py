"""Execute a SageMaker pipeline definition on this machine, step by step.

S3 locations map to folders under ``<workdir>/s3``; each job runs its container command as a
subprocess under the container contract (``/opt/ml/...`` mapped to a per-job folder, ``SM_*``
variables, hyperparameters as flags); property references, ``JsonGet`` and conditions are
resolved from the definition itself; registration lands in a :class:`LocalRegistry`; a Lambda
step calls the local stand-in the caller gives for its ``FunctionArn`` (the function's own
code over local clients). Nothing here knows which steps our builder emits: it runs what the
definition says.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_components.local.jobs import JobRunner, StepFailed
from mlops_components.local.workdir import LocalWorkdir
from mlops_components.sagemaker.definition import (
    ExpressionError,
    Resolver,
    step_dependencies,
)

MAX_LOCAL_TUNING_JOBS = 50


@dataclass
class StepResult:
    """What one step did."""

    name: str
    type: str
    status: str  # Succeeded | Failed | Interrupted
    seconds: float = 0.0
    detail: str = ""
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExecutionResult:
    """The outcome of one local pipeline execution."""

    execution_id: str
    status: str  # Succeeded | Failed | Interrupted
    parameters: dict[str, Any]
    steps: list[StepResult] = field(default_factory=list)
    failure_reason: str = ""

    def step(self, name: str) -> StepResult:
        for result in self.steps:
            if result.name == name:
                return result
        raise KeyError(name)


StepCallback = Callable[[str, str, str], None]  # (step name, step type, status or message)
LocalFunction = Callable[[dict[str, Any]], Mapping[str, Any]]
"""A Lambda step's stand-in: its resolved Arguments in, the function's result out."""


class LocalPipelineExecutor:
    """Runs one pipeline definition; each :meth:`run` is one execution."""

    def __init__(self, definition: str | Mapping[str, Any], workdir: Path,
                 on_step: StepCallback | None = None, python: str = sys.executable,
                 job_variables: Mapping[str, str] | None = None,
                 functions: Mapping[str, LocalFunction] | None = None):
        self.definition = json.loads(definition) if isinstance(definition, str) else definition
        self.workdir = LocalWorkdir(Path(workdir))
        self.s3 = self.workdir.s3
        self.registry = self.workdir.registry
        self.on_step = on_step or (lambda name, kind, status: None)
        self.python = python
        self.job_variables = dict(job_variables or {})
        self.functions = dict(functions or {})

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
        self._steps_by_name: dict[str, str] = {}
        self._jobs = JobRunner(self.s3, self.workdir.jobs / execution_id, self.python,
                               variables=self.job_variables,
                               on_message=lambda job, message: self.on_step(
                                   job, self._steps_by_name.get(job, ""), message))
        try:
            self._run_steps(self.definition["Steps"], result)
        except _ExecutionFailed as failure:
            result.status, result.failure_reason = "Failed", str(failure)
        except KeyboardInterrupt:
            running = [step.name for step in result.steps if step.status == "Interrupted"]
            result.status = "Interrupted"
            result.failure_reason = "interrupted" + (f" during step {running[0]}"
                                                     if running else "")
            raise ExecutionInterrupted(result) from None
        return result

    # -- scheduling ----------------------------------------------------------------------

    def _run_steps(self, steps: list[dict[str, Any]], result: ExecutionResult) -> None:
        pending = {step["Name"]: step for step in steps}
        while pending:
            ready = [step for name, step in pending.items()
                     if not (step_dependencies(step) & set(pending) - {name})]
            if not ready:
                raise _ExecutionFailed(f"steps wait on each other: {', '.join(pending)}")
            step = ready[0]
            del pending[step["Name"]]
            self._run_step(step, result)

    def _run_step(self, step: dict[str, Any], result: ExecutionResult) -> None:
        name, kind = step["Name"], step["Type"]
        self._steps_by_name[name] = kind
        runner = getattr(self, f"_step_{kind.lower()}", None)
        if runner is None:
            raise _ExecutionFailed(f"step {name}: type {kind} cannot run locally")
        self.on_step(name, kind, "Executing")
        started = time.perf_counter()
        step_result = StepResult(name=name, type=kind, status="Succeeded")
        result.steps.append(step_result)
        try:
            outcome = runner(step, result)
        except KeyboardInterrupt:
            step_result.status = "Interrupted"
            step_result.seconds = time.perf_counter() - started
            raise
        except (StepFailed, ExpressionError, OSError, ValueError, KeyError, TypeError,
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
        detail = self._jobs.processing_job(step["Name"], args)
        self._properties[step["Name"]] = {**args, "ProcessingJobName": step["Name"],
                                          "ProcessingJobStatus": "Completed"}
        for property_file in step.get("PropertyFiles", []):
            self._property_files.setdefault(step["Name"], {})[
                property_file["PropertyFileName"]] = property_file
        return detail

    def _step_training(self, step: dict[str, Any], _: ExecutionResult) -> str:
        args = self._resolver.resolve(step["Arguments"])
        properties = self._jobs.training_job(step["Name"], args,
                                             args.get("HyperParameters", {}))
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
            properties = self._jobs.training_job(f"{step['Name']}-{trial:03d}", definition,
                                                 hyperparameters)
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

    def _step_lambda(self, step: dict[str, Any], _: ExecutionResult) -> str:
        """Invoke the function's local stand-in; as in SageMaker, the step fails when the
        result lacks an output the step declares."""
        function = self.functions.get(step["FunctionArn"])
        if function is None:
            raise StepFailed(f"no local stand-in for Lambda function {step['FunctionArn']}")
        result = function(self._resolver.resolve(step.get("Arguments", {})))
        declared = [item["OutputName"] for item in step.get("OutputParameters", [])]
        missing = [name for name in declared if name not in result]
        if missing:
            raise StepFailed(f"the function's result lacks output(s) {', '.join(missing)}")
        self._properties[step["Name"]] = {"OutputParameters": {
            name: result[name] for name in declared}}
        return ", ".join(f"{name}={result[name]}" for name in declared)

    def _step_fail(self, step: dict[str, Any], _: ExecutionResult) -> str:
        message = self._resolver.resolve(step["Arguments"].get("ErrorMessage", ""))
        raise _ExecutionFailed(f"step {step['Name']}: {message}")

    # -- helpers -------------------------------------------------------------------------

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


class ExecutionInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped the execution; ``result`` says where (status Interrupted)."""

    def __init__(self, result: ExecutionResult):
        super().__init__(result.failure_reason)
        self.result = result


class _ExecutionFailed(Exception):
    """Stops the execution: a step failed or a Fail step ran."""


def _sample(ranges: Mapping[str, Any], rng: random.Random) -> dict[str, str]:
    """One random point of the tuning ranges (the Random strategy; Bayesian runs as Random)."""
    point = {}
    for item in ranges.get("IntegerParameterRanges", []):
        point[item["Name"]] = str(rng.randint(int(item["MinValue"]), int(item["MaxValue"])))
    for item in ranges.get("ContinuousParameterRanges", []):
        low, high = float(item["MinValue"]), float(item["MaxValue"])
        if item.get("ScalingType") == "Logarithmic" and low > 0:
            value = math.exp(rng.uniform(math.log(low), math.log(high)))
        else:
            value = rng.uniform(low, high)
        point[item["Name"]] = f"{value:.6g}"
    for item in ranges.get("CategoricalParameterRanges", []):
        point[item["Name"]] = rng.choice(item["Values"])
    return point
