"""Handling one event: an approval to deploy, an endpoint now InService, or the destroy hook.

An approval is reconciled with the endpoint as it is: whatever the event says, the endpoint
ends up serving the approved package, and a redelivered or out-of-order event changes
nothing. "Nothing to do" outcomes return a reason; failures raise, so Lambda retries.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from .baseline import copy_baseline
from .calls import (
    DeploymentError,
    client,
    deregister_scaling,
    describe_endpoint,
    exists_already,
    not_found,
    resource_tags,
    scalable_resource_id,
)
from .cleanup import delete_endpoint_and_configs
from .config import (
    APPROVED,
    BUSY_STATUSES,
    CLEANUP_MARKER,
    ENDPOINT_EVENT_DETAIL_TYPE,
    EVENT_DETAIL_TYPE,
    EVENT_SOURCE,
    IN_SERVICE_EVENT_STATUSES,
    LIFECYCLE_KEY,
    POLL_SECONDS,
    SCALABLE_DIMENSION,
    SCALE_IN_COOLDOWN_SECONDS,
    SCALE_OUT_COOLDOWN_SECONDS,
    SCALING_METRIC,
    TAG_MANAGED_BY,
    TAG_PACKAGE_ARN,
    TAG_PACKAGE_VERSION,
    Config,
)
from .sagemaker_requests import (
    config_hash,
    deployment_config,
    endpoint_config_request,
    model_request,
    resource_name,
    tag_list,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What one event did: `action` is created, updated, noop or skipped."""

    action: str
    reason: str
    endpoint_name: str = ""
    endpoint_config_name: str = ""
    model_package_arn: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Approval:
    package_arn: str
    version: int
    group: str
    status: str


def parse_event(event: Mapping[str, Any]) -> Approval | str:
    """The package state change, or why the event is not one."""
    if event.get("source") != EVENT_SOURCE or event.get("detail-type") != EVENT_DETAIL_TYPE:
        return (f"not a model package state change (source {event.get('source')!r}, "
                f"detail-type {event.get('detail-type')!r})")
    detail = event.get("detail") or {}
    arn = detail.get("ModelPackageArn") or ""
    raw_version = detail.get("ModelPackageVersion")
    if raw_version is None:
        match = re.search(r"/(\d+)$", arn)
        raw_version = match.group(1) if match else None
    try:
        version = int(raw_version)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return f"event has no model package version (ModelPackageArn {arn!r})"
    if not arn:
        return "event has no ModelPackageArn"
    return Approval(arn, version, str(detail.get("ModelPackageGroupName") or ""),
                    str(detail.get("ModelApprovalStatus") or ""))


def _create(call: Any, request: dict[str, Any], describe: Any) -> None:
    """Create unless it exists (a redelivered event, or a concurrent delivery racing us)."""
    try:
        describe()
        return
    except ClientError as error:
        if not not_found(error):
            raise
    try:
        call(**request)
    except ClientError as error:
        if not exists_already(error):
            raise


