"""`mlops preview`: the offline plan of the real program, and bad config refused cleanly."""

import json
import re
import shutil

import pytest

from mlops_components.cli import main
from tests.conftest import REPO_ROOT


@pytest.fixture
def project(tmp_path):
    """A copy of the example project, so a test can break its stack files."""
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.staging.yaml", "Pulumi.prod.yaml",
                 "__main__.py"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_preview_writes_the_resolved_plan(project, stack, capsys):
    plan_file = project / "plan.json"
    code = main(["preview", "--project-dir", str(project), "--stack", stack,
                 "--json", str(plan_file)])
    assert code == 0
    plan = json.loads(plan_file.read_text())
    assert plan["stack"] == stack
    types = {resource["type"] for resource in plan["resources"]}
    assert {"mlops:index:MlopsStack", "aws:s3/bucket:Bucket",
            "aws:sagemaker/modelPackageGroup:ModelPackageGroup"} <= types
    for resource in plan["resources"]:
        assert set(resource) == {"urn", "type", "name", "parent", "inputs"}
    json.dumps(plan["resources"])  # every input is plain JSON
    printed = capsys.readouterr().out
    assert "aws:s3/bucket:Bucket" in printed
    assert plan["outputs"]["bucket_name"] in printed
    assert "schedules, rules and alarms" in printed
    rules_and_alarms = [r["name"] for r in plan["resources"] if r["type"] in (
        "aws:cloudwatch/eventRule:EventRule", "aws:cloudwatch/metricAlarm:MetricAlarm")]
    assert rules_and_alarms
    for name in rules_and_alarms:
        assert name in printed
    assert "DriftDetected >= 1" in printed


def _set(project, line):
    stack_file = project / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text() + line + "\n")


@pytest.mark.parametrize(("line", "named"), [
    ("  mlops:colour: blue", "mlops:colour: unknown key"),
    ("  mlops:captureRetentionDays: many", "mlops:captureRetentionDays: must be of type integer"),
    ("  mlops:reportRetentionDays: 99999", "mlops:reportRetentionDays: must be between"),
    ("  mlops:readerAccountIds: ['12345']", "mlops:readerAccountIds: item 0 ('12345')"),
])
def test_bad_config_exits_non_zero_names_the_key_and_writes_nothing(project, capsys, line,
                                                                    named):
    _set(project, line)
    plan_file = project / "plan.json"
    code = main(["preview", "--project-dir", str(project), "--json", str(plan_file)])
    assert code == 2
    assert not plan_file.exists()
    err = capsys.readouterr().err
    assert named in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_stack_lists_the_stacks(project, capsys):
    assert main(["preview", "--project-dir", str(project), "--stack", "qa"]) == 2
    assert "stack 'qa': no Pulumi.qa.yaml" in capsys.readouterr().err


def test_console_script_runs_offline(project):
    import subprocess
    import sys

    def preview(*options: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mlops_components.cli", "preview",
                               "--project-dir", str(project), *options],
                              capture_output=True, text=True, timeout=120)

    result = preview()
    assert result.returncode == 0, result.stderr
    assert "no AWS call was made" in result.stdout
    assert result.stderr == ""  # the quick exit leaves no finalizer traceback behind
    failed = preview("--stack", "qa")  # and it passes the exit status on
    assert failed.returncode == 2
    assert failed.stderr.startswith("error: stack 'qa'") and failed.stdout == ""


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_preview_makes_no_network_call(project, stack):
    from tests.pipeline.definition_checks import forbid_network

    with forbid_network() as log:
        code = main(["preview", "--project-dir", str(project), "--stack", stack])
    assert code == 0
    assert log.attempts == []


def test_a_problem_found_while_outputs_resolve_is_one_line_too(project, capsys):
    """The region only becomes known when the program runs: still one line, exit 2."""
    stack_file = project / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("aws:region: us-east-1",
                                                         "aws:region: xx-nowhere-1"))
    plan_file = project / "plan.json"
    assert main(["preview", "--project-dir", str(project), "--json", str(plan_file)]) == 2
    err = capsys.readouterr().err
    # Whichever definition resolves first reports it: the training or the monitoring one.
    assert re.match(r"error: (TrainingPipeline 'diagnosis-dev-training'|"
                    r"ModelMonitor 'diagnosis-dev-monitor'): region must be ", err), err
    assert len(err.strip().splitlines()) == 1
    assert not plan_file.exists()
    # the process can plan again afterwards
    assert main(["preview", "--project-dir", str(project), "--stack", "prod"]) == 0


def test_json_into_a_missing_folder_is_refused_up_front(project, capsys):
    assert main(["preview", "--project-dir", str(project),
                 "--json", str(project / "nope" / "plan.json")]) == 2
    assert "folder" in capsys.readouterr().err


def test_preview_runs_the_policy_pack_and_writes_its_results(project, capsys):
    plan_file = project / "plan.json"
    assert main(["preview", "--project-dir", str(project), "--json", str(plan_file)]) == 0
    printed = capsys.readouterr().out
    assert "Policy pack" in printed
    assert "0 mandatory, 0 advisory violation(s) of policy pack mlops-components" in printed
    policy = json.loads(plan_file.read_text())["policy"]
    assert policy == {"pack": "mlops-components", "mandatory": 0, "advisory": 0,
                      "violations": []}


def _add_raw_resources(project):
    """Raw pulumi-aws resources beside the components, breaking two rules."""
    program = project / "__main__.py"
    program.write_text(program.read_text() + "\nimport pulumi_aws as aws\n"
                       "aws.sqs.Queue('plain', tags={'owner': 'someone'})\n")


def test_a_mandatory_violation_fails_the_preview_one_line_each(project, capsys):
    _add_raw_resources(project)
    plan_file = project / "plan.json"
    assert main(["preview", "--project-dir", str(project), "--json", str(plan_file)]) == 1
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith("mandatory")]
    assert sorted(lines) == [
        "mandatory  required-tags  aws:sqs/queue:Queue plain: Queue 'plain': tags lack "
        "['model', 'managed-by']",
        "mandatory  sqs-encrypted  aws:sqs/queue:Queue plain: Queue 'plain': neither "
        "sqsManagedSseEnabled nor kmsMasterKeyId is set (messages not encrypted at rest)"]
    policy = json.loads(plan_file.read_text())["policy"]
    assert policy["mandatory"] == 2
    assert {v["policy"] for v in policy["violations"]} == {"required-tags", "sqs-encrypted"}
    assert {v["resource_name"] for v in policy["violations"]} == {"plain"}


def test_no_policy_skips_the_pack(project, capsys):
    _add_raw_resources(project)
    plan_file = project / "plan.json"
    assert main(["preview", "--project-dir", str(project), "--no-policy",
                 "--json", str(plan_file)]) == 0
    assert "Policy pack" not in capsys.readouterr().out
    assert "policy" not in json.loads(plan_file.read_text())


def test_the_stack_opt_out_of_network_isolation_reaches_the_pack(project, capsys):
    _set(project, "  mlops:networkIsolation: false")
    assert main(["preview", "--project-dir", str(project)]) == 0
    assert "0 mandatory" in capsys.readouterr().out
