"""The local runtime's lineage record: what an execution read and what its steps did.

``jobs/<execution>/lineage-record.json`` (next to ``execution.json``) is written twice by
`mlops up --local`: at the execution's start with the data objects under its InputDataUri,
and at its end with its steps in the shape of ListPipelineExecutionSteps (job ARNs,
condition outcomes, the registered package), so ``mlops lineage --local`` reads the same
facts it reads from SageMaker.

A promoted package's record is the lineage `mlops promote` carried into the target's bucket
(:func:`~mlops_components.sagemaker.lineage.carried_manifest`): the target workdir has no
``jobs/`` of the source's execution, and needs none.

The local S3 emulation (a folder) keeps no object versions, so each object's version ID is
content-derived: ``sha256:<hex>`` of its bytes (:data:`~mlops_components.sagemaker.lineage.
CONTENT_VERSION` says so in the record). The same bytes give the same version, as the
training data fingerprint does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_components.enums import ApprovalStatus
from mlops_components.functions import lineage_record
from mlops_components.local.atomic import write_atomic
from mlops_components.local.executions import EXECUTION_RECORD
from mlops_components.local.executor import ExecutionResult, StepResult
from mlops_components.local.registry import LOCAL_ACCOUNT
from mlops_components.local.workdir import LocalS3, LocalWorkdir
from mlops_components.sagemaker.definition import iter_steps
from mlops_components.sagemaker.lineage import (
    CONTENT_VERSION,
    build_record,
    carried,
    carried_facts,
    execution_reference,
    promoted_execution,
)
from mlops_components.sagemaker.packages import package_metrics
from mlops_components.sagemaker.spec import LINEAGE_METADATA, StepName
from training.lineage import DIGEST_ALGORITHM, file_digest

LINEAGE_RECORD = "lineage-record.json"
"""The execution's lineage record, in its folder under ``jobs/``."""
_ARN = f"arn:aws:sagemaker:local:{LOCAL_ACCOUNT}"


def record_inputs(jobs: Path, execution_id: str, input_uri: str, s3: LocalS3,
                  sources: Mapping[str, str], parameters: Mapping[str, Any]) -> None:
    """Write the execution's data objects (URI, content-derived version, bytes, and the file
    or dataset each came from: ``sources`` by key relative to the input prefix)."""
    objects = [{"uri": input_uri.rstrip("/") + "/" + relative,
                "version_id": f"{DIGEST_ALGORITHM}:{file_digest(path)}",
                "bytes": path.stat().st_size,
                "source": sources.get(relative, "")}
               for relative, path in s3.objects(input_uri)]
    _write(jobs, execution_id, {"input_uri": input_uri, "objects": objects,
                                "version_ids": CONTENT_VERSION,
                                "parameters": dict(parameters), "steps": []})


def record_steps(jobs: Path, execution: ExecutionResult) -> None:
    """Add the execution's steps (ListPipelineExecutionSteps-shaped) to its record."""
    record = read_record(jobs, execution.execution_id)
    if record is None:
        return
    record["parameters"] = dict(execution.parameters)
    record["steps"] = [_step(execution.execution_id, step) for step in execution.steps]
    _write(jobs, execution.execution_id, record)


