"""The definition against the service: API shapes, AWS's schema, references and the graph.

The second half tests the checkers themselves on broken definitions, since other test
suites reuse them: a checker that cannot fail proves nothing.
"""

from __future__ import annotations

import copy
import json

import pytest

from mlops_components.components.training_pipeline import DEFAULT_TUNING_RANGES
from mlops_components.sagemaker.definition import (
    iter_steps,
    step_graph,
    steps_by_name,
    topological_order,
)
from mlops_components.sagemaker.spec import StepName, TuningSpec
from tests.pipeline.conftest import VARIANTS
from tests.pipeline.definition_checks import (
    SCHEMA_EXCLUSIONS,
    apply_schema_exclusions,
    check_step_arguments,
    reference_problems,
    schema_problems,
)
from training import contract

VARIANT_NAMES = sorted(VARIANTS)


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_step_arguments_validate_against_the_service_model(variant, definitions):
    assert check_step_arguments(definitions[variant]) == []


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_definition_validates_against_the_published_schema(variant, definitions):
    assert schema_problems(definitions[variant]) == []


def test_every_schema_exclusion_applies_to_some_definition(definitions):
    applied = set()
    for definition in definitions.values():
        applied |= apply_schema_exclusions(definition)[1]
    declared = {(pattern, field) for pattern, field, _ in SCHEMA_EXCLUSIONS}
    assert declared - applied == set(), "exclusions no definition needs: drop them"


@pytest.mark.parametrize("exclusion", SCHEMA_EXCLUSIONS, ids=lambda rule: rule[1])
def test_every_schema_exclusion_is_a_field_the_schema_rejects(exclusion, definitions):
    others = tuple(rule for rule in SCHEMA_EXCLUSIONS if rule != exclusion)
    rejected = [problem for definition in definitions.values()
                for problem in schema_problems(definition, others)]
    assert any(exclusion[1] in problem for problem in rejected)


@pytest.mark.parametrize("estimator", contract.ESTIMATORS)
def test_default_tuning_searches_what_each_estimator_uses(build, estimator):
    ranges = DEFAULT_TUNING_RANGES[estimator]
    definition = build(estimator=estimator,
                       tuning=TuningSpec(max_jobs=4, max_parallel_jobs=2, ranges=ranges))
    job = steps_by_name(definition)[StepName.TUNE.value]["Arguments"]
    searched = {item["Name"]: item for kind in job["HyperParameterTuningJobConfig"][
        "ParameterRanges"].values() for item in kind}
    assert set(searched) == set(contract.ESTIMATOR_HYPERPARAMETERS[estimator])
    static = job["TrainingJobDefinition"]["StaticHyperParameters"]
    assert set(static) & set(contract.ESTIMATOR_HYPERPARAMETER_NAMES) <= set(searched)


def test_default_tuning_ranges_differ_between_estimators():
    assert len({repr(sorted(ranges.items())) for ranges in DEFAULT_TUNING_RANGES.values()}) \
        == len(contract.ESTIMATORS)


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_every_reference_names_something_that_exists(variant, definitions):
    assert reference_problems(definitions[variant]) == []


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_steps_run_profile_preprocess_model_evaluate_gate_then_register_or_fail(
        variant, definitions):
    definition = definitions[variant]
    graph = step_graph(definition)
    model_step = StepName.TUNE if "tuning" in variant else StepName.TRAIN
    other_model_step = StepName.TRAIN if model_step == StepName.TUNE else StepName.TUNE

    order = topological_order(graph)  # raises on a cycle

    assert set(order) == {step.value for step in StepName} - {other_model_step.value}
    chain = [StepName.PROFILE, StepName.PREPROCESS, model_step, StepName.EVALUATE,
             StepName.QUALITY_GATE]
    for upstream, downstream in zip(chain, chain[1:], strict=False):
        assert downstream.value in graph[upstream.value], f"{upstream} -> {downstream}"
    assert graph[StepName.QUALITY_GATE.value] == {StepName.NEW_DATA_CHECK.value,
                                                  StepName.QUALITY_GATE_FAILED.value}
    assert graph[StepName.NEW_DATA_CHECK.value] == {StepName.REGISTER.value}
    top_level = [step["Name"] for step in definition["Steps"]]
    assert StepName.REGISTER.value not in top_level  # only reachable through the gate
    assert StepName.QUALITY_GATE_FAILED.value not in top_level
    assert StepName.NEW_DATA_CHECK.value not in top_level


