"""The approval deployer against moto's SageMaker (HTTP server on 127.0.0.1).

moto has no UpdateEndpoint: `WithUpdates` validates each UpdateEndpoint request with botocore's
Stubber (the service model's shapes) and keeps the endpoint Updating until `finish()` (or
`roll_back()`), as SageMaker does during a blue/green deployment; `fail()` makes it Failed.
Everything else is moto's.
"""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from botocore.exceptions import ParamValidationError
from botocore.stub import Stubber

from mlops_components.functions import deployer
from mlops_components.functions.deployer.calls import describe_endpoint

REGION = "us-east-1"
GROUP = "churn-models"
"""Replaced by a group of each test's own (moto's registry is shared by the session)."""
ROLE = "arn:aws:iam::123456789012:role/model"


@pytest.fixture(autouse=True)
def own_group(monkeypatch):
    monkeypatch.setattr(__import__(__name__, fromlist=["GROUP"]), "GROUP",
                        f"churn-{uuid.uuid4().hex[:8]}")


def approve(sm, version: int) -> None:
    """Register Approved packages in this test's group up to `version` (moto numbers them)."""
    try:
        sm.create_model_package_group(ModelPackageGroupName=GROUP)
    except sm.exceptions.ClientError:
        pass
    listed = sm.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    for _ in range(len(listed), version):
        sm.create_model_package(
            ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved",
            InferenceSpecification={"Containers": [{"Image": "image"}],
                                    "SupportedContentTypes": ["text/csv"],
                                    "SupportedResponseMIMETypes": ["text/csv"]})


def package_arn(version: int, group: str | None = None) -> str:
    group = group or GROUP
    return f"arn:aws:sagemaker:{REGION}:123456789012:model-package/{group}/{version}"


def event(version: int, status: str = "Approved", group: str | None = None) -> dict:
    group = group or GROUP
    return {
        "version": "0", "id": str(uuid.uuid4()), "source": "aws.sagemaker",
        "detail-type": "SageMaker Model Package State Change", "region": REGION,
        "detail": {"ModelPackageGroupName": group, "ModelPackageVersion": version,
                   "ModelPackageArn": package_arn(version, group), "ModelApprovalStatus": status,
                   "ModelPackageStatus": "Completed"},
    }


class WithUpdates:
    """moto's SageMaker client plus UpdateEndpoint (request checked against the service model)."""

    def __init__(self, client, endpoint_url: str) -> None:
        self.client = client
        self.checker = boto3.client("sagemaker", region_name=REGION, endpoint_url=endpoint_url)
        self.updates: list[dict] = []
        self.pending: str | None = None
        self.live: dict[str, str] = {}
        self.failed: dict[str, str] = {}

    def __getattr__(self, name):
        return getattr(self.client, name)

    def update_endpoint(self, **request):
        arn = f"arn:aws:sagemaker:{REGION}:123456789012:endpoint/{request['EndpointName']}"
        with Stubber(self.checker) as stubber:
            stubber.add_response("update_endpoint", {"EndpointArn": arn}, request)
            self.checker.update_endpoint(**request)  # raises on a request of the wrong shape
        self.updates.append(request)
        self.pending = request["EndpointConfigName"]
        return {"EndpointArn": arn}

    def describe_endpoint(self, **request):
        endpoint = self.client.describe_endpoint(**request)
        name = request["EndpointName"]
        if name in self.live:
            endpoint["EndpointConfigName"] = self.live[name]
        if self.pending:
            endpoint["EndpointStatus"] = "Updating"
            endpoint["PendingDeploymentSummary"] = {"EndpointConfigName": self.pending}
        if name in self.failed:
            endpoint["EndpointStatus"] = "Failed"
            endpoint["FailureReason"] = self.failed[name]
        return endpoint

    def delete_endpoint(self, **request):
        self.failed.pop(request["EndpointName"], None)
        self.live.pop(request["EndpointName"], None)
        return self.client.delete_endpoint(**request)

    def finish(self, endpoint_name: str) -> None:
        self.live[endpoint_name], self.pending = self.pending, None

    def roll_back(self) -> None:
        """The rollback alarms fired: the old config stays live."""
        self.pending = None

    def fail(self, endpoint_name: str, reason: str) -> None:
        self.failed[endpoint_name] = reason


@pytest.fixture
def sm(moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_endpoint)
    return WithUpdates(client, moto_endpoint)


@pytest.fixture
def scaling(moto_endpoint, sm):
    return boto3.client("application-autoscaling", region_name=REGION,
                        endpoint_url=moto_endpoint)


def settings(**env) -> deployer.Config:
    base = {"ENDPOINT_NAME": f"ep-{uuid.uuid4().hex[:8]}", "MODEL_PACKAGE_GROUP": GROUP,
            "EXECUTION_ROLE_ARN": ROLE}
    return deployer.Config.from_env({**base, **env})


