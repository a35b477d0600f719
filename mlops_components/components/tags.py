"""Tags and names shared by every component."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from mlops_components import tag_keys

MANAGED_BY_TAG = {tag_keys.MANAGED_BY_TAG: "mlops-components"}


def tags_for(model: str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The tags every child resource carries: who manages it, which model, plus the user's."""
    tags = dict(MANAGED_BY_TAG)
    if model:
        tags[tag_keys.MODEL_TAG] = model
    tags.update(extra or {})
    return tags


def child_opts(parent: pulumi.Resource, **kwargs) -> pulumi.ResourceOptions:
    """Options for a component's child: parented to the component (providers inherit)."""
    return pulumi.ResourceOptions(parent=parent, **kwargs)