def _wait(sm: Any, name: str, seconds: int, poll: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        endpoint = sm.describe_endpoint(EndpointName=name)
        status = endpoint["EndpointStatus"]
        if status == "InService" and not endpoint.get("PendingDeploymentSummary"):
            return endpoint
        if status in ("Failed", "UpdateRollbackFailed", "OutOfService"):
            raise DeploymentError(f"endpoint {name} is {status}: "
                                  f"{endpoint.get('FailureReason', 'no reason given')}")
        if time.monotonic() >= deadline:
            return endpoint
        time.sleep(poll)


def deploy(event: Mapping[str, Any], config: Config, sm: Any = None,
           poll_seconds: float = POLL_SECONDS, autoscaling: Any = None,
           s3: Any = None) -> Outcome:
    """Deploy the approved package of `event` to the configured endpoint, idempotently.

    The package's drift baseline is copied to ``baseline_s3_uri`` first, so the monitor
    compares traffic with the model being deployed; a failed copy changes nothing and
    raises (the event is retried).
    """
    approval = parse_event(event)
    if isinstance(approval, str):
        return Outcome("skipped", approval, config.endpoint_name)
    arn = approval.package_arn
    if approval.group != config.model_package_group:
        return Outcome("skipped", f"package group {approval.group!r} is not "
                       f"{config.model_package_group!r}", config.endpoint_name, "", arn)
    if approval.status != APPROVED:
        return Outcome("skipped", f"approval status is {approval.status!r}, not {APPROVED!r}: "
                       "nothing is deployed", config.endpoint_name, "", arn)
    sm = sm or client("sagemaker")
    name = resource_name(config.endpoint_name, approval.version, config_hash(config, arn))
    endpoint = describe_endpoint(sm, config.endpoint_name)
    if endpoint is not None:
        skip = _nothing_to_do(sm, endpoint, approval, name, config)
        if skip is not None:
            return skip
    if config.baseline_s3_uri:
        copy_baseline(sm.describe_model_package(ModelPackageName=arn), config.baseline_s3_uri,
                      s3 or client("s3"))
    _create(sm.create_model, model_request(config, name, arn),
            lambda: sm.describe_model(ModelName=name))
    _create(sm.create_endpoint_config, endpoint_config_request(config, name, name),
            lambda: sm.describe_endpoint_config(EndpointConfigName=name))
    package_tags = {TAG_PACKAGE_ARN: arn, TAG_PACKAGE_VERSION: str(approval.version),
                    TAG_MANAGED_BY: config.endpoint_name}
    if endpoint is None:
        try:
            sm.create_endpoint(EndpointName=config.endpoint_name, EndpointConfigName=name,
                               Tags=tag_list({**config.tags, **package_tags}))
            action = "created"
        except ClientError as error:
            if not exists_already(error):
                raise
            # a concurrent delivery won the race to create it
            return deploy(event, config, sm, poll_seconds, autoscaling, s3)
    else:
        request: dict[str, Any] = {"EndpointName": config.endpoint_name,
                                   "EndpointConfigName": name}
        deployment = deployment_config(config)
        if deployment is not None:
            request["DeploymentConfig"] = deployment
        _release_scaling_for_new_instance_type(sm, endpoint, config, autoscaling)
        sm.update_endpoint(**request)
        sm.add_tags(ResourceArn=endpoint["EndpointArn"], Tags=tag_list(package_tags))
        action = "updated"
    logger.info("%s endpoint %s with %s (package %s)", action, config.endpoint_name, name, arn)
    if config.wait_seconds:
        _wait(sm, config.endpoint_name, config.wait_seconds, poll_seconds)
    return Outcome(action, f"deploying model package version {approval.version}",
                   config.endpoint_name, name, arn)


def _nothing_to_do(sm: Any, endpoint: Mapping[str, Any], approval: Approval, name: str,
                   config: Config) -> Outcome | None:
    """An Outcome when the event needs no change; raises when the endpoint is busy or broken."""
    status = endpoint["EndpointStatus"]
    live = endpoint.get("EndpointConfigName")
    pending = (endpoint.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
    arn = approval.package_arn

    def outcome(reason: str) -> Outcome:
        return Outcome("noop", reason, config.endpoint_name, name, arn)

    if pending == name or (status in ("Creating", "Updating") and live == name):
        return outcome(f"endpoint is {status} to this package's config already")
    if live == name and status == "InService":
        return outcome("this package is already live")
    if status in BUSY_STATUSES:
        raise DeploymentError(f"endpoint {config.endpoint_name} is {status} with another "
                              "config; retry when it settles")
    if status == "Failed":
        raise DeploymentError(f"endpoint {config.endpoint_name} is Failed "
                              f"({endpoint.get('FailureReason', 'no reason given')}); delete it "
                              "or fix it before deploying")
    live_version = resource_tags(sm, endpoint["EndpointArn"]).get(TAG_PACKAGE_VERSION, "")
    if (live_version.isdigit() and int(live_version) > approval.version
            and not config.allow_rollback_to_older):
        return Outcome("skipped", f"version {approval.version} is older than the live version "
                       f"{live_version}; set ALLOW_ROLLBACK_TO_OLDER=true to roll back",
                       config.endpoint_name, name, arn)
    return None


def _release_scaling_for_new_instance_type(sm: Any, endpoint: Mapping[str, Any],
                                           config: Config, autoscaling: Any) -> None:
    """Deregister the scalable target when the update changes the instance type.

    UpdateEndpoint fails for a variant registered with Application Auto Scaling if the
    instance type changes (a new model alone is allowed); the InService event that ends the
    update registers it again.
    """
    if config.serverless or not endpoint.get("EndpointConfigName"):
        return
    live = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    types = {v.get("InstanceType") for v in live.get("ProductionVariants", [])}
    if types and types != {config.instance_type}:
        deregister_scaling(autoscaling or client("application-autoscaling"),
                            config.endpoint_name)


def is_endpoint_in_service(event: Mapping[str, Any], endpoint_name: str) -> bool:
    """True for this endpoint's state change to InService."""
    detail = event.get("detail") or {}
    return (event.get("source") == EVENT_SOURCE
            and event.get("detail-type") == ENDPOINT_EVENT_DETAIL_TYPE
            and detail.get("EndpointName") == endpoint_name
            and detail.get("EndpointStatus") in IN_SERVICE_EVENT_STATUSES)


def ensure_autoscaling(config: Config, autoscaling: Any = None) -> Outcome:
    """Register the variant as a scalable target with a target-tracking policy (upserts)."""
    if not config.autoscaling:
        return Outcome("skipped", "autoscaling is off for this endpoint", config.endpoint_name)
    autoscaling = autoscaling or client("application-autoscaling")
    resource_id = scalable_resource_id(config.endpoint_name)
    autoscaling.register_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=resource_id,
        ScalableDimension=SCALABLE_DIMENSION, MinCapacity=config.autoscaling_min_capacity,
        MaxCapacity=config.autoscaling_max_capacity)
    autoscaling.put_scaling_policy(
        PolicyName=f"{config.endpoint_name}-invocations", ServiceNamespace="sagemaker",
        ResourceId=resource_id, ScalableDimension=SCALABLE_DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": float(config.autoscaling_target_invocations),
            "PredefinedMetricSpecification": {"PredefinedMetricType": SCALING_METRIC},
            "ScaleInCooldown": SCALE_IN_COOLDOWN_SECONDS,
            "ScaleOutCooldown": SCALE_OUT_COOLDOWN_SECONDS,
        })
    return Outcome("updated", f"autoscaling {config.autoscaling_min_capacity}-"
                   f"{config.autoscaling_max_capacity} instances at "
                   f"{config.autoscaling_target_invocations} invocations per instance",
                   config.endpoint_name)


