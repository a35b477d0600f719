"""The dev and prod plans are exactly the golden ones (tests/fixtures/plans).

The golden files were written from the plans before the package was regrouped; a change to
them is a change every live stack sees on its next `pulumi up`, so it is made on purpose:
set MLOPS_UPDATE_PLAN_SNAPSHOTS=1 to rewrite them and review the diff.
"""

from __future__ import annotations

import json
import os

import pytest

from mlops_components.plan import plan_stack
from tests.conftest import REPO_ROOT
from tests.plan_snapshot import normalise, snapshot_path


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_plan_equals_its_snapshot(stack):
    plan = normalise(json.loads(json.dumps(plan_stack(REPO_ROOT, stack).to_json())))
    path = snapshot_path(stack)
    if os.environ.get("MLOPS_UPDATE_PLAN_SNAPSHOTS") == "1":
        path.write_text(json.dumps(plan, indent=1, sort_keys=True) + "\n")
    expected = json.loads(path.read_text())
    assert {r["urn"] for r in plan["resources"]} == {r["urn"] for r in expected["resources"]}
    for resource, golden in zip(plan["resources"], expected["resources"], strict=True):
        assert resource == golden, f"{resource['urn']} changed"
    assert plan["outputs"] == expected["outputs"]
