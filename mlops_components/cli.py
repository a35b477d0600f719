"""`mlops`: the operator's command line. A thin layer over the functions the components use."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from mlops_components.enums import ApprovalStatus, ProblemType
from mlops_components.preview import Plan, close_all_event_loops, plan_stack
from mlops_components.project import ProjectError, load_project
from mlops_components.validation import ValidationError

DEFAULT_STACK = "dev"
EXIT_INVALID = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return EXIT_INVALID
    return args.handler(args)


def run() -> None:
    """The `mlops` console script: main(), then a quiet interpreter exit."""
    code = main()
    close_all_event_loops()
    sys.exit(code)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlops", description=__doc__)
    commands = parser.add_subparsers(title="commands")

    preview = commands.add_parser(
        "preview", help="the offline plan: resources and outputs, no cloud needed")
    _add_stack_arguments(preview)
    preview.add_argument("--json", type=Path, metavar="FILE",
                         help="also write the plan, with every input resolved, as JSON")
    preview.set_defaults(handler=_preview)

    up = commands.add_parser(
        "up", help="deploy; with --local: plan offline, then run the training pipeline here")
    _add_stack_arguments(up)
    up.add_argument("--local", action="store_true",
                    help="execute the generated pipeline definition on this machine")
    up.add_argument("--data", type=Path, metavar="CSV",
                    help="training data: a CSV file or a folder of CSV files (default: a "
                         "dataset that ships with scikit-learn)")
    up.add_argument("--instances", type=int, metavar="N",
                    help="ProcessingInstanceCount: shard profile and preprocess over N "
                         "instances (emulated one after another)")
    up.add_argument("--target", metavar="COLUMN", help="column of --data to predict")
    up.add_argument("--problem-type", choices=[p.value for p in ProblemType],
                    help="override the stack's problem type for --data")
    up.add_argument("--workdir", type=Path, metavar="DIR",
                    help="local S3, jobs and registry (default: .mlops/<stack>)")
    up.add_argument("--threshold", type=float, metavar="VALUE",
                    help="override the MetricThreshold pipeline parameter for this run")
    up.set_defaults(handler=_up)

    registry = commands.add_parser("registry", help="model packages in the registry")
    registry_commands = registry.add_subparsers(title="registry commands")
    listing = registry_commands.add_parser("list", help="list model packages")
    _add_registry_arguments(listing)
    listing.set_defaults(handler=_registry_list)

    for verb, status in (("approve", ApprovalStatus.APPROVED),
                         ("reject", ApprovalStatus.REJECTED)):
        command = commands.add_parser(verb, help=f"{verb} a model package")
        _add_registry_arguments(command)
        command.add_argument("--version", type=int,
                             help="package version (default: the latest)")
        command.add_argument("--comment", default="", help="why (kept with the package)")
        command.set_defaults(handler=_set_status, status=status)
    return parser


def _add_registry_arguments(parser: argparse.ArgumentParser) -> None:
    _add_stack_arguments(parser)
    parser.add_argument("--group", help="model package group (default: the stack's model)")
    parser.add_argument("--local", action="store_true",
                        help="use the local registry that mlops up --local fills")
    parser.add_argument("--workdir", type=Path, metavar="DIR",
                        help="with --local: the local workdir (default: .mlops/<stack>)")
    parser.add_argument("--region", help="AWS region (default: from your AWS configuration)")
    parser.add_argument("--endpoint-url", metavar="URL",
                        help="talk to an emulator (e.g. moto) instead of AWS")


def _add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", default=DEFAULT_STACK,
                        help=f"stack whose Pulumi.<stack>.yaml to use (default: {DEFAULT_STACK})")
    parser.add_argument("--project-dir", type=Path, default=Path("."),
                        help="directory with Pulumi.yaml and __main__.py (default: .)")


def _preview(args: argparse.Namespace) -> int:
    console = Console()
    if args.json and not args.json.parent.is_dir():
        return _error(f"--json {args.json}: folder {args.json.parent} does not exist")
    try:
        plan = plan_stack(args.project_dir, args.stack)
    except (ProjectError, ValidationError) as error:
        return _error(str(error))
    console.print(render_tree(plan))
    console.print(render_outputs(plan))
    console.print(f"{len(plan.resources)} resources, offline plan (Pulumi mock runtime; "
                  "no AWS call was made)")
    if args.json:
        args.json.write_text(json.dumps(plan.to_json(), indent=2, sort_keys=True) + "\n")
        console.print(f"plan written to {args.json}")
    return 0


def render_tree(plan: Plan) -> Tree:
    """The resource tree: type and name of every resource under its parent."""
    root = Tree(f"[bold]stack {plan.stack}[/bold]")
    nodes: dict[str, Tree] = {}
    for resource in plan.resources:
        parent = nodes.get(resource.parent or "", root)
        style = "bold cyan" if not resource.custom else "green"
        nodes[resource.urn] = parent.add(
            f"[{style}]{resource.type}[/{style}] {resource.name}", highlight=False)
    return root


def render_outputs(plan: Plan) -> Table:
    table = Table(title="stack outputs", show_lines=False)
    table.add_column("output")
    table.add_column("value", overflow="fold")
    for name, value in sorted(plan.outputs.items()):
        table.add_row(name, value if isinstance(value, str) else json.dumps(value))
    return table


def _error(message: str) -> int:
    for line in message.splitlines() or [""]:
        Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {line}", highlight=False)
    return EXIT_INVALID


def _up(args: argparse.Namespace) -> int:
    from mlops_components.local.progress import StepProgress, render_summary
    from mlops_components.local.run import LocalRunError, run_local

    if not args.local:
        return _error("mlops up deploys with the Pulumi CLI: run `pulumi up` (needs the "
                      "Pulumi CLI and AWS credentials), or `mlops up --local` to run here")
    if args.data is not None and not args.target:
        return _error("--data needs --target COLUMN (the column to predict)")
    console = Console()
    parameters: dict[str, object] = {}
    if args.threshold is not None:
        parameters["MetricThreshold"] = args.threshold
    if args.instances is not None:
        if args.instances < 1:
            return _error(f"--instances must be >= 1 (got {args.instances})")
        parameters["ProcessingInstanceCount"] = args.instances
    try:
        with StepProgress(console) as progress:
            run = run_local(args.project_dir, args.stack, workdir=args.workdir, data=args.data,
                            target=args.target, problem_type=args.problem_type,
                            on_step=progress.update, parameters=parameters)
    except (ProjectError, ValidationError, LocalRunError) as error:
        return _error(str(error))
    render_summary(console, run)
    return 0 if run.execution.status == "Succeeded" else 1


def _registry(args: argparse.Namespace):
    """The registry to act on (local or SageMaker), how to read its documents, the group."""
    from mlops_components.config import parse_config
    from mlops_components.local.executor import LocalWorkdir
    from mlops_components.local.run import default_workdir
    from mlops_components.registry_client import sagemaker_registry

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


def _registry_list(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from mlops_components.registry_client import package_metrics

    try:
        registry, read_text, group, where = _registry(args)
        packages = registry.packages(group)
    except (*_REGISTRY_ERRORS, BotoCoreError, ClientError) as error:
        return _error(str(error))
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


def _set_status(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        registry, _, group, _ = _registry(args)
        package = registry.set_status(group, args.version, args.status, args.comment)
    except (*_REGISTRY_ERRORS, BotoCoreError, ClientError) as error:
        return _error(str(error))
    Console().print(f"{package['ModelPackageArn']}: {package['ModelApprovalStatus']}",
                    highlight=False)
    return 0


if __name__ == "__main__":
    run()