INSTANCES = {"ENDPOINT_KIND": "instances", "INSTANCE_TYPE": "ml.m5.large",
             "INITIAL_INSTANCE_COUNT": "2", "CAPTURE_S3_URI": "s3://bucket/capture",
             "CAPTURE_SAMPLING_PERCENT": "20", "KMS_KEY_ARN": "arn:aws:kms:us-east-1:1:key/k",
             "DEPLOYMENT_STRATEGY": "canary", "CANARY_PERCENT": "10",
             "ALARM_NAMES": "ep-5xx, ep-latency", "TAGS": '{"team": "ml"}'}


def tags_of(sm, arn):
    return {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}


def managed(sm, config):
    models = [m["ModelName"] for m in sm.list_models()["Models"]
              if m["ModelName"].startswith(config.endpoint_name)]
    configs = [c["EndpointConfigName"] for c in sm.list_endpoint_configs(
        NameContains=config.endpoint_name)["EndpointConfigs"]]
    return models, configs


def test_first_approval_creates_a_serverless_endpoint_that_records_the_package(sm):
    config = settings(CAPTURE_S3_URI="s3://bucket/capture", CAPTURE_SAMPLING_PERCENT="50")
    outcome = deployer.deploy(event(1), config, sm)
    assert outcome.action == "created"
    endpoint = sm.describe_endpoint(EndpointName=config.endpoint_name)
    assert endpoint["EndpointConfigName"] == outcome.endpoint_config_name
    # the package is recorded only when SageMaker says the endpoint serves it
    assert "mlops:model-package-arn" not in tags_of(sm, endpoint["EndpointArn"])
    deployer.handle(in_service(config.endpoint_name), config, sm)
    assert tags_of(sm, endpoint["EndpointArn"]) == {
        "mlops:deploying-endpoint-config": outcome.endpoint_config_name,
        "mlops:model-package-arn": package_arn(1), "mlops:model-package-version": "1",
        "mlops:managed-by-deployer": config.endpoint_name}
    model = sm.describe_model(ModelName=outcome.endpoint_config_name)
    assert model["PrimaryContainer"]["ModelPackageName"] == package_arn(1)
    assert model["PrimaryContainer"]["Environment"] == {
        "MLOPS_ENDPOINT_NAME": config.endpoint_name,
        "MLOPS_CAPTURE_S3_URI": "s3://bucket/capture", "MLOPS_CAPTURE_SAMPLING": "50"}
    assert not model.get("EnableNetworkIsolation")  # serverless refuses it
    endpoint_config = sm.describe_endpoint_config(EndpointConfigName=outcome.endpoint_config_name)
    assert not endpoint_config.get("DataCaptureConfig")  # serverless has no data capture
    assert endpoint_config["ProductionVariants"][0]["ServerlessConfig"] == {
        "MemorySizeInMB": 2048, "MaxConcurrency": 5}


def test_five_deliveries_of_one_event_make_one_deployment(sm):
    config = settings()
    message = event(3)
    outcomes = [deployer.deploy(message, config, sm) for _ in range(5)]
    assert [o.action for o in outcomes] == ["created"] + ["noop"] * 4
    assert outcomes[-1].reason == "this package is already live"
    models, configs = managed(sm, config)
    assert len(models) == 1 and configs == models


def test_new_version_updates_instances_blue_green_and_replays_during_the_rollout_do_nothing(sm):
    config = settings(**INSTANCES)
    deployer.deploy(event(1), config, sm)
    outcome = deployer.deploy(event(2), config, sm)
    assert outcome.action == "updated"
    [update] = sm.updates
    assert update["DeploymentConfig"] == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY", "WaitIntervalInSeconds": 300,
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}},
            "TerminationWaitInSeconds": 300},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "ep-5xx"},
                                                 {"AlarmName": "ep-latency"}]}}
    arn = sm.describe_endpoint(EndpointName=config.endpoint_name)["EndpointArn"]
    for _ in range(4):  # replays during the rollout wait for its end
        assert deployer.deploy(event(2), config, sm).action == "deferred"
    assert tags_of(sm, arn)["mlops:model-package-version"] == "1"  # not serving v2 yet
    approve(sm, 2)
    sm.finish(config.endpoint_name)
    assert deployer.handle(in_service(config.endpoint_name), config, sm).reason == \
        "this package is already live"
    assert tags_of(sm, arn)["mlops:model-package-version"] == "2"
    assert deployer.deploy(event(2), config, sm).reason == "this package is already live"
    assert len(sm.updates) == 1
    endpoint_config = sm.describe_endpoint_config(EndpointConfigName=outcome.endpoint_config_name)
    assert endpoint_config["DataCaptureConfig"]["InitialSamplingPercentage"] == 20
    assert endpoint_config["KmsKeyId"] == INSTANCES["KMS_KEY_ARN"]
    variant = endpoint_config["ProductionVariants"][0]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.m5.large", 2)
    model = sm.describe_model(ModelName=outcome.endpoint_config_name)
    assert tags_of(sm, model["ModelArn"])["team"] == "ml"


