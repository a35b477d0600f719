"""The one writer of tar.gz archives: byte-for-byte reproducible, standard library only.

Used for model.tar.gz (by the training job, and by the local runtime where SageMaker would
pack the model folder) and for the code archive the components upload. Entries are sorted,
with zero timestamps, no owners and mode 0644; the gzip header carries no name or time, so
the same files always give the same bytes (and the same content address).
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Mapping
from pathlib import Path


def tarball_bytes(files: Mapping[str, bytes]) -> bytes:
    """A .tar.gz holding ``files`` (archive path -> content)."""
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped:
        with tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(files):
                info = tarfile.TarInfo(name)
                info.size = len(files[name])
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(files[name]))
    return raw.getvalue()


def pack_folder(folder: str | Path, archive_path: str | Path) -> Path:
    """Write every file under ``folder`` (by its relative path) to ``archive_path``."""
    folder, archive_path = Path(folder), Path(archive_path)
    files = {path.relative_to(folder).as_posix(): path.read_bytes()
             for path in folder.rglob("*")
             if path.is_file() and path.resolve() != archive_path.resolve()}
    if not files:
        raise FileNotFoundError(f"nothing to package: {folder} has no files")
    archive_path.parent.mkdir(parents=True, exist_ok=True)
    archive_path.write_bytes(tarball_bytes(files))
    return archive_path
