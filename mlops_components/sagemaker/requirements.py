"""What jobs need beyond the image: pinned requirements, their key, and the offline wheelhouse.

Jobs run with network isolation, so whatever ``training/requirements.txt`` lists is downloaded
here, at deploy time, as wheels for the image's platform (CPython 3.12, manylinux x86_64),
packed into ``wheelhouse-<key>.tar.gz`` and uploaded beside the code; ``training/bootstrap.py``
installs it offline before the job starts. The key is a hash of the normalised pins, so the
offline plan (`mlops preview`) can name the archive without downloading anything.

Standard library only: the builder imports this module at definition time.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from training.archives import tarball_bytes
from training.contract import JOB_PYTHON, REQUIREMENTS_FILE, wheelhouse_archive

#: Set by the offline plan (``mlops preview``, ``mlops up --local``): components then name the
#: wheelhouse by its key without building it, so planning never downloads anything.
OFFLINE_PLAN_ENV = "MLOPS_OFFLINE_PLAN"

PYTHON_VERSION = f"{JOB_PYTHON[0]}.{JOB_PYTHON[1]}"
ABI = f"cp{JOB_PYTHON[0]}{JOB_PYTHON[1]}"
IMAGE_GLIBC_MINOR = 34
"""Amazon Linux 2023 (the image's base) ships glibc 2.34: wheels up to manylinux_2_34 run."""
PLATFORMS: tuple[str, ...] = (
    "manylinux2014_x86_64",
    *(f"manylinux_2_{minor}_x86_64" for minor in range(17, IMAGE_GLIBC_MINOR + 1)),
)
"""Every platform tag the image accepts. pip does not widen an explicit ``--platform`` to older
glibc versions, and numpy 2.5 / scikit-learn 1.9 publish only manylinux_2_27/2_28 wheels, so
``manylinux2014`` alone finds nothing for them."""
KEY_LENGTH = 16

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_PIN = re.compile(rf"^(?P<name>{_NAME})(?P<extras>\[[^\]]*\])?\s*==\s*(?P<version>[^\s;#,]+)$")

Runner = Callable[..., subprocess.CompletedProcess]


class RequirementsError(ValueError):
    """A requirements file is not a list of exact pins; the message is one line."""


class WheelhouseError(RuntimeError):
    """The wheelhouse could not be built; the message is one line naming the requirement."""


@dataclass(frozen=True, order=True)
class Requirement:
    """One ``name==version`` line of a requirements file."""

    name: str
    """Canonical distribution name (PEP 503: lower case, runs of ``-_.`` as ``-``)."""
    version: str
    extras: str = ""

    def __str__(self) -> str:
        return f"{self.name}{self.extras}=={self.version}"


def canonical_name(name: str) -> str:
    """PEP 503 normalised distribution name: ``Scikit_Learn`` -> ``scikit-learn``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirements(source: Path | str, *, label: str | None = None) -> list[Requirement]:
    """The exact pins of a requirements file (or its text), in file order.

    Only ``name==version`` lines (optionally with extras) are allowed, besides comments and
    blank lines: the job environment must be reproducible, and pip options or ranges would
    make the wheelhouse depend on the day it was built.
    """
    if isinstance(source, Path):
        label = label or str(source)
        try:
            text = source.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RequirementsError(f"{label}: file not found") from None
    else:
        text = source
        label = label or "requirements"
    found: list[Requirement] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        match = _PIN.match(line)
        if match is None:
            raise RequirementsError(
                f"{label} line {number}: {line!r} is not an exact pin "
                "(allowed: name==version, e.g. lightgbm==4.6.0)"
            )
        name = canonical_name(match["name"])
        if name in seen:
            raise RequirementsError(
                f"{label} line {number}: {name} is pinned twice (first on line {seen[name]})"
            )
        seen[name] = number
        found.append(Requirement(name, match["version"], (match["extras"] or "").lower()))
    return found


def _normalised(requirements: Sequence[Requirement]) -> str:
    return "\n".join(str(req) for req in sorted(requirements))


def requirements_key(requirements: Path, pins: Path) -> str:
    """A short stable hash of the normalised requirements, the image pins and the target.

    Comments, blank lines, order and name spelling do not change it; any version does. Pure
    and offline: `mlops preview` names the wheelhouse object with it.
    """
    digest = hashlib.sha256()
    for part in (
        f"python={PYTHON_VERSION};abi={ABI};platforms={','.join(PLATFORMS)}",
        _normalised(parse_requirements(requirements)),
        _normalised(parse_requirements(pins)),
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:KEY_LENGTH]


def pip_download_command(requirements: Path, pins: Path, destination: Path,
                         python: Sequence[str] = (sys.executable,)) -> list[str]:
    """The `pip download` that fetches wheels for the image's interpreter and platform."""
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    return [
        *python, "-m", "pip", "download", "--disable-pip-version-check", "--no-input",
        "--only-binary=:all:", *platforms, "--python-version", PYTHON_VERSION,
        "--implementation", "cp", "--abi", ABI,
        "--dest", str(destination), "-r", str(requirements), "-c", str(pins),
    ]


def wheel_name_version(filename: str) -> tuple[str, str]:
    """(canonical name, version) from a wheel file name (``name-version-...-tag.whl``)."""
    parts = filename[: -len(".whl")].split("-")
    if len(parts) < 5 or not filename.endswith(".whl"):
        raise ValueError(f"{filename!r} is not a wheel file name")
    return canonical_name(parts[0]), parts[1]


def wheels_missing_from_image(wheels: Sequence[Path], pins: Sequence[Requirement]) -> list[Path]:
    """The wheels the image lacks: all but those whose name and version the image pins."""
    pinned = {(pin.name, pin.version) for pin in pins}
    return sorted(
        (wheel for wheel in wheels if wheel_name_version(wheel.name) not in pinned),
        key=lambda wheel: wheel.name,
    )


def failure_line(requirements: Sequence[Requirement], output: str) -> str:
    """One line for a failed download: the requirement pip could not get and pip's last line."""
    lines = [line.strip() for line in output.splitlines()
             if line.strip() and "is ignored: it is neither a file nor a directory" not in line]
    last = lines[-1] if lines else "pip printed nothing"
    for line in reversed(lines):
        match = re.search(r"(?:No matching distribution found for|requirement) (\S+)", line)
        if match:
            return (f"cannot download {match.group(1)} for CPython {PYTHON_VERSION} "
                    f"manylinux x86_64: {last}")
    named = ", ".join(str(req) for req in requirements)
    return f"cannot download the wheels of {named}: {last}"


def pack_wheelhouse(wheels: Sequence[Path], requirements: Path, archive: Path) -> Path:
    """Write a byte-for-byte reproducible tar.gz of the wheels and the requirements file.

    Sorted members, zero timestamps and owners, fixed modes, and a gzip header without a
    time stamp: the same wheels always give the same archive (and the same S3 ETag).
    """
    members = {REQUIREMENTS_FILE: requirements.read_bytes(),
               **{wheel.name: wheel.read_bytes() for wheel in wheels}}
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(f".{archive.name}.{os.getpid()}.partial")
    partial.write_bytes(tarball_bytes(members))
    os.replace(partial, archive)
    return archive


def build_wheelhouse(requirements: Path, pins: Path, destination: Path, *,
                     runner: Runner = subprocess.run,
                     python: Sequence[str] = (sys.executable,)) -> Path | None:
    """Download what `requirements` needs for the image and pack ``wheelhouse-<key>.tar.gz``.

    Returns the archive in `destination` (reused when it already exists: the key covers
    every input), or None when `requirements` lists nothing. Wheels the image already has
    at the pinned version are left out; `pins` constrain the resolution so nothing the image
    has is replaced. Raises WheelhouseError with one line on any failure.
    """
    wanted = parse_requirements(requirements)
    if not wanted:
        return None
    archive = destination / wheelhouse_archive(requirements_key(requirements, pins))
    if archive.is_file():
        return archive
    pinned = parse_requirements(pins)
    with tempfile.TemporaryDirectory(prefix="mlops-wheelhouse-") as scratch:
        download_dir = Path(scratch)
        try:
            result = runner(pip_download_command(requirements, pins, download_dir, python),
                            capture_output=True, text=True, check=False)
        except OSError as error:
            raise WheelhouseError(f"cannot run pip to download the wheelhouse: {error}") from None
        if result.returncode != 0:
            raise WheelhouseError(failure_line(wanted, f"{result.stdout}\n{result.stderr}"))
        wheels = sorted(download_dir.glob("*.whl"))
        return pack_wheelhouse(wheels_missing_from_image(wheels, pinned), requirements, archive)


def clear_wheelhouses(destination: Path, keep: str) -> None:
    """Remove cached wheelhouses other than the one named `keep` (a file name)."""
    for old in destination.glob(wheelhouse_archive("*")):
        if old.name != keep:
            old.unlink(missing_ok=True)


__all__ = [
    "PLATFORMS", "Requirement", "RequirementsError", "WheelhouseError", "build_wheelhouse",
    "canonical_name", "clear_wheelhouses", "pack_wheelhouse", "parse_requirements",
    "pip_download_command", "requirements_key", "wheel_name_version",
    "wheels_missing_from_image",
]
