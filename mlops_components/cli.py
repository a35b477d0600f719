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

from mlops_components.preview import Plan, plan_stack
from mlops_components.project import ProjectError
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlops", description=__doc__)
    commands = parser.add_subparsers(title="commands")

    preview = commands.add_parser(
        "preview", help="the offline plan: resources and outputs, no cloud needed")
    _add_stack_arguments(preview)
    preview.add_argument("--json", type=Path, metavar="FILE",
                         help="also write the plan, with every input resolved, as JSON")
    preview.set_defaults(handler=_preview)
    return parser


def _add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", default=DEFAULT_STACK,
                        help=f"stack whose Pulumi.<stack>.yaml to use (default: {DEFAULT_STACK})")
    parser.add_argument("--project-dir", type=Path, default=Path("."),
                        help="directory with Pulumi.yaml and __main__.py (default: .)")


def _preview(args: argparse.Namespace) -> int:
    console = Console()
    try:
        plan = plan_stack(args.project_dir, args.stack)
    except (ProjectError, ValidationError) as error:
        for line in str(error).splitlines():
            Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {line}", highlight=False)
        return EXIT_INVALID
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


if __name__ == "__main__":
    sys.exit(main())
