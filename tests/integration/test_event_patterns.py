"""The registry's approval pattern, checked by EventBridge itself (moto) on real-shaped events.

moto does not implement TestEventPattern, but it delivers events that match a rule to the
rule's SQS target (the `rule_to_queue` fixture): an event that arrives in the queue matched,
one that does not arrive did not.
"""

from __future__ import annotations

import json

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
