"""`mlops batch --local --data FILE|FOLDER`: score data with the latest approved local model.

Runs the stack's planned batch inference pipeline (mlops_components/local/batch.py): the
rows are scored by the endpoint's own handler, each joined to its prediction; refused rows
(missing columns, wrong types) are counted and named by file and line, never dropped silently.
Exit status 0 when the run scored (refused rows within the limit); 1 when the refused share
passed the limit (the good rows are still scored and written) or a job failed; 2 for bad input
or no approved model.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from rich.console import Console

from mlops_components.cli.arguments import add_stack_arguments, where
from mlops_components.cli.errors import EXIT_FAILED, EXIT_OK, error
from mlops_components.project import ProjectError, load_project
from mlops_components.validation import SAGEMAKER_NAME_RE, ValidationError

#: Refused rows shown on the terminal (all are in the refused-rows file).
SHOWN_REFUSED = 10


def add_batch_parser(commands: argparse._SubParsersAction) -> None:
    """Register `mlops batch` (called by cli/main.py)."""
    batch = commands.add_parser(
        "batch", help="with --local: score a CSV file or folder with the latest approved "
                      "model through the stack's batch inference pipeline",
        description="Score a CSV file (or a folder of them) with the latest approved package "
                    "of the local registry, through the stack's planned batch inference "
                    "pipeline: each row joined to its prediction by the endpoint's own "
                    "handler; refused rows named by file and line. In AWS the stack's batch "
                    "pipeline scores what lands under batch/input/ (batchSchedule, "
                    "batchOnNewData).")
    add_stack_arguments(batch)
    batch.add_argument("--local", action="store_true",
                       help="required: score with the local registry that mlops up --local "
                            "fills")
    batch.add_argument("--data", type=Path, metavar="FILE|FOLDER",
                       help="CSV file (or folder of CSV files) with a header naming the "
                            "model's features; other columns (IDs) are kept in the output")
    batch.add_argument("--group", metavar="NAME",
                       help="model package group (default: the stack's model)")
    batch.add_argument("--workdir", type=Path, metavar="DIR",
                       help="the local workdir (default: .mlops/<stack>)")
    batch.add_argument("--max-refused-share", type=float, metavar="SHARE",
                       help="fail (exit 1) when more than this share (0-1) of the rows is "
                            "refused (default: the stack's batchMaxRefusedShare)")
    batch.add_argument("--output", type=Path, metavar="DIR",
                       help="also copy the scored files, refused rows and report to DIR")
    batch.add_argument("--dev-env", action="store_true",
                       help="run the scoring job under this interpreter instead of the "
                            "image's Python and pins")
    batch.set_defaults(handler=batch_command)


def _argument_problem(args: argparse.Namespace) -> str | None:
    if not args.local:
        return ("mlops batch scores with the local registry only: run "
                f"{where(args, args.group).quoted('batch', data=args.data or 'FILE')}; in AWS "
                "the stack's batch pipeline scores what lands under batch/input/")
    if args.data is None:
        return "mlops batch --local needs --data FILE|FOLDER (CSV rows to score)"
    if args.group is not None and not SAGEMAKER_NAME_RE.match(args.group):
        return (f"--group {args.group!r}: must be 1-63 letters, digits and hyphens (a model "
                "package group name)")
    if args.max_refused_share is not None and not 0 <= args.max_refused_share <= 1:
        return f"--max-refused-share {args.max_refused_share}: must be between 0 and 1"
    if args.output is not None and args.output.exists() and not args.output.is_dir():
        return f"--output {args.output}: is a file; give a folder"
    return None


def batch_command(args: argparse.Namespace) -> int:
    from mlops_components.cli.render import StepProgress
    from mlops_components.local.batch import BatchRunError, run_batch
    from mlops_components.local.job_env import JobEnvironmentError
    from mlops_components.local.workdir import default_workdir

    problem = _argument_problem(args)
    if problem:
        return error(problem)
    console = Console()
    try:
        project = load_project(args.project_dir)
        workdir = Path(args.workdir or default_workdir(project.directory, args.stack))
        with StepProgress(console) as progress:
            environment = progress.job_environment(args.dev_env)
            batch = run_batch(project.directory, args.stack, args.data, workdir, environment,
                              group=args.group, max_refused_share=args.max_refused_share,
                              on_step=progress.update)
    except (ProjectError, ValidationError, BatchRunError, JobEnvironmentError) as problem:
        return error(str(problem))
    if not batch.ready:
        hint = (f" (approve a package first: {where(args, args.group).quoted('approve')})"
                if "no approved model" in batch.reason else "")
        return error(f"{batch.reason or 'nothing was scored'}{hint}")
    if batch.output_dir is None:
        error(f"batch run {batch.execution.execution_id} failed: "
              f"{batch.execution.failure_reason}")
        return EXIT_FAILED
    _render(console, batch)
    if args.output is not None:
        try:
            shutil.copytree(batch.output_dir, args.output, dirs_exist_ok=True)
        except OSError as problem:
            return error(f"--output {args.output}: cannot write it ({problem.strerror})")
        console.print(f"copied to {args.output}", highlight=False)
    if batch.execution.status != "Succeeded":
        error(batch.execution.failure_reason)
        return EXIT_FAILED
    return EXIT_OK


def _render(console: Console, batch) -> None:  # noqa: ANN001 - a LocalBatch
    report = batch.report
    console.print(f"{batch.reason}", highlight=False, soft_wrap=True)
    console.print(f"scored {report['scored']} of {report['rows']} rows of {batch.data}; "
                  f"{report['refused']} refused ({report['refused_share']:.2%}, limit "
                  f"{float(report['max_refused_share'] or 0):.2%})", highlight=False,
                  soft_wrap=True)
    for counts in report["files"]:
        if counts.get("problem"):
            console.print(f"[yellow]{counts['file']}:[/yellow] {counts['problem']}",
                          highlight=False, soft_wrap=True)
    for example in report["examples"][:SHOWN_REFUSED]:
        console.print(f"  refused {example['file']} line {example['line']}: "
                      f"{example['reason']}", highlight=False, soft_wrap=True)
    if report["refused"] > SHOWN_REFUSED:
        console.print(f"  ... {report['refused'] - SHOWN_REFUSED} more", highlight=False)
    drift = batch.drift_report()
    if drift is not None:
        drifted = [f["name"] for f in drift.get("features", []) if f.get("drifted")]
        verdict = (f"DRIFT in {len(drifted)} feature(s): {', '.join(map(str, drifted))}"
                   if drifted else "no drift")
        console.print(f"drift of this batch against the model's baseline: {verdict} "
                      f"(report: {batch.output_dir}/drift/)", highlight=False, soft_wrap=True)
    for path in batch.scored_files():
        console.print(f"scored: {path}", highlight=False, soft_wrap=True)
    for path in batch.refused_files():
        console.print(f"refused rows: {path}", highlight=False, soft_wrap=True)