def test_step_names_are_unique(definitions):
    for definition in definitions.values():
        names = [step["Name"] for step in iter_steps(definition)]
        assert len(names) == len(set(names))


# ---- the checkers catch what they claim to catch ------------------------------------


def _step(definition, name):
    return steps_by_name(definition)[name]


def test_argument_check_catches_unknown_fields_wrong_types_and_bad_literals(definitions):
    broken = copy.deepcopy(definitions["classification"])
    profile = _step(broken, "Profile")["Arguments"]
    profile["ProcessingResources"]["ClusterConfig"]["VolumeSizeInGB"] = "30"
    profile["ProcessingInputs"][1]["S3Input"]["S3DataDistributionType"] = "Sharded"
    profile["NotAnArgument"] = True
    del _step(broken, "Train")["Arguments"]["RoleArn"]

    problems = "\n".join(check_step_arguments(broken))

    assert "VolumeSizeInGB" in problems
    assert "'Sharded' is not one of" in problems
    assert "NotAnArgument" in problems
    assert "RoleArn" in problems


def test_argument_check_catches_expressions_of_the_wrong_type(definitions):
    broken = copy.deepcopy(definitions["classification"])
    cluster = _step(broken, "Preprocess")["Arguments"]["ProcessingResources"]["ClusterConfig"]
    cluster["InstanceCount"] = {"Get": "Parameters.ProcessingInstanceType"}
    _step(broken, "Train")["Arguments"]["ResourceConfig"] = {"Get": "Parameters.InputDataUri"}

    problems = "\n".join(check_step_arguments(broken))

    assert "parameter ProcessingInstanceType is String, the API wants integer" in problems
    assert "where a structure is required" in problems


def test_reference_check_catches_missing_steps_outputs_parameters_and_files(definitions):
    broken = json.loads(json.dumps(definitions["classification"])
                        .replace("Outputs['test']", "Outputs['testing']")
                        .replace("Parameters.MetricThreshold", "Parameters.Threshold")
                        .replace("Steps.Train.ModelArtifacts", "Steps.Training.ModelArtifacts")
                        .replace("PropertyFiles.EvaluationReport", "PropertyFiles.Report"))
    _step(broken, "Preprocess")["DependsOn"] = ["Profiling"]

    problems = "\n".join(reference_problems(broken))

    assert "no item named 'testing'" in problems
    assert "Parameters.Threshold is not a declared parameter" in problems
    assert "names no step 'Training'" in problems
    assert "declares property files ['EvaluationReport']" in problems
    assert "DependsOn names no step: 'Profiling'" in problems


def test_reference_check_catches_paths_the_describe_response_lacks(definitions):
    broken = json.loads(json.dumps(definitions["classification"]).replace(
        "Steps.Train.ModelArtifacts.S3ModelArtifacts", "Steps.Train.ModelArtifacts.S3Uri"))
    assert "has no member 'S3Uri'" in "\n".join(reference_problems(broken))


def test_graph_check_catches_a_cycle(definitions):
    broken = copy.deepcopy(definitions["classification"])
    _step(broken, "Profile")["DependsOn"] = ["Evaluate"]
    with pytest.raises(ValueError, match="cycle among steps"):
        topological_order(step_graph(broken))


def test_schema_check_is_live(definitions):
    broken = copy.deepcopy(definitions["classification"])
    processing = next(step for step in broken["Steps"] if step["Type"] == "Processing")
    processing["Arguments"]["ProcessingResources"]["ClusterConfig"]["Extra"] = 1
    broken["Unknown"] = True
    problems = "\n".join(schema_problems(broken))
    assert "'Extra' was unexpected" in problems
    assert "'Unknown' was unexpected" in problems
