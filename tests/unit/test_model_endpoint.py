"""ModelEndpoint under the recording mocks: what Pulumi declares for both kinds, the security
posture as pairs, and every validation rule with a passing and a failing case."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys

import pulumi
import pytest

from mlops_components.components.model_endpoint import (
    DEPLOYER_PACKAGE,
    AutoscalingArgs,
    CaptureMethod,
    DeploymentStrategy,
    EndpointKind,
    ModelEndpoint,
    ModelEndpointArgs,
    PackagesOnDestroy,
    validate_endpoint_args,
)
from mlops_components.functions import deployer
from mlops_components.sagemaker.endpoint import (
    CaptureMethod as SpecCaptureMethod,
)
from mlops_components.validation import ValidationError
from tests.conftest import only

BUCKET = "churn-data-bucket"
GROUP = "churn"
KMS = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
FUNCTION = "aws:lambda/function:Function"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
PERMISSION = "aws:lambda/permission:Permission"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
INVOCATION = "aws:lambda/invocation:Invocation"
ASYNC_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
SAGEMAKER_TYPES = ("aws:sagemaker/endpoint:Endpoint",
                   "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
                   "aws:sagemaker/model:Model")

SERVERLESS = ModelEndpointArgs(bucket_name=BUCKET, model_package_group_name=GROUP)
REGISTRY_GROUP = "arn:aws:sagemaker:us-east-1:111122223333:model-package-group/churn"
INSTANCES = ModelEndpointArgs(
    bucket_name=BUCKET, model_package_group_name=GROUP, kind=EndpointKind.INSTANCES,
    instance_type="ml.c5.xlarge", instance_count=2, capture_sampling_percent=20,
    deployment_strategy=DeploymentStrategy.CANARY, kms_key_arn=KMS,
    autoscaling=AutoscalingArgs(min_capacity=2, max_capacity=6))


def make(args: ModelEndpointArgs, name: str = "churn"):
    def program():
        endpoint = ModelEndpoint(name, args)
        pulumi.export("endpoint_name", endpoint.endpoint_name)
        pulumi.export("alarm_names", endpoint.alarm_names)
    return program


def env(plan) -> dict[str, str]:
    return only(plan, FUNCTION).inputs["environment"]["variables"]


def policy(plan, name: str) -> dict[str, dict]:
    """A role policy's statements by Sid."""
    (found,) = [r for r in plan.of_type(ROLE_POLICY) if r.name == name]
    return {s["Sid"]: s for s in json.loads(found.inputs["policy"])["Statement"]}


def by_name(plan, type_token: str, name: str):
    (found,) = [r for r in plan.of_type(type_token) if r.name == name]
    return found


@pytest.fixture(scope="module")
def serverless_plan():
    from mlops_components.plan import evaluate
    return evaluate(make(SERVERLESS), project="mlops", stack="test")


@pytest.fixture(scope="module")
def instances_plan():
    from mlops_components.plan import evaluate
    return evaluate(make(INSTANCES), project="mlops", stack="test")


# -- what Pulumi declares, and what it leaves to the deployer ---------------------------------


@pytest.mark.parametrize("plan_name", ["serverless_plan", "instances_plan"])
def test_pulumi_declares_no_endpoint_so_up_succeeds_with_no_approved_model(plan_name, request):
    plan = request.getfixturevalue(plan_name)
    assert all(plan.of_type(kind) == [] for kind in SAGEMAKER_TYPES)
    component = only(plan, "mlops:index:ModelEndpoint")
    assert all(r.parent == component.urn for r in plan.resources if r is not component)
    assert plan.outputs["endpoint_name"] == "churn"


def test_the_deployer_is_the_repo_package_on_python_3_12(serverless_plan):
    function = only(serverless_plan, FUNCTION)
    modules = sorted(DEPLOYER_PACKAGE.glob("*.py"))
    assert function.inputs["runtime"] == "python3.12"
    assert function.inputs["handler"] == "deployer.handler"
    assert function.inputs["code"] == {"archive": {
        f"deployer/{module.name}": {"asset": {"path": str(module)}} for module in modules}}
    assert DEPLOYER_PACKAGE.name == "deployer" and len(modules) > 1


