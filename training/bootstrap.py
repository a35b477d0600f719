"""The entry point of every job: install what the image lacks, offline, then run the job.

    python3 training/bootstrap.py <job> [job args...]
    MLOPS_JOB=train python3 training/bootstrap.py --n-estimators 100   (script-mode training)

Jobs run with network isolation, so nothing can come from the internet at run time. What
``training/requirements.txt`` lists arrives as a wheelhouse (wheels for CPython 3.12 manylinux
x86_64 plus that file) built at deploy time; this script installs the wheels the image lacks
with ``pip install --no-index --no-deps --target <temporary site dir>``, puts that folder first
on the import path (and on PYTHONPATH, for worker processes), and runs the job's module
(``training.<stage>.<job>``) as ``__main__``. With no wheelhouse, it checks the requirements
are already installed (the local job environment) and runs the job, or stops with one line
saying what is missing. Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def unpack_code(code_dir: Path, package: str) -> Path:
    """The folder that holds the whole `package`: `code_dir` itself, or a temporary folder
    with the archive from `code_dir` whose members are the package's, unpacked.

    A processing job's code location holds this script and the package as one archive (one S3
    object instead of one per module); a training job's container has already unpacked it.
    Standard library only, and no project import: it runs before the package is importable.
    """
    if (code_dir / package / "__init__.py").is_file():
        return code_dir
    import atexit
    import shutil
    import tarfile
    import tempfile

    for archive in sorted(code_dir.glob("*.tar.gz")):
        with tarfile.open(archive, "r:gz") as source:
            if not any(name.startswith(f"{package}/") for name in source.getnames()):
                continue
            unpacked = Path(tempfile.mkdtemp(prefix="mlops-code-"))
            atexit.register(shutil.rmtree, unpacked, ignore_errors=True)
            source.extractall(unpacked, filter="data")
            return unpacked
    raise SystemExit(f"bootstrap: {code_dir} holds neither the {package} package nor an "
                     "archive of it")


if __name__ == "__main__":
    # Run as a script, Python puts training/ itself first on sys.path, where a module of ours
    # could shadow one of the standard library's. Import from the code dir instead, and let
    # the jobs' own processes import it too.
    _here = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _here]
    _code_dir = str(unpack_code(_here.parent, _here.name))
    sys.path.insert(0, _code_dir)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        part for part in (_code_dir, os.environ.get("PYTHONPATH", "")) if part)

import importlib.metadata  # noqa: E402
import re  # noqa: E402
import runpy  # noqa: E402
import subprocess  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Mapping, MutableMapping, Sequence  # noqa: E402

from training.contract import (  # noqa: E402
    JOB_ENV,
    PACKAGE,
    PROCESSING_WHEELHOUSE_DIR,
    REQUIREMENTS_CHECK_ENV,
    REQUIREMENTS_CHECK_WARN,
    REQUIREMENTS_FILE,
    TRAINING_WHEELHOUSE_DIR,
    WHEELHOUSE_ENV,
    WHEELHOUSE_GLOB,
    Job,
)

CODE_DIR = Path(sys.modules[PACKAGE].__file__).resolve().parent.parent
"""The folder that holds the whole ``training`` package: the job's code location, or where
`unpack_code` put the package's archive."""

InstalledVersion = Callable[[str], "str | None"]


class BootstrapError(RuntimeError):
    """The job cannot start; the message is one line saying why and what to do."""


def split_job_argv(argv: Sequence[str], environ: Mapping[str, str]) -> tuple[Job, list[str]]:
    """The job and its own arguments: ``<job> args...``, else ``$MLOPS_JOB`` and all of argv."""
    allowed = ", ".join(job.value for job in Job)
    if argv and argv[0] in {job.value for job in Job}:
        return Job(argv[0]), list(argv[1:])
    named = environ.get(JOB_ENV, "")
    if named:
        try:
            return Job(named), list(argv)
        except ValueError:
            raise BootstrapError(f"bootstrap: {JOB_ENV}={named!r} is not a job "
                                 f"(allowed: {allowed})") from None
    if argv and not argv[0].startswith("-"):
        raise BootstrapError(f"bootstrap: unknown job {argv[0]!r} (allowed: {allowed})")
    raise BootstrapError(
        f"bootstrap: no job given: pass one of {allowed} first, or set {JOB_ENV}")


def wheelhouse_candidates(code_dir: Path, environ: Mapping[str, str]) -> list[Path]:
    """Where a wheelhouse may be, in order: $MLOPS_WHEELHOUSE, the code dir, the job inputs."""
    candidates = [Path(environ[WHEELHOUSE_ENV])] if environ.get(WHEELHOUSE_ENV) else []
    for folder in (code_dir, code_dir / PACKAGE):
        candidates += sorted(folder.glob(WHEELHOUSE_GLOB))
    candidates += [Path(PROCESSING_WHEELHOUSE_DIR), Path(TRAINING_WHEELHOUSE_DIR)]
    return candidates


def find_wheelhouse(candidates: Sequence[Path]) -> Path | None:
    """The first candidate that is a wheelhouse archive or a folder holding one (or wheels)."""
    for candidate in candidates:
        if candidate.is_file() and candidate.name.endswith(".tar.gz"):
            return candidate
        if candidate.is_dir():
            archives = sorted(candidate.glob(WHEELHOUSE_GLOB))
            if archives:
                return archives[0]
            if any(candidate.glob("*.whl")) or (candidate / REQUIREMENTS_FILE).is_file():
                return candidate
    return None


