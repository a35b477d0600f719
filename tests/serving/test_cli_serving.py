"""`mlops serve` (a real process on 127.0.0.1, stopped with Ctrl-C), `mlops status` (local and
against moto with a registered, deployed package) and the smoke test that ends `up --local`."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
import yaml

from mlops_components.cli import main
from mlops_components.components.model_endpoint import endpoint_alarm_names
from mlops_components.functions import deployer
from mlops_components.local.commands import Where
from mlops_components.local.registry import LocalRegistry
from mlops_components.local.smoke import invoke, serve_and_smoke
from mlops_components.local.workdir import LocalS3
from mlops_components.plan import Plan
from mlops_components.sagemaker.endpoint import endpoint_name as stack_endpoint_name
from tests.conftest import REPO_ROOT

REGION = "us-east-1"
BUCKET = "churn-data-bucket"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"


def run_cli(*argv) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "250")
        with redirect_stdout(out), redirect_stderr(err):
            code = main([str(arg) for arg in argv])
    return code, " ".join((out.getvalue() + "\n" + err.getvalue()).split())


@pytest.fixture
def project(tmp_path) -> tuple[Path, str]:
    """A copy of the example project whose dev model has a name of its own."""
    model = f"churn-{uuid.uuid4().hex[:6]}"
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml", "__main__.py"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    dev = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text())
    dev["config"]["mlops:modelName"] = model
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump(dev))
    return tmp_path, model


def model_archive(model_dir: Path, destination: Path) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(destination, "w:gz") as archive:
        for path in sorted(model_dir.iterdir()):
            archive.add(path, arcname=path.name)
    return destination


@pytest.fixture
def local_registry(project, classifier) -> tuple[Path, LocalRegistry, str]:
    """The project's workdir with v1 Approved and v2 waiting, both the real classifier."""
    directory, model = project
    workdir = directory / ".mlops" / "dev"
    registry = LocalRegistry(workdir / "registry")
    for version, status in ((1, "Approved"), (2, "PendingManualApproval")):
        url = f"s3://{BUCKET}/models/{model}/local-000{version}/model.tar.gz"
        model_archive(classifier.model_dir, LocalS3(workdir / "s3").path(url))
        registry.register({"ModelPackageGroupName": model, "ModelApprovalStatus": status,
                           "InferenceSpecification": {"Containers": [
                               {"Image": IMAGE, "ModelDataUrl": url}]}})
    return workdir, registry, model


def row(text: str, *cells: str) -> bool:
    """Whether a table row starts with these cells (rich draws │ between them)."""
    return re.search(r"│\s*" + r"\s*│\s*".join(map(re.escape, cells)) + r"\s*│", text) is not None


def rows_csv(classifier, count: int = 3) -> str:
    return classifier.frame.head(count).to_csv(index=False)


# -- mlops serve --------------------------------------------------------------------------


@pytest.mark.slow
def test_serve_answers_on_127_0_0_1_captures_and_stops_on_ctrl_c(project, local_registry,
                                                                 classifier, tmp_path):
    directory, _ = project
    capture = tmp_path / "capture"
    env = {**os.environ, "COLUMNS": "250", "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "mlops_components.cli", "serve", "--dev-env",
         "--project-dir", directory,
         "--port", "0", "--capture-dir", capture],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = process.stdout.readline()
        assert "version 1 at http://127.0.0.1:" in first, first + process.stderr.read()
        url = first.split(" at ")[1].strip()
        status, body = invoke(url, rows_csv(classifier))
        assert status == 200
        assert len(json.loads(body)["predictions"]) == 3
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err
    assert list(capture.rglob("*.jsonl"))


@pytest.mark.slow
def test_serve_group_serves_another_group_and_captures_under_its_endpoint(
        project, local_registry, tmp_path):
    from mlops_components.cli.serve import serve_command

    directory, model = project
    workdir, registry, _ = local_registry
    for package in registry.packages(model):  # the same archive, in a --data run's group
        registry.register({**{k: package[k] for k in ("ModelApprovalStatus",
                                                     "InferenceSpecification")},
                           "ModelPackageGroupName": "my-data"})
    out = io.StringIO()
    with redirect_stdout(out):
        code = serve_command(_serve_args(directory, group="my-data"), stop=_StopAfterStart())
    assert code == 0
    assert "serving my-data version 1 at http://127.0.0.1:" in out.getvalue()
    code, text = run_cli("serve", "--dev-env", "--project-dir", directory, "--port", "0",
                         "--group", "nobody")
    assert code == 2 and "no approved model package in group 'nobody'" in text


