"""Reading resource properties the way both the policy analyzer and the offline plan give them.

Properties are pulumi-aws's input names in camelCase (``versioningConfiguration``), values
plain JSON; under `pulumi preview` some are unknown, and pulumi-policy's proxy raises
``UnknownValueError`` when one is read. Rules read through :func:`prop`, which turns an
unknown into :data:`UNKNOWN` so a rule can skip what it cannot judge yet instead of losing
every other check of the stack.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import json
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from pulumi_policy.proxy import UnknownValueError


class _Unknown:
    def __repr__(self) -> str:
        return "<unknown>"

    def __bool__(self) -> bool:
        return False


UNKNOWN: Any = _Unknown()
"""A value known only after `pulumi up` (an ID, an ARN of a resource not created yet)."""


def prop(value: Any, *path: str | int, default: Any = None) -> Any:
    """``value[path[0]][path[1]]...``; ``default`` where a step is missing, :data:`UNKNOWN`
    where a step is not known yet."""
    try:
        for step in path:
            if isinstance(step, int):
                if not isinstance(value, (list, tuple)) or step >= len(value):
                    return default
                value = value[step]
            else:
                if not isinstance(value, Mapping) or step not in value:
                    return default
                value = value[step]
                if value is None:
                    return default
        return value
    except UnknownValueError:
        return UNKNOWN


def as_list(value: Any) -> list[Any]:
    """A JSON policy's "string or list" fields as a list."""
    if value is None or value is UNKNOWN:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def parse_json(value: Any) -> Any:
    """A JSON document given as text (pulumi-aws's policy and definition inputs) or as a
    mapping; None where it is missing, unknown or not JSON."""
    if isinstance(value, Mapping):
        return value
    if not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def walk(value: Any) -> Iterator[Any]:
    """Every mapping and list inside ``value`` (depth first), ``value`` included."""
    stack = [value]
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def stack_of(urn: str) -> str:
    """The stack name in a URN (``urn:pulumi:<stack>::<project>::<type>::<name>``)."""
    parts = urn.split(":")
    return parts[2] if len(parts) > 2 and urn.startswith("urn:pulumi:") else ""


def matches_any(value: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


@cache
def is_taggable(type_token: str) -> bool:
    """Whether pulumi-aws's resource of ``type_token`` takes a ``tags`` input (read from the
    resource class itself, so a new pulumi-aws type is covered without a list to update)."""
    parts = type_token.split(":")
    if len(parts) != 3 or parts[0] != "aws":
        return False
    module_name = parts[1].split("/")[0]
    module = "pulumi_aws" if module_name == "index" else f"pulumi_aws.{module_name}"
    try:
        resource_class = getattr(importlib.import_module(module), parts[2])
        init = resource_class._internal_init
    except (ImportError, AttributeError):
        try:
            resource_class = getattr(importlib.import_module(f"{module}_"), parts[2])
            init = resource_class._internal_init
        except (ImportError, AttributeError):
            return False
    return "tags" in inspect.signature(init).parameters
