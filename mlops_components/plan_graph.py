"""How events flow through a planned stack, read from the plan's own resources.

Nothing here knows which components exist: the flows are derived from what the resources say.
An EventBridge rule's pattern names what it listens to (a bucket, a model package group, an
endpoint, pipelines, alarms) or its schedule; its targets name what it invokes (a Lambda
function, a pipeline); a function starts the pipelines it depends on and the deployer creates
the endpoint its configuration names; an alarm watches a metric that a function, the endpoint
or a job publishes (a job's role may put metrics only in its own namespace). `mlops cost`
counts pipeline runs and Lambda invocations along these flows, `mlops diagram` draws them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mlops_components.functions.deployer.config import (
    ENDPOINT_EVENT_DETAIL_TYPE,
    EVENT_DETAIL_TYPE,
    Config,
    ConfigError,
)
from mlops_components.plan import Plan, RecordedResource

EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
FUNCTION = "aws:lambda/function:Function"
PIPELINE = "aws:sagemaker/pipeline:Pipeline"
GROUP = "aws:sagemaker/modelPackageGroup:ModelPackageGroup"
BUCKET = "aws:s3/bucket:Bucket"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
#: The synthetic type of the endpoint a deployer function creates at run time.
ENDPOINT = "mlops:runtime:Endpoint"

ALARM_DETAIL_TYPE = "CloudWatch Alarm State Change"
PIPELINE_DETAIL_TYPE = "SageMaker Model Building Pipeline Execution Status Change"
S3_DETAIL_TYPE = "Object Created"


@dataclass(frozen=True)
class Edge:
    """A flow between two nodes (URNs, or an endpoint's synthetic id)."""

    source: str
    target: str
    label: str
    kind: str
    """``event`` (a rule matches or invokes), ``starts``/``deploys`` (a function acts),
    ``metric`` (an alarm watches what the source publishes) or ``registers``."""


@dataclass(frozen=True)
class RuntimeEndpoint:
    """The endpoint a deployer function creates on the first approval (not a plan resource)."""

    id: str
    name: str
    parent: str | None
    deployer: str
    config: Config


@dataclass
class StackGraph:
    plan: Plan
    resources: dict[str, RecordedResource]
    endpoints: list[RuntimeEndpoint] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)

    def out_edges(self, node: str, kinds: Iterable[str] | None = None) -> list[Edge]:
        wanted = set(kinds) if kinds is not None else None
        return [edge for edge in self.edges
                if edge.source == node and (wanted is None or edge.kind in wanted)]

    def in_edges(self, node: str, kinds: Iterable[str] | None = None) -> list[Edge]:
        wanted = set(kinds) if kinds is not None else None
        return [edge for edge in self.edges
                if edge.target == node and (wanted is None or edge.kind in wanted)]

    def reaches(self, source: str, target: str, kinds: Iterable[str]) -> bool:
        """Whether ``target`` is reachable from ``source`` along edges of ``kinds``."""
        kinds = set(kinds)
        seen, frontier = {source}, [source]
        while frontier:
            node = frontier.pop()
            for edge in self.out_edges(node, kinds):
                if edge.target == target:
                    return True
                if edge.target not in seen:
                    seen.add(edge.target)
                    frontier.append(edge.target)
        return False

    def name_of(self, node: str) -> str:
        if node in self.resources:
            return self.resources[node].name
        return next(endpoint.name for endpoint in self.endpoints if endpoint.id == node)


def event_pattern(rule: RecordedResource) -> dict[str, Any]:
    raw = rule.inputs.get("eventPattern")
    return json.loads(raw) if isinstance(raw, str) and raw else {}


def schedule_of(rule: RecordedResource) -> str | None:
    return rule.inputs.get("scheduleExpression") or None


def deployer_config(function: RecordedResource) -> Config | None:
    """The function's configuration if it is an endpoint deployer (it parses as one)."""
    env = (function.inputs.get("environment") or {}).get("variables") or {}
    if "ENDPOINT_NAME" not in env:
        return None
    try:
        return Config.from_env(env)
    except ConfigError:
        return None


