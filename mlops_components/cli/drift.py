"""`mlops drift --local --data FILE`: a file's rows checked for drift as endpoint traffic.

Runs the stack's planned drift check (the DriftCheck job the loop after serving runs) on a
file's rows as if the endpoint had received them, against the latest approved package of the
local registry; prints each feature's metrics with thresholds and verdicts, then one verdict
line. Drift is a finding, not an error: exit status 0 either way; 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from mlops_components.cli.arguments import add_stack_arguments, where
from mlops_components.cli.errors import EXIT_FAILED, EXIT_OK, error
from mlops_components.project import ProjectError, load_project
from mlops_components.validation import SAGEMAKER_NAME_RE, ValidationError


def _not_local(args: argparse.Namespace) -> str:
    """What `mlops drift` without ``--local`` answers: only the local form exists."""
    return (f"mlops drift checks a file against the local registry only: run "
            f"{where(args, args.group).quoted('drift', data=args.data or 'FILE')}; in AWS the "
            "stack's monitoring pipeline checks the endpoint's captured traffic on its "
            "schedule")


def add_drift_parser(commands: argparse._SubParsersAction) -> None:
    """Register `mlops drift` (called by cli/main.py)."""
    drift = commands.add_parser(
        "drift", help="with --local: check a file's rows for drift as if they were the "
                      "approved model's endpoint traffic (local registry only)",
        description="Check a file's rows for drift as if the endpoint of the latest approved "
                    "package had received them, with the stack's planned drift check. Only "
                    "the local form exists (--local): in AWS the stack's monitoring pipeline "
                    "checks the endpoint's captured traffic on its schedule.")
    add_stack_arguments(drift)
    drift.add_argument("--local", action="store_true",
                       help="required: check against the local registry that mlops up "
                            "--local fills")
    drift.add_argument("--data", type=Path, metavar="FILE",
                       help="CSV file with a header row naming the model's features (the "
                            "target column may stay; ';', tab and '|' files are read too)")
    drift.add_argument("--group", metavar="NAME",
                       help="model package group (default: the stack's model; a --data run "
                            "registers into a group named after its data)")
    drift.add_argument("--workdir", type=Path, metavar="DIR",
                       help="the local workdir (default: .mlops/<stack>)")
    drift.add_argument("--json", type=Path, metavar="OUT",
                       help='also write {"alarm": ..., "features": [{"name", "drifted", '
                            '<metric>: {value, threshold, drifted}}]} to OUT')
    drift.add_argument("--dev-env", action="store_true",
                       help="run the drift job under this interpreter instead of the image's "
                            "Python and pins")
    drift.set_defaults(handler=drift_command)


def _argument_problem(args: argparse.Namespace) -> str | None:
    if not args.local:
        return _not_local(args)
    if args.data is None:
        return "mlops drift --local needs --data FILE (a CSV file of rows to check)"
    if args.group is not None and not SAGEMAKER_NAME_RE.match(args.group):
        return (f"--group {args.group!r}: must be 1-63 letters, digits and hyphens (a model "
                "package group name)")
    if args.json is not None and args.json.is_dir():
        return f"--json {args.json}: is a folder; give a file name such as drift.json"
    if args.json is not None and not args.json.parent.is_dir():
        return f"--json {args.json}: folder {args.json.parent} does not exist"
    return None


def drift_command(args: argparse.Namespace) -> int:
    from mlops_components.cli.render import StepProgress
    from mlops_components.config import parse_config
    from mlops_components.local.drift_check import DriftCheckError, DriftJobFailed, check_file
    from mlops_components.local.job_env import JobEnvironmentError
    from mlops_components.local.loop import LoopStopped
    from mlops_components.local.workdir import default_workdir

    problem = _argument_problem(args)
    if problem:
        return error(problem)
    console = Console()
    try:
        project = load_project(args.project_dir)
        model_name = parse_config(project.stack_config(args.stack),
                                  project=project.name).model_name
        group = args.group or model_name
        workdir = Path(args.workdir or default_workdir(project.directory, args.stack))
        with StepProgress(console) as progress:
            environment = progress.job_environment(args.dev_env)
            check = check_file(project.directory, args.stack, workdir, group, args.data,
                               where(args, args.group), environment, model_name=model_name,
                               on_step=progress.update)
    except (ProjectError, ValidationError, DriftCheckError, LoopStopped,
            JobEnvironmentError) as problem:
        return error(str(problem))
    except DriftJobFailed as failure:
        error(str(failure))
        return EXIT_FAILED
    for note in check.notes:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False, soft_wrap=True)
    _render(console, check)
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(check.summary(), indent=2) + "\n")
        except OSError as problem:
            return error(f"--json {args.json}: cannot write it ({problem.strerror})")
        console.print(f"written to {args.json}", highlight=False)
    return EXIT_OK


def _metric_text(name: str, metric: Any) -> str:
    if not isinstance(metric, dict) or "value" not in metric:
        return f"{name} {metric}"
    from training.monitor.report import metric_text

    return metric_text(name, metric)


def _render(console: Console, check: Any) -> None:
    report = check.report
    console.print(f"{check.rows} rows of {check.data} as traffic of {check.group} version "
                  f"{check.version} (its drift baseline; each metric against its floor, and its "
                  "p-value against the chance level a drift must beat):",
                  highlight=False, soft_wrap=True)
    features = check.features()
    width = max([len(str(f["name"])) for f in features] + [8])
    for feature in features:
        metrics = [_metric_text(name, metric) for name, metric in feature.items()
                   if name not in ("name", "drifted")]
        verdict = "[red]DRIFT[/red]" if feature["drifted"] else "[green]ok[/green]"
        console.print(f"  {feature['name']:<{width}}  {'; '.join(metrics)}  {verdict}",
                      highlight=False, soft_wrap=True)
    malformed = {reason: count for reason, count in
                 ((report.get("malformed") or {}).get("by_reason") or {}).items() if count}
    if malformed:
        console.print("malformed: " + ", ".join(f"{count} {reason}"
                                                for reason, count in malformed.items()),
                      highlight=False, soft_wrap=True)
    for violation in report.get("violations") or []:
        console.print(f"[yellow]schema:[/yellow] {violation.get('description', violation)}",
                      highlight=False, soft_wrap=True)
    for name, state in sorted(check.alarms.items()):
        colour = {"OK": "green", "ALARM": "red"}.get(state, "yellow")
        console.print(f"alarm {name}: [{colour}]{state}[/{colour}]", highlight=False)
    console.print(f"[bold]verdict:[/bold] {verdict_line(check)}", highlight=False,
                  soft_wrap=True)


def verdict_line(check: Any) -> str:
    """One line: drift or not, in how many features, and whether the stack's alarm fires."""
    features = check.features()
    drifted = [str(f["name"]) for f in features if f["drifted"]]
    firing = [name for name, state in check.alarms.items() if state == "ALARM"]
    alarm = (f"the stack's alarm {', '.join(firing)} would fire" if firing
             else "no alarm of the stack would fire")
    from training.monitor.report import STATUS_OK

    status = check.report.get("status")
    if drifted:
        return (f"DRIFT in {len(drifted)} of {len(features)} features "
                f"({', '.join(drifted)}); {alarm}")
    if status != STATUS_OK:
        note = check.report.get("note")
        return (f"not judged: the drift job's status for {check.rows} rows is "
                f"{status!r}{f' ({note})' if note else ''}; metrics are shown, no feature is "
                f"judged drifted; {alarm}")
    violations = len(check.report.get("violations") or [])
    schema = f", but {violations} schema violation{'s' * (violations != 1)}" if violations else ""
    count = f"{len(features)} feature{'s' * (len(features) != 1)}"
    return f"no drift in {count}{schema}; {alarm}"
