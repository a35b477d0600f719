"""`mlops up --local` and the registry verbs through the CLI, on a copy of the example project.

Three real pipeline runs per session (default data, a failing gate in the same workdir, a
user's regression CSV); every other test reads what they left behind.
"""

from __future__ import annotations

import base64
import json
import re
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from mlops_components.local.registry import LocalRegistry
from mlops_components.local.workdir import LocalS3
from tests.local.conftest import run_cli, up_local
from training.contract import (
    BOOTSTRAP_SCRIPT,
    MODEL_CODE_DIR,
    SERVING_CODE_DIR,
    SERVING_MODULE,
    SOURCEDIR_TARBALL,
)
from training.lineage import fingerprint_files, short_digest

pytestmark = pytest.mark.slow


def local_path(workdir: Path, uri: str) -> Path:
    return LocalS3(workdir / "s3").path(uri)


def the_package(run) -> dict:
    assert run.cli.code == 0, run.cli.out[-3000:] + run.cli.err[-3000:]
    new = [p for p in run.packages_after if p not in run.packages_before]
    assert len(new) == 1, [p["ModelPackageArn"] for p in new]
    return new[0]


def model_quality(run, package) -> dict:
    uri = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    path = local_path(run.workdir, uri)
    assert path.is_file(), f"{uri} is not in the local S3 ({path})"
    return json.loads(path.read_text())


# -- the default run ---------------------------------------------------------------------


def test_default_run_registers_one_package_with_the_stack_approval_status(default_run,
                                                                          dev_config):
    package = the_package(default_run)

    assert default_run.packages_before == []
    assert package["ModelPackageGroupName"] == dev_config["modelName"]
    assert package["ModelApprovalStatus"] == dev_config["approvalStatus"]
    assert package["ModelPackageVersion"] == 1
    assert package["ModelPackageArn"] in default_run.cli.text


def test_default_model_beats_the_majority_class_baseline_clearly(default_run):
    package = the_package(default_run)
    evaluation = model_quality(default_run, package)

    accuracy = evaluation["classification_metrics"]["accuracy"]["value"]
    labels = pd.Series(load_breast_cancer().target)
    baseline = labels.value_counts(normalize=True).max()  # always predict the majority class
    assert "breast_cancer" in default_run.cli.text
    assert 1 - accuracy <= (1 - baseline) / 2, (accuracy, baseline)
    assert f"{accuracy:.4f}" in default_run.cli.text  # the summary shows the registered value


def test_the_eda_report_exists_and_embeds_its_plots(default_run):
    package = the_package(default_run)
    report_dir = local_path(default_run.workdir,
                            package["CustomerMetadataProperties"]["mlops:eda-report-uri"])

    html = (report_dir / "report.html").read_text()
    images = re.findall(r'<img[^>]*src="data:image/png;base64,([^"]+)"', html)
    assert images  # the target's balance (the breast-cancer data has no date to plot over time)
    assert all(base64.b64decode(image).startswith(b"\x89PNG\r\n\x1a\n") for image in images)
    assert "<skrub-table-report" in html and 'class="spark"' in html  # distributions, vs target
    assert str(report_dir / "report.html") in default_run.cli.text