def stack_graph(plan: Plan) -> StackGraph:
    resources = {resource.urn: resource for resource in plan.resources}
    graph = StackGraph(plan=plan, resources=resources)
    by_type: dict[str, list[RecordedResource]] = {}
    for resource in sorted(plan.resources, key=lambda resource: resource.urn):
        by_type.setdefault(resource.type, []).append(resource)

    def of(type_token: str) -> list[RecordedResource]:
        return by_type.get(type_token, [])

    def dependencies(resource: RecordedResource, type_token: str) -> list[RecordedResource]:
        return [resources[urn] for urn in resource.dependencies
                if urn in resources and resources[urn].type == type_token]

    functions = {f.inputs.get("name"): f for f in of(FUNCTION)}
    pipelines = {p.inputs.get("pipelineName"): p for p in of(PIPELINE)}
    for function in of(FUNCTION):
        config = deployer_config(function)
        if config is not None:
            graph.endpoints.append(RuntimeEndpoint(
                id=f"endpoint:{config.endpoint_name}", name=config.endpoint_name,
                parent=function.parent, deployer=function.urn, config=config))
    endpoints = {endpoint.name: endpoint for endpoint in graph.endpoints}
    add = graph.edges.append

    # What each rule listens to.
    for rule in of(EVENT_RULE):
        pattern = event_pattern(rule)
        detail = pattern.get("detail", {})
        detail_types = pattern.get("detail-type", [])
        if S3_DETAIL_TYPE in detail_types:
            prefixes = [item.get("prefix") for item in detail.get("object", {}).get("key", [])
                        if isinstance(item, dict)]
            label = "new object" + (f" under {', '.join(prefixes)}" if prefixes else "")
            for bucket in dependencies(rule, BUCKET):
                add(Edge(bucket.urn, rule.urn, label, "event"))
        if EVENT_DETAIL_TYPE in detail_types:
            statuses = "/".join(detail.get("ModelApprovalStatus", [])) or "state change"
            for group in of(GROUP):
                if group.inputs.get("modelPackageGroupName") in detail.get(
                        "ModelPackageGroupName", []):
                    add(Edge(group.urn, rule.urn, f"package {statuses}", "event"))
        if ENDPOINT_EVENT_DETAIL_TYPE in detail_types:
            for name in detail.get("EndpointName", []):
                if name in endpoints:
                    add(Edge(endpoints[name].id, rule.urn, "endpoint state change", "event"))
        if PIPELINE_DETAIL_TYPE in detail_types:
            statuses = "/".join(detail.get("currentPipelineExecutionStatus", []))
            for arn in detail.get("pipelineArn", []):
                pipeline = pipelines.get(arn.rsplit("/", 1)[-1])
                if pipeline is not None:
                    add(Edge(pipeline.urn, rule.urn, f"execution {statuses}".strip(), "event"))
        if ALARM_DETAIL_TYPE in detail_types:
            names = detail.get("alarmName", [])
            states = "/".join(detail.get("state", {}).get("value", [])) or "state change"
            for alarm in of(ALARM):
                if alarm.inputs.get("name") in names:
                    add(Edge(alarm.urn, rule.urn, states, "event"))

    # What each rule invokes.
    for target in of(EVENT_TARGET):
        rules = dependencies(target, EVENT_RULE)
        arn = str(target.inputs.get("arn", ""))
        kind, _, name = arn.rpartition(":")[2].partition("/")
        destination = functions.get(name) if kind == "function" else \
            pipelines.get(name) if kind == "pipeline" else None
        if destination is None:
            candidates = dependencies(target, FUNCTION) + dependencies(target, PIPELINE)
            destination = candidates[0] if len(candidates) == 1 else None
        for rule in rules:
            if destination is not None:
                label = "starts" if destination.type == PIPELINE else "invokes"
                add(Edge(rule.urn, destination.urn, label, "event"))

    # What functions and pipelines do.
    for function in of(FUNCTION):
        for pipeline in dependencies(function, PIPELINE):
            add(Edge(function.urn, pipeline.urn, "starts", "starts"))
    for endpoint in graph.endpoints:
        add(Edge(endpoint.deployer, endpoint.id, "deploys", "deploys"))
    for pipeline in of(PIPELINE):
        for group in dependencies(pipeline, GROUP):
            add(Edge(pipeline.urn, group.urn, "registers", "registers"))

    # What each alarm watches.
    publishers = _metric_publishers(plan, of(ROLE_POLICY), list(functions.values())
                                    + list(pipelines.values()))
    for alarm in of(ALARM):
        namespace = alarm.inputs.get("namespace", "")
        dimensions = alarm.inputs.get("dimensions") or {}
        metric = alarm.inputs.get("metricName", "metric")
        sources: list[str] = []
        if namespace == "AWS/Lambda" and dimensions.get("FunctionName") in functions:
            sources = [functions[dimensions["FunctionName"]].urn]
        elif namespace == "AWS/SageMaker" and dimensions.get("EndpointName") in endpoints:
            sources = [endpoints[dimensions["EndpointName"]].id]
        else:
            sources = publishers.get(namespace, [])
        for source in sources:
            add(Edge(source, alarm.urn, metric, "metric"))
    return graph


def _metric_publishers(plan: Plan, role_policies: list[RecordedResource],
                       principals: list[RecordedResource]) -> dict[str, list[str]]:
    """CloudWatch namespace -> URNs of the functions and pipelines whose role may put metrics
    there (an inline policy's ``cloudwatch:namespace`` condition on ``PutMetricData``)."""
    namespaces_by_role: dict[str, set[str]] = {}
    for policy in role_policies:
        try:
            statements = json.loads(policy.inputs.get("policy") or "{}").get("Statement", [])
        except (TypeError, ValueError):
            continue
        for statement in statements if isinstance(statements, list) else [statements]:
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            if "cloudwatch:PutMetricData" not in actions:
                continue
            condition = statement.get("Condition", {}).get("StringEquals", {})
            namespace = condition.get("cloudwatch:namespace")
            if namespace:
                namespaces_by_role.setdefault(str(policy.inputs.get("role")), set()).update(
                    [namespace] if isinstance(namespace, str) else namespace)
    found: dict[str, list[str]] = {}
    for principal in principals:
        role_arn = str(principal.inputs.get("roleArn") or principal.inputs.get("role") or "")
        role_name = role_arn.rsplit("/", 1)[-1]
        if not role_name:
            continue
        for role, namespaces in namespaces_by_role.items():
            # A policy names its role by name (pulumi up) or by the mock's id (name + "-id").
            if role == role_name or role == f"{role_name}-id":
                for namespace in namespaces:
                    found.setdefault(namespace, []).append(principal.urn)
    return found