def test_an_older_version_after_a_newer_one_does_nothing_unless_rollback_is_allowed(sm):
    config = settings()
    deployer.deploy(event(2), config, sm)
    deployer.handle(in_service(config.endpoint_name), config, sm)
    outcome = deployer.deploy(event(1), config, sm)
    assert outcome.action == "skipped" and "older than the live version 2" in outcome.reason
    assert sm.updates == []
    allowed = deployer.Config(**{**config.__dict__, "allow_rollback_to_older": True})
    assert deployer.deploy(event(1), allowed, sm).action == "updated"
    assert "DeploymentConfig" not in sm.updates[0]  # serverless: all at once, the default


def _in_progress() -> dict:
    message = event(1)
    message["detail"]["ModelPackageStatus"] = "InProgress"
    return message


@pytest.mark.parametrize(("message", "reason"), [
    (lambda: event(1, "Rejected"), "approval status is 'Rejected'"),
    (lambda: event(1, "PendingManualApproval"), "approval status is 'PendingManualApproval'"),
    (lambda: event(1, group="other-group"), "package group 'other-group' is not"),
    (_in_progress, "package status is 'InProgress', not 'Completed'"),
    (lambda: {"source": "aws.s3", "detail-type": "Object Created", "detail": {}},
     "not a model package state change"),
])
def test_events_that_must_not_deploy_return_why_and_create_nothing(sm, message, reason):
    config = settings()
    outcome = deployer.deploy(message(), config, sm)
    assert outcome.action == "skipped" and reason in outcome.reason
    assert managed(sm, config) == ([], [])


def test_an_approval_during_a_rollout_is_deployed_when_the_endpoint_settles(sm):
    """Lambda retries twice within ~3 minutes; a canary takes 15: no raise, no dead letter."""
    config = settings(**INSTANCES)
    deployer.deploy(event(1), config, sm)
    deployer.deploy(event(2), config, sm)  # Updating to v2
    approve(sm, 3)
    outcome = deployer.deploy(event(3), config, sm)
    assert outcome.action == "deferred" and "Updating" in outcome.reason
    assert [u["EndpointConfigName"] for u in sm.updates] == [
        deployer.resource_name(config.endpoint_name, 2,
                               deployer.config_hash(config, package_arn(2)))]
    sm.finish(config.endpoint_name)
    outcome = deployer.handle(in_service(config.endpoint_name), config, sm)
    assert (outcome.action, outcome.model_package_arn) == ("updated", package_arn(3))
    assert sm.updates[-1]["EndpointConfigName"] == outcome.endpoint_config_name


def test_a_rolled_back_deployment_leaves_the_tags_on_the_old_model_and_is_not_retried(
        sm, aws_metrics):
    config = settings(**INSTANCES)
    deployer.deploy(event(1), config, sm)
    deployer.handle(in_service(config.endpoint_name), config, sm, cloudwatch=aws_metrics)
    arn = sm.describe_endpoint(EndpointName=config.endpoint_name)["EndpointArn"]
    deployer.deploy(event(2), config, sm, cloudwatch=aws_metrics)
    sm.roll_back()  # the canary's alarms fired: SageMaker keeps v1
    deployer.handle(in_service(config.endpoint_name), config, sm, cloudwatch=aws_metrics)
    assert tags_of(sm, arn)["mlops:model-package-version"] == "1"
    assert failed_deployments(aws_metrics, config.endpoint_name) == 1
    again = deployer.deploy(event(2), config, sm, cloudwatch=aws_metrics)  # a late duplicate
    assert again.action == "skipped" and "rolled back" in again.reason
    assert len(sm.updates) == 1
    assert deployer.deploy(event(3), config, sm, cloudwatch=aws_metrics).action == "updated"


