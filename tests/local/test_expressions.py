"""Pipeline expressions (Get, Std:Join, Std:JsonGet) resolved as the service resolves them."""

from __future__ import annotations

import pytest

from mlops_components.sagemaker.definition import (
    ExpressionError,
    Resolver,
    parse_path,
    references,
)

# Properties in the shape DescribeProcessingJob / DescribeTrainingJob return them.
PREPROCESS = {
    "ProcessingJobStatus": "Completed",
    "ProcessingOutputConfig": {"Outputs": [
        {"OutputName": "validation", "S3Output": {"S3Uri": "s3://b/processed/validation"}},
        {"OutputName": "train", "S3Output": {"S3Uri": "s3://b/processed/train"}},
    ]},
}
TRAIN = {
    "ModelArtifacts": {"S3ModelArtifacts": "s3://b/models/Train/output/model.tar.gz"},
    "FinalMetricDataList": [{"MetricName": "validation:f1", "Value": 0.7},
                            {"MetricName": "validation:accuracy", "Value": 0.9}],
    "InputDataConfig": [{"ChannelName": "train"}, {"ChannelName": "code"}],
}
EVALUATION = {"classification_metrics": {"accuracy": {"value": 0.93}},
              "per_class": [{"value": 0.1}, {"value": 0.2}]}


@pytest.fixture
def property_file_reads():
    return []


@pytest.fixture
def resolver(property_file_reads):
    def read_property_file(step, name):
        property_file_reads.append((step, name))
        if (step, name) != ("Evaluate", "EvaluationReport"):
            raise ExpressionError(f"step {step} declares no property file {name!r}")
        return EVALUATION

    return Resolver(
        parameters={"MetricThreshold": 0.8, "InputDataUri": "s3://b/raw/", "Count": 2},
        execution={"PipelineExecutionId": "exec-1"},
        step_properties={"Preprocess": PREPROCESS, "Train": TRAIN, "Evaluate": {}},
        read_property_file=read_property_file)


@pytest.mark.parametrize(("path", "tokens"), [
    ("ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri",
     ["ProcessingOutputConfig", "Outputs", "train", "S3Output", "S3Uri"]),
    ('Outputs["with.dot"].S3Uri', ["Outputs", "with.dot", "S3Uri"]),
    ("TrainingJobSummaries[12].TrainingJobName", ["TrainingJobSummaries", 12, "TrainingJobName"]),
    ("a[0][1].b", ["a", 0, 1, "b"]),
    ("FinalMetricDataList['validation:accuracy'].Value",
     ["FinalMetricDataList", "validation:accuracy", "Value"]),
    ("Outputs[''].x", ["Outputs", "", "x"]),
])
def test_parse_path_splits_names_quoted_keys_and_indexes(path, tokens):
    assert parse_path(path) == tokens


@pytest.mark.parametrize("path", ["a[x]", "a['unclosed", "a[1"])
def test_parse_path_refuses_what_it_cannot_read_and_names_the_path(path):
    with pytest.raises(ExpressionError, match="cannot parse property path"):
        parse_path(path)


def test_parameters_and_execution_variables_resolve(resolver):
    assert resolver.resolve({"Get": "Parameters.MetricThreshold"}) == 0.8
    assert resolver.resolve({"Get": "Execution.PipelineExecutionId"}) == "exec-1"


def test_step_properties_pick_list_items_by_their_name(resolver):
    assert resolver.resolve({
        "Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"}) \
        == "s3://b/processed/train"
    assert resolver.resolve({"Get": "Steps.Train.FinalMetricDataList['validation:accuracy']"
                                    ".Value"}) == 0.9
    assert resolver.resolve({"Get": "Steps.Train.InputDataConfig['code']"}) == \
        {"ChannelName": "code"}
    assert resolver.resolve({"Get": "Steps.Train.FinalMetricDataList[0].Value"}) == 0.7


def test_resolve_walks_nested_arguments_and_leaves_literals_alone(resolver):
    arguments = {"Outer": [{"Uri": {"Get": "Parameters.InputDataUri"}}, 3, None],
                 "Flag": True}
    assert resolver.resolve(arguments) == {"Outer": [{"Uri": "s3://b/raw/"}, 3, None],
                                           "Flag": True}


def test_join_resolves_its_values_and_renders_them_as_the_service_does(resolver):
    joined = resolver.resolve({"Std:Join": {"On": "/", "Values": [
        {"Get": "Parameters.InputDataUri"}, {"Get": "Execution.PipelineExecutionId"},
        {"Get": "Parameters.Count"}, True, {"Std:Join": {"On": "-", "Values": ["a", "b"]}}]}})
    assert joined == "s3://b/raw//exec-1/2/true/a-b"


def test_json_get_reads_the_named_property_file_of_the_named_step(resolver, property_file_reads):
    value = resolver.resolve({"Std:JsonGet": {
        "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
        "Path": "classification_metrics.accuracy.value"}})
    assert value == 0.93
    assert property_file_reads == [("Evaluate", "EvaluationReport")]
    assert resolver.resolve({"Std:JsonGet": {
        "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
        "Path": "per_class[1].value"}}) == 0.2


def test_json_get_on_a_missing_key_names_the_path(resolver):
    with pytest.raises(ExpressionError, match=r"JsonGet classification_metrics\.f1\.value"):
        resolver.resolve({"Std:JsonGet": {
            "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
            "Path": "classification_metrics.f1.value"}})


@pytest.mark.parametrize(("reference", "message"), [
    ("Parameters.Threshold", "unknown pipeline parameter 'Threshold'"),
    ("Execution.StartTime", "unknown execution variable 'StartTime'"),
    ("Steps.Tune.BestTrainingJob", "step 'Tune' has not run"),
    ("Steps.Preprocess.ProcessingOutputConfig.Outputs['test'].S3Output",
     "no item named 'test'"),
    ("Steps.Train.ModelArtifacts.S3Uri", "no property 'S3Uri'"),
    ("Steps.Train.FinalMetricDataList[5]", "no property 5"),
    ("Pipeline.Name", "unsupported reference 'Pipeline.Name'"),
])
def test_unresolvable_references_raise_expression_error_naming_them(resolver, reference,
                                                                    message):
    with pytest.raises(ExpressionError) as raised:
        resolver.resolve({"Get": reference})
    assert message in str(raised.value)
    # The executor turns ValueErrors into a failed step; an ExpressionError must be one.
    assert isinstance(raised.value, ValueError)


def test_references_name_every_step_an_argument_tree_reads():
    arguments = {
        "A": {"Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"},
        "B": [{"Std:Join": {"On": "/", "Values": [
            {"Get": "Steps.Tune.TrainingJobSummaries[0].TrainingJobName"},
            {"Get": "Parameters.Steps"}]}}],
        "C": {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.Report"},
                              "Path": "x"}},
        "D": "Steps.NotAReference.Because.It.Is.A.String",
    }
    assert references(arguments) == {"Preprocess", "Tune", "Evaluate"}
