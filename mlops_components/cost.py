"""The monthly cost of a planned stack: its resources x its usage x a price table in the repo.

Usage comes from the plan itself wherever the plan says it: pipeline runs from the schedules
that start them (``rate()``/``cron()``, through a retrain gate too), each step's instance type
and count and volume from the pipeline definition, tuning's training-job count, managed spot,
the endpoint's kind, instances, autoscaling floor and serverless memory from its deployer's
configuration, alarm periods, log retention and the bucket's expiration rules. What the plan
cannot know (requests a day, minutes a job runs, data kept) is an assumption of
:class:`Usage`, printed with the numbers and overridable. Prices come from
``prices/<region>.yaml`` (region, source page and date of each price). Every resource type is
either priced here or listed as free with the reason (:data:`FREE_TYPES`); anything else is
reported as unpriced, never silently counted as zero.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from mlops_components.plan import DEFAULT_REGION, Plan, RecordedResource
from mlops_components.plan_graph import (
    ALARM,
    BUCKET,
    EVENT_RULE,
    FUNCTION,
    GROUP,
    PIPELINE,
    RuntimeEndpoint,
    StackGraph,
    schedule_of,
    stack_graph,
)
from mlops_components.sagemaker.definition import Resolver, iter_steps
from mlops_components.validation import HOURS_PER_MONTH, runs_per_month

PRICES_DIR = Path(__file__).parent / "prices"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
QUEUE = "aws:sqs/queue:Queue"
TABLE = "aws:dynamodb/table:Table"
KMS_KEY = "aws:kms/key:Key"
COMPONENT_PREFIX = "mlops:index:"
_GB = 1024 * 1024  # KB in a GB

#: Resource types that cost nothing by themselves, and why.
FREE_TYPES: dict[str, str] = {
    "aws:cloudwatch/eventRule:EventRule": "rules, schedules and AWS service events are free "
                                          "on the default bus",
    "aws:cloudwatch/eventTarget:EventTarget": "delivery to a target is part of the free event",
    "aws:cloudwatch/eventPermission:EventPermission": "a statement of the bus's policy: free",
    "aws:iam/role:Role": "IAM is free",
    "aws:iam/rolePolicy:RolePolicy": "IAM is free",
    "aws:lambda/permission:Permission": "a resource policy statement: free",
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": "retry settings: free",
    "aws:lambda/invocation:Invocation": "one invocation per `pulumi up`/`destroy`, not monthly",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration":
        "expiration actions are free; its retention shapes the bucket's storage line",
    "aws:s3/bucketNotification:BucketNotification": "S3 events to EventBridge are free",
    "aws:s3/bucketObjectv2:BucketObjectv2": "its bytes are in the bucket's stored data",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "a bucket setting: free",
    "aws:s3/bucketPolicy:BucketPolicy": "a bucket setting: free",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "a bucket setting: free",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration":
        "SSE-KMS with an S3 Bucket Key: a handful of KMS requests, under a cent",
    "aws:s3/bucketVersioning:BucketVersioning":
        "noncurrent versions expire after 30 days; counted in the stored data",
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": "the model registry is free",
    "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy": "a resource policy: free",
    "aws:scheduler/scheduleGroup:ScheduleGroup": "a group; the gate's one-off rechecks are "
                                                 "within Scheduler's 14 million free a month",
    "aws:sqs/queuePolicy:QueuePolicy": "a queue setting: free",
}


class CostError(ValueError):
    """A usage file, an override or a price table that cannot be used (one line)."""


# --------------------------------------------------------------------------------------
# Usage: what the plan cannot know
# --------------------------------------------------------------------------------------

#: Minutes a step of each type runs per execution, unless `job_minutes` names the step.
DEFAULT_JOB_MINUTES = {"Processing": 5.0, "Training": 10.0}


@dataclass(frozen=True)
class Usage:
    """Assumptions about a month of use. Every field can be set in a usage YAML."""

    requests_per_day: float = 1000.0
    """Inference requests a day."""
    seconds_per_request: float = 0.1
    """Billed duration of one serverless inference."""
    kb_per_request: float = 4.0
    """Request plus response payload (data processed, one capture record)."""
    runs_per_month: float | None = None
    """Training pipeline runs a month; None: its schedule plus `event_retrains_per_month`."""
    event_retrains_per_month: float = 2.0
    """Retrains started by events (new data, a drift alarm), shared among those rules."""
    job_minutes: Mapping[str, float] = field(default_factory=dict)
    """Minutes per step name (Profile, Train, DriftCheck...); default 5 for processing, 10 for
    training (each training job of a tuning job)."""
    spot_discount: float = 0.7
    """Managed spot training's saving on the on-demand price (AWS: "up to 90%")."""
    endpoint_instances: float | None = None
    """Average instances behind an instance endpoint; None: the autoscaling floor (or the
    initial count without autoscaling)."""
    stored_data_gb: float = 1.0
    """Raw data, processed splits, models, code and baselines kept in the bucket."""
    training_report_mb: float = 5.0
    """EDA and evaluation reports and plots a training run writes under reports/."""
    drift_report_mb: float = 0.2
    """The drift report a monitoring run writes under reports/."""
    drift_features: int = 30
    """Features the drift check publishes a score metric for (one CloudWatch metric each)."""
    lambda_seconds: float = 2.0
    """Billed duration of one Lambda invocation."""
    log_kb_per_event: float = 2.0
    """Log lines written per Lambda invocation or inference request."""

    def idle(self) -> Usage:
        """No requests and no event-driven retrains: only the schedules run."""
        return replace(self, requests_per_day=0.0, event_retrains_per_month=0.0,
                       runs_per_month=None)


