"""MlopsStack: the whole lifecycle for one model, composed from one typed config."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi

from mlops_components.config import StackConfig
from mlops_components.data_bucket import DataBucket, DataBucketArgs
from mlops_components.enums import ProblemType
from mlops_components.model_registry import ModelRegistry, ModelRegistryArgs
from mlops_components.naming import child_opts
from mlops_components.validation import SAGEMAKER_NAME_RE, Problems


@dataclass
class MlopsStackArgs:
    """Inputs of an MlopsStack."""

    problem_type: ProblemType = ProblemType.CLASSIFICATION
    """What the model predicts. Default: classification."""

    target_column: str = "target"
    """Column of the training data to predict. Default: "target"."""

    bucket: DataBucketArgs = field(default_factory=DataBucketArgs)
    """Settings of the data bucket. Default: DataBucketArgs() (secure defaults)."""

    reader_account_ids: Sequence[str] = field(default_factory=list)
    """Other AWS accounts allowed to read approved model packages. Default: none."""

    tags: Mapping[str, str] = field(default_factory=dict)
    """Extra tags for every resource. Default: none."""

    @classmethod
    def from_config(cls, config: StackConfig) -> MlopsStackArgs:
        """The stack arguments a Pulumi stack's config describes."""
        return cls(
            problem_type=config.problem_type,
            target_column=config.target_column,
            bucket=DataBucketArgs(
                kms_key_arn=config.kms_key_arn or None,
                capture_retention_days=config.capture_retention_days,
                report_retention_days=config.report_retention_days,
                force_destroy=config.force_destroy,
            ),
            reader_account_ids=list(config.reader_account_ids),
            tags=config.tags,
        )


class MlopsStack(pulumi.ComponentResource):
    """Data bucket and model registry for one model (later stages join as they land)."""

    bucket_name: pulumi.Output[str]
    """Name of the data bucket."""
    bucket_arn: pulumi.Output[str]
    """ARN of the data bucket."""
    model_package_group_name: pulumi.Output[str]
    """Name of the model package group."""
    model_package_group_arn: pulumi.Output[str]
    """ARN of the model package group."""
    approval_event_pattern: pulumi.Output[str]
    """EventBridge pattern (JSON) for approvals in this model's group."""

    def __init__(self, name: str, args: MlopsStackArgs | None = None,
                 opts: pulumi.ResourceOptions | None = None):
        args = args or MlopsStackArgs()
        _validate(name, args)
        super().__init__("mlops:index:MlopsStack", name, None, opts)
        bucket_args = dataclasses.replace(args.bucket,
                                          model_name=args.bucket.model_name or name,
                                          tags={**args.tags, **args.bucket.tags})

        self.data = DataBucket(f"{name}-data", bucket_args, opts=child_opts(self))
        self.registry = ModelRegistry(
            f"{name}-registry",
            ModelRegistryArgs(model_package_group_name=name,
                              reader_account_ids=list(args.reader_account_ids), tags=args.tags),
            opts=child_opts(self))

        self.bucket_name = self.data.bucket_name
        self.bucket_arn = self.data.arn
        self.model_package_group_name = self.registry.model_package_group_name
        self.model_package_group_arn = self.registry.arn
        self.approval_event_pattern = self.registry.approval_event_pattern
        self.register_outputs({
            "bucket_name": self.bucket_name,
            "bucket_arn": self.bucket_arn,
            "model_package_group_name": self.model_package_group_name,
            "model_package_group_arn": self.model_package_group_arn,
            "approval_event_pattern": self.approval_event_pattern,
        })


def _validate(name: str, args: MlopsStackArgs) -> None:
    problems = Problems(f"MlopsStack '{name}'")
    problems.matches("name", name, SAGEMAKER_NAME_RE,
                     "1-63 letters, digits and hyphens, starting with a letter or digit")
    problems.one_of("problem_type", args.problem_type, ProblemType)
    problems.check(bool(str(args.target_column).strip()), "target_column", "must not be empty",
                   args.target_column)
    problems.raise_if_any()
