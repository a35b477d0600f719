"""`mlops batch --local`: score a file or folder through the stack's planned batch pipeline.

The stack is planned offline (with batch inference turned on when its config leaves it off, so
the plan holds the BatchInference pipeline as `pulumi up` would create it); its code objects
are materialised in the workdir's local S3; the data is copied under the pipeline's
``InputDataUri`` default (``batch/input/local/<execution>/``); then the definition runs step
by step as ``mlops up --local`` runs the training one. Its Lambda steps run the batch Lambda's
own code (``functions/batch_run.py``) over local clients: the local registry for
ListModelPackages/DescribeModelPackage, the local S3 for ListObjectsV2/GetObject, a JSON-lines
file for PutMetricData. So the latest *approved* local package is resolved when the run
starts, and a run without one says so and scores nothing.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_components.enums import ApprovalStatus
from mlops_components.functions import batch_run
from mlops_components.local.executions import (
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
from mlops_components.local.job_env import JobEnvironment
from mlops_components.local.registry import LocalRegistry
from mlops_components.local.run import (
    PIPELINE,
    LocalRunInterrupted,
    input_csv_files,
    job_variables,
    materialise_uploads,
    step_outputs,
)
from mlops_components.local.workdir import LocalS3, WorkdirError, writable_workdir
from mlops_components.plan import Plan, plan_stack
from mlops_components.project import load_project
from mlops_components.sagemaker.batch_spec import (
    READY_OUTPUT,
    REASON_OUTPUT,
    BatchParameter,
    BatchStep,
)
from mlops_components.sagemaker.definition import iter_steps
from training.contract import (
    BATCH_CAPTURE_FOLDER,
    BATCH_OUTPUT,
    BATCH_REPORT_PREFIX,
    DRIFT_OUTPUT,
    DRIFT_REPORT_FILE,
    REFUSED_ROWS_PREFIX,
)

BATCH_TYPE = "mlops:index:BatchInference"
FUNCTION = "aws:lambda/function:Function"
#: What turns batch inference on in a plan whose stack config leaves it off.
BATCH_ON = {"batchOnNewData": True}
#: The local stand-in for CloudWatch: PutMetricData items as JSON lines.
LOCAL_METRICS_FILE = Path("cloudwatch") / "metrics.jsonl"


class BatchRunError(LookupError):
    """The batch cannot run on what was given (one line for the user, exit status 2)."""


@dataclass
class LocalBatch:
    """What one local batch run did."""

    execution: ExecutionResult
    group: str
    data: str
    reason: str = ""
    """ResolveModel's reason (why nothing was scored, or with what)."""
    ready: bool = False
    output_dir: Path | None = None
    report: dict[str, Any] = field(default_factory=dict)
    """The hosts' batch reports summed: rows, scored, refused, and the first refused rows."""

    @property
    def scored(self) -> bool:
        return self.ready and self.output_dir is not None

    def refused_files(self) -> list[Path]:
        return sorted(self.output_dir.glob(f"{REFUSED_ROWS_PREFIX}-*.csv")) \
            if self.output_dir else []

    def scored_files(self) -> list[Path]:
        if not self.output_dir:
            return []
        return sorted(p for p in self.output_dir.rglob("*") if p.is_file()
                      and not p.name.startswith((REFUSED_ROWS_PREFIX, BATCH_REPORT_PREFIX))
                      and p.relative_to(self.output_dir).parts[0] not in (
                          BATCH_CAPTURE_FOLDER, DRIFT_OUTPUT))

    def drift_report(self) -> dict[str, Any] | None:
        """The drift job's report on this batch (None when it did not run)."""
        path = self.output_dir / DRIFT_OUTPUT / DRIFT_REPORT_FILE if self.output_dir else None
        return json.loads(path.read_text()) if path is not None and path.is_file() else None


# --------------------------------------------------------------------------------------
# Local clients for the batch Lambda's code


