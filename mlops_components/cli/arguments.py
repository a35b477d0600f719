"""Arguments several `mlops` commands share: the stack, the project, the registry."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlops_components.local.commands import DEFAULT_PROJECT_DIR, DEFAULT_STACK, Where


def add_registry_arguments(parser: argparse.ArgumentParser) -> None:
    """The stack's arguments and where the registry is: AWS (region, emulator) or local."""
    add_stack_arguments(parser)
    parser.add_argument("--group", help="model package group (default: the stack's model)")
    parser.add_argument("--local", action="store_true",
                        help="use the local registry that mlops up --local fills")
    parser.add_argument("--workdir", type=Path, metavar="DIR",
                        help="with --local: the local workdir (default: .mlops/<stack>)")
    parser.add_argument("--region", help="AWS region (default: from your AWS configuration)")
    parser.add_argument("--endpoint-url", metavar="URL",
                        help="talk to an emulator (e.g. moto) instead of AWS")


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """Which stack of which Pulumi project a command reads."""
    parser.add_argument("--stack", default=DEFAULT_STACK,
                        help=f"stack whose Pulumi.<stack>.yaml to use (default: {DEFAULT_STACK})")
    parser.add_argument("--project-dir", type=Path, default=DEFAULT_PROJECT_DIR,
                        help="directory with Pulumi.yaml and __main__.py (default: .)")


def where(args: argparse.Namespace, group: str | None = None) -> Where:
    """What a command's arguments point at, for the commands it suggests next."""
    return Where(stack=args.stack, project_dir=args.project_dir,
                 workdir=getattr(args, "workdir", None), group=group)
