"""`mlops lineage --local` and `mlops status --local --version` on a real local run.

The run is the session's regression run (the user's own CSV); its workdir is copied so the
approval here changes nothing the other tests read.
"""

from __future__ import annotations

import getpass
import json
import shutil

import pytest

from mlops_components.local.lineage import LINEAGE_RECORD
from mlops_components.local.registry import LocalRegistry
from mlops_components.sagemaker.spec import LINEAGE_METADATA
from tests.local.conftest import run_cli
from training.lineage import file_digest

pytestmark = pytest.mark.slow  # reads the session's regression run (a whole local run)


@pytest.fixture
def approved_copy(regression_run, project_dir, tmp_path):
    """The regression run's workdir, copied, its package approved with a comment."""
    workdir = tmp_path / "workdir"
    shutil.copytree(regression_run.workdir, workdir)
    package = regression_run.packages_after[-1]
    group, version = package["ModelPackageGroupName"], package["ModelPackageVersion"]
    approve = run_cli("approve", "--local", "--project-dir", project_dir, "--workdir", workdir,
                      "--group", group, "--version", version, "--comment",
                      "r2 good enough for the pilot")
    assert approve.code == 0, approve.text
    return workdir, group, version, package


def latest_approved(workdir, group) -> int:
    """The version the local endpoint serves. Other session runs may have registered later
    versions in the regression run's workdir before it was copied (the unchanged-data runs
    reuse it), so the tests ask instead of assuming."""
    return LocalRegistry(workdir / "registry").latest_approved(group)["ModelPackageVersion"]


def lineage(project_dir, workdir, group, *extra):
    return run_cli("lineage", "--local", "--project-dir", project_dir, "--workdir", workdir,
                   "--group", group, *extra)


def test_lineage_chains_the_real_data_file_execution_jobs_metrics_and_approval(
        approved_copy, project_dir, diabetes_csv):
    workdir, group, version, package = approved_copy
    execution_id = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"].split(
        "/")[5]

    result = lineage(project_dir, workdir, group, "--version", version)

    assert result.code == 0, result.text
    text = result.text
    # data: the user's file, the object it became and its (content-derived) version
    assert str(diabetes_csv.resolve()) in text
    assert f"diabetes.csv version sha256:{file_digest(diabetes_csv)}" in text
    assert "content-derived" in text
    assert "lineage manifest s3://" in text
    # execution and its jobs
    assert "pipeline/" in text and f"/execution/{execution_id}" in text
    for step, kind in (("Profile", "ProcessingJob"), ("Preprocess", "ProcessingJob"),
                       ("Train", "TrainingJob"), ("Evaluate", "ProcessingJob")):
        assert f"{step} {kind} arn:aws:sagemaker:local:" in text
    assert "quality gate passed" in text
    # the metrics the package registered, and the approval: who, why
    evaluation = json.loads((workdir / "s3" / package["ModelMetrics"]["ModelQuality"][
        "Statistics"]["S3Uri"].removeprefix("s3://")).read_text())
    r2 = evaluation["regression_metrics"]["r2"]["value"]
    assert f"r2={r2:.4f}" in text
    assert f"Approved by {getpass.getuser()} at " in text
    assert "r2 good enough for the pilot" in text
    if latest_approved(workdir, group) == version:
        assert "serves it" in text
    else:
        assert "not served (a later approved version is)" in text
    # in chain order: data -> execution -> jobs -> evaluation -> package -> endpoint
    order = [text.index(word) for word in ("diabetes.csv version", "-> execution",
                                           "-> Train", "-> evaluation", "-> package",
                                           "approval:", "-> endpoint")]
    assert order == sorted(order)


def test_lineage_json_is_the_record(approved_copy, project_dir, diabetes_csv):
    workdir, group, version, package = approved_copy

    result = lineage(project_dir, workdir, group, "--version", version, "--json")

    assert result.code == 0, result.err
    record = json.loads(result.out)
    (data_object,) = record["data"]["objects"]
    assert data_object["source"] == str(diabetes_csv.resolve())
    assert data_object["version_id"] == f"sha256:{file_digest(diabetes_csv)}"
    assert data_object["bytes"] == diabetes_csv.stat().st_size
    assert record["package"]["arn"] == package["ModelPackageArn"]
    assert record["approval"]["why"] == "r2 good enough for the pilot"
    assert record["approval"]["by"] == getpass.getuser()
    assert record["evaluation"]["gate_metric"] == "r2"
    assert record["package"]["code_hash"] in record["package"]["code_uri"]
    assert record["promotion"] is None
    assert record["endpoint"]["serving"] is (latest_approved(workdir, group) == version)
    # the RecordLineage step's manifest, named by the package, is where the objects came from
    manifest_uri = package["CustomerMetadataProperties"][LINEAGE_METADATA]
    assert record["data"]["manifest_uri"] == manifest_uri
    manifest = json.loads((workdir / "s3" / manifest_uri.removeprefix("s3://")).read_text())
    assert [item["version_id"] for item in manifest["objects"]] == [data_object["version_id"]]


def test_the_execution_record_holds_its_steps(regression_run, diabetes_csv):
    package = regression_run.packages_after[-1]
    execution_id = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"].split(
        "/")[5]

    record = json.loads((regression_run.workdir / "jobs" / execution_id /
                         LINEAGE_RECORD).read_text())

    assert [step["StepName"] for step in record["steps"]][:5] == [
        "RecordLineage", "Profile", "Preprocess", "Train", "Evaluate"]
    register = [step for step in record["steps"] if step["StepType"] == "RegisterModel"]
    assert register[0]["Metadata"]["RegisterModel"]["Arn"] == package["ModelPackageArn"]
    assert record["parameters"]["InputDataUri"] == record["input_uri"]


def test_status_version_shows_one_package_record(approved_copy, project_dir):
    workdir, group, version, package = approved_copy

    result = run_cli("status", "--local", "--project-dir", project_dir, "--workdir", workdir,
                     "--group", group, "--version", version)

    assert result.code == 0, result.text
    for field in ("arn:", "approval:", "metrics:", "training data:", "execution:", "jobs:",
                  "code:", "EDA report:", "evaluation:", "baseline Statistics:", "endpoint:"):
        assert field in result.text
    assert package["ModelPackageArn"] in result.text
    assert "r2 good enough for the pilot" in result.text


@pytest.mark.parametrize("command", ["lineage", "status"])
def test_a_missing_version_or_group_is_one_line(approved_copy, project_dir, command):
    workdir, group, _, _ = approved_copy
    base = (command, "--local", "--project-dir", project_dir, "--workdir", workdir)

    no_version = run_cli(*base, "--group", group, "--version", 99)
    no_group = run_cli(*base, "--group", "no-such-model", "--version", 1)

    assert no_version.code == 2 and no_version.err.count("\n") == 1
    assert f"group '{group}' has no version 99 (versions: " in no_version.err
    assert no_group.code == 2 and no_group.err.count("\n") == 1
    assert "no packages in group no-such-model" in no_group.err
    assert "Traceback" not in no_version.err + no_group.err
