"""`mlops schema`: the component package's Pulumi schema, offline (no Pulumi CLI needed)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console

from mlops_components.cli.errors import EXIT_OK, error
from mlops_components.components.package import package_schema


def add_schema_parser(commands: argparse._SubParsersAction) -> None:
    """Register `mlops schema` (called by cli/main.py)."""
    schema = commands.add_parser(
        "schema", help="print the component package's Pulumi schema (what `pulumi package "
                       "get-schema provider/` prints), offline",
        description="Infer the package schema of provider/ exactly as Pulumi's component "
                    "provider host does (every component, its typed inputs and outputs, their "
                    "descriptions) and print it as JSON. No Pulumi CLI, engine or AWS.")
    schema.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="write it to FILE instead of standard output")
    schema.set_defaults(handler=schema_command)


def schema_command(args: argparse.Namespace) -> int:
    text = json.dumps(package_schema(), indent=2, sort_keys=True) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    if args.output.is_dir():
        return error(f"--output {args.output}: is a folder; give a file name such as "
                     "mlops.schema.json")
    try:
        args.output.write_text(text)
    except OSError as problem:
        return error(f"--output {args.output}: cannot write it ({problem.strerror})")
    Console().print(f"package schema written to {args.output}")
    return EXIT_OK
