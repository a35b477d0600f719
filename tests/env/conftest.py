"""Fixtures of the job-environment tests: the repo's pin files and a shared download cache."""

from __future__ import annotations

import os
from pathlib import Path

from training.contract import IMAGE_REQUIREMENTS_FILE, PACKAGE, REQUIREMENTS_FILE

REPO_ROOT = Path(__file__).resolve().parents[2]
PINS = REPO_ROOT / PACKAGE / IMAGE_REQUIREMENTS_FILE
REQUIREMENTS = REPO_ROOT / PACKAGE / REQUIREMENTS_FILE
CACHE_ROOT = Path(os.environ.get("MLOPS_TEST_CACHE", "~/.cache/mlops-components")).expanduser()
"""Kept across runs: the job environment and the wheelhouse are built once per pin set."""
