"""`mlops up --local`: the offline plan, then its training pipeline executed on this machine."""

from __future__ import annotations

import base64
import csv
import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import training
from mlops_components.enums import ProblemType
from mlops_components.local.atomic import write_atomic
from mlops_components.local.commands import Where
from mlops_components.local.executions import (
    EXECUTION_RECORD,
    ExecutionStatus,
    allocate_execution,
    record_execution,
)
from mlops_components.local.executor import (
    ExecutionInterrupted,
    ExecutionResult,
    LocalPipelineExecutor,
    StepCallback,
)
from mlops_components.local.job_env import JobEnvironment, ensure_job_environment
from mlops_components.local.jobs import JOB_LOG
from mlops_components.local.lineage import local_functions, record_inputs, record_steps
from mlops_components.local.registry import LocalRegistry
from mlops_components.local.workdir import (
    LocalS3,
    LocalWorkdir,
    WorkdirError,
    default_workdir,
    writable_workdir,
)
from mlops_components.plan import Plan, plan_stack
from mlops_components.project import load_project
from mlops_components.sagemaker.definition import iter_steps
from mlops_components.sagemaker.spec import PipelineParameter, StepName
from training.contract import (
    IMAGE_REQUIREMENTS_FILE,
    REQUIREMENTS_CHECK_ENV,
    REQUIREMENTS_CHECK_WARN,
    REQUIREMENTS_FILE,
)
from training.data.files import detect_delimiter
from training.data.schema import list_csv_files

#: The shipped job code, whose pins define the image's job environment.
TRAINING_CODE_DIR = Path(training.__file__).resolve().parent

PIPELINE = "aws:sagemaker/pipeline:Pipeline"
BUCKET_OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
INPUT_PARAMETER = PipelineParameter.INPUT_DATA_URI.value
CHAMPION_PARAMETER = PipelineParameter.CHAMPION_MODEL_URI.value
#: The file the embedded default dataset is written to under the execution's input prefix.
DEFAULT_DATA_FILE = "data.csv"
#: Real datasets that ship inside scikit-learn: the embedded default, per problem type.
DEFAULT_DATASETS = {
    ProblemType.CLASSIFICATION: ("breast_cancer", "load_breast_cancer"),
    ProblemType.REGRESSION: ("diabetes", "load_diabetes"),
}


class LocalRunError(RuntimeError):
    """The plan has nothing to run locally, or the input data cannot be used."""


class LocalRunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a local run; the message says which execution and what was kept."""


@dataclass
class LocalRun:
    """A finished local run: the plan it came from and the execution's outcome."""

    plan: Plan
    workdir: Path
    execution: ExecutionResult
    dataset: str
    registry: LocalRegistry
    job_environment: JobEnvironment
    """The interpreter and packages the jobs ran under (the summary says which)."""
    where: Where = Where()
    """The project, stack and workdir as given: the commands printed after the run repeat
    them (the group is the package's)."""

    def local_outputs(self, step: str) -> dict[str, Path]:
        """Local folders of a processing step's outputs, by output name."""
        return step_outputs(self.execution, step, LocalWorkdir(self.workdir).s3)

    def champion_package(self) -> dict[str, Any] | None:
        """The registry package whose model the gate compared with (ChampionModelUri)."""
        uri = self.execution.parameters.get(CHAMPION_PARAMETER)
        for package in reversed(self.registry.packages()):
            containers = package.get("InferenceSpecification", {}).get("Containers", [])
            if containers and containers[0].get("ModelDataUrl") == uri:
                return package
        return None

    def unchanged_data_held_back(self) -> bool:
        """Whether the new-data check held the model back: it was trained on the champion's
        own data, and registering unchanged data was not asked for."""
        return any(step.name == StepName.NEW_DATA_CHECK.value and step.type == "Condition"
                   and not step.properties.get("Outcome") for step in self.execution.steps)


