"""Closed sets of choices shared by the components, the config and the CLI."""

from __future__ import annotations

from enum import StrEnum

# The jobs run without this SDK installed, so training/ owns the enum and the SDK reuses it.
from training.metrics import ProblemType

__all__ = ["ApprovalStatus", "ProblemType"]


class ApprovalStatus(StrEnum):
    """Status a newly registered model package gets (SageMaker's ModelApprovalStatus)."""

    PENDING_MANUAL_APPROVAL = "PendingManualApproval"
    APPROVED = "Approved"
    REJECTED = "Rejected"
