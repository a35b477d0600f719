"""The local job environment: interpreter discovery, keys, locking, atomic builds, a real build."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from mlops_components.local.job_env import (
    READY_FILE,
    FoundPython,
    JobEnvironmentError,
    dev_environment,
    ensure_job_environment,
    environment_key,
    find_job_python,
    install_command,
)
from mlops_components.sagemaker.requirements import parse_requirements
from tests.env.conftest import CACHE_ROOT, PINS, REQUIREMENTS


def fake_python(path: Path, version: str | None) -> Path:
    """An executable that answers the version probe like `python` (None: a failing shim)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    failing_shim = "echo 'pyenv: not selected' >&2; exit 127"
    body = f"echo {version.replace('.', ' ')}" if version else failing_shim
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def test_prefers_exact_312_from_pyenv_and_skips_a_shim_that_does_not_run(tmp_path: Path) -> None:
    root = tmp_path / "pyenv"
    fake_python(root / "versions/3.13.0/bin/python3.13", "3.13.0")
    exact = fake_python(root / "versions/3.12.1/bin/python3.12", "3.12.1")
    shims = tmp_path / "shims"
    fake_python(shims / "python3.12", None)
    found = find_job_python(environ={"PYENV_ROOT": str(root), "PATH": str(shims)})
    assert (found.path, found.version, found.exact) == (exact, (3, 12, 1), True)


