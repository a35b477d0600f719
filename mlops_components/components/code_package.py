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
from mlops_components.sagemaker.requirements import (
    OFFLINE_PLAN_ENV,
    build_wheelhouse,
    parse_requirements,
    requirements_key,
)
from training.archives import tarball_bytes
from training.contract import (
    IMAGE_REQUIREMENTS_FILE,
    PACKAGE,
    REQUIREMENTS_FILE,
    wheelhouse_archive,
)

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
    """Collect ``source_dir``'s Python files and requirement pins as ``training/<path>``."""
    shipped = [*source_dir.rglob("*.py"),
               *(source_dir / name for name in (REQUIREMENTS_FILE, IMAGE_REQUIREMENTS_FILE)
                 if (source_dir / name).is_file())]
    files = {
        f"{PACKAGE}/{path.relative_to(source_dir).as_posix()}": path.read_bytes()
        for path in sorted(shipped)
        if "__pycache__" not in path.parts
    }
    if not files:
        raise ValueError(f"training code directory {source_dir} has no Python files")
    digest = hashlib.sha256()
    for path, content in sorted(files.items()):
        digest.update(path.encode() + b"\0" + hashlib.sha256(content).digest())
    return CodePackage(files=files, digest=digest.hexdigest()[:DIGEST_LENGTH])


@dataclass(frozen=True)
class Wheelhouse:
    """What ``training/requirements.txt`` needs beyond the image, as one offline archive."""

    key: str
    """Digest of the normalised requirements and image pins: names the archive."""
    path: Path
    """The archive on local disk (not built during an offline plan)."""

    @property
    def archive_name(self) -> str:
        return self.path.name


def training_wheelhouse(source_dir: Path = TRAINING_DIR) -> Wheelhouse | None:
    """The wheelhouse of ``source_dir``'s requirements; None when it needs nothing extra.

    Under a real Pulumi engine the wheels are downloaded (once per key, cached) so the archive
    can be uploaded; under the offline plan (``OFFLINE_PLAN_ENV``) only its key is computed,
    so ``mlops preview`` never touches the network. Raises WheelhouseError (one line).
    """
    requirements = source_dir / REQUIREMENTS_FILE
    if not requirements.is_file() or not parse_requirements(requirements):
        return None
    pins = source_dir / IMAGE_REQUIREMENTS_FILE
    if not pins.is_file():
        pins = TRAINING_DIR / IMAGE_REQUIREMENTS_FILE
    folder = Path(tempfile.gettempdir()) / "mlops-components" / "wheelhouses"
    path = folder / wheelhouse_archive(requirements_key(requirements, pins))
    if not os.environ.get(OFFLINE_PLAN_ENV):
        path = build_wheelhouse(requirements, pins, folder) or path
    return Wheelhouse(key=requirements_key(requirements, pins), path=path)
