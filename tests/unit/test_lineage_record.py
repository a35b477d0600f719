"""The lineage record's pure parts: which execution made a package, which object versions
it read, who decided, and a promotion."""

from __future__ import annotations

from datetime import UTC, datetime

from mlops_components.sagemaker.lineage import (
    approval,
    code_hash,
    execution_reference,
    promotion,
    versions_at,
)

START = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
PACKAGE_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn/3"


def at(second: int) -> datetime:
    return START.replace(second=second) if second >= 0 else START.replace(
        minute=59, hour=11, second=60 + second)


def package(url: str = "", **fields) -> dict:
    return {"ModelPackageArn": PACKAGE_ARN, "InferenceSpecification": {
        "Containers": [{"ModelDataUrl": url}]}, **fields}


def test_the_execution_comes_from_generated_by_else_from_the_model_location():
    generated = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/churn-training/execution/abc"

    assert execution_reference(package(MetadataProperties={"GeneratedBy": generated})) == {
        "pipeline": "churn-training", "execution_id": "abc", "arn": generated}
    assert execution_reference(package(
        "s3://b/models/Churn-Training/x1y2/Train/output/model.tar.gz")) == {
        "pipeline": "Churn-Training", "execution_id": "x1y2",
        "arn": "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/churn-training/execution/x1y2"}
    assert execution_reference(package("s3://b/elsewhere/model.tar.gz")) is None


def test_versions_are_the_ones_current_at_the_start():
    entries = [
        {"Key": "raw/a.csv", "VersionId": "a-late", "LastModified": at(5), "Size": 3},
        {"Key": "raw/a.csv", "VersionId": "a-read", "LastModified": at(-5), "Size": 2},
        {"Key": "raw/a.csv", "VersionId": "a-old", "LastModified": at(-30), "Size": 1},
        {"Key": "raw/b.csv", "VersionId": "b1", "LastModified": at(-9)},
        {"Key": "raw/b.csv", "VersionId": "b-gone", "LastModified": at(-3),
         "IsDeleteMarker": True},
        {"Key": "raw/c.csv", "VersionId": "c-new", "LastModified": at(10)},
        {"Key": "raw/d.csv", "VersionId": "d-same-second", "LastModified": at(-1)},
        {"Key": "raw/d.csv", "VersionId": "d-latest", "LastModified": at(-1), "IsLatest": True},
        {"Key": "raw/", "VersionId": "folder", "LastModified": at(-40)},
    ]

    found = versions_at(entries, START, "s3://bucket/raw/")

    assert [(item["uri"], item["version_id"]) for item in found] == [
        ("s3://bucket/raw/a.csv", "a-read"), ("s3://bucket/raw/d.csv", "d-latest")]


def test_approval_says_who_why_and_when_only_once_decided():
    decided = approval({"ModelApprovalStatus": "Approved", "ApprovalDescription": "ok",
                        "LastModifiedTime": "t", "LastModifiedBy": {"IamIdentity": {
                            "Arn": "arn:aws:sts::1:assumed-role/ops/alice"}}})
    pending = approval({"ModelApprovalStatus": "PendingManualApproval",
                        "LastModifiedBy": {"UserProfileName": "bob"}})

    assert decided == {"status": "Approved", "by": "arn:aws:sts::1:assumed-role/ops/alice",
                       "why": "ok", "when": "t"}
    assert pending == {"status": "PendingManualApproval", "by": "", "why": "", "when": ""}


def test_promotion_only_when_recorded():
    assert promotion({"CustomerMetadataProperties": {}}) is None
    assert promotion({"CustomerMetadataProperties": {
        "mlops:promoted-from": "arn:src", "mlops:promoted-at": "2026-12-01T00:00:00Z"}}) == {
        "from": "arn:src", "by": "", "at": "2026-12-01T00:00:00Z", "reason": ""}


def test_the_code_hash_is_the_content_addressed_folder():
    assert code_hash("s3://b/code/churn-training/0123456789abcdef") == "0123456789abcdef"
    assert code_hash("s3://b/code/latest") == ""
