"""The code base passes ruff with the project's rules, and its layers import downward only."""

import shutil
import subprocess

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.parametrize(("tool", "arguments"), [
    ("ruff", ["check", "--no-cache", str(REPO_ROOT)]),
    # The contracts live in pyproject.toml ([tool.importlinter]).
    ("lint-imports", ["--no-cache"]),
])
def test_linter_finds_nothing(tool, arguments):
    executable = shutil.which(tool)
    assert executable, f"{tool} is missing: install the dev extra (pip install -e '.[dev]')"
    result = subprocess.run([executable, *arguments], capture_output=True, text=True,
                            timeout=180, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
