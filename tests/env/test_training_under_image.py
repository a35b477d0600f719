"""The training tests, run again under the image's interpreter and exact packages.

The development interpreter (3.11, newer pandas, matplotlib installed) hides what the image
lacks; this runs `tests/training` in the local job environment (Python 3.12, the image pins
plus training/requirements.txt). pytest is not in the image, so it goes into a separate
overlay folder on PYTHONPATH and the environment itself stays exact. Both are cached, so after
the first build this costs the test run itself.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from mlops_components.local.job_env import (
    JobEnvironment,
    JobEnvironmentError,
    ensure_job_environment,
)
from tests.env.conftest import CACHE_ROOT, PINS, REPO_ROOT, REQUIREMENTS

pytestmark = pytest.mark.slow

#: The test tools the training tests need beyond the image (never the job code): pytest, and
#: jsonschema for the Model Monitor baseline schemas.
TEST_TOOLS = ("pytest==9.0.3", "jsonschema==4.25.1")
"""The dev extra's pytest version."""
FALLBACK_ENV = "MLOPS_JOB_ENV_FALLBACK"
"""Set to 0 to refuse a job environment on anything but Python 3.12 (then this test skips
when no 3.12 exists)."""


def pytest_overlay(environment: JobEnvironment) -> str:
    """A folder with the test tools for this environment's Python, installed once."""
    overlay = CACHE_ROOT / "test-tools" / f"{environment.key}-{'-'.join(TEST_TOOLS)}"
    if not (overlay / ".complete").exists():
        subprocess.run([str(environment.python), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", "--target", str(overlay), *TEST_TOOLS],
                       check=True, capture_output=True, text=True, timeout=600)
        (overlay / ".complete").write_text("\n".join(TEST_TOOLS))
    return str(overlay)


@pytest.mark.network
def test_training_tests_pass_under_the_image_environment() -> None:
    allow_fallback = os.environ.get(FALLBACK_ENV, "1") != "0"
    try:
        environment = ensure_job_environment(PINS, REQUIREMENTS, CACHE_ROOT / "job-env",
                                             allow_fallback=allow_fallback)
    except JobEnvironmentError as error:
        if not allow_fallback and "fallback is disabled" in str(error):
            pytest.skip(f"no Python 3.12 here and {FALLBACK_ENV}=0: {error}")
        raise
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join([pytest_overlay(environment), str(REPO_ROOT)])
    result = subprocess.run(
        [str(environment.python), "-m", "pytest", "tests/training", "-q", "-p", "no:cacheprovider",
         "-o", "addopts=", "--confcutdir", str(REPO_ROOT / "tests" / "training")],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    summary = result.stdout.strip().splitlines()[-1:] or ["no output"]
    assert result.returncode == 0, (
        f"{environment.description}: tests/training failed: {summary[0]}\n"
        f"{result.stdout[-4000:]}\n{result.stderr[-2000:]}")
    assert " passed" in summary[0]
