"""The registry verbs: `mlops registry list`, `mlops approve`, `mlops reject`.

They act on a model package group in the local registry that `mlops up --local` fills
(``--local``) or in SageMaker through boto3 (or an emulator, ``--endpoint-url``), in the
region given by ``--region`` or else the stack's ``aws:region``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from mlops_components.cli.arguments import where
from mlops_components.cli.errors import EXIT_OK, error
from mlops_components.cli.render import format_metrics
from mlops_components.enums import ApprovalStatus
from mlops_components.project import load_project
from mlops_components.sagemaker.packages import (
    ReadText,
    SageMakerRegistry,
    approval_description_problem,
)
from mlops_components.validation import REGION_RE, SAGEMAKER_NAME_RE

#: The stack config key that holds the AWS region (the Pulumi AWS provider's).
REGION_KEY = "aws:region"


def sagemaker_registry(region: str | None = None,
                       endpoint_url: str | None = None) -> SageMakerRegistry:
    """A registry client from the caller's AWS credentials (or an emulator's endpoint)."""
    import boto3

    session = boto3.session.Session(region_name=region)
    return SageMakerRegistry(session.client("sagemaker", endpoint_url=endpoint_url),
                             session.client("s3", endpoint_url=endpoint_url))


#: What to do when botocore finds no credentials (its own message names no way out).
NO_CREDENTIALS = ("no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and "
                  "AWS_SECRET_ACCESS_KEY) or run `aws configure`; for an emulator pass "
                  "--endpoint-url URL (with any credentials); or use --local for the local "
                  "registry")


def aws_problem(problem: Exception) -> str:
    """One line for an error of a boto3 call: the way out when there are no credentials."""
    from botocore.exceptions import NoCredentialsError

    return NO_CREDENTIALS if isinstance(problem, NoCredentialsError) else str(problem)


def missing_group(registry: Any, group: str) -> str | None:
    """Why a local registry has nothing to show for ``group`` (it has no such group), or
    None. `registry list` and `status` both refuse such a group with exit status 2."""
    groups = registry.groups()
    if group in groups:
        return None
    return (f"no packages in group {group} under {registry.root}; groups there: "
            f"{', '.join(groups) or 'none'}")


def missing_sagemaker_group(group: str, where: str) -> str:
    """Why SageMaker has nothing to show for ``group``: it holds no such group. `registry
    list` and `status` both refuse it with exit status 2, as they do locally."""
    return (f"no model package group {group!r} in {where} (has `pulumi up` created it? or "
            "pass --group)")


class ArgumentProblem(ValueError):
    """A registry flag its rule refuses (one line naming the flag)."""


@dataclass
class _Target:
    """The registry to act on, how to read its documents, the group, and where that is."""

    registry: Any
    read_text: ReadText
    group: str
    where: str
    workdir: Path | None = None


def _target(args: argparse.Namespace) -> _Target:
    from mlops_components.config import parse_config
    from mlops_components.local.workdir import LocalWorkdir, default_workdir

    project = load_project(args.project_dir)
    stack_config = project.stack_config(args.stack)
    if args.group is not None and not SAGEMAKER_NAME_RE.match(args.group):
        raise ArgumentProblem(f"--group {args.group!r}: must be 1-63 letters, digits and "
                              "hyphens (a model package group name)")
    group = args.group or parse_config(stack_config, project=project.name).model_name
    if args.local:
        workdir = Path(args.workdir or default_workdir(project.directory, args.stack))
        if not workdir.is_dir():
            flag = "--workdir" if args.workdir else f"the default workdir of stack {args.stack}"
            raise ArgumentProblem(f"{flag} {workdir}: no such folder ("
                                  f"{where(args).quoted('up')} creates it; pass --workdir to "
                                  "look elsewhere)")
        layout = LocalWorkdir(workdir)
        return _Target(layout.registry, layout.s3.read_text, group,
                       f"local registry {layout.registry.root}", workdir)
    region = args.region or stack_config.get(REGION_KEY)
    if region is not None and not REGION_RE.match(region):
        flag = "--region" if args.region else f"{REGION_KEY} of stack {args.stack}"
        raise ArgumentProblem(f"{flag} {region!r}: must be an AWS region such as 'eu-west-1'")
    if args.endpoint_url is not None and not args.endpoint_url.startswith(("http://",
                                                                           "https://")):
        raise ArgumentProblem(f"--endpoint-url {args.endpoint_url!r}: must be an http:// or "
                              "https:// URL")
    registry = sagemaker_registry(region, args.endpoint_url)
    return _Target(registry, registry.read_text, group,
                   f"{args.endpoint_url or 'SageMaker'} ({region or 'default region'})")


def registry_list(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from mlops_components.sagemaker.packages import package_metrics, package_training_data

    try:
        target = _target(args)
        if target.workdir is not None:
            missing = missing_group(target.registry, target.group)
            if missing:
                _print_unfinished_executions(Console(), target.workdir)
                return error(missing)
        elif not target.registry.has_group(target.group):
            return error(missing_sagemaker_group(target.group, target.where))
        packages = target.registry.packages(target.group)
    except ArgumentProblem as problem:
        return error(str(problem))
    except (BotoCoreError, ClientError) as problem:
        return error(aws_problem(problem))
    console = Console()
    if not packages:
        console.print(f"no packages in group {target.group} ({target.where})", highlight=False)
    else:
        table = Table(title=f"model packages in {target.group} ({target.where})")
        for column in ("version", "status", "metrics", "training data", "created",
                       "model data"):
            table.add_column(column, overflow="fold")
        for package in packages:
            metrics = package_metrics(package, target.read_text)
            table.add_row(str(package.get("ModelPackageVersion", "?")),
                          str(package.get("ModelApprovalStatus", "?")), format_metrics(metrics),
                          package_training_data(package) or "-",
                          str(package.get("CreationTime", "")), _model_data(package))
        console.print(table)
    if target.workdir is not None:
        _print_unfinished_executions(console, target.workdir)
    return EXIT_OK


def _print_unfinished_executions(console: Console, workdir: Path) -> None:
    """Executions that Ctrl-C or a kill cut short (they registered nothing)."""
    from mlops_components.local.executions import ExecutionStatus, executions
    from mlops_components.local.workdir import LocalWorkdir

    for record in executions(LocalWorkdir(workdir).jobs):
        if record.status in (ExecutionStatus.INTERRUPTED, ExecutionStatus.STOPPED):
            console.print(f"execution {record.execution_id} (started {record.started}): "
                          f"{record.status}" + (f", {record.detail}" if record.detail else ""),
                          highlight=False)


def _model_data(package: dict) -> str:
    containers = package.get("InferenceSpecification", {}).get("Containers", [])
    return containers[0].get("ModelDataUrl", "") if containers else ""


def set_status(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    problem = approval_description_problem(args.comment)
    if problem:
        return error(f"--comment: {problem} (shorten it)")
    try:
        target = _target(args)
        package = target.registry.set_status(target.group, args.version, args.status,
                                             args.comment)
    except ArgumentProblem as problem:
        return error(str(problem))
    except (BotoCoreError, ClientError) as problem:
        return error(aws_problem(problem))
    console = Console()
    console.print(f"{package['ModelPackageArn']}: {package['ModelApprovalStatus']}",
                  highlight=False)
    if target.workdir is not None and package["ModelApprovalStatus"] == \
            ApprovalStatus.APPROVED.value:
        serve = where(args, args.group).quoted("serve", version=package["ModelPackageVersion"])
        console.print(f"serve it here as the endpoint would: {serve}", highlight=False,
                      soft_wrap=True)
    return EXIT_OK
