"""The interpreter local jobs run under: the image's Python with exactly the image's packages.

`mlops up --local` runs jobs under Python 3.12 with the pins of the SageMaker scikit-learn
image (``training/image-requirements.txt``) plus ``training/requirements.txt``, installed once
into a virtual environment cached under a key of those files, so a module the image lacks or
a pandas-3-only call fails here first, not in the cloud. The development interpreter (3.11,
newer pandas) is an explicit opt-out (:func:`dev_environment`), never a silent fallback.

Building is atomic: a temporary folder beside the cache entry, renamed into place once the
install verified; a lock file keeps two builds of the same key from running at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from mlops_components.sagemaker.requirements import Requirement, parse_requirements
from training.contract import JOB_PYTHON

CACHE_ENV = "MLOPS_JOB_ENV_CACHE"
"""Overrides the cache folder of job environments."""
DEFAULT_CACHE = Path("~/.cache/mlops-components/job-env")
READY_FILE = ".mlops-job-env.json"
"""Written last inside a built environment: an environment without it is never used."""
IMAGE_PYTHON = f"{JOB_PYTHON[0]}.{JOB_PYTHON[1]}"
MINORS = range(8, 16)
PROBE_TIMEOUT_SECONDS = 15
BUILD_LAYOUT = "bytecode-compiled"
"""How an environment is built, part of its cache key: environments built before bytecode was
compiled at install time (every job then recompiled each module it imports, seconds per job
when bytecode writes are off) are rebuilt once instead of being reused."""

Progress = Callable[[str], None]
Runner = Callable[..., subprocess.CompletedProcess]
Probe = Callable[[Path], "tuple[int, int, int] | None"]


class JobEnvironmentError(RuntimeError):
    """No job environment could be had; the message is one line saying why and what to do."""


class FoundPython(NamedTuple):
    """An interpreter for the jobs, and why it was chosen."""

    path: Path
    version: tuple[int, int, int]
    reason: str

    @property
    def exact(self) -> bool:
        return self.version[:2] == JOB_PYTHON

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


@dataclass(frozen=True)
class JobEnvironment:
    """The interpreter local jobs run under, and what to tell the user about it."""

    python: Path
    """The executable: run jobs as ``[python, ...]`` instead of ``sys.executable``."""
    version: str
    exact: bool
    """True when it is the image's Python with the image's pins."""
    description: str
    """One line for the run summary: which environment ran the jobs."""
    key: str | None
    """Cache key (None for the development interpreter)."""


# --------------------------------------------------------------------------------------
# Finding an interpreter
# --------------------------------------------------------------------------------------


def pyenv_root(environ: Mapping[str, str] = os.environ) -> Path | None:
    """``$PYENV_ROOT``, else ``~/.pyenv`` when it exists (what ``pyenv root`` prints)."""
    root = environ.get("PYENV_ROOT")
    if root:
        return Path(root)
    default = Path.home() / ".pyenv"
    return default if default.is_dir() else None


def candidate_pythons(root: Path | None, path_env: str) -> list[Path]:
    """Interpreters worth probing: pyenv's builds first (newest patch first), then PATH."""
    found: list[Path] = []
    if root is not None:
        versions = sorted((root / "versions").glob("3.*"), key=_version_sort_key, reverse=True)
        for folder in versions:
            match = re.fullmatch(r"3\.(\d+)(?:\.\d+)?", folder.name)
            if match:
                executable = folder / "bin" / f"python3.{match.group(1)}"
                if executable.is_file():
                    found.append(executable)
    for directory in filter(None, path_env.split(os.pathsep)):
        for minor in reversed(MINORS):
            executable = Path(directory) / f"python3.{minor}"
            if executable.is_file() and executable not in found:
                found.append(executable)
    return found


def _version_sort_key(folder: Path) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in folder.name.split("."))


def probe_python(executable: Path) -> tuple[int, int, int] | None:
    """The version `executable` really runs as, or None (a pyenv shim of an unselected
    version exits non-zero, and a broken link does not run at all)."""
    try:
        result = subprocess.run(
            [str(executable), "-c", "import sys; print(*sys.version_info[:3])"],
            capture_output=True, text=True, timeout=PROBE_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = result.stdout.split()
    if result.returncode != 0 or len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2])


def choose_python(probed: Sequence[tuple[Path, tuple[int, int, int]]]) -> FoundPython | None:
    """The image's minor version if present (newest patch), else the closest minor.

    A tie goes to the newer minor: the image's pins (numpy 2.5, scikit-learn 1.9) publish
    wheels for newer Pythons, and no longer for older ones.
    """
    usable = [(path, version) for path, version in probed if version[0] == JOB_PYTHON[0]]
    if not usable:
        return None
    exact = [(path, version) for path, version in usable if version[:2] == JOB_PYTHON]
    if exact:
        path, version = max(exact, key=lambda item: item[1])
        return FoundPython(path, version, f"Python {IMAGE_PYTHON} like the image")
    path, version = min(usable, key=lambda item: (abs(item[1][1] - JOB_PYTHON[1]),
                                                  -item[1][1], -item[1][2]))
    return FoundPython(path, version,
                       f"no Python {IMAGE_PYTHON} found; Python {version[0]}.{version[1]} "
                       "is the closest available")