def test_a_failed_endpoint_is_counted_deleted_and_recreated_by_the_next_event(
        sm, aws_metrics):
    config = settings()
    approve(sm, 1)
    first = deployer.deploy(event(1), config, sm)
    sm.fail(config.endpoint_name, "the container did not answer /ping")
    failed = {**in_service(config.endpoint_name), "detail": {
        "EndpointName": config.endpoint_name, "EndpointStatus": "FAILED"}}
    # its own config failed: deleted, and not recreated with the same model
    outcome = deployer.handle(failed, config, sm, cloudwatch=aws_metrics)
    assert outcome.action == "skipped" and "failed" in outcome.reason
    assert describe_endpoint(sm.client, config.endpoint_name) is None
    assert failed_deployments(aws_metrics, config.endpoint_name) == 1
    config_tags = tags_of(sm, sm.describe_endpoint_config(
        EndpointConfigName=first.endpoint_config_name)["EndpointConfigArn"])
    assert "did not answer" in config_tags["mlops:deployment-failed"]
    # the next approval recreates it, no hand work
    assert deployer.deploy(event(2), config, sm).action == "created"


def test_names_are_deterministic_and_fit_sagemaker_limits():
    config = settings(ENDPOINT_NAME="e" * 70)
    name = deployer.resource_name(config.endpoint_name, 12, deployer.config_hash(config, "a"))
    assert len(name) == 63 and name.endswith(f"-v12-{deployer.config_hash(config, 'a')}")
    assert deployer.config_hash(config, "a") != deployer.config_hash(config, "b")
    other = deployer.Config(**{**config.__dict__, "instance_type": "ml.c5.xlarge"})
    assert deployer.config_hash(config, "a") != deployer.config_hash(other, "a")


def test_delete_removes_the_endpoint_and_what_the_deployer_made_and_is_idempotent(sm, scaling):
    config = settings(**INSTANCES)
    deployer.deploy(event(1), config, sm)
    deployer.deploy(event(2), config, sm)
    sm.finish(config.endpoint_name)
    sm.create_model(ModelName=f"{config.endpoint_name}-by-hand", ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": "123.dkr.ecr.us-east-1.amazonaws.com/x:1"})
    deleted = deployer.delete_endpoint_and_configs(config.endpoint_name, sm.client,
                                                   autoscaling=scaling)
    assert deleted["endpoints"] == [config.endpoint_name]
    assert len(deleted["models"]) == 2 and len(deleted["endpoint_configs"]) == 2
    assert describe_endpoint(sm.client, config.endpoint_name) is None
    assert managed(sm, config) == ([f"{config.endpoint_name}-by-hand"], [])
    again = deployer.delete_endpoint_and_configs(config.endpoint_name, sm.client,
                                                 autoscaling=scaling)
    assert again == {"endpoints": [], "endpoint_configs": [], "models": [],
                     "scalable_targets": []}


def test_configuration_errors_are_reported_together():
    with pytest.raises(deployer.ConfigError) as error:
        deployer.Config.from_env({"ENDPOINT_KIND": "gpu", "DEPLOYMENT_STRATEGY": "canary",
                                  "INITIAL_INSTANCE_COUNT": "0", "TAGS": "[1]",
                                  "CAPTURE_S3_URI": "bucket/capture",
                                  "BASELINE_S3_URI": "bucket/models/churn/deployed-baseline/"})
    message = str(error.value)
    for part in ["ENDPOINT_NAME is required", "EXECUTION_ROLE_ARN is required",
                 "ENDPOINT_KIND must be one of ['serverless', 'instances'] (got 'gpu')",
                 "INITIAL_INSTANCE_COUNT must be between 1 and 1000 (got 0)",
                 "TAGS must be a JSON object", "CAPTURE_S3_URI must be an s3:// URI",
                 "BASELINE_S3_URI must be an s3:// URI"]:
        assert part in message
    with pytest.raises(deployer.ConfigError, match="serverless endpoints deploy all_at_once"):
        settings(DEPLOYMENT_STRATEGY="linear")
    config = settings(**INSTANCES)
    assert config.alarm_names == ("ep-5xx", "ep-latency") and config.enable_network_isolation


def test_instance_models_get_network_isolation_and_bad_update_shapes_are_refused(sm):
    config = settings(**INSTANCES)
    request = deployer.model_request(config, "m", package_arn(1))
    assert request["EnableNetworkIsolation"] is True
    assert "MLOPS_CAPTURE_S3_URI" not in request["PrimaryContainer"]["Environment"]
    with pytest.raises(ParamValidationError):
        sm.update_endpoint(EndpointName="x", EndpointConfigName="y", DeploymentConfig={
            "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
                "Type": "CANARY", "WaitIntervalInSeconds": 300, "CanarySize": 10}}})


@pytest.fixture
def aws_metrics(moto_endpoint, sm):
    return boto3.client("cloudwatch", region_name=REGION, endpoint_url=moto_endpoint)


def failed_deployments(cloudwatch, endpoint_name: str) -> float:
    import datetime

    now = datetime.datetime.now(datetime.UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace="mlops/Deployer", MetricName="FailedDeployments",
        Dimensions=[{"Name": "EndpointName", "Value": endpoint_name}],
        StartTime=now - datetime.timedelta(hours=1), EndTime=now + datetime.timedelta(hours=1),
        Period=3600, Statistics=["Sum"])["Datapoints"]
    return sum(p["Sum"] for p in points)