def handle(event: Mapping[str, Any], config: Config, sm: Any = None,
           autoscaling: Any = None, s3: Any = None) -> Outcome:
    """Route one event: the destroy hook, an endpoint now InService, or an approval."""
    lifecycle = event.get(LIFECYCLE_KEY)
    if CLEANUP_MARKER in event:
        action = lifecycle.get("action", "") if isinstance(lifecycle, Mapping) else ""
        if action != "delete":
            return Outcome("noop", f"cleanup hook ({action or 'no action'}): the endpoint is "
                           "deleted when the stack is destroyed", config.endpoint_name)
        deleted = delete_endpoint_and_configs(config.endpoint_name, sm, autoscaling=autoscaling)
        return Outcome("deleted", json.dumps(deleted, sort_keys=True), config.endpoint_name)
    if event.get("detail-type") == ENDPOINT_EVENT_DETAIL_TYPE:
        if not is_endpoint_in_service(event, config.endpoint_name):
            return Outcome("skipped", "not this endpoint reaching InService",
                           config.endpoint_name)
        return ensure_autoscaling(config, autoscaling)
    return deploy(event, config, sm, autoscaling=autoscaling, s3=s3)


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, str]:
    """The Lambda entry point."""
    outcome = handle(event, Config.from_env())
    logger.info("%s", json.dumps(outcome.as_dict()))
    return outcome.as_dict()
