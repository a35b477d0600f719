"""MlopsStack composes the components; the example program under both example stacks."""

import json

import pulumi
import pytest

from mlops_components import MlopsStack, MlopsStackArgs, ValidationError
from mlops_components.components.training_pipeline import TrainingPipelineArgs
from mlops_components.plan import run_program
from mlops_components.project import load_project
from mlops_components.validation import MAX_MODEL_NAME_LENGTH
from tests.conftest import REPO_ROOT, only


def plan_for(stack):
    project = load_project(REPO_ROOT)
    return run_program(REPO_ROOT, project.name, stack, project.stack_config(stack))


@pytest.fixture(scope="module", params=["dev", "staging", "prod"])
def example_plan(request):
    return plan_for(request.param)


def test_no_planned_lambda_reserves_concurrency(example_plan):
    """A reservation must leave the account's minimum unreserved: with a total limit of 10 or
    50 (new accounts), any reservation can make `pulumi up` fail."""
    functions = example_plan.of_type("aws:lambda/function:Function")
    assert any(f.name.endswith("-retrain-gate") for f in functions)
    assert [(f.name, f.inputs["reservedConcurrentExecutions"]) for f in functions
            if f.inputs.get("reservedConcurrentExecutions", -1) != -1] == []


def test_the_stack_compares_every_retrain_with_the_champion(example_plan):
    """The schedule too: with the stack's champion parameter, every retrain rule targets the
    gate, which passes ChampionModelUri (a direct pipeline target cannot look it up)."""
    (gate,) = [f for f in example_plan.of_type("aws:lambda/function:Function")
               if f.name.endswith("-retrain-gate")]
    targets = [t.inputs for t in example_plan.of_type("aws:cloudwatch/eventTarget:EventTarget")
               if "-retrain-" in t.name]
    assert targets and all(t["arn"].endswith(f":function:{gate.inputs['name']}")
                           for t in targets)
    assert gate.inputs["environment"]["variables"]["CHAMPION_PARAMETER"] == "ChampionModelUri"


def test_components_are_children_of_the_stack(run_pulumi):
    plan = run_pulumi(lambda: MlopsStack("churn", MlopsStackArgs(tags={"team": "ml"})))
    stack = only(plan, "mlops:index:MlopsStack")
    assert only(plan, "mlops:index:DataBucket").parent == stack.urn
    assert only(plan, "mlops:index:ModelRegistry").parent == stack.urn
    bucket = only(plan, "aws:s3/bucket:Bucket")
    assert bucket.inputs["tags"] == {"managed-by": "mlops-components", "model": "churn",
                                     "team": "ml"}


@pytest.mark.parametrize("name", ["churn_v2", "c" * (MAX_MODEL_NAME_LENGTH + 1)])
def test_stack_rejects_a_bad_name_before_creating_anything(name):
    from mlops_components.plan import mocked_runtime

    with mocked_runtime("mlops", "test") as monitor:
        with pytest.raises(ValidationError,
                           match=rf"MlopsStack '{name}': name must be 1-{MAX_MODEL_NAME_LENGTH} "):
            MlopsStack(name)
    assert monitor.recorded == []


def test_pipeline_problems_surface_at_construction_all_at_once(run_pulumi):
    args = MlopsStackArgs(pipeline=TrainingPipelineArgs(
        problem_type="regression", target_column=" ", processing_instance_count=0))
    with pytest.raises(ValidationError) as raised:
        run_pulumi(lambda: MlopsStack("churn", args))
    problems = raised.value.problems
    assert "TrainingPipeline 'churn-training': target_column must be a non-empty column " \
        "name (got ' ')" in problems
    assert "TrainingPipeline 'churn-training': processing_instance_count must be an " \
        "integer >= 1 and <= 100 (got 0)" in problems


def test_the_pipeline_gets_the_stack_bucket_and_group(run_pulumi):
    def program():
        pulumi.export("bucket", MlopsStack("churn").bucket_name)

    plan = run_pulumi(program)
    (pipeline,) = [p for p in plan.of_type("aws:sagemaker/pipeline:Pipeline")
                   if p.name == "churn-training-pipeline"]
    assert pipeline.parent == only(plan, "mlops:index:TrainingPipeline").urn
    bucket = plan.outputs["bucket"]
    assert f"s3://{bucket}/raw/" in pipeline.inputs["pipelineDefinition"]
    assert '"ModelPackageGroupName":"churn"' in pipeline.inputs["pipelineDefinition"]


