"""Shared fixtures: the recording Pulumi mocks the SDK's own `mlops preview` uses."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlops_components.plan import Plan, evaluate

# One OpenMP/BLAS thread per process. The suite already keeps both cores busy (two xdist
# workers, and runs that start jobs as processes); on top of that every scikit-learn fit asked
# for two OpenMP threads, and HistGradientBoosting's threads spun against each other: the
# default run's Train job took ~19 s with two threads and ~3 s with one, with the same model
# (the same metrics to the last digit). Set here, before any test imports scikit-learn, so the
# workers and every job they start inherit it; an explicit setting is kept.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

REPO_ROOT = Path(__file__).resolve().parent.parent

PIPELINE_RUN_FIXTURES = frozenset({"classification_run", "regression_run", "default_run"})
"""Session fixtures that run the whole training pipeline (profile → evaluate) in-process
(``default_run``: `mlops up --local` on the dev stack)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs a whole pipeline run is slow: out of the fast subset (-m "not slow")."""
    for item in items:
        named = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        if callspec is not None:  # a run chosen by name: request.getfixturevalue(param)
            named |= {value for value in callspec.params.values() if isinstance(value, str)}
        if PIPELINE_RUN_FIXTURES & named:
            item.add_marker(pytest.mark.slow)


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


def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile` with files that share whole runs on one worker, longest first
    (tests/scheduling.py)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from tests.scheduling import SharedRunScheduling

    return SharedRunScheduling(config, log)