def test_lambda_handler_reads_its_environment(sm, monkeypatch):
    config = settings()
    for key, value in {"ENDPOINT_NAME": config.endpoint_name, "MODEL_PACKAGE_GROUP": GROUP,
                       "EXECUTION_ROLE_ARN": ROLE}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(boto3, "client", lambda service: sm)
    assert deployer.handler(event(1, "Rejected"), None)["action"] == "skipped"
    assert deployer.handler(event(1), None)["action"] == "created"


# -- autoscaling, the destroy hook, the environment round trip -----------------------------

SCALED = {**INSTANCES, "AUTOSCALING_MIN_CAPACITY": "2", "AUTOSCALING_MAX_CAPACITY": "6",
          "AUTOSCALING_TARGET_INVOCATIONS": "200"}


def in_service(endpoint_name: str, status: str = "IN_SERVICE") -> dict:
    return {"version": "0", "source": "aws.sagemaker",
            "detail-type": "SageMaker Endpoint State Change",
            "detail": {"EndpointName": endpoint_name, "EndpointStatus": status}}


def scalable_targets(scaling, endpoint_name):
    targets = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")
    return [t for t in targets["ScalableTargets"]
            if t["ResourceId"] == deployer.scalable_resource_id(endpoint_name)]


def test_the_endpoint_reaching_in_service_registers_autoscaling_once_and_again(sm, scaling):
    config = settings(**SCALED)
    approve(sm, 1)
    deployer.handle(event(1), config, sm, scaling)
    assert scalable_targets(scaling, config.endpoint_name) == []  # not before InService

    for _ in range(2):  # SageMaker may repeat the event: both calls are upserts
        outcome = deployer.handle(in_service(config.endpoint_name), config, sm, scaling)
        assert outcome.reason == "this package is already live"
    [target] = scalable_targets(scaling, config.endpoint_name)
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 6)
    assert target["ResourceId"] == f"endpoint/{config.endpoint_name}/variant/AllTraffic"
    [policy] = scaling.describe_scaling_policies(ServiceNamespace="sagemaker")[
        "ScalingPolicies"][-1:]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 200.0
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == \
        "SageMakerVariantInvocationsPerInstance"


@pytest.mark.parametrize("other", [
    lambda name: in_service(name, "Updating"),
    lambda name: in_service(f"{name}-other"),
])
def test_other_endpoint_events_register_nothing(sm, scaling, other):
    config = settings(**SCALED)
    assert deployer.handle(other(config.endpoint_name), config, sm, scaling).action == "skipped"
    assert scalable_targets(scaling, config.endpoint_name) == []


def test_an_instance_type_change_releases_the_scalable_target_before_updating(sm, scaling):
    config = settings(**SCALED)
    deployer.handle(event(1), config, sm, scaling)
    deployer.handle(in_service(config.endpoint_name), config, sm, scaling)
    bigger = settings(**{**SCALED, "INSTANCE_TYPE": "ml.c5.xlarge",
                         "ENDPOINT_NAME": config.endpoint_name})
    assert deployer.handle(event(2), bigger, sm, scaling).action == "updated"
    assert scalable_targets(scaling, config.endpoint_name) == []
    # a new model on the same instance type keeps it (SageMaker allows that update)
    sm.finish(config.endpoint_name)
    deployer.handle(in_service(config.endpoint_name), bigger, sm, scaling)
    deployer.handle(event(3), bigger, sm, scaling)
    assert len(scalable_targets(scaling, config.endpoint_name)) == 1


def test_the_destroy_hook_deletes_only_on_delete(sm, scaling):
    config = settings(**SCALED)
    deployer.handle(event(1), config, sm, scaling)
    deployer.handle(in_service(config.endpoint_name), config, sm, scaling)
    hook = {deployer.CLEANUP_MARKER: config.endpoint_name}
    for action in ("create", "update"):
        outcome = deployer.handle({**hook, "tf": {"action": action, "prev_input": hook}},
                                  config, sm, scaling)
        assert outcome.action == "noop"
    assert describe_endpoint(sm.client, config.endpoint_name) is not None

    outcome = deployer.handle({**hook, "tf": {"action": "delete", "prev_input": hook}},
                              config, sm, scaling)
    assert outcome.action == "deleted"
    assert describe_endpoint(sm.client, config.endpoint_name) is None
    assert managed(sm, config) == ([], [])
    assert scalable_targets(scaling, config.endpoint_name) == []


