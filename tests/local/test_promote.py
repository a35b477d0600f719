"""`mlops promote --local`: an approved dev package re-registered in staging's local registry.

The dev package is registered by the local registry's own register function with the request
the pipeline's Register step sends (artifacts in the dev workdir's local S3); staging is the
project's real Pulumi.staging.yaml (its group, approval status and planned bucket).
"""

from __future__ import annotations

import getpass
import json
from datetime import datetime

import pytest
import yaml

from mlops_components.local.registry import LocalRegistry
from mlops_components.local.workdir import LocalWorkdir
from mlops_components.sagemaker.spec import (
    PROMOTED_AT_METADATA,
    PROMOTED_BY_METADATA,
    PROMOTED_FROM_METADATA,
    PROMOTION_REASON_METADATA,
    TRAINING_DATA_METADATA,
)
from tests.local.conftest import copy_project, run_cli

DEV_BUCKET = "diagnosis-dev-data-bucket-0000000"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"


def _config(project, stage: str) -> dict:
    return yaml.safe_load((project / f"Pulumi.{stage}.yaml").read_text())["config"]


def register_dev_package(workdir, group: str, status: str = "Approved") -> dict:
    """A package as Register leaves it, with its model, metrics and baselines in local S3."""
    layout = LocalWorkdir(workdir)
    run = f"s3://{DEV_BUCKET}/models/diagnosis-dev-training/exec-1"
    for key, body in (("model/model.tar.gz", b"model bytes"),
                      ("evaluation/evaluation.json", b'{"m": {"balanced_accuracy": '
                                                     b'{"value": 0.93}}}'),
                      ("baseline/statistics.json", b'{"version": 0}'),
                      ("baseline/constraints.json", b'{"version": 0}')):
        path = layout.s3.path(f"{run}/{key}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    statistics = {"ContentType": "application/json", "S3Uri": f"{run}/baseline/statistics.json"}
    constraints = {"ContentType": "application/json",
                   "S3Uri": f"{run}/baseline/constraints.json"}
    return layout.registry.register({
        "ModelPackageGroupName": group, "ModelApprovalStatus": status,
        "InferenceSpecification": {
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"{run}/model/model.tar.gz",
                            "Environment": {"SAGEMAKER_PROGRAM": "training.serve.inference"}}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        "ModelMetrics": {"ModelQuality": {"Statistics": {
            "ContentType": "application/json", "S3Uri": f"{run}/evaluation/evaluation.json"}},
            "ModelDataQuality": {"Statistics": statistics, "Constraints": constraints}},
        "DriftCheckBaselines": {"ModelDataQuality": {"Statistics": statistics,
                                                     "Constraints": constraints}},
        "CustomerMetadataProperties": {TRAINING_DATA_METADATA: "sha256:abc",
                                       "mlops:code-uri": f"s3://{DEV_BUCKET}/code/123"},
        "Domain": "MACHINE_LEARNING", "Task": "CLASSIFICATION"})


@pytest.fixture
def stages(tmp_path):
    project = copy_project(tmp_path)
    dev, staging = project / ".mlops" / "dev", project / ".mlops" / "staging"
    dev_group = _config(project, "dev")["mlops:modelName"]
    register_dev_package(dev, dev_group)  # version 1: approved
    register_dev_package(dev, dev_group, "PendingManualApproval")  # version 2
    return project, dev, staging, dev_group


def promote(project, *extra):
    return run_cli("promote", "--local", "--project-dir", project, "--from", "dev", "--to",
                   "staging", *extra)


def test_promote_registers_a_pending_copy_that_owns_its_artifacts(stages):
    project, dev, staging, dev_group = stages
    source = LocalRegistry(dev / "registry").get(dev_group, 1)

    result = promote(project, "--version", "1", "--comment", "passed review 2026-12-03")

    assert result.code == 0, result.text
    staging_group = _config(project, "staging")["mlops:modelName"]
    [promoted] = LocalRegistry(staging / "registry").packages(staging_group)
    assert promoted["ModelApprovalStatus"] == "PendingManualApproval"  # staging's own gate
    metadata = promoted["CustomerMetadataProperties"]
    assert metadata[PROMOTED_FROM_METADATA] == source["ModelPackageArn"]
    assert metadata[PROMOTED_BY_METADATA] == getpass.getuser()
    assert metadata[PROMOTION_REASON_METADATA] == "passed review 2026-12-03"
    assert datetime.fromisoformat(metadata[PROMOTED_AT_METADATA]).utcoffset().seconds == 0
    assert metadata[TRAINING_DATA_METADATA] == "sha256:abc"  # the source's metadata carried
    # Every artifact is a copy in staging's bucket, byte for byte, under models/promoted/.
    staging_s3 = LocalWorkdir(staging).s3
    dev_s3 = LocalWorkdir(dev).s3
    uris = [promoted["InferenceSpecification"]["Containers"][0]["ModelDataUrl"],
            promoted["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"],
            promoted["DriftCheckBaselines"]["ModelDataQuality"]["Constraints"]["S3Uri"]]
    olds = [source["InferenceSpecification"]["Containers"][0]["ModelDataUrl"],
            source["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"],
            source["DriftCheckBaselines"]["ModelDataQuality"]["Constraints"]["S3Uri"]]
    for new, old in zip(uris, olds, strict=True):
        assert new.startswith("s3://diagnosis-staging-data-bucket-")
        assert f"/models/promoted/{dev_group}/1/" in new
        assert staging_s3.path(new).read_bytes() == dev_s3.path(old).read_bytes()
    assert "approve --local --stack staging" in result.text and "--version 1" in result.text


def test_promoting_the_same_package_twice_creates_one(stages):
    project, _, staging, _ = stages
    assert promote(project, "--version", "1").code == 0
    again = promote(project, "--version", "1", "--comment", "again")
    assert again.code == 0
    assert "already promoted" in again.text and "nothing created" in again.text
    staging_group = _config(project, "staging")["mlops:modelName"]
    assert len(LocalRegistry(staging / "registry").packages(staging_group)) == 1


def test_a_promoted_and_approved_package_promotes_on_to_prod(stages):
    project, _, staging, _ = stages
    assert promote(project, "--version", "1").code == 0
    staging_group = _config(project, "staging")["mlops:modelName"]
    staged = LocalRegistry(staging / "registry").get(staging_group, 1)
    assert run_cli("approve", "--local", "--project-dir", project, "--stack", "staging",
                   "--version", "1").code == 0
    result = run_cli("promote", "--local", "--project-dir", project, "--from", "staging",
                     "--to", "prod", "--version", "1")
    assert result.code == 0, result.text
    prod_group = _config(project, "prod")["mlops:modelName"]
    [released] = LocalRegistry(project / ".mlops" / "prod" / "registry").packages(prod_group)
    metadata = released["CustomerMetadataProperties"]
    assert metadata[PROMOTED_FROM_METADATA] == staged["ModelPackageArn"]
    assert PROMOTION_REASON_METADATA not in metadata  # no comment: no stale reason either


@pytest.mark.parametrize(("argv", "message"), [
    (["--version", "2"], "version 2 of group 'diagnosis-dev' is PendingManualApproval: only "
                         "an Approved package is promoted"),
    (["--version", "7"], "group 'diagnosis-dev' has no version 7 (versions: 1, 2)"),
    (["--version", "1", "--comment", "ok, ship it!"],
     "--comment has characters SageMaker's CustomerMetadataProperties values refuse: '!' ','"),
    (["--version", "1", "--comment", "x" * 257], "--comment is 257 characters"),
])
def test_refusals_name_the_problem_and_create_nothing(stages, argv, message):
    project, _, staging, _ = stages
    result = promote(project, *argv)
    assert result.code == 2
    assert message in result.text
    assert len(result.err.strip().splitlines()) == 1
    assert not list((staging / "registry").glob("*/*.json"))


@pytest.mark.parametrize(("source", "target", "message"), [
    ("dev", "dev", "--from dev --to dev: the same stage"),
    ("dev", "qa", "stack 'qa': no Pulumi.qa.yaml"),
    ("qa", "staging", "stack 'qa': no Pulumi.qa.yaml"),
])
def test_unknown_or_repeated_stages_are_refused(stages, source, target, message):
    project = stages[0]
    result = run_cli("promote", "--local", "--project-dir", project, "--from", source,
                     "--to", target, "--version", "1")
    assert result.code == 2 and message in result.text, result.text


def test_a_missing_artifact_is_refused_before_anything_is_registered(stages):
    project, dev, staging, dev_group = stages
    package = LocalRegistry(dev / "registry").get(dev_group, 1)
    LocalWorkdir(dev).s3.path(
        package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]).unlink()
    result = promote(project, "--version", "1")
    assert result.code == 2 and "evaluation.json is missing" in result.text
    assert not list((staging / "registry").glob("*/*.json"))
    assert json.loads((dev / "registry" / dev_group / "1.json").read_text()) == package


