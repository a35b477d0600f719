"""Bad and awkward inputs to `mlops`: each gets exit status 2 and one line naming what is wrong.

Table-driven: every case builds what it needs in a fresh copy of the example project (``P``)
next to a workdir (``W``) whose registry holds one package of the dev stack's group, and
asserts the exit status, the single ``error:`` line on stderr, and that no traceback is shown.
None of these reaches a job: a rule refuses the input first.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from mlops_components.cli.errors import EXIT_INVALID
from mlops_components.local.registry import LocalRegistry
from tests.conftest import REPO_ROOT
from tests.local.conftest import DEV_GROUP, Sandbox, copy_project, run_cli


@dataclass
class ProjectSandbox(Sandbox):
    def edit_yaml(self, name: str, change: Callable[[dict], object]) -> None:
        path = self.project / name
        doc = yaml.safe_load(path.read_text())
        change(doc)
        path.write_text(yaml.safe_dump(doc))


@pytest.fixture
def sandbox(tmp_path) -> ProjectSandbox:
    project = copy_project(tmp_path)
    workdir = tmp_path / "workdir"
    LocalRegistry(workdir / "registry").register({
        "ModelPackageGroupName": DEV_GROUP,
        "InferenceSpecification": {"Containers": [{"ModelDataUrl": "s3://b/m.tar.gz"}]}})
    (tmp_path / "empty-workdir").mkdir()
    return ProjectSandbox(project, workdir, tmp_path)


def _unwritable_folder(box: ProjectSandbox) -> Path:
    """A folder this user cannot create anything in (root may write anywhere but /sys)."""
    if os.geteuid() == 0:
        return Path("/sys")
    folder = box.tmp / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def _set(doc: dict, key: str, value: object) -> None:
    doc["config"][key] = value


# (id, setup returning argv, regex the one error line must match)
Case = tuple[str, Callable[[ProjectSandbox], list[str]], str]

UP = ["up", "--local"]


def _up(box: ProjectSandbox, *extra: object) -> list[str]:
    return [*UP, "--project-dir", str(box.project), "--workdir", str(box.workdir),
            *map(str, extra)]


def _registry(box: ProjectSandbox, verb: list[str], *extra: object) -> list[str]:
    return [*verb, "--project-dir", str(box.project), *map(str, extra)]


LIST = ["registry", "list"]

CASES: list[Case] = [
    # the command line itself
    ("no-command", lambda b: [], r"mlops: the following arguments are required: \{preview,"),
    ("unknown-command", lambda b: ["frob"], r"invalid choice: 'frob' \(choose from 'preview'"),
    ("registry-without-verb", lambda b: ["registry"], r"mlops registry: .*required: \{list\}"),
    ("unknown-flag", lambda b: _up(b, "--fast"), r"unrecognized arguments: --fast"),
    ("up-without-local", lambda b: ["up", "--project-dir", str(b.project)],
     r"mlops up deploys with the Pulumi CLI: run `pulumi up`"),
    # flags that describe --data do nothing without it
    ("target-without-data", lambda b: _up(b, "--target", "price"),
     r"^--target price: applies to --data only \(the default data uses the stack's "
     r"targetColumn\); add --data CSV, or drop --target$"),
    ("problem-type-without-data", lambda b: _up(b, "--problem-type", "regression"),
     r"^--problem-type regression: applies to --data only \(the default data uses the "
     r"stack's problemType\)"),
    ("model-name-without-data", lambda b: _up(b, "--model-name", "churn"),
     r"^--model-name churn: applies to --data only \(the default data uses the stack's "
     r"modelName\)"),
    ("leak-policy-unknown", lambda b: _up(b, "--leak-policy", "ignore"),
     r"argument --leak-policy: invalid choice: 'ignore' \(choose from 'stop', 'drop', "
     r"'proceed'\)"),
    ("class-weight-unknown", lambda b: _up(b, "--class-weight", "auto"),
     r"^--class-weight auto: must be one of balanced, none$"),
    ("decision-threshold-out-of-range", lambda b: _up(b, "--decision-threshold", "1.5"),
     r"^--decision-threshold 1.5: must be auto, none or a probability strictly between 0 "
     r"and 1$"),
    # --instances: one rule with processingInstanceCount
    ("instances-0", lambda b: _up(b, "--instances", 0),
     r"^--instances 0: must be an integer >= 1 and <= 100"),
    ("instances-negative", lambda b: _up(b, "--instances", -3),
     r"^--instances -3: must be an integer >= 1 and <= 100"),
    ("instances-1000", lambda b: _up(b, "--instances", 1000),
     r"^--instances 1000: must be an integer >= 1 and <= 100 \(SageMaker's limit"),
    ("instances-101", lambda b: _up(b, "--instances", 101), r"^--instances 101: must be"),
    ("instances-text", lambda b: _up(b, "--instances", "three"),
     r"argument --instances: invalid int value: 'three'"),
    ("instances-fraction", lambda b: _up(b, "--instances", "2.5"),
     r"argument --instances: invalid int value: '2.5'"),
    # --threshold: one rule with metricThreshold and the spec's metric_threshold
    ("threshold-5", lambda b: _up(b, "--threshold", 5),
     r"^--threshold 5: must be between 0.0 and 1.0 \(gate metric balanced_accuracy of stack "
     r"dev\)"),
    ("threshold-negative", lambda b: _up(b, "--threshold", -1),
     r"^--threshold -1: must be between 0.0 and 1.0"),
    ("threshold-minus-inf", lambda b: _up(b, "--threshold=-inf"),
     r"^--threshold -inf: must be a finite number"),
    ("threshold-inf", lambda b: _up(b, "--threshold", "inf"),
     r"^--threshold inf: must be a finite number"),
    ("threshold-nan", lambda b: _up(b, "--threshold", "nan"),
     r"^--threshold nan: must be a finite number"),
    ("threshold-text", lambda b: _up(b, "--threshold", "high"),
     r"argument --threshold: invalid float value: 'high'"),
    ("threshold-dash-value", lambda b: _up(b, "--threshold", "-inf"),
     r"argument --threshold: expected one argument \(a value that starts with '-' is "
     r"written --flag=VALUE\)"),
    ("threshold-r2-above-1", lambda b: _up(b, "--threshold", "1.5", "--problem-type",
                                          "regression", "--target", "price", "--data",
                                          b.write("house.csv", "rooms,price\n3,2\n")),
     r"^--threshold 1.5: must be <= 1.0 for r2 \(gate metric r2"),
    ("problem-type", lambda b: _up(b, "--problem-type", "ranking"),
     r"argument --problem-type: invalid choice: 'ranking' \(choose from 'classification'"),
    # --data and --target
    ("data-missing", lambda b: _up(b, "--data", b.tmp / "nope.csv", "--target", "y"),
     r"^file '.*nope.csv' does not exist"),
    ("data-without-target", lambda b: _up(b, "--data", b.write("d.csv", "a,y\n1,0\n")),
     r"^--data needs --target COLUMN"),
    ("data-empty-folder", lambda b: _up(b, "--data", b.write("none/readme.txt", "x").parent,
                                        "--target", "y"),
     r"^folder '.*none' holds no \*\.csv files"),
    ("data-empty-file", lambda b: _up(b, "--data", b.write("empty.csv", ""), "--target", "y"),
     r"^file '.*empty.csv' is empty \(no header row\)"),
    ("data-not-utf8", lambda b: _up(b, "--data", b.write("latin.csv", b"a,\xe9\xff\n1,2\n"),
                                    "--target", "y"),
     r"^file '.*latin.csv' is not UTF-8: byte 0xE9 at offset 2"),
    ("target-not-a-column", lambda b: _up(b, "--data", b.write("d.csv", "age,churned\n1,0\n"),
                                          "--target", "churn"),
     r"^file '.*d.csv': target column 'churn' not found; did you mean 'churned'\?"),
    ("target-not-in-every-shard", lambda b: _up(
        b, "--data", (b.write("shards/a.csv", "x,y\n1,0\n"),
                      b.write("shards/b.csv", "x,z\n1,0\n"))[0].parent, "--target", "y"),
     r"^file '.*b.csv' has columns unlike '.*a.csv' \(missing \['y'\], extra \['z'\]\)"),
    ("target-blank", lambda b: _up(b, "--target", "  "),
     r"^--target: must be a non-empty column name"),
    # the project and stack files
    ("stack-unknown", lambda b: _up(b, "--stack", "qa"),
     r"stack 'qa': no Pulumi.qa.yaml in .* \(stacks: dev, prod, staging\)"),
    ("project-dir-missing", lambda b: [*UP, "--project-dir", str(b.tmp / "nowhere")],
     r"project directory .*nowhere: no such folder"),
    ("project-dir-is-a-file", lambda b: [*UP, "--project-dir", str(b.write("f.txt", "x"))],
     r"project directory .*f.txt: not a folder"),
    ("project-dir-empty", lambda b: [*UP, "--project-dir", str(b.write("e/.keep", "").parent)],
     r"no Pulumi.yaml in .*/e: run from the project directory or pass --project-dir"),
    ("no-main-py", lambda b: ((b.project / "__main__.py").unlink(), _up(b))[1],
     r"no __main__.py in .*project: a Pulumi Python project needs its program there"),
    ("project-config-a-list", lambda b: (b.edit_yaml("Pulumi.yaml", lambda d: _set_top(
        d, "config", [1, 2])), _up(b))[1],
     r"Pulumi.yaml: 'config' must be a mapping of key to \{type, default, description\} "
     r"\(got list\)"),
    ("project-config-entry-not-mapping", lambda b: (b.edit_yaml(
        "Pulumi.yaml", lambda d: _set(d, "modelName", 5)), _up(b))[1],
     r"Pulumi.yaml: config key 'modelName' must be a mapping"),
    ("project-yaml-broken", lambda b: ((b.project / "Pulumi.yaml").write_text(
        "name: mlops\nconfig: [unclosed\n"), _up(b))[1],
     r"Pulumi.yaml: not valid YAML at line \d+"),
    ("project-without-name", lambda b: (b.edit_yaml("Pulumi.yaml", lambda d: d.pop("name")),
                                        _up(b))[1], r"Pulumi.yaml: 'name' is missing"),
    ("stack-config-a-list", lambda b: ((b.project / "Pulumi.dev.yaml").write_text(
        "config: [1]\n"), _up(b))[1], r"Pulumi.dev.yaml: 'config' must be a mapping"),
    ("stack-value-out-of-range", lambda b: (b.edit_yaml("Pulumi.dev.yaml", lambda d: _set(
        d, "mlops:captureRetentionDays", 0)), _up(b))[1],
     r"config mlops:captureRetentionDays: must be between 1 and 3650 \(got '0'\)"),
    ("stack-threshold-inf", lambda b: (b.edit_yaml("Pulumi.dev.yaml", lambda d: _set(
        d, "mlops:metricThreshold", "inf")), _up(b))[1],
     r"config mlops:metricThreshold: must be a finite number \(got 'inf'\)"),
    ("stack-instances-500", lambda b: (b.edit_yaml("Pulumi.dev.yaml", lambda d: _set(
        d, "mlops:processingInstanceCount", 500)), _up(b))[1],
     r"config mlops:processingInstanceCount: must be an integer >= 1 and <= 100"),
    ("stack-unknown-key", lambda b: (b.edit_yaml("Pulumi.dev.yaml", lambda d: _set(
        d, "mlops:colour", "blue")), _up(b))[1], r"config mlops:colour: unknown key"),
    # --workdir
    ("workdir-is-a-file", lambda b: [*UP, "--project-dir", str(b.project), "--workdir",
                                     str(b.write("wd.txt", "x"))],
     r"^--workdir .*wd.txt is a file, not a folder"),
    ("workdir-under-a-file", lambda b: [*UP, "--project-dir", str(b.project), "--workdir",
                                        str(b.write("f.txt", "x") / "wd")],
     r"^--workdir .*f.txt/wd: cannot create it \(Not a directory\)"),
    ("workdir-unwritable", lambda b: [*UP, "--project-dir", str(b.project), "--workdir",
                                      str(_unwritable_folder(b) / "mlops-wd")],
     r"^--workdir .*mlops-wd: cannot create it \((Permission denied|Operation not permitted)"),
    # preview
    ("preview-json-missing-folder", lambda b: ["preview", "--project-dir", str(b.project),
                                               "--json", str(b.tmp / "no" / "plan.json")],
     r"^--json .*plan.json: folder .*no does not exist"),
    ("preview-json-is-a-folder", lambda b: ["preview", "--project-dir", str(b.project),
                                            "--json", str(b.tmp)],
     r"^--json .*: is a folder; give a file name such as plan.json"),
    # the local registry
    ("list-workdir-missing", lambda b: _registry(b, LIST, "--local", "--workdir",
                                                 b.tmp / "nowhere"),
     r"^--workdir .*nowhere: no such folder \(`mlops up --local --stack dev --project-dir "
     r"\S+ --workdir \S+nowhere` creates it"),
    ("list-default-workdir-missing", lambda b: _registry(b, LIST, "--local"),
     r"^the default workdir of stack dev .*project/.mlops/dev: no such folder"),
    ("list-unknown-group", lambda b: _registry(b, LIST, "--local", "--workdir", b.workdir,
                                               "--group", "fraud"),
     rf"^no packages in group fraud under .*workdir/registry; groups there: {DEV_GROUP}$"),
    ("list-empty-workdir", lambda b: _registry(b, LIST, "--local", "--workdir",
                                               b.tmp / "empty-workdir"),
     rf"^no packages in group {DEV_GROUP} under .*empty-workdir/registry; groups there: "
     r"none$"),
    ("list-group-with-slash", lambda b: _registry(b, LIST, "--local", "--workdir", b.workdir,
                                                  "--group", "../etc"),
     r"^--group '../etc': must be 1-63 letters, digits and hyphens"),
    ("approve-unknown-version", lambda b: _registry(b, ["approve"], "--local", "--workdir",
                                                    b.workdir, "--version", 9),
     rf"^group '{DEV_GROUP}' has no version 9 \(versions: 1\)"),
    ("approve-version-text", lambda b: _registry(b, ["approve"], "--local", "--version",
                                                 "latest"),
     r"argument --version: invalid int value: 'latest'"),
    ("reject-empty-registry", lambda b: _registry(b, ["reject"], "--local", "--workdir",
                                                  b.tmp / "empty-workdir"),
     rf"^no model packages in group '{DEV_GROUP}' under .*empty-workdir/registry"),
    ("status-empty-workdir", lambda b: _registry(b, ["status"], "--local", "--workdir",
                                                 b.tmp / "empty-workdir"),
     rf"^no packages in group {DEV_GROUP} under .*empty-workdir/registry; groups there: "
     r"none$"),
    ("status-unknown-group", lambda b: _registry(b, ["status"], "--local", "--workdir",
                                                 b.workdir, "--group", "fraud"),
     rf"^no packages in group fraud under .*workdir/registry; groups there: {DEV_GROUP}$"),
    ("approve-comment-too-long", lambda b: _registry(b, ["approve"], "--local", "--workdir",
                                                     b.workdir, "--comment", "x" * 1025),
     r"^--comment: is 1025 characters; SageMaker's ApprovalDescription allows at most 1024"),
    ("reject-comment-too-long-aws", lambda b: _registry(b, ["reject"], "--comment", "y" * 2000),
     r"^--comment: is 2000 characters; SageMaker's ApprovalDescription allows at most 1024"),
    # the SageMaker registry: refused before any AWS call
    ("list-region-bad", lambda b: _registry(b, LIST, "--region", "mars"),
     r"^--region 'mars': must be an AWS region such as 'eu-west-1'"),
    ("list-stack-region-bad", lambda b: (b.edit_yaml("Pulumi.prod.yaml", lambda d: _set(
        d, "aws:region", "moon")), _registry(b, LIST, "--stack", "prod"))[1],
     r"^aws:region of stack prod 'moon': must be an AWS region"),
    ("list-endpoint-not-url", lambda b: _registry(b, LIST, "--endpoint-url", "localhost"),
     r"^--endpoint-url 'localhost': must be an http:// or https:// URL"),
]


def _set_top(doc: dict, key: str, value: object) -> None:
    doc[key] = value


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40
    assert len({case_id for case_id, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("argv", "message"), [(setup, message) for _, setup, message in CASES],
                         ids=[case_id for case_id, _, _ in CASES])
def test_bad_input_exits_2_with_one_line_naming_it(sandbox, argv, message):
    before = _snapshot(sandbox.workdir)

    result = run_cli(*argv(sandbox))

    assert result.code == EXIT_INVALID, result.out + result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: "), lines
    assert re.search(message, lines[0].removeprefix("error: ")), lines[0]
    assert "Traceback" not in result.out + result.err
    assert _snapshot(sandbox.workdir) == before  # nothing ran, nothing was written


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def test_as_a_process_a_bad_input_prints_one_line_and_no_traceback(sandbox):
    """The console script itself: stderr is exactly the one line (no usage, no traceback)."""
    (sandbox.project / "Pulumi.yaml").write_text("name: mlops\nconfig: [1, 2]\n")
    completed = subprocess.run(
        [sys.executable, "-m", "mlops_components.cli", "up", "--local", "--project-dir",
         str(sandbox.project)], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
        env={**os.environ, "COLUMNS": "250"})

    assert completed.returncode == EXIT_INVALID
    assert completed.stderr.strip().splitlines() == [
        f"error: {sandbox.project / 'Pulumi.yaml'}: 'config' must be a mapping of key to "
        "{type, default, description} (got list)"]
    assert completed.stdout == ""


def test_an_unexpected_error_is_one_line_unless_debugging(sandbox, monkeypatch):
    cli_main = importlib.import_module("mlops_components.cli.main")

    def broken(*_args, **_kwargs):
        raise RuntimeError("something odd")

    monkeypatch.setattr(cli_main, "plan_stack", broken)
    result = run_cli("preview", "--project-dir", sandbox.project)
    assert result.code == EXIT_INVALID
    assert result.err.strip() == ("error: unexpected RuntimeError: something odd "
                                  "(set MLOPS_DEBUG=1 for the traceback)")

    monkeypatch.setenv("MLOPS_DEBUG", "1")
    with pytest.raises(RuntimeError, match="something odd"):
        cli_main.main(["preview", "--project-dir", str(sandbox.project)])


def test_listing_a_registry_says_where_it_looked_and_skips_foreign_files(sandbox):
    group = sandbox.workdir / "registry" / DEV_GROUP
    (group / "1.backup.json").write_text((group / "1.json").read_text())
    (group / "2.json").write_text('{"ModelPackageVersion": 2, "ModelPack')  # cut off

    result = run_cli("registry", "list", "--local", "--project-dir", sandbox.project,
                     "--workdir", sandbox.workdir)

    assert result.code == 0, result.err
    assert f"model packages in {DEV_GROUP} (local registry {sandbox.workdir / 'registry'})" \
        in result.text
    assert result.err.count("warning: registry: ignored") == 2
    assert "1.backup.json: not a package file (<version>.json)" in result.text
    assert "2.json: unreadable" in result.text
    assert "Traceback" not in result.text


def test_metrics_a_package_lacks_show_as_n_a_not_a_crash(sandbox):
    """30 rows with one minority row: roc_auc is None in the evaluation; listing still works."""
    registry = LocalRegistry(sandbox.workdir / "registry")
    statistics = sandbox.workdir / "s3" / "bucket" / "evaluation.json"
    statistics.parent.mkdir(parents=True)
    statistics.write_text(json.dumps({"classification_metrics": {
        "accuracy": {"value": 0.97}, "roc_auc": {"value": None}}}))
    registry.register({"ModelPackageGroupName": DEV_GROUP, "ModelMetrics": {"ModelQuality": {
        "Statistics": {"S3Uri": "s3://bucket/evaluation.json"}}}})

    result = run_cli("registry", "list", "--local", "--project-dir", sandbox.project,
                     "--workdir", sandbox.workdir)

    assert result.code == 0, result.err
    assert "accuracy=0.9700, roc_auc=n/a" in result.text


@pytest.mark.parametrize("verb", [["registry", "list"], ["approve"], ["reject"], ["status"]])
def test_aws_verbs_without_credentials_say_how_to_pass_them(sandbox, verb, monkeypatch):
    """No credentials anywhere: one line on how to give them, or to use --local."""
    empty = sandbox.write("aws/empty", "")
    for name in [key for key in os.environ if key.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no wait on the metadata service

    # a closed local port: even a credential found by surprise sends nothing to AWS
    result = run_cli(*verb, "--project-dir", sandbox.project, "--region", "eu-west-1",
                     "--endpoint-url", "http://127.0.0.1:9")

    assert result.code == EXIT_INVALID, result.out + result.err
    assert result.err.strip().splitlines() == [
        "error: no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY) or run `aws configure`; for an emulator pass --endpoint-url "
        "URL (with any credentials); or use --local for the local registry"]


def test_leak_policy_reaches_the_run(sandbox, monkeypatch):
    """`mlops up --local --leak-policy drop` hands the policy to the run (the plan's Preprocess
    gets it: tests/unit/test_config.py)."""
    from mlops_components.local import run as local_run

    seen = {}

    def stop_here(*_args, **kwargs):
        seen.update(kwargs)
        raise local_run.LocalRunError("stopped before planning")

    monkeypatch.setattr(local_run, "run_local", stop_here)
    result = run_cli(*_up(sandbox, "--leak-policy", "drop"))
    assert result.code == EXIT_INVALID and "stopped before planning" in result.err
    assert seen["leak_policy"] == "drop"


def test_class_balance_flags_reach_the_run(sandbox, monkeypatch):
    """`--class-weight none --decision-threshold none` hand the stack's classWeight and
    decisionThreshold overrides to the run (the plan's Train gets them:
    tests/unit/test_config.py)."""
    from mlops_components.local import run as local_run

    seen = {}

    def stop_here(*_args, **kwargs):
        seen.update(kwargs)
        raise local_run.LocalRunError("stopped before planning")

    monkeypatch.setattr(local_run, "run_local", stop_here)
    result = run_cli(*_up(sandbox, "--class-weight", "none", "--decision-threshold", "none"))
    assert result.code == EXIT_INVALID and "stopped before planning" in result.err
    assert (seen["class_weight"], seen["decision_threshold"]) == ("none", "none")
