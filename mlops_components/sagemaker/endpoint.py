"""The endpoint's closed choices, defaults and the limits AWS enforces (no Pulumi).

The stack config (``config.py``) and the ``ModelEndpoint`` component both read these; the
deployer Lambda (``functions/deployer/``) spells the same values, which a test keeps equal.
"""

from __future__ import annotations

from enum import StrEnum


class EndpointKind(StrEnum):
    """How the endpoint runs: serverless (pay per request) or on instances."""

    SERVERLESS = "serverless"
    """A serverless endpoint: pay per request, no data capture config (the handler captures)."""
    INSTANCES = "instances"
    """Instances that run all the time: data capture, autoscaling, canary or linear shifts."""


class DeploymentStrategy(StrEnum):
    """How a new model takes traffic on an instance endpoint (blue/green either way)."""

    ALL_AT_ONCE = "all_at_once"
    """All traffic moves to the new model at once, rolled back on alarms."""
    CANARY = "canary"
    """canary_percent of the traffic first, then the rest."""
    LINEAR = "linear"
    """canary_percent steps until all traffic has moved."""


class CaptureMethod(StrEnum):
    """Who writes request/response capture records to the bucket's capture prefix."""

    DATA_CAPTURE = "data_capture"
    """SageMaker's DataCaptureConfig (instance endpoints only)."""
    HANDLER = "handler"
    """The serving handler itself (serverless endpoints; needs network access to S3)."""


class PackagesOnDestroy(StrEnum):
    """What ``pulumi destroy`` does with the model packages of the endpoint's group (a group
    that holds packages refuses deletion)."""

    KEEP = "keep"
    """Leave them: the group is not this endpoint's (ModelEndpoint alone)."""
    DELETE = "delete"
    """Delete them before the group (a stack with forceDestroy: dev)."""
    REFUSE = "refuse"
    """Fail the destroy, before anything is deleted, while the group holds any (prod)."""


DEFAULT_ENDPOINT_KIND = EndpointKind.SERVERLESS
DEFAULT_ENDPOINT_INSTANCE_TYPE = "ml.m5.large"
DEFAULT_ENDPOINT_INSTANCE_COUNT = 1
DEFAULT_SERVERLESS_MEMORY_MB = 2048
DEFAULT_SERVERLESS_MAX_CONCURRENCY = 5
DEFAULT_CAPTURE_SAMPLING_PERCENT = 100
DEFAULT_DEPLOYMENT_STRATEGY = DeploymentStrategy.ALL_AT_ONCE
DEFAULT_CANARY_PERCENT = 10
DEFAULT_AUTOSCALING_MIN_CAPACITY = 1
DEFAULT_AUTOSCALING_MAX_CAPACITY = 0
"""0: no autoscaling (the config's way to leave it off)."""
DEFAULT_TARGET_INVOCATIONS_PER_INSTANCE = 100
"""Invocations per instance per minute the target-tracking policy holds."""
DEFAULT_LATENCY_ALARM_MS = 1000.0
"""Average model latency (milliseconds) over a minute that raises the latency alarm."""
DEFAULT_5XX_ALARM_COUNT = 1
"""5XX responses in a minute that raise the error alarm."""
DEFAULT_ENDPOINT_LOG_RETENTION_DAYS = 30
"""Retention of the endpoint's log group, /aws/sagemaker/Endpoints/<endpoint>."""
LOG_RETENTION_DAYS_ALLOWED = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
                              1096, 1827, 2192, 2557, 2922, 3288, 3653)
"""The retention periods CloudWatch Logs accepts (PutRetentionPolicy)."""

SERVERLESS_MEMORY_MB_RANGE = (1024, 6144)
SERVERLESS_MEMORY_STEP_MB = 1024
SERVERLESS_CONCURRENCY_RANGE = (1, 200)
CANARY_PERCENT_RANGE = (1, 50)
"""SageMaker: a canary is at most half of the endpoint's capacity."""
LINEAR_STEP_PERCENT_RANGE = (10, 50)
"""SageMaker: each linear step is 10-50 % of the endpoint's capacity."""
MAX_INSTANCE_COUNT = 1000


def endpoint_name(model: str) -> str:
    """The endpoint MlopsStack gives a model: its deployer, monitor, alarms and CLI agree."""
    return f"{model}-endpoint"
