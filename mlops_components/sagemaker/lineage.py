"""A registered package's lineage: the chain from its data to the endpoint that serves it.

Both registries answer with the same facts in the same shapes, so one function assembles the
record that ``mlops lineage`` and ``mlops status --version`` print (and ``--json`` emits):

- the data objects (URI and version ID) the execution read under its ``InputDataUri``;
- the pipeline execution (found from the package's ``MetadataProperties.GeneratedBy`` when it
  names an execution, else from its model's S3 location: every output of an execution lives
  under ``models/<pipeline>/<execution id>/``) and its steps, in the shape of
  ListPipelineExecutionSteps (the processing, training and tuning jobs, the gate's outcome);
- the evaluation (the package's ModelQuality statistics: metrics, and the gate metric);
- the package (code URI, EDA report, drift baselines, training data fingerprint), its
  approval (status, by whom, why, when) and, when CustomerMetadataProperties carry them, its
  promotion from another stage;
- the endpoint that serves it now, or that none does.

Pure functions over DescribeModelPackage-shaped dicts: no boto3 and no files here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from mlops_components.bucket_layout import PREFIXES
from mlops_components.enums import ApprovalStatus
from mlops_components.sagemaker.spec import (
    CODE_URI_METADATA,
    EDA_REPORT_METADATA,
    GATE_METRIC_METADATA,
    PROBLEM_TYPE_METADATA,
    PROMOTED_AT_METADATA,
    PROMOTED_BY_METADATA,
    PROMOTED_FROM_METADATA,
    PROMOTION_REASON_METADATA,
    TARGET_COLUMN_METADATA,
    TRAINING_DATA_METADATA,
    StepName,
)

_EXECUTION_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:([^:]+):(\d{12}):pipeline/([^/]+)/execution/([^/]+)$")
_PACKAGE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sagemaker:([^:]+):(\d{12}):model-package/")
_CODE_HASH_RE = re.compile(r"([0-9a-f]{16,64})")

#: How the data objects' versions were found (the record says which).
RECORDED = "recorded at the execution's start"
RESOLVED = ("resolved from the bucket's version history: the version current when the "
            "execution started")
CONTENT_VERSION = "content-derived (sha256 of the bytes: the local S3 emulation keeps no versions)"

#: ListPipelineExecutionSteps metadata keys of the steps that run a job.
JOB_METADATA = ("ProcessingJob", "TrainingJob", "TuningJob")


def model_data_url(package: Mapping[str, Any]) -> str:
    containers = package.get("InferenceSpecification", {}).get("Containers", [])
    return containers[0].get("ModelDataUrl", "") if containers else ""


def execution_reference(package: Mapping[str, Any]) -> dict[str, str] | None:
    """``{"pipeline", "execution_id", "arn"}`` of the execution that registered ``package``.

    ``MetadataProperties.GeneratedBy`` when it is an execution ARN; otherwise the model's S3
    location, ``s3://<bucket>/models/<pipeline>/<execution id>/...`` (the builder puts every
    output of an execution under its ID), with the ARN built in the package's region and
    account (pipeline names are lower-cased in ARNs). None when neither says.
    """
    generated_by = str(package.get("MetadataProperties", {}).get("GeneratedBy", ""))
    match = _EXECUTION_ARN_RE.match(generated_by)
    if match:
        return {"pipeline": match.group(3), "execution_id": match.group(4),
                "arn": generated_by}
    url = model_data_url(package)
    match = re.match(rf"^s3://[^/]+/{re.escape(PREFIXES['models'])}([^/]+)/([^/]+)/", url)
    if not match:
        return None
    pipeline, execution_id = match.groups()
    arn_match = _PACKAGE_ARN_RE.match(str(package.get("ModelPackageArn", "")))
    region, account = arn_match.groups() if arn_match else ("local", "000000000000")
    return {"pipeline": pipeline, "execution_id": execution_id,
            "arn": f"arn:aws:sagemaker:{region}:{account}:pipeline/{pipeline.lower()}/"
                   f"execution/{execution_id}"}


def versions_at(versions: Iterable[Mapping[str, Any]], started: datetime,
                prefix_uri: str) -> list[dict[str, Any]]:
    """The objects under a prefix as they were at ``started``, from ListObjectVersions'
    ``Versions`` and ``DeleteMarkers`` (each with ``Key``, ``VersionId``, ``LastModified``;
    delete markers carry ``IsDeleteMarker``): per key, the newest entry not after
    ``started``, unless that is a delete marker. S3 times have one-second resolution: of
    entries in the same second, the one S3 marks ``IsLatest``, else a delete marker (a delete
    in the same second as a put most often follows it), else the first listed (S3 lists each
    key's versions newest first).
    ``[{"uri", "version_id", "bytes", "last_modified"}]`` sorted by key."""
    bucket = prefix_uri.removeprefix("s3://").split("/", 1)[0]
    def rank(entry: Mapping[str, Any]) -> tuple[Any, bool, bool]:
        return (entry["LastModified"], bool(entry.get("IsLatest")),
                bool(entry.get("IsDeleteMarker")))

    newest: dict[str, Mapping[str, Any]] = {}
    for entry in versions:
        if entry["LastModified"] > started or entry["Key"].endswith("/"):
            continue
        if entry["Key"] not in newest or rank(entry) > rank(newest[entry["Key"]]):
            newest[entry["Key"]] = entry
    return [{"uri": f"s3://{bucket}/{key}", "version_id": entry.get("VersionId", "null"),
             "bytes": entry.get("Size"), "last_modified": str(entry["LastModified"])}
            for key, entry in sorted(newest.items()) if not entry.get("IsDeleteMarker")]


def code_hash(code_uri: str) -> str:
    """The content hash in a content-addressed code location ("" when it has none)."""
    found = _CODE_HASH_RE.findall(code_uri.rsplit("/", 1)[-1] or code_uri)
    return found[-1] if found else ""


def approval(package: Mapping[str, Any]) -> dict[str, Any]:
    """Status, by whom (a user profile, an IAM identity, or the local OS user), why, when."""
    modified_by = package.get("LastModifiedBy") or {}
    by = (modified_by.get("UserProfileName") or modified_by.get("IamIdentity", {}).get("Arn")
          or modified_by.get("UserProfileArn") or "")
    status = str(package.get("ModelApprovalStatus", ""))
    decided = status != ApprovalStatus.PENDING_MANUAL_APPROVAL.value
    return {"status": status, "by": by if decided else "",
            "why": str(package.get("ApprovalDescription", "")) if decided else "",
            "when": str(package.get("LastModifiedTime", "") or "") if decided else ""}


def promotion(package: Mapping[str, Any]) -> dict[str, str] | None:
    """Where a promoted package came from (None when it was not promoted)."""
    metadata = package.get("CustomerMetadataProperties", {})
    if PROMOTED_FROM_METADATA not in metadata:
        return None
    return {"from": metadata[PROMOTED_FROM_METADATA],
            "by": metadata.get(PROMOTED_BY_METADATA, ""),
            "at": metadata.get(PROMOTED_AT_METADATA, ""),
            "reason": metadata.get(PROMOTION_REASON_METADATA, "")}


def job_steps(steps: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The steps that ran a job: ``{"step", "status", "kind", "job"}`` (job = its ARN)."""
    found = []
    for step in steps:
        metadata = step.get("Metadata", {})
        for kind in JOB_METADATA:
            if kind in metadata:
                found.append({"step": step.get("StepName", ""),
                              "status": step.get("StepStatus", ""), "kind": kind,
                              "job": metadata[kind].get("Arn", "")})
    return found


def condition_outcome(steps: Iterable[Mapping[str, Any]], name: str) -> str:
    """A condition step's outcome as ListPipelineExecutionSteps says it ("True"/"False"), or
    "" when the step did not run."""
    for step in steps:
        if step.get("StepName") == name:
            return str(step.get("Metadata", {}).get("Condition", {}).get("Outcome", ""))
    return ""


def build_record(package: Mapping[str, Any], *, where: str,
                 execution: Mapping[str, Any] | None,
                 steps: list[Mapping[str, Any]],
                 data: Mapping[str, Any],
                 metrics: Mapping[str, float],
                 endpoint: Mapping[str, Any]) -> dict[str, Any]:
    """The lineage record of ``package`` (JSON-ready; ``mlops lineage --json`` prints it)."""
    metadata = package.get("CustomerMetadataProperties", {})
    model_metrics = package.get("ModelMetrics", {})
    baselines = package.get("DriftCheckBaselines", {}).get("ModelDataQuality", {})
    code_uri = metadata.get(CODE_URI_METADATA, "")
    gate_metric = metadata.get(GATE_METRIC_METADATA, "")
    return {
        "where": where,
        "group": package.get("ModelPackageGroupName", ""),
        "version": package.get("ModelPackageVersion"),
        "data": {**data, "fingerprint": metadata.get(TRAINING_DATA_METADATA, "")},
        "execution": dict(execution or {}),
        "jobs": job_steps(steps),
        "evaluation": {
            "report_uri": model_metrics.get("ModelQuality", {}).get("Statistics", {}).get(
                "S3Uri", ""),
            "metrics": dict(metrics),
            "gate_metric": gate_metric,
            "gate_value": metrics.get(gate_metric),
            "quality_gate": condition_outcome(steps, StepName.QUALITY_GATE.value),
            "new_data_check": condition_outcome(steps, StepName.NEW_DATA_CHECK.value),
        },
        "package": {
            "arn": package.get("ModelPackageArn", ""),
            "created": str(package.get("CreationTime", "")),
            "model_data": model_data_url(package),
            "code_uri": code_uri,
            "code_hash": code_hash(code_uri),
            "eda_report_uri": metadata.get(EDA_REPORT_METADATA, ""),
            "problem_type": metadata.get(PROBLEM_TYPE_METADATA, ""),
            "target_column": metadata.get(TARGET_COLUMN_METADATA, ""),
            "baselines": {name: source.get("S3Uri", "") for name, source in baselines.items()},
        },
        "approval": approval(package),
        "promotion": promotion(package),
        "endpoint": dict(endpoint),
    }
