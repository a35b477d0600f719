"""Shared fixtures: the recording Pulumi mocks the SDK's own `mlops preview` uses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlops_components.plan import Plan, evaluate

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def run_pulumi() -> Callable[..., Plan]:
    """Run code that creates resources under the recording mocks; return the settled plan.

    The plan is returned only after every registration and output has resolved (the same
    wait `@pulumi.runtime.test` does), so assertions on it cannot pass by not running.
    """

    def run(program: Callable[[], Any], config: dict[str, str] | None = None,
            stack: str = "test") -> Plan:
        return evaluate(program, project="mlops", stack=stack, config=config)

    return run


def only(plan: Plan, type_token: str):
    """The single resource of ``type_token`` in the plan (fails if there is not exactly one)."""
    found = plan.of_type(type_token)
    assert len(found) == 1, f"expected one {type_token}, found {[r.name for r in found]}"
    return found[0]


#: The longest test files (minutes each), started first. With two xdist workers and
#: ``--dist loadfile``, a long file that starts late runs alone at the end (the suite took
#: 8.7 or 9.7 minutes depending on where the README test landed); longest first keeps both
#: workers busy to the end.
LONGEST_FIRST = (
    "tests/test_readme.py",
    "tests/env/test_training_under_image.py",
    "tests/local/test_end_to_end.py",
    "tests/local/test_concurrent_runs.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))
