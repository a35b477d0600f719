"""The component package other Pulumi languages use (provider/): its schema and construct path.

The schema is built exactly as Pulumi's component provider host builds it (the same
ComponentProvider: its Analyzer + generate_schema), offline, and validated against Pulumi's
package metaschema (tests/fixtures/schemas). The construct path drives
ComponentProvider.construct under the recording mocks with the camelCase inputs a YAML
program sends, and compares what it creates with the Python path's plan.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import re
import subprocess
import sys
import types
import typing
from collections.abc import Awaitable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import pulumi
import pytest
import regex
import yaml
from jsonschema import validators
from pulumi.provider.experimental.util import camel_case

from mlops_components.components.inputs import resolve_annotations
from mlops_components.components.model_registry import ModelRegistryArgs
from mlops_components.components.package import (
    COMPONENTS,
    PACKAGE_NAME,
    component_provider,
    package_schema,
)
from mlops_components.components.stack import MlopsStackArgs
from mlops_components.components.training_pipeline import (
    HyperparameterRangeArgs,
    TrainingPipelineArgs,
    TuningArgs,
)
from mlops_components.enums import ProblemType
from mlops_components.plan import Plan, evaluate
from mlops_components.sagemaker.endpoint import EndpointKind
from mlops_components.validation import ValidationError

REPO = Path(__file__).resolve().parents[2]
METASCHEMA = REPO / "tests" / "fixtures" / "schemas" / "pulumi-package.schema.json"
PROVIDER = REPO / "provider"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return package_schema()


def _ecma_pattern(validator, pattern, instance, _schema):
    """The metaschema's patterns are ECMAScript regexes (``(?<name>...)``): `regex` reads
    them, Python's `re` does not."""
    if validator.is_type(instance, "string") and not regex.search(pattern, instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


def metaschema_errors(document: dict[str, Any]) -> list[str]:
    metaschema = json.loads(METASCHEMA.read_text())
    validator_class = validators.extend(
        validators.validator_for(metaschema), {"pattern": _ecma_pattern})
    validator_class.check_schema(metaschema, format_checker=None)  # its regexes: ECMAScript
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in validator_class(metaschema).iter_errors(document)]


# -- the schema ---------------------------------------------------------------------------


def test_the_schema_satisfies_pulumis_package_metaschema(schema):
    assert metaschema_errors(schema) == []


def test_the_metaschema_check_can_fail(schema):
    broken = json.loads(json.dumps(schema))
    broken["name"] = "9-not-a-name"
    broken["resources"]["mlops:index:MlopsStack"]["inputProperties"]["tags"]["type"] = "map"
    errors = metaschema_errors(broken)
    assert any(error.startswith("name:") for error in errors)
    assert any("inputProperties/tags" in error for error in errors)


def test_the_package_is_named_mlops_and_serves_every_component(schema):
    assert schema["name"] == PACKAGE_NAME == "mlops"
    assert sorted(schema["resources"]) == sorted(
        f"mlops:index:{component.__name__}" for component in COMPONENTS)
    assert {"DataBucket", "ModelRegistry", "TrainingPipeline", "ModelEndpoint", "ModelMonitor",
            "RetrainTrigger", "BatchInference", "MlopsStack"} == {
        component.__name__ for component in COMPONENTS}
    for token, resource in schema["resources"].items():
        assert resource["isComponent"] is True, token
        assert resource.get("description"), token


def _schema_type(hint: Any) -> tuple[str, Any]:
    """What the schema says for a Python annotation: ("string"|..., None), ("array", item),
    ("object", value) or ("$ref", type name)."""
    origin = typing.get_origin(hint)
    if origin is typing.NotRequired:  # a field with a default (inputs.resolve_annotations)
        return _schema_type(typing.get_args(hint)[0])
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)
                   and typing.get_origin(arg) is not Awaitable
                   and not isinstance(arg, typing.ForwardRef)]
        return _schema_type(members[0])
    if origin is pulumi.Output:
        return _schema_type(typing.get_args(hint)[0])
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if hint in simple:
        return simple[hint], None
    if isinstance(hint, type) and (dataclasses.is_dataclass(hint)
                                   or issubclass(hint, enum.Enum)):
        return "$ref", hint.__name__
    if origin is not None and issubclass(origin, Mapping):
        return "object", _schema_type(typing.get_args(hint)[1])
    if origin is not None and issubclass(origin, Sequence):
        return "array", _schema_type(typing.get_args(hint)[0])
    raise AssertionError(f"{hint!r} is no type that crosses languages")