def test_serve_a_waiting_version_says_it_is_not_deployable(project, local_registry):
    from mlops_components.cli.serve import serve_command

    directory, _ = project
    stop = _StopAfterStart()
    out = io.StringIO()
    with redirect_stdout(out):
        code = serve_command(_serve_args(directory, version=2), stop=stop)
    assert code == 0
    assert "version 2 (PendingManualApproval: not deployable) at http://127.0.0.1:" in \
        out.getvalue()


@pytest.mark.parametrize(("setup", "argv", "message"), [
    ("empty", [], "no approved model package in group"),
    ("registry", ["--version", "7"], "has no version 7 (versions: 1, 2)"),
    ("registry", ["--port", "70000"], "--port must be between 0 and 65535 (got 70000)"),
    ("no-archive", [], "has no model archive at s3://"),
])
def test_serve_problems_are_one_line(project, local_registry, setup, argv, message):
    directory, model = project
    workdir, registry, _ = local_registry
    if setup == "empty":
        shutil.rmtree(workdir / "registry")
    if setup == "no-archive":
        shutil.rmtree(workdir / "s3")
    code, text = run_cli("serve", "--dev-env", "--project-dir", directory, "--port", "0",
                         *argv)
    assert code == 2
    assert message in text and "Traceback" not in text


class _StopAfterStart:
    """A stop event that is already set: serve_command starts, prints, stops."""

    def wait(self, timeout: float) -> bool:
        return True


def _serve_args(directory: Path, **overrides):
    import argparse
    values = dict(project_dir=directory, stack="dev", version=None, port=0, capture_dir=None,
                  workdir=None, dev_env=True, group=None)  # the test fitted its models here
    values.update(overrides)
    return argparse.Namespace(**values)


# -- mlops status --local ------------------------------------------------------------------


def test_local_status_lists_versions_and_the_live_one(project, local_registry):
    directory, model = project
    code, text = run_cli("status", "--local", "--project-dir", directory)
    assert code == 0, text
    assert f"model packages in {model}" in text
    assert row(text, "1", "Approved", "live") and row(text, "2", "PendingManualApproval", "")
    assert "awaiting approval: version(s) 2" in text
    assert "serves version 1" in text


# -- mlops status against SageMaker (moto) ------------------------------------------------


