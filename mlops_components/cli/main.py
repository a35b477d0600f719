"""`mlops`: the operator's command line. A thin layer over the functions the components use."""

from __future__ import annotations

import argparse
import atexit
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from rich.console import Console

from mlops_components.cli.arguments import add_registry_arguments, add_stack_arguments
from mlops_components.cli.batch import add_batch_parser
from mlops_components.cli.cost import add_cost_parser
from mlops_components.cli.diagram import add_diagram_parser
from mlops_components.cli.drift import add_drift_parser
from mlops_components.cli.errors import (
    DEBUG_VARIABLE,
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    UsageError,
    error,
    interrupted,
    warning,
)
from mlops_components.cli.lineage import add_lineage_parser
from mlops_components.cli.promote import add_promote_parser
from mlops_components.cli.registry import registry_list, set_status
from mlops_components.cli.render import render_automation, render_outputs, render_tree
from mlops_components.cli.schema import add_schema_parser
from mlops_components.cli.sections import preview_sections
from mlops_components.cli.serve import add_serve_parser
from mlops_components.cli.status import add_status_parser
from mlops_components.config import model_name_for_data, parse_config
from mlops_components.enums import ApprovalStatus, ProblemType
from mlops_components.plan import plan_stack
from mlops_components.project import ProjectError, load_project
from mlops_components.sagemaker.spec import (
    DEFAULT_LEAK_POLICY,
    LEAK_POLICIES,
    PipelineParameter,
)
from mlops_components.validation import (
    ValidationError,
    instance_count_problem,
    threshold_problem,
)
from training.contract import (
    CLASS_WEIGHT_FLAG,
    DECISION_THRESHOLD_FLAG,
    DEFAULT_HYPERPARAMETERS,
    TARGET_TRANSFORM_FLAG,
    TARGET_TRANSFORMS,
    ClassWeight,
    TargetTransform,
    class_weight_problem,
    decision_threshold_problem,
)

if TYPE_CHECKING:
    from mlops_components.local.run import LocalRun