def _property_type(prop: dict[str, Any]) -> tuple[str, Any]:
    if "$ref" in prop:
        return "$ref", prop["$ref"].rsplit(":", 1)[-1]
    if prop["type"] == "array":
        return "array", _property_type(prop["items"])
    if prop["type"] == "object" and "additionalProperties" in prop:
        return "object", _property_type(prop["additionalProperties"])
    return prop["type"], None


def _check_fields(owner: str, cls: type, properties: dict[str, Any], required: list[str],
                  schema_types: dict[str, Any]) -> list[str]:
    resolve_annotations(cls)
    problems = []
    fields = {field.name: field for field in dataclasses.fields(cls)}
    hints = cls.__annotations__
    assert set(properties) == {camel_case(name) for name in fields}, owner
    for name, field in fields.items():
        prop = properties[camel_case(name)]
        if not (prop.get("description") or "").strip():
            problems.append(f"{owner}.{name}: no description")
        items = prop.get("items") or prop.get("additionalProperties") or {}
        if "enum" in schema_types.get(items.get("$ref", "").removeprefix("#/types/"), {}):
            problems.append(f"{owner}.{name}: a list or map of enums (the host maps each "
                            "item to {}): use strings")
        if _property_type(prop) != _schema_type(hints[name]):
            problems.append(f"{owner}.{name}: {_property_type(prop)} for {hints[name]!r}")
        has_default = (field.default is not dataclasses.MISSING
                       or field.default_factory is not dataclasses.MISSING)
        if has_default == (camel_case(name) in required):
            problems.append(f"{owner}.{name}: required is {camel_case(name) in required}")
    return problems


def test_every_args_field_is_an_input_with_its_type_and_description(schema):
    problems = []
    seen_types = set()
    for component in COMPONENTS:
        resource = schema["resources"][f"mlops:index:{component.__name__}"]
        args_type = component.__init__.__annotations__["args"]
        problems += _check_fields(component.__name__, args_type, resource["inputProperties"],
                                  resource.get("requiredInputs", []), schema["types"])
        pending = [args_type]
        while pending:  # every nested Args and enum reachable from the inputs
            cls = pending.pop()
            for hint in cls.__annotations__.values():
                kind, inner = _schema_type(hint)
                while kind in ("array", "object"):
                    kind, inner = inner
                if kind != "$ref" or inner in seen_types:
                    continue
                seen_types.add(inner)
                definition = schema["types"][f"mlops:index:{inner}"]
                assert (definition.get("description") or "").strip(), inner
                nested = next(klass for klass in _classes(hint) if klass.__name__ == inner)
                if "enum" in definition:
                    assert [member["value"] for member in definition["enum"]] == [
                        member.value for member in nested]
                    problems += [f"{inner}.{member['name']}: no description"
                                 for member in definition["enum"]
                                 if not (member.get("description") or "").strip()]
                else:
                    problems += _check_fields(inner, nested, definition["properties"],
                                              definition.get("required", []), schema["types"])
                    pending.append(nested)
    assert problems == []
    assert {"TrainingPipelineArgs", "TuningArgs", "HyperparameterRangeArgs", "AutoscalingArgs",
            "ProblemType", "EndpointKind"} <= seen_types
    assert set(schema["types"]) == {f"mlops:index:{name}" for name in seen_types}


def _classes(hint: Any) -> list[type]:
    if isinstance(hint, type):
        return [hint]
    return [found for arg in typing.get_args(hint) for found in _classes(arg)]