def find_job_python(*, environ: Mapping[str, str] = os.environ,
                    probe: Probe = probe_python) -> FoundPython:
    """The interpreter for local jobs: exactly 3.12 from pyenv or PATH (verified by running
    it), else the closest that runs, with the reason. Raises JobEnvironmentError if none.

    Candidates named like the image's Python are probed first and the search stops at the
    first that really runs as it, so a warm `mlops up --local` pays for one probe.
    """
    candidates = candidate_pythons(pyenv_root(environ), environ.get("PATH", ""))
    image_name = f"python{IMAGE_PYTHON}"
    candidates.sort(key=lambda path: path.name != image_name)  # stable: keeps pyenv first
    probed: list[tuple[Path, tuple[int, int, int]]] = []
    for path in candidates:
        version = probe(path)
        if version is None:
            continue
        probed.append((path, version))
        if version[:2] == JOB_PYTHON:
            break
    chosen = choose_python(probed)
    if chosen is None:
        raise JobEnvironmentError(
            f"no Python 3 interpreter found for the jobs (looked in pyenv versions and PATH); "
            f"install Python {IMAGE_PYTHON} (pyenv install {IMAGE_PYTHON})")
    return chosen


# --------------------------------------------------------------------------------------
# Keys, descriptions, cache locations (pure)
# --------------------------------------------------------------------------------------


def environment_key(pins: Sequence[Requirement], requirements: Sequence[Requirement],
                    python_version: tuple[int, int, int]) -> str:
    """A stable key of what the environment holds: interpreter version and both pin sets."""
    digest = hashlib.sha256(BUILD_LAYOUT.encode() + b"\0")
    digest.update(".".join(map(str, python_version)).encode())
    for group in (pins, requirements):
        digest.update(b"\0" + "\n".join(str(req) for req in sorted(group)).encode())
    return digest.hexdigest()[:16]


def describe(found: FoundPython, with_requirements: bool) -> str:
    """The summary line naming the environment that ran the jobs."""
    extra = " + training/requirements.txt" if with_requirements else ""
    if found.exact:
        return f"job environment: Python {found.version_text}, image pins{extra} (as the image)"
    return (f"job environment: Python {found.version[0]}.{found.version[1]}, image pins{extra}; "
            f"the image runs {IMAGE_PYTHON} ({found.reason})")


def cache_root(cache_dir: Path | None = None, environ: Mapping[str, str] = os.environ) -> Path:
    """Where environments live: `cache_dir`, else $MLOPS_JOB_ENV_CACHE, else ~/.cache/..."""
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()


def venv_python(env_dir: Path) -> Path:
    """The interpreter of a virtual environment."""
    return env_dir / "bin" / "python"