def step_outputs(execution: ExecutionResult, step: str, s3: LocalS3) -> dict[str, Path]:
    """Local folders of a processing step's outputs in ``execution``, by output name."""
    properties = execution.step(step).properties
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


#: The component type that owns the training pipeline in a plan.
TRAINING_PIPELINE_TYPE = "mlops:index:TrainingPipeline"


def run_local(project_dir: Path, stack: str, workdir: Path | None = None,
              data: Path | None = None, target: str | None = None,
              problem_type: str | None = None, on_step: StepCallback | None = None,
              parameters: Mapping[str, Any] | None = None,
              job_environment: JobEnvironment | None = None,
              model_name: str | None = None, leak_policy: str | None = None,
              register_unchanged_data: bool | None = None,
              target_transform: str | None = None,
              class_weight: str | None = None,
              decision_threshold: str | None = None) -> LocalRun:
    """Plan ``stack`` offline, materialise its uploads locally and execute its pipeline.

    Each call is one execution with an ID of its own (runs may share a workdir). Jobs run
    under ``job_environment``; by default the image's (Python 3.12 with the image's pins and
    ``training/requirements.txt``, built once and cached). ``model_name`` overrides the
    stack's modelName (the registry group); the latest approved package of the group, if
    any, is the champion the gate compares with. ``leak_policy`` overrides the stack's
    leakPolicy (what Preprocess does with a leaking column); ``register_unchanged_data`` its
    registerUnchangedData (register a model of the champion's own training data),
    ``target_transform`` its targetTransform (train.py's regression target transform),
    ``class_weight`` and ``decision_threshold`` its classWeight and decisionThreshold (Train's
    handling of imbalanced classes). Ctrl-C stops the running job,
    removes what the execution wrote, records it as Interrupted and raises
    :class:`LocalRunInterrupted`.
    """
    files = input_csv_files(Path(data), target) if data is not None else []
    overrides = {}
    if model_name:
        overrides["modelName"] = model_name
    if target:
        overrides["targetColumn"] = target
    if problem_type:
        overrides["problemType"] = problem_type
    if leak_policy:
        overrides["leakPolicy"] = leak_policy
    if register_unchanged_data is not None:
        overrides["registerUnchangedData"] = register_unchanged_data
    if target_transform is not None:
        overrides["targetTransform"] = target_transform
    if class_weight:
        overrides["classWeight"] = class_weight
    if decision_threshold:
        overrides["decisionThreshold"] = decision_threshold
    load_project(project_dir).stack_config(stack)  # a bad project or stack is named first
    given_workdir = Path(workdir).resolve() if workdir else None
    workdir = Path(workdir or default_workdir(project_dir, stack)).resolve()
    try:
        layout = writable_workdir(workdir)
    except WorkdirError as problem:
        raise LocalRunError(f"--workdir {problem}") from problem
    plan = plan_stack(project_dir, stack, overrides)
    # The training pipeline: the one a TrainingPipeline owns (a ModelMonitor owns another).
    definition = training_definition(plan)
    s3 = layout.s3
    materialise_uploads(plan, s3)

    if job_environment is None:
        job_environment = image_job_environment(
            progress=lambda message: (on_step or (lambda *_: None))("job environment", "", message))
    executor = LocalPipelineExecutor(definition, workdir, on_step=on_step,
                                     python=str(job_environment.python),
                                     job_variables=job_variables(job_environment),
                                     functions=local_functions(definition, s3))
    defaults = executor.parameter_defaults()
    execution_id = allocate_execution(layout.jobs)
    try:
        input_uri = f"{str(defaults[INPUT_PARAMETER]).rstrip('/')}/local/{execution_id}/"
        input_dir = s3.path(input_uri)
        if data is not None:
            data = Path(data)
            for file in files:
                relative = file.relative_to(data) if data.is_dir() else Path(file.name)
                (input_dir / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, input_dir / relative)
            dataset = f"{data} ({len(files)} CSV file{'s' if len(files) > 1 else ''})"
            sources = {(file.relative_to(data) if data.is_dir() else Path(file.name))
                       .as_posix(): str(file.resolve()) for file in files}
        else:
            config_problem = container_argument(definition, "--problem-type")
            config_target = container_argument(definition, "--target")
            dataset = default_dataset_csv(ProblemType(config_problem), config_target,
                                          input_dir / DEFAULT_DATA_FILE)
            sources = {DEFAULT_DATA_FILE: dataset}
        champion = champion_model_uri(definition, executor.registry)
        if champion and CHAMPION_PARAMETER in defaults:
            parameters = {CHAMPION_PARAMETER: champion, **(parameters or {})}
        run_parameters = {INPUT_PARAMETER: input_uri, **(parameters or {})}
        # The data as the execution starts: what its lineage names (the jobs read the same).
        record_inputs(layout.jobs, execution_id, input_uri, s3, sources,
                      {**defaults, **run_parameters})
        execution = executor.run(run_parameters, execution_id=execution_id)
        record_steps(layout.jobs, execution)
    except KeyboardInterrupt as interrupt:
        steps = interrupt.result.steps if isinstance(interrupt, ExecutionInterrupted) else []
        reason = str(interrupt) if steps else "interrupted"
        # A registered package points at the execution's objects: those stay.
        registered = any(step.type == "RegisterModel" and step.status == "Succeeded"
                         for step in steps)
        discard_execution(layout, execution_id, keep_objects=registered)
        record_execution(layout.jobs, execution_id, ExecutionStatus.INTERRUPTED, reason)
        kept = ("the package it registered and its objects stay" if registered else
                "its partial outputs were removed and nothing was registered")
        raise LocalRunInterrupted(f"execution {execution_id} {reason}; {kept} "
                                  f"(logs: {layout.jobs / execution_id})") from None
    except BaseException as problem:
        record_execution(layout.jobs, execution_id, ExecutionStatus.FAILED, str(problem))
        raise
    record_execution(layout.jobs, execution_id, execution.status, execution.failure_reason)
    where = Where(stack=stack, project_dir=Path(project_dir), workdir=given_workdir,
                  dev_env=job_environment.key is None)
    return LocalRun(plan=plan, workdir=workdir, execution=execution, dataset=dataset,
                    registry=executor.registry, job_environment=job_environment, where=where)