def test_the_environment_round_trips_and_autoscaling_rules_are_checked():
    config = settings(**SCALED, SUBNET_IDS="subnet-1,subnet-2", SECURITY_GROUP_IDS="sg-1",
                      BASELINE_S3_URI="s3://bucket/models/churn/deployed-baseline/")
    assert deployer.Config.from_env(config.to_env()) == config
    request = deployer.model_request(config, "m", package_arn(1))
    assert request["VpcConfig"] == {"Subnets": ["subnet-1", "subnet-2"],
                                    "SecurityGroupIds": ["sg-1"]}
    with pytest.raises(deployer.ConfigError) as error:
        settings(AUTOSCALING_TARGET_INVOCATIONS="100", AUTOSCALING_MIN_CAPACITY="3",
                 AUTOSCALING_MAX_CAPACITY="2", SUBNET_IDS="subnet-1")
    for part in ["AUTOSCALING_MIN_CAPACITY must be >= 1 and <= AUTOSCALING_MAX_CAPACITY",
                 "serverless endpoints scale themselves",
                 "SUBNET_IDS and SECURITY_GROUP_IDS must be given together"]:
        assert part in str(error.value)


# -- the deployed package's drift baseline, where the monitor reads it ---------------------


def registered_package(sm, moto_endpoint, bucket: str, baseline_bucket: str | None = None,
                       with_baseline: bool = True) -> str:
    """A package in moto's registry whose DriftCheckBaselines point at files in S3."""
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint)
    baseline_bucket = baseline_bucket or bucket
    for name in {bucket, baseline_bucket}:
        s3.create_bucket(Bucket=name)
    prefix = f"models/churn-training/exec-{uuid.uuid4().hex[:6]}/baseline"
    for file, body in (("statistics.json", b'{"features": []}'),
                       ("constraints.json", b'{"features": [], "version": 0.0}')):
        s3.put_object(Bucket=baseline_bucket, Key=f"{prefix}/{file}", Body=body)
    group = f"group-{uuid.uuid4().hex[:6]}"
    sm.create_model_package_group(ModelPackageGroupName=group)
    request = {"ModelPackageGroupName": group, "ModelApprovalStatus": "Approved",
               "InferenceSpecification": {
                   "Containers": [{"Image": "image", "ModelDataUrl": f"s3://{bucket}/m.tar.gz"}],
                   "SupportedContentTypes": ["text/csv"],
                   "SupportedResponseMIMETypes": ["application/json"]}}
    if with_baseline:
        quality = {part: {"ContentType": "application/json",
                          "S3Uri": f"s3://{baseline_bucket}/{prefix}/{part.lower()}.json"}
                   for part in ("Statistics", "Constraints")}
        request["DriftCheckBaselines"] = {"ModelDataQuality": quality}
    return sm.create_model_package(**request)["ModelPackageArn"], group, s3


def approval_of(arn: str, group: str) -> dict:
    return {"source": "aws.sagemaker", "detail-type": "SageMaker Model Package State Change",
            "detail": {"ModelPackageGroupName": group, "ModelPackageArn": arn,
                       "ModelPackageVersion": 1, "ModelApprovalStatus": "Approved",
                       "ModelPackageStatus": "Completed"}}


def test_deploying_copies_the_packages_drift_baseline_to_the_monitors_prefix(sm, moto_endpoint):
    bucket = f"data-{uuid.uuid4().hex[:8]}"
    arn, group, s3 = registered_package(sm, moto_endpoint, bucket)
    destination = f"s3://{bucket}/models/churn/deployed-baseline/"
    config = settings(MODEL_PACKAGE_GROUP=group, BASELINE_S3_URI=destination)
    outcome = deployer.deploy(approval_of(arn, group), config, sm, s3=s3)
    assert outcome.action == "created"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="models/churn/")
    deployer.handle(in_service(config.endpoint_name), config, sm, s3=s3)  # now it serves
    copied = s3.list_objects_v2(Bucket=bucket, Prefix="models/churn/deployed-baseline/")
    assert sorted(o["Key"] for o in copied["Contents"]) == [
        "models/churn/deployed-baseline/constraints.json",
        "models/churn/deployed-baseline/statistics.json"]
    body = s3.get_object(Bucket=bucket, Key="models/churn/deployed-baseline/constraints.json")
    assert body["Body"].read() == b'{"features": [], "version": 0.0}'


def test_a_baseline_in_another_bucket_is_refused_and_the_package_not_recorded(sm, moto_endpoint):
    bucket = f"data-{uuid.uuid4().hex[:8]}"
    arn, group, s3 = registered_package(sm, moto_endpoint, bucket,
                                        baseline_bucket=f"other-{uuid.uuid4().hex[:8]}")
    config = settings(MODEL_PACKAGE_GROUP=group,
                      BASELINE_S3_URI=f"s3://{bucket}/models/churn/deployed-baseline/")
    deployer.deploy(approval_of(arn, group), config, sm, s3=s3)
    with pytest.raises(deployer.DeploymentError, match="outside bucket"):
        deployer.handle(in_service(config.endpoint_name), config, sm, s3=s3)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="models/churn/")
    endpoint = sm.describe_endpoint(EndpointName=config.endpoint_name)
    assert "mlops:model-package-arn" not in tags_of(sm, endpoint["EndpointArn"])


