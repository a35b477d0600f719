"""Checks of a SageMaker pipeline definition that need no AWS: reusable by any test.

- :func:`check_step_arguments` - each step's ``Arguments`` against botocore's input shape of
  the API the step calls, after pipeline expressions are replaced by typed placeholders
  (:func:`substitute_expressions` walks the shape and the value together), plus the
  enum/max-length/pattern constraints botocore's ``ParamValidator`` does not check.
- :func:`reference_problems` - every ``{"Get": ...}`` names a declared parameter, a known
  execution variable, or an existing step and an output that step declares (checked against
  botocore's Describe* output shapes and the step's own arguments); ``DependsOn`` names exist.
- walking the steps, the step graph and property paths come from
  :mod:`mlops_components.sagemaker.definition`, the reader the local runtime executes with.
- :func:`schema_problems` - AWS's published JSON schema, minus documented exclusions where
  the schema is stricter than the service (:data:`SCHEMA_EXCLUSIONS`).

Functions return lists of problems (empty = fine) so a test can assert ``== []`` and see
every problem at once.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import functools
import json
import re
import socket
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import botocore.session
from botocore.exceptions import ParamValidationError
from botocore.model import Shape
from botocore.validate import validate_parameters

from mlops_components.sagemaker.definition import (
    EXECUTION_VARIABLES,
    EXPRESSION_KEYS,
    ExpressionError,
    Key,
    iter_gets,
    iter_steps,
    own_arguments,
    parse_path,
    steps_by_name,
)

#: API each step type calls at execution time.
STEP_OPERATIONS: dict[str, str] = {
    "Processing": "CreateProcessingJob",
    "Training": "CreateTrainingJob",
    "Tuning": "CreateHyperParameterTuningJob",
    "RegisterModel": "CreateModelPackage",
    "Model": "CreateModel",
    "Transform": "CreateTransformJob",
}

#: Names the pipeline service generates per execution (the SDK drops them from Arguments).
SERVICE_GENERATED_NAMES: dict[str, dict[str, str]] = {
    "CreateProcessingJob": {"ProcessingJobName": "pipelines-generated-name"},
    "CreateTrainingJob": {"TrainingJobName": "pipelines-generated-name"},
    "CreateHyperParameterTuningJob": {"HyperParameterTuningJobName": "generated"},
    "CreateTransformJob": {"TransformJobName": "pipelines-generated-name"},
}

#: Describe/List responses a step's properties are drawn from (``Steps.<name>.<path>``).
STEP_PROPERTY_OPERATIONS: dict[str, tuple[str, ...]] = {
    "Processing": ("DescribeProcessingJob",),
    "Training": ("DescribeTrainingJob",),
    "Tuning": ("DescribeHyperParameterTuningJob", "ListTrainingJobsForHyperParameterTuningJob"),
    "RegisterModel": ("DescribeModelPackage",),
    "Model": ("DescribeModel",),
    "Transform": ("DescribeTransformJob",),
}

#: Pipeline parameter type -> botocore scalar types it may stand for.
PARAMETER_TYPES: dict[str, frozenset[str]] = {
    "String": frozenset({"string"}),
    "Integer": frozenset({"integer", "long"}),
    "Float": frozenset({"float", "double"}),
    "Boolean": frozenset({"boolean"}),
}

SCHEMA_PATH = Path("/work/shared/schemas/sagemaker-pipeline-definition.schema.json")

#: Where AWS's published schema (April 2025) is stricter than the service, and why. Each
#: entry: (JSON path pattern with ``*`` for any key/index, field removed before validation).
#: The removed fields are still checked against botocore by :func:`check_step_arguments`
#: when they are API arguments.
SCHEMA_EXCLUSIONS: tuple[tuple[str, str, str], ...] = (
    ("", "PipelineExperimentConfig",
     "a documented top-level field the schema omits (the SDK writes null when unset)"),
    ("", "MlflowConfig", "newer top-level field the SDK v3 always writes (null when unset)"),
    ("Parameters.*", "EnumValues", "allowed values of a String parameter; schema predates it"),
    ("Steps.*", "PropertyFiles",
     "Processing steps' property files (JsonGet's source); the schema omits them"),
    ("**.OutputDataConfig", "CompressionType", "newer CreateTrainingJob field (GZIP default)"),
    ("**.HyperParameterTuningJobConfig", "RandomSeed", "newer tuning field"),
    ("**.Arguments", "ModelApprovalStatus",
     "CreateModelPackage field the schema's RegisterModel arguments omit"),
    ("**.Arguments", "DriftCheckBaselines", "CreateModelPackage field the schema omits"),
    ("**.Arguments", "CustomerMetadataProperties", "CreateModelPackage field the schema omits"),
    ("**.Arguments", "Domain", "CreateModelPackage field the schema omits"),
    ("**.Arguments", "Task", "CreateModelPackage field the schema omits"),
    ("**.Arguments", "SkipModelValidation", "CreateModelPackage field the schema omits"),
    ("**.InferenceSpecification.Containers.*", "Environment",
     "ModelPackageContainerDefinition.Environment, which the schema omits"),
    ("**.Arguments", "Environment",
     "CreateTrainingJob.Environment (botocore has it), which the schema's Training step omits"),
    ("**.TrainingJobDefinition", "Environment",
     "HyperParameterTrainingJobDefinition.Environment (botocore has it); the schema omits it"),
)
#: Also: Std:Join and Std:JsonGet are replaced by {"Get": ...} before schema validation -
#: the schema's JoinFunction is malformed (no "On", "required" misplaced), it allows only
#: Get where an expression may stand, and it has no JsonGet at all, though the service
#: documents both functions (conditions, fail messages, S3 URIs). Where the definition
#: puts a function, the schema must accept some expression there.


@functools.cache
def service_model() -> Any:
    """botocore's SageMaker service model (bundled with botocore; no network)."""
    return botocore.session.get_session().get_service_model("sagemaker")


