"""What the endpoint really serves, recorded only once SageMaker says so.

A deployment can roll back (alarms) or fail, so nothing about it is recorded when it starts.
When the endpoint settles (InService, or a failed rollback), :func:`settle` reads the package
of the live endpoint config (its tags) and then, only if it changed, copies that package's
drift baseline for the monitor and writes the live-version tags on the endpoint. A deployment
that did not become live is marked on its endpoint config (``TAG_FAILED``: never deployed
again) and counted in the ``FailedDeployments`` metric that the component's alarm watches.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .baseline import copy_baseline
from .calls import client, not_found, resource_tags
from .config import (
    FAILED_DEPLOYMENTS_METRIC,
    METRICS_NAMESPACE,
    TAG_DEPLOYING,
    TAG_FAILED,
    TAG_PACKAGE_ARN,
    TAG_PACKAGE_VERSION,
    Config,
)
from .sagemaker_requests import tag_list

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Serving:
    """The package behind the live endpoint config ("" and 0 when unknown)."""

    package_arn: str
    version: int


def config_tags(sm: Any, config_name: str) -> dict[str, str] | None:
    """Tags of an endpoint config; None when it does not exist."""
    try:
        arn = sm.describe_endpoint_config(EndpointConfigName=config_name)["EndpointConfigArn"]
    except ClientError as error:
        if not_found(error):
            return None
        raise
    return resource_tags(sm, arn)


def mark_failed(sm: Any, config_name: str, why: str, config: Config,
                cloudwatch: Any = None) -> None:
    """Tag the config as failed (it is not deployed again) and count it, once."""
    tags = config_tags(sm, config_name)
    if tags is None or TAG_FAILED in tags:
        return
    arn = sm.describe_endpoint_config(EndpointConfigName=config_name)["EndpointConfigArn"]
    sm.add_tags(ResourceArn=arn, Tags=tag_list({TAG_FAILED: why}))
    (cloudwatch or client("cloudwatch")).put_metric_data(
        Namespace=METRICS_NAMESPACE, MetricData=[{
            "MetricName": FAILED_DEPLOYMENTS_METRIC, "Unit": "Count", "Value": 1.0,
            "Dimensions": [{"Name": "EndpointName", "Value": config.endpoint_name}]}])
    logger.error("deployment of %s to endpoint %s failed: %s", config_name,
                 config.endpoint_name, why)


def settle(sm: Any, endpoint: Mapping[str, Any], config: Config, s3: Any = None,
           cloudwatch: Any = None) -> Serving:
    """Record what a settled (not busy) endpoint serves; mark a deployment that did not land."""
    live = endpoint.get("EndpointConfigName") or ""
    endpoint_tags = resource_tags(sm, endpoint["EndpointArn"])
    deploying = endpoint_tags.get(TAG_DEPLOYING, "")
    status = endpoint.get("EndpointStatus", "")
    if deploying and (deploying != live or status != "InService"):
        mark_failed(sm, deploying, f"endpoint {status} with {live or 'no config'}", config,
                    cloudwatch)
    tags = (config_tags(sm, live) or {}) if live else {}
    arn, version = tags.get(TAG_PACKAGE_ARN, ""), tags.get(TAG_PACKAGE_VERSION, "")
    if not arn:  # a config made before configs carried their package: the endpoint's tags
        return Serving(endpoint_tags.get(TAG_PACKAGE_ARN, ""), _version(
            endpoint_tags.get(TAG_PACKAGE_VERSION, "")))
    if status != "InService":
        return Serving(arn, _version(version))
    if endpoint_tags.get(TAG_PACKAGE_ARN) != arn or endpoint_tags.get(
            TAG_PACKAGE_VERSION) != version:
        if config.baseline_s3_uri:  # first the baseline, then the tags that say it is done
            copy_baseline(sm.describe_model_package(ModelPackageName=arn),
                          config.baseline_s3_uri, s3 or client("s3"),
                          also_from=(config.registry_bucket,) if config.registry_bucket else ())
        sm.add_tags(ResourceArn=endpoint["EndpointArn"],
                    Tags=tag_list({TAG_PACKAGE_ARN: arn, TAG_PACKAGE_VERSION: version}))
        logger.info("endpoint %s serves package %s (%s)", config.endpoint_name, arn, live)
    return Serving(arn, _version(version))


def _version(raw: str) -> int:
    return int(raw) if raw.isdigit() else 0
