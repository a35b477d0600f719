"""Promotion: an approved package of one stage re-registered in the next stage's group.

No Pulumi and no boto3 here: what `mlops promote` sends (the CreateModelPackage request), where
the artifacts it copies go, and the checks it makes before anything is created, for the local
registry and SageMaker alike (both answer DescribeModelPackage-shaped dicts,
:mod:`~mlops_components.sagemaker.packages`).

The promoted package owns its artifacts: every ``s3://`` URI its inference specification,
model metrics and drift baselines name is copied into the target stage's bucket under
``models/promoted/<source group>/<source version>/`` and the request names the copies. So
the target stage's deployer, endpoint and monitor read only their own bucket (their roles
allow nothing else), and destroying the source stage (dev's bucket is force-destroyed)
leaves the promoted model intact. CustomerMetadataProperties keep pointing where they did
(the EDA report, the code): they are provenance, not inputs; but for ``mlops:lineage-uri``,
which names the lineage the promotion writes beside the artifacts
(:func:`lineage_copy_uri`; :mod:`~mlops_components.sagemaker.lineage` says what it holds),
so the target stage reads the package's whole lineage from its own bucket.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mlops_components.bucket_layout import PREFIXES
from mlops_components.enums import ApprovalStatus
from mlops_components.sagemaker.spec import (
    LINEAGE_METADATA,
    PROMOTED_AT_METADATA,
    PROMOTED_BY_METADATA,
    PROMOTED_FROM_METADATA,
    PROMOTION_REASON_METADATA,
)

#: The promotion facts every promoted package carries (the reason only when one was given).
PROMOTION_METADATA: tuple[str, ...] = (PROMOTED_FROM_METADATA, PROMOTED_BY_METADATA,
                                       PROMOTED_AT_METADATA, PROMOTION_REASON_METADATA)

#: DescribeModelPackage fields a promoted package carries into CreateModelPackage unchanged
#: (but for their ``s3://`` URIs, which name the copies). Each is a member of both shapes
#: (tests/integration/test_promote.py checks it against botocore's model).
CARRIED_FIELDS: tuple[str, ...] = (
    "InferenceSpecification",
    "ModelMetrics",
    "DriftCheckBaselines",
    "AdditionalInferenceSpecifications",
    "CustomerMetadataProperties",
    "MetadataProperties",
    "ModelPackageDescription",
    "Domain",
    "Task",
    "SamplePayloadUrl",
)
#: The carried fields whose ``s3://`` URIs are the model's artifacts (copied to the target).
ARTIFACT_FIELDS: tuple[str, ...] = ("InferenceSpecification", "ModelMetrics",
                                    "DriftCheckBaselines", "AdditionalInferenceSpecifications",
                                    "SamplePayloadUrl")
#: Output-only facts of the source's artifacts that a copy does not keep (an SSE-KMS copy has
#: another ETag; SageMaker computes the digest of the image it resolves).
DROPPED_CONTAINER_FIELDS: tuple[str, ...] = ("ModelDataETag", "ImageDigest")

#: Folder (under the target bucket's models/ prefix) of every promoted package's artifacts.
PROMOTED_FOLDER = "promoted"

#: CustomerMetadataProperties limits (botocore's sagemaker model: CustomerMetadataMap).
MAX_METADATA_ENTRIES = 50
MAX_METADATA_VALUE_LENGTH = 256
#: Characters a metadata value may hold beyond letters, digits and spaces
#: (``[\p{L}\p{Z}\p{N}_.:/=+\-@]*``).
METADATA_VALUE_PUNCTUATION = "_.:/=+-@"


class PromotionError(ValueError):
    """A promotion refused before anything was created (one line naming why)."""


def metadata_value_problem(value: str) -> str | None:
    """Why SageMaker would refuse ``value`` as a CustomerMetadataProperties value, or None."""
    if not value:
        return "is empty"
    if len(value) > MAX_METADATA_VALUE_LENGTH:
        return (f"is {len(value)} characters; SageMaker's CustomerMetadataProperties values "
                f"allow at most {MAX_METADATA_VALUE_LENGTH}")
    refused = sorted({c for c in value if not _metadata_character(c)})
    if refused:
        return (f"has characters SageMaker's CustomerMetadataProperties values refuse: "
                f"{' '.join(repr(c) for c in refused)} (allowed: letters, digits, spaces and "
                f"{METADATA_VALUE_PUNCTUATION})")
    return None


def metadata_safe(value: str) -> str:
    """``value`` made acceptable as a metadata value: each refused character becomes ``_``,
    and it is cut to the length limit (for facts we do not choose, such as a caller ARN)."""
    safe = "".join(c if _metadata_character(c) else "_" for c in value)
    return safe[:MAX_METADATA_VALUE_LENGTH] or "_"


def _metadata_character(character: str) -> bool:
    return (unicodedata.category(character)[0] in "LZN"
            or character in METADATA_VALUE_PUNCTUATION)


def reason_problem(comment: str) -> str | None:
    """Why ``--comment`` cannot be the promotion reason as written, or None."""
    if not comment:
        return None
    return metadata_value_problem(comment)


@dataclass(frozen=True)
class Promotion:
    """Who promotes what to which group, and when."""

    source: dict[str, Any]
    """The source package, as DescribeModelPackage answers it."""
    target_group: str
    """The next stage's model package group."""
    target_bucket: str
    """The next stage's bucket: the artifacts are copied there."""
    approval_status: ApprovalStatus
    """The target stage's approval status for new packages."""
    promoted_by: str
    """Who promotes (an STS caller ARN, or the OS user)."""
    promoted_at: str
    """When (ISO-8601, UTC)."""
    reason: str = ""
    """Why (the comment); empty records no reason."""


