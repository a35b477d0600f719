"""The component package: every component, served to every Pulumi language.

``provider/`` (PulumiPlugin.yaml + ``__main__.py``) hosts these components with Pulumi's
component provider host, which infers the package schema from their annotations (see
:mod:`mlops_components.components.inputs`). :func:`package_schema` builds that schema
exactly as the host does (the same ``ComponentProvider``), offline: no Pulumi CLI, no engine.
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import pulumi
from pulumi.provider.experimental.component import ComponentProvider

from mlops_components.components.batch_inference import BatchInference
from mlops_components.components.data_bucket import DataBucket
from mlops_components.components.model_endpoint import ModelEndpoint
from mlops_components.components.model_monitor import ModelMonitor
from mlops_components.components.model_registry import ModelRegistry
from mlops_components.components.retrain_trigger import RetrainTrigger
from mlops_components.components.stack import MlopsStack
from mlops_components.components.training_pipeline import TrainingPipeline

PACKAGE_NAME = "mlops"
"""The package's name: the first part of every type token (``mlops:index:MlopsStack``)."""

DISTRIBUTION = "mlops-components"
"""The Python distribution the provider runs from (its version is the package's)."""

COMPONENTS: tuple[type[pulumi.ComponentResource], ...] = (
    MlopsStack, DataBucket, ModelRegistry, TrainingPipeline, ModelEndpoint, ModelMonitor,
    RetrainTrigger, BatchInference)
"""What the package serves: the whole stack and each of its parts alone."""


def package_version() -> str:
    """The installed distribution's version (0.0.0 from a source tree that is not installed,
    the host's own default)."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "0.0.0"


def component_provider() -> ComponentProvider:
    """The provider ``component_provider_host`` serves (the schema is inferred on creation)."""
    return ComponentProvider(list(COMPONENTS), PACKAGE_NAME, None, package_version())


def package_schema() -> dict[str, Any]:
    """The package schema ``pulumi package get-schema`` would print."""
    return json.loads(component_provider().schema or "{}")
