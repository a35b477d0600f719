"""Writes that a crash cannot leave half done, and a lock for what runs share in a workdir.

Two `mlops up --local` runs (two terminals, a script) may share one workdir, and any of them
may be killed at any moment. A file is written to a temporary name in its own folder and
renamed over the target (``os.replace`` is atomic on one file system), so a reader sees the
old content or the new, never a cut-off file. Counters (execution IDs, registry versions) are
allocated under an exclusive ``fcntl.flock`` on a lock file: advisory, POSIX only (Linux,
macOS), released by the kernel when the holder dies, so a killed run leaves no stale lock.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Names the local runtime keeps for itself inside its folders (lock and temporary files).
PRIVATE_PREFIX = "."
LOCK_FILE = ".lock"


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` in one step: readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f"{PRIVATE_PREFIX}{path.name}.",
                                         suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data.encode() if isinstance(data, str) else data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold the exclusive lock of ``folder`` (its ``.lock`` file) for the ``with`` body."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_FILE, "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def is_partial_write(path: Path) -> bool:
    """Whether ``path`` is another writer's temporary file, not yet renamed into place."""
    return path.name.startswith(PRIVATE_PREFIX) and path.name.endswith(".tmp")
