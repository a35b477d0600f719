"""The code base passes ruff with the rules in pyproject.toml (so CI enforces them)."""

import shutil
import subprocess

from tests.conftest import REPO_ROOT


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff")
    assert ruff, "ruff is missing: install the dev extra (pip install -e '.[dev]')"
    result = subprocess.run([ruff, "check", "--no-cache", str(REPO_ROOT)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
