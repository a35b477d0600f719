"""A picture of a planned stack: its components, their resources and the flows between them.

Drawn with Graphviz from the plan alone (:mod:`mlops_components.plan_graph` derives the
flows from rule patterns and targets, functions, the deployer's endpoint and alarms): one
cluster per component, one node per resource that takes part in a flow or holds data (the
bucket, pipelines, registry, functions, rules, alarms, queues, tables), the settings and
plumbing of each component (IAM, permissions, policies, bucket settings, log groups) counted
in one note, and an edge per flow. The SVG carries the SHA-256 of the Graphviz source it
was drawn from, so a committed picture can be checked against the plan of today.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mlops_components.plan import Plan, RecordedResource
from mlops_components.plan_graph import (
    ALARM,
    BUCKET,
    EVENT_RULE,
    FUNCTION,
    GROUP,
    PIPELINE,
    RuntimeEndpoint,
    StackGraph,
    event_pattern,
    schedule_of,
    stack_graph,
)
from mlops_components.sagemaker.definition import iter_steps

COMPONENT_PREFIX = "mlops:index:"
ROOT_COMPONENT = f"{COMPONENT_PREFIX}MlopsStack"
FORMATS = ("svg", "png", "pdf", "dot")
SOURCE_DIGEST_PREFIX = "mlops diagram source sha256 "
INSTALL_DOT = ("Graphviz's `dot` is not installed: `apt-get install graphviz` (Debian, "
               "Ubuntu), `brew install graphviz` (macOS)")

#: How each drawn resource type looks: (what it is, shape, fill colour).
STYLES: dict[str, tuple[str, str, str]] = {
    BUCKET: ("S3 bucket", "cylinder", "#dbeafe"),
    PIPELINE: ("SageMaker pipeline", "box3d", "#fde68a"),
    GROUP: ("model package group", "folder", "#e9d5ff"),
    FUNCTION: ("Lambda function", "box", "#ddd6fe"),
    EVENT_RULE: ("EventBridge rule", "hexagon", "#bbf7d0"),
    ALARM: ("CloudWatch alarm", "octagon", "#fecaca"),
    "aws:sqs/queue:Queue": ("SQS dead-letter queue", "box", "#f3f4f6"),
    "aws:dynamodb/table:Table": ("DynamoDB table", "cylinder", "#f3f4f6"),
    "aws:kms/key:Key": ("KMS key", "box", "#f3f4f6"),
}
ENDPOINT_STYLE = ("SageMaker endpoint", "box", "#fed7aa")
#: Edge looks per flow kind: (colour, style).
EDGE_STYLES = {"event": ("#15803d", "bold"), "starts": ("#1d4ed8", "bold"),
               "deploys": ("#c2410c", "bold"), "metric": ("#b91c1c", "dashed"),
               "registers": ("#6b21a8", "solid")}


class DiagramError(RuntimeError):
    """The picture cannot be drawn or written (one line)."""


@dataclass(frozen=True)
class Drawn:
    """What the picture holds: clusters (component -> title) and edges by node id."""

    clusters: dict[str, str]
    nodes: dict[str, str]
    """node id -> the id of the cluster it is drawn in."""
    edges: list[tuple[str, str, str]]
    """(source id, target id, label) of every flow."""


def node_id(graph: StackGraph, node: str) -> str:
    """The Graphviz id of a plan node: its logical name (an endpoint: ``endpoint/<name>``)."""
    if node in graph.resources:
        return graph.resources[node].name
    return f"endpoint/{graph.name_of(node)}"


def _component_of(graph: StackGraph, parent: str | None) -> RecordedResource | None:
    while parent:
        resource = graph.resources.get(parent)
        if resource is None:
            return None
        if resource.type.startswith(COMPONENT_PREFIX) and resource.type != ROOT_COMPONENT:
            return resource
        parent = resource.parent
    return None


def _short(name: str, component: RecordedResource | None) -> str:
    prefix = f"{component.name}-" if component is not None else ""
    return name[len(prefix):] if prefix and name.startswith(prefix) else name


def _detail(resource: RecordedResource) -> str:
    """One line that says what this resource does, from its inputs."""
    if resource.type == EVENT_RULE:
        schedule = schedule_of(resource)
        if schedule:
            return f"schedule {schedule}"
        pattern = event_pattern(resource)
        return ", ".join(pattern.get("detail-type", [])) or "event pattern"
    if resource.type == PIPELINE:
        try:
            steps = [step["Name"] for step in iter_steps(json.loads(
                resource.inputs.get("pipelineDefinition") or '{"Steps": []}'))]
        except ValueError:
            steps = []
        rows = [" → ".join(steps[i:i + 3]) for i in range(0, len(steps), 3)]
        return " →\\n".join(rows)
    if resource.type == ALARM:
        comparison = {"GreaterThanOrEqualToThreshold": ">=", "GreaterThanThreshold": ">",
                      "LessThanOrEqualToThreshold": "<=", "LessThanThreshold": "<"}.get(
            resource.inputs.get("comparisonOperator", ""), "?")
        threshold = float(resource.inputs.get("threshold", 0))
        shown = f"{threshold:,.0f}" if threshold.is_integer() else f"{threshold:g}"
        return f"{resource.inputs.get('metricName', '')} {comparison} {shown}"
    if resource.type == FUNCTION:
        return str(resource.inputs.get("handler", ""))
    if resource.type == GROUP:
        return str(resource.inputs.get("modelPackageGroupName", ""))
    return ""


def _endpoint_detail(endpoint: RuntimeEndpoint) -> str:
    config = endpoint.config
    if config.serverless:
        size = f"serverless {config.serverless_memory_mb} MB"
    else:
        count = (f"{config.autoscaling_min_capacity}-{config.autoscaling_max_capacity}"
                 if config.autoscaling else str(config.initial_instance_count))
        size = f"{count} x {config.instance_type}"
    return f"{size}\\ncreated on the first approval"


def _label(kind: str, name: str, detail: str) -> str:
    escaped = [_escape(part) for part in (kind, name)]
    lines = [f"<FONT POINT-SIZE=\"9\" COLOR=\"#374151\">{escaped[0]}</FONT>",
             f"<B>{escaped[1]}</B>"]
    for part in detail.split("\\n") if detail else []:
        lines.append(f"<FONT POINT-SIZE=\"9\">{_escape(part)}</FONT>")
    return "<" + "<BR/>".join(lines) + ">"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def build(plan: Plan):  # -> graphviz.Digraph
    """The Graphviz graph of ``plan`` (no rendering: no `dot` needed)."""
    import graphviz

    plan = in_urn_order(plan)
    graph = stack_graph(plan)
    dot = graphviz.Digraph(name=f"stack-{plan.stack}")
    dot.attr(rankdir="TB", fontname="Helvetica", fontsize="12", nodesep="0.25",
             ranksep="0.6", newrank="true", labelloc="t",
             label=f"stack {plan.stack}: {len(plan.resources)} resources, and the flows "
                   "between them (offline plan)")
    dot.attr("node", fontname="Helvetica", fontsize="10", style="filled", margin="0.12,0.05")
    dot.attr("edge", fontname="Helvetica", fontsize="9")
    drawn = _drawn(graph)
    by_cluster: dict[str, list[str]] = {}
    for node, cluster in drawn.nodes.items():
        by_cluster.setdefault(cluster, []).append(node)
    components = {r.urn: r for r in plan.resources if r.type.startswith(COMPONENT_PREFIX)}
    for cluster, title in drawn.clusters.items():
        with dot.subgraph(name=cluster) as sub:
            sub.attr(label=title, style="rounded,filled", fillcolor="#f9fafb",
                     color="#9ca3af", fontsize="12")
            for node in by_cluster.get(cluster, []):
                sub.node(node, **_node_attributes(graph, node))
            extra = _plumbing(graph, cluster, components)
            if extra:
                sub.node(f"{cluster}/more", label=extra, shape="note", fontsize="9",
                         fillcolor="white", color="#d1d5db")
    for source, target, label, kind in _edges(graph):
        colour, style = EDGE_STYLES[kind]
        dot.edge(source, target, label=label, color=colour, fontcolor=colour, style=style)
    return dot


def _node_attributes(graph: StackGraph, node: str) -> dict[str, str]:
    resource = next((r for r in graph.plan.resources if r.name == node), None)
    if resource is None:
        endpoint = next(e for e in graph.endpoints if node_id(graph, e.id) == node)
        kind, shape, fill = ENDPOINT_STYLE
        component = _component_of(graph, endpoint.parent)
        return {"label": _label(kind, _short(endpoint.name, component) or endpoint.name,
                                _endpoint_detail(endpoint)),
                "shape": shape, "fillcolor": fill, "style": "filled,dashed"}
    kind, shape, fill = STYLES[resource.type]
    component = _component_of(graph, resource.parent)
    return {"label": _label(kind, _short(resource.name, component), _detail(resource)),
            "shape": shape, "fillcolor": fill}


def _cluster_id(component: RecordedResource | None) -> str:
    name = component.name if component is not None else "stack"
    return "cluster_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def _drawn(graph: StackGraph) -> Drawn:
    clusters: dict[str, str] = {}
    nodes: dict[str, str] = {}
    for resource in graph.plan.resources:
        if resource.type.startswith(COMPONENT_PREFIX) and resource.type != ROOT_COMPONENT:
            clusters[_cluster_id(resource)] = (
                f"{resource.type.removeprefix(COMPONENT_PREFIX)} {resource.name}")
    for resource in graph.plan.resources:
        if resource.type in STYLES:
            cluster = _cluster_id(_component_of(graph, resource.parent))
            clusters.setdefault(cluster, "resources outside the components")
            nodes[node_id(graph, resource.urn)] = cluster
    for endpoint in graph.endpoints:
        cluster = _cluster_id(_component_of(graph, endpoint.parent))
        clusters.setdefault(cluster, "resources outside the components")
        nodes[node_id(graph, endpoint.id)] = cluster
    edges = [(source, target, label) for source, target, label, _ in _edges(graph)]
    return Drawn(clusters=clusters, nodes=nodes, edges=edges)


def drawn(plan: Plan) -> Drawn:
    """The clusters, nodes and edges :func:`build` draws for ``plan``."""
    return _drawn(stack_graph(in_urn_order(plan)))


def in_urn_order(plan: Plan) -> Plan:
    """The plan with its resources in URN order: registration order depends on Output
    timing, and the same plan must give the same picture."""
    return Plan(stack=plan.stack, resources=sorted(plan.resources, key=lambda r: r.urn),
                outputs=plan.outputs)


def _edges(graph: StackGraph) -> list[tuple[str, str, str, str]]:
    return [(node_id(graph, edge.source), node_id(graph, edge.target), edge.label, edge.kind)
            for edge in graph.edges]


def _plumbing(graph: StackGraph, cluster: str, components: dict[str, RecordedResource]
              ) -> str:
    """'+ N more: 2 Role, ...' for a cluster's resources that are not drawn as nodes."""
    counts: Counter[str] = Counter()
    for resource in graph.plan.resources:
        if resource.type.startswith(COMPONENT_PREFIX) or resource.type in STYLES:
            continue
        if _cluster_id(_component_of(graph, resource.parent)) == cluster:
            counts[resource.type.rsplit(":", 1)[-1]] += 1
    if not counts:
        return ""
    parts = ", ".join(f"{count} {kind}" for kind, count in sorted(counts.items()))
    lines = textwrap.wrap(f"+ {sum(counts.values())} more: {parts}", width=44)
    return "".join(f"{line}\\l" for line in lines)