def test_every_bucket_of_each_example_stack_is_secure(example_plan):
    buckets = example_plan.of_type("aws:s3/bucket:Bucket")
    assert buckets
    for bucket in buckets:
        def for_bucket(type_token, resource=bucket):
            siblings = [r for r in example_plan.of_type(type_token)
                        if r.parent == resource.parent]
            assert len(siblings) == 1, type_token
            return siblings[0].inputs
        block = for_bucket("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
        assert all(block[key] is True for key in ("blockPublicAcls", "blockPublicPolicy",
                                                  "ignorePublicAcls", "restrictPublicBuckets"))
        sse = for_bucket("aws:s3/bucketServerSideEncryptionConfiguration:"
                         "BucketServerSideEncryptionConfiguration")
        assert sse["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
        assert for_bucket("aws:s3/bucketVersioning:BucketVersioning")[
            "versioningConfiguration"]["status"] == "Enabled"
        assert for_bucket("aws:s3/bucketOwnershipControls:BucketOwnershipControls")[
            "rule"]["objectOwnership"] == "BucketOwnerEnforced"
        policy = json.loads(for_bucket("aws:s3/bucketPolicy:BucketPolicy")["policy"])
        assert {"Bool": {"aws:SecureTransport": "false"}} in [
            s.get("Condition") for s in policy["Statement"] if s["Effect"] == "Deny"]
        assert for_bucket("aws:s3/bucketNotification:BucketNotification")["eventbridge"]


def test_dev_is_cheap_and_disposable_prod_is_kept():
    dev, prod = plan_for("dev"), plan_for("prod")
    assert only(dev, "aws:s3/bucket:Bucket").inputs["forceDestroy"] is True
    assert only(prod, "aws:s3/bucket:Bucket").inputs["forceDestroy"] is False
    assert dev.outputs["model_package_group_name"] != prod.outputs["model_package_group_name"]


READER_POLICY = "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy"


def test_example_stacks_grant_no_account_nobody_chose(example_plan):
    assert example_plan.of_type(READER_POLICY) == []


def test_a_reader_account_someone_lists_is_granted_and_only_it():
    """The other half: the same stack with a chosen account grants exactly that account."""
    from mlops_components.plan import plan_stack

    plan = plan_stack(REPO_ROOT, "prod", overrides={"readerAccountIds": '["111122223333"]'})
    (statement,) = json.loads(only(plan, READER_POLICY).inputs["resourcePolicy"])["Statement"]
    assert statement["Principal"] == {"AWS": ["arn:aws:iam::111122223333:root"]}


def test_program_exports_what_consumers_need(example_plan):
    assert set(example_plan.outputs) >= {"bucket_name", "model_package_group_name",
                                         "approval_event_pattern", "endpoint_name"}
    group = only(example_plan, "aws:sagemaker/modelPackageGroup:ModelPackageGroup")
    assert example_plan.outputs["model_package_group_name"] == \
        group.inputs["modelPackageGroupName"]


def test_every_child_has_a_parent_inside_the_stack(example_plan):
    urns = {r.urn for r in example_plan.resources}
    stack_component = only(example_plan, "mlops:index:MlopsStack")
    for resource in example_plan.resources:
        if resource is not stack_component:
            assert resource.parent in urns, resource.name


def test_program_under_pulumi_runtime_test_decorator():
    """The same program through the stock decorator: outputs awaited by Pulumi itself."""
    from mlops_components.plan import mocked_runtime

    with mocked_runtime("mlops", "unit"):
        @pulumi.runtime.test
        def check():
            stack = MlopsStack("churn")
            return stack.approval_event_pattern.apply(
                lambda pattern: _assert_group(json.loads(pattern), "churn"))
        check()


def _assert_group(pattern, group):
    assert pattern["detail"]["ModelPackageGroupName"] == [group]


def test_the_stack_monitors_its_endpoint_and_retrains_on_new_data_and_drift(run_pulumi):
    plan = run_pulumi(lambda: MlopsStack("churn"))
    stack = only(plan, "mlops:index:MlopsStack")
    assert only(plan, "mlops:index:ModelMonitor").parent == stack.urn
    assert only(plan, "mlops:index:RetrainTrigger").parent == stack.urn
    (monitor,) = [p for p in plan.of_type("aws:sagemaker/pipeline:Pipeline")
                  if p.name == "churn-monitor-pipeline"]
    definition = json.loads(monitor.inputs["pipelineDefinition"])
    arguments = definition["Steps"][0]["Arguments"]
    assert "--endpoint" in arguments["AppSpecification"]["ContainerArguments"]
    assert "churn-endpoint" in arguments["AppSpecification"]["ContainerArguments"]
    code = {i["InputName"]: i["S3Input"]["S3Uri"] for i in arguments["ProcessingInputs"]}["code"]
    assert "/code/churn-training/" in code  # the training pipeline's code, same version
    rules = {r.name: r.inputs for r in plan.of_type("aws:cloudwatch/eventRule:EventRule")
             if "-monitor-" in r.name or "-retrain-" in r.name}
    assert set(rules) == {"churn-monitor-schedule", "churn-monitor-failures",
                          "churn-retrain-new-data", "churn-retrain-drift"}
    drift = json.loads(rules["churn-retrain-drift"]["eventPattern"])
    assert drift["detail"]["alarmName"] == ["churn/churn-endpoint/drift-detected"]
    failures = json.loads(rules["churn-monitor-failures"]["eventPattern"])
    assert [arn.rsplit("/", 1)[1] for arn in failures["detail"]["pipelineArn"]] == [
        "churn-monitor", "churn-training"]  # the training pipeline's failures too


def test_the_deployer_copies_the_baseline_to_where_the_monitor_reads_it(run_pulumi):
    plan = run_pulumi(lambda: MlopsStack("churn"))
    (deployer_function,) = [f for f in plan.of_type("aws:lambda/function:Function")
                            if f.name == "churn-endpoint-deployer"]
    deployer_env = deployer_function.inputs["environment"]["variables"]
    (monitor,) = [p for p in plan.of_type("aws:sagemaker/pipeline:Pipeline")
                  if p.name == "churn-monitor-pipeline"]
    parameters = {p["Name"]: p.get("DefaultValue")
                  for p in json.loads(monitor.inputs["pipelineDefinition"])["Parameters"]}
    assert parameters["BaselineUri"].endswith("/models/churn/deployed-baseline/")
    assert deployer_env["BASELINE_S3_URI"] == parameters["BaselineUri"]


def test_monitoring_and_retraining_can_be_left_out(run_pulumi):
    plan = run_pulumi(lambda: MlopsStack("churn", MlopsStackArgs(monitor=None, retrain=None)))
    assert plan.of_type("mlops:index:ModelMonitor") == []
    assert plan.of_type("mlops:index:RetrainTrigger") == []


def test_without_monitoring_retraining_listens_to_new_data_only(run_pulumi):
    plan = run_pulumi(lambda: MlopsStack("churn", MlopsStackArgs(monitor=None)))
    rules = [r.name for r in plan.of_type("aws:cloudwatch/eventRule:EventRule")
             if "-endpoint-" not in r.name]
    assert rules == ["churn-retrain-new-data"]


@pytest.mark.parametrize(("stack", "monitor", "retrain"), [
    ("dev", "rate(1 day)", {"new-data", "drift"}),
    ("prod", "rate(1 hour)", {"new-data", "drift", "schedule"}),
])
def test_dev_monitors_daily_prod_hourly(stack, monitor, retrain):
    plan = plan_for(stack)
    rules = {r.name: r.inputs
             for r in plan.of_type("aws:cloudwatch/eventRule:EventRule")}
    model = "diagnosis-dev" if stack == "dev" else "diagnosis"
    assert rules[f"{model}-monitor-schedule"]["scheduleExpression"] == monitor
    assert {name.removeprefix(f"{model}-retrain-") for name in rules
            if name.startswith(f"{model}-retrain-")} == retrain


def test_dev_serves_serverless_and_prod_on_instances_with_canary_blue_green():
    from mlops_components.functions.deployer import Config, deployment_config

    def deployer_config(plan):
        endpoint = only(plan, "mlops:index:ModelEndpoint").urn
        (function,) = [f for f in plan.of_type("aws:lambda/function:Function")
                       if f.parent == endpoint]
        return Config.from_env(function.inputs["environment"]["variables"])

    dev_plan, prod_plan = plan_for("dev"), plan_for("prod")
    dev, prod = deployer_config(dev_plan), deployer_config(prod_plan)
    assert (dev.endpoint_kind, dev.deployment_strategy) == ("serverless", "all_at_once")
    assert dev.endpoint_name == dev_plan.outputs["endpoint_name"] == "diagnosis-dev-endpoint"
    assert (prod.endpoint_kind, prod.deployment_strategy) == ("instances", "canary")
    assert prod.enable_network_isolation and prod.autoscaling
    routing = deployment_config(prod)["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["Type"] == "CANARY"
    assert prod.model_package_group == prod_plan.outputs["model_package_group_name"]


def test_an_endpoint_setting_aws_refuses_fails_the_stack_at_construction(run_pulumi):
    from mlops_components import EndpointKind, ModelEndpointArgs

    args = MlopsStackArgs(endpoint=ModelEndpointArgs(kind=EndpointKind.SERVERLESS,
                                                     deployment_strategy="canary"))
    with pytest.raises(ValidationError, match="ModelEndpoint 'churn-endpoint': "
                                              "deployment_strategy must be 'all_at_once'"):
        run_pulumi(lambda: MlopsStack("churn", args))


def test_model_monitor_on_a_serverless_endpoint_fails_the_stack_before_anything():
    from mlops_components import EndpointKind, ModelEndpointArgs
    from mlops_components.components.model_monitor import ModelMonitorArgs, MonitorEngine
    from mlops_components.plan import mocked_runtime

    args = MlopsStackArgs(endpoint=ModelEndpointArgs(kind=EndpointKind.SERVERLESS),
                          monitor=ModelMonitorArgs(engine=MonitorEngine.MODEL_MONITOR,
                                                   features=["age"],
                                                   schedule_expression="rate(1 hour)"))
    with mocked_runtime("mlops", "test") as monitor:
        with pytest.raises(ValidationError, match=r"MlopsStack 'churn': monitor.engine must be "
                                                  r"'processing' for a serverless endpoint.*"
                                                  r"'instances' only.*got 'model-monitor'"):
            MlopsStack("churn", args)
    assert monitor.recorded == []


def test_model_monitor_engine_with_serverless_in_config_is_refused():
    from mlops_components.config import parse_config

    with pytest.raises(ValidationError) as raised:
        parse_config({"mlops:monitorEngine": "model-monitor",
                      "mlops:endpointKind": "serverless"})
    (problem,) = raised.value.problems
    assert problem.startswith("config mlops:monitorEngine: must be 'processing' with "
                              "mlops:endpointKind 'serverless'")
    assert "got 'model-monitor'" in problem
    assert parse_config({"mlops:monitorEngine": "model-monitor",
                         "mlops:endpointKind": "instances"}).monitor_engine == "model-monitor"


def depends_on(plan, resource, ancestor_urn: str) -> bool:
    """Whether `resource` waits for `ancestor_urn`, directly or through other resources."""
    by_urn = {r.urn: r for r in plan.resources}
    todo, seen = list(resource.dependencies), set()
    while todo:
        urn = todo.pop()
        if urn == ancestor_urn:
            return True
        if urn not in seen and urn in by_urn:
            seen.add(urn)
            todo.extend(by_urn[urn].dependencies)
    return False


def test_destroy_runs_the_cleanup_while_what_it_needs_exists_and_after_the_rule_targets(
        example_plan):
    """Pulumi destroys dependents first. The cleanup waits for the endpoint's deletion, which
    needs the models' role (KMS grants) and the deployer; no approval may deploy after it."""
    (cleanup,) = example_plan.of_type("aws:lambda/invocation:Invocation")
    endpoint = cleanup.parent
    owned = [r for r in example_plan.resources if r.parent == endpoint]

    def named(suffix: str):
        (resource,) = [r for r in owned if r.name.endswith(suffix)]
        return resource
    needed = [named("-model-role"), named("-model-role-policy"), named("-deployer"),
              named("-deployer-role"), named("-deployer-role-policy"),
              named("-endpoint-logs")]
    assert named("-endpoint-logs").inputs["name"].startswith("/aws/sagemaker/Endpoints/")
    for resource in needed:
        assert depends_on(example_plan, cleanup, resource.urn), \
            f"destroy may delete {resource.name} before the cleanup ran"
    targets = [r for r in owned if r.type == "aws:cloudwatch/eventTarget:EventTarget"]
    assert targets
    for target in targets:
        assert depends_on(example_plan, target, cleanup.urn)


def test_the_stacks_destroy_deletes_the_groups_packages_in_dev_and_refuses_in_prod(
        example_plan):
    (function,) = [f for f in example_plan.of_type("aws:lambda/function:Function")
                   if f.name.endswith("-deployer")]
    expected = {"dev": "delete", "staging": "refuse", "prod": "refuse"}[example_plan.stack]
    assert function.inputs["environment"]["variables"]["PACKAGES_ON_DESTROY"] == expected
