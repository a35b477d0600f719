"""Lambda: deploy an approved model package to the endpoint (continuous deployment).

Triggered by the EventBridge rule of the model registry (``source aws.sagemaker``,
``detail-type "SageMaker Model Package State Change"``). Only ``Approved`` packages of the
configured group deploy. SageMaker may deliver an event several times and out of order, so every
step is idempotent: the model and endpoint config names are derived from the package version and
a hash of the deployment settings, an event whose config is already live (or being rolled out)
does nothing, and an older version approved while a newer one is live does nothing unless
ALLOW_ROLLBACK_TO_OLDER. "Nothing to do" outcomes return a reason; failures raise, so
Lambda's asynchronous invocation retries the event and finally sends it to the dead-letter
queue (EventBridge's own retry policy and DLQ cover events it cannot deliver to the function).

Two more kinds of event reach the same function (one role, one place that knows the endpoint):

* ``SageMaker Endpoint State Change`` to InService, for instance endpoints with autoscaling:
  the scalable target and its target-tracking policy are registered then (Application Auto
  Scaling refuses a variant that does not exist yet, and no endpoint exists before the first
  approval). Both calls are upserts, so every InService event may repeat them.
* The ``pulumi destroy`` hook: an ``aws.lambda_.Invocation`` with lifecycle scope CRUD sends
  its input with a ``tf.action`` key; ``delete`` removes the endpoint, its scalable target and
  every model and endpoint config the deployer made (:func:`delete_endpoint_and_configs`).

One Lambda package, loaded as ``deployer`` (handler ``deployer.handler``):

    config              the settings (the Lambda's environment) and the names it shares
    events              the handler: routing one event, reconciling an approval, autoscaling
    sagemaker_requests  the CreateModel / CreateEndpointConfig / UpdateEndpoint requests
    baseline            copying the deployed package's drift baseline for the monitor
    cleanup             deleting the endpoint and what the deployer made, on destroy
    calls               clients, missing resources, tags and scalable targets

Its modules import each other relatively, so the package runs both as
``mlops_components.functions.deployer`` and as the Lambda's top-level ``deployer``. boto3 +
standard library only; imports nothing of mlops_components or training.
"""

from __future__ import annotations

import logging

from .baseline import baseline_uris, copy_baseline
from .calls import DeploymentError, scalable_resource_id
from .cleanup import delete_endpoint_and_configs
from .config import (
    CAPTURE_METHODS,
    CLEANUP_MARKER,
    ENDPOINT_EVENT_DETAIL_TYPE,
    EVENT_DETAIL_TYPE,
    EVENT_SOURCE,
    IN_SERVICE_EVENT_STATUSES,
    KINDS,
    LIFECYCLE_KEY,
    STRATEGIES,
    VARIANT_NAME,
    Config,
    ConfigError,
)
from .events import Outcome, deploy, ensure_autoscaling, handle, handler
from .sagemaker_requests import (
    config_hash,
    deployment_config,
    endpoint_config_request,
    model_request,
    resource_name,
)

logging.getLogger(__name__).setLevel(logging.INFO)

__all__ = [
    "CAPTURE_METHODS", "CLEANUP_MARKER", "ENDPOINT_EVENT_DETAIL_TYPE", "EVENT_DETAIL_TYPE",
    "EVENT_SOURCE", "IN_SERVICE_EVENT_STATUSES", "KINDS", "LIFECYCLE_KEY", "STRATEGIES",
    "VARIANT_NAME", "Config", "ConfigError", "DeploymentError", "Outcome", "baseline_uris",
    "config_hash", "copy_baseline", "delete_endpoint_and_configs", "deploy",
    "deployment_config", "endpoint_config_request", "ensure_autoscaling", "handle", "handler",
    "model_request", "resource_name", "scalable_resource_id",
]
