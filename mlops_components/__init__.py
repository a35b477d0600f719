"""mlops-components: Pulumi component resources for the MLOps lifecycle on AWS SageMaker."""

from mlops_components.components.batch_inference import BatchInference, BatchInferenceArgs
from mlops_components.components.data_bucket import DataBucket, DataBucketArgs
from mlops_components.components.model_endpoint import (
    AutoscalingArgs,
    CaptureMethod,
    DeploymentStrategy,
    EndpointKind,
    ModelEndpoint,
    ModelEndpointArgs,
)
from mlops_components.components.model_monitor import ModelMonitor, ModelMonitorArgs
from mlops_components.components.model_registry import ModelRegistry, ModelRegistryArgs
from mlops_components.components.retrain_trigger import RetrainTrigger, RetrainTriggerArgs
from mlops_components.components.stack import MlopsStack, MlopsStackArgs
from mlops_components.components.training_pipeline import TrainingPipeline, TrainingPipelineArgs
from mlops_components.config import StackConfig, config_from_pulumi, parse_config
from mlops_components.enums import ApprovalStatus, MonitorEngine, ProblemType, RetrainSource
from mlops_components.validation import ValidationError

__all__ = [
    "ApprovalStatus",
    "AutoscalingArgs",
    "BatchInference",
    "BatchInferenceArgs",
    "CaptureMethod",
    "DataBucket",
    "DataBucketArgs",
    "DeploymentStrategy",
    "EndpointKind",
    "MlopsStack",
    "MlopsStackArgs",
    "ModelMonitor",
    "ModelMonitorArgs",
    "MonitorEngine",
    "ModelEndpoint",
    "ModelEndpointArgs",
    "ModelRegistry",
    "ModelRegistryArgs",
    "ProblemType",
    "RetrainSource",
    "RetrainTrigger",
    "RetrainTriggerArgs",
    "StackConfig",
    "TrainingPipeline",
    "TrainingPipelineArgs",
    "ValidationError",
    "config_from_pulumi",
    "parse_config",
]