def open_wheelhouse(wheelhouse: Path, scratch: Path) -> Path:
    """A folder with the wheelhouse's wheels: the folder itself, or the archive unpacked."""
    if wheelhouse.is_dir():
        return wheelhouse
    unpacked = scratch / "wheelhouse"
    unpacked.mkdir(parents=True, exist_ok=True)
    with tarfile.open(wheelhouse, "r:gz") as archive:
        archive.extractall(unpacked, filter="data")
    return unpacked


def canonical_name(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_name_version(filename: str) -> tuple[str, str]:
    """(canonical name, version) of a wheel file name."""
    parts = filename[: -len(".whl")].split("-")
    return canonical_name(parts[0]), parts[1]


def installed_version(name: str) -> str | None:
    """The installed version of distribution `name`, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def wheels_to_install(wheel_dir: Path, installed: InstalledVersion = installed_version
                      ) -> list[Path]:
    """The wheelhouse's wheels not already installed at the same version (image or earlier)."""
    return [wheel for wheel in sorted(wheel_dir.glob("*.whl"))
            if installed(wheel_name_version(wheel.name)[0]) != wheel_name_version(wheel.name)[1]]


def read_pins(path: Path) -> list[tuple[str, str]]:
    """(canonical name, version) of each ``name==version`` line of a requirements file."""
    if not path.is_file():
        return []
    pins = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins.append((canonical_name(name.split("[", 1)[0].strip()), version.strip()))
    return pins


def unsatisfied(pins: Sequence[tuple[str, str]], installed: InstalledVersion = installed_version
                ) -> list[str]:
    """The pins not installed at exactly their version, as ``name==version``."""
    return [f"{name}=={version}" for name, version in pins if installed(name) != version]


def install_command(wheels: Sequence[Path], target: Path, python: str = sys.executable
                    ) -> list[str]:
    """Offline install of exactly these wheels (the wheelhouse holds the whole closure)."""
    return [python, "-m", "pip", "install", "--no-index", "--no-deps", "--no-compile",
            "--disable-pip-version-check", "--no-warn-script-location", "--quiet",
            "--target", str(target), *map(str, wheels)]


def activate(site_dir: Path, environ: MutableMapping[str, str]) -> None:
    """Make `site_dir` importable here and in every process the job starts."""
    sys.path.insert(0, str(site_dir))
    environ["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(site_dir), environ.get("PYTHONPATH", "")) if part)


def prepare(code_dir: Path, environ: MutableMapping[str, str], scratch: Path, *,
            runner: Callable[..., subprocess.CompletedProcess] = subprocess.run,
            installed: InstalledVersion = installed_version) -> str:
    """Install what the job needs beyond the image; returns the line that says what was done."""
    started = time.monotonic()
    candidates = wheelhouse_candidates(code_dir, environ)
    wheelhouse = find_wheelhouse(candidates)
    if wheelhouse is None:
        pins = read_pins(code_dir / PACKAGE / REQUIREMENTS_FILE)
        if not pins:
            return "bootstrap: no requirements beyond the image"
        missing = unsatisfied(pins, installed)
        if missing and environ.get(REQUIREMENTS_CHECK_ENV) == REQUIREMENTS_CHECK_WARN:
            return (f"bootstrap: warning: {', '.join(missing)} not installed as pinned; "
                    "running with what this interpreter has")
        if missing:
            looked = ", ".join(str(path) for path in candidates) or "nowhere"
            raise BootstrapError(
                f"bootstrap: {PACKAGE}/{REQUIREMENTS_FILE} needs {', '.join(missing)} "
                f"but no wheelhouse was found (looked in: {looked})")
        return f"bootstrap: all {len(pins)} requirements already installed; no wheelhouse used"
    wheel_dir = open_wheelhouse(wheelhouse, scratch)
    wheels = wheels_to_install(wheel_dir, installed)
    if not wheels:
        return f"bootstrap: {wheelhouse}: every package already installed"
    site_dir = scratch / "site-packages"
    result = runner(install_command(wheels, site_dir), capture_output=True, text=True,
                    check=False)
    if result.returncode != 0:
        lines = [line for line in f"{result.stdout}\n{result.stderr}".splitlines() if line.strip()]
        raise BootstrapError(f"bootstrap: offline install from {wheelhouse} failed: "
                             f"{lines[-1] if lines else 'pip printed nothing'}")
    activate(site_dir, environ)
    names = ", ".join(" ".join(wheel_name_version(wheel.name)) for wheel in wheels)
    return (f"bootstrap: installed {names} from {wheelhouse} "
            f"({time.monotonic() - started:.1f} s, offline)")


def run_job(job: Job, args: Sequence[str]) -> None:
    """Run the job's module as ``__main__`` with `args` as its command line."""
    sys.argv = [str(CODE_DIR / job.script), *args]
    runpy.run_module(job.module, run_name="__main__", alter_sys=True)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        job, args = split_job_argv(argv, os.environ)
        scratch = Path(tempfile.mkdtemp(prefix="mlops-bootstrap-"))
        print(prepare(CODE_DIR, os.environ, scratch), flush=True)
    except BootstrapError as error:
        print(error, file=sys.stderr)
        return 2
    run_job(job, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