# --------------------------------------------------------------------------------------
# Walking a definition
# --------------------------------------------------------------------------------------


def is_expression(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in EXPRESSION_KEYS


# --------------------------------------------------------------------------------------
# Arguments against botocore
# --------------------------------------------------------------------------------------


def _placeholder(shape: Shape) -> Any:
    kind = shape.type_name
    minimum = shape.metadata.get("min")
    if kind == "string":
        return "pipeline-expression".ljust(int(minimum or 0), "x")
    if kind in ("integer", "long"):
        return max(1, int(minimum or 1))
    if kind in ("float", "double"):
        return float(max(1, minimum or 1))
    if kind == "boolean":
        return True
    if kind == "timestamp":
        return datetime.datetime(2020, 12, 1, tzinfo=datetime.UTC)
    raise TypeError(f"no placeholder for a {kind} shape")


def substitute_expressions(value: Any, shape: Shape, parameters: Mapping[str, str],
                           path: str = "", problems: list[str] | None = None) -> Any:
    """``value`` with every pipeline expression replaced by a placeholder of ``shape``'s type.

    Walks the shape and the value together. Records in ``problems``: an expression where
    the shape is not a scalar, a Join where the shape is not a string, and a parameter whose
    declared type does not fit the shape (``parameters`` maps name -> declared Type).
    """
    problems = problems if problems is not None else []
    if is_expression(value):
        kind = shape.type_name
        if kind in ("structure", "list", "map"):
            problems.append(f"{path}: expression {value} where a {kind} is required")
            return value
        function = next(iter(value))
        if function == "Std:Join" and kind != "string":
            problems.append(f"{path}: Std:Join yields a string, the API wants a {kind}")
        if function == "Get" and value["Get"].startswith("Parameters."):
            name = value["Get"].split(".", 1)[1]
            declared = parameters.get(name)
            if declared is not None and kind not in PARAMETER_TYPES.get(declared, ()):
                problems.append(f"{path}: parameter {name} is {declared}, the API wants {kind}")
        return _placeholder(shape)
    if shape.type_name == "structure" and isinstance(value, dict):
        return {key: (substitute_expressions(item, shape.members[key], parameters,
                                             f"{path}.{key}", problems)
                      if key in shape.members else item)
                for key, item in value.items()}
    if shape.type_name == "list" and isinstance(value, list):
        return [substitute_expressions(item, shape.member, parameters, f"{path}[{index}]",
                                       problems) for index, item in enumerate(value)]
    if shape.type_name == "map" and isinstance(value, dict):
        return {key: substitute_expressions(item, shape.value, parameters, f"{path}[{key!r}]",
                                            problems) for key, item in value.items()}
    return value


def _java_pattern(pattern: str) -> re.Pattern[str] | None:
    translated = (pattern.replace(r"\p{L}", "a-zA-Z\u00c0-\uffff").replace(r"\p{Z}", " ")
                  .replace(r"\p{N}", "0-9"))
    try:
        return re.compile(translated)
    except re.error:
        return None


def literal_constraint_problems(value: Any, shape: Shape, path: str = "") -> list[str]:
    """Constraints ``ParamValidator`` leaves to the service: enums, max length, patterns.

    Only literal strings are checked (placeholders stand for values known at run time).
    """
    problems: list[str] = []
    if is_expression(value):
        return problems
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for key, item in value.items():
            if key in shape.members:
                problems += literal_constraint_problems(item, shape.members[key], f"{path}.{key}")
    elif kind == "list" and isinstance(value, list):
        maximum = shape.metadata.get("max")
        if maximum is not None and len(value) > maximum:
            problems.append(f"{path}: {len(value)} items, at most {maximum} allowed")
        for index, item in enumerate(value):
            problems += literal_constraint_problems(item, shape.member, f"{path}[{index}]")
    elif kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            problems += literal_constraint_problems(key, shape.key, f"{path} key {key!r}")
            problems += literal_constraint_problems(item, shape.value, f"{path}[{key!r}]")
    elif kind == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} is not one of {shape.enum}")
        maximum = shape.metadata.get("max")
        if maximum is not None and len(value) > maximum:
            problems.append(f"{path}: {len(value)} characters, at most {maximum} allowed")
        pattern = shape.metadata.get("pattern")
        compiled = _java_pattern(pattern) if pattern else None
        if compiled is not None and not compiled.fullmatch(value):
            problems.append(f"{path}: {value!r} does not match {pattern!r}")
    elif kind in ("integer", "long", "float", "double") and isinstance(value, int | float):
        maximum = shape.metadata.get("max")
        if maximum is not None and value > maximum:
            problems.append(f"{path}: {value} is above the maximum {maximum}")
    return problems


