"""Fixtures for the training tests: real datasets shipped with scikit-learn, run through the
SageMaker container contract (/opt/ml paths and SM_* variables mapped to temporary folders)."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from training.contract import MODEL_ARCHIVE
from training.data import preprocess
from training.eda import profile
from training.evaluate import evaluate
from training.train import train
from training.train.model_files import package_model

CLASSIFICATION_TARGET = "diagnosis_benign"
REGRESSION_TARGET = "progression"


def breast_cancer() -> pd.DataFrame:
    """Breast cancer (binary) with a derived categorical column and some missing values."""
    frame = load_breast_cancer(as_frame=True).frame.rename(
        columns={"target": CLASSIFICATION_TARGET}
    )
    frame.insert(
        3,
        "size_band",
        pd.qcut(frame["mean radius"], 3, labels=["small", "medium", "large"]).astype(str),
    )
    frame.loc[frame.index[::10], "mean texture"] = np.nan
    return frame


def diabetes() -> pd.DataFrame:
    """Diabetes (regression) with `sex` as text, so the categorical path is trained."""
    frame = load_diabetes(as_frame=True).frame.rename(columns={"target": REGRESSION_TARGET})
    frame["sex"] = np.where(frame["sex"] > 0, "male", "female")
    return frame


def write_shards(frame: pd.DataFrame, folder: Path, shards: int = 3) -> Path:
    """Write `frame` as CSV shards, one in a nested folder (the reader must recurse)."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, part in enumerate(np.array_split(np.arange(len(frame)), shards)):
        path = folder / ("nested" if index == shards - 1 else "") / f"part-{index:03d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.iloc[part].to_csv(path, index=False)
    return folder


@dataclass(frozen=True)
class PipelineRun:
    """Folders and logs of one profile → preprocess → train → evaluate run."""

    data: Path
    report: Path
    baseline: Path
    processed: Path
    model_dir: Path
    archive_dir: Path
    evaluation: Path
    train_stdout: str
    target: str
    problem_type: str


def run_pipeline(root: Path, frame: pd.DataFrame, target: str, problem_type: str) -> PipelineRun:
    """Every step's main() in process, with the container's paths mapped under `root`."""
    data = write_shards(frame, root / "input" / "data")
    run = PipelineRun(
        data=data,
        report=root / "output" / "report",
        baseline=root / "output" / "baseline",
        processed=root / "output" / "processed",
        model_dir=root / "opt-ml-model",
        archive_dir=root / "input" / "model",
        evaluation=root / "output" / "evaluation",
        train_stdout="",
        target=target,
        problem_type=problem_type,
    )
    common = ["--target", target, "--problem-type", problem_type]
    profile.main(
        [
            "--data-dir",
            str(data),
            "--report-dir",
            str(run.report),
            "--baseline-dir",
            str(run.baseline),
            *common,
        ]
    )
    preprocess.main(["--data-dir", str(data), "--output-dir", str(run.processed), *common])
    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as env, contextlib.redirect_stdout(stdout):
        env.setenv("SM_MODEL_DIR", str(run.model_dir))
        env.setenv("SM_CHANNEL_TRAIN", str(run.processed / "train"))
        env.setenv("SM_CHANNEL_VALIDATION", str(run.processed / "validation"))
        env.setenv("SM_CHANNEL_TRANSFORM", str(run.processed / "transform"))
        env.setenv("SM_OUTPUT_DATA_DIR", str(root / "opt-ml-output-data"))
        # hyperparameters as SageMaker passes them: JSON-quoted strings, plus its own flags
        train.main(
            [
                "--target",
                f'"{target}"',
                "--problem-type",
                problem_type,
                "--n-estimators",
                '"100"',
                "--learning-rate",
                '"0.1"',
                "--sagemaker_program",
                "train.py",
                "--sagemaker_submit_directory",
                "s3://b/k",
            ]
        )
    package_model(run.model_dir, run.archive_dir / MODEL_ARCHIVE)
    evaluate.main(
        [
            "--model-dir",
            str(run.archive_dir),
            "--test-dir",
            str(run.processed / "test"),
            "--output-dir",
            str(run.evaluation),
            *common,
        ]
    )
    return PipelineRun(**{**run.__dict__, "train_stdout": stdout.getvalue()})


@pytest.fixture(scope="session")
def classification_run(tmp_path_factory: pytest.TempPathFactory) -> PipelineRun:
    return run_pipeline(
        tmp_path_factory.mktemp("classification"),
        breast_cancer(),
        CLASSIFICATION_TARGET,
        "classification",
    )


@pytest.fixture(scope="session")
def regression_run(tmp_path_factory: pytest.TempPathFactory) -> PipelineRun:
    return run_pipeline(
        tmp_path_factory.mktemp("regression"), diabetes(), REGRESSION_TARGET, "regression"
    )


@pytest.fixture
def cancer_frame() -> pd.DataFrame:
    return breast_cancer()


@pytest.fixture
def diabetes_frame() -> pd.DataFrame:
    return diabetes()


@pytest.fixture
def shards():
    """`write_shards(frame, folder, shards=3)`."""
    return write_shards
