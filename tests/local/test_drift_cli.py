"""`mlops drift --local --data FILE`: a file's rows checked as the approved model's traffic.

Bad input is refused before anything is planned or run, in one line with exit status 2 (a
sandbox registry whose approved package has a baseline naming the features is enough for
those). The whole check (the planned DriftCheck job under the job environment) runs on the
package of the session's `mlops up --local` run: a shifted sample drifts and the planned
alarm fires, an unshifted one does not, and neither touches the workdir's capture or metrics.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from mlops_components.cli import main
from mlops_components.cli.errors import EXIT_INVALID
from mlops_components.local import drift_check
from mlops_components.local.registry import LocalRegistry
from mlops_components.local.workdir import LocalWorkdir
from mlops_components.sagemaker.spec import TARGET_COLUMN_METADATA
from tests.local.conftest import DEV_GROUP, Sandbox, copy_project, run_cli
from training import capture

FEATURES = ["age", "income", "plan"]
TARGET = "churned"
STATISTICS = "s3://bucket/models/churn-training/local-0001/baseline/statistics.json"


@dataclass
class DriftSandbox(Sandbox):
    def drift(self, *extra: object) -> list[str]:
        return ["drift", "--local", "--project-dir", str(self.project), "--workdir",
                str(self.workdir), *map(str, extra)]


def approved_package(workdir: Path, group: str = DEV_GROUP, status: str = "Approved") -> dict:
    """A package of ``group`` whose drift baseline names FEATURES (no model is needed: bad
    input is refused before anything runs)."""
    statistics = LocalWorkdir(workdir).s3.path(STATISTICS)
    statistics.parent.mkdir(parents=True, exist_ok=True)
    statistics.write_text(json.dumps({"features": [{"name": n} for n in FEATURES]}))
    return LocalRegistry(workdir / "registry").register({
        "ModelPackageGroupName": group, "ModelApprovalStatus": status,
        "CustomerMetadataProperties": {TARGET_COLUMN_METADATA: TARGET},
        "DriftCheckBaselines": {"ModelDataQuality": {"Statistics": {"S3Uri": STATISTICS}}}})


@pytest.fixture
def sandbox(tmp_path) -> DriftSandbox:
    project = copy_project(tmp_path)
    workdir = tmp_path / "workdir"
    approved_package(workdir)
    (tmp_path / "empty-workdir").mkdir()
    return DriftSandbox(project, workdir, tmp_path)


def _pending(box: DriftSandbox) -> list[str]:
    pending = box.tmp / "pending-workdir"
    approved_package(pending, status="PendingManualApproval")
    return ["drift", "--local", "--project-dir", str(box.project), "--workdir", str(pending),
            "--data", str(box.write("ok.csv", "age,income,plan\n1,2,a\n"))]


CASES = [
    ("without-local", lambda b: ["drift", "--project-dir", str(b.project), "--workdir",
                                 str(b.workdir), "--data", "rows.csv"],
     r"^mlops drift checks a file against the local registry only: run `mlops drift --local "
     r"--stack dev --project-dir \S+ --workdir \S+workdir --data rows.csv`"),
    ("without-data", lambda b: b.drift(), r"^mlops drift --local needs --data FILE"),
    ("flag-without-meaning", lambda b: b.drift("--data", "x.csv", "--region", "eu-west-1"),
     r"unrecognized arguments: --region eu-west-1"),
    ("group-with-slash", lambda b: b.drift("--data", "x.csv", "--group", "../etc"),
     r"^--group '../etc': must be 1-63 letters, digits and hyphens"),
    ("json-folder-missing", lambda b: b.drift("--data", "x.csv", "--json", b.tmp / "no/d.json"),
     r"^--json \S+d.json: folder \S+no does not exist"),
    ("json-is-a-folder", lambda b: b.drift("--data", "x.csv", "--json", b.tmp),
     r"^--json \S+: is a folder; give a file name such as drift.json"),
    ("empty-registry", lambda b: [*b.drift("--data", "x.csv")[:-2], "--workdir",
                                  str(b.tmp / "empty-workdir"), "--data", "x.csv"],
     rf"^no approved model package to check against: group {DEV_GROUP} has no packages "
     r"under \S+empty-workdir/registry \(groups there: none\); `mlops up --local --stack dev "
     r"--project-dir \S+ --workdir \S+empty-workdir` trains and registers one"),
    ("unknown-group", lambda b: b.drift("--data", "x.csv", "--group", "tumours"),
     r"^no approved model package to check against: group tumours has no packages under "
     rf"\S+ \(groups there: {DEV_GROUP}\); pick one of those with --group, or train this one "
     r"with mlops up --local --stack dev --project-dir \S+ --workdir \S+workdir --data FILE "
     r"--target COLUMN --model-name tumours$"),
    ("nothing-approved", _pending,
     rf"^no approved model package in group {DEV_GROUP} under \S+pending-workdir/registry "
     r"\(versions: 1 PendingManualApproval\); approve one with `mlops approve --local --stack "
     r"dev --project-dir \S+ --workdir \S+pending-workdir --version 1`"),
    ("no-such-file", lambda b: b.drift("--data", b.tmp / "nope.csv"),
     r"^--data: file '\S+nope.csv' does not exist"),
    ("a-folder", lambda b: b.drift("--data", b.tmp), r"^--data \S+: is a folder; give one CSV"),
    ("empty-file", lambda b: b.drift("--data", b.write("empty.csv", "")),
     r"^--data: file '\S+empty.csv' is empty \(no header row\)"),
    ("header-only", lambda b: b.drift("--data", b.write("head.csv", "age,income,plan\n")),
     r"^--data \S+head.csv: has a header but no rows to check"),
    ("missing-columns", lambda b: b.drift("--data", b.write("m.csv", "age,churned\n1,0\n")),
     r"^--data \S+m.csv: its columns are not the model's 3 features: missing 2: income, plan "
     r"\(the target column 'churned' may stay\)$"),
    ("extra-column", lambda b: b.drift("--data", b.write("x.csv", "id,age,income,plan\n7,1,2,a\n")),
     r"^--data \S+x.csv: its columns are not the model's 3 features: extra 1: id "),
    ("missing-and-extra", lambda b: b.drift("--data", b.write("mx.csv", "age,incme,plan\n1,2,a\n")),
     r"missing 1: income; extra 1: incme "),
    ("unread-delimiter", lambda b: b.drift("--data", b.write("c.csv", "age:income:plan\n1:2:a\n")),
     r"^--data \S+c.csv: reads as one column \('age:income:plan'\): its delimiter is not one "
     r"that is read: comma \(','\), semicolon \(';'\), tab \('\\t'\), pipe \('\|'\)"),
    ("decimal-comma", lambda b: b.drift("--data", b.write("d.csv", "age;income;plan\n1,5;2;a\n")),
     r"^--data: file '\S+d.csv': column 'age' writes numbers with a decimal comma"),
    ("not-utf8", lambda b: b.drift("--data", b.write("l.csv", b"age,income,plan\n1,2,caf\xe9\n")),
     r"^--data: file '\S+l.csv' is not UTF-8: byte 0xE9"),
]


@pytest.mark.parametrize(("argv", "message"), [(setup, message) for _, setup, message in CASES],
                         ids=[case_id for case_id, _, _ in CASES])
def test_bad_input_exits_2_with_one_line_naming_it(sandbox, argv, message):
    before = sorted(sandbox.workdir.rglob("*"))

    result = run_cli(*argv(sandbox))

    assert result.code == EXIT_INVALID, result.out + result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert re.search(message, lines[0].removeprefix("error: ")), lines[0]
    assert "Traceback" not in result.out + result.err
    assert sorted(sandbox.workdir.rglob("*")) == before


def test_the_help_says_only_the_local_form_exists(capsys):
    with pytest.raises(SystemExit):
        main(["drift", "--help"])
    assert "Only the local form exists (--local)" in " ".join(capsys.readouterr().out.split())


def test_rows_are_read_as_the_jobs_read_them_in_the_models_order(tmp_path):
    # GIVEN a semicolon file with the target and the features in another order
    path = tmp_path / "rows.csv"
    path.write_text("plan;churned;income;age\n007;1;2.50;3\n;0;;4\n")
    # WHEN it is read for the model
    frame, notes = drift_check.read_rows(path, FEATURES, TARGET)
    # THEN the features come in the baseline's order, as written (text), the target left out
    assert list(frame.columns) == FEATURES
    assert frame.iloc[0].tolist() == ["3", "2.50", "007"]
    assert pd.isna(frame.iloc[1]["plan"]) and pd.isna(frame.iloc[1]["income"])
    assert any("semicolons" in note for note in notes)
    assert any(f"'{TARGET}' is the model's target" in note for note in notes)


def test_captured_rows_read_back_as_the_drift_job_reads_capture(tmp_path):
    frame = pd.DataFrame({"age": ["1", "2", None], "income": ["3.5", "4", "5"],
                          "plan": ["a,b", "c", "d"]})
    records = drift_check.capture_rows(frame, tmp_path, rows_per_request=2)
    files = capture.list_capture_files(tmp_path)
    assert records == 2 and files
    (batch,) = list(capture.iter_payloads(files))
    assert batch.records == 2 and not batch.malformed and not batch.json
    assert batch.csv.decode().splitlines() == ['1,3.5,"a,b"', "2,4,c", ",5,d"]


def test_the_summary_is_generic_over_the_reports_metrics():
    check = drift_check.DriftCheck(
        group="g", version=1, data=Path("f.csv"), rows=3,
        report={"status": "ok", "features": [
            {"name": "a", "drifted": True, "metrics": {"psi": {"value": 1.0, "threshold": 0.2,
                                                               "drifted": True}},
             "something_new": 1},
            {"name": "b", "drifted": False, "metrics": {"new_metric": {
                "value": 0.0, "threshold": 1, "drifted": False}}}]},
        alarms={"g/e/drift-detected": "ALARM", "g/e/no-records-analysed": "OK"})
    summary = check.summary()
    assert summary["alarm"] is True
    assert summary["features"] == [
        {"name": "a", "drifted": True, "psi": {"value": 1.0, "threshold": 0.2, "drifted": True}},
        {"name": "b", "drifted": False, "new_metric": {"value": 0.0, "threshold": 1,
                                                       "drifted": False}}]
    check.alarms = {"g/e/drift-detected": "OK"}
    assert check.summary()["alarm"] is False


def test_the_verdict_names_drift_low_traffic_and_schema_violations():
    from mlops_components.cli.drift import verdict_line

    def check(features, status="ok", violations=(), alarms=None):
        return drift_check.DriftCheck(
            group="g", version=1, data=Path("f.csv"), rows=20, alarms=alarms or {},
            report={"status": status, "violations": list(violations), "features": [
                {"name": name, "drifted": drifted, "metrics": {}}
                for name, drifted in features]})

    assert verdict_line(check([("a", True), ("b", False)], alarms={"x/drift": "ALARM"})) == \
        "DRIFT in 1 of 2 features (a); the stack's alarm x/drift would fire"
    assert verdict_line(check([("a", False)], status="low traffic")).startswith(
        "not judged: the drift job's status for 20 rows is 'low traffic'")
    assert verdict_line(check([("a", False)], violations=[{}], alarms={"x/schema": "ALARM"})) \
        == "no drift in 1 feature, but 1 schema violation; the stack's alarm x/schema would fire"


# -- the whole check on the session's run --------------------------------------------------


def _sample(path: Path, shift: bool, rows: int = 200) -> tuple[Path, list[str]]:
    frame = load_breast_cancer(as_frame=True).frame.sample(rows, random_state=7)
    shifted = ["worst area", "mean radius"] if shift else []
    for column in shifted:
        frame[column] = frame[column] + 3 * frame[column].std()
    frame.to_csv(path, index=False)
    return path, shifted


def _workdir_state(workdir: Path) -> dict[Path, int]:
    return {path: path.stat().st_size for path in workdir.rglob("*") if path.is_file()
            and ("capture" in path.parts or path.name == "metrics.jsonl")}


def test_a_shifted_file_drifts_and_fires_the_planned_alarm_an_unshifted_one_does_not(
        default_run, project_dir, tmp_path):
    assert default_run.cli.code == 0, default_run.cli.text
    before = _workdir_state(default_run.workdir)
    outcomes = {}
    for shift in (True, False):
        data, shifted = _sample(tmp_path / f"rows-{shift}.csv", shift)
        out = tmp_path / f"drift-{shift}.json"
        # WHEN the file is checked as the endpoint's traffic
        result = run_cli("drift", "--local", "--project-dir", project_dir, "--workdir",
                         default_run.workdir, "--data", data, "--json", out)
        # THEN drift or not, it is a finding: exit 0, and the JSON says the same
        assert result.code == 0, result.text
        outcomes[shift] = result, json.loads(out.read_text()), shifted
    result, document, shifted = outcomes[True]
    drifted = sorted(f["name"] for f in document["features"] if f["drifted"])
    assert document["alarm"] is True and drifted == sorted(shifted), document
    for feature in document["features"]:
        for metric in (v for k, v in feature.items() if k not in ("name", "drifted")):
            assert {"value", "threshold", "drifted"} <= set(metric)
    assert re.search(r"verdict: DRIFT in 2 of 30 features \(.*\); the stack's alarm "
                     r"\S+/drift-detected would fire", result.text), result.text
    assert re.search(r"worst area +psi [\d.]+ > 0\.1, p [\d.e-]+ < [\d.e-]+",
                     result.out), result.out
    result, document, _ = outcomes[False]
    assert document["alarm"] is False and not any(f["drifted"] for f in document["features"])
    assert "verdict: no drift in 30 features; no alarm of the stack would fire" in result.text
    assert "the model's target: left out" in result.text
    # and the file's rows never reached the workdir's capture, metrics or alarms
    assert _workdir_state(default_run.workdir) == before