def test_the_deployer_archive_imports_alone_as_the_lambda_loads_it(tmp_path):
    """Unpacked as Lambda unpacks it, `deployer.handler` imports with nothing of the project."""
    for module in DEPLOYER_PACKAGE.glob("*.py"):
        (tmp_path / "deployer").mkdir(exist_ok=True)
        shutil.copy(module, tmp_path / "deployer" / module.name)
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import deployer; "
            "assert callable(deployer.handler); "
            "assert not [m for m in sys.modules if m.startswith('mlops_components')]")
    subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, check=True, timeout=60)


def test_the_deployer_environment_is_a_valid_config_for_each_kind(serverless_plan,
                                                                  instances_plan):
    serverless = deployer.Config.from_env(env(serverless_plan))
    assert serverless.endpoint_kind == "serverless" and serverless.endpoint_name == "churn"
    assert serverless.model_package_group == GROUP
    assert serverless.capture_s3_uri == f"s3://{BUCKET}/capture"
    assert serverless.handler_captures  # the handler writes capture records itself
    request = deployer.model_request(serverless, "m", "arn:pkg/1")
    assert request["PrimaryContainer"]["Environment"]["MLOPS_CAPTURE_S3_URI"] == \
        f"s3://{BUCKET}/capture"
    assert "EnableNetworkIsolation" not in request
    assert deployer.deployment_config(serverless) is None

    instances = deployer.Config.from_env(env(instances_plan))
    assert (instances.endpoint_kind, instances.instance_type,
            instances.initial_instance_count) == ("instances", "ml.c5.xlarge", 2)
    assert instances.enable_network_isolation and instances.kms_key_arn == KMS
    assert not instances.handler_captures
    config = deployer.endpoint_config_request(instances, "c", "m")
    assert config["DataCaptureConfig"]["InitialSamplingPercentage"] == 20
    assert config["DataCaptureConfig"]["KmsKeyId"] == KMS
    assert {m["CaptureMode"] for m in config["DataCaptureConfig"]["CaptureOptions"]} == \
        {"Input", "Output"}
    rollout = deployer.deployment_config(instances)
    assert rollout["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "CANARY"
    assert [a["AlarmName"] for a in rollout["AutoRollbackConfiguration"]["Alarms"]] == \
        ["churn-5xx-errors", "churn-model-latency"]
    assert (instances.autoscaling_min_capacity, instances.autoscaling_max_capacity) == (2, 6)


def test_the_enums_spell_what_the_deployer_accepts():
    assert [kind.value for kind in EndpointKind] == list(deployer.KINDS)
    assert [s.value for s in DeploymentStrategy] == list(deployer.STRATEGIES)
    assert [m.value for m in CaptureMethod] == list(deployer.CAPTURE_METHODS)
    assert CaptureMethod is SpecCaptureMethod


# -- events: Approved only, this group only; retries and dead letters ------------------------


def test_the_approval_rule_matches_approved_packages_of_this_group_only(serverless_plan):
    rule = by_name(serverless_plan, RULE, "churn-approval-rule")
    assert json.loads(rule.inputs["eventPattern"]) == {
        "source": ["aws.sagemaker"], "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": [GROUP], "ModelApprovalStatus": ["Approved"],
                   "ModelPackageStatus": ["Completed"]}}


