"""Serving a registered package locally, and the smoke test that ends `mlops up --local`.

A package's ``ModelDataUrl`` names its model.tar.gz in the local S3 stand-in; the archive is
served as the endpoint would serve it (``local/serve.py``: SageMaker's container contract on
127.0.0.1), with capture records written under the bucket's capture prefix, where the real
endpoint writes them. The smoke request is a few rows of the run's own test split, sent as
CSV with its header (the target column is allowed and ignored by the handler).
"""

from __future__ import annotations

import csv
import io
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_components.bucket_layout import PREFIXES
from mlops_components.enums import ApprovalStatus
from mlops_components.functions import deployer
from mlops_components.local.run import LocalRun
from mlops_components.local.serve import ProcessServer, ServerHandle, serve_model, serve_with
from mlops_components.local.workdir import LocalWorkdir
from mlops_components.plan import Plan
from mlops_components.sagemaker.spec import StepName

ENDPOINT_TYPE = "mlops:index:ModelEndpoint"
FUNCTION = "aws:lambda/function:Function"
SMOKE_ROWS = 3
SMOKE_TIMEOUT_SECONDS = 30


class ServeError(LookupError):
    """The package cannot be served: no model archive where its ModelDataUrl points."""


@dataclass(frozen=True)
class SmokeResult:
    """What the end of `mlops up --local` did with the run's package."""

    served: bool
    message: str
    """One line for the user: the answer, or what to do next."""
    package: dict[str, Any] | None = None
    url: str | None = None
    status: int | None = None
    response: Any = None


def planned_endpoint_name(plan: Plan) -> str | None:
    """The endpoint the stack's deployer deploys to (it names the capture folder)."""
    for function in plan.of_type(FUNCTION, ENDPOINT_TYPE):
        variables = (function.inputs.get("environment") or {}).get("variables") or {}
        try:
            return deployer.Config.from_env(variables).endpoint_name
        except deployer.ConfigError:
            continue
    return None


def model_data_url(package: dict[str, Any]) -> str:
    containers = package.get("InferenceSpecification", {}).get("Containers", [])
    return containers[0].get("ModelDataUrl", "") if containers else ""


def capture_uri(package: dict[str, Any]) -> str | None:
    """``s3://<bucket>/capture`` of the bucket the package's model lives in."""
    url = model_data_url(package)
    if not url.startswith("s3://"):
        return None
    return f"s3://{url.removeprefix('s3://').split('/', 1)[0]}/{PREFIXES['capture']}"


def serve_package(workdir: Path, package: dict[str, Any], *, host: str = "127.0.0.1",
                  port: int = 0, capture_dir: Path | None = None,
                  capture_sampling_percent: float = 100.0, python: str | None = None,
                  endpoint_name: str | None = None) -> ServerHandle | ProcessServer:
    """Serve a local registry package's model.tar.gz (capture: under the bucket's prefix),
    under ``python`` (the job environment: the packages the model was trained with) when
    given, else in this process. ``endpoint_name`` names the capture folder
    (``<capture>/<endpoint_name>/AllTraffic/...``, as SageMaker writes it)."""
    s3 = LocalWorkdir(Path(workdir)).s3
    url = model_data_url(package)
    archive = s3.path(url) if url.startswith("s3://") else None
    if archive is None or not archive.is_file():
        raise ServeError(f"model package version {package.get('ModelPackageVersion')} has no "
                         f"model archive at {url or '(no ModelDataUrl)'}"
                         + (f" (looked for {archive})" if archive else ""))
    if capture_dir is None and capture_uri(package):
        capture_dir = s3.path(capture_uri(package))
    if python is not None:
        return serve_with(python, archive, host, port, capture_dir,
                          capture_sampling_percent=capture_sampling_percent,
                          endpoint_name=endpoint_name)
    return serve_model(archive, host=host, port=port, capture_dir=capture_dir,
                       capture_sampling_percent=capture_sampling_percent,
                       endpoint_name=endpoint_name)


def invoke(url: str, body: str, content_type: str = "text/csv",
           accept: str = "application/json") -> tuple[int, str]:
    """POST /invocations as SageMaker's runtime would; (status, body text)."""
    request = urllib.request.Request(f"{url}/invocations", data=body.encode(), method="POST",
                                     headers={"Content-Type": content_type, "Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=SMOKE_TIMEOUT_SECONDS) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def held_out_csv_files(run: LocalRun) -> list[Path]:
    """The CSV files of the run's test split (Preprocess's ``test`` output), sorted."""
    folder = run.local_outputs(StepName.PREPROCESS.value).get("test")
    return sorted(folder.glob("*.csv")) if folder and folder.is_dir() else []


def sample_rows(run: LocalRun, rows: int = SMOKE_ROWS) -> str | None:
    """The first rows of the run's test split as CSV with its header, or None."""
    files = held_out_csv_files(run)
    if not files:
        return None
    with files[0].open(newline="") as source:
        lines = [row for _, row in zip(range(rows + 1), csv.reader(source), strict=False)]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(lines)
    return out.getvalue()


def serve_and_smoke(run: LocalRun) -> SmokeResult:
    """Serve the package this run registered if it is approved, and send it a request.

    The server is stopped afterwards (`mlops serve` keeps one running). A package waiting
    for approval is not served: the result says how to approve and serve it.
    """
    registered = [step for step in run.execution.steps if step.type == "RegisterModel"
                  and step.status == "Succeeded"]
    if not registered:
        champion = run.champion_package() if run.unchanged_data_held_back() else None
        where = run.where.with_group((champion or {}).get("ModelPackageGroupName"))
        return SmokeResult(False, "nothing was registered, so nothing is served"
                           + (f" (the champion still is: {where.quoted('serve')})"
                              if champion else ""))
    arn = registered[-1].properties.get("ModelPackageArn", "")
    package = next((p for p in run.registry.packages() if p["ModelPackageArn"] == arn), None)
    if package is None:
        return SmokeResult(False, f"registered package {arn} is not in {run.registry.root}")
    version = package["ModelPackageVersion"]
    # a --data run registers into a group of its own: the commands name the group
    where = run.where.with_group(package.get("ModelPackageGroupName"))
    if package["ModelApprovalStatus"] != ApprovalStatus.APPROVED.value:
        return SmokeResult(
            False, f"version {version} is {package['ModelApprovalStatus']}, so it is not "
                   f"served: approve it with {where.quoted('approve', version=version)}, then "
                   f"serve it with {where.quoted('serve', version=version)}", package)
    body = sample_rows(run)
    if body is None:
        return SmokeResult(False, "the run left no test split to send as a smoke request",
                           package)
    try:
        with serve_package(run.workdir, package, python=str(run.job_environment.python),
                           endpoint_name=planned_endpoint_name(run.plan)) as server:
            status, text = invoke(server.url, body)
            url = server.url
    except (ServeError, OSError, ValueError) as problem:
        return SmokeResult(False, f"version {version} could not be served: {problem}", package)
    try:
        answer: Any = json.loads(text)
    except json.JSONDecodeError:
        answer = text
    if status != 200:
        return SmokeResult(False, f"the smoke request got HTTP {status}: {text.strip()}",
                           package, url, status, answer)
    predictions = answer.get("predictions") if isinstance(answer, dict) else answer
    return SmokeResult(
        True, f"served version {version} at {url}; a smoke request of {SMOKE_ROWS} test rows "
              f"answered {predictions} (keep it serving: {where.quoted('serve')})",
        package, url, status, answer)
