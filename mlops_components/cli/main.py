"""`mlops`: the operator's command line. A thin layer over the functions the components use."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from mlops_components.cli.errors import EXIT_INVALID, error
from mlops_components.cli.registry import registry_list, set_status
from mlops_components.cli.render import render_outputs, render_tree
from mlops_components.config import model_name_for_data, parse_config
from mlops_components.enums import ApprovalStatus, ProblemType
from mlops_components.plan import close_all_event_loops, plan_stack
from mlops_components.project import ProjectError, load_project
from mlops_components.sagemaker.spec import PipelineParameter
from mlops_components.validation import ValidationError

DEFAULT_STACK = "dev"


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
    up.add_argument("--model-name", metavar="NAME",
                    help="registry group of the model --data trains (default: derived from "
                         "the --data file name, so different data never mixes in one group)")
    up.set_defaults(handler=_up)

    registry = commands.add_parser("registry", help="model packages in the registry")
    registry_commands = registry.add_subparsers(title="registry commands")
    listing = registry_commands.add_parser("list", help="list model packages")
    _add_registry_arguments(listing)
    listing.set_defaults(handler=registry_list)

    for verb, status in (("approve", ApprovalStatus.APPROVED),
                         ("reject", ApprovalStatus.REJECTED)):
        command = commands.add_parser(verb, help=f"{verb} a model package")
        _add_registry_arguments(command)
        command.add_argument("--version", type=int,
                             help="package version (default: the latest)")
        command.add_argument("--comment", default="", help="why (kept with the package)")
        command.set_defaults(handler=set_status, status=status)
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
        return error(f"--json {args.json}: folder {args.json.parent} does not exist")
    try:
        plan = plan_stack(args.project_dir, args.stack)
    except (ProjectError, ValidationError) as problem:
        return error(str(problem))
    console.print(render_tree(plan))
    console.print(render_outputs(plan))
    console.print(f"{len(plan.resources)} resources, offline plan (Pulumi mock runtime; "
                  "no AWS call was made)")
    if args.json:
        args.json.write_text(json.dumps(plan.to_json(), indent=2, sort_keys=True) + "\n")
        console.print(f"plan written to {args.json}")
    return 0


def _up(args: argparse.Namespace) -> int:
    from mlops_components.cli.render import StepProgress, render_summary
    from mlops_components.local.run import LocalRunError, run_local

    if not args.local:
        return error("mlops up deploys with the Pulumi CLI: run `pulumi up` (needs the "
                      "Pulumi CLI and AWS credentials), or `mlops up --local` to run here")
    if args.data is not None and not args.target:
        return error("--data needs --target COLUMN (the column to predict)")
    console = Console()
    if args.data is not None:
        status = _check_data(console, args)
        if status:
            return status
    parameters: dict[str, object] = {}
    if args.threshold is not None:
        parameters[PipelineParameter.METRIC_THRESHOLD.value] = args.threshold
    if args.instances is not None:
        if args.instances < 1:
            return error(f"--instances must be >= 1 (got {args.instances})")
        parameters[PipelineParameter.PROCESSING_INSTANCE_COUNT.value] = args.instances
    try:
        with StepProgress(console) as progress:
            run = run_local(args.project_dir, args.stack, workdir=args.workdir, data=args.data,
                            target=args.target, problem_type=args.problem_type,
                            on_step=progress.update, parameters=parameters,
                            model_name=args.model_name or (
                                model_name_for_data(args.data) if args.data else None))
    except (ProjectError, ValidationError, LocalRunError) as problem:
        return error(str(problem))
    render_summary(console, run)
    return 0 if run.execution.status == "Succeeded" else 1


def _check_data(console: Console, args: argparse.Namespace) -> int:
    """The pre-flight data checks before any job starts: one line per problem; exit status 2
    on an error (a failed gate is 1), warnings and notes printed and the run goes on."""
    from training.checks import check_data

    try:
        problem_type = args.problem_type or parse_config(
            *_stack_config(args.project_dir, args.stack)).problem_type
    except (ProjectError, ValidationError) as problem:
        return error(str(problem))
    problems = check_data(args.data, args.target, problem_type)
    failed = [problem for problem in problems if problem.is_error]
    for problem in problems:
        if not problem.is_error:
            console.print(f"[yellow]{problem.severity}:[/yellow] {problem.message}",
                          highlight=False, soft_wrap=True)
    if failed:
        return error("\n".join(problem.message for problem in failed))
    return 0


def _stack_config(project_dir: Path, stack: str) -> tuple[dict[str, str], str]:
    project = load_project(project_dir)
    return project.stack_config(stack), project.name


if __name__ == "__main__":
    run()