USAGE_FIELDS = {item.name: item for item in fields(Usage)}
_OPTIONAL = {"runs_per_month", "endpoint_instances"}


def usage_from_mapping(values: Mapping[str, Any], where: str, base: Usage | None = None
                       ) -> Usage:
    """A Usage from ``values`` over ``base``; CostError naming the first bad field."""
    if not isinstance(values, Mapping):
        raise CostError(f"{where}: must be a mapping of usage fields (got "
                        f"{type(values).__name__}); fields: {', '.join(USAGE_FIELDS)}")
    changes: dict[str, Any] = {}
    for name, value in values.items():
        if name not in USAGE_FIELDS:
            raise CostError(f"{where}: unknown field {name!r} (fields: "
                            f"{', '.join(USAGE_FIELDS)})")
        if name == "job_minutes":
            if not isinstance(value, Mapping):
                raise CostError(f"{where}: job_minutes must map step names to minutes "
                                f"(got {value!r})")
            for step, minutes in value.items():
                _check_number(f"{where}: job_minutes.{step}", minutes)
            changes[name] = {str(step): float(minutes) for step, minutes in value.items()}
            continue
        if value is None and name in _OPTIONAL:
            changes[name] = None
            continue
        _check_number(f"{where}: {name}", value)
        if name == "spot_discount" and value >= 1:
            raise CostError(f"{where}: spot_discount must be below 1 (a fraction: 0.7 is "
                            f"70% off; got {value!r})")
        if name == "drift_features" and value != int(value):
            raise CostError(f"{where}: drift_features must be a whole number (got {value!r})")
        changes[name] = int(value) if name == "drift_features" else float(value)
    return replace(base or Usage(), **changes)