def check_source(package: dict[str, Any], group: str) -> None:
    """Refuse a source package that is not approved (or not fully created)."""
    version = package.get("ModelPackageVersion")
    status = package.get("ModelApprovalStatus")
    if status != ApprovalStatus.APPROVED.value:
        raise PromotionError(f"version {version} of group {group!r} is {status}: only an "
                             "Approved package is promoted (approve it in its own stage first)")
    creation = package.get("ModelPackageStatus")
    if creation not in (None, "Completed"):
        raise PromotionError(f"version {version} of group {group!r} is {creation}, not "
                             "Completed: wait until SageMaker has finished creating it")


def earlier_promotion(packages: Iterable[dict[str, Any]],
                      source_arn: str) -> dict[str, Any] | None:
    """The package of the target group already promoted from ``source_arn``, or None."""
    for package in packages:
        if (package.get("CustomerMetadataProperties") or {}).get(
                PROMOTED_FROM_METADATA) == source_arn:
            return package
    return None


def client_token(source_arn: str, target_group: str) -> str:
    """CreateModelPackage's idempotency token: one per (source package, target group), so two
    promotions racing each other create one package."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source_arn}#{target_group}"))


def promoted_key(source_group: str, source_version: int, source_key: str) -> str:
    """Where an artifact of the source package is copied in the target bucket."""
    return (f"{PREFIXES['models']}{PROMOTED_FOLDER}/{source_group}/{source_version}/"
            f"{source_key.lstrip('/')}")


def artifact_uris(package: dict[str, Any]) -> list[str]:
    """Every ``s3://`` URI of the package's artifacts, each once, in order of appearance."""
    found: list[str] = []
    for name in ARTIFACT_FIELDS:
        _walk(package.get(name), lambda uri: found.append(uri) if uri not in found else None)
    return found


def _walk(value: Any, visit: Callable[[str], Any]) -> Any:
    """``value`` with each ``s3://`` string replaced by ``visit(string)`` (when not None)."""
    if isinstance(value, str):
        if value.startswith("s3://"):
            replaced = visit(value)
            return value if replaced is None else replaced
        return value
    if isinstance(value, dict):
        return {key: _walk(item, visit) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, visit) for item in value]
    return value


_S3_URI = re.compile(r"^s3://([^/]+)/(.*)$")


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` as (bucket, key)."""
    match = _S3_URI.match(uri)
    if not match:
        raise PromotionError(f"artifact {uri!r}: not an s3://bucket/key URI")
    return match.group(1), match.group(2)


def copies(promotion: Promotion) -> dict[str, str]:
    """Source artifact URI -> the URI of its copy in the target bucket."""
    group = promotion.source["ModelPackageGroupName"]
    version = promotion.source["ModelPackageVersion"]
    return {uri: f"s3://{promotion.target_bucket}/"
                 f"{promoted_key(group, version, split_uri(uri)[1])}"
            for uri in artifact_uris(promotion.source)}


#: The lineage a promotion writes, under the promoted package's artifacts folder.
LINEAGE_COPY = "lineage.json"


def lineage_copy_uri(promotion: Promotion) -> str:
    """Where the promotion writes the package's lineage in the target bucket (the promoted
    package's ``mlops:lineage-uri``)."""
    key = promoted_key(promotion.source["ModelPackageGroupName"],
                       promotion.source["ModelPackageVersion"], LINEAGE_COPY)
    return f"s3://{promotion.target_bucket}/{key}"


def promotion_request(promotion: Promotion) -> dict[str, Any]:
    """The CreateModelPackage request: the source's specification, metrics, baselines and
    metadata, its artifacts named by their copies, the promotion facts and the target
    stage's approval status."""
    source = promotion.source
    renamed = copies(promotion)
    request: dict[str, Any] = {}
    for name in CARRIED_FIELDS:
        if source.get(name) in (None, "", {}, []):
            continue
        value = source[name]
        if name in ARTIFACT_FIELDS:
            value = _walk(value, renamed.get)
        request[name] = value
    for container in request.get("InferenceSpecification", {}).get("Containers", []):
        for name in DROPPED_CONTAINER_FIELDS:
            container.pop(name, None)
    metadata = {key: value for key, value in
                (source.get("CustomerMetadataProperties") or {}).items()
                if key not in PROMOTION_METADATA}
    metadata.update({
        PROMOTED_FROM_METADATA: source["ModelPackageArn"],
        PROMOTED_BY_METADATA: metadata_safe(promotion.promoted_by),
        PROMOTED_AT_METADATA: promotion.promoted_at,
        LINEAGE_METADATA: lineage_copy_uri(promotion),
    })
    if promotion.reason:
        problem = reason_problem(promotion.reason)
        if problem:
            raise PromotionError(f"--comment {problem}")
        metadata[PROMOTION_REASON_METADATA] = promotion.reason
    if len(metadata) > MAX_METADATA_ENTRIES:
        raise PromotionError(
            f"version {source['ModelPackageVersion']} carries {len(metadata)} metadata "
            f"entries with the promotion's; SageMaker allows at most {MAX_METADATA_ENTRIES}")
    for key, value in metadata.items():
        problem = metadata_value_problem(str(value))
        if problem:
            raise PromotionError(f"metadata {key!r} {problem}")
    request.update({
        "ModelPackageGroupName": promotion.target_group,
        "ModelApprovalStatus": ApprovalStatus(promotion.approval_status).value,
        "CustomerMetadataProperties": metadata,
    })
    return request
