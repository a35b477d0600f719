"""DataBucket: the S3 bucket that holds one model's data, code, models, reports and capture."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from mlops_components.bucket_layout import (
    DEFAULT_BATCH_INPUT_RETENTION_DAYS,
    DEFAULT_BATCH_OUTPUT_RETENTION_DAYS,
    DEFAULT_CAPTURE_RETENTION_DAYS,
    DEFAULT_NONCURRENT_VERSION_RETENTION_DAYS,
    DEFAULT_REPORT_RETENTION_DAYS,
    MAX_RETENTION_DAYS,
    MIN_RETENTION_DAYS,
    PREFIXES,
)
from mlops_components.components.iam import policy_document, statement
from mlops_components.components.inputs import cross_language
from mlops_components.components.tags import child_opts, tags_for
from mlops_components.validation import KMS_KEY_ARN_RE, Problems


@dataclass
class DataBucketArgs:
    """Inputs of a DataBucket."""

    kms_key_arn: pulumi.Input[str] | None = None
    """Customer-managed KMS key ARN for SSE-KMS. Default: the AWS-managed key (aws/s3)."""

    capture_retention_days: int = DEFAULT_CAPTURE_RETENTION_DAYS
    """Days to keep endpoint data capture under capture/. Default: 30 days."""

    report_retention_days: int = DEFAULT_REPORT_RETENTION_DAYS
    """Days to keep monitoring reports under reports/ (the pipeline keeps a model's EDA report
    and evaluation under models/, with the model). Default: 365 days."""

    batch_input_retention_days: int = DEFAULT_BATCH_INPUT_RETENTION_DAYS
    """Days to keep batches to score under batch/input/ (a scheduled batch run scores what
    is there). Default: 7 days."""

    batch_output_retention_days: int = DEFAULT_BATCH_OUTPUT_RETENTION_DAYS
    """Days to keep scored batches under batch/output/. Default: 90 days."""

    noncurrent_version_retention_days: int = DEFAULT_NONCURRENT_VERSION_RETENTION_DAYS
    """Days to keep overwritten or deleted object versions. Default: 30 days."""

    force_destroy: bool = False
    """Let `pulumi destroy` delete a bucket that still holds objects. Default: False."""

    model_name: str | None = None
    """Model this bucket serves, used in tags. Default: none."""

    tags: Mapping[str, str] = field(default_factory=dict)
    """Extra tags for every resource. Default: none."""


@cross_language(DataBucketArgs)
class DataBucket(pulumi.ComponentResource):
    """A private, encrypted, versioned bucket with TLS-only access and EventBridge events on."""

    bucket_name: pulumi.Output[str]
    """The bucket's name."""
    arn: pulumi.Output[str]
    """The bucket's ARN."""
    prefixes: dict[str, str]
    """Well-known key prefixes: raw, processed, code, models, reports, capture, batch_input,
    batch_output."""

    def __init__(self, name: str, args: DataBucketArgs | None = None,
                 opts: pulumi.ResourceOptions | None = None):
        args = args or DataBucketArgs()
        _validate(name, args)
        super().__init__("mlops:index:DataBucket", name, None, opts)
        tags = tags_for(args.model_name, args.tags)

        bucket = aws.s3.Bucket(f"{name}-bucket", force_destroy=args.force_destroy, tags=tags,
                               opts=child_opts(self))
        aws.s3.BucketVersioning(
            f"{name}-versioning", bucket=bucket.id,
            versioning_configuration={"status": "Enabled"}, opts=child_opts(self))
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption", bucket=bucket.id,
            rules=[{
                "apply_server_side_encryption_by_default": {
                    "sse_algorithm": "aws:kms",
                    "kms_master_key_id": args.kms_key_arn,
                },
                "bucket_key_enabled": True,
            }], opts=child_opts(self))
        public_access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block", bucket=bucket.id,
            block_public_acls=True, block_public_policy=True,
            ignore_public_acls=True, restrict_public_buckets=True, opts=child_opts(self))
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership", bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"}, opts=child_opts(self))
        aws.s3.BucketPolicy(
            f"{name}-policy", bucket=bucket.id,
            policy=policy_document([statement(
                "Deny", ["s3:*"], [bucket.arn, bucket.arn.apply(lambda arn: f"{arn}/*")],
                sid="DenyInsecureTransport", principal="*",
                condition={"Bool": {"aws:SecureTransport": "false"}})]),
            # S3 rejects bucket policies while the public access block is being written.
            opts=child_opts(self, depends_on=[public_access_block]))
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle", bucket=bucket.id, rules=_lifecycle_rules(args),
            opts=child_opts(self))
        aws.s3.BucketNotification(
            f"{name}-notifications", bucket=bucket.id, eventbridge=True, opts=child_opts(self))

        self.bucket_name = bucket.bucket
        self.arn = bucket.arn
        self.prefixes = dict(PREFIXES)
        self.register_outputs({"bucket_name": self.bucket_name, "arn": self.arn,
                               "prefixes": self.prefixes})

    def uri(self, prefix: str, *parts: str) -> pulumi.Output[str]:
        """``s3://<bucket>/<prefix>/<parts...>`` for one of the well-known prefixes."""
        key = PREFIXES[prefix] + "/".join(part.strip("/") for part in parts)
        return self.bucket_name.apply(lambda bucket: f"s3://{bucket}/{key}")


def _lifecycle_rules(args: DataBucketArgs) -> list[dict]:
    def expire(rule_id: str, prefix: str, days: int) -> dict:
        return {"id": rule_id, "status": "Enabled", "filter": {"prefix": prefix},
                "expiration": {"days": days}}

    return [
        expire("expire-capture", PREFIXES["capture"], args.capture_retention_days),
        expire("expire-reports", PREFIXES["reports"], args.report_retention_days),
        expire("expire-batch-input", PREFIXES["batch_input"], args.batch_input_retention_days),
        expire("expire-batch-output", PREFIXES["batch_output"],
               args.batch_output_retention_days),
        # Versioning keeps every overwritten or deleted object; on every prefix, old versions
        # expire, and so does a delete marker once no version is left behind it (else each
        # deleted key leaves a marker that S3 lists and bills requests for, forever), and
        # uploads that never completed stop holding storage after a week.
        {"id": "expire-noncurrent-versions", "status": "Enabled", "filter": {},
         "noncurrent_version_expiration": {
             "noncurrent_days": args.noncurrent_version_retention_days},
         "expiration": {"expired_object_delete_marker": True},
         "abort_incomplete_multipart_upload": {"days_after_initiation": 7}},
    ]


def _validate(name: str, args: DataBucketArgs) -> None:
    problems = Problems(f"DataBucket '{name}'")
    for field_name in ("capture_retention_days", "report_retention_days",
                       "batch_input_retention_days", "batch_output_retention_days",
                       "noncurrent_version_retention_days"):
        problems.between(field_name, getattr(args, field_name), MIN_RETENTION_DAYS,
                         MAX_RETENTION_DAYS)
    problems.matches("kms_key_arn", args.kms_key_arn, KMS_KEY_ARN_RE, "a KMS key or alias ARN")
    problems.raise_if_any()
