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


#: What a SageMaker job needs to put its network interfaces in the caller's VPC (EC2 offers no
#: resource-level permission for these, hence "*").
VPC_JOB_ACTIONS = ("ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission",
                   "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission",
                   "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs",
                   "ec2:DescribeDhcpOptions", "ec2:DescribeSubnets",
                   "ec2:DescribeSecurityGroups")


def job_key_and_network_statements(kms_key_arn: str | None, in_vpc: bool) -> list[dict[str, Any]]:
    """The statements a job role gets only when configured: its KMS key, and VPC networking."""
    statements = []
    if kms_key_arn:
        statements.append(statement("Allow", ["kms:Decrypt", "kms:GenerateDataKey",
                                              "kms:CreateGrant", "kms:DescribeKey"],
                                    [kms_key_arn], sid="UseKmsKey"))
    if in_vpc:
        statements.append(statement("Allow", list(VPC_JOB_ACTIONS), ["*"], sid="RunJobsInVpc"))
    return statements
