"""The AWS calls every part of the deployer makes: clients, missing resources, tags, scaling.

boto3 is imported on the first client, not with the package (see :func:`client`).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from .config import SCALABLE_DIMENSION, VARIANT_NAME


class DeploymentError(RuntimeError):
    """The deployment cannot proceed now; raised so Lambda retries the event (twice)."""


def scalable_resource_id(endpoint_name: str) -> str:
    """Application Auto Scaling's id of the endpoint's variant."""
    return f"endpoint/{endpoint_name}/variant/{VARIANT_NAME}"


def client(service: str) -> Any:
    """A boto3 client; boto3 is imported on the first call, not with this package.

    The components import this package for its names and rules, and `mlops preview` should not
    pay ~0.3 s for a library only the Lambda calls; in Lambda the first event imports it once.
    """
    import boto3

    return boto3.client(service)


def not_found(error: ClientError) -> bool:
    message = error.response.get("Error", {}).get("Message", "")
    return (error.response.get("Error", {}).get("Code") in ("ValidationException",
                                                              "ResourceNotFound")
            and any(words in message for words in ("Could not find", "does not exist",
                                                   "not found")))


def exists_already(error: ClientError) -> bool:
    return "already exist" in error.response.get("Error", {}).get("Message", "")


def describe_endpoint(sm: Any, name: str) -> dict[str, Any] | None:
    try:
        return sm.describe_endpoint(EndpointName=name)
    except ClientError as error:
        if not_found(error):
            return None
        raise


def resource_tags(sm: Any, arn: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for page in sm.get_paginator("list_tags").paginate(ResourceArn=arn):
        tags.update({tag["Key"]: tag["Value"] for tag in page.get("Tags", [])})
    return tags


def deregister_scaling(autoscaling: Any, endpoint_name: str) -> bool:
    """Remove the variant's scalable target (and so its policies); False when there was none."""
    try:
        autoscaling.deregister_scalable_target(
            ServiceNamespace="sagemaker", ResourceId=scalable_resource_id(endpoint_name),
            ScalableDimension=SCALABLE_DIMENSION)
        return True
    except ClientError as error:
        found = error.response.get("Error", {})
        if found.get("Code") == "ObjectNotFoundException" or \
                "No scalable target" in found.get("Message", ""):  # moto's spelling
            return False
        raise
