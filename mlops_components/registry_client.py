"""The model registry verbs against SageMaker (or an emulator), shaped like the local registry.

`mlops registry list`, `mlops approve` and `mlops reject` act on a model package group either
in the local registry that `mlops up --local` fills or in SageMaker through boto3. Both give
packages as DescribeModelPackage-shaped dicts, so the CLI renders them the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from mlops_components.enums import ApprovalStatus
from mlops_components.local.registry import RegistryError, select_version

ReadText = Callable[[str], "str | None"]


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


class SageMakerRegistry:
    """A model package group in SageMaker: list, describe, approve, reject."""

    def __init__(self, sagemaker: Any, s3: Any):
        self.sagemaker = sagemaker
        self.s3 = s3

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

    def read_text(self, uri: str) -> str | None:
        match = re.match(r"^s3://([^/]+)/(.+)$", uri)
        if not match:
            return None
        try:
            body = self.s3.get_object(Bucket=match.group(1), Key=match.group(2))["Body"]
        except self.s3.exceptions.ClientError:
            return None
        return body.read().decode()


def sagemaker_registry(region: str | None = None,
                       endpoint_url: str | None = None) -> SageMakerRegistry:
    """A registry client from the caller's AWS credentials (or an emulator's endpoint)."""
    import boto3

    session = boto3.session.Session(region_name=region)
    return SageMakerRegistry(session.client("sagemaker", endpoint_url=endpoint_url),
                             session.client("s3", endpoint_url=endpoint_url))
