"""Cleanup on ``pulumi destroy``: the endpoint and everything the deployer made for it.

Pulumi never declares the endpoint, its models or its configs (the deployer makes them), so
the destroy hook deletes them. A model or config is this endpoint's only if its name is one
the deployer derives for this endpoint (``<endpoint>-v<N>-<hash>``) and it carries the
deployer's tag with this endpoint's name: ``NameContains`` also lists ``churn-endpoint-2-...``
for ``churn-endpoint``, and the role may not even read the tags of those.

The hook waits until the endpoint is really gone: DeleteEndpoint's documentation says to keep
the execution role (and its KMS grants) until the deletion finishes, and Pulumi deletes the
roles as soon as the hook returns.

The group's model packages (a group that holds any refuses deletion) are kept, deleted
(``packages_on_destroy = "delete"``, dev stacks with forceDestroy) or make the destroy fail
with one line before anything is deleted (``"refuse"``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
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
from .config import CLEANUP_WAIT_SECONDS, NAME_LIMIT, POLL_SECONDS, TAG_MANAGED_BY
from .sagemaker_requests import resource_name

_DERIVED_SUFFIX = re.compile(r"-v(\d+)-([0-9a-f]{8})$")
DELETING = "Deleting"


class DestroyRefused(RuntimeError):
    """``pulumi destroy`` must not go on (the message says why and what to do)."""


def _ignore_missing(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
        return True
    except ClientError as error:
        if not_found(error):
            return False
        raise


def derived_for(endpoint_name: str, name: str) -> bool:
    """Whether `name` is a model or config name the deployer derives for `endpoint_name`."""
    match = _DERIVED_SUFFIX.search(name)
    return bool(match) and resource_name(endpoint_name, int(match.group(1)),
                                         match.group(2)) == name


def delete_endpoint_and_configs(endpoint_name: str, sm: Any = None,
                                wait_seconds: float = CLEANUP_WAIT_SECONDS,
                                poll_seconds: float = POLL_SECONDS,
                                autoscaling: Any = None,
                                now: Callable[[], float] = time.monotonic,
                                sleep: Callable[[float], None] = time.sleep,
                                ) -> dict[str, list[str]]:
    """Delete the endpoint, wait until it is gone, then its scalable target and every model
    and endpoint config the deployer made for it.

    Raises DeploymentError if the endpoint still exists after `wait_seconds` (nothing else is
    deleted then; running it again waits again). Running it after success deletes nothing
    more and does not fail.
    """
    sm = sm or client("sagemaker")
    autoscaling = autoscaling or client("application-autoscaling")
    deleted: dict[str, list[str]] = {"endpoints": [], "endpoint_configs": [], "models": [],
                                     "scalable_targets": []}
    if deregister_scaling(autoscaling, endpoint_name):
        deleted["scalable_targets"].append(scalable_resource_id(endpoint_name))
    endpoint = describe_endpoint(sm, endpoint_name)
    if endpoint is not None:
        if endpoint.get("EndpointStatus") == DELETING or \
                _ignore_missing(sm.delete_endpoint, EndpointName=endpoint_name):
            deleted["endpoints"].append(endpoint_name)
        _wait_until_gone(sm, endpoint_name, wait_seconds, poll_seconds, now, sleep)
    prefix = endpoint_name[: NAME_LIMIT - 12].rstrip("-")
    configs = [c for page in sm.get_paginator("list_endpoint_configs").paginate(
        NameContains=prefix) for c in page["EndpointConfigs"]]
    for item in configs:
        if _owned(sm, endpoint_name, item["EndpointConfigName"], item["EndpointConfigArn"]) \
                and _ignore_missing(sm.delete_endpoint_config,
                                    EndpointConfigName=item["EndpointConfigName"]):
            deleted["endpoint_configs"].append(item["EndpointConfigName"])
    models = [m for page in sm.get_paginator("list_models").paginate(NameContains=prefix)
              for m in page["Models"]]
    for item in models:
        if _owned(sm, endpoint_name, item["ModelName"], item["ModelArn"]) and \
                _ignore_missing(sm.delete_model, ModelName=item["ModelName"]):
            deleted["models"].append(item["ModelName"])
    return deleted


def _owned(sm: Any, endpoint_name: str, name: str, arn: str) -> bool:
    """Derived name first: the role may read tags of this endpoint's resources only."""
    return derived_for(endpoint_name, name) and \
        resource_tags(sm, arn).get(TAG_MANAGED_BY) == endpoint_name


def _wait_until_gone(sm: Any, endpoint_name: str, wait_seconds: float, poll_seconds: float,
                     now: Callable[[], float], sleep: Callable[[float], None]) -> None:
    deadline = now() + wait_seconds
    while (endpoint := describe_endpoint(sm, endpoint_name)) is not None:
        if now() + poll_seconds > deadline:
            raise DeploymentError(
                f"endpoint {endpoint_name} is still {endpoint.get('EndpointStatus')} after "
                f"{wait_seconds:.0f} s; its execution role must outlive it, so the destroy "
                "stops here: run `pulumi destroy` again to keep waiting")
        sleep(poll_seconds)


def group_packages(sm: Any, group: str) -> list[str]:
    """ARNs of every model package of `group` (any approval status)."""
    return [summary["ModelPackageArn"]
            for page in sm.get_paginator("list_model_packages").paginate(
                ModelPackageGroupName=group)
            for summary in page.get("ModelPackageSummaryList", [])]


def check_packages(sm: Any, group: str, policy: str) -> list[str]:
    """The packages the destroy will delete; raises DestroyRefused when `policy` is refuse
    and the group holds any (AWS would refuse to delete the group)."""
    if policy == "keep":
        return []
    packages = group_packages(sm, group)
    if policy == "refuse" and packages:
        raise DestroyRefused(
            f"model package group {group} holds {len(packages)} model package(s), so it "
            "cannot be deleted: set the stack's forceDestroy to delete them with it, or delete "
            f"them first (aws sagemaker delete-model-package), then run `pulumi destroy` again")
    return packages


def delete_packages(sm: Any, packages: list[str]) -> list[str]:
    """Delete `packages` (ARNs); those already gone are skipped."""
    return [arn for arn in packages
            if _ignore_missing(sm.delete_model_package, ModelPackageName=arn)]
