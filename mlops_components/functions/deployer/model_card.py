"""A SageMaker Model Card per approved package (stack config ``modelCard: true``).

On an approval event the deployer writes ``<group>-v<version>``'s card from the package's
record: the model overview (package ARN, group, version, problem type, artifact, image), the
intended uses (the stack's text, else a placeholder that says to write them), the training
details (training data fingerprint, code location, EDA report, drift baselines), the
evaluation (the test-split metrics of the package's ModelQuality statistics) and the approval
(who, why, when) plus a promotion, when the package records one, as custom details.

Events arrive several times and Lambda retries: DescribeModelCard first; a card that does not
exist is created, one whose content differs is updated (a new card version), an identical one
is left alone, an Archived one (SageMaker refuses updates) is left alone and logged. A create
that loses a race with a duplicate event becomes an update. Content follows AWS's model card
JSON schema (``tests/fixtures/schemas/sagemaker-model-card.schema.json`` checks it).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from .calls import exists_already, not_found
from .config import MODEL_CARD_TEXT_LIMIT, NAME_LIMIT, Config

logger = logging.getLogger(__name__)

ARCHIVED = "Archived"
CARD_STATUS = "Draft"
"""Status of a card the deployer writes: its intended uses and risk need a human's review."""
INTENDED_USES_PLACEHOLDER = ("Not documented yet: set mlops:modelCardIntendedUses in the "
                             "stack config (what the model is for, and what it is not for).")
RISK_RATING = "Unknown"
TEXT_LIMIT = 1024
"""The schema's maxLength of most text fields (custom details, observations, IDs)."""
METRICS_LIMIT = 50
# CustomerMetadataProperties keys written at registration and by `mlops promote` (the Lambda
# imports nothing of the SDK: mlops_components.sagemaker.spec defines the same names).
_METADATA = {
    "training_data": "mlops:training-data",
    "code_uri": "mlops:code-uri",
    "eda_report": "mlops:eda-report-uri",
    "problem_type": "mlops:problem-type",
    "target_column": "mlops:target-column",
    "gate_metric": "mlops:gate-metric",
    "promoted_from": "mlops:promoted-from",
    "promoted_by": "mlops:promoted-by",
    "promoted_at": "mlops:promoted-at",
    "promotion_reason": "mlops:promotion-reason",
}


def card_name(group: str, version: int) -> str:
    """``<group>-v<version>``; a group too long for 63 characters keeps its start and a hash
    of the whole name (two long groups never share a card)."""
    suffix = f"-v{version}"
    name = f"{group}{suffix}"
    if len(name) <= NAME_LIMIT:
        return name
    digest = hashlib.sha256(group.encode()).hexdigest()[:8]
    return f"{group[:NAME_LIMIT - len(suffix) - len(digest) - 1].rstrip('-')}-{digest}{suffix}"


_VERSION_ROOM = len("-v999999")
_HASH_ROOM = len("-0123abcd")


def card_name_prefix(group: str) -> str:
    """What every card name of the group starts with, for versions below a million."""
    return group[:NAME_LIMIT - _VERSION_ROOM - _HASH_ROOM].rstrip("-")


def card_name_pattern(group: str) -> str:
    """The role's resource pattern of the group's cards: ``<group>-v*`` (no other group's
    cards match), or a long group's prefix ``*``."""
    if len(group) + _VERSION_ROOM <= NAME_LIMIT:
        return f"{group}-v*"
    return f"{card_name_prefix(group)}*"


