"""`mlops batch --local` end to end on real data with dirt added: the planned batch pipeline
resolves the latest approved local package, scores the good rows exactly as the endpoint's
handler answers them, and names every refused row by its line."""

from __future__ import annotations

import csv
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from tests.local.conftest import run_cli, up_local
from training.contract import MODEL_ARCHIVE, PREDICTION_COLUMN
from training.serve import inference

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(project_dir, tmp_path_factory):
    """A dev-stack run of its own (its package is approved here, nowhere else)."""
    run = up_local(project_dir, tmp_path_factory.mktemp("batch-run"), "--dev-env")
    assert run.cli.code == 0, run.cli.text
    return run


def dirty_cancer(path: Path) -> dict[int, str]:
    """Breast cancer features with a patient ID, the columns shuffled, and three bad lines."""
    frame = load_breast_cancer(as_frame=True).frame.drop(columns=["target"])
    rng = np.random.default_rng(7)
    frame = frame[list(rng.permutation(frame.columns))].astype(object)
    frame.insert(0, "patient_id", [f"P{i:04d}" for i in range(len(frame))])
    frame.iloc[3, 5] = "n/a?"
    frame.iloc[10, 2] = "-inf"
    text = frame.to_csv(index=False).splitlines()
    text[21] = ",".join(text[21].split(",")[:-2])  # a short line
    path.write_text("\n".join(text) + "\n")
    return {5: "expected a number", 12: "expected a number", 22: "values, the header has"}


def batch(project_dir: Path, workdir: Path, data: Path, *extra) -> object:
    return run_cli("batch", "--local", "--dev-env", "--project-dir", project_dir,
                   "--workdir", workdir, "--data", data, *extra)


def test_batch_without_an_approved_model_says_so_and_scores_nothing(project_dir, trained,
                                                                    tmp_path):
    data = tmp_path / "new.csv"
    dirty_cancer(data)
    result = batch(project_dir, trained.workdir, data, "--group", "no-such-model")
    assert result.code == 2
    assert "no approved model in group no-such-model" in result.text


@pytest.fixture(scope="module")
def approved(project_dir, trained):
    (package,) = trained.registry.packages()
    result = run_cli("approve", "--local", "--project-dir", project_dir, "--workdir",
                     trained.workdir, "--group", package["ModelPackageGroupName"])
    assert result.code == 0, result.text
    return trained.registry.latest_approved(package["ModelPackageGroupName"])


def test_batch_scores_good_rows_as_the_endpoint_and_names_the_bad_lines(
        project_dir, trained, approved, tmp_path):
    # GIVEN real rows with an ID column, another column order and three bad lines
    data = tmp_path / "new.csv"
    dirt = dirty_cancer(data)

    # WHEN they are scored through the planned batch pipeline
    result = batch(project_dir, trained.workdir, data, "--output", tmp_path / "out")

    # THEN the run succeeds, names each bad line, and writes the joined output
    assert result.code == 0, result.text
    assert "scored 566 of 569 rows" in result.text and "3 refused" in result.text
    # the batch was also checked for drift by the monitor's drift job: the same table, none
    assert "drift of this batch against the model's baseline: no drift" in result.text
    for line, why in dirt.items():
        assert f"new.csv line {line}:" in result.text and why in result.text
    with (tmp_path / "out" / "new.csv.scored.csv").open() as handle:
        rows = list(csv.reader(handle))
    header, rows = rows[0], rows[1:]
    width = header.index(PREDICTION_COLUMN)
    assert header[0] == "patient_id" and len(rows) == 566

    # ... and the endpoint's handler, given the same rows as one request, answers the same
    model_dir = tmp_path / "model"
    model_uri = approved["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    archive = trained.workdir / "s3" / model_uri.removeprefix("s3://")
    assert archive.name == MODEL_ARCHIVE
    with tarfile.open(archive) as tar:
        tar.extractall(model_dir, filter="data")
    model = inference.model_fn(str(model_dir))
    request = io.StringIO()
    csv.writer(request, lineterminator="\n").writerows([header[1:width]] + [
        row[1:width] for row in rows])
    reply = inference.output_fn(inference.predict_fn(
        inference.input_fn(request.getvalue(), "text/csv"), model), "text/csv")
    assert reply.status == 200
    assert [row[width:] for row in rows] == list(csv.reader(io.StringIO(reply.body.decode())))


def test_batch_fails_past_the_refused_limit_and_still_writes_what_it_scored(
        project_dir, trained, approved, tmp_path):
    data = tmp_path / "new.csv"
    dirty_cancer(data)
    result = batch(project_dir, trained.workdir, data, "--max-refused-share", "0.001",
                   "--output", tmp_path / "out")
    assert result.code == 1
    assert "Too many refused rows" in result.text
    assert (tmp_path / "out" / "new.csv.scored.csv").is_file()
    assert (tmp_path / "out" / "refused_rows-algo-1.csv").read_text().count("\n") == 4


def test_the_loop_scores_one_batch_when_the_stack_has_batch_inference(tmp_path):
    """A stack with batchOnNewData: after serving, the loop sends the held-out split through
    the planned batch pipeline with the served package, and checks it for drift."""
    from mlops_components.local.job_env import dev_environment
    from mlops_components.local.loop import close_the_loop
    from mlops_components.local.run import run_local
    from tests.local.conftest import copy_project

    project = copy_project(tmp_path)
    stack_file = project / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text() + "  mlops:batchOnNewData: true\n")
    run = run_local(project, "dev", workdir=tmp_path / "work", job_environment=dev_environment())
    assert run.execution.status == "Succeeded", run.execution.failure_reason
    (package,) = run.registry.packages()
    lines: list[tuple[str, str]] = []
    result = close_the_loop(run, package, retrain=lambda: None,
                            say=lambda stage, message: lines.append((stage, message)))
    (batch_line,) = [message for stage, message in result.lines if stage == "batch"]
    assert "scored with version 1 by the batch pipeline (0 refused)" in batch_line
    assert "its drift: none" in batch_line