class LocalPackages:
    """ListModelPackages and DescribeModelPackage over the local registry."""

    def __init__(self, registry: LocalRegistry):
        self.registry = registry

    def _packages(self, group: str) -> list[dict[str, Any]]:
        return self.registry.packages(group) if (self.registry.root / group).is_dir() else []

    def list_model_packages(self, *, ModelPackageGroupName: str,  # noqa: N803 - boto3's names
                            ModelApprovalStatus: str | None = None, SortOrder: str = "Ascending",
                            MaxResults: int = 100, **_: Any) -> dict[str, Any]:
        packages = [p for p in self._packages(ModelPackageGroupName)
                    if ModelApprovalStatus in (None, p.get("ModelApprovalStatus"))]
        packages.sort(key=lambda p: p["ModelPackageVersion"],
                      reverse=SortOrder == "Descending")
        return {"ModelPackageSummaryList": [
            {"ModelPackageArn": p["ModelPackageArn"], "ModelPackageStatus": "Completed",
             "ModelApprovalStatus": p["ModelApprovalStatus"],
             "ModelPackageVersion": p["ModelPackageVersion"]} for p in packages[:MaxResults]]}

    def describe_model_package(self, *, ModelPackageName: str) -> dict[str, Any]:  # noqa: N803
        for package in self.registry.packages():
            if package["ModelPackageArn"] == ModelPackageName:
                return package
        raise BatchRunError(f"no local model package {ModelPackageName}")


class LocalS3Client:
    """ListObjectsV2 and GetObject over the local S3 folder."""

    def __init__(self, s3: LocalS3):
        self.s3 = s3

    def list_objects_v2(self, *, Bucket: str, Prefix: str = "", **_: Any  # noqa: N803
                        ) -> dict[str, Any]:
        objects = self.s3.objects(f"s3://{Bucket}/{Prefix}")
        return {"Contents": [{"Key": f"{Prefix}{relative}"} for relative, _ in objects],
                "IsTruncated": False}

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        return {"Body": io.BytesIO(self.s3.path(f"s3://{Bucket}/{Key}").read_bytes())}


class LocalCloudWatch:
    """PutMetricData appended to a JSON-lines file (the local CloudWatch)."""

    def __init__(self, path: Path):
        self.path = path

    def put_metric_data(self, *, Namespace: str, MetricData: Sequence[Mapping[str, Any]]  # noqa: N803
                        ) -> dict[str, Any]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            for datum in MetricData:
                out.write(json.dumps({"Namespace": Namespace, **datum}, default=str) + "\n")
        return {}


# --------------------------------------------------------------------------------------


def batch_definition(plan: Plan) -> dict[str, Any]:
    """The definition of the plan's batch inference pipeline."""
    pipelines = plan.of_type(PIPELINE, BATCH_TYPE)
    if len(pipelines) != 1:
        raise BatchRunError(f"stack {plan.stack!r} plans {len(pipelines)} batch inference "
                            "pipelines; mlops batch --local runs a stack with exactly one")
    return json.loads(pipelines[0].inputs["pipelineDefinition"])


def batch_function_config(plan: Plan) -> batch_run.Config:
    """The batch Lambda's settings, from its planned environment."""
    functions = [f for f in plan.of_type(FUNCTION, BATCH_TYPE)
                 if f.inputs.get("handler", "").startswith(Path(batch_run.__file__).stem)]
    if len(functions) != 1:
        raise BatchRunError("the plan's batch inference has no batch function")
    return batch_run.Config.from_env(functions[0].inputs["environment"]["variables"])


def local_functions(definition: Mapping[str, Any], config: batch_run.Config,
                    registry: LocalRegistry, s3: LocalS3, metrics: Path
                    ) -> dict[str, Any]:
    """Every Lambda step's function, run as the batch Lambda's own code on local clients."""
    clients = batch_run.Clients(sagemaker=LocalPackages(registry), s3=LocalS3Client(s3),
                                cloudwatch=LocalCloudWatch(metrics))

    def invoke(inputs: dict[str, Any]) -> Mapping[str, Any]:
        return batch_run.handle(inputs, clients, config)

    return {step["FunctionArn"]: invoke for step in iter_steps(definition)
            if step["Type"] == "Lambda"}


def _copy_data(data: Path, files: Sequence[Path], destination: Path) -> None:
    for file in files:
        relative = file.relative_to(data) if data.is_dir() else Path(file.name)
        (destination / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, destination / relative)


def run_batch(project_dir: Path, stack: str, data: Path, workdir: Path,
              job_environment: JobEnvironment, group: str | None = None,
              max_refused_share: float | None = None,
              on_step: StepCallback | None = None) -> LocalBatch:
    """Score ``data`` (a CSV file or a folder of them) with the latest approved package of
    ``group`` (default: the stack's model) through the stack's planned batch pipeline."""
    from mlops_components.config import parse_config

    data = Path(data)
    try:
        files = input_csv_files(data, None)
    except Exception as problem:  # noqa: BLE001 - LocalRunError, one line
        raise BatchRunError(str(problem)) from None
    project = load_project(project_dir)
    config = parse_config(project.stack_config(stack), project=project.name)
    overrides: dict[str, Any] = {} if (config.batch_schedule or config.batch_on_new_data) \
        else dict(BATCH_ON)
    if group and group != config.model_name:
        overrides["modelName"] = group
    try:
        writable_workdir(Path(workdir))
    except WorkdirError as problem:
        raise BatchRunError(f"--workdir {problem}") from problem
    plan = plan_stack(project_dir, stack, overrides)
    shown = f"{data} ({len(files)} CSV file{'s' if len(files) > 1 else ''})"
    return execute_batch(plan, Path(workdir), data, files, job_environment,
                         group=group or config.model_name, shown=shown,
                         max_refused_share=max_refused_share, on_step=on_step)


