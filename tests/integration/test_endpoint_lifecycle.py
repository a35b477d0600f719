"""The ModelEndpoint's rules and destroy hook, as declared in its plan, run against moto.

The patterns are taken from the component's recorded EventRule inputs (not rebuilt here) and
checked by moto's EventBridge: an event that reaches the rule's SQS target matched. The
deployer runs as Lambda would run it: `handler(event)` with the function's planned
environment, boto3 pointed at moto through AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import fnmatch
import json
import uuid

import pytest

from mlops_components.components.model_endpoint import (
    AutoscalingArgs,
    EndpointKind,
    ModelEndpoint,
    ModelEndpointArgs,
)
from mlops_components.functions import deployer
from mlops_components.plan import evaluate
from tests.integration.test_event_patterns import package_state_change

GROUP = "churn-lifecycle"  # in test ids: the same in every xdist worker
ENDPOINT = f"ep-{uuid.uuid4().hex[:8]}"
BUCKET = f"churn-data-{uuid.uuid4().hex[:8]}"
"""moto's state is per process, shared with other tests: names of our own."""
ARGS = ModelEndpointArgs(bucket_name=BUCKET, model_package_group_name=GROUP,
                         kind=EndpointKind.INSTANCES,
                         autoscaling=AutoscalingArgs(min_capacity=1, max_capacity=3))


@pytest.fixture(scope="module")
def plan():
    return evaluate(lambda: ModelEndpoint(ENDPOINT, ARGS), project="mlops", stack="test")


def rule_pattern(plan, name: str) -> dict:
    (rule,) = [r for r in plan.of_type("aws:cloudwatch/eventRule:EventRule") if r.name == name]
    return json.loads(rule.inputs["eventPattern"])


def endpoint_state(name: str, status: str) -> dict:
    return {"Source": "aws.sagemaker", "DetailType": "SageMaker Endpoint State Change",
            "Detail": json.dumps({"EndpointName": name, "EndpointStatus": status}),
            "Resources": [f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name}"]}


@pytest.mark.parametrize(("group", "status", "package_status", "delivered"), [
    (GROUP, "Approved", "Completed", True),
    (GROUP, "PendingManualApproval", "Completed", False),
    (GROUP, "Rejected", "Completed", False),
    ("fraud", "Approved", "Completed", False),
    (GROUP, "Approved", "InProgress", False),
    (GROUP, "Approved", "Failed", False),
])
def test_the_planned_approval_rule_passes_completed_approvals_of_its_group_only(
        plan, rule_to_queue, group, status, package_status, delivered):
    pattern = rule_pattern(plan, f"{ENDPOINT}-approval-rule")
    assert rule_to_queue(pattern, package_state_change(group, status, package_status)) \
        is delivered


@pytest.mark.parametrize(("suffix", "status", "delivered"), [
    ("", "IN_SERVICE", True),
    ("", "InService", True),
    ("", "FAILED", True),
    ("", "UPDATE_ROLLBACK_FAILED", True),
    ("", "UPDATING", False),
    ("", "ROLLING_BACK", False),
    ("-other", "IN_SERVICE", False),
    ("-other", "FAILED", False),
])
def test_the_planned_state_rule_passes_this_endpoint_in_service_or_failed_only(
        plan, rule_to_queue, suffix, status, delivered):
    pattern = rule_pattern(plan, f"{ENDPOINT}-inservice-rule")
    assert rule_to_queue(pattern, endpoint_state(ENDPOINT + suffix, status)) is delivered


@pytest.fixture
def as_lambda(plan, aws_client, moto_endpoint, monkeypatch):
    """The deployer's planned environment, with boto3 talking to moto."""
    (function,) = plan.of_type("aws:lambda/function:Function")
    environment = dict(function.inputs["environment"]["variables"])
    # the model role's planned ARN; moto does not check that it exists
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return aws_client


def register_package(sm, s3) -> str:
    """A package of the group, its drift baseline in the bucket (as the pipeline leaves it)."""
    s3.create_bucket(Bucket=BUCKET)
    quality = {}
    for part in ("Statistics", "Constraints"):
        key = f"models/churn-training/exec-1/baseline/{part.lower()}.json"
        s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps({"part": part}).encode())
        quality[part] = {"ContentType": "application/json", "S3Uri": f"s3://{BUCKET}/{key}"}
    sm.create_model_package_group(ModelPackageGroupName=GROUP)
    return sm.create_model_package(
        ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": "image", "ModelDataUrl": f"s3://{BUCKET}/m.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"]},
        DriftCheckBaselines={"ModelDataQuality": quality})["ModelPackageArn"]


