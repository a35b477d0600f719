"""What a request must satisfy beyond botocore's own validation: the service model's max
lengths, enums and patterns (botocore checks types, required members and minimums only).
Patterns use Unicode classes (``\\p{L}``) that ``re`` lacks, hence the ``regex`` package."""

from __future__ import annotations

from typing import Any

import regex


def service_problems(value: Any, shape: Any, path: str) -> list[str]:
    """Every part of `value` that `shape` (a botocore shape) refuses, one line each."""
    problems = []
    metadata = shape.metadata
    if shape.type_name == "string" and isinstance(value, str):
        if "max" in metadata and len(value) > metadata["max"]:
            problems.append(f"{path}: longer than {metadata['max']}")
        if metadata.get("enum") and value not in metadata["enum"]:
            problems.append(f"{path}: not one of {metadata['enum']}")
        if "pattern" in metadata and not regex.fullmatch(metadata["pattern"], value,
                                                         regex.DOTALL):
            problems.append(f"{path}: {value!r} does not match {metadata['pattern']}")
    elif shape.type_name == "structure" and isinstance(value, dict):
        for name, member in value.items():
            problems += service_problems(member, shape.members[name], f"{path}.{name}")
    elif shape.type_name == "list" and isinstance(value, list):
        if "max" in metadata and len(value) > metadata["max"]:
            problems.append(f"{path}: more than {metadata['max']} items")
        for index, item in enumerate(value):
            problems += service_problems(item, shape.member, f"{path}[{index}]")
    elif shape.type_name == "map" and isinstance(value, dict):
        if "max" in metadata and len(value) > metadata["max"]:
            problems.append(f"{path}: more than {metadata['max']} entries")
        for key, item in value.items():
            problems += service_problems(key, shape.key, f"{path} key")
            problems += service_problems(item, shape.value, f"{path}[{key}]")
    return problems
