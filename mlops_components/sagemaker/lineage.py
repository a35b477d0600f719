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

A promoted package carries its own lineage (the target stage may be another account, unable
to read the source's registry, pipeline or bucket): `mlops promote` writes the source's
lineage manifest, extended with the execution, its steps and the chain of earlier packages
(:func:`carried_manifest`), into the target's bucket, and the promoted package's
``mlops:lineage-uri`` names that copy. A reader that finds a carried manifest reads the
execution and its steps from it, not from SageMaker (:func:`carried`).

Pure functions over DescribeModelPackage-shaped dicts: no boto3 and no files here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from mlops_components.bucket_layout import PREFIXES
from mlops_components.enums import ApprovalStatus
from mlops_components.sagemaker.promotion import PROMOTED_FOLDER
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
#: A promoted package's artifacts: ``models/promoted/<source group>/<source version>/`` then
#: the source's own key (itself promoted, when the source was).
_PROMOTED_RE = re.compile(
    rf"^{re.escape(PREFIXES['models'])}{re.escape(PROMOTED_FOLDER)}/[^/]+/\d+/")

#: Keys `mlops promote` adds to the lineage manifest it copies into the target's bucket.
CARRIED_EXECUTION = "execution"
"""The source execution: ``{"arn", "id", "pipeline", "status", "started"}`` (``"note"``
says why a part is unknown)."""
CARRIED_STEPS = "steps"
"""Its steps, as ListPipelineExecutionSteps answered them."""
CARRIED_PACKAGES = "packages"
"""The packages earlier in the chain, oldest first: ``{"arn", "group", "version",
"created", "approval", "promotion"}`` (each as :func:`approval` and :func:`promotion`)."""
CARRIED_VERSION_IDS = "version_ids"
"""How the data objects' versions were found (:data:`RECORDED`, :data:`RESOLVED`, ...)."""
CARRIED_FROM = "copied_from"
"""The manifest this copy was made from (in the source stage's bucket)."""

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

    A promoted package's model lives under ``models/promoted/<group>/<version>/`` in the
    target's bucket, then the source's own key: the pipeline and execution are the source's,
    in the source's account, so the ARN is left empty (``"promoted": "yes"``) rather than
    guessed from the promoted package's account.
    """
    generated_by = str(package.get("MetadataProperties", {}).get("GeneratedBy", ""))
    match = _EXECUTION_ARN_RE.match(generated_by)
    if match:
        return {"pipeline": match.group(3), "execution_id": match.group(4),
                "arn": generated_by}
    url = model_data_url(package)
    key = url.removeprefix("s3://").partition("/")[2] if url.startswith("s3://") else ""
    promoted = False
    while _PROMOTED_RE.match(key):
        key, promoted = _PROMOTED_RE.sub("", key, count=1), True
    match = re.match(rf"^{re.escape(PREFIXES['models'])}([^/]+)/([^/]+)/", key)
    if not match:
        return None
    pipeline, execution_id = match.groups()
    if promoted:
        return {"pipeline": pipeline, "execution_id": execution_id, "arn": "",
                "promoted": "yes"}
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


def package_entry(package: Mapping[str, Any]) -> dict[str, Any]:
    """One package of a promotion chain, as a carried manifest keeps it."""
    return {"arn": package.get("ModelPackageArn", ""),
            "group": package.get("ModelPackageGroupName", ""),
            "version": package.get("ModelPackageVersion"),
            "created": str(package.get("CreationTime", "")),
            "approval": approval(package), "promotion": promotion(package)}


def carried(manifest: Mapping[str, Any] | None) -> bool:
    """Whether ``manifest`` is a copy `mlops promote` made (it carries the execution)."""
    return isinstance(manifest, Mapping) and isinstance(manifest.get(CARRIED_PACKAGES), list)


def carried_manifest(source: Mapping[str, Any], manifest: Mapping[str, Any] | None, *,
                     manifest_uri: str, execution: Mapping[str, Any],
                     steps: list[Mapping[str, Any]], data: Mapping[str, Any]
                     ) -> dict[str, Any]:
    """The lineage manifest a promotion of ``source`` writes into the target's bucket.

    ``manifest`` is the source's own (what RecordLineage wrote, or the copy an earlier
    promotion wrote: then its execution, steps and earlier packages are kept as they are);
    ``execution``, ``steps`` and ``data`` are what the source stage knows of an execution
    that ran there (``data``: ``input_uri``, ``objects``, ``version_ids``). Every key of the
    source's manifest is kept; the source package is appended to the chain.
    """
    copied = dict(manifest or {})
    if not carried(manifest):
        copied.update({
            "input_uri": copied.get("input_uri") or data.get("input_uri", ""),
            "objects": [dict(item) for item in (data.get("objects") or
                                                copied.get("objects") or [])],
            CARRIED_VERSION_IDS: data.get("version_ids", ""),
            CARRIED_EXECUTION: dict(execution), CARRIED_STEPS: [dict(s) for s in steps],
            CARRIED_PACKAGES: []})
    copied[CARRIED_PACKAGES] = [*copied[CARRIED_PACKAGES], package_entry(source)]
    copied[CARRIED_FROM] = manifest_uri
    return copied


def carried_facts(manifest: Mapping[str, Any], manifest_uri: str) -> dict[str, Any]:
    """``execution``, ``steps``, ``data`` and ``earlier`` (packages) from a carried manifest
    (``manifest_uri``: where this copy is)."""
    execution = dict(manifest.get(CARRIED_EXECUTION) or {})
    if execution and not execution.get("status"):
        execution.setdefault("note", "its status was not known when it was promoted")
    return {"execution": execution,
            "steps": [dict(step) for step in manifest.get(CARRIED_STEPS) or []],
            "data": {"input_uri": manifest.get("input_uri", ""),
                     "objects": [dict(item) for item in manifest.get("objects") or []],
                     "version_ids": manifest.get(CARRIED_VERSION_IDS, ""), "recorded": True,
                     "manifest_uri": manifest_uri, "carried": True,
                     "copied_from": manifest.get(CARRIED_FROM, "")},
            "earlier": [dict(entry) for entry in manifest.get(CARRIED_PACKAGES) or []]}


#: Why a package promoted without its lineage shows only part of it.
PROMOTED_WITHOUT_LINEAGE = (
    "ran in the source stage; this package was promoted without its lineage, so the "
    "execution's ARN, status, jobs and data are known only there: run `mlops lineage` "
    "against the package it was promoted from")


def promoted_execution(reference: Mapping[str, str]) -> dict[str, Any]:
    """The execution of a package promoted without its lineage (by an older `mlops promote`):
    its pipeline and ID are in the model's location, the rest only in the source stage."""
    return {"arn": "", "id": reference["execution_id"], "pipeline": reference["pipeline"],
            "note": PROMOTED_WITHOUT_LINEAGE}


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
                 endpoint: Mapping[str, Any],
                 earlier: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The lineage record of ``package`` (JSON-ready; ``mlops lineage --json`` prints it);
    ``earlier``: the packages a promoted one descends from, oldest first."""
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
        "earlier_packages": [dict(entry) for entry in earlier],
        "endpoint": dict(endpoint),
    }
