"""`mlops cost`: what a stack would cost a month, per resource, with the assumptions.

The stack is planned offline (as `mlops preview` plans it) and priced by
:mod:`mlops_components.cost`; `mlops preview` prints the per-component summary of the same
estimate.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.table import Table

from mlops_components.cli.arguments import add_stack_arguments
from mlops_components.cli.errors import EXIT_OK, error, warning
from mlops_components.cost import (
    CostError,
    Estimate,
    Usage,
    estimate,
    load_usage,
    usage_from_mapping,
)
from mlops_components.plan import Plan, plan_stack


def add_cost_parser(commands: argparse._SubParsersAction) -> None:
    """Register `mlops cost` (called by cli/main.py)."""
    cost = commands.add_parser(
        "cost", help="monthly cost of a stack per resource, from the offline plan and the "
                     "price table in the repo",
        description="Plan the stack offline and price every resource for a month: usage from "
                    "the stack's config (schedules, instance types and counts, tuning jobs, "
                    "autoscaling floor, spot), assumptions printed with the numbers, list "
                    "prices from mlops_components/prices/<region>.yaml.")
    add_stack_arguments(cost)
    cost.add_argument("--requests-per-day", type=float, metavar="N",
                      help=f"inference requests a day (default: {Usage.requests_per_day:g})")
    cost.add_argument("--runs-per-month", type=float, metavar="N",
                      help="training pipeline runs a month (default: its retrain schedule "
                           f"plus {Usage.event_retrains_per_month:g} started by events)")
    cost.add_argument("--usage", type=Path, metavar="FILE.yaml",
                      help="usage assumptions to override (any field of the Usage printed "
                           "in --json's \"usage\"), e.g. job_minutes: {Train: 30}")
    cost.add_argument("--json", type=Path, metavar="OUT",
                      help="also write each resource's monthly cost and total_monthly_usd")
    cost.set_defaults(handler=cost_command)


def usage_from_args(args: argparse.Namespace) -> Usage:
    usage = load_usage(args.usage) if args.usage else Usage()
    flags = {name: value for name, value in (("requests_per_day", args.requests_per_day),
                                             ("runs_per_month", args.runs_per_month))
             if value is not None}
    for name, value in flags.items():
        usage = usage_from_mapping({name: value}, f"--{name.replace('_', '-')}", usage)
    return usage


def cost_command(args: argparse.Namespace) -> int:
    if args.json and args.json.is_dir():
        return error(f"--json {args.json}: is a folder; give a file name such as cost.json")
    if args.json and not args.json.parent.is_dir():
        return error(f"--json {args.json}: folder {args.json.parent} does not exist")
    try:
        usage = usage_from_args(args)
        plan = plan_stack(args.project_dir, args.stack)
        full, idle = estimate(plan, usage), estimate(plan, usage.idle())
    except CostError as problem:
        return error(str(problem))
    console = Console()
    console.print(render_estimate(full, idle))
    for type_token in full.unpriced:
        warning(f"no price for resource type {type_token}: not counted")
    if args.json:
        try:
            args.json.write_text(json.dumps(full.to_json(idle), indent=2) + "\n")
        except OSError as problem:
            return error(f"--json {args.json}: cannot write it ({problem.strerror})")
        console.print(f"cost written to {args.json}")
    return EXIT_OK


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def render_estimate(full: Estimate, idle: Estimate) -> Group:
    """Every priced resource by component, the free ones counted, totals and assumptions."""
    table = Table(title=f"monthly cost of stack {full.stack} ({full.prices['region']}, "
                        "on-demand list prices, USD)", title_justify="left", show_lines=False)
    table.add_column("component")
    table.add_column("resource")
    table.add_column("$/month", justify="right")
    table.add_column("how", overflow="fold")
    for line in sorted((line for line in full.lines if not line.free),
                       key=lambda line: (line.component, -line.monthly_usd)):
        table.add_row(line.component, line.resource, _usd(line.monthly_usd), line.basis)
    free = [line for line in full.lines if line.free]
    kinds = sorted({line.type.split("/")[-1].split(":")[-1] for line in free})
    table.add_row("", f"{len(free)} more", _usd(0), "no charge: " + ", ".join(kinds))
    return Group(table, *_summary_lines(full, idle), "assumptions:",
                 *(f"  {text}" for text in full.assumptions),
                 f"prices: {full.prices['file']} (checked {full.prices['checked']}; each "
                 "price names its source page; some are marked unconfirmed)")


def _summary_lines(full: Estimate, idle: Estimate) -> list[str]:
    lines = [f"[bold]total: {_usd(full.total)} a month[/bold]; idle (no requests, no "
             f"event-driven retrains): {_usd(idle.total)}"]
    biggest = full.biggest
    if biggest is not None and full.total > 0:
        lines.append(f"biggest line: {biggest.resource} {_usd(biggest.monthly_usd)} "
                     f"({biggest.monthly_usd / full.total:.0%} of the total): {biggest.basis}")
    return lines


def preview_cost(plan: Plan) -> tuple[Any, dict[str, Any] | None]:
    """`mlops preview`'s cost: per-component subtotals (a renderable) and the JSON, or a
    one-line note and None when the stack cannot be priced."""
    try:
        usage = Usage()
        full, idle = estimate(plan, usage), estimate(plan, usage.idle())
    except (CostError, LookupError, ValueError, TypeError) as problem:
        # The plan is the product of `mlops preview`: a stack its estimate cannot read (a
        # raw resource of an unexpected shape) still previews, and says so.
        return f"cost: not estimated ({type(problem).__name__}: {problem})", None
    by_component: dict[str, float] = defaultdict(float)
    for line in full.lines:
        by_component[line.component or "(stack)"] += line.monthly_usd
    table = Table()
    table.add_column("component")
    table.add_column("$/month", justify="right")
    for component, total in sorted(by_component.items(), key=lambda item: -item[1]):
        table.add_row(component, _usd(total))
    return Group(table, *_summary_lines(full, idle)), full.to_json(idle)