def approval(version: int) -> dict:
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{GROUP}/{version}"
    return {"version": "0", "source": "aws.sagemaker",
            "detail-type": "SageMaker Model Package State Change",
            "detail": {"ModelPackageGroupName": GROUP, "ModelPackageVersion": version,
                       "ModelPackageArn": arn, "ModelApprovalStatus": "Approved",
                       "ModelPackageStatus": "Completed"}}


def test_destroy_after_a_deployment_leaves_no_endpoint_behind(plan, as_lambda):
    sm, scaling = as_lambda("sagemaker"), as_lambda("application-autoscaling")

    def endpoints():
        return [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]
                if e["EndpointName"] == ENDPOINT]
    (cleanup,) = plan.of_type("aws:lambda/invocation:Invocation")
    hook = json.loads(cleanup.inputs["input"])
    # GIVEN `pulumi up` (the hook's create) and no approved model yet: nothing exists
    assert deployer.handler({**hook, "tf": {"action": "create"}})["action"] == "noop"
    assert endpoints() == []
    # WHEN an approval deploys, the endpoint reaches InService (autoscaling registers) ...
    s3 = as_lambda("s3")
    assert register_package(sm, s3) == approval(1)["detail"]["ModelPackageArn"]
    assert deployer.handler(approval(1))["action"] == "created"
    baseline = f"models/{ENDPOINT}/deployed-baseline/"
    # nothing says what is served until SageMaker says InService (it could still fail)
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=baseline)
    arn = sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointArn"]
    assert "mlops:model-package-arn" not in {
        t["Key"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
    outcome = deployer.handler({"source": "aws.sagemaker",
                                "detail-type": "SageMaker Endpoint State Change",
                                "detail": {"EndpointName": ENDPOINT,
                                           "EndpointStatus": "IN_SERVICE"}})
    assert outcome["action"] == "noop"  # the newest approved package is live already
    deployed = s3.list_objects_v2(Bucket=BUCKET, Prefix=baseline)
    assert sorted(o["Key"].rsplit("/", 1)[-1] for o in deployed["Contents"]) == [
        "constraints.json", "statistics.json"]  # where the monitor of this model reads
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
    assert tags["mlops:model-package-version"] == "1"
    assert endpoints() == [ENDPOINT]
    assert [m for m in sm.list_models()["Models"] if m["ModelName"].startswith(f"{ENDPOINT}-")]
    assert scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    # ... and `pulumi destroy` deletes the Invocation (the hook's delete)
    outcome = deployer.handler({**hook, "tf": {"action": "delete", "prev_input": hook}})
    # THEN the endpoint, its config, its model and its scalable target are gone
    assert outcome["action"] == "deleted"
    assert endpoints() == []
    # (moto ignores NameContains for models: filter here)
    assert [c for c in sm.list_endpoint_configs()["EndpointConfigs"]
            if c["EndpointConfigName"].startswith(f"{ENDPOINT}-")] == []
    assert [m for m in sm.list_models()["Models"]
            if m["ModelName"].startswith(f"{ENDPOINT}-")] == []
    targets = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert [t for t in targets if t["ResourceId"].startswith(f"endpoint/{ENDPOINT}/")] == []
    # and a second destroy attempt (a retried delete) finds nothing and does not fail
    again = deployer.handler({**hook, "tf": {"action": "delete", "prev_input": hook}})
    assert json.loads(again["reason"]) == {"endpoint_configs": [], "endpoints": [],
                                           "model_packages": [], "models": [],
                                           "scalable_targets": []}


def test_destroy_touches_nothing_of_an_endpoint_whose_name_extends_this_one(aws_client):
    """`churn-endpoint` lists `churn-endpoint-2-...` with NameContains: the cleanup must not
    delete it, nor send a request the planned role would be denied (reading its tags)."""
    first = f"ep-{uuid.uuid4().hex[:8]}"
    second, group = f"{first}-2", f"group-{uuid.uuid4().hex[:8]}"

    def program():
        for endpoint in (first, second):
            ModelEndpoint(endpoint, ModelEndpointArgs(bucket_name=BUCKET,
                                                      model_package_group_name=group))
    plan = evaluate(program, project="mlops", stack="test")
    sm, s3 = aws_client("sagemaker"), aws_client("s3")
    s3.create_bucket(Bucket=BUCKET)
    sm.create_model_package_group(ModelPackageGroupName=group)
    sm.create_model_package(
        ModelPackageGroupName=group, ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": "image", "ModelDataUrl": f"s3://{BUCKET}/m.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"]})
    configs = {}
    for function in plan.of_type("aws:lambda/function:Function"):
        config = deployer.Config.from_env(function.inputs["environment"]["variables"])
        configs[config.endpoint_name] = config
        event = {**approval(1), "detail": {**approval(1)["detail"],
                                           "ModelPackageGroupName": group}}
        event["detail"]["ModelPackageArn"] = event["detail"]["ModelPackageArn"].replace(
            GROUP, group)
        assert deployer.handle(event, config, sm, s3=s3).action == "created"
    (policy_input,) = [p.inputs["policy"] for p in plan.of_type("aws:iam/rolePolicy:RolePolicy")
                       if p.name == f"{first}-deployer-role-policy"]
    granted: dict[str, list[str]] = {}
    for statement in json.loads(policy_input)["Statement"]:
        for action in statement["Action"]:
            granted.setdefault(action, []).extend(statement["Resource"])
    sent: list[tuple[str, str]] = []

    def record(params, model, **_):
        arn = params.get("ResourceArn") or params.get("EndpointConfigName") or \
            params.get("ModelName")
        if arn:
            sent.append((f"sagemaker:{model.name}", arn))
    sm.meta.events.register("provide-client-params.sagemaker.ListTags", record)
    sm.meta.events.register("provide-client-params.sagemaker.DeleteEndpointConfig", record)
    sm.meta.events.register("provide-client-params.sagemaker.DeleteModel", record)
    hook = {deployer.CLEANUP_MARKER: first, "tf": {"action": "delete"}}
    outcome = deployer.handle(hook, configs[first], sm,
                              autoscaling=aws_client("application-autoscaling"))
    deleted = json.loads(outcome.reason)
    assert deleted["endpoints"] == [first]
    assert all(not name.startswith(second) for name in
               deleted["models"] + deleted["endpoint_configs"])
    assert [m for m in sm.list_models()["Models"] if m["ModelName"].startswith(f"{second}-")]
    assert [c for c in sm.list_endpoint_configs()["EndpointConfigs"]
            if c["EndpointConfigName"].startswith(f"{second}-")]
    assert sm.describe_endpoint(EndpointName=second)["EndpointName"] == second
    prefix = "arn:aws:sagemaker:us-east-1:123456789012:"
    for action, target in sent:
        arn = target if target.startswith("arn:") else prefix + (
            f"model/{target}" if action.endswith("DeleteModel") else f"endpoint-config/{target}")
        assert any(fnmatch.fnmatchcase(arn.lower(), resource)
                   for resource in granted.get(action, [])), \
            f"the deployer's role may not {action} on {arn}"