def training_definition(plan: Plan) -> dict[str, Any]:
    """The definition of the plan's training pipeline (the one a TrainingPipeline owns; a
    ModelMonitor owns another)."""
    pipelines = plan.of_type(PIPELINE, TRAINING_PIPELINE_TYPE)
    if len(pipelines) != 1:
        raise LocalRunError(f"stack {plan.stack!r} defines {len(pipelines)} training "
                            "pipelines; mlops up --local runs a stack with exactly one")
    return json.loads(pipelines[0].inputs["pipelineDefinition"])


def image_job_environment(progress: Callable[[str], None] | None = None) -> JobEnvironment:
    """The image's job environment for the shipped ``training/`` pins, built once, cached."""
    return ensure_job_environment(TRAINING_CODE_DIR / IMAGE_REQUIREMENTS_FILE,
                                  TRAINING_CODE_DIR / REQUIREMENTS_FILE, progress=progress)


def job_variables(environment: JobEnvironment) -> dict[str, str]:
    """Variables every local job gets: under the development interpreter, unmet pins warn."""
    return {} if environment.exact and environment.key else {
        REQUIREMENTS_CHECK_ENV: REQUIREMENTS_CHECK_WARN}


def input_csv_files(data: Path, target: str | None) -> list[Path]:
    """The CSV files of ``--data``, each checked to have a header with ``target`` in it."""
    if not data.exists():
        raise LocalRunError(f"--data {data}: no such CSV file or folder of CSV files")
    if data.is_dir():
        files = list_csv_files(data)
        if not files:
            raise LocalRunError(f"--data {data}: the folder holds no *.csv files")
    else:
        files = [data]
    for file in files:
        try:
            # The jobs read `;`, tab and `|` files too (training/data/checks.py detects which).
            with file.open(newline="", encoding="utf-8-sig") as handle:
                header = next(csv.reader(handle, delimiter=detect_delimiter(file)), None)
        except (OSError, UnicodeDecodeError, csv.Error) as problem:
            raise LocalRunError(f"--data {file}: not a readable UTF-8 CSV file "
                                f"({problem})") from problem
        if not header:
            raise LocalRunError(f"--data {file}: the file is empty (no header row)")
        if target and target not in header:
            shown = ", ".join(header[:12]) + (", …" if len(header) > 12 else "")
            raise LocalRunError(f"--target {target}: not a column of {file} "
                                f"(columns: {shown})")
    return files