def test_a_package_without_baselines_still_deploys_and_copies_nothing(sm, moto_endpoint):
    bucket = f"data-{uuid.uuid4().hex[:8]}"
    arn, group, s3 = registered_package(sm, moto_endpoint, bucket, with_baseline=False)
    config = settings(MODEL_PACKAGE_GROUP=group,
                      BASELINE_S3_URI=f"s3://{bucket}/models/churn/deployed-baseline/")
    assert deployer.deploy(approval_of(arn, group), config, sm, s3=s3).action == "created"
    deployer.handle(in_service(config.endpoint_name), config, sm, s3=s3)
    endpoint = sm.describe_endpoint(EndpointName=config.endpoint_name)
    assert tags_of(sm, endpoint["EndpointArn"])["mlops:model-package-arn"] == arn
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="models/churn/")


@pytest.mark.parametrize(("strategy", "percent", "allowed"), [
    ("canary", "51", "between 1 and 50"), ("linear", "5", "between 10 and 50"),
    ("linear", "60", "between 10 and 50")])
def test_the_lambda_refuses_step_sizes_sagemaker_refuses(strategy, percent, allowed):
    with pytest.raises(deployer.ConfigError, match=f"CANARY_PERCENT must be {allowed}"):
        settings(**{**INSTANCES, "DEPLOYMENT_STRATEGY": strategy, "CANARY_PERCENT": percent})


# -- destroy: wait until the endpoint is gone, the group's packages ----------------------------


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def stubbed(service: str):
    client = boto3.client(service, region_name=REGION, aws_access_key_id="a",
                          aws_secret_access_key="b")
    return client, Stubber(client)


def endpoint_description(name: str, status: str) -> dict:
    return {"EndpointName": name, "EndpointConfigName": f"{name}-v1-0123abcd",
            "EndpointArn": f"arn:aws:sagemaker:{REGION}:123456789012:endpoint/{name}",
            "EndpointStatus": status, "CreationTime": "2026-01-01T00:00:00Z",
            "LastModifiedTime": "2026-01-01T00:00:00Z"}


def no_scaling():
    scaling, stub = stubbed("application-autoscaling")
    stub.add_client_error("deregister_scalable_target", "ObjectNotFoundException",
                          "No scalable target")
    stub.activate()
    return scaling


GONE = ("ValidationException", "Could not find endpoint")


def expect_deletion(stub, name: str, polls_while_deleting: int) -> None:
    """The hook's first requests: the endpoint InService, DeleteEndpoint, then reads
    (`polls_while_deleting` of them) that still find it Deleting."""
    stub.add_response("describe_endpoint", endpoint_description(name, "InService"),
                      {"EndpointName": name})
    stub.add_response("delete_endpoint", {}, {"EndpointName": name})
    for _ in range(polls_while_deleting):
        stub.add_response("describe_endpoint", endpoint_description(name, "Deleting"),
                          {"EndpointName": name})


def test_the_destroy_hook_waits_until_the_endpoint_is_gone_before_it_returns():
    """DeleteEndpoint: keep the execution role until the deletion ends; Pulumi deletes the
    role as soon as the hook returns. Every request is checked by botocore (Stubber)."""
    config, clock = settings(), FakeClock()
    name = config.endpoint_name
    sm, stub = stubbed("sagemaker")
    expect_deletion(stub, name, polls_while_deleting=2)
    stub.add_client_error("describe_endpoint", *GONE, expected_params={"EndpointName": name})
    # only once it is gone: its configs and models
    stub.add_response("list_endpoint_configs", {"EndpointConfigs": []},
                      {"NameContains": name})
    stub.add_response("list_models", {"Models": []}, {"NameContains": name})
    hook = {deployer.CLEANUP_MARKER: name}
    with stub:
        outcome = deployer.handle({**hook, "tf": {"action": "delete"}}, config, sm,
                                  autoscaling=no_scaling(), clock=clock)
        stub.assert_no_pending_responses()
    assert json.loads(outcome.reason)["endpoints"] == [name]
    assert len(clock.sleeps) == 2