def step_request(step: Mapping[str, Any], parameters: Mapping[str, str],
                 problems: list[str] | None = None) -> tuple[str, dict[str, Any]]:
    """The API a step calls and its Arguments as a complete, placeholder-filled request."""
    operation = STEP_OPERATIONS[step["Type"]]
    shape = service_model().operation_model(operation).input_shape
    request = copy.deepcopy(dict(step["Arguments"]))
    for name, placeholder in SERVICE_GENERATED_NAMES.get(operation, {}).items():
        request.setdefault(name, placeholder)
    return operation, substitute_expressions(request, shape, parameters, step["Name"],
                                             problems)


def check_step_arguments(definition: Mapping[str, Any]) -> list[str]:
    """Problems of every API-calling step's Arguments against botocore's input shape."""
    parameters = {item["Name"]: item["Type"] for item in definition.get("Parameters", [])}
    problems: list[str] = []
    for step in iter_steps(definition):
        if step["Type"] not in STEP_OPERATIONS:
            continue
        operation, request = step_request(step, parameters, problems)
        shape = service_model().operation_model(operation).input_shape
        try:
            validate_parameters(request, shape)
        except ParamValidationError as error:
            problems.append(f"{step['Name']} ({operation}): {error}")
        problems += literal_constraint_problems(step["Arguments"], shape, step["Name"])
    return problems


# --------------------------------------------------------------------------------------
# References
# --------------------------------------------------------------------------------------

def _named_item(items: Any, key: str) -> Any:
    """The item of a list of named things (outputs, inputs, channels) called ``key``."""
    if not isinstance(items, list):
        return None
    for item in items:
        if isinstance(item, dict) and any(
                name.endswith("Name") and value == key for name, value in item.items()):
            return item
    return None


def _property_problem(step: Mapping[str, Any], tokens: list[Any]) -> str | None:
    """Why ``tokens`` is not a property of ``step``, or None if it is."""
    if step["Type"] == "Processing" and tokens and tokens[0] == "PropertyFiles":
        declared = {item["PropertyFileName"] for item in step.get("PropertyFiles", [])}
        if len(tokens) != 2 or tokens[1] not in declared:
            return f"declares property files {sorted(declared)}"
        return None
    if step["Type"] == "Lambda":  # its properties are the outputs it declares
        declared = {item["OutputName"] for item in step.get("OutputParameters", [])}
        if len(tokens) != 2 or tokens[0] != "OutputParameters" or tokens[1] not in declared:
            return f"declares OutputParameters {sorted(declared)}"
        return None
    operations = STEP_PROPERTY_OPERATIONS.get(step["Type"])
    if operations is None:
        return f"a {step['Type']} step has no properties"
    reasons = []
    for operation in operations:
        shape = service_model().operation_model(operation).output_shape
        arguments: Any = step["Arguments"]
        reason = None
        for token in tokens:
            if isinstance(token, str) and not isinstance(token, Key):
                if shape.type_name != "structure" or token not in shape.members:
                    reason = f"{shape.name} has no member {token!r}"
                    break
                shape = shape.members[token]
                arguments = arguments.get(token) if isinstance(arguments, dict) else None
            elif isinstance(token, int):
                if shape.type_name != "list":
                    reason = f"{shape.name} is not a list"
                    break
                shape = shape.member
                arguments = None
            else:
                if shape.type_name != "list":
                    reason = f"{shape.name} is not a list"
                    break
                shape = shape.member
                arguments = _named_item(arguments, token)
                if arguments is None:
                    reason = f"the step declares no item named {str(token)!r} there"
                    break
        if reason is None:
            if shape.type_name in ("structure", "list", "map"):
                return f"ends at a {shape.type_name} ({shape.name}), not a value"
            return None
        reasons.append(reason)
    return "; ".join(reasons)


