"""The policy pack as Pulumi loads it, and the example stacks under it.

`pulumi preview --policy-pack <folder>` starts ``python -m pulumi.policy <engine> <folder>``
(pulumi's Python policy host), which runs the folder's ``__main__.py``; ``PolicyPack`` prints
the port of its gRPC Analyzer and serves it. The test does exactly that and talks to the
pack over pulumi's own Analyzer protocol (the Pulumi CLI is not on these machines).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import (
    EnforcementLevel,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

import mlops_components.policy.pack as pack_package
from mlops_components.config import parse_config
from mlops_components.plan import plan_stack
from mlops_components.policy.offline import evaluate_policies, stack_policy_config
from mlops_components.policy.policies import POLICY_PACK_NAME, build_policies
from mlops_components.project import load_project
from tests.conftest import REPO_ROOT

PACK_DIR = Path(pack_package.__file__).parent
#: Attributes Pulumi documents for a Python pack's PulumiPolicy.yaml.
DOCUMENTED_ATTRIBUTES = {"runtime", "version", "main", "description", "author", "website",
                         "license"}
LEVELS = {EnforcementLevel.MANDATORY: analyzer_pb2.MANDATORY,
          EnforcementLevel.ADVISORY: analyzer_pb2.ADVISORY}


def test_the_project_file_follows_the_documented_format():
    project = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    assert set(project) <= DOCUMENTED_ATTRIBUTES
    runtime = project["runtime"]
    assert (runtime if isinstance(runtime, str) else runtime["name"]) == "python"
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(project["version"]))
    assert project["description"]
    assert (PACK_DIR / project.get("main", ".") / "__main__.py").is_file()


@pytest.fixture(scope="module")
def analyzer():
    """The pack running under pulumi's Python policy host, as the Pulumi engine starts it."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    host = subprocess.Popen([sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0",
                             str(PACK_DIR)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, text=True)
    try:
        port = host.stdout.readline().strip()
        assert port.isdigit(), host.stderr.read() if host.poll() is not None else port
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        host.terminate()
        host.wait(timeout=30)
        host.stdout.close()
        host.stderr.close()


def test_the_analyzer_serves_every_policy_with_its_level_and_description(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=60)
    assert info.name == POLICY_PACK_NAME
    assert info.description
    served = {policy.name: policy for policy in info.policies}
    expected = build_policies()
    assert list(served) == [policy.name for policy in expected]
    for policy in expected:
        assert served[policy.name].enforcementLevel == LEVELS[policy.enforcement_level]
        assert served[policy.name].description == policy.description
        assert len(policy.description) > 20
        kind = (analyzer_pb2.POLICY_TYPE_RESOURCE if isinstance(policy, ResourceValidationPolicy)
                else analyzer_pb2.POLICY_TYPE_STACK)
        assert served[policy.name].policy_type == kind
    assert {p.name for p in expected if isinstance(p, StackValidationPolicy)} >= {
        "s3-sse-kms", "s3-public-access-block", "s3-tls-only", "s3-versioning",
        "lambda-log-group-retention", "lambda-failure-destination"}


def _struct(value: dict) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def _analyze(analyzer, type_token: str, name: str, properties: dict):
    request = analyzer_pb2.AnalyzeRequest(
        type=type_token, name=name, properties=_struct(properties),
        urn=f"urn:pulumi:prod::mlops::{type_token}::{name}")
    return analyzer.Analyze(request, timeout=60).diagnostics


def test_the_analyzer_reports_a_resource_violation(analyzer):
    diagnostics = _analyze(analyzer, "aws:sqs/queue:Queue", "plain", {"tags": {"owner": "x"}})
    found = {d.policyName: d for d in diagnostics}
    assert set(found) == {"sqs-encrypted", "required-tags"}
    assert found["sqs-encrypted"].enforcementLevel == analyzer_pb2.MANDATORY
    assert "Queue 'plain'" in found["sqs-encrypted"].message
    assert "sqsManagedSseEnabled" in found["sqs-encrypted"].message


def test_the_analyzer_passes_a_compliant_resource(analyzer):
    assert list(_analyze(analyzer, "aws:sqs/queue:Queue", "queue", {
        "sqsManagedSseEnabled": True,
        "tags": {"owner": "a", "model": "b", "managed-by": "c"}})) == []


def test_the_providers_default_tags_count(analyzer):
    provider = analyzer_pb2.AnalyzerProviderResource(
        type="pulumi:providers:aws", name="tagged",
        urn="urn:pulumi:prod::mlops::pulumi:providers:aws::tagged",
        properties=_struct({"defaultTags": json.dumps({"tags": {"model": "b",
                                                                "managed-by": "c"}})}))
    request = analyzer_pb2.AnalyzeRequest(
        type="aws:sqs/queue:Queue", name="queue", provider=provider,
        urn="urn:pulumi:prod::mlops::aws:sqs/queue:Queue::queue",
        properties=_struct({"sqsManagedSseEnabled": True, "tags": {"owner": "a"}}))
    assert list(analyzer.Analyze(request, timeout=60).diagnostics) == []


def test_the_analyzer_ties_a_bucket_to_its_separate_resources(analyzer):
    """Stack validation sees the bucket and its versioning resource through the property
    dependency the engine sends (the bucket's id is unknown during a preview)."""
    bucket_urn = "urn:pulumi:prod::mlops::aws:s3/bucket:Bucket::data"

    def resource(type_token, name, properties, depends_on=None):
        return analyzer_pb2.AnalyzerResource(
            type=type_token, name=name, urn=f"urn:pulumi:prod::mlops::{type_token}::{name}",
            properties=_struct(properties),
            propertyDependencies={"bucket": analyzer_pb2.AnalyzerPropertyDependencies(
                urns=[depends_on])} if depends_on else {})

    request = analyzer_pb2.AnalyzeStackRequest(resources=[
        resource("aws:s3/bucket:Bucket", "data", {"bucket": "data-1234"}),
        resource("aws:s3/bucketVersioning:BucketVersioning", "data-versioning",
                 {"versioningConfiguration": {"status": "Enabled"}}, depends_on=bucket_urn),
    ])
    diagnostics = analyzer.AnalyzeStack(request, timeout=60).diagnostics
    fired = {d.policyName for d in diagnostics}
    assert "s3-versioning" not in fired
    assert {"s3-sse-kms", "s3-public-access-block", "s3-tls-only",
            "s3-lifecycle-capture-reports"} <= fired
    assert all(d.urn == bucket_urn for d in diagnostics if d.policyName.startswith("s3-"))


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_example_stacks_pass_every_rule(stack):
    project = load_project(REPO_ROOT)
    config = parse_config(project.stack_config(stack), project=project.name)
    violations = evaluate_policies(plan_stack(REPO_ROOT, stack), stack_policy_config(config))
    assert [violation.line() for violation in violations] == []


def test_a_customer_key_reaches_every_job_of_the_stack():
    """With a KMS key configured, every job's volume and output use it (the KMS rule)."""
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    plan = plan_stack(REPO_ROOT, "prod", {"kmsKeyArn": key})
    violations = evaluate_policies(
        plan, {"sagemaker-kms-when-stack-has-key": {"kmsKeyArn": key}})
    assert [violation.line() for violation in violations] == []
    assert json.dumps(plan.to_json()).count(key) > 4
