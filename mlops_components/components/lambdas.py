"""The stack's Lambda functions (the deployer, the retrain gate, the batch run, the lineage
record) share one runtime, one log retention and one shape: a role that only Lambda, on this
account's behalf, may assume; a log group made before the function, with a retention (Lambda
would create one that keeps logs forever); and code from the function's source file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pulumi
import pulumi_aws as aws

from mlops_components.components.iam import assume_role_policy
from mlops_components.components.tags import child_opts

RUNTIME = "python3.12"
LOG_RETENTION_DAYS = 30


def function_role(name: str, description: str, account_id: pulumi.Input[str],
                  parent: pulumi.Resource, tags: Mapping[str, str]) -> aws.iam.Role:
    """The execution role of a function of `parent`'s (its policy is the caller's)."""
    return aws.iam.Role(
        name, assume_role_policy=assume_role_policy("lambda.amazonaws.com",
                                                    source_account=account_id),
        description=description, tags=dict(tags), opts=child_opts(parent))


def function_logs(name: str, function_name: pulumi.Input[str], parent: pulumi.Resource,
                  tags: Mapping[str, str]) -> aws.cloudwatch.LogGroup:
    """The log group Lambda writes `function_name`'s logs to, kept LOG_RETENTION_DAYS."""
    return aws.cloudwatch.LogGroup(
        name, name=pulumi.Output.concat("/aws/lambda/", function_name),
        retention_in_days=LOG_RETENTION_DAYS, tags=dict(tags), opts=child_opts(parent))


def single_file_code(source: Path) -> pulumi.AssetArchive:
    """A function whose code is one module (boto3 and the standard library only)."""
    return pulumi.AssetArchive({source.name: pulumi.StringAsset(source.read_text())})
