"""The lineage record's pure parts: which execution made a package, which object versions
it read, who decided, and a promotion."""

from __future__ import annotations

from datetime import UTC, datetime

from mlops_components.sagemaker.lineage import (
    PROMOTED_WITHOUT_LINEAGE,
    approval,
    build_record,
    carried,
    carried_facts,
    carried_manifest,
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


def test_a_promoted_model_location_names_the_source_execution_and_no_guessed_arn():
    """``models/promoted/<group>/<version>/`` (once per promotion) then the source's key: the
    pipeline and execution are the source's, in an account this package may not be in."""
    twice = "s3://prod/models/promoted/churn-staging/2/models/promoted/churn-dev/5/models/" \
            "churn-training/x1y2/Train/output/model.tar.gz"

    assert execution_reference(package(twice)) == {
        "pipeline": "churn-training", "execution_id": "x1y2", "arn": "", "promoted": "yes"}


def test_a_carried_manifest_keeps_the_first_execution_and_appends_each_source():
    """dev -> staging -> prod: the first promotion carries dev's execution and steps; the
    second keeps them and adds the staging package after the dev one."""
    from mlops_components.cli.lineage import chain_lines

    recorded = {"execution_arn": "arn:x", "input_uri": "s3://d/raw/",
                "objects": [{"uri": "s3://d/raw/a.csv", "version_id": "v1"}]}
    execution = {"arn": "arn:aws:sagemaker:eu-west-1:1:pipeline/p/execution/e", "id": "e",
                 "pipeline": "p", "status": "Succeeded"}
    steps = [{"StepName": "QualityGate", "Metadata": {"Condition": {"Outcome": "True"}}}]
    dev = package(ModelPackageArn="arn:dev/1", ModelApprovalStatus="Approved")
    staging = package(ModelPackageArn="arn:staging/1", ModelApprovalStatus="Approved",
                      ApprovalDescription="soak ok", LastModifiedTime="t",
                      CustomerMetadataProperties={"mlops:promoted-from": "arn:dev/1"})

    first = carried_manifest(dev, recorded, manifest_uri="s3://d/m.json",
                             execution=execution, steps=steps,
                             data={"objects": [{"uri": "s3://d/raw/a.csv", "version_id": "v1",
                                                "source": "a.csv"}], "version_ids": "recorded"})
    second = carried_manifest(staging, first, manifest_uri="s3://s/lineage.json",
                              execution={"arn": "ignored"}, steps=[], data={})

    assert carried(first) and carried(second) and not carried(recorded)
    assert second["execution"] == execution and second["steps"] == steps
    assert second["objects"][0]["source"] == "a.csv" and second["execution_arn"] == "arn:x"
    assert [entry["arn"] for entry in second["packages"]] == ["arn:dev/1", "arn:staging/1"]
    assert second["packages"][1]["promotion"]["from"] == "arn:dev/1"
    assert second["copied_from"] == "s3://s/lineage.json"
    facts = carried_facts(second, "s3://p/lineage.json")
    record = build_record(package("s3://p/models/promoted/x/1/models/p/e/model.tar.gz"),
                          where="test", execution=facts["execution"], steps=facts["steps"],
                          data=facts["data"], metrics={}, endpoint={"line": "none"},
                          earlier=facts["earlier"])
    text = "\n".join(chain_lines(record))
    assert "s3://d/raw/a.csv version v1" in text and "quality gate passed" in text
    assert "approval: Approved by unknown at t: soak ok" in text
    assert "promoted from arn:dev/1" in text and " ?" not in text


def test_a_package_promoted_without_its_lineage_says_what_is_known_and_why():
    from mlops_components.cli.lineage import chain_lines
    from mlops_components.sagemaker.lineage import promoted_execution

    legacy = package("s3://s/models/promoted/churn-dev/5/models/churn-training/x1y2/m.tgz")
    record = build_record(legacy, where="test",
                          execution=promoted_execution(execution_reference(legacy)),
                          steps=[], data={"objects": []}, metrics={}, endpoint={"line": ""})
    text = "\n".join(chain_lines(record))

    assert "execution x1y2 of pipeline churn-training (ran in the source stage" in text
    assert PROMOTED_WITHOUT_LINEAGE in text and "pipeline/promoted" not in text
    assert "known only in the source stage" in text
    assert "quality gate outcome not recorded (the execution's steps are not known here)" \
        in text and " ?" not in text


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
