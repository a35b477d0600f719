"""The registry's approval pattern, checked by EventBridge itself (moto) on real-shaped events.

moto does not implement TestEventPattern, but it delivers events that match a rule to the
rule's SQS target: an event that arrives in the queue matched, one that does not arrive did not.
"""

from __future__ import annotations

import json
import uuid

import pytest

from mlops_components.components.model_registry import approval_event_pattern


def package_state_change(group: str, status: str) -> dict:
    """A SageMaker Model Package State Change event as EventBridge delivers it."""
    return {
        "Source": "aws.sagemaker",
        "DetailType": "SageMaker Model Package State Change",
        "Detail": json.dumps({
            "ModelPackageGroupName": group,
            "ModelPackageVersion": 3,
            "ModelPackageArn": f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{group}/3",
            "ModelApprovalStatus": status,
            "ModelPackageStatus": "Completed",
        }),
        "Resources": [f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{group}/3"],
    }


@pytest.fixture
def rule_to_queue(aws_client):
    """Create a rule with a pattern whose target is a fresh SQS queue; return a matcher."""
    events, sqs = aws_client("events"), aws_client("sqs")

    def matches(pattern: dict, event: dict) -> bool:
        name = f"rule-{uuid.uuid4().hex[:8]}"
        queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": queue_arn}])
        events.put_events(Entries=[event])
        received = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)
        events.remove_targets(Rule=name, Ids=["queue"])
        events.delete_rule(Name=name)
        return bool(received.get("Messages"))

    return matches


def test_an_approval_in_the_group_matches(rule_to_queue):
    assert rule_to_queue(approval_event_pattern("churn"),
                         package_state_change("churn", "Approved"))


@pytest.mark.parametrize(("group", "status"), [
    ("churn", "PendingManualApproval"),
    ("churn", "Rejected"),
    ("fraud", "Approved"),
])
def test_other_states_and_groups_do_not_match(rule_to_queue, group, status):
    assert not rule_to_queue(approval_event_pattern("churn"),
                             package_state_change(group, status))