def reference_problems(definition: Mapping[str, Any]) -> list[str]:
    """Every Get names something that exists; every DependsOn names a step."""
    parameters = {item["Name"] for item in definition.get("Parameters", [])}
    steps = steps_by_name(definition)
    problems: list[str] = []
    for step in iter_steps(definition):
        where = step["Name"]
        for name in step.get("DependsOn", []):
            if name not in steps:
                problems.append(f"{where}: DependsOn names no step: {name!r}")
        for target in iter_gets(own_arguments(step)):
            scope, _, rest = target.partition(".")
            if scope == "Parameters":
                if rest not in parameters:
                    problems.append(f"{where}: {target} is not a declared parameter")
            elif scope == "Execution":
                if rest not in EXECUTION_VARIABLES:
                    problems.append(f"{where}: {target} is not an execution variable")
            elif scope == "Steps":
                step_name, _, path = rest.partition(".")
                if step_name not in steps:
                    problems.append(f"{where}: {target} names no step {step_name!r}")
                    continue
                if step_name == where:
                    problems.append(f"{where}: {target} refers to the step itself")
                    continue
                try:
                    tokens = parse_path(path)
                except ExpressionError as error:
                    problems.append(f"{where}: {error}")
                    continue
                reason = _property_problem(steps[step_name], tokens)
                if reason:
                    problems.append(f"{where}: {target} is not a property of {step_name} "
                                    f"({reason})")
            else:
                problems.append(f"{where}: {target} has an unknown scope {scope!r}")
        for json_get in _iter_json_gets(own_arguments(step)):
            problems += _json_get_problems(where, json_get, steps)
    return problems


