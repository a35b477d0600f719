"""Model packages as both registries give them: DescribeModelPackage-shaped dicts.

The local registry (``local/registry.py``) and SageMaker (:class:`SageMakerRegistry`, over a
boto3 client the caller makes) answer the same questions the same way, so the CLI, the local
runtime and the serving code read packages with one set of functions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from mlops_components.enums import ApprovalStatus
from mlops_components.sagemaker.spec import TRAINING_DATA_METADATA
from training.lineage import short_digest

ReadText = Callable[[str], "str | None"]

#: UpdateModelPackage's limit on ApprovalDescription (SageMaker API reference).
MAX_APPROVAL_DESCRIPTION_LENGTH = 1024


class RegistryError(LookupError):
    """No such group or package in the local registry."""


def approval_description_problem(description: str) -> str | None:
    """Why SageMaker would refuse ``description`` as an ApprovalDescription, or None."""
    if len(description) > MAX_APPROVAL_DESCRIPTION_LENGTH:
        return (f"is {len(description)} characters; SageMaker's ApprovalDescription allows "
                f"at most {MAX_APPROVAL_DESCRIPTION_LENGTH}")
    return None


def select_version(packages: list[dict[str, Any]], group: str, version: int | None,
                   where: str = "") -> dict[str, Any]:
    """The package of ``version`` (the latest when None), or an error naming what exists."""
    if not packages:
        raise RegistryError(f"no model packages in group {group!r}{where}")
    if version is None:
        return packages[-1]
    for package in packages:
        if package.get("ModelPackageVersion") == version:
            return package
    known = ", ".join(str(p.get("ModelPackageVersion")) for p in packages)
    raise RegistryError(f"group {group!r} has no version {version} (versions: {known})")


def package_metrics(package: dict[str, Any], read_text: ReadText) -> dict[str, float]:
    """The metric values of a registered package (its ModelQuality statistics document)."""
    uri = package.get("ModelMetrics", {}).get("ModelQuality", {}).get(
        "Statistics", {}).get("S3Uri")
    text = read_text(uri) if uri else None
    if not text:
        return {}
    document = json.loads(text)
    return {name: metric["value"] for section in document.values() if isinstance(section, dict)
            for name, metric in section.items() if isinstance(metric, dict) and "value" in metric}


def package_training_data(package: dict[str, Any]) -> str:
    """The short fingerprint of the data a package was trained on ("" when not recorded)."""
    return short_digest(package.get("CustomerMetadataProperties", {}).get(
        TRAINING_DATA_METADATA, ""))


class SageMakerRegistry:
    """A model package group in SageMaker: list, describe, approve, reject."""

    def __init__(self, sagemaker: Any, s3: Any):
        self.sagemaker = sagemaker
        self.s3 = s3

    def has_group(self, group: str) -> bool:
        """Whether SageMaker holds the group (ListModelPackages answers an unknown group with
        an empty list, so only DescribeModelPackageGroup tells the two apart)."""
        try:
            self.sagemaker.describe_model_package_group(ModelPackageGroupName=group)
        except self.sagemaker.exceptions.ClientError as problem:
            if "does not exist" not in str(problem) and "Could not find" not in str(problem):
                raise
            return False
        return True

    def packages(self, group: str) -> list[dict[str, Any]]:
        """Every package of the group, oldest first, described in full."""
        summaries: list[dict[str, Any]] = []
        paginator = self.sagemaker.get_paginator("list_model_packages")
        try:
            for page in paginator.paginate(ModelPackageGroupName=group, SortBy="CreationTime",
                                           SortOrder="Ascending"):
                summaries += page["ModelPackageSummaryList"]
        except self.sagemaker.exceptions.ResourceNotFound as error:
            raise RegistryError(f"no model package group {group!r}") from error
        packages = [self.sagemaker.describe_model_package(
            ModelPackageName=summary["ModelPackageArn"]) for summary in summaries]
        for package in packages:
            package["CreationTime"] = str(package.get("CreationTime", ""))
        return sorted(packages, key=lambda p: p.get("ModelPackageVersion", 0))

    def get(self, group: str, version: int | None = None) -> dict[str, Any]:
        return select_version(self.packages(group), group, version)

    def set_status(self, group: str, version: int | None, status: ApprovalStatus,
                   description: str = "") -> dict[str, Any]:
        """UpdateModelPackage: the approval event (and any deployment) follows from it."""
        package = self.get(group, version)
        self.sagemaker.update_model_package(
            ModelPackageArn=package["ModelPackageArn"],
            ModelApprovalStatus=ApprovalStatus(status).value,
            ApprovalDescription=description)
        return {**package, "ModelApprovalStatus": ApprovalStatus(status).value,
                "ApprovalDescription": description}

    def register(self, request: dict[str, Any]) -> dict[str, Any]:
        """CreateModelPackage, then the package as DescribeModelPackage gives it."""
        arn = self.sagemaker.create_model_package(**request)["ModelPackageArn"]
        package = self.sagemaker.describe_model_package(ModelPackageName=arn)
        package["CreationTime"] = str(package.get("CreationTime", ""))
        return package

    def read_text(self, uri: str) -> str | None:
        match = re.match(r"^s3://([^/]+)/(.+)$", uri)
        if not match:
            return None
        try:
            body = self.s3.get_object(Bucket=match.group(1), Key=match.group(2))["Body"]
        except self.s3.exceptions.ClientError:
            return None
        return body.read().decode()
