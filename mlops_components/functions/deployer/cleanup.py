"""Cleanup on ``pulumi destroy``: the endpoint and everything the deployer made for it.

Pulumi never declares the endpoint, its models or its configs (the deployer makes them), so
the destroy hook deletes them: found by the deployer's tag, so nothing else is touched.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from .calls import (
    DeploymentError,
    client,
    deregister_scaling,
    describe_endpoint,
    not_found,
    resource_tags,
    scalable_resource_id,
)
from .config import NAME_LIMIT, POLL_SECONDS, TAG_MANAGED_BY


def _ignore_missing(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
        return True
    except ClientError as error:
        if not_found(error):
            return False
        raise


def delete_endpoint_and_configs(endpoint_name: str, sm: Any = None,
                                wait_seconds: int = 0, poll_seconds: float = POLL_SECONDS,
                                autoscaling: Any = None) -> dict[str, list[str]]:
    """Delete the endpoint, its scalable target, and every model and endpoint config the
    deployer made for it.

    Models and configs are found by their `mlops:managed-by-deployer` tag (= the endpoint
    name), so resources of other endpoints or made by hand stay. Running it again deletes
    nothing more and does not fail.
    """
    sm = sm or client("sagemaker")
    autoscaling = autoscaling or client("application-autoscaling")
    deleted: dict[str, list[str]] = {"endpoints": [], "endpoint_configs": [], "models": [],
                                     "scalable_targets": []}
    if deregister_scaling(autoscaling, endpoint_name):
        deleted["scalable_targets"].append(scalable_resource_id(endpoint_name))
    if _ignore_missing(sm.delete_endpoint, EndpointName=endpoint_name):
        deleted["endpoints"].append(endpoint_name)
        deadline = time.monotonic() + wait_seconds
        while wait_seconds and describe_endpoint(sm, endpoint_name) is not None:
            if time.monotonic() >= deadline:
                raise DeploymentError(f"endpoint {endpoint_name} still exists after "
                                      f"{wait_seconds} s")
            time.sleep(poll_seconds)
    prefix = endpoint_name[: NAME_LIMIT - 12].rstrip("-")
    configs = [c for page in sm.get_paginator("list_endpoint_configs").paginate(
        NameContains=prefix) for c in page["EndpointConfigs"]]
    for item in configs:
        if resource_tags(sm, item["EndpointConfigArn"]).get(TAG_MANAGED_BY) == endpoint_name and \
                _ignore_missing(sm.delete_endpoint_config,
                                EndpointConfigName=item["EndpointConfigName"]):
            deleted["endpoint_configs"].append(item["EndpointConfigName"])
    models = [m for page in sm.get_paginator("list_models").paginate(NameContains=prefix)
              for m in page["Models"]]
    for item in models:
        if resource_tags(sm, item["ModelArn"]).get(TAG_MANAGED_BY) == endpoint_name and \
                _ignore_missing(sm.delete_model, ModelName=item["ModelName"]):
            deleted["models"].append(item["ModelName"])
    return deleted
