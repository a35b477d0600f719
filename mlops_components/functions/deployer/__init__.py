"""Lambda: deploy an approved model package to the endpoint (continuous deployment).

Triggered by the EventBridge rule of the model registry (``source aws.sagemaker``,
``detail-type "SageMaker Model Package State Change"``, Approved and Completed packages of
the configured group) and by this endpoint's state changes to InService or Failed. Every such
event reconciles: the endpoint is made to serve the newest approved package of the group.
SageMaker may deliver an event several times and out of order, so every step is idempotent:
the model and endpoint config names are derived from the package version and a hash of the
deployment settings, a config already live does nothing, a config that failed or rolled back
is never deployed again, and an older version never replaces a newer live one unless
ALLOW_ROLLBACK_TO_OLDER. A busy endpoint (a canary may take 15 minutes) is left alone: the
state change that ends the deployment reconciles. Errors raise, so Lambda's asynchronous
invocation retries the event (twice) and then sends it to the dead-letter queue.

What the endpoint serves is recorded only when it is InService with that config (the live
tags and the monitor's baseline, :mod:`serving`); a rolled-back or failed deployment is
counted in the ``mlops/Deployer FailedDeployments`` metric (the component alarms on it), and
a Failed endpoint is deleted and recreated by the next reconcile.

Two more things happen on the same events (one role, one place that knows the endpoint):

* InService, for instance endpoints with autoscaling: the scalable target and its
  target-tracking policy are registered (Application Auto Scaling refuses a variant that
  does not exist yet). Both calls are upserts, so every InService event may repeat them.
* The ``pulumi destroy`` hook: an ``aws.lambda_.Invocation`` with lifecycle scope CRUD sends
  its input with a ``tf.action`` key; ``delete`` removes the endpoint, its scalable target and
  every model and endpoint config the deployer made (:func:`delete_endpoint_and_configs`),
  waiting until the endpoint is gone, and keeps, deletes or refuses on the group's packages.

With ``MODEL_CARD`` on, an approval event also creates or updates the approved package's
SageMaker Model Card (:mod:`.model_card`), after the endpoint's part.

One Lambda package, loaded as ``deployer`` (handler ``deployer.handler``):

    config              the settings (the Lambda's environment) and the names it shares
    events              the handler: routing one event, reconciling, autoscaling
    serving             recording what the endpoint really serves; failed deployments
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

from .baseline import baseline_uris
from .calls import DeploymentError, scalable_resource_id
from .cleanup import DestroyRefused, delete_endpoint_and_configs
from .config import (
    CAPTURE_METHODS,
    CLEANUP_MARKER,
    CLEANUP_WAIT_SECONDS,
    ENDPOINT_EVENT_DETAIL_TYPE,
    ENDPOINT_EVENT_STATUSES,
    EVENT_SOURCE,
    FAILED_DEPLOYMENTS_METRIC,
    KINDS,
    LIFECYCLE_KEY,
    METRICS_NAMESPACE,
    MODEL_CARD_TEXT_LIMIT,
    PACKAGES_ON_DESTROY,
    STRATEGIES,
    VARIANT_NAME,
    Config,
    ConfigError,
)
from .events import Clock, Outcome, deploy, handle, handler
from .model_card import card_content, card_name, card_name_pattern, write_model_card
from .sagemaker_requests import (
    config_hash,
    deployment_config,
    endpoint_config_request,
    model_request,
    resource_name,
)

logging.getLogger(__name__).setLevel(logging.INFO)

__all__ = [
    "CAPTURE_METHODS", "CLEANUP_MARKER", "CLEANUP_WAIT_SECONDS", "ENDPOINT_EVENT_DETAIL_TYPE",
    "ENDPOINT_EVENT_STATUSES", "EVENT_SOURCE", "FAILED_DEPLOYMENTS_METRIC", "KINDS",
    "LIFECYCLE_KEY", "METRICS_NAMESPACE", "MODEL_CARD_TEXT_LIMIT", "PACKAGES_ON_DESTROY",
    "STRATEGIES", "VARIANT_NAME", "Clock", "Config", "ConfigError", "DeploymentError",
    "DestroyRefused", "Outcome", "baseline_uris", "card_content", "card_name", "card_name_pattern",
    "config_hash", "deploy", "delete_endpoint_and_configs", "deployment_config",
    "endpoint_config_request", "handle", "handler", "model_request", "resource_name",
    "scalable_resource_id", "write_model_card",
]
