"""What jobs need beyond the image reaches them offline: a wheelhouse in the plan and definition.

A package listed in ``training/requirements.txt`` becomes part of a wheelhouse archive named
by the requirements' key, uploaded beside the code, and given to every job (processing input,
training channel) for the bootstrap to install with network isolation on. The offline plan
names the archive without building it; a real engine builds it.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest

from mlops_components.components import code_package
from mlops_components.plan import evaluate
from mlops_components.sagemaker.definition import steps_by_name
from mlops_components.sagemaker.requirements import requirements_key
from tests.unit.test_training_pipeline import OBJECT, definition_of, make
from training.contract import (
    IMAGE_REQUIREMENTS_FILE,
    PACKAGE,
    PROCESSING_WHEELHOUSE_DIR,
    REQUIREMENTS_FILE,
    SOURCEDIR_TARBALL,
    WHEELHOUSE_CHANNEL,
)

TRAINING_DIR = code_package.TRAINING_DIR


def code_dir_with(tmp_path: Path, requirements: str) -> Path:
    """A copy of the shipped training/ whose requirements.txt says ``requirements``."""
    target = tmp_path / "training"
    shutil.copytree(TRAINING_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    (target / REQUIREMENTS_FILE).write_text(requirements)
    return target


def wheelhouse_objects(plan):
    return [r for r in plan.of_type(OBJECT) if "/wheelhouse/" in r.inputs["key"]]


def wheelhouse_inputs(definition):
    """Where each step of the definition gets the wheelhouse from, by step name."""
    found = {}
    for name, step in steps_by_name(definition).items():
        arguments = step.get("Arguments", {})
        for item in arguments.get("ProcessingInputs", []):
            if item["InputName"] == WHEELHOUSE_CHANNEL:
                assert item["S3Input"]["LocalPath"] == PROCESSING_WHEELHOUSE_DIR
                found[name] = item["S3Input"]["S3Uri"]
        channels = arguments.get("InputDataConfig") or arguments.get(
            "TrainingJobDefinition", {}).get("InputDataConfig", [])
        for channel in channels:
            if channel["ChannelName"] == WHEELHOUSE_CHANNEL:
                found[name] = channel["DataSource"]["S3DataSource"]["S3Uri"]
    return found


def test_the_shipped_requirements_reach_every_job_as_one_wheelhouse():
    plan = evaluate(make(), project="mlops", stack="test")
    (archive,) = wheelhouse_objects(plan)
    key = requirements_key(TRAINING_DIR / REQUIREMENTS_FILE, TRAINING_DIR / IMAGE_REQUIREMENTS_FILE)
    assert archive.inputs["key"].endswith(f"/wheelhouse/wheelhouse-{key}.tar.gz")
    uri = f"s3://stack-bucket/{archive.inputs['key']}"
    assert wheelhouse_inputs(definition_of(plan)) == {
        "Profile": uri, "Preprocess": uri, "Train": uri, "Evaluate": uri}


def test_a_package_added_to_requirements_changes_the_wheelhouse_the_jobs_get(tmp_path):
    shipped = evaluate(make(), project="mlops", stack="test")
    requirements = (TRAINING_DIR / REQUIREMENTS_FILE).read_text() + "lightgbm==4.6.0\n"
    extended = evaluate(make(code_dir=code_dir_with(tmp_path, requirements)),
                        project="mlops", stack="test")
    (before,), (after,) = wheelhouse_objects(shipped), wheelhouse_objects(extended)
    assert before.inputs["key"] != after.inputs["key"]
    assert set(wheelhouse_inputs(definition_of(extended)).values()) == {
        f"s3://stack-bucket/{after.inputs['key']}"}
    # ... and the code the jobs run carries the requirement the bootstrap checks and installs.
    (code_archive,) = [r for r in extended.of_type(OBJECT)
                       if r.inputs["key"].endswith(f"/{SOURCEDIR_TARBALL}")]
    with tarfile.open(code_archive.inputs["source"]["asset"]["path"]) as archive:
        shipped = archive.extractfile(f"{PACKAGE}/{REQUIREMENTS_FILE}").read().decode()
    assert "lightgbm==4.6.0" in shipped


def test_nothing_beyond_the_image_means_no_wheelhouse_and_no_input(tmp_path):
    plan = evaluate(make(code_dir=code_dir_with(tmp_path, "# nothing beyond the image\n")),
                    project="mlops", stack="test")
    assert wheelhouse_objects(plan) == []
    assert wheelhouse_inputs(definition_of(plan)) == {}


def test_the_offline_plan_never_builds_the_wheelhouse(monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("the offline plan tried to build the wheelhouse")

    monkeypatch.setattr(code_package, "build_wheelhouse", no_download)
    plan = evaluate(make(), project="mlops", stack="test")
    assert len(wheelhouse_objects(plan)) == 1


def test_a_real_engine_builds_the_wheelhouse_it_uploads(monkeypatch, tmp_path):
    built = tmp_path / "wheelhouse-built.tar.gz"
    calls = []

    def fake_build(requirements, pins, destination):
        calls.append((requirements, pins))
        built.write_bytes(b"archive")
        return built

    monkeypatch.setattr(code_package, "build_wheelhouse", fake_build)
    monkeypatch.delenv(code_package.OFFLINE_PLAN_ENV, raising=False)
    wheelhouse = code_package.training_wheelhouse(TRAINING_DIR)
    assert calls == [(TRAINING_DIR / REQUIREMENTS_FILE, TRAINING_DIR / IMAGE_REQUIREMENTS_FILE)]
    assert wheelhouse is not None and wheelhouse.path == built


@pytest.mark.parametrize("entry", ["Profile", "Preprocess", "Evaluate"])
def test_every_processing_job_starts_through_the_bootstrap(entry):
    definition = definition_of(evaluate(make(), project="mlops", stack="test"))
    command = steps_by_name(definition)[entry]["Arguments"]["AppSpecification"][
        "ContainerEntrypoint"]
    assert command[1].endswith("/training/bootstrap.py") and command[2] == entry.lower()
    assert json.dumps(command).count("bootstrap.py") == 1
