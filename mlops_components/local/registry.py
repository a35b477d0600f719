"""A model registry in a folder: what CreateModelPackage and the approval verbs do, locally."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_components.enums import ApprovalStatus
from mlops_components.sagemaker.packages import select_version

LOCAL_ACCOUNT = "000000000000"


@dataclass(frozen=True)
class LocalRegistry:
    """``root/<group>/<version>.json``, one file per model package."""

    root: Path

    def register(self, request: dict[str, Any]) -> dict[str, Any]:
        """Store a CreateModelPackage request as the next version of its group."""
        group = request["ModelPackageGroupName"]
        folder = self.root / group
        folder.mkdir(parents=True, exist_ok=True)
        version = 1 + max((int(path.stem) for path in folder.glob("*.json")), default=0)
        status = ApprovalStatus(request.get("ModelApprovalStatus",
                                            ApprovalStatus.PENDING_MANUAL_APPROVAL.value))
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

    def packages(self, group: str | None = None) -> list[dict[str, Any]]:
        """Every package (of one group), oldest first."""
        folders = [self.root / group] if group else sorted(
            path for path in self.root.glob("*") if path.is_dir())
        found = []
        for folder in folders:
            found += [json.loads(path.read_text())
                      for path in sorted(folder.glob("*.json"), key=lambda p: int(p.stem))]
        return found

    def get(self, group: str, version: int | None = None) -> dict[str, Any]:
        """One package; the latest of the group when ``version`` is None."""
        return select_version(self.packages(group), group, version, where=f" under {self.root}")

    def set_status(self, group: str, version: int | None, status: ApprovalStatus,
                   description: str = "") -> dict[str, Any]:
        """Approve or reject a package (UpdateModelPackage), recording who said why."""
        package = self.get(group, version)
        package["ModelApprovalStatus"] = ApprovalStatus(status).value
        package["ApprovalDescription"] = description
        package["LastModifiedTime"] = _now()
        self._write(package)
        return package

    def latest_approved(self, group: str) -> dict[str, Any] | None:
        approved = [p for p in self.packages(group)
                    if p["ModelApprovalStatus"] == ApprovalStatus.APPROVED.value]
        return approved[-1] if approved else None

    def _write(self, package: dict[str, Any]) -> None:
        path = self.root / package["ModelPackageGroupName"] / \
            f"{package['ModelPackageVersion']}.json"
        path.write_text(json.dumps(package, indent=2, sort_keys=True) + "\n")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