def test_the_uploaded_code_is_the_training_package_byte_for_byte(default_run):
    package = the_package(default_run)
    expected = default_run.code_before
    code_dir = local_path(default_run.workdir,
                          package["CustomerMetadataProperties"]["mlops:code-uri"])

    assert code_dir.name == expected.digest
    assert code_dir.parent.parent.name == "code"  # code/<pipeline>/<digest>/
    uploaded = {path.relative_to(code_dir).as_posix(): path.read_bytes()
                for path in code_dir.rglob("*") if path.is_file()}
    assert uploaded == {BOOTSTRAP_SCRIPT: expected.files[BOOTSTRAP_SCRIPT],
                        SOURCEDIR_TARBALL: expected.tarball()}
    serving = package["InferenceSpecification"]["Containers"][0]["Environment"]
    # the serving container reads the code from inside the model (no network needed)
    assert serving["SAGEMAKER_SUBMIT_DIRECTORY"] == SERVING_CODE_DIR
    archive = local_path(default_run.workdir,
                         package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"])
    with tarfile.open(archive) as model:
        names = set(model.getnames())
    module = SERVING_MODULE.replace(".", "/") + ".py"
    assert f"{MODEL_CODE_DIR}/{module}" in {name.removeprefix("./") for name in names}


def test_dev_auto_approves_so_the_run_ends_with_the_model_served_and_answering(default_run):
    package = the_package(default_run)

    assert package["ModelApprovalStatus"] == "Approved"
    text = default_run.cli.text
    assert "served version 1 at http://127.0.0.1:" in text
    assert re.search(r"a smoke request of 3 test rows answered \[[01], [01], [01]\]", text), \
        text[-1500:]
    # the smoke request is in the local capture, where the endpoint would write it
    assert [p for p in default_run.new_files if p.suffix == ".jsonl" and "capture" in p.parts]


# -- the failing gate --------------------------------------------------------------------


def test_a_failing_gate_exits_1_registers_nothing_and_says_why(failing_gate_run):
    run = failing_gate_run

    assert run.cli.code == 1, run.cli.text[-2000:]
    assert run.packages_after == run.packages_before != []
    s3 = run.workdir / "s3"
    (evaluation_file,) = [p for p in run.new_files
                          if p.name == "evaluation.json" and p.is_relative_to(s3)]
    gate = json.loads(evaluation_file.read_text())["gate"]
    assert gate["metric"] == "balanced_accuracy" and gate["model"] < 0.999
    text = " ".join(run.cli.text.split())
    assert (f"quality gate: failed: balanced_accuracy on the test split {gate['model']:.4f} "
            "is below the threshold 0.999") in text
    assert str(gate["model"]) in text  # the Fail step's message names the exact value
    assert not [p for p in run.new_files if p.parent.name == "registry"]
    assert "nothing was registered, so nothing is served" in run.cli.text


def test_the_second_run_compares_with_the_approved_first_model(failing_gate_run, dev_config):
    """dev approves automatically, so the default run's model is the champion of the next."""
    assert dev_config["approvalStatus"] == "Approved"
    s3 = failing_gate_run.workdir / "s3"
    (evaluation_file,) = [p for p in failing_gate_run.new_files
                          if p.name == "evaluation.json" and p.is_relative_to(s3)]
    gate = json.loads(evaluation_file.read_text())["gate"]
    assert gate["champion_present"] == 1
    assert gate["champion_gap"] == 0.0  # the same data and seed give the same model
    text = " ".join(failing_gate_run.cli.text.split())
    assert f"matches the champion ({gate['champion']:.4f}): a tie" in text
    assert "beats the champion" not in text  # a tie is not a win
    assert gate["champion_gap_interval"] == [0.0, 0.0]  # paired: the same resampled rows
    assert gate["champion_comparison"] in text
    assert gate["champion_comparison"].endswith("not distinguishable")
    assert f"beats the trivial baseline ({gate['baseline']:.4f})" in text


def test_the_summary_labels_the_split_of_each_number(default_run):
    text = " ".join(default_run.cli.text.split())
    assert "validation split: accuracy=" in text
    assert "on the test split" in text
    assert "no champion yet" in text


# -- the user's data ---------------------------------------------------------------------


def test_user_regression_data_runs_the_regression_path(regression_run, diabetes_csv):
    package = the_package(regression_run)
    assert package["ModelPackageGroupName"] == "diabetes"  # the data's own group

    assert package["CustomerMetadataProperties"]["mlops:problem-type"] == "regression"
    assert package["CustomerMetadataProperties"]["mlops:target-column"] == "progression"
    metrics = model_quality(regression_run, package)["regression_metrics"]
    spread = pd.read_csv(diabetes_csv)["progression"].std(ddof=0)
    assert metrics["r2"]["value"] > 0.2  # better than predicting the mean (r2 = 0)
    assert metrics["rmse"]["value"] < spread
    assert "r2" in regression_run.cli.text


def test_the_package_records_the_fingerprint_of_its_training_data(regression_run,
                                                                 diabetes_csv):
    package = the_package(regression_run)
    digest = fingerprint_files([diabetes_csv])["digest"]
    assert package["CustomerMetadataProperties"]["mlops:training-data"] == digest
    assert f"training data: {short_digest(digest)}" in regression_run.cli.text


def test_a_retrain_on_unchanged_data_is_not_registered_and_says_so(unchanged_data_run,
                                                                   diabetes_csv, tmp_path):
    from tests.local.test_cli_hints import hints, serve_hint

    run = unchanged_data_run
    short = short_digest(fingerprint_files([diabetes_csv])["digest"])

    assert run.cli.code == 0, run.cli.text[-2000:]  # not a failure: nothing new to register
    assert run.packages_after == run.packages_before != []
    assert (f"training data unchanged since the champion (version 1, data {short}): not "
            "registered") in run.cli.text
    assert "--register-unchanged-data" in run.cli.text
    assert "matches the champion" in run.cli.text and "beats the champion" not in run.cli.text
    assert "nothing was registered, so nothing is served" in run.cli.text
    # and the hint to keep serving the champion serves it, run as printed from elsewhere
    (serve,) = [hint for hint in hints(run.cli.text) if hint.startswith("mlops serve")]
    assert "serving diabetes version 1 at" in serve_hint(serve, tmp_path)


def test_with_the_option_unchanged_data_is_registered_and_matches(
        unchanged_data_registered_run, project_dir, diabetes_csv):
    run = unchanged_data_registered_run
    package = the_package(run)
    digest = fingerprint_files([diabetes_csv])["digest"]

    assert package["ModelPackageVersion"] == 2
    assert package["CustomerMetadataProperties"]["mlops:training-data"] == digest
    assert "matches the champion" in run.cli.text and "beats the champion" not in run.cli.text
    assert "registered anyway" in run.cli.text
    listing = run_cli("registry", "list", "--local", "--project-dir", project_dir,
                      "--workdir", run.workdir, "--group", "diabetes")
    assert listing.code == 0 and listing.text.count(short_digest(digest)) == 2


def test_data_without_a_target_exits_2_before_doing_anything(project_dir, diabetes_csv,
                                                             tmp_path):
    result = run_cli("up", "--local", "--project-dir", project_dir, "--workdir", tmp_path,
                     "--data", diabetes_csv)

    assert result.code == 2
    assert "--target" in result.err
    assert list(tmp_path.iterdir()) == []


# -- approval verbs ----------------------------------------------------------------------


def test_reject_approve_and_list_change_and_show_the_status(default_run, project_dir,
                                                            dev_config):
    group = dev_config["modelName"]
    workdir = default_run.workdir
    common = ["--local", "--project-dir", project_dir, "--workdir", workdir]
    registry = LocalRegistry(workdir / "registry")
    version = the_package(default_run)["ModelPackageVersion"]

    rejected = run_cli("reject", *common, "--version", version, "--comment", "leaks the label")
    assert rejected.code == 0, rejected.text
    stored = json.loads((workdir / "registry" / group / f"{version}.json").read_text())
    assert stored["ModelApprovalStatus"] == "Rejected"
    assert stored["ApprovalDescription"] == "leaks the label"
    assert registry.latest_approved(group) is None
    listed = run_cli("registry", "list", *common)
    assert listed.code == 0
    assert re.search(rf"\b{version}\b.*Rejected", listed.out)
    assert "Approved" not in listed.out

    approved = run_cli("approve", *common)  # no --version: the latest
    assert approved.code == 0, approved.text
    assert registry.get(group, version)["ModelApprovalStatus"] == "Approved"
    assert registry.latest_approved(group)["ModelPackageVersion"] == version
    listed = run_cli("registry", "list", *common)
    assert re.search(rf"\b{version}\b.*Approved", listed.out)
    assert "Rejected" not in listed.out


def test_approving_a_version_that_does_not_exist_exits_2_naming_it(default_run, project_dir,
                                                                  dev_config):
    registry = LocalRegistry(default_run.workdir / "registry")
    before = registry.packages()

    result = run_cli("approve", "--local", "--project-dir", project_dir,
                     "--workdir", default_run.workdir, "--version", 99)

    assert result.code == 2
    assert "99" in result.err and dev_config["modelName"] in result.err
    assert registry.packages() == before


def test_bad_data_exits_2_with_one_line_per_problem_before_any_job(project_dir, tmp_path):
    data = tmp_path / "churn.csv"
    frame = load_breast_cancer(as_frame=True).frame
    frame.loc[3, "mean area"] = float("inf")
    frame.to_csv(data, index=False)
    workdir = tmp_path / "work"
    result = run_cli("up", "--local", "--project-dir", project_dir, "--workdir", workdir,
                     "--data", data, "--target", "taget")

    assert result.code == 2
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert "target column 'taget' not found; did you mean 'target'?" in lines[0]
    assert "Traceback" not in result.err + result.out
    assert not workdir.exists()


def test_a_continuous_target_under_classification_suggests_regression(project_dir, tmp_path,
                                                                     diabetes_csv):
    workdir = tmp_path / "work"
    result = run_cli("up", "--local", "--project-dir", project_dir, "--workdir", workdir,
                     "--data", diabetes_csv, "--target", "bmi")

    assert result.code == 2
    assert "use --problem-type regression" in " ".join(result.err.split())
    assert not workdir.exists()


def test_a_model_no_better_than_the_majority_class_is_rejected(project_dir, tmp_path):
    """The churn-like table, its leak removed and every feature shuffled: whatever the model
    learns is noise. With the threshold at 0, only the baseline condition can stop it."""
    from tests.training.dirty_data import churn_table

    frame = churn_table().drop(columns=["leak"])
    rng = np.random.default_rng(1)
    for column in frame.columns.drop("churned"):
        frame[column] = rng.permutation(frame[column].to_numpy())
    data = tmp_path / "churn_noise.csv"
    frame.to_csv(data, index=False)
    run = up_local(project_dir, tmp_path / "work", "--data", data, "--target", "churned",
                   "--threshold", "0")

    assert run.cli.code == 1, run.cli.text[-2000:]
    assert run.packages_after == []
    text = " ".join(run.cli.text.split())
    assert "does not beat the trivial baseline (0.5000) by the margin 0.05" in text


def test_a_test_split_too_small_to_decide_fails_the_gate_saying_so(project_dir, diabetes_csv,
                                                                   tmp_path):
    """30 rows: Preprocess keeps about 15% for test (a hash of each row decides), a handful,
    fewer than MIN_TEST_ROWS."""
    from training.contract import MIN_TEST_ROWS

    small = tmp_path / "small.csv"
    pd.read_csv(diabetes_csv).sample(30, random_state=0).to_csv(small, index=False)
    run = up_local(project_dir, tmp_path / "work", "--data", small, "--target", "progression",
                   "--problem-type", "regression")

    assert run.cli.code == 1, run.cli.text[-2000:]
    assert run.packages_after == []
    rows = int(re.search(r"test rows = (\d+)", run.cli.text).group(1))  # the Fail step's
    assert 0 < rows < MIN_TEST_ROWS
    assert (f"quality gate: failed: the test split is too small to decide: it has {rows} rows; "
            f"the minimum is {MIN_TEST_ROWS} for regression; add labelled rows") in run.cli.text
    assert "sufficient: 0" in run.cli.text


def test_the_registered_request_with_its_fingerprint_is_a_valid_create_model_package(
        regression_run):
    """What the Register step sent, resolved (the digest included), against botocore's
    CreateModelPackage input: its shape, and the patterns and limits the service checks."""
    from botocore.validate import validate_parameters

    from tests.pipeline.definition_checks import literal_constraint_problems, service_model

    package = the_package(regression_run)
    registry_fields = {"ModelPackageVersion", "ModelPackageArn", "CreationTime",
                       "LastModifiedTime", "ApprovalDescription"}
    request = {key: value for key, value in package.items() if key not in registry_fields}
    shape = service_model().operation_model("CreateModelPackage").input_shape

    validate_parameters(request, shape)  # raises ParamValidationError
    assert literal_constraint_problems(request, shape) == []
    assert request["CustomerMetadataProperties"]["mlops:training-data"].startswith("sha256:")