@pytest.fixture
def deployed(project, moto_endpoint, monkeypatch):
    """In moto: v1 approved and deployed by the deployer, v2 waiting, the alarms in place."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    _, model = project
    sm = boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_endpoint)
    cloudwatch = boto3.client("cloudwatch", region_name=REGION, endpoint_url=moto_endpoint)
    sm.create_model_package_group(ModelPackageGroupName=model)
    arns = [sm.create_model_package(
        ModelPackageGroupName=model, ModelApprovalStatus=status,
        InferenceSpecification={"Containers": [{"Image": IMAGE, "ModelDataUrl":
                                                f"s3://{BUCKET}/models/{v}/model.tar.gz"}],
                                "SupportedContentTypes": ["text/csv"],
                                "SupportedResponseMIMETypes": ["text/csv"]})["ModelPackageArn"]
        for v, status in ((1, "Approved"), (2, "PendingManualApproval"))]
    config = deployer.Config(endpoint_name=stack_endpoint_name(model), model_package_group=model,
                             execution_role_arn="arn:aws:iam::123456789012:role/model")
    event = {"source": "aws.sagemaker", "detail-type": "SageMaker Model Package State Change",
             "detail": {"ModelPackageGroupName": model, "ModelPackageVersion": 1,
                        "ModelPackageArn": arns[0], "ModelApprovalStatus": "Approved",
                        "ModelPackageStatus": "Completed"}}
    assert deployer.deploy(event, config, sm).action == "created"
    # the live package is recorded when SageMaker says the endpoint serves it
    deployer.handle({"source": "aws.sagemaker", "detail-type": "SageMaker Endpoint State Change",
                     "detail": {"EndpointName": config.endpoint_name,
                                "EndpointStatus": "IN_SERVICE"}}, config, sm)
    names = endpoint_alarm_names(stack_endpoint_name(model))
    for name in (names["errors"], names["latency"]):
        cloudwatch.put_metric_alarm(AlarmName=name, Namespace="AWS/SageMaker",
                                    MetricName="Invocation5XXErrors", Statistic="Sum",
                                    Period=60, EvaluationPeriods=1, Threshold=1,
                                    ComparisonOperator="GreaterThanOrEqualToThreshold")
    cloudwatch.set_alarm_state(AlarmName=names["errors"], StateValue="ALARM",
                               StateReason="test")
    return arns


def test_status_shows_versions_the_live_package_the_endpoint_and_its_alarms(
        project, moto_endpoint, deployed):
    directory, model = project
    code, text = run_cli("status", "--project-dir", directory, "--region", REGION,
                         "--endpoint-url", moto_endpoint)
    assert code == 0, text
    assert row(text, "1", "Approved", "live") and row(text, "2", "PendingManualApproval", "")
    endpoint = stack_endpoint_name(model)
    assert f"endpoint {endpoint}: InService" in text and f"live package {deployed[0]}" in text
    names = endpoint_alarm_names(endpoint)
    assert f"alarm {names['errors']}: ALARM" in text
    assert re.search(rf"alarm {names['latency']}: (OK|INSUFFICIENT_DATA)", text)
    assert f"alarm {names['deployer']}: missing" in text


def test_status_before_any_approval_says_the_endpoint_comes_with_it(project, moto_endpoint,
                                                                     monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    directory, model = project
    boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_endpoint) \
        .create_model_package_group(ModelPackageGroupName=model)
    code, text = run_cli("status", "--project-dir", directory, "--region", REGION,
                         "--endpoint-url", moto_endpoint)
    assert code == 0, text
    assert f"no model packages in {model}" in text
    assert "not created yet (the deployer creates it on the first approval)" in text


def test_status_of_an_unknown_group_is_one_line(project, moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    directory, _ = project
    code, text = run_cli("status", "--project-dir", directory, "--region", REGION,
                         "--endpoint-url", moto_endpoint, "--group", "no-such-group")
    assert code == 2 and "no model package group 'no-such-group' in http" in text
    assert "Traceback" not in text


# -- the end of `mlops up --local` ------------------------------------------------------------


def fake_run(workdir: Path, registry: LocalRegistry, package: dict | None, stack: str,
             test_dir: Path):
    steps = [] if package is None else [SimpleNamespace(
        type="RegisterModel", status="Succeeded",
        properties={"ModelPackageArn": package["ModelPackageArn"]})]
    # The test's models were fitted by this interpreter: serve them under it (a real run
    # serves under the job environment that trained its model).
    return SimpleNamespace(execution=SimpleNamespace(steps=steps), registry=registry,
                           workdir=workdir, plan=Plan(stack=stack), where=Where(stack),
                           local_outputs=lambda step: {"test": test_dir},
                           unchanged_data_held_back=lambda: False,
                           job_environment=SimpleNamespace(python=sys.executable))


@pytest.fixture
def test_split(tmp_path, classifier) -> Path:
    folder = tmp_path / "test"
    folder.mkdir()
    (folder / "test-algo-1.csv").write_text(classifier.frame.head(20).to_csv(index=False))
    return folder


@pytest.mark.slow
def test_an_approved_package_is_served_and_answers_the_smoke_request(local_registry,
                                                                     test_split):
    workdir, registry, model = local_registry
    package = registry.get(model, 1)
    started = time.monotonic()
    result = serve_and_smoke(fake_run(workdir, registry, package, "dev", test_split))
    assert result.served and result.status == 200, result.message
    assert len(result.response["predictions"]) == 3
    assert result.url.startswith("http://127.0.0.1:")
    assert "served version 1" in result.message
    assert f"mlops serve --stack dev --group {model}`" in result.message
    assert time.monotonic() - started < 30
    # the smoke request was captured where the endpoint writes capture: the bucket's capture/
    assert list((workdir / "s3" / BUCKET / "capture").rglob("*.jsonl"))


def test_a_waiting_package_is_not_served_and_the_user_is_told_how(local_registry, test_split):
    workdir, registry, model = local_registry
    result = serve_and_smoke(fake_run(workdir, registry, registry.get(model, 2), "prod",
                                      test_split))
    assert not result.served
    assert f"mlops approve --local --stack prod --group {model} --version 2`" in result.message
    assert f"mlops serve --stack prod --group {model} --version 2`" in result.message


def test_nothing_registered_means_nothing_served(local_registry, test_split):
    workdir, registry, _ = local_registry
    result = serve_and_smoke(fake_run(workdir, registry, None, "dev", test_split))
    assert not result.served and "nothing was registered" in result.message