EXIT_STATUSES = ("exit status: 0 success; 1 a job or the quality gate failed, or a mandatory "
                 "policy is violated; 2 bad input "
                 "(nothing ran); 130 interrupted")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `mlops` command; return its exit status (see :mod:`.errors`)."""
    with _warnings_as_lines():
        try:
            parser = _parser()
            args = parser.parse_args(argv)
            if not hasattr(args, "handler"):
                parser.print_help()
                return EXIT_INVALID
            return args.handler(args)
        except KeyboardInterrupt as stop:
            return interrupted(str(stop))
        except (UsageError, ProjectError, ValidationError, LookupError) as problem:
            return error(str(problem))
        except OSError as problem:
            where = f"{problem.filename}: " if problem.filename else ""
            return error(f"{where}{problem.strerror or problem}")
        except Exception as problem:
            if os.environ.get(DEBUG_VARIABLE):
                raise
            return error(f"unexpected {type(problem).__name__}: {problem} "
                         f"(set {DEBUG_VARIABLE}=1 for the traceback)")


def run() -> None:
    """The `mlops` console script: main(), then a quick, quiet exit.

    Once the output is flushed and the exit handlers have run, the process ends with
    ``os._exit``: tearing the interpreter down (every Pulumi and pulumi_aws module and object)
    costs ~0.5 s CPU after a preview, and the finalizers of the event loops the mock monitor's
    threads leave behind would print tracebacks.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()  # logging's flush, temporary folders' cleanup: what exit would do
    os._exit(code)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one line (and exit status 2), not the usage."""

    def error(self, message: str) -> NoReturn:
        if "expected one argument" in message:
            message += " (a value that starts with '-' is written --flag=VALUE)"
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


@contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Show the local runtime's warnings (skipped registry files) as one line each, once."""
    from mlops_components.local.registry import RegistryWarning

    shown: set[str] = set()
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        if not issubclass(category, RegistryWarning):
            return previous(message, category, filename, lineno, file, line)
        if str(message) not in shown:
            shown.add(str(message))
            warning(str(message))

    with warnings.catch_warnings():
        warnings.simplefilter("always", RegistryWarning)
        warnings.showwarning = show
        yield


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mlops", description=__doc__, epilog=EXIT_STATUSES,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(title="commands", required=True)

    preview = commands.add_parser(
        "preview", help="the offline plan: resources, outputs and the policy pack's "
                        "violations, no cloud needed")
    add_stack_arguments(preview)
    preview.add_argument("--json", type=Path, metavar="FILE",
                         help="also write the plan, with every input resolved, and the "
                              "policy violations as JSON")
    preview.add_argument("--no-policy", action="store_true",
                         help="skip the policy pack (mandatory violations exit 1)")
    preview.set_defaults(handler=_preview)

    up = commands.add_parser(
        "up", help="deploy; with --local: plan offline, then run the training pipeline here")
    add_stack_arguments(up)
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
    up.add_argument("--dev-env", action="store_true",
                    help="run the jobs under this interpreter and its packages instead of the "
                         "image's Python 3.12 and pins (quicker to start; not what SageMaker "
                         "runs, and the summary says so)")
    up.add_argument("--threshold", type=float, metavar="VALUE",
                    help="override the MetricThreshold pipeline parameter for this run")
    up.add_argument("--model-name", metavar="NAME",
                    help="registry group of the model --data trains (default: derived from "
                         "the --data file name, so different data never mixes in one group)")
    up.add_argument("--leak-policy", choices=LEAK_POLICIES,
                    help="what Preprocess does with a column that leaks the target: stop the "
                         "run, drop the column, or proceed with it (default: the stack's "
                         f"leakPolicy, {DEFAULT_LEAK_POLICY} unless set)")
    up.add_argument(f"--{TARGET_TRANSFORM_FLAG}", choices=TARGET_TRANSFORMS,
                    dest="target_transform",
                    help="regression: quantile fits on the target's normal quantiles, robust "
                         "to outlying targets (default: the stack's targetTransform, "
                         f"{TargetTransform.NONE.value} unless set)")
    up.add_argument("--register-unchanged-data", action="store_true", default=None,
                    help="register the model even when its training data is byte for byte "
                         "the champion's (default: the stack's registerUnchangedData, false "
                         "unless set: such a model can only tie, so it is not registered)")
    up.add_argument(f"--{CLASS_WEIGHT_FLAG}",
                    metavar="|".join(member.value for member in ClassWeight),
                    help="imbalanced classes: weight rows inversely to their class's "
                         "frequency, or not (default: the stack's classWeight, "
                         f"{DEFAULT_HYPERPARAMETERS[CLASS_WEIGHT_FLAG]} unless set)")
    up.add_argument(f"--{DECISION_THRESHOLD_FLAG}", metavar="auto|none|P",
                    help="binary classification: tune the positive-class probability "
                         "threshold on the validation split (auto), keep the estimator's "
                         "labels (none) or fix it at P (default: the stack's "
                         f"decisionThreshold, {DEFAULT_HYPERPARAMETERS[DECISION_THRESHOLD_FLAG]}"
                         " unless set)")
    up.add_argument("--no-loop", action="store_true",
                    help="stop after serving: no shifted traffic, drift check, alarm, retrain "
                         "rule or second run")
    up.set_defaults(handler=_up)

    registry = commands.add_parser("registry", help="model packages in the registry")
    registry_commands = registry.add_subparsers(title="registry commands", required=True)
    listing = registry_commands.add_parser("list", help="list model packages")
    add_registry_arguments(listing)
    listing.set_defaults(handler=registry_list)

    for verb, status in (("approve", ApprovalStatus.APPROVED),
                         ("reject", ApprovalStatus.REJECTED)):
        command = commands.add_parser(verb, help=f"{verb} a model package")
        add_registry_arguments(command)
        command.add_argument("--version", type=int,
                             help="package version (default: the latest)")
        command.add_argument("--comment", default="", help="why (kept with the package)")
        command.set_defaults(handler=set_status, status=status)
    add_serve_parser(commands)
    add_status_parser(commands)
    add_lineage_parser(commands)
    add_drift_parser(commands)
    add_cost_parser(commands)
    add_diagram_parser(commands)
    add_batch_parser(commands)
    add_promote_parser(commands)
    add_schema_parser(commands)
    return parser