def has_batch(plan: Plan) -> bool:
    """Whether the plan holds a batch inference pipeline."""
    return bool(plan.of_type(PIPELINE, BATCH_TYPE))


def execute_batch(plan: Plan, workdir: Path, data: Path, files: Sequence[Path],
                  job_environment: JobEnvironment, group: str, shown: str = "",
                  max_refused_share: float | None = None,
                  on_step: StepCallback | None = None) -> LocalBatch:
    """Run the plan's batch pipeline on ``files`` (under ``data``) in ``workdir``."""
    layout = writable_workdir(workdir)
    definition = batch_definition(plan)
    materialise_uploads(plan, layout.s3)
    functions = local_functions(definition, batch_function_config(plan), layout.registry,
                                layout.s3, layout.root / LOCAL_METRICS_FILE)
    executor = LocalPipelineExecutor(definition, layout.root, on_step=on_step,
                                     python=str(job_environment.python),
                                     job_variables=job_variables(job_environment),
                                     functions=functions)
    defaults = executor.parameter_defaults()
    execution_id = allocate_execution(layout.jobs)
    input_uri = f"{defaults[BatchParameter.INPUT_DATA_URI.value]}local/{execution_id}/"
    parameters: dict[str, Any] = {BatchParameter.INPUT_DATA_URI.value: input_uri}
    if max_refused_share is not None:
        parameters[BatchParameter.MAX_REFUSED_SHARE.value] = repr(float(max_refused_share))
    try:
        _copy_data(data, files, layout.s3.path(input_uri))
        execution = executor.run(parameters, execution_id=execution_id)
    except ExecutionInterrupted as interrupt:
        reason = interrupt.result.failure_reason
        record_execution(layout.jobs, execution_id, ExecutionStatus.INTERRUPTED, reason)
        raise LocalRunInterrupted(f"batch run {execution_id} {reason}") from None
    except BaseException as problem:
        record_execution(layout.jobs, execution_id, ExecutionStatus.FAILED, str(problem))
        raise
    record_execution(layout.jobs, execution_id, execution.status, execution.failure_reason)
    resolved = _outputs(execution, BatchStep.RESOLVE_MODEL)
    batch = LocalBatch(execution=execution, group=group, data=shown or str(data),
                       reason=str(resolved.get(REASON_OUTPUT, "")),
                       ready=resolved.get(READY_OUTPUT) == "true")
    if any(step.name == BatchStep.SCORE.value and step.status == "Succeeded"
           for step in execution.steps):
        batch.output_dir = step_outputs(execution, BatchStep.SCORE.value,
                                        layout.s3)[BATCH_OUTPUT]
        batch.report = summed_reports(batch.output_dir)
    return batch


def _outputs(execution: ExecutionResult, step: str) -> dict[str, Any]:
    try:
        return dict(execution.step(step).properties.get("OutputParameters", {}))
    except KeyError:
        return {}


def summed_reports(output_dir: Path) -> dict[str, Any]:
    """The hosts' reports added up, with their refused examples and per-file counts."""
    total: dict[str, Any] = {"rows": 0, "scored": 0, "refused": 0, "examples": [],
                             "files": [], "max_refused_share": None}
    for path in sorted(output_dir.glob(f"{BATCH_REPORT_PREFIX}-*.json")):
        report = json.loads(path.read_text())
        for key in ("rows", "scored", "refused"):
            total[key] += report[key]
        total["examples"] += report.get("examples", [])
        total["files"] += report.get("files", [])
        total["max_refused_share"] = report.get("max_refused_share")
    total["refused_share"] = total["refused"] / total["rows"] if total["rows"] else 0.0
    return total


def approved_version(registry: LocalRegistry, group: str) -> int | None:
    """The version of the group's latest approved local package (what a run scores with)."""
    if not (registry.root / group).is_dir():
        return None
    package = registry.latest_approved(group)
    return package["ModelPackageVersion"] if package and package[
        "ModelApprovalStatus"] == ApprovalStatus.APPROVED.value else None
