"""A model registry in a folder: what CreateModelPackage and the approval verbs do, locally.

``root/<group>/<version>.json``, one file per model package. Versions are allocated under the
registry's lock and every file is written atomically (:mod:`~mlops_components.local.atomic`),
so concurrent runs get distinct versions and a crash at any moment leaves the registry as it
was before or after, never broken. Files the registry does not own (``1.backup.json``, notes)
and files it cannot read are skipped with a :class:`RegistryWarning` naming them.
"""

from __future__ import annotations

import getpass
import json
import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_components.enums import ApprovalStatus
from mlops_components.local.atomic import PRIVATE_PREFIX, locked, write_atomic
from mlops_components.sagemaker.packages import (
    RegistryError,
    approval_description_problem,
    select_version,
)

LOCAL_ACCOUNT = "000000000000"
_VERSION_FILE_RE = re.compile(r"^([1-9]\d*)\.json$")


class RegistryWarning(UserWarning):
    """A file in the registry folder was skipped (not a version file, or unreadable)."""


@dataclass(frozen=True)
class LocalRegistry:
    """``root/<group>/<version>.json``, one file per model package."""

    root: Path

    def register(self, request: dict[str, Any]) -> dict[str, Any]:
        """Store a CreateModelPackage request as the next version of its group."""
        with locked(self.root):
            return self._register(request)

    def _register(self, request: dict[str, Any]) -> dict[str, Any]:
        """Store ``request`` as the next version of its group (the caller holds the lock)."""
        group = request["ModelPackageGroupName"]
        status = ApprovalStatus(request.get("ModelApprovalStatus",
                                            ApprovalStatus.PENDING_MANUAL_APPROVAL.value))
        # Unreadable version files still hold their number: a new package never takes it.
        version = 1 + max(self._version_files(group, warn=False), default=0)
        package = {
            **request,
            "ModelPackageVersion": version,
            "ModelPackageArn": f"arn:aws:sagemaker:local:{LOCAL_ACCOUNT}:model-package/"
                               f"{group.lower()}/{version}",
            "ModelApprovalStatus": status.value,
            "CreationTime": _now(),
        }
        self._write(package)
        return package

    def register_unique(self, request: dict[str, Any],
                        metadata_key: str) -> tuple[dict[str, Any], bool]:
        """Register ``request`` unless a package of its group already carries the same
        ``metadata_key`` value; return (the package, whether it was created). Checked under
        the lock, so two promotions of one package create one."""
        group = request["ModelPackageGroupName"]
        value = request["CustomerMetadataProperties"][metadata_key]
        with locked(self.root):
            for package in self.packages(group):
                if (package.get("CustomerMetadataProperties") or {}).get(metadata_key) == value:
                    return package, False
            return self._register(request), True

    def groups(self) -> list[str]:
        """Names of the groups that have a folder here."""
        if not self.root.is_dir():
            return []
        return sorted(path.name for path in self.root.iterdir()
                      if path.is_dir() and not path.name.startswith(PRIVATE_PREFIX))

    def packages(self, group: str | None = None) -> list[dict[str, Any]]:
        """Every readable package (of one group), oldest first."""
        found = []
        for name in [group] if group else self.groups():
            for path in self._version_files(name).values():
                package = _read_package(path)
                if package is not None:
                    found.append(package)
        return found

    def get(self, group: str, version: int | None = None) -> dict[str, Any]:
        """One package; the latest of the group when ``version`` is None."""
        return select_version(self.packages(group), group, version, where=f" under {self.root}")

    def set_status(self, group: str, version: int | None, status: ApprovalStatus,
                   description: str = "") -> dict[str, Any]:
        """Approve or reject a package (UpdateModelPackage), recording who (the OS user, as
        LastModifiedBy) said why and when; a description SageMaker would refuse is refused
        here too."""
        problem = approval_description_problem(description)
        if problem:
            raise RegistryError(f"approval description {problem}")
        with locked(self.root):
            package = self.get(group, version)
            package["ModelApprovalStatus"] = ApprovalStatus(status).value
            package["ApprovalDescription"] = description
            package["LastModifiedTime"] = _now()
            # DescribeModelPackage's LastModifiedBy (a UserContext); here the OS user.
            package["LastModifiedBy"] = {"UserProfileName": local_user()}
            self._write(package)
        return package

    def latest_approved(self, group: str) -> dict[str, Any] | None:
        approved = [p for p in self.packages(group)
                    if p["ModelApprovalStatus"] == ApprovalStatus.APPROVED.value]
        return approved[-1] if approved else None

    def _version_files(self, group: str, warn: bool = True) -> dict[int, Path]:
        """``{version: file}`` of a group, by number; other files are skipped (with a warning)."""
        folder = self.root / group
        if not folder.is_dir():
            return {}
        files = {}
        for path in folder.iterdir():
            match = _VERSION_FILE_RE.match(path.name)
            if match and path.is_file():
                files[int(match.group(1))] = path
            elif warn and not path.name.startswith(PRIVATE_PREFIX):
                _warn(f"registry: ignored {path}: not a package file (<version>.json)")
        return dict(sorted(files.items()))

    def _write(self, package: dict[str, Any]) -> None:
        group = package["ModelPackageGroupName"]
        if not isinstance(group, str) or "/" in group or group.startswith(PRIVATE_PREFIX):
            raise RegistryError(f"model package group {group!r}: not a valid group name")
        path = self.root / group / f"{package['ModelPackageVersion']}.json"
        write_atomic(path, json.dumps(package, indent=2, sort_keys=True) + "\n")


def _read_package(path: Path) -> dict[str, Any] | None:
    """The package in ``path``, or None (with a warning) when the file cannot be used."""
    try:
        package = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as problem:
        _warn(f"registry: ignored {path}: unreadable ({problem})")
        return None
    if not isinstance(package, dict) or "ModelPackageVersion" not in package:
        _warn(f"registry: ignored {path}: not a model package document")
        return None
    return package


def local_user() -> str:
    """Who runs this command: the OS user (``unknown`` when the system cannot say)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        return "unknown"


def _warn(message: str) -> None:
    warnings.warn(message, RegistryWarning, stacklevel=3)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