def test_a_model_trained_by_a_real_local_run_is_promoted_with_its_metrics(
        project_dir, default_run, tmp_path):
    """`mlops up --local` (dev, auto-approved) then promote: the staging package's documents
    are read from staging's own copies (the dev workdir is deleted first)."""
    import shutil

    source_workdir = tmp_path / "dev"
    shutil.copytree(default_run.workdir, source_workdir)
    staging = tmp_path / "staging"  # created by promote, as up creates its --workdir
    [approved] = [p for p in default_run.registry.packages()
                  if p["ModelApprovalStatus"] == "Approved"][:1]
    result = run_cli("promote", "--local", "--project-dir", project_dir, "--from", "dev",
                     "--to", "staging", "--version", approved["ModelPackageVersion"],
                     "--from-workdir", source_workdir, "--to-workdir", staging)
    assert result.code == 0, result.text
    shutil.rmtree(source_workdir)
    listing = run_cli("registry", "list", "--local", "--project-dir", project_dir, "--stack",
                      "staging", "--workdir", staging)
    assert listing.code == 0, listing.text
    assert "PendingManualApproval" in listing.text and "balanced_accuracy=" in listing.text
    [promoted] = LocalRegistry(staging / "registry").packages()
    model = promoted["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    assert LocalWorkdir(staging).s3.path(model).stat().st_size == LocalWorkdir(
        default_run.workdir).s3.path(approved["InferenceSpecification"]["Containers"][0][
            "ModelDataUrl"]).stat().st_size


