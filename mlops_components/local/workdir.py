"""The local runtime's folder: an S3 stand-in, the registry and the job folders, per stack.

``<project>/.mlops/<stack>/`` holds ``s3/<bucket>/<key>`` (what `pulumi up` and the jobs would
put in S3), ``registry/<group>/<version>.json`` and ``jobs/<execution>/<job>/``. Everything
that needs one of these paths asks :class:`LocalWorkdir`.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from mlops_components.local.atomic import is_partial_write
from mlops_components.local.registry import LocalRegistry

WORKDIR_FOLDER = ".mlops"


def default_workdir(project_dir: Path, stack: str) -> Path:
    """``<project>/.mlops/<stack>``: one local S3, registry and job history per stack."""
    return Path(project_dir) / WORKDIR_FOLDER / stack


class LocalS3:
    """``s3://bucket/key`` ↔ ``<root>/bucket/key``."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, uri: str) -> Path:
        match = re.match(r"^s3://([^/]+)/?(.*)$", uri)
        if not match:
            raise ValueError(f"not an s3:// URI: {uri!r}")
        return self.root / match.group(1) / match.group(2)

    def objects(self, uri: str) -> list[tuple[str, Path]]:
        """Objects under a key prefix, as (path relative to the prefix, file)."""
        base = self.path(uri)
        if base.is_file():
            return [(base.name, base)]
        whole_bucket = re.match(r"^s3://[^/]+/?$", uri) is not None
        if whole_bucket and not uri.endswith("/"):
            uri += "/"
        prefix = base.name
        parent = base.parent if not uri.endswith("/") else base
        found = []
        if parent.is_dir():
            # Another run may be writing under the same prefix (atomic writes: a temporary
            # file, then a rename): only what is in place is an object.
            for file in sorted(p for p in parent.rglob("*")
                               if p.is_file() and not is_partial_write(p)):
                relative = file.relative_to(parent).as_posix()
                if uri.endswith("/") or relative.startswith(prefix):
                    cut = 0 if uri.endswith("/") else len(prefix)
                    found.append((relative[cut:].lstrip("/") or file.name, file))
        return found

    def download(self, uri: str, destination: Path) -> int:
        return copy_objects(self.objects(uri), destination)

    def read_text(self, uri: str) -> str | None:
        """The object's text, or None when there is no such object."""
        path = self.path(uri)
        return path.read_text() if path.is_file() else None

    def upload(self, source: Path, uri: str) -> None:
        target = self.path(uri)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def copy_objects(objects: list[tuple[str, Path]], destination: Path) -> int:
    """Copy (relative path, file) pairs under ``destination``; return how many."""
    destination.mkdir(parents=True, exist_ok=True)
    for relative, file in objects:
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, target)
    return len(objects)


@dataclass(frozen=True)
class LocalWorkdir:
    """Where a local runtime keeps its S3 stand-in, its registry and its jobs."""

    root: Path

    @property
    def s3(self) -> LocalS3:
        return LocalS3(self.root / "s3")

    @property
    def registry(self) -> LocalRegistry:
        return LocalRegistry(self.root / "registry")

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"


class WorkdirError(ValueError):
    """The workdir cannot be used: a file is in the way, or it cannot be written."""


def writable_workdir(root: Path) -> LocalWorkdir:
    """The workdir at ``root``, created if needed; an error naming it when that cannot be."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise WorkdirError(f"{root} is a file, not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as problem:
        raise WorkdirError(f"{root}: cannot create it ({problem.strerror})") from problem
    if not os.access(root, os.W_OK | os.X_OK):
        raise WorkdirError(f"{root}: not writable by this user")
    for name in ("s3", "registry", "jobs"):
        if (root / name).exists() and not (root / name).is_dir():
            raise WorkdirError(f"{root}: {root / name} is a file; it must be a folder")
    return LocalWorkdir(root)
