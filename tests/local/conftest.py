"""Fixtures for the local runtime: the real `mlops up --local`, run as few times as possible.

The end-to-end runs take ~20 s each, so each one runs once per session and the tests read
what it left behind (exit code, printed output, the workdir's local S3 and registry).
"""

from __future__ import annotations

import io
import shutil
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_components.cli import main
from mlops_components.components.code_package import CodePackage, package_training_code
from mlops_components.local.registry import LocalRegistry
from tests.conftest import REPO_ROOT

PROJECT_FILES = ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.staging.yaml", "Pulumi.prod.yaml",
                 "__main__.py")
DEV_GROUP = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text())["config"][
    "mlops:modelName"]
"""The dev stack's model package group."""


@dataclass
class Sandbox:
    """A copy of the project, a workdir and a folder for the files a test writes."""

    project: Path
    workdir: Path
    tmp: Path

    def write(self, name: str, text: str | bytes) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return path


def copy_project(tmp_path: Path) -> Path:
    """The project's files in `tmp_path/project`, for a test to edit or run from."""
    project = tmp_path / "project"
    project.mkdir()
    for name in PROJECT_FILES:
        shutil.copy(REPO_ROOT / name, project / name)
    return project


@dataclass
class CliRun:
    """One `mlops ...` invocation through ``main``: its exit code and what it printed."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        """stdout and stderr with whitespace collapsed, so wrapping cannot split a phrase."""
        return " ".join((self.out + "\n" + self.err).split())


def run_cli(*argv: Any) -> CliRun:
    """``mlops *argv`` in-process, with output captured at a width that does not wrap."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "250")
        patch.delenv("FORCE_COLOR", raising=False)
        with redirect_stdout(out), redirect_stderr(err):
            code = main([str(arg) for arg in argv])
    return CliRun(code, out.getvalue(), err.getvalue())


@dataclass
class UpRun:
    """A finished `mlops up --local` and the registry as it was right after it."""

    cli: CliRun
    workdir: Path
    packages_before: list[dict[str, Any]] = field(default_factory=list)
    packages_after: list[dict[str, Any]] = field(default_factory=list)
    new_files: set[Path] = field(default_factory=set)
    code_before: CodePackage | None = None

    @property
    def registry(self) -> LocalRegistry:
        return LocalRegistry(self.workdir / "registry")


def up_local(project_dir: Path, workdir: Path, *extra: Any) -> UpRun:
    registry = LocalRegistry(workdir / "registry")
    before_files = _files(workdir)
    before = registry.packages()
    # Read before the run: a later read could see edits made to training/ meanwhile.
    code_before = package_training_code()
    # The loop after serving (traffic, drift, retrain) is the README test's and test_loop's.
    cli = run_cli("up", "--local", "--no-loop", "--project-dir", project_dir, "--workdir",
                  workdir, *extra)
    return UpRun(cli=cli, workdir=workdir, packages_before=before,
                 packages_after=registry.packages(), new_files=_files(workdir) - before_files,
                 code_before=code_before)


def _files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()} if root.is_dir() else set()


@pytest.fixture(scope="session")
def project_dir(tmp_path_factory) -> Path:
    """A copy of the example project (stack files and program), outside the repo."""
    directory = tmp_path_factory.mktemp("project")
    for name in PROJECT_FILES:
        shutil.copy(REPO_ROOT / name, directory / name)
    return directory


@pytest.fixture(scope="session")
def dev_config(project_dir) -> dict[str, Any]:
    """The dev stack's config, as its file says (``mlops:`` prefix removed)."""
    config = yaml.safe_load((project_dir / "Pulumi.dev.yaml").read_text())["config"]
    return {key.split(":", 1)[1]: value for key, value in config.items()
            if key.startswith("mlops:")}


@pytest.fixture(scope="session")
def default_run(project_dir, tmp_path_factory) -> UpRun:
    """`mlops up --local` on the dev stack and the embedded default dataset."""
    return up_local(project_dir, tmp_path_factory.mktemp("default-run"))


@pytest.fixture(scope="session")
def failing_gate_run(project_dir, default_run) -> UpRun:
    """A second run in the same workdir with a threshold no model reaches."""
    return up_local(project_dir, default_run.workdir, "--threshold", "0.999")


@pytest.fixture(scope="session")
def diabetes_csv(tmp_path_factory) -> Path:
    """A user's own regression data: scikit-learn's diabetes set, target renamed."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame.rename(columns={"target": "progression"})
    path = tmp_path_factory.mktemp("user-data") / "diabetes.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def regression_run(project_dir, diabetes_csv, tmp_path_factory) -> UpRun:
    """`mlops up --local --data <csv> --target progression --problem-type regression`."""
    return up_local(project_dir, tmp_path_factory.mktemp("regression-run"),
                    *regression_arguments(diabetes_csv))


def regression_arguments(csv: Path) -> tuple[Any, ...]:
    return ("--data", csv, "--target", "progression", "--problem-type", "regression")


@pytest.fixture(scope="session")
def unchanged_data_run(project_dir, diabetes_csv, regression_run) -> UpRun:
    """The same CSV again, in the same workdir: dev approved the first model, so it is the
    champion, trained on exactly these bytes."""
    return up_local(project_dir, regression_run.workdir, *regression_arguments(diabetes_csv))


@pytest.fixture(scope="session")
def unchanged_data_registered_run(project_dir, diabetes_csv, unchanged_data_run) -> UpRun:
    """The same again, asking for registration of unchanged data."""
    return up_local(project_dir, unchanged_data_run.workdir,
                    *regression_arguments(diabetes_csv), "--register-unchanged-data")
