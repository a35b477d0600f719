"""The local model registry: CreateModelPackage versions, approval, and errors that name things."""

from __future__ import annotations

import json
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from mlops_components.enums import ApprovalStatus
from mlops_components.local import atomic
from mlops_components.local.registry import LocalRegistry, RegistryWarning
from mlops_components.sagemaker.packages import RegistryError


def request(group: str = "churn", **fields) -> dict:
    return {"ModelPackageGroupName": group,
            "InferenceSpecification": {"Containers": [{"ModelDataUrl": "s3://b/m.tar.gz"}]},
            **fields}


@pytest.fixture
def registry(tmp_path) -> LocalRegistry:
    return LocalRegistry(tmp_path / "registry")


def test_versions_count_up_per_group_and_survive_a_new_registry_object(registry):
    first = registry.register(request())
    second = registry.register(request())
    other = registry.register(request("fraud"))

    assert [first["ModelPackageVersion"], second["ModelPackageVersion"]] == [1, 2]
    assert other["ModelPackageVersion"] == 1
    assert second["ModelPackageArn"].endswith("model-package/churn/2")
    reopened = LocalRegistry(registry.root)
    assert [p["ModelPackageVersion"] for p in reopened.packages("churn")] == [1, 2]
    assert {p["ModelPackageGroupName"] for p in reopened.packages()} == {"churn", "fraud"}
    assert reopened.get("churn") == second


def test_versions_sort_as_numbers_not_as_file_names(registry):
    for _ in range(11):
        registry.register(request())

    assert [p["ModelPackageVersion"] for p in registry.packages("churn")] == list(range(1, 12))
    assert registry.get("churn")["ModelPackageVersion"] == 11
    assert registry.register(request())["ModelPackageVersion"] == 12


def test_a_new_package_waits_for_approval_unless_the_request_says_otherwise(registry):
    pending = registry.register(request())
    approved = registry.register(request(ModelApprovalStatus="Approved"))

    assert pending["ModelApprovalStatus"] == ApprovalStatus.PENDING_MANUAL_APPROVAL.value
    assert approved["ModelApprovalStatus"] == "Approved"
    with pytest.raises(ValueError, match="Approve"):
        registry.register(request(ModelApprovalStatus="Approve"))
    assert len(registry.packages("churn")) == 2


def test_latest_approved_follows_approvals_and_rejections(registry):
    for _ in range(3):
        registry.register(request())
    assert registry.latest_approved("churn") is None

    registry.set_status("churn", 1, ApprovalStatus.APPROVED)
    assert registry.latest_approved("churn")["ModelPackageVersion"] == 1
    registry.set_status("churn", 3, ApprovalStatus.APPROVED)
    assert registry.latest_approved("churn")["ModelPackageVersion"] == 3
    registry.set_status("churn", 3, ApprovalStatus.REJECTED, "drifts on new data")
    assert registry.latest_approved("churn")["ModelPackageVersion"] == 1
    assert registry.latest_approved("fraud") is None


def test_set_status_writes_the_package_file_with_who_said_why(registry):
    registry.register(request())
    registry.register(request())

    returned = registry.set_status("churn", None, "Rejected", "worse than v1 on recall")

    stored = json.loads((registry.root / "churn" / "2.json").read_text())
    assert stored["ModelApprovalStatus"] == "Rejected"
    assert stored["ApprovalDescription"] == "worse than v1 on recall"
    assert "LastModifiedTime" in stored
    assert returned == stored
    untouched = json.loads((registry.root / "churn" / "1.json").read_text())
    assert untouched["ModelApprovalStatus"] == "PendingManualApproval"


def test_an_approval_description_follows_sagemaker_s_1024_character_limit(registry):
    registry.register(request())
    registry.set_status("churn", 1, "Approved", "x" * 1024)  # SageMaker's maximum: accepted

    with pytest.raises(RegistryError, match="is 1025 characters; SageMaker's "
                                            "ApprovalDescription allows at most 1024"):
        registry.set_status("churn", 1, "Rejected", "x" * 1025)
    assert registry.get("churn", 1)["ModelApprovalStatus"] == "Approved"  # unchanged