def discard_execution(workdir: LocalWorkdir, execution_id: str,
                      keep_objects: bool = False) -> None:
    """Remove what an interrupted execution wrote: its objects in the local S3 (unless
    ``keep_objects``) and its job folders; keep the job logs and the execution's record."""
    if not keep_objects and workdir.s3.root.is_dir():
        for folder in sorted(workdir.s3.root.rglob(execution_id), reverse=True):
            if folder.is_dir() and folder.name == execution_id:
                shutil.rmtree(folder, ignore_errors=True)
    execution = workdir.jobs / execution_id
    for path in sorted(execution.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_symlink() or path.is_file():
            if path.name not in (JOB_LOG, EXECUTION_RECORD):
                path.unlink(missing_ok=True)
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def champion_model_uri(definition: dict[str, Any], registry: LocalRegistry) -> str | None:
    """Model data of the latest approved package in the group the pipeline registers into."""
    # The Register step sits in condition branches, at any depth.
    groups = {step.get("Arguments", {}).get("ModelPackageGroupName")
              for step in iter_steps(definition)}
    groups.discard(None)
    for group in sorted(groups):
        package = registry.latest_approved(group) if (registry.root / group).is_dir() else None
        containers = (package or {}).get("InferenceSpecification", {}).get("Containers", [])
        if containers and containers[0].get("ModelDataUrl"):
            return containers[0]["ModelDataUrl"]
    return None


def materialise_uploads(plan: Plan, s3: LocalS3) -> None:
    """Do locally what `pulumi up` does for every bucket object in the plan.

    An asset the offline plan only names (the wheelhouse: built at deploy time) is skipped:
    the local job environment already holds what it would install.
    """
    for resource in plan.of_type(BUCKET_OBJECT):
        inputs = resource.inputs
        asset_path = inputs.get("source", {}).get("asset", {}).get("path")
        if asset_path and not Path(asset_path).is_file():
            continue
        target = s3.path(f"s3://{inputs['bucket']}/{inputs['key']}")
        target.parent.mkdir(parents=True, exist_ok=True)
        # Atomic: a run that starts meanwhile reads the whole object or none of it.
        if "content" in inputs:
            write_atomic(target, inputs["content"])
        elif "contentBase64" in inputs:
            write_atomic(target, base64.b64decode(inputs["contentBase64"]))
        elif "path" in inputs.get("source", {}).get("asset", {}):
            write_atomic(target, Path(inputs["source"]["asset"]["path"]).read_bytes())
        else:
            raise LocalRunError(f"bucket object {resource.name} has no content to upload")


def container_argument(definition: dict[str, Any], flag: str) -> str:
    """A flag's value from the first processing step that passes it (the stack's own setting)."""
    for step in definition["Steps"]:
        arguments = step.get("Arguments", {}).get("AppSpecification", {}).get(
            "ContainerArguments", [])
        if flag in arguments:
            return arguments[arguments.index(flag) + 1]
    raise LocalRunError(f"no step of the pipeline passes {flag}")
