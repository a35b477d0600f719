"""The Register step's training-data fingerprint against botocore's CustomerMetadataMap shape
(patterns with Unicode classes, hence the `regex` module; the image's Python runs none of this)."""

from __future__ import annotations

import json

import botocore.session
import regex

from mlops_components.sagemaker.spec import TRAINING_DATA_METADATA
from training.lineage import fingerprint_files, recorded_digest, short_digest


def test_the_recorded_digest_is_a_valid_customer_metadata_value(tmp_path):
    """What the Register step sends: botocore's CustomerMetadataMap value constraints."""
    shape = botocore.session.get_session().get_service_model("sagemaker").shape_for(
        "CustomerMetadataMap")
    pattern = regex.compile(shape.value.metadata["pattern"])
    key_pattern = regex.compile(shape.key.metadata["pattern"])
    path = tmp_path / "a.csv"
    path.write_text("x\n1\n")
    values = [recorded_digest(fingerprint_files([path])),
              recorded_digest(fingerprint_files([path], complete=False)), recorded_digest(None)]
    for value in values:
        assert 1 <= len(value) <= shape.value.metadata["max"]
        assert pattern.fullmatch(value), value
    assert key_pattern.fullmatch(TRAINING_DATA_METADATA)
    assert values[2] == "unknown"
    assert short_digest(values[0]) == values[0].removeprefix("sha256:")[:12]
    assert short_digest(values[1]).startswith("partial:")


def _step(definition: dict, name: str) -> dict:
    from mlops_components.sagemaker.definition import iter_steps

    (step,) = [s for s in iter_steps(definition) if s["Name"] == name]
    return step


def test_register_names_the_manifest_record_lineage_writes_at_the_start(definitions):
    """RecordLineage runs first (nothing waits on it but Register), is given the execution's
    InputDataUri and a manifest location under its models prefix, and Register records the
    location it answers with (a manifest URI fits CustomerMetadataProperties' 256 characters;
    the object list does not)."""
    from mlops_components.functions import lineage_record
    from mlops_components.sagemaker.spec import LINEAGE_METADATA, StepName

    definition = definitions["classification"]
    lineage = _step(definition, StepName.RECORD_LINEAGE.value)
    assert definition["Steps"][0] is lineage and not lineage.get("DependsOn")
    arguments = lineage["Arguments"]
    assert arguments["input_uri"] == {"Get": "Parameters.InputDataUri"}
    assert arguments["execution_arn"] == {"Get": "Execution.PipelineExecutionArn"}
    assert arguments["manifest_uri"]["Std:Join"]["Values"][-2:] == ["lineage", "lineage.json"]
    register = _step(definition, StepName.REGISTER.value)
    assert register["Arguments"]["CustomerMetadataProperties"][LINEAGE_METADATA] == {
        "Get": f"Steps.{StepName.RECORD_LINEAGE.value}.OutputParameters"
               f"['{lineage_record.MANIFEST_OUTPUT}']"}
    key_pattern = regex.compile(botocore.session.get_session().get_service_model(
        "sagemaker").shape_for("CustomerMetadataMap").key.metadata["pattern"])
    assert key_pattern.fullmatch(LINEAGE_METADATA)


def test_without_a_lineage_function_there_is_no_step_and_no_key(build):
    from mlops_components.sagemaker.spec import LINEAGE_METADATA, StepName

    definition = build(lineage_function_arn=None)

    assert StepName.RECORD_LINEAGE.value not in json.dumps(definition)
    assert LINEAGE_METADATA not in _step(definition, StepName.REGISTER.value)["Arguments"][
        "CustomerMetadataProperties"]