def _iter_json_gets(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if set(value) == {"Std:JsonGet"}:
            yield value["Std:JsonGet"]
        for item in value.values():
            yield from _iter_json_gets(item)
    elif isinstance(value, list):
        for item in value:
            yield from _iter_json_gets(item)


def _json_get_problems(where: str, json_get: Mapping[str, Any],
                       steps: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """A JsonGet's property file is declared by its step, on an output that step declares."""
    target = json_get.get("PropertyFile", {}).get("Get", "")
    match = re.fullmatch(r"Steps\.([^.]+)\.PropertyFiles\.([^.]+)", target)
    if not match or not json_get.get("Path"):
        return [f"{where}: JsonGet needs PropertyFile Steps.<step>.PropertyFiles.<name> and a "
                f"Path (got {json_get})"]
    step = steps.get(match.group(1))
    if step is None:
        return []  # reported as a missing step already
    files = {item["PropertyFileName"]: item for item in step.get("PropertyFiles", [])}
    property_file = files.get(match.group(2))
    if property_file is None:
        return []  # reported as a missing property already
    outputs = step["Arguments"].get("ProcessingOutputConfig", {}).get("Outputs", [])
    if _named_item(outputs, property_file["OutputName"]) is None:
        return [f"{where}: property file {match.group(2)} reads output "
                f"{property_file['OutputName']!r}, which {step['Name']} does not declare"]
    return []


# --------------------------------------------------------------------------------------
# The graph
# --------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------
# AWS's JSON schema
# --------------------------------------------------------------------------------------


@functools.cache
def pipeline_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def _functions_as_gets(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in ("Std:Join", "Std:JsonGet"):
            return {"Get": f"<{next(iter(value))}>"}
        return {key: _functions_as_gets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_functions_as_gets(item) for item in value]
    return value


def _matches(pattern: list[str], path: list[str]) -> bool:
    if not pattern:
        return not path
    if pattern[0] == "**":
        return any(_matches(pattern[1:], path[start:]) for start in range(len(path) + 1))
    return bool(path) and pattern[0] in ("*", path[0]) and _matches(pattern[1:], path[1:])


def apply_schema_exclusions(
        definition: Any, exclusions: tuple[tuple[str, str, str], ...] = SCHEMA_EXCLUSIONS,
) -> tuple[Any, set[tuple[str, str]]]:
    """A copy without the ``exclusions`` fields; also the exclusions that applied."""
    applied: set[tuple[str, str]] = set()

    def walk(value: Any, path: list[str]) -> Any:
        if isinstance(value, dict):
            result = {}
            for key, item in value.items():
                rule = next(((pattern, field) for pattern, field, _ in exclusions
                             if field == key and _matches(
                                 [part for part in pattern.split(".") if part], path)), None)
                if rule:
                    applied.add(rule)
                    continue
                result[key] = walk(item, [*path, key])
            return result
        if isinstance(value, list):
            return [walk(item, [*path, str(index)]) for index, item in enumerate(value)]
        return value

    return walk(_functions_as_gets(definition), []), applied


def schema_problems(definition: Mapping[str, Any],
                    exclusions: tuple[tuple[str, str, str], ...] = SCHEMA_EXCLUSIONS,
                    ) -> list[str]:
    """Errors of the definition against AWS's schema, after ``exclusions`` are removed.

    Each step is also validated against its own type's definition, so an error names the
    field rather than "not valid under any of the given schemas".
    """
    import jsonschema

    schema = pipeline_schema()
    document, _ = apply_schema_exclusions(definition, exclusions)
    validator = jsonschema.Draft7Validator(schema)
    problems = [f"{list(error.absolute_path)}: {error.message}"
                for error in validator.iter_errors(document)
                if list(error.absolute_path)[:1] != ["Steps"]]
    step_types = {"Processing": "ProcessingStep", "Training": "TrainingStep",
                  "Tuning": "TuningStep", "RegisterModel": "RegisterModelStep",
                  "Condition": "ConditionStep", "Fail": "FailStep", "Model": "CreateModelStep",
                  "Transform": "TransformStep", "Lambda": "LambdaStep"}
    for step in iter_steps(document):
        sub_schema = {"$ref": f"#/definitions/{step_types[step['Type']]}",
                      "definitions": schema["definitions"]}
        step_document = dict(step)
        if step["Type"] == "Condition":  # branches are validated as steps of their own
            step_document["Arguments"] = {
                **step["Arguments"],
                "IfSteps": [], "ElseSteps": []}
        for error in jsonschema.Draft7Validator(sub_schema).iter_errors(step_document):
            problems.append(f"{step['Name']} {list(error.absolute_path)}: {error.message}")
    return problems


# --------------------------------------------------------------------------------------
# No network
# --------------------------------------------------------------------------------------


class NetworkLog:
    """What code tried while the network was forbidden."""

    def __init__(self) -> None:
        self.attempts: list[str] = []
        self.threads: list[str] = []


@contextlib.contextmanager
def forbid_network() -> Iterator[NetworkLog]:
    """Make every socket connection and DNS lookup fail, and record the attempts.

    Attempts are recorded as well as refused because the SDK sends telemetry from daemon
    threads that swallow errors: a test asserts ``log.attempts == []`` after the code ran.
    Started threads are recorded too (``log.threads``) to catch the SDK's
    ``sagemaker-telemetry`` threads even before they connect.
    """
    log = NetworkLog()

    def refuse(what: str) -> OSError:
        log.attempts.append(what)
        return OSError(f"network access is forbidden in this test: {what}")

    def connect(sock: socket.socket, address: Any) -> None:
        raise refuse(f"connect {address!r}")

    def connect_ex(sock: socket.socket, address: Any) -> int:
        raise refuse(f"connect_ex {address!r}")

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        raise refuse(f"create_connection {address!r}")

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        raise refuse(f"getaddrinfo {host!r}:{port!r}")

    original_start = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        log.threads.append(thread.name)
        original_start(thread)

    patches = [(socket.socket, "connect", connect), (socket.socket, "connect_ex", connect_ex),
               (socket, "create_connection", create_connection),
               (socket, "getaddrinfo", getaddrinfo), (threading.Thread, "start", start)]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    try:
        for owner, name, replacement in patches:
            setattr(owner, name, replacement)
        yield log
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def build_offline(build: Any, base: Any, variants: Mapping[str, Mapping[str, Any]]
                  ) -> dict[str, dict[str, Any]]:
    """variant -> the parsed definition `build` makes of `base` with that variant's overrides
    (a dataclass spec), every one built with the network forbidden and none attempted."""
    import dataclasses

    with forbid_network() as log:
        built = {name: build(dataclasses.replace(base, **overrides))
                 for name, overrides in variants.items()}
    assert log.attempts == []
    return {name: json.loads(text) for name, text in built.items()}
