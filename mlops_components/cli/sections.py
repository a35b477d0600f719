"""The sections `mlops preview` shows after the plan: the policy pack's results and the
monthly cost, each printed and put under its key in ``--json``."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape

from mlops_components.config import parse_config
from mlops_components.plan import Plan
from mlops_components.project import load_project


@dataclass
class PreviewSection:
    """One section: its console lines, its key and value in ``--json``, and whether it
    fails the preview (exit status 1)."""

    title: str
    key: str
    data: Any
    lines: list[str] = field(default_factory=list)
    failed: bool = False
    renderable: Any = None
    """A rich renderable printed after the lines (the cost table), or None."""

    def print(self, console: Console) -> None:
        console.print(f"\n[bold]{escape(self.title)}[/bold]")
        for line in self.lines:
            console.print(escape(line), soft_wrap=True, highlight=False)
        if self.renderable is not None:
            console.print(self.renderable)


def preview_sections(args: argparse.Namespace, plan: Plan) -> list[PreviewSection]:
    sections = []
    if not args.no_policy:
        sections.append(policy_section(args, plan))
    sections.append(cost_section(plan))
    return sections


def cost_section(plan: Plan) -> PreviewSection:
    """The monthly cost by component at the default usage (`mlops cost` has the details);
    a stack its estimate cannot read still previews, with a note and no ``cost`` key."""
    from mlops_components.cli.cost import preview_cost

    renderable, data = preview_cost(plan)
    return PreviewSection(title="Cost a month (default usage; `mlops cost` shows each resource "
                                "and the assumptions)", key="cost", data=data,
                          renderable=renderable)


def policy_section(args: argparse.Namespace, plan: Plan) -> PreviewSection:
    """The policy pack run offline on the plan, configured from the stack's own settings."""
    from mlops_components.policy.offline import (
        evaluate_policies,
        mandatory,
        stack_policy_config,
    )
    from mlops_components.policy.policies import POLICY_PACK_NAME

    project = load_project(args.project_dir)
    stack_config = parse_config(project.stack_config(args.stack), project=project.name)
    violations = evaluate_policies(plan, stack_policy_config(stack_config))
    blocking = mandatory(violations)
    summary = (f"{len(blocking)} mandatory, {len(violations) - len(blocking)} advisory "
               f"violation(s) of policy pack {POLICY_PACK_NAME}")
    lines = [violation.line() for violation in violations] + [summary]
    return PreviewSection(
        title="Policy pack", key="policy", failed=bool(blocking), lines=lines,
        data={"pack": POLICY_PACK_NAME, "mandatory": len(blocking),
              "advisory": len(violations) - len(blocking),
              "violations": [violation.to_json() for violation in violations]})
