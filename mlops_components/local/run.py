"""`mlops up --local`: the offline plan, then its training pipeline executed on this machine."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_components.enums import ProblemType
from mlops_components.local.executor import ExecutionResult, LocalPipelineExecutor, StepCallback
from mlops_components.local.registry import LocalRegistry
from mlops_components.local.workdir import LocalS3, LocalWorkdir, default_workdir
from mlops_components.plan import Plan, plan_stack
from mlops_components.sagemaker.spec import PipelineParameter

PIPELINE = "aws:sagemaker/pipeline:Pipeline"
BUCKET_OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
INPUT_PARAMETER = PipelineParameter.INPUT_DATA_URI.value
CHAMPION_PARAMETER = PipelineParameter.CHAMPION_MODEL_URI.value
#: Real datasets that ship inside scikit-learn: the embedded default, per problem type.
DEFAULT_DATASETS = {
    ProblemType.CLASSIFICATION: ("breast_cancer", "load_breast_cancer"),
    ProblemType.REGRESSION: ("diabetes", "load_diabetes"),
}


class LocalRunError(RuntimeError):
    """The plan has nothing to run locally, or the input data cannot be used."""


@dataclass
class LocalRun:
    """A finished local run: the plan it came from and the execution's outcome."""

    plan: Plan
    workdir: Path
    execution: ExecutionResult
    dataset: str
    registry: LocalRegistry

    def local_outputs(self, step: str) -> dict[str, Path]:
        """Local folders of a processing step's outputs, by output name."""
        s3 = LocalWorkdir(self.workdir).s3
        properties = self.execution.step(step).properties
        return {output["OutputName"]: s3.path(output["S3Output"]["S3Uri"])
                for output in properties.get("ProcessingOutputConfig", {}).get("Outputs", [])}


def default_dataset_csv(problem_type: ProblemType, target: str, destination: Path) -> str:
    """Write the embedded dataset for ``problem_type`` as CSV; return its name."""
    import sklearn.datasets

    name, loader = DEFAULT_DATASETS[ProblemType(problem_type)]
    frame = getattr(sklearn.datasets, loader)(as_frame=True).frame
    frame = frame.rename(columns={"target": target})
    destination.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(destination, index=False)
    return f"{name} (scikit-learn, {len(frame)} rows)"


def run_local(project_dir: Path, stack: str, workdir: Path | None = None,
              data: Path | None = None, target: str | None = None,
              problem_type: str | None = None, on_step: StepCallback | None = None,
              parameters: Mapping[str, Any] | None = None,
              model_name: str | None = None) -> LocalRun:
    """Plan ``stack`` offline, materialise its uploads locally and execute its pipeline.

    ``model_name`` overrides the stack's modelName (the registry group). The latest approved
    package of the group, if any, is the champion the gate compares with.
    """
    if data is not None and not Path(data).exists():
        raise LocalRunError(f"--data {data}: no such CSV file or folder of CSV files")
    overrides = {}
    if model_name:
        overrides["modelName"] = model_name
    if target:
        overrides["targetColumn"] = target
    if problem_type:
        overrides["problemType"] = problem_type
    plan = plan_stack(project_dir, stack, overrides)
    pipelines = plan.of_type(PIPELINE)
    if len(pipelines) != 1:
        raise LocalRunError(f"stack {stack!r} defines {len(pipelines)} SageMaker pipelines; "
                            "mlops up --local runs a stack with exactly one")
    definition = json.loads(pipelines[0].inputs["pipelineDefinition"])
    workdir = Path(workdir or default_workdir(project_dir, stack)).resolve()
    s3 = LocalWorkdir(workdir).s3
    _materialise_uploads(plan, s3)

    executor = LocalPipelineExecutor(definition, workdir, on_step=on_step)
    defaults = executor.parameter_defaults()
    execution_id = _next_execution_id(workdir)
    input_uri = f"{str(defaults[INPUT_PARAMETER]).rstrip('/')}/local/{execution_id}/"
    input_dir = s3.path(input_uri)
    if data is not None:
        data = Path(data)
        files = sorted(data.rglob("*.csv")) if data.is_dir() else [data]
        if not files:
            raise LocalRunError(f"--data {data}: the folder holds no *.csv files")
        for file in files:
            relative = file.relative_to(data) if data.is_dir() else Path(file.name)
            (input_dir / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, input_dir / relative)
        dataset = f"{data} ({len(files)} CSV file{'s' if len(files) > 1 else ''})"
    else:
        config_problem = _container_argument(definition, "--problem-type")
        config_target = _container_argument(definition, "--target")
        dataset = default_dataset_csv(ProblemType(config_problem), config_target,
                                      input_dir / "data.csv")
    champion = champion_model_uri(definition, executor.registry)
    if champion and CHAMPION_PARAMETER in defaults:
        parameters = {CHAMPION_PARAMETER: champion, **(parameters or {})}
    execution = executor.run({INPUT_PARAMETER: input_uri, **(parameters or {})},
                             execution_id=execution_id)
    return LocalRun(plan=plan, workdir=workdir, execution=execution, dataset=dataset,
                    registry=executor.registry)


def champion_model_uri(definition: dict[str, Any], registry: LocalRegistry) -> str | None:
    """Model data of the latest approved package in the group the pipeline registers into."""
    groups = {step.get("Arguments", {}).get("ModelPackageGroupName")
              for step in definition["Steps"] + [
                  branch for step in definition["Steps"]
                  for key in ("IfSteps", "ElseSteps")
                  for branch in step.get("Arguments", {}).get(key, [])]}
    groups.discard(None)
    for group in sorted(groups):
        package = registry.latest_approved(group) if (registry.root / group).is_dir() else None
        containers = (package or {}).get("InferenceSpecification", {}).get("Containers", [])
        if containers and containers[0].get("ModelDataUrl"):
            return containers[0]["ModelDataUrl"]
    return None


def _materialise_uploads(plan: Plan, s3: LocalS3) -> None:
    """Do locally what `pulumi up` does for every bucket object in the plan."""
    for resource in plan.of_type(BUCKET_OBJECT):
        inputs = resource.inputs
        target = s3.path(f"s3://{inputs['bucket']}/{inputs['key']}")
        target.parent.mkdir(parents=True, exist_ok=True)
        if "content" in inputs:
            target.write_text(inputs["content"])
        elif "contentBase64" in inputs:
            target.write_bytes(base64.b64decode(inputs["contentBase64"]))
        elif "path" in inputs.get("source", {}).get("asset", {}):
            shutil.copyfile(inputs["source"]["asset"]["path"], target)
        else:
            raise LocalRunError(f"bucket object {resource.name} has no content to upload")


def _container_argument(definition: dict[str, Any], flag: str) -> str:
    """A flag's value from the first processing step that passes it (the stack's own setting)."""
    for step in definition["Steps"]:
        arguments = step.get("Arguments", {}).get("AppSpecification", {}).get(
            "ContainerArguments", [])
        if flag in arguments:
            return arguments[arguments.index(flag) + 1]
    raise LocalRunError(f"no step of the pipeline passes {flag}")


def _next_execution_id(workdir: Path) -> str:
    jobs = workdir / "jobs"
    numbers = [int(path.name.split("-")[1]) for path in jobs.glob("local-*")
               if path.name.split("-")[1].isdigit()] if jobs.is_dir() else []
    return f"local-{max(numbers, default=0) + 1:04d}"
