"""Closed sets of choices shared by the components, the config and the CLI."""

from __future__ import annotations

from enum import Enum


class ProblemType(str, Enum):
    """What the model predicts."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"


class ApprovalStatus(str, Enum):
    """Status a newly registered model package gets (SageMaker's ModelApprovalStatus)."""

    PENDING_MANUAL_APPROVAL = "PendingManualApproval"
    APPROVED = "Approved"
    REJECTED = "Rejected"
