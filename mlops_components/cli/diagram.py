"""`mlops diagram`: a picture of a stack's components, resources and event flows (Graphviz)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from mlops_components.cli.arguments import add_stack_arguments
from mlops_components.cli.errors import EXIT_OK, error
from mlops_components.diagram import FORMATS, DiagramError, check_output, render
from mlops_components.plan import plan_stack


def add_diagram_parser(commands: argparse._SubParsersAction) -> None:
    """Register `mlops diagram` (called by cli/main.py)."""
    diagram = commands.add_parser(
        "diagram", help="draw the stack: components, resources and the event flows between "
                        "them, from the offline plan (Graphviz)",
        description="Plan the stack offline and draw it with Graphviz: a cluster per "
                    "component, its resources, and every flow the plan declares (approval -> "
                    "deploy; schedule -> drift check -> alarm -> retrain; new data -> gate -> "
                    "retrain). Needs Graphviz's `dot` except for .dot output.")
    add_stack_arguments(diagram)
    diagram.add_argument("-o", "--output", type=Path, metavar="FILE",
                         help=f"where to draw it; the format is the suffix "
                              f"({', '.join('.' + f for f in FORMATS)}; default: "
                              "<stack>-stack.svg)")
    diagram.set_defaults(handler=diagram_command)


def diagram_command(args: argparse.Namespace) -> int:
    output = args.output or Path(f"{args.stack}-stack.svg")
    try:
        check_output(output)  # before the plan: a bad -o or no `dot` is said at once
        plan = plan_stack(args.project_dir, args.stack)
        written = render(plan, output)
    except DiagramError as problem:
        return error(str(problem))
    Console().print(f"stack {args.stack} drawn to {written} ({len(plan.resources)} resources)")
    return EXIT_OK