def source_digest(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def check_output(output: Path) -> str:
    """The format of ``output`` (its suffix), or DiagramError if it cannot be written there;
    also that `dot` is installed when the format needs it."""
    fmt = output.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise DiagramError(f"-o {output}: unknown format {output.suffix or '(none)'!r}; "
                           f"use one of {', '.join('.' + f for f in FORMATS)}")
    if output.is_dir():
        raise DiagramError(f"-o {output}: is a folder; give a file name such as stack.svg")
    if not output.parent.is_dir():
        raise DiagramError(f"-o {output}: folder {output.parent} does not exist")
    if fmt != "dot" and shutil.which("dot") is None:
        raise DiagramError(INSTALL_DOT)
    return fmt


def render(plan: Plan, output: Path) -> Path:
    """Draw ``plan`` into ``output`` (format from its suffix: svg, png, pdf or dot)."""
    output = Path(output)
    fmt = check_output(output)
    dot = build(plan)
    digest = source_digest(dot.source)
    dot.attr(comment=f"{SOURCE_DIGEST_PREFIX}{digest}")
    if fmt == "dot":
        data = dot.source.encode()
    else:
        import graphviz
        try:
            data = dot.pipe(format=fmt)
        except graphviz.ExecutableNotFound:
            raise DiagramError(INSTALL_DOT) from None
        except graphviz.CalledProcessError as problem:
            stderr = (problem.stderr or b"").decode(errors="replace").strip()
            raise DiagramError(f"dot failed: {stderr.splitlines()[-1] if stderr else problem}"
                               ) from None
    try:
        output.write_bytes(data)
    except OSError as problem:
        raise DiagramError(f"-o {output}: cannot write it ({problem.strerror})") from None
    return output