def _preview(args: argparse.Namespace) -> int:
    console = Console()
    if args.json and args.json.is_dir():
        return error(f"--json {args.json}: is a folder; give a file name such as plan.json")
    if args.json and not args.json.parent.is_dir():
        return error(f"--json {args.json}: folder {args.json.parent} does not exist")
    plan = plan_stack(args.project_dir, args.stack)
    console.print(render_tree(plan))
    automation = render_automation(plan)
    if automation is not None:
        console.print(automation)
    console.print(render_outputs(plan))
    console.print(f"{len(plan.resources)} resources, offline plan (Pulumi mock runtime; "
                  "no AWS call was made)")
    sections = preview_sections(args, plan)
    for section in sections:
        section.print(console)
    if args.json:
        document = plan.to_json()
        document.update({section.key: section.data for section in sections
                         if section.data is not None})
        try:
            args.json.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        except OSError as problem:
            return error(f"--json {args.json}: cannot write it ({problem.strerror})")
        console.print(f"plan written to {args.json}")
    return EXIT_FAILED if any(section.failed for section in sections) else EXIT_OK


def _up(args: argparse.Namespace) -> int:
    from mlops_components.cli.render import StepProgress, render_summary
    from mlops_components.local.job_env import JobEnvironmentError, dev_environment
    from mlops_components.local.run import LocalRunError, run_local
    from mlops_components.local.smoke import serve_and_smoke

    if not args.local:
        return error("mlops up deploys with the Pulumi CLI: run `pulumi up` (needs the "
                     "Pulumi CLI and AWS credentials), or `mlops up --local` to run here")
    problem = _up_argument_problem(args)
    if problem:
        return error(problem)
    if args.data is not None:
        status = _check_data(Console(), args)
        if status:
            return status
    parameters: dict[str, object] = {}
    if args.threshold is not None:
        parameters[PipelineParameter.METRIC_THRESHOLD.value] = args.threshold
    if args.instances is not None:
        parameters[PipelineParameter.PROCESSING_INSTANCE_COUNT.value] = args.instances
        _warn_about_idle_instances(args.instances, args.data)
    console = Console()
    job_environment = dev_environment() if args.dev_env else None

    def run_once() -> LocalRun:
        with StepProgress(console) as progress:
            return run_local(args.project_dir, args.stack, workdir=args.workdir,
                             data=args.data, target=args.target,
                             problem_type=args.problem_type, on_step=progress.update,
                             parameters=parameters, job_environment=job_environment,
                             leak_policy=args.leak_policy,
                             register_unchanged_data=args.register_unchanged_data,
                             target_transform=args.target_transform,
                             class_weight=args.class_weight,
                             decision_threshold=args.decision_threshold,
                             model_name=args.model_name or (
                                 model_name_for_data(args.data) if args.data else None))

    try:
        run = run_once()
    except (LocalRunError, JobEnvironmentError) as problem:
        return error(str(problem))
    render_summary(console, run)
    smoke = serve_and_smoke(run)
    console.print(smoke.message, highlight=False, soft_wrap=True)
    status = EXIT_OK if run.execution.status == "Succeeded" else EXIT_FAILED
    if smoke.served and not args.no_loop:
        return _loop(console, run, smoke.package, run_once) or status
    return status


