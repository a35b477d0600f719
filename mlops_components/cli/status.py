"""`mlops status`: versions, approval states, what is live, the endpoint and its alarms.

Against SageMaker (your AWS credentials, or an emulator with ``--endpoint-url``) the live
package is the one the deployer tagged on the endpoint; with ``--local`` it is the latest
approved package of the local registry (what `mlops serve` serves).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from mlops_components.cli.arguments import add_registry_arguments, where
from mlops_components.cli.errors import error
from mlops_components.cli.registry import (
    REGION_KEY,
    aws_problem,
    missing_group,
    missing_sagemaker_group,
)
from mlops_components.enums import ApprovalStatus
from mlops_components.local.commands import Where
from mlops_components.project import ProjectError, load_project
from mlops_components.sagemaker.endpoint import endpoint_name as stack_endpoint_name
from mlops_components.sagemaker.packages import RegistryError, package_training_data
from mlops_components.validation import ValidationError


def add_status_parser(commands: argparse._SubParsersAction) -> None:
    """Register `mlops status` (called by cli/main.py)."""
    status = commands.add_parser(
        "status", help="model versions, approvals, the live package, the endpoint and alarms")
    add_registry_arguments(status)
    status.add_argument("--version", type=int,
                        help="show this package's record: data, execution, jobs, metrics, "
                             "reports, approval, endpoint")
    status.add_argument("--json", action="store_true",
                        help="with --version: print the record as JSON")
    status.set_defaults(handler=status_command)


def status_command(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from mlops_components.config import parse_config

    if args.version is not None:
        return _package_record(args)
    try:
        project = load_project(args.project_dir)
        stack_config = project.stack_config(args.stack)
        config = parse_config(stack_config, project=project.name)
        group = args.group or config.model_name
        endpoint_name = stack_endpoint_name(config.model_name)  # as MlopsStack names it
        if args.local:
            report = _local_status(Path(args.workdir) if args.workdir else None, project,
                                   args.stack, group, where(args, args.group))
        else:
            # As the registry verbs: --region, else the stack's aws:region.
            region = args.region or stack_config.get(REGION_KEY)
            report = _aws_status(region, args.endpoint_url, group, endpoint_name)
    except (ProjectError, ValidationError, RegistryError) as problem:
        return error(str(problem))
    except (BotoCoreError, ClientError) as problem:
        return error(aws_problem(problem))
    _render(Console(), report)
    return 0


def _local_status(workdir: Path | None, project: Any, stack: str, group: str,
                  here: Where) -> dict[str, Any]:
    from mlops_components.local.workdir import LocalWorkdir, default_workdir

    registry = LocalWorkdir(workdir or default_workdir(project.directory, stack)).registry
    missing = missing_group(registry, group)
    if missing:  # as `registry list --local`: exit status 2, the groups that exist named
        raise RegistryError(missing)
    packages = registry.packages(group)
    live = registry.latest_approved(group) if packages else None
    return {"where": f"local ({registry.root})", "group": group, "packages": packages,
            "live_version": live["ModelPackageVersion"] if live else None,
            "endpoint": (f"local: {here.quoted('serve')} serves version "
                         f"{live['ModelPackageVersion']}" if live
                         else "local: no approved version to serve"),
            "alarms": []}


def _aws_status(region: str | None, endpoint_url: str | None, group: str,
                endpoint_name: str) -> dict[str, Any]:
    import boto3

    from mlops_components.cli.registry import sagemaker_registry
    from mlops_components.components.model_endpoint import endpoint_alarm_names
    from mlops_components.functions.deployer.config import TAG_PACKAGE_ARN, TAG_PACKAGE_VERSION

    session = boto3.session.Session(region_name=region)
    sagemaker = session.client("sagemaker", endpoint_url=endpoint_url)
    registry = sagemaker_registry(region, endpoint_url)
    if not registry.has_group(group):  # as `registry list`
        raise RegistryError(missing_sagemaker_group(group, endpoint_url or "SageMaker"))
    packages = registry.packages(group)
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except sagemaker.exceptions.ClientError as problem:
        if "Could not find" not in str(problem) and "does not exist" not in str(problem):
            raise
        endpoint = None
    live_version = None
    if endpoint is None:
        line = f"{endpoint_name}: not created yet (the deployer creates it on the first approval)"
    else:
        tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(
            ResourceArn=endpoint["EndpointArn"]).get("Tags", [])}
        version = tags.get(TAG_PACKAGE_VERSION)
        live_version = int(version) if version and version.isdigit() else None
        pending = (endpoint.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
        line = (f"{endpoint_name}: {endpoint['EndpointStatus']}, config "
                f"{endpoint.get('EndpointConfigName', '?')}, live package "
                f"{tags.get(TAG_PACKAGE_ARN, 'unknown')}"
                + (f"; deploying {pending}" if pending else "")
                + (f"; {endpoint['FailureReason']}" if endpoint.get("FailureReason") else ""))
    names = list(endpoint_alarm_names(endpoint_name).values())
    cloudwatch = session.client("cloudwatch", endpoint_url=endpoint_url)
    found = {alarm["AlarmName"]: alarm for alarm in
             cloudwatch.describe_alarms(AlarmNames=names).get("MetricAlarms", [])}
    alarms = [(name, found[name]["StateValue"] if name in found else "missing")
              for name in names]
    return {"where": endpoint_url or "SageMaker", "group": group, "packages": packages,
            "live_version": live_version, "endpoint": line, "alarms": alarms}


def _render(console: Console, report: dict[str, Any]) -> None:
    table = Table(title=f"model packages in {report['group']} ({report['where']})")
    for column in ("version", "status", "live", "training data", "created"):
        table.add_column(column, overflow="fold")
    for package in report["packages"]:
        version = package["ModelPackageVersion"]
        table.add_row(str(version), package["ModelApprovalStatus"],
                      "live" if version == report["live_version"] else "",
                      package_training_data(package) or "-",
                      str(package.get("CreationTime", "")))
    if report["packages"]:
        console.print(table)
    else:
        console.print(f"no model packages in {report['group']} ({report['where']})",
                      highlight=False)
    pending = [p["ModelPackageVersion"] for p in report["packages"]
               if p["ModelApprovalStatus"] == ApprovalStatus.PENDING_MANUAL_APPROVAL.value]
    if pending:
        console.print(f"awaiting approval: version(s) {', '.join(map(str, pending))}",
                      highlight=False)
    console.print(f"endpoint {report['endpoint']}", highlight=False, soft_wrap=True)
    for name, state in report["alarms"]:
        colour = {"OK": "green", "ALARM": "red"}.get(state, "yellow")
        console.print(f"alarm {name}: [{colour}]{state}[/{colour}]", highlight=False)


def _package_record(args: argparse.Namespace) -> int:
    """`mlops status --version N`: one package's record (what `mlops lineage` chains)."""
    import json

    from mlops_components.cli.lineage import gather, render_record

    record, problem = gather(args)
    if record is None:
        return error(problem)
    if args.json:
        print(json.dumps(record, indent=2, default=str))
    else:
        render_record(Console(), record)
    return 0
