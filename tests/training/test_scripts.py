"""The scripts run as files, the way the containers run them (no installed `training`)."""

from __future__ import annotations

import os
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from training.contract import SERVING_MODULE, Job

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]



def container_code(tmp_path: Path) -> tuple[list[str], dict[str, str], Path]:
    """A python command and environment like the container's: the uploaded source folder
    (/opt/ml/code/training/...) and site-packages, but not this checkout's editable install,
    so `import training` works only through the scripts' own bootstrap."""
    code_dir = tmp_path / "opt-ml-code"
    shutil.copytree(
        REPO / "training", code_dir / "training", ignore=shutil.ignore_patterns("__pycache__")
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(site.getsitepackages())}
    return [sys.executable, "-S"], env, code_dir


def test_train_runs_as_a_file_like_the_container_runs_it(classification_run, tmp_path):
    python, env, code_dir = container_code(tmp_path)
    env.update(
        {
            "SM_MODEL_DIR": str(tmp_path / "model"),
            "SM_CHANNEL_TRAIN": str(classification_run.processed / "train"),
            "SM_CHANNEL_VALIDATION": str(classification_run.processed / "validation"),
            "SM_CHANNEL_TRANSFORM": str(classification_run.processed / "transform"),
        }
    )
    result = subprocess.run(
        [
            *python,
            "training/train/train.py",
            "--estimator",
            '"linear"',
            "--problem-type",
            "classification",
            "--sagemaker_program",
            "training/train/train.py",
        ],
        cwd=code_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"validation:accuracy=([0-9\.]+);", result.stdout)
    model_dir = tmp_path / "model"
    assert sorted(p.name for p in model_dir.iterdir()) == ["code", "model.joblib", "schema.json"]
    shipped = model_dir / "code" / "training"
    assert sorted(p.relative_to(shipped) for p in shipped.rglob("*.py")) == sorted(
        p.relative_to(code_dir / "training") for p in (code_dir / "training").rglob("*.py"))


def test_every_script_bootstraps_when_executed_as_a_file(tmp_path):
    """Execute each file as __main__ (like `python training/x.py --help`) in one interpreter;
    inference.py is imported as a top-level module, the way the serving container loads it."""
    python, env, code_dir = container_code(tmp_path)
    code = (
        "import runpy, sys\n"
        "clean_path = list(sys.path)\n"
        "for path in sys.argv[1:]:\n"
        "    sys.path[:] = clean_path  # each script must find `training` on its own\n"
        "    for name in [m for m in sys.modules if m.split('.')[0] == 'training']:\n"
        "        del sys.modules[name]\n"
        "    sys.argv = [path, '--help']\n"
        "    try:\n"
        "        name = 'inference' if path.endswith('inference.py') else '__main__'\n"
        "        runpy.run_path(path, run_name=name)\n"
        "    except SystemExit as done:\n"
        "        assert done.code == 0, (path, done.code)\n"
        "    print('ok', path)\n"
    )
    scripts = [
        *(str(code_dir / job.script) for job in (Job.PROFILE, Job.PREPROCESS, Job.EVALUATE)),
        str(code_dir / (SERVING_MODULE.replace(".", "/") + ".py")),
    ]
    result = subprocess.run(
        [*python, "-c", code, *scripts],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("usage: ") == 3
    assert result.stdout.count("ok ") == 4