def _loop(console: Console, run: LocalRun, package: dict, retrain: Callable[[], LocalRun]
          ) -> int:
    """Stages 6-7 after serving: traffic, drift, alarm, rule, retrain (local/loop.py)."""
    from mlops_components.cli.render import StepProgress, render_summary, retrain_outcome
    from mlops_components.local.loop import LoopStopped, close_the_loop
    from mlops_components.local.run import LocalRunError

    console.rule("monitor and retrain, as the stack would (mlops up --local --no-loop skips)")

    def say(stage: str, message: str) -> None:
        console.print(f"[bold]{stage}:[/bold] {message}", highlight=False, soft_wrap=True)

    try:
        with StepProgress(console) as progress:
            result = close_the_loop(run, package, retrain, say, on_step=progress.update)
    except (LoopStopped, LocalRunError) as problem:
        warning(f"the loop stopped: {problem}")
        return EXIT_OK
    if result.retrain is None:
        return EXIT_OK
    render_summary(console, result.retrain)
    console.print(f"[bold]retrain:[/bold] {retrain_outcome(result.retrain)}", highlight=False,
                  soft_wrap=True)
    crashed = result.retrain.execution.status != "Succeeded" and not any(
        step.type == "Fail" for step in result.retrain.execution.steps)
    return EXIT_FAILED if crashed else EXIT_OK


#: Flags of `mlops up --local` that describe --data, and the stack key the default data uses.
_DATA_ONLY_KEYS = {"--target": "targetColumn", "--problem-type": "problemType",
                   "--model-name": "modelName"}


def _up_argument_problem(args: argparse.Namespace) -> str | None:
    """The first flag of `mlops up --local` that its rule refuses, as one line (or None)."""
    if args.target is not None and not args.target.strip():
        return "--target: must be a non-empty column name"
    for flag, value in (("--target", args.target), ("--problem-type", args.problem_type),
                        ("--model-name", args.model_name)):
        if args.data is None and value is not None:
            return (f"{flag} {value}: applies to --data only (the default data uses the "
                    f"stack's {_DATA_ONLY_KEYS[flag]}); add --data CSV, or drop {flag}")
    if args.data is not None and not args.target:
        return "--data needs --target COLUMN (the column to predict)"
    if args.instances is not None:
        problem = instance_count_problem(args.instances)
        if problem:
            return (f"--instances {args.instances}: {problem} (SageMaker's limit for one "
                    "processing job)")
    for flag, value, rule in ((CLASS_WEIGHT_FLAG, args.class_weight, class_weight_problem),
                              (DECISION_THRESHOLD_FLAG, args.decision_threshold,
                               decision_threshold_problem)):
        problem = None if value is None else rule(value)
        if problem:
            return f"--{flag} {value}: {problem}"
    if args.threshold is not None:
        metric = _gate_metric(args)
        problem = threshold_problem(args.threshold, metric)
        if problem:
            return (f"--threshold {args.threshold:g}: {problem} (gate metric "
                    f"{metric or 'unknown'} of stack {args.stack})")
    return None


def _gate_metric(args: argparse.Namespace) -> str | None:
    """The gate metric the stack's config (with ``--problem-type``) gives, if it is valid."""
    from mlops_components.config import parse_config
    from training.contract import gate_metric

    project = load_project(args.project_dir)
    raw = project.stack_config(args.stack)
    if args.problem_type:
        raw[f"{project.name}:problemType"] = args.problem_type
    config = parse_config(raw, project=project.name)
    try:
        return gate_metric(config.problem_type.value, config.gate_metric or None).name
    except ValueError:  # a gate metric of the other problem type: the component says so
        return None


def _warn_about_idle_instances(instances: int, data: Path | None) -> None:
    """More instances than CSV files: ShardedByS3Key leaves the extra instances idle."""
    from training.data.schema import list_csv_files

    files = 1 if data is None or not data.is_dir() else len(list_csv_files(data))
    if instances > max(files, 1):
        warning(f"--instances {instances}: only {files} CSV file{'s' * (files != 1)} to shard; "
                f"{instances - files} instance(s) get no data, and here each instance is a "
                "process run one after another")


def _check_data(console: Console, args: argparse.Namespace) -> int:
    """The pre-flight data checks before any job starts: one line per problem; exit status 2
    on an error (a failed gate is 1), warnings and notes printed and the run goes on."""
    from training.data.checks import check_data

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
