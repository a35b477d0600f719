"""Run the policy pack's policies on an offline plan, as the policy analyzer would.

The plan's resources become pulumi-policy's own ``ResourceValidationArgs`` and
``PolicyResource`` objects (type, name, URN, inputs, parent, dependencies and property
dependencies), and each policy's ``validate`` runs with the configuration the pack would get
from ``--policy-pack-config``. No Pulumi CLI is involved.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from inspect import isawaitable
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from mlops_components.plan import Plan, RecordedResource
from mlops_components.policy import rules
from mlops_components.policy.policies import (
    KMS_POLICY,
    NETWORK_ISOLATION_POLICY,
    VPC_POLICY,
    build_policies,
)


@dataclass(frozen=True)
class Violation:
    """One policy violation, as `mlops preview` prints it."""

    policy: str
    enforcement: str
    """``mandatory`` or ``advisory``."""
    resource_type: str
    resource_name: str
    urn: str
    message: str

    def line(self) -> str:
        where = f"{self.resource_type} {self.resource_name}" if self.urn else "stack"
        return f"{self.enforcement:<10} {self.policy}  {where}: {self.message}"

    def to_json(self) -> dict[str, str]:
        return asdict(self)


PolicyConfig = Mapping[str, Any]
"""The ``--policy-pack-config`` format: policy name (or ``all``) -> an enforcement level
string, or a mapping of config properties (and optionally ``enforcementLevel``)."""


def stack_policy_config(stack_config: Any) -> dict[str, dict[str, Any]]:
    """The pack configuration a stack's own settings imply (a ``StackConfig``): its opt-out
    of network isolation, its KMS key and its subnets."""
    return {
        NETWORK_ISOLATION_POLICY: {
            rules.ALLOW_NETWORK_ACCESS_KEY: not stack_config.network_isolation},
        KMS_POLICY: {rules.KMS_KEY_ARN_KEY: stack_config.kms_key_arn},
        VPC_POLICY: {rules.SUBNET_IDS_KEY: list(stack_config.subnet_ids)},
    }


def _level(policy: Policy, config: PolicyConfig) -> EnforcementLevel:
    level = policy.enforcement_level or EnforcementLevel.MANDATORY
    for key in ("all", policy.name):
        value = config.get(key)
        if isinstance(value, str):
            level = EnforcementLevel(value)
        elif isinstance(value, Mapping) and "enforcementLevel" in value:
            level = EnforcementLevel(value["enforcementLevel"])
    return level


def _properties(policy: Policy, config: PolicyConfig) -> dict[str, Any]:
    value = config.get(policy.name)
    if not isinstance(value, Mapping):
        return {}
    return {key: item for key, item in value.items() if key != "enforcementLevel"}


def _options(resource: RecordedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None,
                                 aliases=[], custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
                                 additional_secret_outputs=[], parent=resource.parent)


def _stack_resources(plan: Plan) -> list[PolicyResource]:
    resources = {resource.urn: PolicyResource(resource.type, resource.inputs, resource.urn,
                                              resource.name, _options(resource), None, None,
                                              [], {})
                 for resource in plan.resources}
    for recorded in plan.resources:
        resource = resources[recorded.urn]
        resource.parent = resources.get(recorded.parent or "")
        resource.dependencies = [resources[urn] for urn in recorded.dependencies
                                 if urn in resources]
        resource.property_dependencies = {
            key: [resources[urn] for urn in urns if urn in resources]
            for key, urns in recorded.property_dependencies.items()}
    return list(resources.values())


def _run(result: Any) -> None:
    if isawaitable(result):
        asyncio.run(result)


def evaluate_policies(plan: Plan, config: PolicyConfig | None = None,
                      policies: list[Policy] | None = None) -> list[Violation]:
    """Every violation of ``policies`` (default: the whole pack) in ``plan``."""
    config = config or {}
    by_urn = {resource.urn: resource for resource in plan.resources}
    violations: list[Violation] = []
    stack_resources = None
    for policy in policies if policies is not None else build_policies():
        level = _level(policy, config)
        if level == EnforcementLevel.DISABLED:
            continue
        shown = "mandatory" if level != EnforcementLevel.ADVISORY else "advisory"
        properties = _properties(policy, config)

        def report(message: str, urn: str | None = None, *, _policy=policy, _level=shown,
                   _default: RecordedResource | None = None) -> None:
            resource = by_urn.get(urn or "") or _default
            violations.append(Violation(
                policy=_policy.name, enforcement=_level,
                resource_type=resource.type if resource else "",
                resource_name=resource.name if resource else "",
                urn=resource.urn if resource else "", message=message))

        if isinstance(policy, ResourceValidationPolicy):
            for resource in plan.resources:
                args = ResourceValidationArgs(resource.type, resource.inputs, resource.urn,
                                              resource.name, _options(resource), None,
                                              properties)
                _run(policy.validate(args, lambda message, urn=None, _r=resource, _rep=report:
                                     _rep(message, urn, _default=_r)))
        elif isinstance(policy, StackValidationPolicy):
            if stack_resources is None:
                stack_resources = _stack_resources(plan)
            _run(policy.validate(StackValidationArgs(stack_resources, properties), report))
    return violations


def mandatory(violations: list[Violation]) -> list[Violation]:
    return [violation for violation in violations if violation.enforcement == "mandatory"]
