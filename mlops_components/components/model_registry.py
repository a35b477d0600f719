"""ModelRegistry: the model package group, cross-account read access and the approval event."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from mlops_components.components.event_delivery import (
    allow_dead_letters,
    dead_letter_queue,
    delivery,
)
from mlops_components.components.iam import (
    assume_role_policy,
    document,
    policy_document,
    statement,
)
from mlops_components.components.inputs import cross_language
from mlops_components.components.tags import child_opts, tags_for
from mlops_components.validation import MODEL_PACKAGE_GROUP_ARN_RE, SAGEMAKER_NAME_RE, Problems

#: Read-only actions granted to reader accounts: find and describe packages. Deploying one in
#: another account also needs read access to its artifacts in the bucket (and KMS key).
READER_ACTIONS = (
    "sagemaker:DescribeModelPackage",
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:ListModelPackages",
)

#: Forwarding approvals to reader accounts: EventBridge retries a failed delivery for a day,
#: then the event lands in the dead-letter queue (kept 14 days).
FORWARD_RETRY_ATTEMPTS = 24
FORWARD_MAX_EVENT_AGE_SECONDS = 24 * 3600
#: The one action the forwarding role has, on the reader accounts' default buses only.
FORWARD_ACTIONS = ("events:PutEvents",)


def default_bus_arn(partition: str, region: str, account: str) -> str:
    """The default event bus of ``account`` in ``region`` (where forwarded approvals go)."""
    return f"arn:{partition}:events:{region}:{account}:event-bus/default"


def group_arn_parts(group: str) -> tuple[str, str, str, str] | None:
    """(partition, region, account, name) of a model package group ARN; None for a name."""
    match = MODEL_PACKAGE_GROUP_ARN_RE.match(group)
    if not match:
        return None
    _, partition, _, region, account, resource = group.split(":", 5)
    return partition, region, account, resource.split("/", 1)[1]


def approval_event_pattern(model_package_group_name: str, account: str | None = None) -> dict:
    """EventBridge pattern for "a package of this group is Approved and Completed".

    ``ModelPackageStatus: Completed``: a package still being created (or whose creation
    failed) must not deploy, even if it is already marked Approved. With ``account`` (a
    deployment account watching the registry's group), only events that account emitted
    match: forwarded events keep their source account, and a group of the same name in the
    deployment account itself must not deploy.
    """
    pattern = {} if account is None else {"account": [account]}
    return pattern | {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {
            "ModelPackageGroupName": [model_package_group_name],
            "ModelApprovalStatus": ["Approved"],
            "ModelPackageStatus": ["Completed"],
        },
    }


@dataclass
class ModelRegistryArgs:
    """Inputs of a ModelRegistry."""

    model_package_group_name: str | None = None
    """Name of the model package group. Default: the component's name."""

    description: str | None = None
    """Description shown in SageMaker Studio. Default: "Model packages for <name>"."""

    reader_account_ids: Sequence[str] = field(default_factory=list)
    """Other AWS accounts allowed to read (and so deploy) packages: the group's resource
    policy lets them describe and list its packages, and each approval event of the group
    is forwarded to their default event bus in this region (their stacks' deployers deploy
    on it). Default: none."""

    tags: Mapping[str, str] = field(default_factory=dict)
    """Extra tags for every resource. Default: none."""


@cross_language(ModelRegistryArgs)
class ModelRegistry(pulumi.ComponentResource):
    """A SageMaker model package group and the event that says a package was approved."""

    model_package_group_name: pulumi.Output[str]
    """The model package group's name."""
    arn: pulumi.Output[str]
    """The model package group's ARN."""
    approval_event_pattern: pulumi.Output[str]
    """EventBridge pattern (JSON) matching approvals in this group only."""

    def __init__(self, name: str, args: ModelRegistryArgs | None = None,
                 opts: pulumi.ResourceOptions | None = None):
        args = args or ModelRegistryArgs()
        group_name = args.model_package_group_name or name
        _validate(name, group_name, args)
        super().__init__("mlops:index:ModelRegistry", name, None, opts)

        group = aws.sagemaker.ModelPackageGroup(
            f"{name}-group",
            model_package_group_name=group_name,
            model_package_group_description=args.description or f"Model packages for {name}",
            tags=tags_for(group_name, args.tags),
            opts=child_opts(self))

        if args.reader_account_ids:
            package_arns = group.arn.apply(
                lambda arn: arn.replace(":model-package-group/", ":model-package/") + "/*")
            aws.sagemaker.ModelPackageGroupPolicy(
                f"{name}-reader-policy",
                model_package_group_name=group.model_package_group_name,
                resource_policy=policy_document([statement(
                    "Allow", READER_ACTIONS, [group.arn, package_arns],
                    sid="ReaderAccounts",
                    principal=group.arn.apply(
                        lambda arn: _account_principals(arn, args.reader_account_ids)))]),
                opts=child_opts(self))

        if args.reader_account_ids:
            self._forward_approvals(name, group, args)

        self.model_package_group_name = group.model_package_group_name
        self.arn = group.arn
        self.approval_event_pattern = group.model_package_group_name.apply(
            lambda group_name: json.dumps(approval_event_pattern(group_name), sort_keys=True))
        self.register_outputs({
            "model_package_group_name": self.model_package_group_name,
            "arn": self.arn,
            "approval_event_pattern": self.approval_event_pattern,
        })

    def _forward_approvals(self, name: str, group: aws.sagemaker.ModelPackageGroup,
                           args: ModelRegistryArgs) -> None:
        """An EventBridge rule on this group's approvals whose targets are the reader
        accounts' default buses, through a role allowed to put events on those buses only;
        undeliverable events go to a dead-letter queue."""
        tags = tags_for(group.model_package_group_name, args.tags)
        # the group's ARN holds the partition, region and account of the registry
        parts = group.arn.apply(lambda arn: arn.split(":"))
        buses = parts.apply(lambda p: [default_bus_arn(p[1], p[3], account)
                                       for account in sorted(args.reader_account_ids)])
        dlq = dead_letter_queue(f"{name}-forward-dlq", self, tags)
        role = aws.iam.Role(
            f"{name}-forward-role",
            assume_role_policy=assume_role_policy("events.amazonaws.com",
                                                  source_account=parts.apply(lambda p: p[4])),
            description="Forwards approvals of the model package group to the reader accounts",
            tags=tags, opts=child_opts(self))
        aws.iam.RolePolicy(
            f"{name}-forward-role-policy", role=role.id,
            policy=buses.apply(lambda arns: json.dumps(forward_policy(arns), sort_keys=True)),
            opts=child_opts(self))
        rule = aws.cloudwatch.EventRule(
            f"{name}-forward-rule",
            event_pattern=group.model_package_group_name.apply(
                lambda g: json.dumps(approval_event_pattern(g), sort_keys=True)),
            description="Approvals of the model package group -> the reader accounts' buses",
            tags=tags, opts=child_opts(self))
        for account in sorted(args.reader_account_ids):
            aws.cloudwatch.EventTarget(
                f"{name}-forward-{account}", rule=rule.name, role_arn=role.arn,
                arn=parts.apply(lambda p, a=account: default_bus_arn(p[1], p[3], a)),
                **delivery(dlq, FORWARD_RETRY_ATTEMPTS, FORWARD_MAX_EVENT_AGE_SECONDS),
                opts=child_opts(self))
        allow_dead_letters(f"{name}-forward-dlq-policy", self, dlq, [rule])


def forward_policy(bus_arns: Sequence[str]) -> dict:
    """The forwarding role's policy: events:PutEvents on exactly the reader accounts' buses."""
    return document([statement("Allow", list(FORWARD_ACTIONS), list(bus_arns),
                               sid="PutOnReaderAccountBuses")])


def _account_principals(group_arn: str, account_ids: Sequence[str]) -> dict:
    partition = group_arn.split(":")[1]  # aws, aws-cn or aws-us-gov
    return {"AWS": [f"arn:{partition}:iam::{account}:root" for account in sorted(account_ids)]}


def _validate(name: str, group_name: str, args: ModelRegistryArgs) -> None:
    problems = Problems(f"ModelRegistry '{name}'")
    problems.matches("model_package_group_name", group_name, SAGEMAKER_NAME_RE,
                     "1-63 letters, digits and hyphens, starting with a letter or digit")
    problems.account_ids("reader_account_ids", args.reader_account_ids)
    problems.raise_if_any()
