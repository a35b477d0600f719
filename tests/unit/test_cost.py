"""`mlops cost`: the arithmetic, every planned resource type priced or free, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_components.cli import main
from mlops_components.cost import (
    FREE_TYPES,
    PRICERS,
    CostError,
    Prices,
    Usage,
    estimate,
    load_prices,
    load_usage,
    unpriced_types,
)
from mlops_components.plan import Plan, RecordedResource, plan_stack
from mlops_components.validation import runs_per_month
from tests.conftest import REPO_ROOT
from tests.plan_snapshot import snapshot_path

STACK = "urn:pulumi:demo::mlops::"

# -- a small stack priced by hand ------------------------------------------------------------

#: Round prices, so every expected number below is worked out by hand.
ROUND_PRICES = {
    "instance_hour": {"processing": {"ml.m5.large": 1.0}, "training": {"ml.m5.xlarge": 2.0},
                      "inference": {"ml.m5.large": 1.0}},
    "ml_storage_gb_month": {"usd": 0.0},
    "serverless_gb_second": {"usd": 0.00002},
    "sagemaker_data_processed_gb": {"usd": 0.0},
    "lambda_request": {"usd": 0.0},
    "lambda_gb_second": {"usd": 0.0},
    "cloudwatch_alarm_month": {"usd": 0.10},
    "cloudwatch_high_resolution_alarm_month": {"usd": 0.30},
    "cloudwatch_metric_month": {"usd": 0.30},
    "cloudwatch_put_metric_request": {"usd": 0.0},
    "cloudwatch_logs_ingested_gb": {"usd": 0.5},
    "cloudwatch_logs_stored_gb_month": {"usd": 0.03},
    "s3_standard_gb_month": {"usd": 0.02},
    "s3_put_request": {"usd": 0.0},
    "sqs_request": {"usd": 0.0000004},
    "kms_key_month": {"usd": 1.0},
}


def _resource(type_token: str, name: str, inputs: dict, dependencies: list[str] = ()
              ) -> RecordedResource:
    return RecordedResource(urn=f"{STACK}{type_token}::{name}", type=type_token, name=name,
                            parent=None, inputs=inputs, custom=True,
                            dependencies=list(dependencies))


def _demo_plan(endpoint_env: dict[str, str]) -> Plan:
    definition = {
        "Parameters": [{"Name": "PrepType", "DefaultValue": "ml.m5.large"}],
        "Steps": [
            {"Name": "Prep", "Type": "Processing", "Arguments": {"ProcessingResources": {
                "ClusterConfig": {"InstanceCount": 2, "VolumeSizeInGB": 30,
                                  "InstanceType": {"Get": "Parameters.PrepType"}}}}},
            {"Name": "Fit", "Type": "Training", "Arguments": {
                "EnableManagedSpotTraining": True,
                "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                                   "VolumeSizeInGB": 30}}},
            {"Name": "Register", "Type": "RegisterModel", "Arguments": {}},
        ]}
    pipeline = _resource("aws:sagemaker/pipeline:Pipeline", "pipe", {
        "pipelineName": "demo-pipe", "pipelineDefinition": json.dumps(definition)})
    rule = _resource("aws:cloudwatch/eventRule:EventRule", "daily",
                     {"scheduleExpression": "rate(1 day)"})
    target = _resource("aws:cloudwatch/eventTarget:EventTarget", "daily-target", {
        "arn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/demo-pipe"},
        [rule.urn, pipeline.urn])
    alarm = _resource("aws:cloudwatch/metricAlarm:MetricAlarm", "fast-alarm",
                      {"name": "fast", "period": 10, "namespace": "Demo"})
    deployer = _resource("aws:lambda/function:Function", "deployer", {
        "name": "demo-deployer", "memorySize": 1024,
        "environment": {"variables": {"ENDPOINT_NAME": "demo-endpoint",
                                      "MODEL_PACKAGE_GROUP": "demo",
                                      "EXECUTION_ROLE_ARN": "arn:aws:iam::1:role/r",
                                      **endpoint_env}}})
    role = _resource("aws:iam/role:Role", "role", {})
    key = _resource("aws:kms/key:Key", "key", {})
    return Plan(stack="demo", resources=[pipeline, rule, target, alarm, deployer, role, key])


@pytest.fixture
def round_prices(tmp_path) -> Prices:
    return Prices(region="us-east-1", table=ROUND_PRICES, path=tmp_path / "us-east-1.yaml")


def _line(result, name):
    return next(line for line in result.lines if line.resource == name)


def test_a_small_stack_costs_what_the_hand_computation_says(round_prices):
    # GIVEN a daily pipeline (2 x processing at $1/h, 1 x spot training at $2/h), a
    # high-resolution alarm and a serverless endpoint of 2 GB
    plan = _demo_plan({"ENDPOINT_KIND": "serverless", "SERVERLESS_MEMORY_MB": "2048"})
    usage = Usage(job_minutes={"Prep": 6, "Fit": 30}, spot_discount=0.5,
                  requests_per_day=1200, seconds_per_request=0.5, kb_per_request=0)
    # WHEN it is priced
    result = estimate(plan, usage, round_prices)
    # THEN: rate(1 day) is 730 h / 24 h = 30.4167 runs a month
    runs = 730 / 24
    prep = runs * 2 * (6 / 60) * 1.0            # 2 instances x 0.1 h x $1
    fit = runs * 1 * (30 / 60) * 2.0 * 0.5      # 0.5 h x $2, half off (spot)
    assert _line(result, "pipe").monthly_usd == pytest.approx(prep + fit)
    assert [item["step"] for item in _line(result, "pipe").items] == ["Prep", "Fit"]
    assert _line(result, "fast-alarm").monthly_usd == pytest.approx(0.30)
    requests = 1200 * 730 / 24                  # 36,500 a month
    serverless = requests * 0.5 * 2 * 0.00002   # s x GB x $/GB-s = $0.73
    assert _line(result, "demo-endpoint").monthly_usd == pytest.approx(serverless)
    assert serverless == pytest.approx(0.73)
    assert _line(result, "deployer").monthly_usd == 0  # no rule invokes it
    assert _line(result, "role").free
    assert _line(result, "key").monthly_usd == pytest.approx(1.0)  # a customer managed key
    assert result.total == pytest.approx(prep + fit + 0.30 + serverless + 1.0)
    assert result.biggest.resource == "pipe"


def test_runs_per_month_override_and_an_instance_endpoint_at_its_autoscaling_floor(
        round_prices):
    plan = _demo_plan({"ENDPOINT_KIND": "instances", "INSTANCE_TYPE": "ml.m5.large",
                       "INITIAL_INSTANCE_COUNT": "3", "AUTOSCALING_MIN_CAPACITY": "2",
                       "AUTOSCALING_MAX_CAPACITY": "4",
                       "AUTOSCALING_TARGET_INVOCATIONS": "100"})
    usage = Usage(runs_per_month=10, job_minutes={"Prep": 6, "Fit": 30}, spot_discount=0.5,
                  kb_per_request=0)
    result = estimate(plan, usage, round_prices)
    assert _line(result, "pipe").monthly_usd == pytest.approx(10 * 0.2 * 1 + 10 * 0.5 * 2 * 0.5)
    assert _line(result, "demo-endpoint").monthly_usd == pytest.approx(2 * 730 * 1.0)
    more = estimate(plan, Usage(endpoint_instances=3.5, kb_per_request=0), round_prices)
    assert _line(more, "demo-endpoint").monthly_usd == pytest.approx(3.5 * 730)


def test_a_step_in_an_instance_type_without_a_price_is_refused_by_name(round_prices):
    plan = _demo_plan({})
    definition = json.loads(plan.resources[0].inputs["pipelineDefinition"])
    definition["Parameters"][0]["DefaultValue"] = "ml.p5.48xlarge"
    plan.resources[0].inputs["pipelineDefinition"] = json.dumps(definition)
    with pytest.raises(CostError, match="no processing price for instance type 'ml.p5.48xlarge'"):
        estimate(plan, Usage(), round_prices)


# -- every resource type of the example stacks is priced or free -----------------------------


def _snapshot_plan(stack: str) -> Plan:
    document = json.loads(snapshot_path(stack).read_text())
    return Plan(stack=stack, resources=[
        RecordedResource(urn=r["urn"], type=r["type"], name=r["name"], parent=r["parent"],
                         inputs=r["inputs"], custom=True) for r in document["resources"]])


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_resource_type_of_the_plan_is_priced_or_free(stack):
    missing = unpriced_types(_snapshot_plan(stack))
    assert not missing, (f"{stack}: no price and not listed as free in cost.FREE_TYPES: "
                         f"{', '.join(missing)}")


def test_a_new_resource_type_is_reported_unpriced_by_name():
    plan = _snapshot_plan("dev")
    plan.resources.append(RecordedResource(urn=f"{STACK}x", type="aws:ec2/instance:Instance",
                                           name="surprise", parent=None, inputs={},
                                           custom=True))
    assert unpriced_types(plan) == ["aws:ec2/instance:Instance"]
    assert estimate(plan).unpriced == ["aws:ec2/instance:Instance"]


def test_priced_and_free_types_do_not_overlap():
    assert not set(PRICERS) & set(FREE_TYPES)


def test_the_price_table_names_its_region_sources_and_date():
    prices = load_prices("us-east-1")
    assert prices.table["region"] == "us-east-1"
    assert prices.table["checked"]
    for key, entry in prices.table.items():
        if isinstance(entry, dict) and ("usd" in entry or key == "instance_hour"):
            assert entry["source"] in prices.table["sources"], key
            assert entry["confirmed"] in ("secondary", "unconfirmed"), key
    with pytest.raises(CostError, match="no price table for region eu-west-3"):
        load_prices("eu-west-3")


# -- the goals, on the real plans ------------------------------------------------------------


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    return {stack: plan_stack(REPO_ROOT, stack) for stack in ("dev", "prod")}


def test_dev_costs_under_five_dollars_a_month_idle(plans):
    idle = estimate(plans["dev"], Usage().idle())
    assert idle.total < 5, [(line.resource, line.monthly_usd) for line in idle.lines]
    assert estimate(plans["dev"]).total < 5


def test_prods_biggest_line_is_its_endpoint(plans):
    result = estimate(plans["prod"])
    assert result.biggest.resource == "diagnosis-endpoint"
    assert result.biggest.monthly_usd == pytest.approx(2 * 730 * 0.115, rel=0.01)
    runs = {text.split(":")[0]: text for text in result.assumptions}
    assert "cron(0 3 ? * MON *)" in runs["diagnosis-training-pipeline"]
    assert "rate(1 hour): 730.0" in runs["diagnosis-monitor-pipeline"]


@pytest.mark.parametrize(("expression", "runs"), [
    ("rate(1 hour)", 730.0), ("rate(1 day)", 730 / 24), ("rate(7 days)", 730 / 24 / 7),
    ("rate(30 minutes)", 1460.0), ("cron(0 3 ? * MON *)", 365 / 7 / 12),
    ("cron(0 3 * * ? *)", 365 / 12), ("cron(0/15 * * * ? *)", 4 * 24 * 365 / 12),
    ("cron(0 9 ? * MON-FRI *)", 365 * 5 / 7 / 12), ("cron(0 0 1 * ? *)", 1.0),
    ("cron(0 0 1 JAN,JUL ? *)", 2 / 12),
])
def test_runs_per_month_of_a_schedule(expression, runs):
    assert runs_per_month(expression) == pytest.approx(runs)


# -- the command -----------------------------------------------------------------------------


def test_cost_prints_the_lines_and_writes_the_json(tmp_path, capsys):
    out = tmp_path / "cost.json"
    code = main(["cost", "--project-dir", str(REPO_ROOT), "--stack", "prod",
                 "--requests-per-day", "500", "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    document = json.loads(out.read_text())
    assert set(document) >= {"stack", "resources", "total_monthly_usd", "idle_monthly_usd",
                             "assumptions", "usage", "prices", "biggest"}
    assert document["usage"]["requests_per_day"] == 500
    assert document["total_monthly_usd"] == pytest.approx(
        sum(r["monthly_usd"] for r in document["resources"]), abs=0.01)
    for resource in document["resources"]:
        assert set(resource) >= {"resource", "type", "component", "monthly_usd", "basis"}
    assert document["biggest"] == "diagnosis-endpoint"
    assert "total: $" in printed and "biggest line: diagnosis-endpoint" in printed
    assert "500 requests a day" in printed
    assert "us-east-1.yaml" in printed


def test_preview_has_a_cost_section(tmp_path, capsys):
    out = tmp_path / "plan.json"
    assert main(["preview", "--project-dir", str(REPO_ROOT), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Cost a month (default usage" in printed and "total: $" in printed
    assert json.loads(out.read_text())["cost"]["total_monthly_usd"] > 0


@pytest.mark.parametrize(("text", "named"), [
    ("requests_per_dya: 10\n", "unknown field 'requests_per_dya'"),
    ("requests_per_day: -1\n", "requests_per_day must be a number >= 0 (got -1)"),
    ("spot_discount: 1.5\n", "spot_discount must be below 1"),
    ("job_minutes: {Trian: 3}\n", "job_minutes.Trian: no such step"),
    ("job_minutes: 3\n", "job_minutes must map step names to minutes"),
    ("stored_data_gb: lots\n", "stored_data_gb must be a number >= 0 (got 'lots')"),
    ("- 1\n- 2\n", "must be a mapping of usage fields"),
    ("a: [\n", "not valid YAML"),
])
def test_a_bad_usage_file_is_one_line_naming_the_field(tmp_path, capsys, text, named):
    usage = tmp_path / "usage.yaml"
    usage.write_text(text)
    code = main(["cost", "--project-dir", str(REPO_ROOT), "--usage", str(usage)])
    err = capsys.readouterr().err
    assert code == 2
    assert named in " ".join(err.split())
    assert err.strip().startswith("error:") and "Traceback" not in err


def test_flags_override_the_usage_file(tmp_path):
    usage = tmp_path / "usage.yaml"
    usage.write_text("requests_per_day: 10\nruns_per_month: 3\n")
    assert load_usage(usage).requests_per_day == 10
    code = main(["cost", "--project-dir", str(REPO_ROOT), "--usage", str(usage),
                 "--runs-per-month", "-2"])
    assert code == 2


def test_a_missing_usage_file_is_one_line(capsys):
    assert main(["cost", "--project-dir", str(REPO_ROOT), "--usage",
                 str(Path("/nonexistent/usage.yaml"))]) == 2
    assert "cannot read it" in capsys.readouterr().err
