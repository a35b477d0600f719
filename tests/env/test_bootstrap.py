"""training/bootstrap.py: the offline install before a job, run as the container runs it."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mlops_components.components.code_package import package_training_code
from mlops_components.sagemaker.requirements import pack_wheelhouse
from tests.env.conftest import REPO_ROOT
from training import bootstrap
from training.archives import tarball_bytes
from training.contract import (
    BOOTSTRAP_SCRIPT,
    JOB_ENV,
    PACKAGE,
    REQUIREMENTS_CHECK_ENV,
    REQUIREMENTS_CHECK_WARN,
    REQUIREMENTS_FILE,
    SOURCEDIR_TARBALL,
    WHEELHOUSE_ENV,
    Job,
)

JOB_SCRIPT = '''
import cProfile  # imports the standard library's profile: this file must not shadow it
import json, sys
from pathlib import Path
import mlops_demo
Path(sys.argv[1]).write_text(json.dumps({"args": sys.argv[2:], "demo": mlops_demo.VALUE,
                                         "module": __name__}))
'''


def make_wheel(folder: Path, name: str = "mlops_demo", version: str = "1.0") -> Path:
    """A real, minimal pure-Python wheel that pip installs."""
    files = {f"{name}/__init__.py": f"VALUE = {version!r}\n",
             f"{name}-{version}.dist-info/METADATA":
                 f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n",
             f"{name}-{version}.dist-info/WHEEL":
                 "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{name}-{version}.dist-info/RECORD,,")
    files[f"{name}-{version}.dist-info/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    """A code location as a job receives it: training/ with the bootstrap, contract and a job."""
    package = tmp_path / "code" / PACKAGE
    package.mkdir(parents=True)
    for name in ("__init__.py", "contract.py", "bootstrap.py"):
        shutil.copy(REPO_ROOT / PACKAGE / name, package / name)
    job_script = tmp_path / "code" / Job.PROFILE.script
    job_script.parent.mkdir()
    job_script.write_text(JOB_SCRIPT)
    (package / REQUIREMENTS_FILE).write_text("mlops-demo==1.0  # the job imports it\n")
    return package.parent


@pytest.fixture
def wheelhouse(tmp_path: Path, code_dir: Path) -> Path:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    return pack_wheelhouse([make_wheel(wheels)], code_dir / PACKAGE / REQUIREMENTS_FILE,
                           tmp_path / "wheelhouse-test.tar.gz")


def run_bootstrap(code_dir: Path, args: list[str], **env: str) -> subprocess.CompletedProcess:
    environ = {key: value for key, value in os.environ.items()
               if key not in (WHEELHOUSE_ENV, JOB_ENV, "PYTHONPATH")}
    return subprocess.run([sys.executable, str(code_dir / PACKAGE / "bootstrap.py"), *args],
                          capture_output=True, text=True, env={**environ, **env},
                          cwd=code_dir.parent, timeout=120, check=False)


def test_installs_the_wheelhouse_offline_then_runs_the_job(code_dir: Path, wheelhouse: Path,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = run_bootstrap(code_dir, ["profile", str(out), "--flag", "1"],
                           **{WHEELHOUSE_ENV: str(wheelhouse)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith(
        f"bootstrap: installed mlops-demo 1.0 from {wheelhouse}")
    assert out.read_text() == '{"args": ["--flag", "1"], "demo": "1.0", "module": "__main__"}'


def test_finds_a_wheelhouse_beside_the_code_and_takes_the_job_from_the_environment(
        code_dir: Path, wheelhouse: Path, tmp_path: Path) -> None:
    shutil.copy(wheelhouse, code_dir / wheelhouse.name)
    out = tmp_path / "out.json"
    result = run_bootstrap(code_dir, [str(out)], **{JOB_ENV: Job.PROFILE.value})
    assert result.returncode == 0, result.stderr
    assert "bootstrap: installed mlops-demo 1.0" in result.stdout
    assert '"demo": "1.0"' in out.read_text()


def test_missing_requirement_without_wheelhouse_stops_with_one_line(code_dir: Path) -> None:
    result = run_bootstrap(code_dir, ["profile", "unused"])
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(
        f"bootstrap: {PACKAGE}/{REQUIREMENTS_FILE} needs mlops-demo==1.0 but no wheelhouse")


def test_empty_requirements_just_run(code_dir: Path, tmp_path: Path) -> None:
    (code_dir / PACKAGE / REQUIREMENTS_FILE).write_text("# nothing beyond the image\n")
    (code_dir / Job.PROFILE.script).write_text(
        "import sys\nfrom pathlib import Path\nPath(sys.argv[1]).write_text('ran')\n")
    out = tmp_path / "out.txt"
    result = run_bootstrap(code_dir, ["profile", str(out)])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "bootstrap: no requirements beyond the image"
    assert out.read_text() == "ran"


def test_a_code_location_of_the_bootstrap_and_the_archive_runs_the_job(tmp_path: Path) -> None:
    """What a processing job receives: the bootstrap alone, and the whole package as one
    archive beside it (plus another archive that is not the package)."""
    package = package_training_code()
    location = tmp_path / "code"
    (location / PACKAGE).mkdir(parents=True)
    (location / BOOTSTRAP_SCRIPT).write_bytes(package.files[BOOTSTRAP_SCRIPT])
    (location / "wheelhouse-other.tar.gz").write_bytes(tarball_bytes({"x.whl": b""}))
    (location / SOURCEDIR_TARBALL).write_bytes(package.tarball())
    environ = {key: value for key, value in os.environ.items()
               if key not in (WHEELHOUSE_ENV, JOB_ENV, "PYTHONPATH")}
    job_tmp = tmp_path / "job-tmp"
    job_tmp.mkdir()
    result = subprocess.run(
        [sys.executable, str(location / BOOTSTRAP_SCRIPT), Job.PREPROCESS.value, "--help"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False,
        env={**environ, REQUIREMENTS_CHECK_ENV: REQUIREMENTS_CHECK_WARN, "TMPDIR": str(job_tmp)})
    assert result.returncode == 0, result.stderr
    assert "--leak-policy" in result.stdout  # the real job's own --help ran
    assert not list(job_tmp.glob("mlops-code-*")), "the unpacked code outlived the job"


def test_a_code_location_without_the_package_says_so(tmp_path: Path) -> None:
    location = tmp_path / "code"
    (location / PACKAGE).mkdir(parents=True)
    shutil.copy(REPO_ROOT / BOOTSTRAP_SCRIPT, location / BOOTSTRAP_SCRIPT)
    result = subprocess.run([sys.executable, str(location / BOOTSTRAP_SCRIPT), "profile"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"bootstrap: {location} holds neither the {PACKAGE} "
                                     "package nor an archive of it")


@pytest.mark.parametrize(("argv", "environ", "message"), [
    (["fit"], {}, "unknown job 'fit'"),
    (["--n-estimators", "3"], {}, f"no job given: pass one of .* or set {JOB_ENV}"),
    (["--n-estimators", "3"], {JOB_ENV: "fit"}, f"{JOB_ENV}='fit' is not a job"),
])
def test_job_argv_errors(argv: list[str], environ: dict[str, str], message: str) -> None:
    with pytest.raises(bootstrap.BootstrapError, match=message):
        bootstrap.split_job_argv(argv, environ)


def test_job_argv_forms() -> None:
    assert bootstrap.split_job_argv(["train", "--a", "1"], {}) == (Job.TRAIN, ["--a", "1"])
    assert bootstrap.split_job_argv(["--a", "1"], {JOB_ENV: "train"}) == (Job.TRAIN, ["--a", "1"])


def test_only_wheels_the_environment_lacks_are_installed(tmp_path: Path) -> None:
    make_wheel(tmp_path, "mlops_demo", "1.0")
    make_wheel(tmp_path, "cycler", "0.12.1")
    image = {"cycler": "0.12.1", "mlops-demo": "0.9"}
    chosen = bootstrap.wheels_to_install(tmp_path, image.get)
    assert [wheel.name for wheel in chosen] == ["mlops_demo-1.0-py3-none-any.whl"]
    image["mlops-demo"] = "1.0"
    assert bootstrap.wheels_to_install(tmp_path, image.get) == []


def test_search_order_prefers_the_environment_variable(tmp_path: Path) -> None:
    (tmp_path / "wheelhouse-abc.tar.gz").write_bytes(b"")
    explicit = tmp_path / "elsewhere"
    explicit.mkdir()
    make_wheel(explicit)
    candidates = bootstrap.wheelhouse_candidates(tmp_path, {WHEELHOUSE_ENV: str(explicit)})
    assert candidates[:2] == [explicit, tmp_path / "wheelhouse-abc.tar.gz"]
    assert bootstrap.find_wheelhouse(candidates) == explicit
    assert bootstrap.find_wheelhouse(candidates[1:]) == tmp_path / "wheelhouse-abc.tar.gz"
    assert bootstrap.find_wheelhouse([tmp_path / "nothing"]) is None
