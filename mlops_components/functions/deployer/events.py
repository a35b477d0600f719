"""Handling one event: an approval, an endpoint state change, or the destroy hook.

Approvals and endpoint state changes (InService, Failed) both reconcile: the endpoint ends up
serving the newest approved package of the group, and a redelivered or out-of-order event
changes nothing. A busy endpoint defers to the state change that ends the deployment
(Lambda's two retries, minutes apart, cannot outwait a 15-minute canary). "Nothing to do"
outcomes return a reason; errors raise, so Lambda retries and then dead-letters them.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from botocore.exceptions import ClientError

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
from .cleanup import check_packages, delete_endpoint_and_configs, delete_packages
from .config import (
    APPROVED,
    BUSY_STATUSES,
    CLEANUP_MARGIN_SECONDS,
    CLEANUP_MARKER,
    CLEANUP_WAIT_SECONDS,
    COMPLETED,
    DELETE_WAIT_SECONDS,
    ENDPOINT_EVENT_DETAIL_TYPE,
    ENDPOINT_EVENT_STATUSES,
    EVENT_DETAIL_TYPE,
    EVENT_SOURCE,
    LIFECYCLE_KEY,
    POLL_SECONDS,
    SCALABLE_DIMENSION,
    SCALE_IN_COOLDOWN_SECONDS,
    SCALE_OUT_COOLDOWN_SECONDS,
    SCALING_METRIC,
    TAG_DEPLOYING,
    TAG_FAILED,
    TAG_MANAGED_BY,
    TAG_PACKAGE_ARN,
    TAG_PACKAGE_VERSION,
    TAG_PENDING,
    Config,
)
from .model_card import write_model_card
from .sagemaker_requests import (
    config_hash,
    deployment_config,
    endpoint_config_request,
    model_request,
    resource_name,
    tag_list,
)
from .serving import config_tags, mark_failed, settle

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
    package_status: str


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
                    str(detail.get("ModelApprovalStatus") or ""),
                    str(detail.get("ModelPackageStatus") or ""))


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


class Clock:
    """Time as the deployer sees it (a simulation passes its own)."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK = Clock()


def deploy(event: Mapping[str, Any], config: Config, sm: Any = None,
           poll_seconds: float = POLL_SECONDS, autoscaling: Any = None,
           s3: Any = None, cloudwatch: Any = None, clock: Clock = SYSTEM_CLOCK) -> Outcome:
    """An approval event: reconcile the endpoint with the newest approved package.

    Only an Approved, Completed package of the configured group starts anything; the event's
    package competes with the newest one the registry lists (so a late or duplicate event
    never deploys an older version over a newer one).
    """
    approval = parse_event(event)
    if isinstance(approval, str):
        return Outcome("skipped", approval, config.endpoint_name)
    arn = approval.package_arn
    if config.registry_account and event.get("account") != config.registry_account:
        return Outcome("skipped", f"event from account {event.get('account')!r}, not the "
                       f"registry account {config.registry_account!r}", config.endpoint_name,
                       "", arn)
    if approval.group != config.group_name:
        return Outcome("skipped", f"package group {approval.group!r} is not "
                       f"{config.group_name!r}", config.endpoint_name, "", arn)
    if approval.status != APPROVED:
        return Outcome("skipped", f"approval status is {approval.status!r}, not {APPROVED!r}: "
                       "nothing is deployed", config.endpoint_name, "", arn)
    if approval.package_status != COMPLETED:
        return Outcome("skipped", f"package status is {approval.package_status!r}, not "
                       f"{COMPLETED!r}: nothing is deployed", config.endpoint_name, "", arn)
    outcome = reconcile(config, sm, approval, poll_seconds=poll_seconds,
                        autoscaling=autoscaling, s3=s3, cloudwatch=cloudwatch, clock=clock)
    if config.model_card:  # after the endpoint: a card problem never holds a deployment back
        try:
            card = write_model_card(sm or client("sagemaker"), s3 or client("s3"), arn, config)
        except ClientError as error:
            # Failing the invocation would retry and dead-letter an approval whose deployment
            # succeeded; the card is documentation, written again by the next approval event.
            code = error.response.get("Error", {}).get("Code", "?")
            logger.error("model card of %s not written: %s", arn, error)
            card = f"not written ({code}: {error.response.get('Error', {}).get('Message', '')})"
        outcome = replace(outcome, reason=f"{outcome.reason}; model card {card}")
    return outcome


