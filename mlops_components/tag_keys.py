"""Tag keys the components write and the policy pack requires (bottom layer: config, the
components and the policy pack all read these)."""

from __future__ import annotations

MANAGED_BY_TAG = "managed-by"
MODEL_TAG = "model"
OWNER_TAG = "owner"
REQUIRED_TAGS = (OWNER_TAG, MODEL_TAG, MANAGED_BY_TAG)
"""The tags the policy pack requires on every taggable resource by default."""

NETWORK_ACCESS_TAG = "mlops:network-access"
"""A resource's own, visible exemption from the policy pack's network-isolation rule: the
pipeline steps (names separated by spaces) whose jobs need a network route."""