def test_an_endpoint_still_deleting_at_the_deadline_fails_the_destroy_and_is_awaited_again():
    config, clock = settings(), FakeClock()
    name = config.endpoint_name
    sm, stub = stubbed("sagemaker")
    expect_deletion(stub, name, polls_while_deleting=5)
    hook = {deployer.CLEANUP_MARKER: name, "tf": {"action": "delete"}}
    with stub, pytest.raises(deployer.DeploymentError,
                             match=f"endpoint {name} is still Deleting after 60 s.*again"):
        deployer.handle(hook, config, sm, autoscaling=no_scaling(), clock=clock,
                        cleanup_wait_seconds=60)
    # the next `pulumi destroy`: a Deleting endpoint is not deleted twice, only awaited
    sm, stub = stubbed("sagemaker")
    stub.add_response("describe_endpoint", endpoint_description(name, "Deleting"),
                      {"EndpointName": name})
    stub.add_client_error("describe_endpoint", *GONE, expected_params={"EndpointName": name})
    stub.add_response("list_endpoint_configs", {"EndpointConfigs": []},
                      {"NameContains": name})
    stub.add_response("list_models", {"Models": []}, {"NameContains": name})
    with stub:
        outcome = deployer.handle(hook, config, sm, autoscaling=no_scaling(), clock=clock)
        stub.assert_no_pending_responses()
    assert json.loads(outcome.reason)["endpoints"] == [name]


def test_the_lambda_stops_waiting_before_its_own_timeout(monkeypatch):
    seen = {}

    def handle(event, config, **options):
        seen.update(options)
        return deployer.Outcome("noop", "", config.endpoint_name)

    monkeypatch.setattr("mlops_components.functions.deployer.events.handle", handle)
    for key, value in settings().to_env().items():
        monkeypatch.setenv(key, value)

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 300_000

    from mlops_components.functions.deployer.events import handler
    handler({}, Context())
    assert seen["cleanup_wait_seconds"] == 300 - 30


def packages_page(arns: list[str]) -> dict:
    return {"ModelPackageSummaryList": [
        {"ModelPackageArn": arn, "ModelPackageGroupName": GROUP, "ModelPackageVersion": index,
         "CreationTime": "2026-01-01T00:00:00Z", "ModelPackageStatus": "Completed",
         "ModelApprovalStatus": "Approved"} for index, arn in enumerate(arns, 1)]}


def test_prod_refuses_the_destroy_while_the_group_holds_packages_before_deleting_anything():
    config = settings(PACKAGES_ON_DESTROY="refuse")
    sm, stub = stubbed("sagemaker")
    stub.add_response("list_model_packages", packages_page([package_arn(1), package_arn(2)]),
                      {"ModelPackageGroupName": GROUP})
    hook = {deployer.CLEANUP_MARKER: config.endpoint_name, "tf": {"action": "delete"}}
    with stub, pytest.raises(deployer.DestroyRefused) as refused:
        deployer.handle(hook, config, sm, autoscaling=no_scaling(), clock=FakeClock())
    message = str(refused.value)
    assert "\n" not in message
    assert f"model package group {GROUP} holds 2 model package(s)" in message
    assert "forceDestroy" in message and "delete-model-package" in message


def test_dev_deletes_the_groups_packages_after_the_endpoint():
    config = settings(PACKAGES_ON_DESTROY="delete")
    name = config.endpoint_name
    sm, stub = stubbed("sagemaker")
    stub.add_response("list_model_packages", packages_page([package_arn(1)]),
                      {"ModelPackageGroupName": GROUP})
    stub.add_client_error("describe_endpoint", *GONE, expected_params={"EndpointName": name})
    stub.add_response("list_endpoint_configs", {"EndpointConfigs": []},
                      {"NameContains": name})
    stub.add_response("list_models", {"Models": []}, {"NameContains": name})
    stub.add_response("delete_model_package", {}, {"ModelPackageName": package_arn(1)})
    hook = {deployer.CLEANUP_MARKER: name, "tf": {"action": "delete"}}
    with stub:
        outcome = deployer.handle(hook, config, sm, autoscaling=no_scaling(), clock=FakeClock())
        stub.assert_no_pending_responses()
    assert json.loads(outcome.reason)["model_packages"] == [package_arn(1)]


def test_the_keep_default_never_lists_the_groups_packages():
    config = settings()
    name = config.endpoint_name
    sm, stub = stubbed("sagemaker")
    stub.add_client_error("describe_endpoint", *GONE, expected_params={"EndpointName": name})
    stub.add_response("list_endpoint_configs", {"EndpointConfigs": []},
                      {"NameContains": name})
    stub.add_response("list_models", {"Models": []}, {"NameContains": name})
    hook = {deployer.CLEANUP_MARKER: name, "tf": {"action": "delete"}}
    with stub:
        outcome = deployer.handle(hook, config, sm, autoscaling=no_scaling(), clock=FakeClock())
    assert json.loads(outcome.reason)["model_packages"] == []
