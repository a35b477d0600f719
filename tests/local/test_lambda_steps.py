"""The local executor's Lambda steps: the caller's stand-in runs, its outputs are the step's
properties, and a result without a declared output fails the step as SageMaker does."""

from __future__ import annotations

from mlops_components.local.executor import LocalPipelineExecutor

ARN = "arn:aws:lambda:us-east-1:123456789012:function:f"


def definition(outputs: list[str]) -> dict:
    return {"Version": "2020-12-01", "Parameters": [{"Name": "X", "Type": "String",
                                                     "DefaultValue": "x"}],
            "Steps": [
                {"Name": "Ask", "Type": "Lambda", "FunctionArn": ARN,
                 "Arguments": {"value": {"Get": "Parameters.X"}},
                 "OutputParameters": [{"OutputName": name, "OutputType": "String"}
                                      for name in outputs]},
                {"Name": "Check", "Type": "Condition", "Arguments": {
                    "Conditions": [{"Type": "Equals", "RightValue": "x",
                                    "LeftValue": {"Get": "Steps.Ask.OutputParameters['Echo']"}}],
                    "IfSteps": [], "ElseSteps": [
                        {"Name": "No", "Type": "Fail", "Arguments": {"ErrorMessage": "no"}}]}}]}


def test_a_lambda_step_runs_its_stand_in_and_exposes_its_outputs(tmp_path):
    seen = []

    def echo(inputs):
        seen.append(inputs)
        return {"Echo": inputs["value"], "Extra": "ignored"}

    executor = LocalPipelineExecutor(definition(["Echo"]), tmp_path, functions={ARN: echo})
    result = executor.run()
    assert result.status == "Succeeded" and seen == [{"value": "x"}]
    assert result.step("Ask").properties == {"OutputParameters": {"Echo": "x"}}


def test_a_missing_output_or_function_fails_the_step(tmp_path):
    missing = LocalPipelineExecutor(definition(["Echo", "Other"]), tmp_path,
                                    functions={ARN: lambda inputs: {"Echo": "x"}}).run()
    assert missing.status == "Failed" and "lacks output(s) Other" in missing.failure_reason
    unknown = LocalPipelineExecutor(definition(["Echo"]), tmp_path).run()
    assert unknown.status == "Failed" and "no local stand-in" in unknown.failure_reason