def test_a_promoted_package_shows_its_whole_lineage_in_each_stage(project_dir, default_run,
                                                                  tmp_path):
    """dev -> staging -> prod, each approved with a comment: staging's and prod's lineage name
    the data file dev trained on with its version, dev's execution and jobs, the metrics and
    the gate's outcome, every promotion and every approval, read from the stage's own
    workdir alone (dev's and staging's workdirs are deleted before each stage is read)."""
    import shutil

    from mlops_components.sagemaker.spec import LINEAGE_METADATA
    from training.lineage import file_digest

    dev = tmp_path / "dev"
    shutil.copytree(default_run.workdir, dev)
    [approved] = [p for p in default_run.registry.packages()
                  if p["ModelApprovalStatus"] == "Approved"][:1]
    source_manifest_uri = approved["CustomerMetadataProperties"][LINEAGE_METADATA]
    manifest = json.loads(LocalWorkdir(dev).s3.read_text(source_manifest_uri))
    [data_object] = manifest["objects"]
    data_version = f"sha256:{file_digest(LocalWorkdir(dev).s3.path(data_object['uri']))}"
    pipeline, execution_id = approved["InferenceSpecification"]["Containers"][0][
        "ModelDataUrl"].split("/")[4:6]
    workdirs = {"dev": dev, "staging": tmp_path / "staging", "prod": tmp_path / "prod"}
    comments = {"staging": ("passed dev checks", "staging soak ok"),
                "prod": ("staging soak ok", "go live")}
    arns = {"dev": approved["ModelPackageArn"]}
    stages = ["dev", "staging", "prod"]
    for previous, stage in zip(stages, stages[1:], strict=False):
        workdirs[stage].mkdir()
        version = 1 if previous != "dev" else approved["ModelPackageVersion"]
        promoted = run_cli("promote", "--local", "--project-dir", project_dir, "--from",
                           previous, "--to", stage, "--version", version, "--from-workdir",
                           workdirs[previous], "--to-workdir", workdirs[stage], "--comment",
                           comments[stage][0])
        assert promoted.code == 0, promoted.text
        shutil.rmtree(workdirs[previous])  # the stage reads its own workdir alone
        approve = run_cli("approve", "--local", "--project-dir", project_dir, "--stack", stage,
                          "--workdir", workdirs[stage], "--version", 1, "--comment",
                          comments[stage][1])
        assert approve.code == 0, approve.text
        [package] = LocalRegistry(workdirs[stage] / "registry").packages()
        arns[stage] = package["ModelPackageArn"]
        # The package names the lineage copy in its own bucket; the provenance, the source.
        metadata = package["CustomerMetadataProperties"]
        copy_uri = metadata[LINEAGE_METADATA]
        assert copy_uri.startswith("s3://diagnosis-") and "/models/promoted/" in copy_uri
        assert LocalWorkdir(workdirs[stage]).s3.path(copy_uri).is_file()
        assert metadata[PROMOTED_FROM_METADATA] == arns[previous]

        result = run_cli("lineage", "--local", "--project-dir", project_dir, "--stack", stage,
                         "--workdir", workdirs[stage], "--version", 1)

        assert result.code == 0, result.text
        text = result.text
        assert f"{data_object['uri']} version {data_version}" in text
        assert "input prefix unknown" not in text and "no data objects" not in text
        assert (f"arn:aws:sagemaker:local:000000000000:pipeline/{pipeline.lower()}/execution/"
                f"{execution_id} (Succeeded") in text
        assert "pipeline/promoted/" not in text
        for step, kind in (("Profile", "ProcessingJob"), ("Preprocess", "ProcessingJob"),
                           ("Train", "TrainingJob"), ("Evaluate", "ProcessingJob")):
            assert f"{step} {kind} arn:aws:sagemaker:local:000000000000:" in text
            assert f"/{execution_id}-{step}".lower() in text
        assert "balanced_accuracy=" in text and "quality gate passed" in text
        assert " ?" not in text
        # Every package in order, every promotion (who, why, from which), every approval.
        chain = [f"-> package {arns[s]}" for s in stages[:stages.index(stage) + 1]]
        assert [text.index(line) for line in chain] == sorted(text.index(line)
                                                              for line in chain)
        for earlier in stages[1:stages.index(stage) + 1]:
            promotion, approval = comments[earlier]
            source = stages[stages.index(earlier) - 1]
            assert (f"promoted from {arns[source]} by {getpass.getuser()} at ") in text
            assert f": {promotion}" in text
            assert f"Approved by {getpass.getuser()} at " in text and approval in text
        assert text.index("-> evaluation") < text.index(chain[0])
        assert f"{stage}" in text.split("-> endpoint")[1] and "serves it" in text
