"""EventBridge's event-pattern matching, for running a stack's rules on this machine.

`mlops up --local` asks "would the retrain rule fire on this alarm event?" without
EventBridge. This implements the part of the pattern language the components write (and a
little more): nested objects, lists of exact values, ``prefix``, ``anything-but`` (a value,
a list or a prefix) and ``exists``. Any other operator raises :class:`UnsupportedPattern`
rather than guessing; tests check every rule of the package against moto's EventBridge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_MISSING = object()


class UnsupportedPattern(ValueError):
    """The pattern uses something this matcher does not implement."""


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether EventBridge would deliver ``event`` to a rule with ``pattern``."""
    for key, expected in pattern.items():
        value = event.get(key, _MISSING) if isinstance(event, Mapping) else _MISSING
        if isinstance(expected, Mapping):
            if not isinstance(value, Mapping) or not matches(expected, value):
                return False
        elif isinstance(expected, list):
            if not any(_matches_one(rule, value) for rule in expected):
                return False
        else:
            raise UnsupportedPattern(f"pattern field {key!r}: {expected!r} is neither an "
                                     "object nor a list of values")
    return True


def _values(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _equal(rule: Any, value: Any) -> bool:
    """JSON equality: true is not 1, and "1" is not 1."""
    if isinstance(rule, bool) or isinstance(value, bool):
        return rule is value
    if isinstance(rule, str) != isinstance(value, str):
        return False
    return rule == value


def _matches_one(rule: Any, value: Any) -> bool:
    if not isinstance(rule, Mapping):
        return value is not _MISSING and any(_equal(rule, v) for v in _values(value))
    if len(rule) != 1:
        raise UnsupportedPattern(f"content filter {rule!r} must have exactly one operator")
    ((operator, argument),) = rule.items()
    if operator == "exists":
        return (value is not _MISSING) is bool(argument)
    if value is _MISSING:
        return False
    if operator == "prefix":
        return any(isinstance(v, str) and v.startswith(argument) for v in _values(value))
    if operator == "anything-but":
        if isinstance(argument, Mapping):
            if set(argument) != {"prefix"}:
                raise UnsupportedPattern(f"anything-but {argument!r} is not supported")
            return all(isinstance(v, str) and not v.startswith(argument["prefix"])
                       for v in _values(value))
        excluded = _values(argument)
        return all(not any(_equal(e, v) for e in excluded) for v in _values(value))
    raise UnsupportedPattern(f"content filter {operator!r} is not supported locally "
                             "(supported: prefix, anything-but, exists)")