def approved_packages(sm: Any, config: Config, approval: Approval | None = None
                      ) -> Iterator[Approval]:
    """Approved, Completed packages of the group, newest first, read lazily.

    The event's package comes first if the registry does not list it yet (its list lags
    behind its events) and it is still approved; a late event of a package rejected since
    deploys nothing.
    """
    pages = sm.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=config.model_package_group, ModelApprovalStatus=APPROVED,
        SortBy="CreationTime", SortOrder="Descending")
    first = True
    for page in pages:
        for summary in page.get("ModelPackageSummaryList", []):
            if summary.get("ModelPackageStatus") != COMPLETED:
                continue
            listed = Approval(summary["ModelPackageArn"], int(summary["ModelPackageVersion"]),
                              config.model_package_group, APPROVED, COMPLETED)
            if first and approval is not None and approval.version > listed.version and \
                    _still_approved(sm, approval):
                yield approval
            first = False
            yield listed
    if first and approval is not None and _still_approved(sm, approval):
        yield approval


def _pending(sm: Any, endpoint: Mapping[str, Any], config: Config) -> Approval | None:
    """The approval remembered on the endpoint (TAG_PENDING) while it was busy, or None.

    Two approvals deferred at the same moment may both read the tag before either writes it,
    so the older can be written last; the newer one's package is then deployed by the list
    once the registry shows it, as before the tag existed."""
    arn = resource_tags(sm, endpoint["EndpointArn"]).get(TAG_PENDING, "")
    version = arn.rsplit("/", 1)[-1]
    if not version.isdigit():
        return None
    return Approval(arn, int(version), config.model_package_group, APPROVED, COMPLETED)


def _still_approved(sm: Any, approval: Approval) -> bool:
    try:
        package = sm.describe_model_package(ModelPackageName=approval.package_arn)
    except ClientError as error:
        if not_found(error):  # not visible yet: the event is the newest word
            return True
        raise
    return package.get("ModelApprovalStatus") == APPROVED


