"""The definition is built with no network, leaves the process as it found it, and is a
pure function of the spec."""

from __future__ import annotations

import json
import logging
import os

import boto3
import pytest

from mlops_components.sagemaker.builder import build_pipeline_definition
from tests.pipeline.conftest import CODE_URI, VARIANTS, make_spec
from tests.pipeline.definition_checks import forbid_network


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_build_makes_no_network_call(variant, built):
    # GIVEN the network forbidden (and the SDK already imported under the same guard)
    with forbid_network() as log:
        # WHEN a definition is built
        text = build_pipeline_definition(make_spec(**VARIANTS[variant]))
    # THEN no connection, DNS lookup or telemetry thread was even attempted
    assert log.attempts == []
    assert "sagemaker-telemetry" not in log.threads
    assert text == built[variant]


def test_build_leaves_environment_logging_and_boto3_as_they_were(built):
    environment = dict(os.environ)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    default_session = boto3.DEFAULT_SESSION

    build_pipeline_definition(make_spec())

    assert dict(os.environ) == environment
    assert (list(root.handlers), root.level) == (handlers, level)
    assert boto3.DEFAULT_SESSION is default_session
    assert logging.getLogger("sagemaker").propagate is True


def test_build_ignores_the_callers_aws_and_sdk_configuration(built, tmp_path, monkeypatch):
    # GIVEN a caller whose AWS setup would need the network or fail: a missing profile, a
    # credential process, a container credential endpoint, SDK defaults in S3 that would
    # inject a KMS key, and a different region
    aws_config = tmp_path / "config"
    aws_config.write_text("[default]\ncredential_process = /bin/false\nregion = us-east-1\n")
    sdk_defaults = tmp_path / "sagemaker.yaml"
    sdk_defaults.write_text("SchemaVersion: '1.0'\nSageMaker:\n  ProcessingJob:\n"
                            "    ProcessingOutputConfig:\n      KmsKeyId: alias/injected\n")
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws_config))
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.2/creds")
    monkeypatch.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(sdk_defaults))
    monkeypatch.setenv("SAGEMAKER_ADMIN_CONFIG_OVERRIDE", "s3://someone-elses-bucket/config")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    environment = dict(os.environ)

    # WHEN the definition is built with the network forbidden
    with forbid_network() as log:
        text = build_pipeline_definition(make_spec())

    # THEN it is the same definition as anywhere else, and the caller's setup is back
    assert log.attempts == []
    assert text == built["classification"]
    assert "alias/injected" not in text
    assert dict(os.environ) == environment


def test_same_spec_gives_byte_identical_json(built):
    assert build_pipeline_definition(make_spec()) == built["classification"]
    assert build_pipeline_definition(make_spec(**VARIANTS["hardened-tuning"])) == \
        built["hardened-tuning"]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_definition_json_is_canonical(variant, built):
    text = built[variant]
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


def test_code_uri_change_changes_the_definition(built):
    new_code_uri = CODE_URI.replace("0f1e2d3c4b5a", "a5b4c3d2e1f0")
    text = build_pipeline_definition(make_spec(code_uri=new_code_uri))
    assert text != built["classification"]
    assert CODE_URI not in text
    assert text.count(new_code_uri) == built["classification"].count(CODE_URI)


def test_pipeline_name_changes_only_names_and_prefixes(built):
    text = build_pipeline_definition(make_spec(pipeline_name="other-training"))
    assert text == built["classification"].replace("diagnosis-training", "other-training")