def read_record(jobs: Path, execution_id: str) -> dict[str, Any] | None:
    try:
        record = json.loads((jobs / execution_id / LINEAGE_RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def lineage_facts(workdir: LocalWorkdir, package: Mapping[str, Any]) -> dict[str, Any]:
    """What the workdir knows of a package's lineage: ``execution``, ``steps``, ``data``,
    ``earlier`` (the packages a promoted one descends from) and ``manifest`` (the one
    ``mlops:lineage-uri`` names, as read). A promoted package's carried manifest answers
    all of them (its execution ran in the source stage's workdir)."""
    manifest = _manifest(workdir.s3, package)
    manifest_uri = package.get("CustomerMetadataProperties", {}).get(LINEAGE_METADATA, "")
    if carried(manifest):
        return carried_facts(manifest, manifest_uri) | {"manifest": manifest}
    reference = execution_reference(package)
    execution: dict[str, Any] = {}
    record: dict[str, Any] = {}
    if reference is not None and reference.get("promoted"):
        execution = promoted_execution(reference)
    elif reference is not None:
        execution_id = reference["execution_id"]
        record = read_record(workdir.jobs, execution_id) or {}
        status = _read_json(workdir.jobs / execution_id / EXECUTION_RECORD)
        execution = {"arn": reference["arn"], "id": execution_id,
                     "pipeline": reference["pipeline"],
                     "status": status.get("Status", ""), "started": status.get("StartTime", ""),
                     "log_folder": str(workdir.jobs / execution_id)}
    data = {"input_uri": record.get("input_uri", ""), "objects": record.get("objects", []),
            "version_ids": record.get("version_ids", ""), "recorded": bool(record)}
    if manifest is not None:  # what RecordLineage wrote; the files they came from added
        sources = {item["uri"]: item.get("source", "") for item in data["objects"]}
        data.update(input_uri=manifest.get("input_uri", data["input_uri"]), recorded=True,
                    manifest_uri=manifest_uri,
                    objects=[{**item, "source": sources.get(item["uri"], "")}
                             for item in manifest.get("objects", [])])
        data["version_ids"] = data["version_ids"] or CONTENT_VERSION
    return {"execution": execution, "steps": record.get("steps", []), "data": data,
            "earlier": [], "manifest": manifest}


def local_lineage(workdir: LocalWorkdir, package: Mapping[str, Any],
                  serve_hint: str) -> dict[str, Any]:
    """The lineage record of a package of the local registry (``serve_hint``: the command
    that serves it, named when it is the version `mlops serve` serves)."""
    facts = lineage_facts(workdir, package)
    group = package["ModelPackageGroupName"]
    latest = workdir.registry.latest_approved(group)
    serving = bool(latest) and latest["ModelPackageVersion"] == package["ModelPackageVersion"]
    approved = package.get("ModelApprovalStatus") == ApprovalStatus.APPROVED.value
    endpoint = {"name": "local", "serving": serving,
                "line": (f"local: {serve_hint} serves it (the latest approved version)"
                         if serving else
                         "local: not served (" + ("a later approved version is"
                                                   if approved else "not approved") + ")")}
    return build_record(package, where=f"local ({workdir.registry.root})",
                        execution=facts["execution"], steps=facts["steps"],
                        data=facts["data"],
                        metrics=package_metrics(dict(package), workdir.s3.read_text),
                        endpoint=endpoint, earlier=facts["earlier"])


class VersionedLocalS3:
    """ListObjectVersions and PutObject over the local S3 folder, as ``lineage_record`` calls
    them: every object is its only, latest version, its ID content-derived."""

    def __init__(self, s3: LocalS3):
        self.s3 = s3

    def get_paginator(self, operation: str) -> Any:
        if operation != "list_object_versions":
            raise ValueError(f"the local S3 has no paginator for {operation}")
        return self

    def paginate(self, *, Bucket: str, Prefix: str = "", **_: Any  # noqa: N803
                 ) -> list[dict[str, Any]]:
        versions = [{"Key": f"{Prefix}{relative}",
                     "VersionId": f"{DIGEST_ALGORITHM}:{file_digest(path)}",
                     "IsLatest": True, "Size": path.stat().st_size,
                     "LastModified": datetime.fromtimestamp(path.stat().st_mtime, UTC)}
                    for relative, path in self.s3.objects(f"s3://{Bucket}/{Prefix}")]
        return [{"Versions": versions}]

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any  # noqa: N803
                   ) -> dict[str, Any]:
        write_atomic(self.s3.path(f"s3://{Bucket}/{Key}"), Body.decode())
        return {}


def local_functions(definition: Mapping[str, Any], s3: LocalS3) -> dict[str, Any]:
    """The training definition's RecordLineage step, run as its Lambda's own code over the
    local S3 (``{FunctionArn: stand-in}`` for the executor)."""
    clients = lineage_record.Clients(s3=VersionedLocalS3(s3))
    return {step["FunctionArn"]: lambda inputs: lineage_record.record(inputs, clients)
            for step in iter_steps(definition)
            if step["Type"] == "Lambda" and step["Name"] == StepName.RECORD_LINEAGE.value}


def _step(execution_id: str, step: StepResult) -> dict[str, Any]:
    """One step as ListPipelineExecutionSteps gives it (local ARNs for the jobs)."""
    metadata: dict[str, Any] = {}
    properties = step.properties or {}
    if step.type == "Processing":
        metadata["ProcessingJob"] = {"Arn": f"{_ARN}:processing-job/{execution_id}-"
                                            f"{step.name}".lower()}
    elif step.type == "Training":
        name = properties.get("TrainingJobName", step.name)
        metadata["TrainingJob"] = {"Arn": f"{_ARN}:training-job/{execution_id}-{name}".lower()}
    elif step.type == "Tuning":
        metadata["TuningJob"] = {"Arn": f"{_ARN}:hyper-parameter-tuning-job/"
                                        f"{execution_id}-{step.name}".lower()}
    elif step.type == "Condition" and "Outcome" in properties:
        metadata["Condition"] = {"Outcome": str(bool(properties["Outcome"]))}
    elif step.type == "RegisterModel" and "ModelPackageArn" in properties:
        metadata["RegisterModel"] = {"Arn": properties["ModelPackageArn"]}
    return {"StepName": step.name, "StepType": step.type, "StepStatus": step.status,
            "Detail": step.detail, "Metadata": metadata}


def _manifest(s3: LocalS3, package: Mapping[str, Any]) -> dict[str, Any] | None:
    """The lineage manifest the package names (``mlops:lineage-uri``), if it can be read."""
    uri = package.get("CustomerMetadataProperties", {}).get(LINEAGE_METADATA, "")
    try:
        text = s3.read_text(uri) if uri.startswith("s3://") else None
        manifest = json.loads(text) if text else None
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _write(jobs: Path, execution_id: str, record: dict[str, Any]) -> None:
    write_atomic(jobs / execution_id / LINEAGE_RECORD,
                 json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}