def test_without_312_the_closest_is_used_and_the_reason_says_so(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_python(bin_dir / "python3.12", None)  # a shim of an unselected version
    fake_python(bin_dir / "python3.11", "3.11.7")
    newer = fake_python(bin_dir / "python3.13", "3.13.0")
    fake_python(bin_dir / "python3.9", "3.9.18")
    found = find_job_python(environ={"PYENV_ROOT": str(tmp_path / "none"), "PATH": str(bin_dir)})
    assert found.path == newer and not found.exact
    assert found.reason == "no Python 3.12 found; Python 3.13 is the closest available"


def test_no_interpreter_at_all_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(JobEnvironmentError, match="no Python 3 interpreter found"):
        find_job_python(environ={"PYENV_ROOT": str(tmp_path), "PATH": str(tmp_path)})


def test_fallback_can_be_refused(tmp_path: Path) -> None:
    closest = FoundPython(tmp_path / "python3.11", (3, 11, 7), "closest")
    with pytest.raises(JobEnvironmentError, match="no Python 3.12 found and fallback is disabled"):
        ensure_job_environment(PINS, REQUIREMENTS, tmp_path, allow_fallback=False, found=closest,
                               builder=lambda *a, **k: pytest.fail("must not build"))


def test_key_covers_the_interpreter_and_both_pin_sets() -> None:
    pins, reqs = parse_requirements(PINS), parse_requirements(REQUIREMENTS)
    base = environment_key(pins, reqs, (3, 12, 1))
    assert base == environment_key(list(reversed(pins)), reqs, (3, 12, 1))
    assert base != environment_key(pins, reqs, (3, 12, 2))
    assert base != environment_key(pins, reqs[1:], (3, 12, 1))


class CountingBuilder:
    """Builds a stand-in venv (an executable bin/python) slowly, counting builds."""

    def __init__(self, seconds: float = 0.0, fail: bool = False) -> None:
        self.builds = 0
        self.seconds = seconds
        self.fail = fail

    def __call__(self, env_dir: Path, python: Path, pins: Path, requirements: Path, *,
                 progress) -> None:
        self.builds += 1
        (env_dir / "bin").mkdir(parents=True)
        fake_python(env_dir / "bin" / "python", "3.12.1")
        time.sleep(self.seconds)
        if self.fail:
            raise JobEnvironmentError("job environment: installing pins failed: boom")


EXACT = FoundPython(Path("/usr/bin/python3.12"), (3, 12, 1), "Python 3.12 like the image")


def test_two_concurrent_runs_build_once_and_share_it(tmp_path: Path) -> None:
    builder = CountingBuilder(seconds=0.5)
    results: list[object] = []
    messages: list[str] = []

    def run() -> None:
        results.append(ensure_job_environment(PINS, REQUIREMENTS, tmp_path, found=EXACT,
                                              builder=builder, progress=messages.append))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert builder.builds == 1
    assert results[0] == results[1]
    assert "job environment: another run is building it; waiting" in messages


def test_a_half_built_environment_is_never_used(tmp_path: Path) -> None:
    key = environment_key(parse_requirements(PINS), parse_requirements(REQUIREMENTS), (3, 12, 1))
    half = tmp_path / key
    fake_python(half / "bin" / "python", "3.12.1")  # no ready file: an interrupted build
    builder = CountingBuilder()
    environment = ensure_job_environment(PINS, REQUIREMENTS, tmp_path, found=EXACT,
                                         builder=builder)
    assert builder.builds == 1
    assert environment.python == half / "bin" / "python"
    assert json.loads((half / READY_FILE).read_text())["key"] == key
    assert environment.exact and environment.description == (
        "job environment: Python 3.12.1, image pins + training/requirements.txt (as the image)")
    again = ensure_job_environment(PINS, REQUIREMENTS, tmp_path, found=EXACT, builder=builder)
    assert builder.builds == 1 and again == environment


def test_a_failed_build_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(JobEnvironmentError, match="installing pins failed"):
        ensure_job_environment(PINS, REQUIREMENTS, tmp_path, found=EXACT,
                               builder=CountingBuilder(fail=True))
    assert [path.name for path in tmp_path.iterdir() if not path.name.endswith(".lock")] == []


def test_fallback_description_says_plainly_what_differs(tmp_path: Path) -> None:
    closest = FoundPython(Path("/usr/bin/python3.11"), (3, 11, 7),
                          "no Python 3.12 found; Python 3.11 is the closest available")
    environment = ensure_job_environment(PINS, REQUIREMENTS, tmp_path, found=closest,
                                         builder=CountingBuilder())
    assert not environment.exact
    assert environment.description.startswith(
        "job environment: Python 3.11, image pins + training/requirements.txt; "
        "the image runs 3.12")


def test_the_opt_out_is_described_as_the_development_interpreter() -> None:
    environment = dev_environment()
    assert not environment.exact and environment.key is None
    assert "the development interpreter" in environment.description
    assert "not the image's Python 3.12" in environment.description


@pytest.mark.network
@pytest.mark.slow
def test_real_environment_has_exactly_the_pinned_versions() -> None:
    environment = ensure_job_environment(PINS, REQUIREMENTS, CACHE_ROOT / "job-env")
    pinned = {req.name: req.version
              for req in parse_requirements(PINS) + parse_requirements(REQUIREMENTS)}
    script = ("import json, sklearn, pandas, numpy, scipy, matplotlib, sys; "
              "print(json.dumps({'scikit-learn': sklearn.__version__, 'pandas': pandas.__version__,"
              " 'numpy': numpy.__version__, 'scipy': scipy.__version__,"
              " 'matplotlib': matplotlib.__version__, 'python': sys.version_info[:2]}))")
    result = subprocess.run([str(environment.python), "-c", script], capture_output=True,
                            text=True, timeout=120, check=True)
    versions = json.loads(result.stdout)
    python = versions.pop("python")
    assert python == [3, 12] or not environment.exact
    assert versions == {name: pinned[name] for name in versions}


def test_environments_are_installed_with_their_bytecode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs must not recompile pandas/scikit-learn at each start: the install writes the .pyc
    files, and environments built another way get another key (so they are rebuilt once)."""
    command = install_command(Path("/venv/bin/python"))
    assert "--compile-bytecode" in command or "--compile" in command
    pins, reqs = parse_requirements(PINS), parse_requirements(REQUIREMENTS)
    before = environment_key(pins, reqs, (3, 12, 1))
    monkeypatch.setattr("mlops_components.local.job_env.BUILD_LAYOUT", "source-only")
    assert environment_key(pins, reqs, (3, 12, 1)) != before
