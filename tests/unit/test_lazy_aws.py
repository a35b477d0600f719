"""pulumi_aws service packages load only the resource modules used, and export the same objects."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mlops_components.components.lazy_aws import read_index

REPO_ROOT = Path(__file__).resolve().parents[2]

CHECK_IN_A_FRESH_PROCESS = """
import importlib.util, json, sys
import mlops_components  # installs the lazy service packages
import pulumi_aws

used = [pulumi_aws.sagemaker.Pipeline, pulumi_aws.s3.Bucket, pulumi_aws.iam.Role]
report = {"modules": [cls.__module__ for cls in used],
          "loaded_unused": sorted(name for name in ("pulumi_aws.sagemaker.algorithm",
                                                    "pulumi_aws.s3.access_point",
                                                    "pulumi_aws.iam.user") if name in sys.modules),
          "differs": {}}
for service in ("sagemaker", "s3", "iam"):
    lazy = getattr(pulumi_aws, service)
    # The package as its own __init__.py builds it, in a second module object.
    spec = importlib.util.find_spec(f"pulumi_aws.{service}")
    eager = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(eager)
    public = [name for name in vars(eager) if not name.startswith("_")]
    report["differs"][service] = [name for name in public
                                  if getattr(lazy, name) is not vars(eager)[name]]
    report[f"{service}_names"] = len(public)
pulumi_aws.config.vars  # a name it has no index for
report["config"] = type(pulumi_aws.config).__name__
print(json.dumps(report))
"""


def test_a_package_exports_the_same_objects_but_loads_only_what_is_used():
    result = subprocess.run([sys.executable, "-c", CHECK_IN_A_FRESH_PROCESS], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["modules"] == ["pulumi_aws.sagemaker.pipeline", "pulumi_aws.s3.bucket",
                                 "pulumi_aws.iam.role"]
    assert report["loaded_unused"] == []
    assert report["differs"] == {"sagemaker": [], "s3": [], "iam": []}
    assert min(report[f"{service}_names"] for service in ("sagemaker", "s3", "iam")) > 50
    assert report["config"] == "_ExportableConfig"  # not generated star imports: loaded whole


def _package(folder: Path, init: str, modules: dict[str, str]) -> Path:
    folder.mkdir()
    (folder / "__init__.py").write_text(init)
    for name, text in modules.items():
        (folder / f"{name}.py").write_text(text)
    return folder


def test_the_index_maps_each_name_to_the_last_module_that_exports_it(tmp_path):
    package = _package(tmp_path / "service", "# generated\nimport typing\n"
                       "from .queue import *\nfrom ._inputs import *\nfrom . import outputs\n",
                       {"queue": "import pulumi\n__all__ = ['QueueArgs', 'Queue']\n",
                        "_inputs": "__all__ = [\n    'QueueArgs',\n    'QueuePolicyArgs',\n]\n"})
    index = read_index(package)
    assert index is not None
    assert index.names == {"Queue": "queue", "QueueArgs": "_inputs",
                           "QueuePolicyArgs": "_inputs"}
    assert index.submodules == {"queue", "_inputs", "outputs"}


def test_a_package_of_another_shape_has_no_index(tmp_path):
    other_code = _package(tmp_path / "config", "import sys\nfrom .vars import *\n",
                          {"vars": "__all__ = ['region']\n"})
    no_exports = _package(tmp_path / "service", "from .queue import *\n",
                          {"queue": "class Queue: ...\n"})
    assert read_index(other_code) is None
    assert read_index(no_exports) is None