def test_an_unknown_version_is_an_error_naming_the_group_the_version_and_the_known_ones(
        registry):
    registry.register(request())
    registry.register(request())

    with pytest.raises(RegistryError) as raised:
        registry.set_status("churn", 7, ApprovalStatus.APPROVED)
    message = str(raised.value)
    assert "'churn'" in message and "7" in message and "1, 2" in message
    assert all(p["ModelApprovalStatus"] == "PendingManualApproval"
               for p in registry.packages("churn"))


def test_an_empty_or_unknown_group_is_an_error_naming_the_group(registry):
    registry.register(request())

    with pytest.raises(RegistryError, match="'fraud'"):
        registry.get("fraud")
    with pytest.raises(RegistryError, match="'fraud'"):
        registry.set_status("fraud", None, ApprovalStatus.APPROVED)
    assert registry.packages("fraud") == []
    assert isinstance(RegistryError("x"), LookupError)


# -- concurrency and crashes ---------------------------------------------------------------


def _register_many(root: str, count: int) -> list[int]:
    registry = LocalRegistry(Path(root))
    return [registry.register(request())["ModelPackageVersion"] for _ in range(count)]


def test_processes_registering_at_once_get_distinct_versions(registry):
    with ProcessPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(_register_many, [str(registry.root)] * 6, [5] * 6))

    versions = sorted(v for result in results for v in result)
    assert versions == list(range(1, 31))
    assert [p["ModelPackageVersion"] for p in registry.packages("churn")] == versions


class _Crash(Exception):
    """Stands in for the process dying at one write point."""


@pytest.mark.parametrize("write_point", ["mkstemp", "write", "fsync", "replace"])
def test_a_crash_at_any_write_point_leaves_the_registry_as_it_was(registry, monkeypatch,
                                                                  write_point):
    registry.register(request())
    registry.set_status("churn", 1, ApprovalStatus.APPROVED, "ok")
    before = registry.packages("churn")

    def crash(*_args, **_kwargs):
        raise _Crash(write_point)

    target = {"mkstemp": (atomic.tempfile, "mkstemp"), "write": (atomic.os, "fdopen"),
              "fsync": (atomic.os, "fsync"), "replace": (atomic.os, "replace")}[write_point]
    with monkeypatch.context() as patch:
        patch.setattr(*target, crash)
        with pytest.raises(_Crash):
            registry.register(request())
        with pytest.raises(_Crash):
            registry.set_status("churn", 1, ApprovalStatus.REJECTED, "no")

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the registry has nothing to complain about
        assert registry.packages("churn") == before
    assert [p.name for p in (registry.root / "churn").iterdir()] == ["1.json"]
    assert registry.register(request())["ModelPackageVersion"] == 2


def test_a_kill_mid_write_leaves_a_temporary_file_that_is_ignored(registry):
    """kill -9 between write and rename: the half-written temporary file is not a version."""
    registry.register(request())
    (registry.root / "churn" / ".2.json.k3j4.tmp").write_text('{"ModelPackageVer')

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [p["ModelPackageVersion"] for p in registry.packages("churn")] == [1]
    assert registry.register(request())["ModelPackageVersion"] == 2


def test_files_the_registry_does_not_own_are_skipped_with_a_warning(registry):
    registry.register(request())
    folder = registry.root / "churn"
    (folder / "1.backup.json").write_text((folder / "1.json").read_text())
    (folder / "notes.txt").write_text("reviewed on Monday")
    (folder / "2.json").write_text('{"ModelPackageVersion": 2, "Mod')  # cut off by a crash

    with pytest.warns(RegistryWarning) as caught:
        packages = registry.packages("churn")

    assert [p["ModelPackageVersion"] for p in packages] == [1]
    messages = sorted(str(w.message) for w in caught)
    assert any("1.backup.json: not a package file" in m for m in messages), messages
    assert any("notes.txt: not a package file" in m for m in messages), messages
    assert any("2.json: unreadable" in m for m in messages), messages
    # The cut-off file still holds its number: the next package does not overwrite it.
    assert registry.register(request())["ModelPackageVersion"] == 3


def test_a_decision_records_who_made_it_why_and_when(registry, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "alice")
    registry.register(request())

    decided = registry.set_status("churn", 1, ApprovalStatus.REJECTED, "leaks the label")

    stored = LocalRegistry(registry.root).get("churn", 1)
    assert stored == decided
    assert stored["LastModifiedBy"] == {"UserProfileName": "alice"}
    assert stored["ApprovalDescription"] == "leaks the label"
    assert stored["LastModifiedTime"]