@pytest.mark.parametrize(("plan_name", "rules"), [
    ("serverless_plan", {"churn-approval-rule", "churn-inservice-rule"}),
    ("instances_plan", {"churn-approval-rule", "churn-inservice-rule"}),
])
def test_every_rule_targets_the_deployer_with_retries_a_dlq_and_its_own_permission(
        plan_name, rules, request):
    plan = request.getfixturevalue(plan_name)
    assert {r.name for r in plan.of_type(RULE)} == rules
    function = only(plan, FUNCTION)
    queue = f"/{only(plan, QUEUE).name}-"  # ARNs hold the auto-named physical names

    def names(arns):
        return sorted(arn.rsplit("/", 1)[1].rsplit("-", 1)[0] for arn in arns)

    for target in plan.of_type(TARGET):
        assert target.inputs["arn"].endswith(f":function:{function.inputs['name']}")
        assert target.inputs["retryPolicy"]["maximumRetryAttempts"] > 0
        assert queue in target.inputs["deadLetterConfig"]["arn"]
    permissions = plan.of_type(PERMISSION)
    assert all(p.inputs["principal"] == "events.amazonaws.com" for p in permissions)
    assert names(p.inputs["sourceArn"] for p in permissions) == sorted(rules)
    (grant,) = json.loads(only(plan, QUEUE_POLICY).inputs["policy"])["Statement"]
    assert grant["Principal"] == {"Service": "events.amazonaws.com"}
    assert grant["Action"] == ["sqs:SendMessage"]
    assert names(grant["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(rules)
    assert queue in grant["Resource"][0]
    failures = only(plan, ASYNC_CONFIG).inputs
    assert queue in failures["destinationConfig"]["onFailure"]["destination"]
    assert only(plan, QUEUE).inputs["sqsManagedSseEnabled"] is True


@pytest.mark.parametrize("plan_name", ["serverless_plan", "instances_plan"])
def test_the_state_rule_sends_this_endpoint_in_service_and_failed_for_every_kind(
        plan_name, request):
    """Reconciling needs it on every endpoint, not only with autoscaling."""
    rule = by_name(request.getfixturevalue(plan_name), RULE, "churn-inservice-rule")
    pattern = json.loads(rule.inputs["eventPattern"])
    assert pattern["detail-type"] == ["SageMaker Endpoint State Change"]
    assert pattern["detail"]["EndpointName"] == ["churn"]
    assert {"IN_SERVICE", "FAILED", "UPDATE_ROLLBACK_FAILED"} <= set(
        pattern["detail"]["EndpointStatus"])
    assert not {"CREATING", "UPDATING", "ROLLING_BACK"} & set(
        pattern["detail"]["EndpointStatus"])


# -- destroy -----------------------------------------------------------------------------------


@pytest.mark.parametrize("plan_name", ["serverless_plan", "instances_plan"])
def test_destroy_runs_the_cleanup_after_the_targets_and_before_the_function(plan_name,
                                                                             request):
    plan = request.getfixturevalue(plan_name)
    cleanup = only(plan, INVOCATION)
    assert cleanup.inputs["lifecycleScope"] == "CRUD"
    assert cleanup.inputs["terraformKey"] == deployer.LIFECYCLE_KEY
    assert json.loads(cleanup.inputs["input"]) == {deployer.CLEANUP_MARKER: "churn"}
    function = only(plan, FUNCTION)
    deployer_policy = by_name(plan, ROLE_POLICY, "churn-deployer-role-policy")
    assert {function.urn, deployer_policy.urn} <= set(cleanup.dependencies)
    for target in plan.of_type(TARGET):  # destroyed first: no deployment after the cleanup
        assert cleanup.urn in target.dependencies
    # what the hook does with this input is tested against moto (tests/serving)
    assert deployer.handle({**json.loads(cleanup.inputs["input"]),
                            "tf": {"action": "create"}},
                           deployer.Config.from_env(env(plan))).action == "noop"


# -- roles: least privilege as pairs --------------------------------------------------------


def test_the_deployer_may_touch_only_this_endpoints_resources(serverless_plan):
    statements = policy(serverless_plan, "churn-deployer-role-policy")
    arn = "arn:aws:sagemaker:us-east-1:123456789012"
    assert statements["OwnModels"]["Resource"] == [f"{arn}:model/churn-v*"]
    assert statements["OwnEndpointConfigs"]["Resource"] == [f"{arn}:endpoint-config/churn-v*"]
    assert f"{arn}:endpoint/churn" in statements["OwnEndpoint"]["Resource"]
    assert all("*" not in action for s in statements.values() for action in s["Action"])
    wildcard = {sid for sid, s in statements.items() if s.get("Resource") == ["*"]}
    assert wildcard == {"FindOwnResourcesToDelete", "FindScalableTargets",
                        "FindNewestApprovedPackage", "CountFailedDeployments"}
    assert all(a.startswith(("sagemaker:List", "application-autoscaling:Describe",
                             "cloudwatch:PutMetricData"))
               for sid in wildcard for a in statements[sid]["Action"])
    assert statements["ReleaseScaling"]["Resource"] == [
        "arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/*"]
    assert statements["CountFailedDeployments"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "mlops/Deployer"}}


def test_the_deployer_passes_only_the_model_role_and_only_to_sagemaker(serverless_plan):
    statements = policy(serverless_plan, "churn-deployer-role-policy")
    pass_role = statements["PassModelRole"]
    (role_arn,) = pass_role["Resource"]
    assert role_arn.startswith("arn:aws:iam::123456789012:role/churn-model-role-")
    assert pass_role["Condition"] == {"StringEquals": {
        "iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert [sid for sid, s in statements.items() if "iam:PassRole" in s["Action"]] == \
        ["PassModelRole"]


def test_the_deployer_reads_package_baselines_and_writes_only_the_deployed_baseline(
        serverless_plan):
    statements = policy(serverless_plan, "churn-deployer-role-policy")
    bucket = f"arn:aws:s3:::{BUCKET}"
    assert statements["ReadPackageBaselines"]["Action"] == ["s3:GetObject"]
    assert statements["ReadPackageBaselines"]["Resource"] == [f"{bucket}/models/*"]
    writes = {sid: s["Resource"] for sid, s in statements.items()
              if any(a.startswith("s3:Put") for a in s["Action"])}
    assert writes == {"WriteDeployedBaseline": [f"{bucket}/models/churn/deployed-baseline/*"]}
    assert env(serverless_plan)["BASELINE_S3_URI"] == \
        f"s3://{BUCKET}/models/churn/deployed-baseline/"


@pytest.mark.parametrize(("plan_name", "scales"), [("serverless_plan", False),
                                                   ("instances_plan", True)])
def test_only_an_autoscaled_endpoint_may_register_scaling(plan_name, scales, request):
    statements = policy(request.getfixturevalue(plan_name), "churn-deployer-role-policy")
    assert ("ScaleOwnVariant" in statements) is scales
    assert ("TargetTrackingAlarms" in statements) is scales
    # Application Auto Scaling checks that the caller may describe and resize the variant
    assert ("ResizeOwnVariant" in statements) is scales
    if scales:
        assert statements["ScaleOwnVariant"]["Resource"] == [
            "arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/*"]
        assert statements["ResizeOwnVariant"]["Action"] == [
            "sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"]
        assert statements["ResizeOwnVariant"]["Resource"] == [
            "arn:aws:sagemaker:us-east-1:123456789012:endpoint/churn"]


@pytest.mark.parametrize(("plan_name", "rolls_back"), [("serverless_plan", False),
                                                       ("instances_plan", True)])
def test_auto_rollback_may_read_exactly_its_rollback_alarms(plan_name, rolls_back, request):
    """UpdateEndpoint with AutoRollbackConfiguration needs cloudwatch:DescribeAlarms."""
    statements = policy(request.getfixturevalue(plan_name), "churn-deployer-role-policy")
    assert ("ReadRollbackAlarms" in statements) is rolls_back
    if rolls_back:
        alarm = "arn:aws:cloudwatch:us-east-1:123456789012:alarm"
        assert statements["ReadRollbackAlarms"]["Action"] == ["cloudwatch:DescribeAlarms"]
        assert statements["ReadRollbackAlarms"]["Resource"] == [
            f"{alarm}:churn-5xx-errors", f"{alarm}:churn-model-latency"]
        assert env(request.getfixturevalue(plan_name))["ALARM_NAMES"] == \
            "churn-5xx-errors,churn-model-latency"


@pytest.mark.parametrize(("plan_name", "kms"), [("serverless_plan", False),
                                                ("instances_plan", True)])
def test_kms_is_granted_only_for_the_configured_key(plan_name, kms, request):
    plan = request.getfixturevalue(plan_name)
    model = policy(plan, "churn-model-role-policy")
    assert ("UseKmsKey" in model) is kms
    if kms:
        assert model["UseKmsKey"]["Resource"] == [KMS]
        assert policy(plan, "churn-deployer-role-policy")["EncryptEndpointStorage"][
            "Resource"] == [KMS]
    assert ("CopyEncryptedBaseline" in policy(plan, "churn-deployer-role-policy")) is kms


def test_the_model_role_reads_models_and_code_and_writes_only_its_capture(serverless_plan):
    model = policy(serverless_plan, "churn-model-role-policy")
    bucket = f"arn:aws:s3:::{BUCKET}"
    assert model["ReadModelArtifacts"]["Resource"] == [f"{bucket}/models/*",
                                                       f"{bucket}/code/*"]
    assert model["WriteCaptureRecords"] == {
        "Sid": "WriteCaptureRecords", "Effect": "Allow", "Action": ["s3:PutObject"],
        "Resource": [f"{bucket}/capture/churn/*"]}
    writes = [sid for sid, s in model.items() if any(a.startswith("s3:Put") for a in s["Action"])]
    assert writes == ["WriteCaptureRecords"]
    ecr = model["PullServingImage"]["Resource"]
    assert ecr == ["arn:aws:ecr:us-east-1:683313688378:repository/sagemaker-scikit-learn"]


def test_without_capture_the_model_role_writes_nothing(run_pulumi):
    plan = run_pulumi(make(dataclasses.replace(SERVERLESS, capture_sampling_percent=0)))
    assert "WriteCaptureRecords" not in policy(plan, "churn-model-role-policy")
    assert "CAPTURE_S3_URI" not in env(plan)


# -- alarms ------------------------------------------------------------------------------------


def test_alarms_watch_the_endpoint_variant_and_the_deployer(instances_plan):
    alarms = {a.inputs["name"]: a.inputs for a in instances_plan.of_type(ALARM)}
    assert set(alarms) == {"churn-5xx-errors", "churn-model-latency", "churn-deployer-errors",
                           "churn-deployment-failed"}
    failed = alarms["churn-deployment-failed"]
    assert (failed["namespace"], failed["metricName"], failed["dimensions"]) == (
        "mlops/Deployer", "FailedDeployments", {"EndpointName": "churn"})
    for name in ("churn-5xx-errors", "churn-model-latency"):
        assert alarms[name]["dimensions"] == {"EndpointName": "churn",
                                              "VariantName": "AllTraffic"}
        assert alarms[name]["namespace"] == "AWS/SageMaker"
    assert alarms["churn-5xx-errors"]["metricName"] == "Invocation5XXErrors"
    assert alarms["churn-model-latency"]["metricName"] == "ModelLatency"
    assert alarms["churn-model-latency"]["threshold"] == 1000 * 1000  # microseconds
    assert alarms["churn-deployer-errors"]["dimensions"] == {"FunctionName": "churn-deployer"}
    assert sorted(instances_plan.outputs["alarm_names"]) == sorted(alarms)


# -- validation: each rule, failing and passing --------------------------------------------

RULES = [
    # (field, failing change, passing change)
    ("capture_method", dict(capture_method=CaptureMethod.DATA_CAPTURE),
     dict(capture_method=CaptureMethod.HANDLER)),
    ("subnet_ids", dict(subnet_ids=["subnet-0123abcd"], security_group_ids=["sg-0123abcd"]),
     dict()),
    ("enable_network_isolation", dict(enable_network_isolation=True),
     dict(enable_network_isolation=False)),
    ("deployment_strategy", dict(deployment_strategy=DeploymentStrategy.CANARY),
     dict(deployment_strategy=DeploymentStrategy.ALL_AT_ONCE)),
    ("deployment_strategy", dict(deployment_strategy=DeploymentStrategy.LINEAR),
     dict(deployment_strategy="all_at_once")),
    ("autoscaling", dict(autoscaling=AutoscalingArgs()), dict(autoscaling=None)),
    ("serverless_memory_mb", dict(serverless_memory_mb=1500), dict(serverless_memory_mb=3072)),
    ("serverless_memory_mb", dict(serverless_memory_mb=7168), dict(serverless_memory_mb=6144)),
    ("serverless_memory_mb", dict(serverless_memory_mb=0), dict(serverless_memory_mb=1024)),
    ("serverless_max_concurrency", dict(serverless_max_concurrency=0),
     dict(serverless_max_concurrency=1)),
    ("serverless_max_concurrency", dict(serverless_max_concurrency=201),
     dict(serverless_max_concurrency=200)),
    ("capture_sampling_percent", dict(capture_sampling_percent=101),
     dict(capture_sampling_percent=100)),
    ("capture_sampling_percent", dict(capture_sampling_percent=-1),
     dict(capture_sampling_percent=0)),
    ("latency_alarm_ms", dict(latency_alarm_ms=0), dict(latency_alarm_ms=0.5)),
    ("error_alarm_count", dict(error_alarm_count=-1), dict(error_alarm_count=5)),
    ("kind", dict(kind="gpu"), dict(kind="serverless")),
    ("endpoint_name", dict(endpoint_name="bad_name!"), dict(endpoint_name="good-name")),
    # a deployment account: the registry account's group comes with its bucket and key
    ("model_package_group_name", dict(model_package_group_name=REGISTRY_GROUP.replace(
        "model-package-group", "model-package"), registry_bucket_name="registry-bucket"),
     dict(model_package_group_name=REGISTRY_GROUP, registry_bucket_name="registry-bucket")),
    ("registry_bucket_name", dict(model_package_group_name=REGISTRY_GROUP),
     dict(model_package_group_name=REGISTRY_GROUP, registry_bucket_name="registry-bucket")),
    ("registry_bucket_name", dict(registry_bucket_name="registry-bucket"), dict()),
    ("registry_bucket_name", dict(model_package_group_name=REGISTRY_GROUP,
                                  registry_bucket_name="Bad_Bucket"),
     dict(model_package_group_name=REGISTRY_GROUP, registry_bucket_name="registry-bucket")),
    ("registry_kms_key_arn", dict(model_package_group_name=REGISTRY_GROUP,
                                  registry_bucket_name="registry-bucket",
                                  registry_kms_key_arn="alias/registry"),
     dict(model_package_group_name=REGISTRY_GROUP, registry_bucket_name="registry-bucket",
          registry_kms_key_arn=KMS)),
    ("packages_on_destroy", dict(model_package_group_name=REGISTRY_GROUP,
                                 registry_bucket_name="registry-bucket",
                                 packages_on_destroy=PackagesOnDestroy.DELETE),
     dict(model_package_group_name=REGISTRY_GROUP, registry_bucket_name="registry-bucket")),
]
INSTANCE_RULES = [
    ("instance_count", dict(instance_count=0), dict(instance_count=1)),
    ("instance_type", dict(instance_type="m5.large"), dict(instance_type="ml.m5.large")),
    ("canary_percent", dict(canary_percent=100), dict(canary_percent=50)),
    ("canary_percent", dict(canary_percent=51), dict(canary_percent=1)),
    ("canary_percent", dict(deployment_strategy=DeploymentStrategy.LINEAR, canary_percent=5),
     dict(deployment_strategy=DeploymentStrategy.LINEAR, canary_percent=10)),
    ("canary_percent", dict(deployment_strategy=DeploymentStrategy.LINEAR, canary_percent=60),
     dict(deployment_strategy=DeploymentStrategy.LINEAR, canary_percent=50)),
    ("autoscaling.max_capacity", dict(autoscaling=AutoscalingArgs(3, 2)),
     dict(autoscaling=AutoscalingArgs(2, 3))),
    ("autoscaling.min_capacity", dict(autoscaling=AutoscalingArgs(0, 2)),
     dict(autoscaling=AutoscalingArgs(1, 2))),
    ("autoscaling.target_invocations_per_instance",
     dict(autoscaling=AutoscalingArgs(1, 2, 0)), dict(autoscaling=AutoscalingArgs(1, 2, 10))),
    ("security_group_ids", dict(subnet_ids=["subnet-0123abcd"]),
     dict(subnet_ids=["subnet-0123abcd"], security_group_ids=["sg-0123abcd"])),
    ("kms_key_arn", dict(kms_key_arn="alias/mine"), dict(kms_key_arn=KMS)),
    ("capture_method", dict(capture_method=CaptureMethod.HANDLER),
     dict(capture_method=CaptureMethod.HANDLER, enable_network_isolation=False)),
]


def _args(base: ModelEndpointArgs, change: dict) -> ModelEndpointArgs:
    return dataclasses.replace(base, **change)


@pytest.mark.parametrize(("field", "failing", "passing"), RULES,
                         ids=[f"{r[0]}-{i}" for i, r in enumerate(RULES)])
def test_serverless_rules(field, failing, passing):
    with pytest.raises(ValidationError, match=rf"ModelEndpoint 'churn': {field} .*\(got "):
        validate_endpoint_args("churn", _args(SERVERLESS, failing))
    validate_endpoint_args("churn", _args(SERVERLESS, passing))


@pytest.mark.parametrize(("field", "failing", "passing"), INSTANCE_RULES,
                         ids=[f"{r[0]}-{i}" for i, r in enumerate(INSTANCE_RULES)])
def test_instance_rules(field, failing, passing):
    with pytest.raises(ValidationError, match=rf"ModelEndpoint 'churn': {field} .*\(got "):
        validate_endpoint_args("churn", _args(INSTANCES, failing))
    validate_endpoint_args("churn", _args(INSTANCES, passing))


def test_instances_accept_what_serverless_refuses():
    validate_endpoint_args("churn", _args(INSTANCES, dict(
        capture_method=CaptureMethod.DATA_CAPTURE, enable_network_isolation=True,
        subnet_ids=["subnet-0123abcd"], security_group_ids=["sg-0123abcd"],
        deployment_strategy=DeploymentStrategy.LINEAR)))


def test_every_problem_is_reported_at_once_and_nothing_is_created(run_pulumi):
    bad = _args(SERVERLESS, dict(serverless_memory_mb=100, serverless_max_concurrency=0,
                                 deployment_strategy="canary", bucket_name=None))
    with pytest.raises(ValidationError) as error:
        run_pulumi(make(bad))
    assert len(error.value.problems) == 4
    assert "bucket_name is required" in str(error.value)


def test_the_endpoints_log_group_is_declared_with_a_retention(serverless_plan):
    (logs,) = [r for r in serverless_plan.of_type("aws:cloudwatch/logGroup:LogGroup")
               if r.name == "churn-endpoint-logs"]
    assert logs.inputs["name"] == "/aws/sagemaker/Endpoints/churn"
    assert logs.inputs["retentionInDays"] == 30


def test_a_log_retention_cloudwatch_does_not_offer_is_refused():
    with pytest.raises(ValidationError, match=r"log_retention_days must be one of .* \(got 31\)"):
        ModelEndpoint("churn", dataclasses.replace(SERVERLESS, log_retention_days=31))


def test_only_a_deleting_destroy_may_delete_the_groups_packages(serverless_plan):
    assert "DeleteGroupPackagesOnDestroy" not in policy(serverless_plan,
                                                        "churn-deployer-role-policy")
    from mlops_components.plan import evaluate
    plan = evaluate(make(dataclasses.replace(SERVERLESS,
                                             packages_on_destroy=PackagesOnDestroy.DELETE)),
                    project="mlops", stack="test")
    statement = policy(plan, "churn-deployer-role-policy")["DeleteGroupPackagesOnDestroy"]
    assert statement["Action"] == ["sagemaker:DeleteModelPackage"]
    assert statement["Resource"] == [
        "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/*"]
