"""The registry verbs: `mlops registry list`, `mlops approve`, `mlops reject`.

They act on a model package group in the local registry that `mlops up --local` fills
(``--local``) or in SageMaker through boto3 (or an emulator, ``--endpoint-url``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mlops_components.cli.errors import error
from mlops_components.project import ProjectError, load_project
from mlops_components.sagemaker.packages import SageMakerRegistry
from mlops_components.validation import ValidationError


def sagemaker_registry(region: str | None = None,
                       endpoint_url: str | None = None) -> SageMakerRegistry:
    """A registry client from the caller's AWS credentials (or an emulator's endpoint)."""
    import boto3

    session = boto3.session.Session(region_name=region)
    return SageMakerRegistry(session.client("sagemaker", endpoint_url=endpoint_url),
                             session.client("s3", endpoint_url=endpoint_url))


def _registry(args: argparse.Namespace):
    """The registry to act on (local or SageMaker), how to read its documents, the group."""
    from mlops_components.config import parse_config
    from mlops_components.local.workdir import LocalWorkdir, default_workdir

    project = load_project(args.project_dir)
    group = args.group or parse_config(project.stack_config(args.stack),
                                       project=project.name).model_name
    if args.local:
        workdir = LocalWorkdir(Path(args.workdir or default_workdir(project.directory,
                                                                    args.stack)))
        return workdir.registry, workdir.s3.read_text, group, "local"
    registry = sagemaker_registry(args.region, args.endpoint_url)
    return registry, registry.read_text, group, args.endpoint_url or "SageMaker"


_REGISTRY_ERRORS: tuple[type[Exception], ...] = (ProjectError, ValidationError, LookupError)


def registry_list(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from mlops_components.sagemaker.packages import package_metrics

    try:
        registry, read_text, group, where = _registry(args)
        packages = registry.packages(group)
    except (*_REGISTRY_ERRORS, BotoCoreError, ClientError) as problem:
        return error(str(problem))
    table = Table(title=f"model packages in {group} ({where})")
    for column in ("version", "status", "metrics", "created", "model data"):
        table.add_column(column, overflow="fold")
    for package in packages:
        metrics = package_metrics(package, read_text)
        table.add_row(str(package["ModelPackageVersion"]), package["ModelApprovalStatus"],
                      ", ".join(f"{name}={value:.4f}" for name, value in metrics.items()),
                      package.get("CreationTime", ""), _model_data(package))
    Console().print(table)
    return 0


def _model_data(package: dict) -> str:
    containers = package.get("InferenceSpecification", {}).get("Containers", [])
    return containers[0].get("ModelDataUrl", "") if containers else ""


def set_status(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        registry, _, group, _ = _registry(args)
        package = registry.set_status(group, args.version, args.status, args.comment)
    except (*_REGISTRY_ERRORS, BotoCoreError, ClientError) as problem:
        return error(str(problem))
    Console().print(f"{package['ModelPackageArn']}: {package['ModelApprovalStatus']}",
                    highlight=False)
    return 0
