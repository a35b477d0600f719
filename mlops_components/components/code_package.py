"""The `training/` code as SageMaker jobs receive it: content-addressed and byte-reproducible.

The S3 key of the code contains a digest of every file's path and bytes, so a code change
changes the pipeline definition and an unchanged tree changes nothing on the next `pulumi up`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import training
from training.archives import tarball_bytes
from training.contract import PACKAGE

TRAINING_DIR = Path(training.__file__).resolve().parent
DIGEST_LENGTH = 16


@dataclass(frozen=True)
class CodePackage:
    """The files of the training package, keyed by their path inside the code prefix."""

    files: dict[str, bytes]
    digest: str

    def tarball(self) -> bytes:
        """``sourcedir.tar.gz`` with the same files (reproducible: see training.archives)."""
        return tarball_bytes(self.files)

    def tarball_file(self) -> Path:
        """The tarball on local disk (content-addressed), for Pulumi to upload as an asset."""
        path = Path(tempfile.gettempdir()) / "mlops-components" / f"sourcedir-{self.digest}.tar.gz"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.partial")
            partial.write_bytes(self.tarball())
            partial.replace(path)
        return path


def package_training_code(source_dir: Path = TRAINING_DIR) -> CodePackage:
    """Collect ``source_dir``'s Python files as ``training/<relative path>``."""
    files = {
        f"{PACKAGE}/{path.relative_to(source_dir).as_posix()}": path.read_bytes()
        for path in sorted(source_dir.rglob("*.py"))
        if "__pycache__" not in path.parts
    }
    if not files:
        raise ValueError(f"training code directory {source_dir} has no Python files")
    digest = hashlib.sha256()
    for path, content in sorted(files.items()):
        digest.update(path.encode() + b"\0" + hashlib.sha256(content).digest())
    return CodePackage(files=files, digest=digest.hexdigest()[:DIGEST_LENGTH])
