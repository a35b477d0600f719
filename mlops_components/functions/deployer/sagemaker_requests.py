"""The SageMaker requests a deployment sends, built from the settings and the package.

Model and endpoint config names are derived from the package version and a hash of the
settings that go into them, so a redelivered event builds the same names and finds them made.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from .config import (
    BAKE_SECONDS,
    CAPTURE_S3_ENV,
    CAPTURE_SAMPLING_ENV,
    ENDPOINT_NAME_ENV,
    NAME_LIMIT,
    TAG_MANAGED_BY,
    VARIANT_NAME,
    Config,
)


def config_hash(config: Config, package_arn: str) -> str:
    """8 hex digits over everything that goes into the model and endpoint config."""
    settings = {k: v for k, v in asdict(config).items()
                if k not in ("wait_seconds", "allow_rollback_to_older", "packages_on_destroy",
                             "deployment_strategy",
                             "canary_percent", "alarm_names", "tags",
                             "autoscaling_min_capacity", "autoscaling_max_capacity",
                             "autoscaling_target_invocations", "model_card",
                             "model_card_intended_uses")}
    settings["package"] = package_arn
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]


def resource_name(endpoint_name: str, version: int, digest: str) -> str:
    """`<endpoint>-v<version>-<hash>`, the endpoint part cut so the name fits 63 characters."""
    suffix = f"-v{version}-{digest}"
    return endpoint_name[: NAME_LIMIT - len(suffix)].rstrip("-") + suffix


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def model_request(config: Config, name: str, package_arn: str) -> dict[str, Any]:
    container: dict[str, Any] = {"ModelPackageName": package_arn}
    environment = {ENDPOINT_NAME_ENV: config.endpoint_name}
    if config.handler_captures:  # serverless has no data capture: the handler writes
        environment[CAPTURE_S3_ENV] = config.capture_s3_uri
        environment[CAPTURE_SAMPLING_ENV] = str(config.capture_sampling_percent)
    container["Environment"] = environment
    request: dict[str, Any] = {
        "ModelName": name,
        "PrimaryContainer": container,
        "ExecutionRoleArn": config.execution_role_arn,
        "Tags": tag_list({**config.tags, TAG_MANAGED_BY: config.endpoint_name}),
    }
    if not config.serverless:  # serverless endpoints refuse network isolation and VPCs
        request["EnableNetworkIsolation"] = config.enable_network_isolation
        if config.subnet_ids:
            request["VpcConfig"] = {"Subnets": list(config.subnet_ids),
                                    "SecurityGroupIds": list(config.security_group_ids)}
    return request


def endpoint_config_request(config: Config, name: str, model_name: str,
                            package_tags: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The config's request; `package_tags` name the package it serves (read when it is live)."""
    variant: dict[str, Any] = {"VariantName": VARIANT_NAME, "ModelName": model_name}
    if config.serverless:
        variant["ServerlessConfig"] = {"MemorySizeInMB": config.serverless_memory_mb,
                                       "MaxConcurrency": config.serverless_max_concurrency}
    else:
        variant.update(InstanceType=config.instance_type,
                       InitialInstanceCount=config.initial_instance_count,
                       InitialVariantWeight=1.0)
    request: dict[str, Any] = {
        "EndpointConfigName": name,
        "ProductionVariants": [variant],
        "Tags": tag_list({**config.tags, **(package_tags or {}),
                          TAG_MANAGED_BY: config.endpoint_name}),
    }
    if not config.serverless:
        if config.kms_key_arn:
            request["KmsKeyId"] = config.kms_key_arn
        if config.capture_s3_uri and not config.handler_captures:
            capture: dict[str, Any] = {
                "EnableCapture": True,
                "InitialSamplingPercentage": config.capture_sampling_percent,
                "DestinationS3Uri": config.capture_s3_uri,
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"],
                                             "JsonContentTypes": ["application/json"]},
            }
            if config.kms_key_arn:
                capture["KmsKeyId"] = config.kms_key_arn
            request["DataCaptureConfig"] = capture
    return request


def deployment_config(config: Config) -> dict[str, Any] | None:
    """Blue/green with canary or linear shifting and alarm rollback (instance endpoints only)."""
    if config.serverless:
        return None
    routing: dict[str, Any] = {"Type": config.deployment_strategy.upper(),
                               "WaitIntervalInSeconds": BAKE_SECONDS}
    step = {"Type": "CAPACITY_PERCENT", "Value": config.canary_percent}
    if config.deployment_strategy == "canary":
        routing["CanarySize"] = step
    elif config.deployment_strategy == "linear":
        routing["LinearStepSize"] = step
    deployment: dict[str, Any] = {"BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": routing, "TerminationWaitInSeconds": 300}}
    if config.alarm_names:
        deployment["AutoRollbackConfiguration"] = {
            "Alarms": [{"AlarmName": name} for name in config.alarm_names]}
    return deployment
