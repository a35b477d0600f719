"""Closed sets of choices shared by the components, the config and the CLI."""

from __future__ import annotations

from enum import StrEnum

# The jobs run without this SDK installed, so training/ owns the enum and the SDK reuses it.
from training.contract import Estimator, ProblemType

__all__ = ["INITIAL_APPROVAL_STATUSES", "ApprovalStatus", "Estimator", "MonitorEngine",
           "ProblemType", "RetrainSource"]


class ApprovalStatus(StrEnum):
    """A model package's approval state (SageMaker's ModelApprovalStatus)."""

    PENDING_MANUAL_APPROVAL = "PendingManualApproval"
    """Waiting for a human (or a policy) to approve or reject it."""
    APPROVED = "Approved"
    """Approved: the endpoint deploys it."""
    REJECTED = "Rejected"
    """Rejected: never deployed."""


#: What a newly registered package may start as: a human approves, or it is auto-approved.
INITIAL_APPROVAL_STATUSES: tuple[ApprovalStatus, ...] = (
    ApprovalStatus.PENDING_MANUAL_APPROVAL, ApprovalStatus.APPROVED)


class MonitorEngine(StrEnum):
    """How drift is computed: our processing job, or SageMaker Model Monitor."""

    PROCESSING = "processing"
    """A scheduled SageMaker processing job runs the drift code of training/ (any account)."""
    MODEL_MONITOR = "model-monitor"
    """SageMaker Model Monitor (closed to new customers since 2026-07-30)."""


class RetrainSource(StrEnum):
    """What may start a retraining."""

    SCHEDULE = "schedule"
    """A schedule expression fires."""
    NEW_DATA = "new-data"
    """Objects are created under the bucket's raw/ prefix."""
    DRIFT = "drift"
    """A drift alarm enters ALARM."""
