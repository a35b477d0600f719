"""The RecordLineage Lambda (functions/lineage_record.py) on a versioned bucket (moto): the
manifest names each input object's current version, and its role allows exactly the calls
its code makes (and nothing beyond the pipeline's input and models prefixes)."""

from __future__ import annotations

import fnmatch
import json
import uuid

import pytest

from mlops_components.functions import lineage_record
from tests.integration.test_batch_run_function import RUNTIME_ACTIONS

#: API operation -> the IAM action it needs, where the two names differ.
IAM_ACTIONS = {"s3:ListObjectVersions": "s3:ListBucketVersions"}


@pytest.fixture
def versioned(aws_client):
    s3 = aws_client("s3")
    calls: list[tuple[str, dict]] = []
    s3.meta.events.register_first("before-call.s3.*", lambda model, params, **_: calls.append(
        (IAM_ACTIONS.get(f"s3:{model.name}", f"s3:{model.name}"), params)))
    bucket = f"data-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="raw/a.csv", Body=b"x,y\n1,2\n")
    current = s3.put_object(Bucket=bucket, Key="raw/a.csv", Body=b"x,y\n1,2\n3,4\n")
    s3.put_object(Bucket=bucket, Key="raw/gone.csv", Body=b"x\n")
    s3.delete_object(Bucket=bucket, Key="raw/gone.csv")
    s3.put_object(Bucket=bucket, Key="raw/sub/b.csv", Body=b"x,y\n5,6\n")
    s3.put_object(Bucket=bucket, Key="processed/c.csv", Body=b"not input\n")
    calls.clear()
    return s3, bucket, current["VersionId"], calls


def test_the_manifest_names_each_current_object_and_its_version(versioned):
    s3, bucket, current, _ = versioned
    manifest_uri = f"s3://{bucket}/models/churn-training/exec-1/lineage/lineage.json"
    arn = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/churn-training/execution/exec-1"

    outputs = lineage_record.record({"input_uri": f"s3://{bucket}/raw/",
                                     "manifest_uri": manifest_uri, "execution_arn": arn},
                                    lineage_record.Clients(s3=s3))

    assert outputs == {"manifest_uri": manifest_uri, "objects": "2"}
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=manifest_uri.split("/", 3)[3])[
        "Body"].read())
    assert manifest["execution_arn"] == arn
    assert [(item["uri"], item["bytes"]) for item in manifest["objects"]] == [
        (f"s3://{bucket}/raw/a.csv", 12), (f"s3://{bucket}/raw/sub/b.csv", 8)]
    assert manifest["objects"][0]["version_id"] == current


def test_the_role_allows_exactly_what_the_code_calls_where_it_calls_it(versioned):
    from mlops_components.plan import evaluate
    from tests.unit.test_training_pipeline import ROLE_POLICY, make

    s3, bucket, _, calls = versioned
    lineage_record.record({"input_uri": f"s3://{bucket}/raw/",
                           "manifest_uri": f"s3://{bucket}/models/churn-training/e/lineage/"
                                           "lineage.json"}, lineage_record.Clients(s3=s3))
    plan = evaluate(make(), project="mlops", stack="test")
    (policy,) = [json.loads(r.inputs["policy"])["Statement"] for r in plan.of_type(ROLE_POLICY)
                 if r.name.endswith("-lineage-policy")]
    planned = {action for statement in policy for action in statement["Action"]}
    called = {action for action, _ in calls}
    assert planned - RUNTIME_ACTIONS == called, (
        f"missing: {sorted(called - planned)}; never called: "
        f"{sorted(planned - RUNTIME_ACTIONS - called)}")
    granted = {action: statement for statement in policy for action in statement["Action"]}
    # where: the stack bucket's raw/ prefix is listed, the manifest goes under models/<pipeline>/
    listing = granted["s3:ListBucketVersions"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["raw/*"]}}
    (put,) = granted["s3:PutObject"]["Resource"]
    assert fnmatch.fnmatchcase("arn:aws:s3:::stack-bucket/models/churn-training/e/lineage/"
                               "lineage.json", put)
    assert not fnmatch.fnmatchcase("arn:aws:s3:::stack-bucket/models/other-training/x", put)
