"""DataBucket: the secure defaults, each as a compliant / non-compliant pair where it applies."""

import json

import pulumi
import pytest

from mlops_components import DataBucket, DataBucketArgs, ValidationError
from tests.conftest import only

BUCKET = "aws:s3/bucket:Bucket"


def make(args=None):
    def program():
        bucket = DataBucket("data", args)
        pulumi.export("bucket_name", bucket.bucket_name)
        pulumi.export("arn", bucket.arn)
        pulumi.export("raw_uri", bucket.uri("raw", "2026", "batch.csv"))
    return program


def test_children_are_parented_to_the_component(run_pulumi):
    plan = run_pulumi(make())
    component = only(plan, "mlops:index:DataBucket")
    children = [r for r in plan.resources if r is not component]
    assert len(children) == 8
    assert {r.parent for r in children} == {component.urn}
    assert all(r.name.startswith("data-") for r in children)


def test_public_access_is_blocked_four_ways(run_pulumi):
    block = only(run_pulumi(make()), "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert {key: block.inputs[key] for key in (
        "blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    } == dict.fromkeys(
        ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"),
        True)


def test_versioning_and_owner_enforced(run_pulumi):
    plan = run_pulumi(make())
    versioning = only(plan, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    ownership = only(plan, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert ownership.inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"


SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"


def test_encryption_defaults_to_the_aws_managed_kms_key(run_pulumi):
    rule = only(run_pulumi(make()), SSE).inputs["rules"][0]
    by_default = rule["applyServerSideEncryptionByDefault"]
    assert by_default["sseAlgorithm"] == "aws:kms"
    assert "kmsMasterKeyId" not in by_default  # absent: S3 uses aws/s3
    assert rule["bucketKeyEnabled"] is True


def test_encryption_uses_a_customer_key_when_given(run_pulumi):
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    rule = only(run_pulumi(make(DataBucketArgs(kms_key_arn=key))), SSE).inputs["rules"][0]
    assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] == key


@pytest.mark.parametrize("given_key", [None, "arn:aws:kms:us-east-1:123456789012:key/mine"])
def test_reader_accounts_read_models_and_get_a_key_unless_one_is_given(run_pulumi, given_key):
    """Readers: s3:GetObject under models/ only; aws/s3 cannot be shared across accounts, so
    without a given key the bucket makes its own (the given key's policy is the owner's)."""
    readers = ["444455556666", "111122223333"]
    plan = run_pulumi(make(DataBucketArgs(reader_account_ids=readers, kms_key_arn=given_key)))
    [_, grant] = _policy(plan)["Statement"]
    bucket = plan.outputs["bucket_name"]
    assert grant == {"Sid": "ReaderAccountsReadModels", "Effect": "Allow",
                     "Action": ["s3:GetObject"],
                     "Principal": {"AWS": ["arn:aws:iam::111122223333:root",
                                           "arn:aws:iam::444455556666:root"]},
                     "Resource": [f"arn:aws:s3:::{bucket}/models/*"]}
    keys = plan.of_type("aws:kms/key:Key")
    used = only(plan, SSE).inputs["rules"][0]["applyServerSideEncryptionByDefault"][
        "kmsMasterKeyId"]
    if given_key:
        assert keys == [] and used == given_key
    else:
        [key] = keys
        assert used.startswith("arn:aws:kms:") and key.name == "data-key"


def _policy(plan):
    return json.loads(only(plan, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])


def test_policy_denies_every_request_without_tls(run_pulumi):
    plan = run_pulumi(make())
    (deny,) = _policy(plan)["Statement"]
    bucket_arn = plan.outputs["arn"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert deny["Action"] == ["s3:*"]
    assert deny["Resource"] == [bucket_arn, f"{bucket_arn}/*"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_no_statement_allows_anonymous_access(run_pulumi):
    statements = _policy(run_pulumi(make()))["Statement"]
    assert not [s for s in statements if s["Effect"] == "Allow" and s.get("Principal") == "*"]


def test_lifecycle_expires_capture_and_reports(run_pulumi):
    args = DataBucketArgs(capture_retention_days=7, report_retention_days=30)
    lifecycle = only(run_pulumi(make(args)),
                     "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    rules = {rule["id"]: rule for rule in lifecycle.inputs["rules"]}
    assert rules["expire-capture"]["filter"]["prefix"] == "capture/"
    assert rules["expire-capture"]["expiration"]["days"] == 7
    assert rules["expire-reports"]["filter"]["prefix"] == "reports/"
    assert rules["expire-reports"]["expiration"]["days"] == 30
    assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"][
        "noncurrentDays"] == 30


def lifecycle_gaps(rules):
    """What a versioned bucket's lifecycle leaves growing forever, on some prefix: old
    versions, expired delete markers, incomplete multipart uploads (rules as planned)."""
    everywhere = [rule for rule in rules if rule["status"] == "Enabled"
                  and not rule.get("filter", {}).get("prefix")
                  and not rule.get("filter", {}).get("and")
                  and not rule.get("filter", {}).get("tag")]
    gaps = []
    if not any(rule.get("noncurrentVersionExpiration", {}).get("noncurrentDays")
               for rule in everywhere):
        gaps.append("noncurrent versions never expire on some prefix")
    if not any(rule.get("expiration", {}).get("expiredObjectDeleteMarker")
               for rule in everywhere):
        gaps.append("expired delete markers are never removed on some prefix")
    if not any(rule.get("abortIncompleteMultipartUpload", {}).get("daysAfterInitiation")
               for rule in everywhere):
        gaps.append("incomplete multipart uploads are never aborted on some prefix")
    return gaps


def test_versioned_bucket_cleans_up_old_versions_markers_and_uploads(run_pulumi):
    lifecycle = only(run_pulumi(make()),
                     "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    assert lifecycle_gaps(lifecycle.inputs["rules"]) == []


def test_lifecycle_check_catches_cleanup_on_one_prefix_only_or_not_at_all():
    """The non-compliant half: the same cleanup scoped to capture/, or absent."""
    scoped = [{"id": "capture-only", "status": "Enabled", "filter": {"prefix": "capture/"},
               "noncurrentVersionExpiration": {"noncurrentDays": 30},
               "expiration": {"expiredObjectDeleteMarker": True},
               "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7}}]
    versions_only = [{"id": "versions", "status": "Enabled", "filter": {},
                      "noncurrentVersionExpiration": {"noncurrentDays": 30}}]
    assert len(lifecycle_gaps(scoped)) == 3
    assert lifecycle_gaps(versions_only) == [
        "expired delete markers are never removed on some prefix",
        "incomplete multipart uploads are never aborted on some prefix"]
    disabled = [dict(rule, status="Disabled") for rule in scoped + versions_only]
    assert len(lifecycle_gaps(disabled)) == 3


def test_eventbridge_notifications_are_on(run_pulumi):
    notification = only(run_pulumi(make()), "aws:s3/bucketNotification:BucketNotification")
    assert notification.inputs["eventbridge"] is True


def test_force_destroy_is_off_unless_asked(run_pulumi):
    assert only(run_pulumi(make()), BUCKET).inputs["forceDestroy"] is False
    forced = run_pulumi(make(DataBucketArgs(force_destroy=True)))
    assert only(forced, BUCKET).inputs["forceDestroy"] is True


def test_outputs_name_arn_and_prefix_uris(run_pulumi):
    outputs = run_pulumi(make()).outputs
    assert outputs["arn"] == f"arn:aws:s3:::{outputs['bucket_name']}"
    assert outputs["raw_uri"] == f"s3://{outputs['bucket_name']}/raw/2026/batch.csv"


def test_every_problem_is_reported_at_once_and_nothing_is_created(run_pulumi):
    args = DataBucketArgs(capture_retention_days=0, report_retention_days=5000,
                          kms_key_arn="alias/mine", reader_account_ids=["12345"])
    from mlops_components.plan import mocked_runtime

    with mocked_runtime("mlops", "test") as monitor:
        with pytest.raises(ValidationError) as raised:
            make(args)()
    assert monitor.recorded == []
    problems = raised.value.problems
    assert problems == [
        "DataBucket 'data': capture_retention_days must be between 1 and 3650 (got 0)",
        "DataBucket 'data': report_retention_days must be between 1 and 3650 (got 5000)",
        "DataBucket 'data': kms_key_arn must be a KMS key or alias ARN (got 'alias/mine')",
        "DataBucket 'data': reader_account_ids[0] must be a 12-digit AWS account ID "
        "(got '12345')",
    ]