def test_every_component_output_is_in_the_schema_with_its_type_and_description(schema):
    problems = []
    for component in COMPONENTS:
        resource = schema["resources"][f"mlops:index:{component.__name__}"]
        outputs = {name: hint for name, hint in component.__annotations__.items()
                   if not name.startswith("_")}
        assert outputs, component.__name__
        assert set(resource["properties"]) == {camel_case(name) for name in outputs}
        for name, hint in outputs.items():
            prop = resource["properties"][camel_case(name)]
            if not (prop.get("description") or "").strip():
                problems.append(f"{component.__name__}.{name}: no description")
            if _property_type(prop) != _schema_type(hint):
                problems.append(f"{component.__name__}.{name}: {prop} for {hint!r}")
    assert problems == []
    stack = schema["resources"]["mlops:index:MlopsStack"]["properties"]
    assert stack["pipelineArn"]["type"] == "string"
    assert stack["alarmNames"] == {**stack["alarmNames"], "type": "array"}


def test_the_provider_folder_is_a_source_based_python_plugin():
    manifest = yaml.safe_load((PROVIDER / "PulumiPlugin.yaml").read_text())
    assert manifest["runtime"]["name"] == "python"
    main = (PROVIDER / "__main__.py").read_text()
    assert "component_provider_host(list(COMPONENTS), PACKAGE_NAME" in main
    requirements = [line for line in (PROVIDER / "requirements.txt").read_text().splitlines()
                    if line and not line.startswith("#")]
    assert requirements == [".."]  # the repository: its pyproject installs the SDK
    assert (PROVIDER / ".." / "pyproject.toml").is_file()


