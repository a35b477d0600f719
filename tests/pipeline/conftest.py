"""Specs and built definitions shared by the pipeline-definition tests.

Every definition is built with the network forbidden, and the first build of the session
(which imports the SageMaker SDK) is among them: the import itself must not need AWS.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

from mlops_components.enums import ProblemType
from mlops_components.sagemaker.builder import build_pipeline_definition
from mlops_components.sagemaker.spec import (
    CategoricalRange,
    ContinuousRange,
    IntegerRange,
    PipelineSpec,
    ScalingType,
    TuningSpec,
)
from tests.pipeline.definition_checks import forbid_network

ACCOUNT = "123456789012"
BUCKET = "mlops-data-123456789012"
CODE_URI = f"s3://{BUCKET}/code/0f1e2d3c4b5a"

BASE_SPEC = PipelineSpec(
    pipeline_name="diagnosis-training",
    role_arn=f"arn:aws:iam::{ACCOUNT}:role/diagnosis-pipeline",
    bucket=BUCKET,
    region="eu-west-1",
    code_uri=CODE_URI,
    model_package_group_name="diagnosis",
    target_column="target",
    problem_type=ProblemType.CLASSIFICATION,
    input_data_uri=f"s3://{BUCKET}/raw/",
    metric_threshold=0.8,
    lineage_function_arn=f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:diagnosis-lineage",
)

TUNING = TuningSpec(
    max_jobs=6,
    max_parallel_jobs=2,
    ranges={
        "max-depth": IntegerRange(2, 8),
        "learning-rate": ContinuousRange(0.01, 0.3, ScalingType.LOGARITHMIC),
        "estimator": CategoricalRange(("gradient_boosting", "hist_gradient_boosting")),
    },
)

#: Spec variants every structural check runs on: name -> overrides of BASE_SPEC.
VARIANTS: dict[str, dict[str, Any]] = {
    "classification": {},
    "regression": {"problem_type": ProblemType.REGRESSION, "gate_metric": "rmse",
                   "metric_threshold": 25.0,
                   "target_column": "price"},
    "tuning": {"tuning": TUNING},
    "regression-tuning": {"problem_type": ProblemType.REGRESSION, "metric_threshold": 0.5,
                          "gate_metric": "r2",
                          "tuning": dataclasses.replace(TUNING, objective_metric="rmse")},
    "hardened": {"use_spot": True,
                 "kms_key_id": f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/"
                               "0a1b2c3d-4e5f-6789-abcd-ef0123456789",
                 "subnets": ("subnet-0123456789abcdef0", "subnet-0fedcba9876543210"),
                 "security_group_ids": ("sg-0123456789abcdef0",)},
    "hardened-tuning": {"use_spot": True, "kms_key_id": "alias/mlops", "tuning": TUNING,
                        "subnets": ("subnet-0123456789abcdef0",),
                        "security_group_ids": ("sg-0123456789abcdef0",)},
    "network-enabled": {"enable_network_isolation": False},
}


def make_spec(**overrides: Any) -> PipelineSpec:
    return dataclasses.replace(BASE_SPEC, **overrides)


@pytest.fixture(scope="session")
def built() -> dict[str, str]:
    """variant -> definition JSON text, all built with the network forbidden."""
    with forbid_network() as log:
        definitions = {name: build_pipeline_definition(make_spec(**overrides))
                       for name, overrides in VARIANTS.items()}
    assert log.attempts == []
    assert "sagemaker-telemetry" not in log.threads
    return definitions


@pytest.fixture(scope="session")
def definitions(built: dict[str, str]) -> dict[str, dict[str, Any]]:
    """variant -> parsed definition."""
    return {name: json.loads(text) for name, text in built.items()}


@pytest.fixture
def build() -> Callable[..., dict[str, Any]]:
    """Build and parse the definition of BASE_SPEC with overrides, network forbidden."""
    def run(**overrides: Any) -> dict[str, Any]:
        with forbid_network() as log:
            text = build_pipeline_definition(make_spec(**overrides))
        assert log.attempts == []
        return json.loads(text)
    return run
