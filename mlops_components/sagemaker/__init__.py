"""The SageMaker side, with no Pulumi: the pipeline spec, its rules, the builder and its cache.

``spec`` and ``validate`` import neither the SageMaker SDK nor boto3; ``builder`` imports the
SDK only inside :func:`~mlops_components.sagemaker.offline_sdk.offline_sdk`; ``definition``
parses what a built definition says (expressions, step graph) for the local runtime and the
tests; ``packages`` reads model packages from either registry.
"""

from mlops_components.sagemaker.spec import (
    CategoricalRange,
    ContinuousRange,
    HyperparameterRange,
    IntegerRange,
    PipelineParameter,
    PipelineSpec,
    ScalingType,
    StepName,
    TuningSpec,
    TuningStrategy,
)
from mlops_components.sagemaker.validate import validate_pipeline_spec

__all__ = [
    "CategoricalRange",
    "ContinuousRange",
    "HyperparameterRange",
    "IntegerRange",
    "PipelineParameter",
    "PipelineSpec",
    "ScalingType",
    "StepName",
    "TuningSpec",
    "TuningStrategy",
    "validate_pipeline_spec",
]
