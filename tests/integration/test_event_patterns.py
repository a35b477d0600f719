"""The registry's approval pattern, checked by EventBridge itself (moto) on real-shaped events.

moto does not implement TestEventPattern, but it delivers events that match a rule to the
rule's SQS target (the `rule_to_queue` fixture): an event that arrives in the queue matched,
one that does not arrive did not.
"""

from __future__ import annotations

import json

import pytest

from mlops_components.components.model_registry import approval_event_pattern


def package_state_change(group: str, status: str, package_status: str = "Completed") -> dict:
    """A SageMaker Model Package State Change event as EventBridge delivers it."""
    return {
        "Source": "aws.sagemaker",
        "DetailType": "SageMaker Model Package State Change",
        "Detail": json.dumps({
            "ModelPackageGroupName": group,
            "ModelPackageVersion": 3,
            "ModelPackageArn": f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{group}/3",
            "ModelApprovalStatus": status,
            "ModelPackageStatus": package_status,
        }),
        "Resources": [f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{group}/3"],
    }


def test_an_approval_in_the_group_matches(rule_to_queue):
    assert rule_to_queue(approval_event_pattern("churn"),
                         package_state_change("churn", "Approved"))


@pytest.mark.parametrize(("group", "status", "package_status"), [
    ("churn", "PendingManualApproval", "Completed"),
    ("churn", "Rejected", "Completed"),
    ("fraud", "Approved", "Completed"),
    ("churn", "Approved", "InProgress"),
    ("churn", "Approved", "Pending"),
    ("churn", "Approved", "Failed"),
])
def test_other_states_and_groups_do_not_match(rule_to_queue, group, status, package_status):
    assert not rule_to_queue(approval_event_pattern("churn"),
                             package_state_change(group, status, package_status))


# -- the local matcher (mlops up --local) agrees with EventBridge on every operator it has ----

ENTRY = {"Source": "custom.test", "DetailType": "Thing Happened",
         "Detail": json.dumps({"name": "raw/churn/a.csv", "count": 3, "flag": True,
                               "tags": ["red", "blue"], "nested": {"state": "ALARM"}})}


@pytest.mark.parametrize(("detail_pattern", "delivered"), [
    ({"name": ["raw/churn/a.csv"]}, True),
    ({"name": [{"prefix": "raw/"}]}, True),
    ({"name": [{"prefix": "processed/"}]}, False),
    ({"name": [{"anything-but": "raw/churn/a.csv"}]}, False),
    ({"name": [{"anything-but": {"prefix": "processed/"}}]}, True),
    ({"name": [{"anything-but": ["x", "y"]}]}, True),
    ({"count": [3]}, True),
    ({"count": ["3"]}, False),
    ({"flag": [True]}, True),
    ({"tags": ["blue"]}, True),
    ({"tags": ["green"]}, False),
    ({"missing": [{"exists": False}]}, True),
    ({"missing": [{"exists": True}]}, False),
    ({"name": [{"exists": True}]}, True),
    ({"nested": {"state": ["ALARM", "OK"]}}, True),
    ({"nested": {"state": ["OK"]}}, False),
    ({"name": {"state": ["ALARM"]}}, False),
])
def test_the_local_matcher_agrees_with_eventbridge(rule_to_queue, detail_pattern, delivered):
    pattern = {"source": ["custom.test"], "detail": detail_pattern}
    assert rule_to_queue(pattern, ENTRY) is delivered  # the fixture compares both
