"""The one reader of a pipeline definition: its steps, their graph and its expressions.

The local runtime executes definitions with it, and the tests check built definitions with
it, so both read the same grammar. The definition refers to values that exist only while it
runs: ``{"Get": "Parameters.X"}``, ``{"Get": "Execution.PipelineExecutionId"}``,
``{"Get": "Steps.S.<property path>"}``,
``{"Std:Join": ...}`` and ``{"Std:JsonGet": ...}``. :class:`Resolver` replaces them with values
from the execution's parameters and the properties of steps that already ran.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")

#: ``Execution.<name>`` variables the service resolves.
EXECUTION_VARIABLES = frozenset({
    "PipelineExecutionId", "PipelineExecutionArn", "PipelineName", "PipelineArn",
    "StartDateTime", "CurrentDateTime", "PipelineExecutionDisplayName",
})
#: The keys of the expression objects a definition may hold in place of a value.
EXPRESSION_KEYS = frozenset({"Get", "Std:Join", "Std:JsonGet"})
#: Keys of a condition step's arguments that hold nested steps.
BRANCHES = ("IfSteps", "ElseSteps")


class Key(str):
    """A bracketed key of a property path (``Outputs['train']``): names an item of a list."""

    __slots__ = ()


class ExpressionError(ValueError):
    """A reference the definition makes cannot be resolved."""


def parse_path(path: str) -> list[str | int]:
    """``A.B['x'].C[0]`` → ``["A", "B", Key("x"), "C", 0]`` (a Key compares as its string)."""
    tokens: list[str | int] = []
    position = 0
    while position < len(path):
        if path[position] == ".":
            position += 1
            continue
        match = _TOKEN.match(path, position)
        if not match:
            raise ExpressionError(f"cannot parse property path {path!r} at {position}")
        name, index, single, double = match.groups()
        tokens.append(int(index) if index is not None else name if name is not None
                      else Key(single if single is not None else double))
        position = match.end()
    return tokens


def follow(value: Any, tokens: list[str | int], where: str) -> Any:
    """Walk ``tokens`` into ``value``; a string key into a list picks the item of that name."""
    for token in tokens:
        if isinstance(value, Mapping) and token in value:
            value = value[token]
        elif isinstance(value, list) and isinstance(token, int) and token < len(value):
            value = value[token]
        elif isinstance(value, list) and isinstance(token, str):
            named = [item for item in value if isinstance(item, Mapping) and token in (
                item.get("OutputName"), item.get("ChannelName"), item.get("InputName"),
                item.get("MetricName"), item.get("Name"))]
            if not named:
                raise ExpressionError(f"{where}: no item named {token!r}")
            value = named[0]
        else:
            raise ExpressionError(f"{where}: no property {token!r}")
    return value


class Resolver:
    """Resolves expressions against parameters, execution variables and step properties."""

    def __init__(self, parameters: Mapping[str, Any], execution: Mapping[str, Any],
                 step_properties: Mapping[str, Any],
                 read_property_file: Callable[[str, str], Any]):
        self.parameters = parameters
        self.execution = execution
        self.step_properties = step_properties
        self.read_property_file = read_property_file

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Get"}:
            return self.get(value["Get"])
        if set(value) == {"Std:Join"}:
            join = value["Std:Join"]
            return join["On"].join(_text(self.resolve(item)) for item in join["Values"])
        if set(value) == {"Std:JsonGet"}:
            spec = value["Std:JsonGet"]
            property_file = spec["PropertyFile"]
            reference = property_file["Get"] if isinstance(property_file, dict) else property_file
            document = self.get(reference)
            return follow(document, parse_path(spec["Path"]), f"JsonGet {spec['Path']}")
        return {key: self.resolve(item) for key, item in value.items()}

    def get(self, reference: str) -> Any:
        head, _, rest = reference.partition(".")
        if head == "Parameters":
            if rest not in self.parameters:
                raise ExpressionError(f"unknown pipeline parameter {rest!r}")
            return self.parameters[rest]
        if head == "Execution":
            if rest not in self.execution:
                raise ExpressionError(f"unknown execution variable {rest!r}")
            return self.execution[rest]
        if head == "Steps":
            step, _, path = rest.partition(".")
            if step not in self.step_properties:
                raise ExpressionError(f"{reference}: step {step!r} has not run")
            tokens = parse_path(path)
            if tokens[:1] == ["PropertyFiles"] and len(tokens) == 2:
                return self.read_property_file(step, str(tokens[1]))
            return follow(self.step_properties[step], tokens, reference)
        raise ExpressionError(f"unsupported reference {reference!r}")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def references(value: Any) -> set[str]:
    """Names of the steps whose properties ``value`` refers to."""
    found: set[str] = set()
    if isinstance(value, dict):
        if set(value) == {"Get"} and isinstance(value["Get"], str) \
                and value["Get"].startswith("Steps."):
            found.add(value["Get"].split(".")[1])
        for item in value.values():
            found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


# --------------------------------------------------------------------------------------
# Steps and their graph
# --------------------------------------------------------------------------------------


def iter_steps(definition: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every step, including those nested in condition steps' if/else branches."""
    def walk(steps: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for step in steps:
            yield step
            if step["Type"] == "Condition":
                for branch in BRANCHES:
                    yield from walk(step["Arguments"].get(branch, []))
    return walk(definition["Steps"])


def steps_by_name(definition: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["Name"]: step for step in iter_steps(definition)}


def own_arguments(step: Mapping[str, Any]) -> Any:
    """A step's arguments without the nested steps of a condition's branches."""
    arguments = step.get("Arguments", {})
    if step["Type"] == "Condition":
        return {key: value for key, value in arguments.items() if key not in BRANCHES}
    return arguments


def iter_gets(value: Any) -> Iterator[str]:
    """Every ``{"Get": ...}`` target inside ``value``, including inside Join and JsonGet."""
    if isinstance(value, dict):
        if set(value) == {"Get"}:
            yield value["Get"]
            return
        for item in value.values():
            yield from iter_gets(item)
    elif isinstance(value, list):
        for item in value:
            yield from iter_gets(item)


def step_dependencies(step: Mapping[str, Any]) -> set[str]:
    """Steps that must finish first: DependsOn and references, a condition's branches' too."""
    waits = set(step.get("DependsOn", [])) | references(own_arguments(step))
    if step["Type"] == "Condition":
        for branch in BRANCHES:
            for inner in step.get("Arguments", {}).get(branch, []):
                waits |= step_dependencies(inner)
    return waits


def step_graph(definition: Mapping[str, Any]) -> dict[str, set[str]]:
    """upstream step -> downstream steps, from property references, DependsOn and branches."""
    graph: dict[str, set[str]] = {step["Name"]: set() for step in iter_steps(definition)}
    for step in iter_steps(definition):
        for upstream in set(step.get("DependsOn", [])) | references(own_arguments(step)):
            graph.setdefault(upstream, set()).add(step["Name"])
        if step["Type"] == "Condition":
            for branch in BRANCHES:
                for child in step["Arguments"].get(branch, []):
                    graph[step["Name"]].add(child["Name"])
    return graph


def topological_order(graph: Mapping[str, set[str]]) -> list[str]:
    """The steps in dependency order; raises ``ValueError`` naming the steps on a cycle."""
    incoming = {name: 0 for name in graph}
    for downstream in graph.values():
        for name in downstream:
            incoming[name] = incoming.get(name, 0) + 1
    ready = sorted(name for name, count in incoming.items() if count == 0)
    order: list[str] = []
    while ready:
        name = ready.pop(0)
        order.append(name)
        for downstream in sorted(graph.get(name, ())):
            incoming[downstream] -= 1
            if incoming[downstream] == 0:
                ready.append(downstream)
    if len(order) != len(incoming):
        raise ValueError(f"cycle among steps {sorted(set(incoming) - set(order))}")
    return order
