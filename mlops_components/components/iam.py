"""IAM policy document builders: plain dicts in, JSON out, Outputs allowed anywhere inside."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi


def statement(
    effect: str,
    actions: Sequence[str],
    resources: Sequence[pulumi.Input[str]] | None = None,
    *,
    sid: str | None = None,
    principal: Mapping[str, Any] | str | None = None,
    condition: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One policy statement; Outputs may appear in resources, principal and condition."""
    stmt: dict[str, Any] = {"Effect": effect, "Action": sorted(actions)}
    if sid:
        stmt["Sid"] = sid
    if resources is not None:
        stmt["Resource"] = list(resources)
    if principal is not None:
        stmt["Principal"] = principal
    if condition:
        stmt["Condition"] = condition
    return stmt


def document(statements: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A policy document of plain statements."""
    return {"Version": "2012-10-17", "Statement": list(statements)}


def policy_document(statements: Sequence[Mapping[str, Any]]) -> pulumi.Output[str]:
    """A policy document as a JSON string Output (resolves any Outputs inside)."""
    return pulumi.Output.json_dumps(document(statements))


def assume_role_policy(service: str, *, source_account: pulumi.Input[str] | None = None
                       ) -> pulumi.Output[str]:
    """Trust policy for an AWS service principal, scoped to this account when given."""
    condition = {"StringEquals": {"aws:SourceAccount": source_account}} if source_account else None
    return policy_document([statement("Allow", ["sts:AssumeRole"], None,
                                      principal={"Service": service}, condition=condition)])