def ready_environment(env_dir: Path) -> JobEnvironment | None:
    """The environment in `env_dir` if it was completely built, else None."""
    try:
        record = json.loads((env_dir / READY_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not venv_python(env_dir).exists():
        return None
    return JobEnvironment(python=venv_python(env_dir), version=record["version"],
                          exact=record["exact"], description=record["description"],
                          key=record["key"])


@contextmanager
def build_lock(root: Path, key: str, progress: Progress) -> Iterator[None]:
    """Hold an exclusive lock for building `key` (waits for another process building it)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{key}.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress("job environment: another run is building it; waiting")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------


def _run_step(step: str, command: Sequence[str], runner: Runner) -> None:
    result = runner(list(command), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = [line.strip() for line in f"{result.stdout}\n{result.stderr}".splitlines()
                 if line.strip() and "is ignored: it is neither a file" not in line]
        raise JobEnvironmentError(
            f"job environment: {step} failed: {lines[-1] if lines else 'no output'}")


VERIFY_SCRIPT = """
import importlib.metadata, json, sys
def installed(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "missing"
bad = [f"{name} {installed(name)} (pinned {version})"
       for name, version in json.loads(sys.argv[1]) if installed(name) != version]
print("; ".join(bad))
sys.exit(1 if bad else 0)
"""
"""Run inside the new environment: every pin installed at exactly its version."""


def install_command(python: Path) -> list[str]:
    """The command that installs into the environment of ``python``: uv when present, else pip.

    uv (a dependency of this package) resolves and installs the image's ~50 pins in seconds
    where pip takes minutes; pip inside the new environment is the fallback. Both write the
    packages' bytecode once, here: uv does not by default, and a job process that cannot write
    it (``PYTHONDONTWRITEBYTECODE``, a read-only cache) would otherwise compile pandas,
    scikit-learn and scipy from source at every start, 2-4 s of each job.
    """
    try:
        import uv

        return [uv.find_uv_bin(), "pip", "install", "--quiet", "--compile-bytecode",
                "--python", str(python)]
    except (ImportError, FileNotFoundError):
        return [str(python), "-m", "pip", "install", "--disable-pip-version-check",
                "--no-input", "--quiet", "--compile"]


def build_environment(env_dir: Path, python: Path, pins: Path, requirements: Path, *,
                      progress: Progress, runner: Runner = subprocess.run) -> None:
    """Create a venv in `env_dir` with exactly the image pins, then the job requirements.

    The image's lock is a complete closure resolved with overrides pip cannot express (it
    pins flask 3.1 where sagemaker-containers asks for 1.1), so the pins go in with
    ``--no-deps``; the requirements then resolve normally, constrained by the pins so nothing
    the image has changes. A final check compares every installed version with its pin.
    """
    install = install_command(venv_python(env_dir))
    progress(f"job environment: creating a virtual environment with {python}")
    _run_step("creating the virtual environment", [str(python), "-m", "venv", str(env_dir)],
              runner)
    progress("job environment: installing the image's pins (about a minute, once)")
    _run_step(f"installing {pins.name}",
              [*install, "--no-deps", "-r", str(pins)], runner)
    wanted = parse_requirements(pins) + parse_requirements(requirements)
    if parse_requirements(requirements):
        progress(f"job environment: installing {requirements.name}")
        _run_step(f"installing {requirements.name}",
                  [*install, "-r", str(requirements), "-c", str(pins)], runner)
    progress("job environment: checking installed versions against the pins")
    _run_step("checking versions",
              [str(venv_python(env_dir)), "-c", VERIFY_SCRIPT,
               json.dumps([[req.name, req.version] for req in wanted])], runner)


Builder = Callable[..., None]


def ensure_job_environment(pins: Path, requirements: Path, cache_dir: Path | None = None, *,
                           allow_fallback: bool = True, progress: Progress | None = None,
                           found: FoundPython | None = None,
                           builder: Builder = build_environment) -> JobEnvironment:
    """The cached job environment for these pins, built first if needed (1-2 minutes once).

    `found` overrides interpreter discovery; `allow_fallback=False` refuses anything but the
    image's Python. A warm call reads one small file and runs no subprocess.
    """
    say = progress or (lambda _message: None)
    found = found or find_job_python()
    if not found.exact and not allow_fallback:
        raise JobEnvironmentError(
            f"job environment: no Python {IMAGE_PYTHON} found and fallback is disabled; "
            f"install it (pyenv install {IMAGE_PYTHON}) or run with the development "
            "interpreter explicitly")
    extra = parse_requirements(requirements)
    key = environment_key(parse_requirements(pins), extra, found.version)
    root = cache_root(cache_dir)
    target = root / key
    ready = ready_environment(target)
    if ready is not None:
        return ready
    with build_lock(root, key, say):
        ready = ready_environment(target)  # built by whoever held the lock before us
        if ready is not None:
            return ready
        started = time.monotonic()
        scratch = Path(tempfile.mkdtemp(prefix=f".{key}.building-", dir=root))
        try:
            builder(scratch, found.path, pins, requirements, progress=say)
            environment = JobEnvironment(
                python=venv_python(target), version=found.version_text, exact=found.exact,
                description=describe(found, bool(extra)), key=key)
            (scratch / READY_FILE).write_text(json.dumps({
                "version": environment.version, "exact": environment.exact,
                "description": environment.description, "key": key,
                "interpreter": str(found.path)}))
            if target.exists():  # left without a ready file by something else: never used
                shutil.rmtree(target)
            os.replace(scratch, target)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        say(f"job environment: built in {time.monotonic() - started:.0f} s ({target})")
        return environment


def dev_environment() -> JobEnvironment:
    """The opt-out: jobs run under this interpreter and its packages, and the summary says so."""
    version = platform.python_version()
    return JobEnvironment(
        python=Path(sys.executable), version=version, exact=False,
        description=(f"job environment: the development interpreter (Python {version}, its own "
                     f"packages), not the image's Python {IMAGE_PYTHON} and pins"),
        key=None)


def clean_stale_builds(root: Path, older_than_seconds: float = 3600.0) -> list[Path]:
    """Remove half-built folders left by an interrupted build; returns what was removed."""
    removed = []
    now = time.time()
    for scratch in root.glob(".*.building-*"):
        if scratch.is_dir() and now - scratch.stat().st_mtime > older_than_seconds:
            shutil.rmtree(scratch, ignore_errors=True)
            removed.append(scratch)
    return removed