def card_content(package: Mapping[str, Any], metrics: Mapping[str, float],
                 intended_uses: str = "") -> dict[str, Any]:
    """The card's content (model card JSON schema) from a DescribeModelPackage answer and
    the metric values of its ModelQuality statistics."""
    metadata = package.get("CustomerMetadataProperties") or {}
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or [{}]
    quality = ((package.get("ModelMetrics") or {}).get("ModelQuality") or {}).get(
        "Statistics") or {}
    baselines = (package.get("DriftCheckBaselines") or {}).get("ModelDataQuality") or {}
    group = str(package.get("ModelPackageGroupName", ""))
    version = int(package.get("ModelPackageVersion") or 1)
    gate = metadata.get(_METADATA["gate_metric"], "")
    overview = {
        "model_id": _text(package.get("ModelPackageArn", "")),
        "model_name": _text(group),
        "model_version": version,
        "model_description": _text(f"Model package {group} version {version}, registered by "
                                   "the training pipeline and approved for deployment."),
        "model_artifact": [_text(c["ModelDataUrl"]) for c in containers
                           if c.get("ModelDataUrl")][:15],
        "inference_environment": {"container_image": [
            _text(c["Image"]) for c in containers if c.get("Image")][:15]},
    }
    if metadata.get(_METADATA["problem_type"]):
        overview["problem_type"] = metadata[_METADATA["problem_type"]]
    observations = "; ".join(f"{label} {metadata[key]}" for label, key in (
        ("training data fingerprint", _METADATA["training_data"]),
        ("code", _METADATA["code_uri"]),
        ("target column", _METADATA["target_column"]),
        ("EDA report", _METADATA["eda_report"])) if metadata.get(key))
    content: dict[str, Any] = {
        "model_overview": overview,
        "intended_uses": {"intended_uses": _text(intended_uses or INTENDED_USES_PLACEHOLDER,
                                                 MODEL_CARD_TEXT_LIMIT),
                          "risk_rating": RISK_RATING},
        "training_details": {
            "training_observations": _text(observations or "not recorded"),
            "training_job_details": {"training_datasets": [
                _text(source["S3Uri"]) for source in baselines.values()
                if isinstance(source, Mapping) and source.get("S3Uri")][:15]},
        },
        "evaluation_details": [{
            "name": "test split",
            "evaluation_observation": _text(
                f"Quality gate on {gate or 'the gate metric'}: the package was registered, so "
                "it met the threshold and beat the trivial baseline and the champion.", 2096),
            "datasets": [_text(quality["S3Uri"])] if quality.get("S3Uri") else [],
            "metric_groups": [{"name": "test metrics", "metric_data": [
                {"name": name[:255], "type": "number", "value": float(value)}
                for name, value in sorted(metrics.items())
                if isinstance(value, (int, float)) and not isinstance(value, bool)
            ][:METRICS_LIMIT]}],
        }],
        "additional_information": {"custom_details": _custom_details(package, metadata)},
    }
    return content


def _custom_details(package: Mapping[str, Any], metadata: Mapping[str, str]) -> dict[str, str]:
    modified_by = package.get("LastModifiedBy") or {}
    details = {
        "approval_status": package.get("ModelApprovalStatus", ""),
        "approved_by": modified_by.get("UserProfileName")
        or (modified_by.get("IamIdentity") or {}).get("Arn", ""),
        "approval_description": package.get("ApprovalDescription", ""),
        "approved_at": str(package.get("LastModifiedTime") or ""),
        **{name: metadata.get(_METADATA[name], "") for name in
           ("promoted_from", "promoted_by", "promoted_at", "promotion_reason")},
    }
    return {name: _text(str(value)) for name, value in details.items() if value}


def _text(value: str, limit: int = TEXT_LIMIT) -> str:
    return value if len(value) <= limit else value[:limit - 1] + "…"


def package_metrics(package: Mapping[str, Any], s3: Any) -> dict[str, float]:
    """Metric values of the package's ModelQuality statistics (evaluation.json): every
    ``{"value": x}`` of its sections; none when it cannot be read (the card still says the
    rest)."""
    uri = (((package.get("ModelMetrics") or {}).get("ModelQuality") or {}).get(
        "Statistics") or {}).get("S3Uri", "")
    if not uri.startswith("s3://"):
        return {}
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    try:
        document = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except (ClientError, ValueError) as error:
        logger.warning("model card: cannot read the metrics at %s: %s", uri, error)
        return {}
    return {name: metric["value"] for section in document.values() if isinstance(section, dict)
            for name, metric in section.items()
            if isinstance(metric, dict) and isinstance(metric.get("value"), (int, float))}


def write_model_card(sm: Any, s3: Any, package_arn: str, config: Config) -> str:
    """Create or update the package's card; return what was done (``created``, ``updated``,
    ``unchanged`` or ``archived``)."""
    package = sm.describe_model_package(ModelPackageName=package_arn)
    name = card_name(package["ModelPackageGroupName"], int(package["ModelPackageVersion"]))
    content = json.dumps(card_content(package, package_metrics(package, s3),
                                      config.model_card_intended_uses), sort_keys=True)
    try:
        current = sm.describe_model_card(ModelCardName=name)
    except ClientError as error:
        if not not_found(error):
            raise
        current = None
    if current is None:
        try:
            tags = [{"Key": key, "Value": value} for key, value in sorted(config.tags.items())]
            sm.create_model_card(ModelCardName=name, Content=content,
                                 ModelCardStatus=CARD_STATUS, **({"Tags": tags} if tags else {}))
            return "created"
        except ClientError as error:
            if not exists_already(error) and error.response.get("Error", {}).get(
                    "Code") != "ConflictException":
                raise
            current = sm.describe_model_card(ModelCardName=name)  # a duplicate event won
    if current.get("ModelCardStatus") == ARCHIVED:
        logger.warning("model card %s is Archived: SageMaker refuses updates; left as it is",
                       name)
        return "archived"
    if _same(current.get("Content", ""), content):
        return "unchanged"
    sm.update_model_card(ModelCardName=name, Content=content)
    return "updated"


def _same(stored: str, content: str) -> bool:
    try:
        return json.loads(stored) == json.loads(content)
    except ValueError:
        return False
