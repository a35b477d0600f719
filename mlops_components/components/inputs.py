"""Every component's inputs in one shape for every Pulumi language.

Pulumi's component provider host (``pulumi.provider.experimental``, served by
``provider/__main__.py``) infers the package schema from type annotations: the ``args``
parameter of each component's ``__init__``, the fields of that Args class (and of every
nested Args), and the component's own annotated outputs. A YAML, TypeScript or Go program's
inputs then reach the component as a dict keyed by Python field names, nested Args as dicts.

:func:`cross_language` makes a component fit both sides without a second API:

- annotations written as strings (``from __future__ import annotations``) become the objects
  the analyzer reads, evaluated in the defining module exactly as Python would without the
  future import;
- ``__init__``'s ``args`` is annotated as the Args class itself (a Python caller may still
  leave it out where the component has a default);
- a dict given as ``args`` becomes that Args dataclass through :func:`args_from_inputs`, the
  one conversion: fields left out keep the dataclass defaults, and the component then
  validates the result exactly as it validates a Python caller's Args.

Only plain types cross languages: strings, numbers, bools, enums, lists, string-keyed maps
and nested Args dataclasses (``pulumi.Input`` of these too). Fields are annotated with such
types only; a test analyzes every component as the host does. Two things the host (pulumi
3.272, ``ComponentProvider.map_input_properties``) does that the conversion allows for: every
number arrives as a float (its conversion of integers is overwritten), so an integral float
becomes the int a field asks for; and each item of a list of enums arrives as an empty dict,
so no field is a list of enums (``RetrainTriggerArgs.cooldown_sources`` lists the values as
strings, validated by the component).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import sys
import types
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NotRequired, TypeVar

import pulumi
from pulumi.provider.experimental.util import camel_case

from mlops_components.validation import Problems, ValidationError, is_known

__all__ = ["args_from_inputs", "cross_language", "resolve_annotations"]

C = TypeVar("C", bound=type)

_RESOLVED = "__mlops_annotations_resolved__"


def resolve_annotations(cls: type) -> None:
    """Replace ``cls``'s string annotations by the objects they name (in ``cls``'s module),
    and do the same for every dataclass they refer to.

    A dataclass field with a default is annotated ``NotRequired[...]`` at run time (the
    source keeps the plain type): the analyzer takes only that, or ``| None``, for an
    optional input, and a field with a default needs no value from any language.
    """
    if cls.__dict__.get(_RESOLVED):
        return
    module = vars(sys.modules[cls.__module__])
    annotations = cls.__dict__.get("__annotations__", {})
    resolved = {name: eval(hint, module) if isinstance(hint, str) else hint  # noqa: S307
                for name, hint in annotations.items()}
    if dataclasses.is_dataclass(cls):
        for field in dataclasses.fields(cls):
            if field.name in resolved and (field.default is not dataclasses.MISSING or
                                           field.default_factory is not dataclasses.MISSING):
                resolved[field.name] = NotRequired[resolved[field.name]]
    cls.__annotations__ = resolved
    setattr(cls, _RESOLVED, True)
    for hint in resolved.values():
        for nested in _classes_in(hint):
            if dataclasses.is_dataclass(nested):
                resolve_annotations(nested)


def _classes_in(hint: Any) -> list[type]:
    if isinstance(hint, type):
        return [hint]
    return [found for arg in typing.get_args(hint) for found in _classes_in(arg)]


def cross_language(args_type: type) -> Callable[[C], C]:
    """Class decorator of a component whose inputs are ``args_type`` (a dataclass)."""

    def decorate(component: C) -> C:
        resolve_annotations(component)
        resolve_annotations(args_type)
        original = component.__init__
        module = vars(sys.modules[component.__module__])

        @functools.wraps(original)
        def __init__(self: Any, name: str, *rest: Any, **keywords: Any) -> None:
            if rest and isinstance(rest[0], Mapping):
                rest = (args_from_inputs(args_type, rest[0], f"{component.__name__} '{name}'"),
                        *rest[1:])
            elif isinstance(keywords.get("args"), Mapping):
                keywords["args"] = args_from_inputs(args_type, keywords["args"],
                                                    f"{component.__name__} '{name}'")
            original(self, name, *rest, **keywords)

        __init__.__annotations__ = {
            **{key: eval(hint, module) if isinstance(hint, str) else hint  # noqa: S307
               for key, hint in original.__annotations__.items()},
            "args": args_type}
        component.__init__ = __init__
        return component

    return decorate


def args_from_inputs(args_type: type, inputs: Mapping[str, Any], owner: str) -> Any:
    """The ``args_type`` dataclass that ``inputs`` (Python field names, as the provider maps
    them) describe; every input that does not fit its field's type is one line of the
    :class:`ValidationError`, named by its path in the schema (camelCase)."""
    problems = Problems(owner)
    value = _convert(args_type, inputs, "", problems)
    problems.raise_if_any()
    return value


def _convert(hint: Any, value: Any, path: str, problems: Problems) -> Any:
    if value is None or not is_known(value) or hint is Any:
        return value
    origin = typing.get_origin(hint)
    if origin is NotRequired:
        return _convert(typing.get_args(hint)[0], value, path, problems)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)
                   and typing.get_origin(arg) is not Awaitable
                   and not isinstance(arg, typing.ForwardRef)]  # pulumi.Input's Output[T]
        return _convert(members[0], value, path, problems)
    if origin is pulumi.Output:
        return value
    if dataclasses.is_dataclass(hint):
        return _dataclass(hint, value, path, problems)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return problems.one_of(path, value, hint)
    if hint is bool:
        problems.check(isinstance(value, bool), path, "must be true or false", value)
        return value
    if hint is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)  # every number arrives as a float
        problems.check(isinstance(value, int) and not isinstance(value, bool), path,
                       "must be an integer", value)
        return value
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        problems.check(ok, path, "must be a number", value)
        return float(value) if ok else value
    if hint is str:
        problems.check(isinstance(value, str), path, "must be a string", value)
        return value
    if origin is not None and issubclass(origin, Mapping):
        if not isinstance(value, Mapping):
            problems.add(path, "must be a map", value)
            return value
        item = typing.get_args(hint)[1]
        return {key: _convert(item, entry, f"{path}.{key}", problems)
                for key, entry in value.items()}
    if origin is not None and issubclass(origin, Sequence):
        if isinstance(value, str) or not isinstance(value, Sequence):
            problems.add(path, "must be a list", value)
            return value
        item = typing.get_args(hint)[0]
        return [_convert(item, entry, f"{path}[{index}]", problems)
                for index, entry in enumerate(value)]
    raise TypeError(f"{path}: {hint!r} is not a type that crosses languages")


def _dataclass(cls: type, value: Any, path: str, problems: Problems) -> Any:
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        problems.add(path or "args", "must be an object", value)
        return value
    resolve_annotations(cls)
    hints = {name: hint for klass in reversed(cls.__mro__)
             for name, hint in klass.__dict__.get("__annotations__", {}).items()}
    fields = {field.name for field in dataclasses.fields(cls) if field.init}
    values = {}
    for name, entry in value.items():
        where = f"{path}.{camel_case(name)}" if path else camel_case(name)
        if name not in fields:
            problems.add(where, f"is not an input of {cls.__name__}", entry)
            continue
        values[name] = _convert(hints[name], entry, where, problems)
    try:
        return cls(**values)
    except (TypeError, ValidationError) as error:
        problems.add(path or "args", str(error), value)
        return value