def _check_number(where: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value < 0:
        raise CostError(f"{where} must be a number >= 0 (got {value!r})")


def load_usage(path: Path, base: Usage | None = None) -> Usage:
    """The usage YAML at ``path`` over ``base``: one CostError line for any problem."""
    try:
        text = Path(path).read_text()
    except OSError as problem:
        raise CostError(f"--usage {path}: cannot read it ({problem.strerror})") from None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise CostError(f"--usage {path}: not valid YAML{where}") from None
    return usage_from_mapping(values if values is not None else {}, f"--usage {path}", base)


# --------------------------------------------------------------------------------------
# Prices
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prices:
    region: str
    table: Mapping[str, Any]
    path: Path

    def usd(self, key: str) -> float:
        try:
            return float(self.table[key]["usd"])
        except (KeyError, TypeError, ValueError):
            raise CostError(f"{self.path}: no usable price {key!r}") from None

    def instance_hour(self, use: str, instance_type: str) -> float:
        by_type = self.table.get("instance_hour", {}).get(use, {})
        if instance_type not in by_type:
            raise CostError(f"no {use} price for instance type {instance_type!r} in "
                            f"{self.path.name} (priced: {', '.join(sorted(by_type))}); add "
                            "it with its source")
        return float(by_type[instance_type])

    @property
    def source(self) -> dict[str, Any]:
        return {"region": self.region, "file": f"mlops_components/prices/{self.path.name}",
                "checked": str(self.table.get("checked", "")),
                "sources": dict(self.table.get("sources", {}))}


def load_prices(region: str, directory: Path = PRICES_DIR) -> Prices:
    path = directory / f"{region}.yaml"
    if not path.is_file():
        have = ", ".join(sorted(p.stem for p in directory.glob("*.yaml"))) or "none"
        raise CostError(f"no price table for region {region} (have: {have}); add "
                        f"mlops_components/prices/{region}.yaml with its sources")
    table = yaml.safe_load(path.read_text())
    return Prices(region=region, table=table, path=path)


# --------------------------------------------------------------------------------------
# The estimate
# --------------------------------------------------------------------------------------


@dataclass
class Line:
    """One resource's monthly cost and how it was reached."""

    resource: str
    type: str
    component: str
    monthly_usd: float
    basis: str
    free: bool = False
    items: list[dict[str, Any]] = field(default_factory=list)
    """The parts of the cost (a pipeline's steps), each with its own `monthly_usd`."""


@dataclass
class Estimate:
    stack: str
    usage: Usage
    lines: list[Line]
    assumptions: list[str]
    unpriced: list[str]
    prices: dict[str, Any]

    @property
    def total(self) -> float:
        return sum(line.monthly_usd for line in self.lines)

    @property
    def biggest(self) -> Line | None:
        priced = [line for line in self.lines if line.monthly_usd > 0]
        return max(priced, key=lambda line: line.monthly_usd) if priced else None

    def to_json(self, idle: Estimate | None = None) -> dict[str, Any]:
        document: dict[str, Any] = {
            "stack": self.stack,
            "currency": "USD",
            "resources": [{key: value for key, value in asdict(line).items()
                           if key != "items" or value} for line in self.lines],
            "total_monthly_usd": round(self.total, 4),
            "biggest": self.biggest.resource if self.biggest else None,
            "assumptions": self.assumptions,
            "usage": _usage_json(self.usage),
            "unpriced_types": self.unpriced,
            "prices": self.prices,
        }
        for resource in document["resources"]:
            resource["monthly_usd"] = round(resource["monthly_usd"], 4)
            for item in resource.get("items", []):
                item["monthly_usd"] = round(item["monthly_usd"], 4)
        if idle is not None:
            document["idle_monthly_usd"] = round(idle.total, 4)
        return document


def _usage_json(usage: Usage) -> dict[str, Any]:
    values = asdict(usage)
    values["job_minutes"] = dict(usage.job_minutes)
    return values


def _component_name(plan_graph: StackGraph, parent: str | None) -> str:
    while parent:
        resource = plan_graph.resources.get(parent)
        if resource is None:
            return parent.rsplit("::", 1)[-1]
        if resource.type.startswith(COMPONENT_PREFIX) and \
                resource.type != f"{COMPONENT_PREFIX}MlopsStack":
            return resource.name
        parent = resource.parent
    return ""


@dataclass
class _Context:
    graph: StackGraph
    usage: Usage
    prices: Prices
    pipeline_runs: dict[str, float]
    rule_firings: dict[str, float]
    function_invocations: dict[str, float]
    assumptions: list[str]

    @property
    def requests_per_month(self) -> float:
        return self.usage.requests_per_day * HOURS_PER_MONTH / 24


def estimate(plan: Plan, usage: Usage | None = None, prices: Prices | None = None) -> Estimate:
    """The monthly cost of every resource in ``plan`` under ``usage``."""
    usage = usage or Usage()
    graph = stack_graph(plan)
    prices = prices or load_prices(_region(plan))
    context = _usage_context(graph, usage, prices)
    lines: list[Line] = []
    unpriced: list[str] = []
    for resource in sorted(plan.resources, key=lambda resource: resource.urn):
        component = _component_name(graph, resource.parent)
        if resource.type.startswith(COMPONENT_PREFIX):
            continue  # a component costs what its children cost
        pricer = PRICERS.get(resource.type)
        if pricer is not None:
            line = pricer(context, resource)
            line.component = component
            lines.append(line)
        elif resource.type in FREE_TYPES:
            lines.append(Line(resource.name, resource.type, component, 0.0,
                              f"no charge: {FREE_TYPES[resource.type]}", free=True))
        else:
            unpriced.append(resource.type)
    for endpoint in graph.endpoints:
        line = _endpoint(context, endpoint)
        line.component = _component_name(graph, endpoint.parent)
        lines.append(line)
    _check_job_minutes(graph, usage)
    return Estimate(stack=plan.stack, usage=usage, lines=lines,
                    assumptions=context.assumptions, unpriced=sorted(set(unpriced)),
                    prices=prices.source)


def unpriced_types(plan: Plan) -> list[str]:
    """Resource types of ``plan`` that are neither priced nor listed as free."""
    return sorted({resource.type for resource in plan.resources
                   if not resource.type.startswith(COMPONENT_PREFIX)
                   and resource.type not in PRICERS and resource.type not in FREE_TYPES})


def _region(plan: Plan) -> str:
    """The region in the plan's regional ARNs (the mocks answer with the stack's region)."""
    for resource in plan.resources:
        arn = resource.inputs.get("arn")
        if isinstance(arn, str) and arn.startswith("arn:aws:") and arn.split(":")[3]:
            return arn.split(":")[3]
    return DEFAULT_REGION


def _check_job_minutes(graph: StackGraph, usage: Usage) -> None:
    steps = {step["Name"] for pipeline in graph.plan.of_type(PIPELINE)
             for step in iter_steps(_definition(pipeline))}
    for name in usage.job_minutes:
        if name not in steps:
            raise CostError(f"usage: job_minutes.{name}: no such step in the stack's pipelines "
                            f"(steps: {', '.join(sorted(steps))})")


def _definition(pipeline: RecordedResource) -> dict[str, Any]:
    try:
        return json.loads(pipeline.inputs.get("pipelineDefinition") or '{"Steps": []}')
    except ValueError:
        return {"Steps": []}


def _registers(pipeline: RecordedResource) -> bool:
    return any(step["Type"] == "RegisterModel" for step in iter_steps(_definition(pipeline)))


def _usage_context(graph: StackGraph, usage: Usage, prices: Prices) -> _Context:
    """Runs, firings and invocations a month, along the plan's flows."""
    plan = graph.plan
    assumptions: list[str] = []
    rules = sorted(plan.of_type(EVENT_RULE), key=lambda rule: rule.urn)
    pipelines = sorted(plan.of_type(PIPELINE), key=lambda pipeline: pipeline.urn)
    flow = ("event", "starts")
    firings: dict[str, float] = {}
    runs: dict[str, float] = {}
    for pipeline in pipelines:
        scheduled = [rule for rule in rules if schedule_of(rule)
                     and graph.reaches(rule.urn, pipeline.urn, flow)]
        triggered = [rule for rule in rules if not schedule_of(rule)
                     and graph.reaches(rule.urn, pipeline.urn, flow)]
        from_schedules = sum(runs_per_month(schedule_of(rule) or "") for rule in scheduled)
        schedules = ", ".join(schedule_of(rule) or "" for rule in scheduled) or "no schedule"
        for rule in scheduled:
            firings[rule.urn] = firings.get(rule.urn, 0.0) + runs_per_month(
                schedule_of(rule) or "")
        events = usage.event_retrains_per_month if triggered else 0.0
        for rule in triggered:
            firings[rule.urn] = firings.get(rule.urn, 0.0) + events / len(triggered)
        if usage.runs_per_month is not None and _registers(pipeline):
            runs[pipeline.urn] = usage.runs_per_month
            assumptions.append(f"{pipeline.name}: {usage.runs_per_month:g} runs a month "
                               "(--runs-per-month)")
        else:
            runs[pipeline.urn] = from_schedules + events
            rule_names = ", ".join(rule.name for rule in triggered)
            event_text = f" + {events:g} started by events ({rule_names})" if triggered else ""
            assumptions.append(f"{pipeline.name}: {runs[pipeline.urn]:.1f} runs a month "
                               f"({schedules}: {from_schedules:.1f}{event_text})")
    # Events that follow the runs: a registered package's approval, the endpoint's state.
    registered = sum(runs[p.urn] for p in pipelines if _registers(p))
    for rule in rules:
        if rule.urn in firings or schedule_of(rule):
            continue
        sources = {graph.resources[e.source].type if e.source in graph.resources else "endpoint"
                   for e in graph.in_edges(rule.urn, ["event"])}
        if sources & {GROUP, "endpoint"}:
            firings[rule.urn] = registered
        else:
            firings[rule.urn] = 0.0  # failures, alarms nobody retrains on: none assumed
    invocations: dict[str, float] = {}
    for function in plan.of_type(FUNCTION):
        invocations[function.urn] = sum(
            firings.get(edge.source, 0.0) for edge in graph.in_edges(function.urn, ["event"]))
    assumptions.append(f"inference: {usage.requests_per_day:g} requests a day, "
                       f"{usage.kb_per_request:g} KB each (in + out); serverless bills "
                       f"{usage.seconds_per_request:g} s a request")
    minutes = ", ".join(f"{name} {value:g}" for name, value in
                        {**{f"{kind.lower()} steps": value for kind, value in
                            DEFAULT_JOB_MINUTES.items()}, **usage.job_minutes}.items())
    assumptions.append(f"job minutes per run: {minutes} (billed per second, no minimum)")
    assumptions.append(f"managed spot training: {usage.spot_discount:.0%} off on-demand "
                       "(AWS: up to 90%; varies with capacity)")
    assumptions.append(f"bucket: {usage.stored_data_gb:g} GB of data and models; reports "
                       f"{usage.training_report_mb:g} MB a training run, "
                       f"{usage.drift_report_mb:g} MB a drift check, kept as the lifecycle "
                       "rules say")
    assumptions.append(f"Lambda: {usage.lambda_seconds:g} s an invocation; logs "
                       f"{usage.log_kb_per_event:g} KB an invocation or request; "
                       "free tiers not deducted")
    return _Context(graph=graph, usage=usage, prices=prices, pipeline_runs=runs,
                    rule_firings=firings, function_invocations=invocations,
                    assumptions=assumptions)


# --------------------------------------------------------------------------------------
# Pricers, one per resource type
# --------------------------------------------------------------------------------------


def _pipeline(context: _Context, pipeline: RecordedResource) -> Line:
    definition = _definition(pipeline)
    parameters = {parameter["Name"]: parameter.get("DefaultValue")
                  for parameter in definition.get("Parameters", [])}
    resolver = Resolver(parameters, {}, {}, lambda step, name: None)
    runs = context.pipeline_runs.get(pipeline.urn, 0.0)
    usage, prices = context.usage, context.prices
    storage = prices.usd("ml_storage_gb_month")
    items: list[dict[str, Any]] = []
    for step in iter_steps(definition):
        arguments = step.get("Arguments", {})
        kind = step["Type"]
        if kind == "Processing":
            cluster = resolver.resolve(arguments["ProcessingResources"]["ClusterConfig"])
            jobs, use, spot = 1, "processing", False
        elif kind == "Training":
            cluster = resolver.resolve(arguments["ResourceConfig"])
            jobs, use = 1, "training"
            spot = bool(arguments.get("EnableManagedSpotTraining"))
        elif kind == "Tuning":
            job = arguments["TrainingJobDefinition"]
            cluster = resolver.resolve(job["ResourceConfig"])
            jobs = int(arguments["HyperParameterTuningJobConfig"]["ResourceLimits"][
                "MaxNumberOfTrainingJobs"])
            use, spot = "training", bool(job.get("EnableManagedSpotTraining"))
        else:
            continue  # conditions, registration, property files: no instances
        minutes = usage.job_minutes.get(
            step["Name"], DEFAULT_JOB_MINUTES["Processing" if use == "processing" else "Training"])
        count = int(cluster.get("InstanceCount", 1))
        instance_type = str(cluster["InstanceType"])
        hourly = prices.instance_hour(use, instance_type)
        discount = usage.spot_discount if spot else 0.0
        hours = runs * jobs * count * minutes / 60
        volume_gb = float(cluster.get("VolumeSizeInGB", 0))
        cost = hours * hourly * (1 - discount) + hours * volume_gb * storage / HOURS_PER_MONTH
        spot_text = f", spot -{discount:.0%}" if spot else ""
        jobs_text = f" x {jobs} jobs" if jobs > 1 else ""
        items.append({"step": step["Name"], "type": kind, "instance_type": instance_type,
                      "instance_count": count, "jobs_per_run": jobs, "minutes": minutes,
                      "spot": spot, "instance_hours": round(hours, 3),
                      "monthly_usd": cost,
                      "basis": f"{step['Name']} {minutes:g} min{jobs_text} x {count} "
                               f"{instance_type} ${hourly:g}/h{spot_text}"})
    total = sum(item["monthly_usd"] for item in items)
    steps = " + ".join(item["basis"] for item in items)
    return Line(pipeline.name, pipeline.type, "", total,
                f"{runs:.1f} runs x ({steps}), + ML storage" if items else "no job steps",
                items=items)


def _endpoint(context: _Context, endpoint: RuntimeEndpoint) -> Line:
    config, usage, prices = endpoint.config, context.usage, context.prices
    requests = context.requests_per_month
    data_gb = requests * usage.kb_per_request / _GB
    data_cost = data_gb * prices.usd("sagemaker_data_processed_gb")
    kind = "serverless endpoint" if config.serverless else "instance endpoint"
    if config.serverless:
        memory_gb = config.serverless_memory_mb / 1024
        compute = requests * usage.seconds_per_request * memory_gb * prices.usd(
            "serverless_gb_second")
        basis = (f"{requests:,.0f} requests x {usage.seconds_per_request:g} s x "
                 f"{memory_gb:g} GB x ${prices.usd('serverless_gb_second'):g}/GB-s + "
                 f"{data_gb:.2f} GB data processed")
    else:
        if usage.endpoint_instances is not None:
            instances, why = usage.endpoint_instances, "usage"
        elif config.autoscaling:
            instances = config.autoscaling_min_capacity
            why = (f"autoscaling floor; scales {config.autoscaling_min_capacity}-"
                   f"{config.autoscaling_max_capacity}")
        else:
            instances, why = config.initial_instance_count, "no autoscaling"
        hourly = prices.instance_hour("inference", config.instance_type)
        compute = instances * HOURS_PER_MONTH * hourly
        basis = (f"{instances:g} x {config.instance_type} ({why}) x {HOURS_PER_MONTH} h x "
                 f"${hourly:g}/h + {data_gb:.2f} GB data processed")
    return Line(endpoint.name, f"sagemaker {kind} (created by its deployer on the first "
                               "approval)", "", compute + data_cost, basis)


def _function(context: _Context, function: RecordedResource) -> Line:
    invocations = context.function_invocations.get(function.urn, 0.0)
    memory_gb = float(function.inputs.get("memorySize", 128)) / 1024
    prices = context.prices
    cost = invocations * (prices.usd("lambda_request") + memory_gb * context.usage.lambda_seconds
                          * prices.usd("lambda_gb_second"))
    return Line(function.name, function.type, "", cost,
                f"{invocations:.1f} invocations x ({context.usage.lambda_seconds:g} s x "
                f"{memory_gb:g} GB + request)")


def _alarm(context: _Context, alarm: RecordedResource) -> Line:
    period = float(alarm.inputs.get("period", 60))
    key = "cloudwatch_alarm_month" if period >= 60 else "cloudwatch_high_resolution_alarm_month"
    price = context.prices.usd(key)
    resolution = "standard" if period >= 60 else "high-resolution"
    return Line(alarm.name, alarm.type, "", price,
                f"1 {resolution} alarm (period {period:g} s) x ${price:g}")


def _metrics(context: _Context, pipeline: RecordedResource) -> tuple[float, str]:
    """Custom metrics a pipeline's job publishes (the drift check: flag, counts, a score per
    feature), prorated by the hours that receive data, and the PutMetricData calls."""
    published = [edge for edge in context.graph.out_edges(pipeline.urn, ["metric"])]
    if not published:
        return 0.0, ""
    runs = context.pipeline_runs.get(pipeline.urn, 0.0)
    metrics = 4 + context.usage.drift_features
    hours_with_data = min(runs, HOURS_PER_MONTH)
    prices = context.prices
    cost = metrics * prices.usd("cloudwatch_metric_month") * hours_with_data / HOURS_PER_MONTH
    cost += runs * prices.usd("cloudwatch_put_metric_request")
    return cost, (f"; {metrics} custom metrics x ${prices.usd('cloudwatch_metric_month'):g} "
                  f"prorated to {hours_with_data:.0f} of {HOURS_PER_MONTH} h")


def _pipeline_with_metrics(context: _Context, pipeline: RecordedResource) -> Line:
    line = _pipeline(context, pipeline)
    metrics_cost, metrics_text = _metrics(context, pipeline)
    if metrics_cost:
        line.items.append({"step": "CloudWatch metrics", "monthly_usd": metrics_cost,
                           "basis": metrics_text.lstrip("; ")})
        line.monthly_usd += metrics_cost
        line.basis += metrics_text
    return line


def _log_group(context: _Context, group: RecordedResource) -> Line:
    name = str(group.inputs.get("name", ""))
    usage, prices = context.usage, context.prices
    events = 0.0
    for function in context.graph.plan.of_type(FUNCTION):
        if name == f"/aws/lambda/{function.inputs.get('name')}":
            events = context.function_invocations.get(function.urn, 0.0)
    for endpoint in context.graph.endpoints:
        if name.endswith(f"/Endpoints/{endpoint.name}"):
            events = context.requests_per_month
    ingested_gb = events * usage.log_kb_per_event / _GB
    retention = float(group.inputs.get("retentionInDays") or 0) or 3650.0
    stored_gb = ingested_gb * retention * 24 / HOURS_PER_MONTH
    cost = ingested_gb * prices.usd("cloudwatch_logs_ingested_gb") + stored_gb * prices.usd(
        "cloudwatch_logs_stored_gb_month")
    return Line(group.name, group.type, "", cost,
                f"{events:,.0f} events x {usage.log_kb_per_event:g} KB ingested, kept "
                f"{retention:g} days")


def _bucket(context: _Context, bucket: RecordedResource) -> Line:
    usage, prices = context.usage, context.prices
    graph = context.graph
    expirations = {}
    for lifecycle in graph.plan.of_type(
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"):
        if bucket.urn not in lifecycle.dependencies and lifecycle.parent != bucket.parent:
            continue
        for rule in lifecycle.inputs.get("rules", []):
            prefix = (rule.get("filter") or {}).get("prefix")
            days = (rule.get("expiration") or {}).get("days")
            if prefix and days:
                expirations[prefix] = float(days)
    capture_days = next((days for prefix, days in expirations.items()
                         if prefix.startswith("capture")), 365.0)
    report_days = next((days for prefix, days in expirations.items()
                        if prefix.startswith("reports")), 365.0)
    captured = 0.0
    for endpoint in graph.endpoints:
        captured += context.requests_per_month * endpoint.config.capture_sampling_percent / 100
    capture_gb = captured * usage.kb_per_request / _GB * capture_days * 24 / HOURS_PER_MONTH
    reports_mb = 0.0
    for pipeline in graph.plan.of_type(PIPELINE):
        runs = context.pipeline_runs.get(pipeline.urn, 0.0)
        reports_mb += runs * (usage.training_report_mb if _registers(pipeline)
                              else usage.drift_report_mb)
    reports_gb = reports_mb / 1024 * report_days * 24 / HOURS_PER_MONTH
    stored = usage.stored_data_gb + capture_gb + reports_gb
    storage = stored * prices.usd("s3_standard_gb_month")
    requests = captured * prices.usd("s3_put_request")
    return Line(bucket.name, bucket.type, "", storage + requests,
                f"{stored:.2f} GB-month ({usage.stored_data_gb:g} data, {capture_gb:.2f} capture "
                f"kept {capture_days:g} d, {reports_gb:.2f} reports kept {report_days:g} d) + "
                f"{captured:,.0f} capture PUTs")


def _queue(context: _Context, queue: RecordedResource) -> Line:
    price = context.prices.usd("sqs_request")
    return Line(queue.name, queue.type, "", 0.0,
                f"a dead-letter queue: no messages expected (${price * 1e6:.2f} per million "
                "requests)")


def _table(context: _Context, table: RecordedResource) -> Line:
    users = [f for f in context.graph.plan.of_type(FUNCTION) if table.urn in f.dependencies]
    invocations = sum(context.function_invocations.get(f.urn, 0.0) for f in users)
    prices = context.prices
    cost = invocations * (prices.usd("dynamodb_write_request")
                          + prices.usd("dynamodb_read_request"))
    return Line(table.name, table.type, "", cost,
                f"on demand: {invocations:.1f} reads and writes (one each per gate event)")


def _kms_key(context: _Context, key: RecordedResource) -> Line:
    price = context.prices.usd("kms_key_month")
    return Line(key.name, key.type, "", price, f"1 customer managed key x ${price:g}")


PRICERS: dict[str, Callable[[_Context, RecordedResource], Line]] = {
    PIPELINE: _pipeline_with_metrics,
    FUNCTION: _function,
    ALARM: _alarm,
    LOG_GROUP: _log_group,
    BUCKET: _bucket,
    QUEUE: _queue,
    TABLE: _table,
    KMS_KEY: _kms_key,
}