def reconcile(config: Config, sm: Any = None, approval: Approval | None = None, *,
              poll_seconds: float = POLL_SECONDS, autoscaling: Any = None, s3: Any = None,
              cloudwatch: Any = None, clock: Clock = SYSTEM_CLOCK) -> Outcome:
    """Make the endpoint serve the newest approved package, whatever the event was.

    A busy endpoint (Creating, Updating, RollingBack...) is left alone: the state change that
    ends it brings the deployer back, so no retry or dead letter is needed. A settled
    endpoint is recorded first (live tags and baseline, a rolled-back deployment marked); a
    Failed one is deleted and recreated. Idempotent: names are derived from the package
    and the settings, and a live or failed config is never deployed again.
    """
    sm = sm or client("sagemaker")
    endpoint = describe_endpoint(sm, config.endpoint_name)
    status = endpoint["EndpointStatus"] if endpoint else ""
    pending = _pending(sm, endpoint, config) if endpoint else None
    if status in BUSY_STATUSES:
        if approval is not None and (pending is None or pending.version < approval.version):
            sm.add_tags(ResourceArn=endpoint["EndpointArn"],
                        Tags=tag_list({TAG_PENDING: approval.package_arn}))
        logger.info("endpoint %s is %s: its next state change reconciles",
                    config.endpoint_name, status)
        return Outcome("deferred", f"endpoint is {status}; the state change that ends it "
                       "deploys the newest approved package", config.endpoint_name)
    if status == "Deleting":
        raise DeploymentError(f"endpoint {config.endpoint_name} is Deleting; retry when gone")
    if pending is not None and (approval is None or pending.version > approval.version):
        approval = pending  # deferred while busy: deploy it even if the list lags
    if endpoint is not None and status == "Failed":
        _replace_failed(sm, endpoint, config, cloudwatch, clock, poll_seconds)
        endpoint = None
    serving = settle(sm, endpoint, config, s3, cloudwatch) if endpoint else None
    if endpoint is not None and status == "InService" and config.autoscaling:
        ensure_autoscaling(config, autoscaling)
    target, name, passed_over = None, "", []
    for candidate in approved_packages(sm, config, approval):
        if serving and candidate.version < serving.version and \
                not config.allow_rollback_to_older:
            break  # what serves is newer
        name = resource_name(config.endpoint_name, candidate.version,
                             config_hash(config, candidate.package_arn))
        if endpoint is not None and endpoint.get("EndpointConfigName") == name:
            return Outcome("noop", "this package is already live", config.endpoint_name,
                           name, candidate.package_arn)
        found = config_tags(sm, name)
        if found and TAG_FAILED in found:  # failed or rolled back: never again
            passed_over.append(f"version {candidate.version} failed or was rolled back "
                               f"({found[TAG_FAILED]})")
            continue
        target = candidate
        break
    if target is None:
        if passed_over:
            reason = "; ".join(passed_over) + ": approve a newer version or change a setting"
        elif serving and serving.version:
            older = f"version {approval.version} is older" if approval and \
                approval.version < serving.version else "no approved package is newer"
            reason = (f"{older} than the live version {serving.version}; "
                      "set ALLOW_ROLLBACK_TO_OLDER=true to roll back")
        else:
            reason = f"no approved package in {config.model_package_group}"
        action = "noop" if not passed_over and not serving else "skipped"
        return Outcome(action, reason, config.endpoint_name, "",
                       approval.package_arn if approval else "")
    arn = target.package_arn

    def outcome(action: str, reason: str) -> Outcome:
        return Outcome(action, reason, config.endpoint_name, name, arn)

    package_tags = {TAG_PACKAGE_ARN: arn, TAG_PACKAGE_VERSION: str(target.version)}
    _create(sm.create_model, model_request(config, name, arn),
            lambda: sm.describe_model(ModelName=name))
    _create(sm.create_endpoint_config,
            endpoint_config_request(config, name, name, package_tags),
            lambda: sm.describe_endpoint_config(EndpointConfigName=name))
    deploying = {TAG_DEPLOYING: name, TAG_MANAGED_BY: config.endpoint_name}
    if endpoint is None:
        try:
            sm.create_endpoint(EndpointName=config.endpoint_name, EndpointConfigName=name,
                               Tags=tag_list({**config.tags, **deploying}))
            action = "created"
        except ClientError as error:
            if not exists_already(error):
                raise
            # a concurrent delivery won the race to create it
            return reconcile(config, sm, approval, poll_seconds=poll_seconds,
                             autoscaling=autoscaling, s3=s3, cloudwatch=cloudwatch, clock=clock)
    else:
        request: dict[str, Any] = {"EndpointName": config.endpoint_name,
                                   "EndpointConfigName": name}
        deployment = deployment_config(config)
        if deployment is not None:
            request["DeploymentConfig"] = deployment
        _release_scaling_for_new_instance_type(sm, endpoint, config, autoscaling)
        sm.update_endpoint(**request)
        sm.add_tags(ResourceArn=endpoint["EndpointArn"], Tags=tag_list(deploying))
        action = "updated"
    logger.info("%s endpoint %s with %s (package %s)", action, config.endpoint_name, name, arn)
    if config.wait_seconds:
        _wait(sm, config.endpoint_name, config.wait_seconds, poll_seconds, clock)
        settled = describe_endpoint(sm, config.endpoint_name)
        if settled and settled["EndpointStatus"] not in BUSY_STATUSES:
            settle(sm, settled, config, s3, cloudwatch)
    return outcome(action, f"deploying model package version {target.version}")


def _wait(sm: Any, name: str, seconds: int, poll: float, clock: Clock) -> None:
    deadline = clock.now() + seconds
    while clock.now() < deadline:
        endpoint = sm.describe_endpoint(EndpointName=name)
        if endpoint["EndpointStatus"] not in BUSY_STATUSES:
            return
        clock.sleep(poll)


