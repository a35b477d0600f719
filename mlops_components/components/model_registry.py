"""ModelRegistry: the model package group, cross-account read access and the approval event."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from mlops_components.components.iam import policy_document, statement
from mlops_components.components.inputs import cross_language
from mlops_components.components.tags import child_opts, tags_for
from mlops_components.validation import SAGEMAKER_NAME_RE, Problems

#: Read-only actions granted to reader accounts: find and describe packages. Deploying one in
#: another account also needs read access to its artifacts in the bucket (and KMS key).
READER_ACTIONS = (
    "sagemaker:DescribeModelPackage",
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:ListModelPackages",
)


def approval_event_pattern(model_package_group_name: str) -> dict:
    """EventBridge pattern for "a package of this group is Approved and Completed".

    ``ModelPackageStatus: Completed``: a package still being created (or whose creation
    failed) must not deploy, even if it is already marked Approved.
    """
    return {
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
    """Other AWS accounts allowed to read (and so deploy) packages. Default: none."""

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

        self.model_package_group_name = group.model_package_group_name
        self.arn = group.arn
        self.approval_event_pattern = group.model_package_group_name.apply(
            lambda group_name: json.dumps(approval_event_pattern(group_name), sort_keys=True))
        self.register_outputs({
            "model_package_group_name": self.model_package_group_name,
            "arn": self.arn,
            "approval_event_pattern": self.approval_event_pattern,
        })


def _account_principals(group_arn: str, account_ids: Sequence[str]) -> dict:
    partition = group_arn.split(":")[1]  # aws, aws-cn or aws-us-gov
    return {"AWS": [f"arn:{partition}:iam::{account}:root" for account in sorted(account_ids)]}


def _validate(name: str, group_name: str, args: ModelRegistryArgs) -> None:
    problems = Problems(f"ModelRegistry '{name}'")
    problems.matches("model_package_group_name", group_name, SAGEMAKER_NAME_RE,
                     "1-63 letters, digits and hyphens, starting with a letter or digit")
    problems.account_ids("reader_account_ids", args.reader_account_ids)
    problems.raise_if_any()