def test_the_plugin_serves_that_schema_over_grpc(schema):
    """`pulumi package add` starts the plugin (python <folder>, the engine's address as its
    argument), reads the port it prints and asks for the schema over gRPC: the same here."""
    import grpc
    from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    plugin = subprocess.Popen([sys.executable, str(PROVIDER), "127.0.0.1:9"], cwd=PROVIDER,
                              env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = int(plugin.stdout.readline() or b"0")
        assert port, plugin.stderr.read().decode()[-2000:]
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            served = provider_pb2_grpc.ResourceProviderStub(channel).GetSchema(
                provider_pb2.GetSchemaRequest(version=0), timeout=60)
    finally:
        plugin.terminate()
        plugin.wait(timeout=30)
    assert json.loads(served.schema) == schema


# -- the construct path -------------------------------------------------------------------


def construct(component: str, name: str, inputs: dict[str, Any]) -> tuple[Plan, dict]:
    """What ComponentProvider.construct creates for a program's inputs, and its state."""
    provider = component_provider()
    state: dict[str, Any] = {}

    def program() -> None:
        result = provider.construct(name, f"mlops:index:{component}", inputs,
                                    pulumi.ResourceOptions())
        pulumi.export("state", result.state)

    plan = evaluate(program, project="mlops", stack="test")
    state.update(plan.outputs["state"])
    return plan, state


def python_plan(factory) -> Plan:
    return evaluate(factory, project="mlops", stack="test")


def resources(plan: Plan) -> list[tuple[str, str, str | None, Any]]:
    return sorted((r.type, r.name, r.parent, json.dumps(r.inputs, sort_keys=True, default=str))
                  for r in plan.resources if r.type != "pulumi:pulumi:Stack")


#: What a YAML program sends for an MlopsStack: camelCase names, every number a float.
YAML_STACK_INPUTS = {
    "bucket": {"forceDestroy": True, "captureRetentionDays": 14.0},
    "pipeline": {"targetColumn": "churned", "problemType": "classification",
                 "metricThreshold": 0.85, "processingInstanceCount": 2.0,
                 "hyperparameters": {"max-depth": "6"},
                 "tuning": {"maxJobs": 4.0, "maxParallelJobs": 2.0,
                            "ranges": {"max-depth": {"minValue": 2.0, "maxValue": 8.0}}}},
    "endpoint": {"kind": "instances", "instanceCount": 2.0,
                 "autoscaling": {"minCapacity": 2.0, "maxCapacity": 4.0}},
    "retrain": {"cooldownSeconds": 1800.0, "cooldownSources": ["new-data"]},
    "readerAccountIds": ["111122223333"],
    "tags": {"team": "churn"},
}


def test_mlops_stack_from_yaml_inputs_creates_what_the_python_args_create():
    from mlops_components.components.data_bucket import DataBucketArgs
    from mlops_components.components.model_endpoint import AutoscalingArgs, ModelEndpointArgs
    from mlops_components.components.retrain_trigger import RetrainTriggerArgs
    from mlops_components.components.stack import MlopsStack

    plan, state = construct("MlopsStack", "churn", YAML_STACK_INPUTS)
    expected = python_plan(lambda: MlopsStack("churn", MlopsStackArgs(
        bucket=DataBucketArgs(force_destroy=True, capture_retention_days=14),
        pipeline=TrainingPipelineArgs(
            target_column="churned", problem_type=ProblemType.CLASSIFICATION,
            metric_threshold=0.85, processing_instance_count=2,
            hyperparameters={"max-depth": "6"},
            tuning=TuningArgs(max_jobs=4, max_parallel_jobs=2, ranges={
                "max-depth": HyperparameterRangeArgs(min_value=2, max_value=8)})),
        endpoint=ModelEndpointArgs(kind=EndpointKind.INSTANCES, instance_count=2,
                                   autoscaling=AutoscalingArgs(min_capacity=2, max_capacity=4)),
        retrain=RetrainTriggerArgs(cooldown_seconds=1800, cooldown_sources=["new-data"]),
        reader_account_ids=["111122223333"], tags={"team": "churn"})))
    assert resources(plan) == resources(expected)
    # the inputs did arrive: they shape what is created
    (training,) = [pipeline for pipeline in plan.of_type("aws:sagemaker/pipeline:Pipeline")
                   if pipeline.name.endswith("-training-pipeline")]  # not the monitor's
    definition = json.loads(training.inputs["pipelineDefinition"])
    tuning = [step for step in definition["Steps"] if step["Type"] == "Tuning"]
    assert tuning and tuning[0]["Arguments"]["HyperParameterTuningJobConfig"][
        "ResourceLimits"] == {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2}
    assert {"bucketName", "pipelineArn", "endpointName", "modelPackageGroupName"} <= set(state)
    assert state["modelPackageGroupName"] == "churn"


def test_the_default_stack_from_no_inputs_matches_the_default_python_stack():
    from mlops_components.components.stack import MlopsStack

    plan, _ = construct("MlopsStack", "churn", {})
    assert resources(plan) == resources(python_plan(lambda: MlopsStack("churn")))


def test_model_registry_alone_from_yaml_inputs():
    from mlops_components.components.model_registry import ModelRegistry

    inputs = {"modelPackageGroupName": "fraud", "readerAccountIds": ["111122223333"],
              "tags": {"team": "risk"}}
    plan, state = construct("ModelRegistry", "fraud-registry", inputs)
    expected = python_plan(lambda: ModelRegistry("fraud-registry", ModelRegistryArgs(
        model_package_group_name="fraud", reader_account_ids=["111122223333"],
        tags={"team": "risk"})))
    assert resources(plan) == resources(expected)
    assert plan.of_type("aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy")
    assert state["modelPackageGroupName"] == "fraud"
    assert "approvalEventPattern" in state


@pytest.mark.parametrize(("inputs", "line"), [
    ({"pipeline": {"metricThreshold": "high"}},
     "MlopsStack 'churn': pipeline.metricThreshold must be a number (got 'high')"),
    ({"endpoint": {"autoscaling": {"maxCapacity": 2.5}}},
     "MlopsStack 'churn': endpoint.autoscaling.maxCapacity must be an integer (got 2.5)"),
    ({"retrainOnDrift": "yes"},
     "MlopsStack 'churn': retrainOnDrift must be true or false (got 'yes')"),
    ({"readerAccountIds": ["12"]},
     "ModelRegistry 'churn-registry': reader_account_ids[0] must be a 12-digit AWS account ID "
     "(got '12')"),
])
def test_a_bad_yaml_input_is_one_line_naming_the_field(inputs, line):
    with pytest.raises(ValidationError) as raised:
        construct("MlopsStack", "churn", inputs)
    assert raised.value.problems == [line]


def test_an_enum_value_that_does_not_exist_is_refused_by_the_host_naming_the_field():
    """Enums are mapped by the host itself (before the component runs)."""
    from pulumi.errors import InputPropertyError

    with pytest.raises(InputPropertyError) as raised:
        construct("MlopsStack", "churn", {"endpoint": {"kind": "gpu"}})
    assert raised.value.property_path == "endpoint.kind"
    assert "gpu" in raised.value.reason and "EndpointKind" in raised.value.reason


def test_nothing_is_created_when_an_input_is_bad():
    from mlops_components.plan import mocked_runtime

    provider = component_provider()
    with mocked_runtime("mlops", "test") as monitor:
        with pytest.raises(Exception, match=r"pipeline\.metricThreshold must be a number"):
            provider.construct("churn", "mlops:index:MlopsStack",
                               {"pipeline": {"metricThreshold": "high"}},
                               pulumi.ResourceOptions())
    assert monitor.recorded == []


# -- the README's YAML program ------------------------------------------------------------


def readme_yaml_program() -> dict[str, Any]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Other Pulumi languages", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block, "the README's 'Other Pulumi languages' section has no yaml block"
    return yaml.safe_load(block.group(1))


def _check_value(where: str, value: Any, prop: dict[str, Any], schema: dict[str, Any]
                 ) -> list[str]:
    if "$ref" in prop:
        definition = schema["types"][prop["$ref"].removeprefix("#/types/")]
        if "enum" in definition:
            allowed = [member["value"] for member in definition["enum"]]
            return [] if value in allowed else [f"{where}: {value!r} not in {allowed}"]
        return _check_object(where, value, definition["properties"], schema)
    kind = prop["type"]
    if kind == "array":
        if not isinstance(value, list):
            return [f"{where}: {value!r} is not a list"]
        return [problem for index, item in enumerate(value)
                for problem in _check_value(f"{where}[{index}]", item, prop["items"], schema)]
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{where}: {value!r} is not a map"]
        return [problem for key, item in value.items() for problem in
                _check_value(f"{where}.{key}", item, prop["additionalProperties"], schema)]
    python = {"string": str, "integer": int, "number": (int, float), "boolean": bool}[kind]
    ok = isinstance(value, python) and (kind == "boolean" or not isinstance(value, bool))
    return [] if ok else [f"{where}: {value!r} is not a {kind}"]


def _check_object(where: str, value: Any, properties: dict[str, Any],
                  schema: dict[str, Any]) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: {value!r} is not an object"]
    problems = []
    for key, item in value.items():
        if key not in properties:
            problems.append(f"{where}.{key}: no such input")
        else:
            problems += _check_value(f"{where}.{key}", item, properties[key], schema)
    return problems


def test_the_readme_yaml_program_uses_only_inputs_the_schema_has(schema):
    program = readme_yaml_program()
    ours = {name: resource for name, resource in program["resources"].items()
            if resource["type"].startswith("mlops:index:")}
    assert any(resource["type"] == "mlops:index:MlopsStack" for resource in ours.values())
    problems = []
    for name, resource in ours.items():
        assert resource["type"] in schema["resources"], resource["type"]
        problems += _check_object(name, resource.get("properties", {}),
                                  schema["resources"][resource["type"]]["inputProperties"],
                                  schema)
    assert problems == []
    for expression in json.dumps(program.get("outputs", {})).split("${")[1:]:
        resource, output = expression.split("}", 1)[0].split(".", 1)
        assert output in schema["resources"][ours[resource]["type"]]["properties"], expression


def test_the_readme_yaml_check_can_fail(schema):
    properties = schema["resources"]["mlops:index:MlopsStack"]["inputProperties"]
    assert _check_object("s", {"pipeline": {"metricThreshold": "high"}, "nope": 1},
                         properties, schema) == [
        "s.pipeline.metricThreshold: 'high' is not a number", "s.nope: no such input"]
    assert _check_object("s", {"endpoint": {"kind": "gpu"}}, properties, schema) == [
        "s.endpoint.kind: 'gpu' not in ['serverless', 'instances']"]


def test_the_readme_yaml_program_constructs_under_the_mocks():
    program = readme_yaml_program()
    for name, resource in program["resources"].items():
        if not resource["type"].startswith("mlops:index:"):
            continue
        inputs = json.loads(json.dumps(resource.get("properties", {})),
                            parse_int=float)  # numbers arrive as floats
        plan, state = construct(resource["type"].rsplit(":", 1)[1], name, inputs)
        assert plan.resources and state


# -- `mlops schema` -----------------------------------------------------------------------


def test_mlops_schema_prints_the_schema_the_host_serves(tmp_path, capsys, schema):
    from mlops_components.cli import main

    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == schema
    written = tmp_path / "mlops.schema.json"
    assert main(["schema", "-o", str(written)]) == 0
    assert json.loads(written.read_text()) == schema
    assert main(["schema", "-o", str(tmp_path)]) == 2
    assert f"--output {tmp_path}: is a folder" in capsys.readouterr().err


# -- the Args reshaped to cross languages -------------------------------------------------


def test_tuning_args_become_the_spec_the_python_api_built_before():
    from mlops_components.components.training_pipeline import DEFAULT_TUNING_RANGES
    from mlops_components.sagemaker.spec import (
        CategoricalRange,
        ContinuousRange,
        IntegerRange,
        ScalingType,
        TuningSpec,
    )

    assert TuningArgs(max_jobs=4, max_parallel_jobs=2).to_spec("random_forest") == TuningSpec(
        max_jobs=4, max_parallel_jobs=2, ranges=DEFAULT_TUNING_RANGES["random_forest"])
    spec = TuningArgs(max_jobs=4, max_parallel_jobs=2, objective_metric="f1", ranges={
        "max-depth": HyperparameterRangeArgs(min_value=2.0, max_value=8.0),
        "learning-rate": HyperparameterRangeArgs(min_value=0.01, max_value=0.3,
                                                 scaling=ScalingType.LOGARITHMIC),
        "estimator": HyperparameterRangeArgs(values=["random_forest", "linear"]),
    }).to_spec("hist_gradient_boosting")
    assert spec.ranges == {"max-depth": IntegerRange(2, 8),
                           "learning-rate": ContinuousRange(0.01, 0.3, ScalingType.LOGARITHMIC),
                           "estimator": CategoricalRange(("random_forest", "linear"))}
    assert spec.objective_metric == "f1"


def test_a_bad_tuning_range_is_named_by_the_pipelines_validation(run_pulumi):
    from mlops_components.components.training_pipeline import TrainingPipeline

    args = TrainingPipelineArgs(
        bucket_name="data-bucket", model_package_group_name="churn",
        tuning=TuningArgs(max_jobs=2, max_parallel_jobs=1, ranges={
            "n-estimators": HyperparameterRangeArgs(min_value=2.5, max_value=9)}))
    with pytest.raises(ValidationError) as raised:
        run_pulumi(lambda: TrainingPipeline("churn-training", args))
    assert [line.split(" (got")[0] for line in raised.value.problems] == [
        "TrainingPipeline 'churn-training': tuning.ranges['n-estimators'] min_value and "
        "max_value must be integers"]


def test_numeric_hyperparameters_given_as_strings_are_read_as_numbers():
    from mlops_components.components.training_pipeline import typed_hyperparameters

    assert typed_hyperparameters({"max-depth": "6", "learning-rate": "0.1",
                                  "class-weight": "none", "n-estimators": "many"}) == {
        "max-depth": 6, "learning-rate": 0.1, "class-weight": "none", "n-estimators": "many"}
