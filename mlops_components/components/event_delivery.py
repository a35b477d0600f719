"""How the components' EventBridge targets deliver: each retries for a bounded time and
dead-letters what it cannot deliver into a queue that only the component's own rules may
write to (the policy pack's ``eventbridge-target-retry-and-dlq`` rule). EventBridge's retry
policy covers delivery only; what the target does with the event is its own business."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from mlops_components.components.iam import document, statement
from mlops_components.components.tags import child_opts

DLQ_RETENTION_SECONDS = 14 * 86400
"""SQS's longest retention: two weeks to notice and replay a dead letter."""
DEFAULT_MAX_EVENT_AGE_SECONDS = 3600
"""How long EventBridge keeps retrying one event's delivery."""
DEFAULT_RETRY_ATTEMPTS = 3
"""Deliveries EventBridge retries before the event goes to the dead-letter queue."""


def dead_letter_queue(name: str, parent: pulumi.Resource,
                      tags: Mapping[str, str]) -> aws.sqs.Queue:
    """An encrypted queue for the events (and failed asynchronous invocations) a component
    could not deliver, kept DLQ_RETENTION_SECONDS."""
    return aws.sqs.Queue(name, message_retention_seconds=DLQ_RETENTION_SECONDS,
                         sqs_managed_sse_enabled=True, tags=dict(tags),
                         opts=child_opts(parent))


def allow_dead_letters(name: str, parent: pulumi.Resource, queue: aws.sqs.Queue,
                       rules: Sequence[aws.cloudwatch.EventRule]) -> aws.sqs.QueuePolicy:
    """The queue's policy: EventBridge may send to it on behalf of `rules` only."""
    return aws.sqs.QueuePolicy(
        name, queue_url=queue.url,
        policy=pulumi.Output.all(queue.arn, *[rule.arn for rule in rules]).apply(
            lambda arns: json.dumps(document([statement(
                "Allow", ["sqs:SendMessage"], [arns[0]], sid="EventBridgeDeadLetters",
                principal={"Service": "events.amazonaws.com"},
                condition={"ArnEquals": {"aws:SourceArn": sorted(arns[1:])}})]),
                sort_keys=True)),
        opts=child_opts(parent))


def delivery(queue: aws.sqs.Queue, retry_attempts: int = DEFAULT_RETRY_ATTEMPTS,
             max_event_age_seconds: int = DEFAULT_MAX_EVENT_AGE_SECONDS) -> dict[str, Any]:
    """The ``retry_policy`` and ``dead_letter_config`` keyword arguments of an EventTarget."""
    return {"retry_policy": aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_retry_attempts=retry_attempts,
                maximum_event_age_in_seconds=max_event_age_seconds),
            "dead_letter_config": aws.cloudwatch.EventTargetDeadLetterConfigArgs(
                arn=queue.arn)}
