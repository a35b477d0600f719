"""A moto server on 127.0.0.1, started by the tests themselves (no AWS account needed)."""

from __future__ import annotations

import contextlib
import json
import socket
import uuid
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from mlops_components.local.events import matches as local_matches

REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto server of its own on a free port of 127.0.0.1, stopped on leaving."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws_client(moto_endpoint, monkeypatch):
    """boto3 clients pointed at the moto server, with throwaway credentials."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)

    def client(service: str):
        return boto3.client(service, region_name=REGION, endpoint_url=moto_endpoint)

    return client


def delivered_event(entry: dict) -> dict:
    """The event EventBridge delivers for a PutEvents entry (the fields patterns can match)."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": entry["DetailType"],
            "source": entry["Source"], "account": "123456789012", "time": "2026-11-27T00:00:00Z",
            "region": "us-east-1", "resources": entry.get("Resources", []),
            "detail": json.loads(entry.get("Detail") or "{}")}


@pytest.fixture
def rule_to_queue(aws_client):
    """Create a rule with a pattern whose target is a fresh SQS queue; return a matcher.

    Every call also asks the local matcher (`mlops up --local` runs the stack's rules with
    it) and fails if it disagrees with EventBridge (moto), so each pattern test is a parity
    test too.
    """
    events, sqs = aws_client("events"), aws_client("sqs")

    def matches(pattern: dict, event: dict) -> bool:
        name = f"rule-{uuid.uuid4().hex[:8]}"
        queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": queue_arn}])
        events.put_events(Entries=[event])
        # moto delivers to a rule's targets within the PutEvents call, so the queue holds the
        # event now or never: no long poll (a second per non-matching event).
        received = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)
        events.remove_targets(Rule=name, Ids=["queue"])
        events.delete_rule(Name=name)
        arrived = bool(received.get("Messages"))
        assert local_matches(pattern, delivered_event(event)) is arrived, (
            f"the local matcher says {not arrived}, EventBridge {arrived}: {pattern} / {event}")
        return arrived

    return matches
