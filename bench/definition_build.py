"""Time the offline pipeline-definition build: SDK import, one build, twenty builds.

    python bench/definition_build.py

Each measurement runs in a fresh interpreter (the SDK import is a one-time, per-process
cost), with the network forbidden. Prints one line per measurement, in seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

_MEASURE = r"""
import json, socket, sys, time
sys.path.insert(0, {repo!r})

def refuse(*args, **kwargs):
    raise OSError("network forbidden in the benchmark")

socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse

started = time.perf_counter()
import mlops_components.sagemaker.builder as builder
from mlops_components.enums import ProblemType
imported_package = time.perf_counter()
from mlops_components.sagemaker import offline_sdk as _sagemaker_sdk
with _sagemaker_sdk.offline_sdk("eu-west-1"):
    pass
imported_sdk = time.perf_counter()

def spec(name):
    return builder.PipelineSpec(
        pipeline_name=name, role_arn="arn:aws:iam::123456789012:role/pipeline",
        bucket="mlops-data-123456789012", region="eu-west-1",
        code_uri="s3://mlops-data-123456789012/code/0f1e2d3c4b5a",
        model_package_group_name="diagnosis", target_column="target",
        problem_type=ProblemType.CLASSIFICATION,
        input_data_uri="s3://mlops-data-123456789012/raw/", metric_threshold=0.8)

builder.build_pipeline_definition(spec("first-build"))
first = time.perf_counter()
for index in range(20):
    builder.build_pipeline_definition(spec(f"pipeline-{{index}}"))
twenty = time.perf_counter()
print(json.dumps({{
    "import mlops_components.sagemaker.builder": imported_package - started,
    "import the SageMaker SDK (offline)": imported_sdk - imported_package,
    "first build (SDK already imported)": first - imported_sdk,
    "20 builds, different pipeline names": twenty - first,
    "per build, of those 20": (twenty - first) / 20,
}}))
"""


def main() -> None:
    result = subprocess.run([sys.executable, "-c", _MEASURE.format(repo=str(REPO))],
                            check=True, capture_output=True, text=True)
    for label, seconds in json.loads(result.stdout.splitlines()[-1]).items():
        print(f"{label:45s} {seconds:7.3f} s")


if __name__ == "__main__":
    main()