def _replace_failed(sm: Any, endpoint: Mapping[str, Any], config: Config, cloudwatch: Any,
                    clock: Clock, poll_seconds: float) -> None:
    """A Failed endpoint cannot be updated: mark its config failed, delete it, wait till gone."""
    reason = endpoint.get("FailureReason", "no reason given")
    if endpoint.get("EndpointConfigName"):
        mark_failed(sm, endpoint["EndpointConfigName"], f"endpoint Failed: {reason}"[:256],
                    config, cloudwatch)
    try:
        sm.delete_endpoint(EndpointName=config.endpoint_name)
    except ClientError as error:
        if not not_found(error):
            raise
    deadline = clock.now() + DELETE_WAIT_SECONDS
    while describe_endpoint(sm, config.endpoint_name) is not None:
        if clock.now() >= deadline:
            raise DeploymentError(f"failed endpoint {config.endpoint_name} is still being "
                                  f"deleted after {DELETE_WAIT_SECONDS} s; retry recreates it")
        clock.sleep(poll_seconds)
    logger.warning("deleted failed endpoint %s (%s); recreating it", config.endpoint_name,
                   reason)


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


def is_endpoint_settled(event: Mapping[str, Any], endpoint_name: str) -> bool:
    """True for this endpoint's state change to InService or Failed (a deployment ended)."""
    detail = event.get("detail") or {}
    return (event.get("source") == EVENT_SOURCE
            and event.get("detail-type") == ENDPOINT_EVENT_DETAIL_TYPE
            and detail.get("EndpointName") == endpoint_name
            and detail.get("EndpointStatus") in ENDPOINT_EVENT_STATUSES)


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
           autoscaling: Any = None, s3: Any = None, cloudwatch: Any = None,
           clock: Clock = SYSTEM_CLOCK,
           cleanup_wait_seconds: float = CLEANUP_WAIT_SECONDS) -> Outcome:
    """Route one event: the destroy hook, an endpoint state change, or an approval."""
    lifecycle = event.get(LIFECYCLE_KEY)
    if CLEANUP_MARKER in event:
        action = lifecycle.get("action", "") if isinstance(lifecycle, Mapping) else ""
        if action != "delete":
            return Outcome("noop", f"cleanup hook ({action or 'no action'}): the endpoint is "
                           "deleted when the stack is destroyed", config.endpoint_name)
        sm = sm or client("sagemaker")
        # refused before anything is deleted: the stack stays whole
        packages = check_packages(sm, config.model_package_group, config.packages_on_destroy)
        deleted = delete_endpoint_and_configs(config.endpoint_name, sm, autoscaling=autoscaling,
                                              wait_seconds=cleanup_wait_seconds,
                                              now=clock.now, sleep=clock.sleep)
        deleted["model_packages"] = delete_packages(sm, packages)
        return Outcome("deleted", json.dumps(deleted, sort_keys=True), config.endpoint_name)
    if event.get("detail-type") == ENDPOINT_EVENT_DETAIL_TYPE:
        if not is_endpoint_settled(event, config.endpoint_name):
            return Outcome("skipped", "not this endpoint reaching InService or Failed",
                           config.endpoint_name)
        return reconcile(config, sm, autoscaling=autoscaling, s3=s3, cloudwatch=cloudwatch,
                         clock=clock)
    return deploy(event, config, sm, autoscaling=autoscaling, s3=s3, cloudwatch=cloudwatch,
                  clock=clock)


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, str]:
    """The Lambda entry point."""
    wait = CLEANUP_WAIT_SECONDS
    if context is not None:  # stop waiting before Lambda stops us, and say so
        wait = min(wait, context.get_remaining_time_in_millis() / 1000 - CLEANUP_MARGIN_SECONDS)
    outcome = handle(event, Config.from_env(), cleanup_wait_seconds=max(wait, 0))
    logger.info("%s", json.dumps(outcome.as_dict()))
    return outcome.as_dict()
