"""The executor on small hand-written definitions whose "containers" are tiny Python scripts.

Each script stands in for the job's container code: it is uploaded to the local S3, given to
the step as its ``code`` input, and run under the container contract. What the scripts write
is the ground truth the assertions compare against.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

from mlops_components.local.executor import LocalPipelineExecutor
from mlops_components.local.registry import LocalRegistry
from mlops_components.local.workdir import LocalS3

BUCKET = "s3://bucket"
CODE = "/opt/ml/processing/input/code"
EXECUTION = "exec-0001"


# -- building definitions ----------------------------------------------------------------


def upload_script(workdir: Path, name: str, source: str) -> str:
    """Put ``source`` at ``s3://bucket/code/<name>/main.py``; return the prefix."""
    uri = f"{BUCKET}/code/{name}"
    path = LocalS3(workdir / "s3").path(f"{uri}/main.py")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return uri


def put_object(workdir: Path, uri: str, text: str) -> None:
    path = LocalS3(workdir / "s3").path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def s3_input(name: str, uri: Any, local: str, **extra: Any) -> dict[str, Any]:
    return {"InputName": name, "S3Input": {"S3Uri": uri, "LocalPath": local,
                                           "S3DataType": "S3Prefix", **extra}}


def s3_output(name: str, local: str, uri: Any) -> dict[str, Any]:
    return {"OutputName": name, "S3Output": {"LocalPath": local, "S3Uri": uri}}


def processing(name: str, code_uri: str, *, inputs: list | None = None,
               outputs: list | None = None, arguments: list | None = None,
               environment: dict | None = None, instances: Any = 1,
               **step: Any) -> dict[str, Any]:
    """A processing step whose container runs ``python3 <code>/main.py <arguments>``."""
    return {"Name": name, "Type": "Processing", **step, "Arguments": {
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": instances,
                                                  "InstanceType": "ml.m5.large"}},
        "AppSpecification": {"ImageUri": "image",
                             "ContainerEntrypoint": ["python3", f"{CODE}/main.py"],
                             "ContainerArguments": arguments or []},
        "ProcessingInputs": [s3_input("code", code_uri, CODE), *(inputs or [])],
        "ProcessingOutputConfig": {"Outputs": outputs or []},
        "Environment": environment or {},
    }}


def definition(*steps: dict[str, Any], parameters: list | None = None) -> dict[str, Any]:
    return {"Version": "2020-12-01", "Parameters": parameters or [], "Steps": list(steps)}


def run(workdir: Path, pipeline: dict[str, Any], parameters: dict | None = None,
        events: list | None = None):
    def record(name, kind, status):
        if events is not None:
            events.append((name, status))

    executor = LocalPipelineExecutor(json.dumps(pipeline), workdir, on_step=record)
    return executor.run(parameters, execution_id=EXECUTION)


def local(workdir: Path, uri: str) -> Path:
    return LocalS3(workdir / "s3").path(uri)


# -- processing --------------------------------------------------------------------------

WRITE_GREETING = """
    import os, sys
    out = sys.argv[sys.argv.index("--out") + 1]
    with open(os.path.join(out, "greeting.txt"), "w") as f:
        f.write(sys.argv[sys.argv.index("--greeting") + 1] + " " + os.environ["WHO"])
"""


def test_processing_step_runs_the_container_command_and_uploads_its_output(tmp_path):
    code = upload_script(tmp_path, "greet", WRITE_GREETING)
    pipeline = definition(
        processing("Greet", code, arguments=[
            "--out", "/opt/ml/processing/output/greeting",
            "--greeting", {"Get": "Parameters.Greeting"}],
            environment={"WHO": {"Get": "Execution.PipelineExecutionId"}},
            outputs=[s3_output("greeting", "/opt/ml/processing/output/greeting",
                               {"Std:Join": {"On": "/", "Values": [
                                   f"{BUCKET}/out", {"Get": "Execution.PipelineExecutionId"}]}})]),
        parameters=[{"Name": "Greeting", "Type": "String", "DefaultValue": "hello"}])

    result = run(tmp_path, pipeline, {"Greeting": "bonjour"})

    assert result.status == "Succeeded", result.failure_reason
    assert local(tmp_path, f"{BUCKET}/out/{EXECUTION}/greeting.txt").read_text() == \
        f"bonjour {EXECUTION}"
    properties = result.step("Greet").properties
    assert properties["ProcessingJobStatus"] == "Completed"
    assert properties["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == \
        f"{BUCKET}/out/{EXECUTION}"


COPY_UPPER = """
    import pathlib, sys
    source, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    for file in source.rglob("*.txt"):
        (target / file.name).write_text(file.read_text().upper())
"""


def test_a_step_reading_another_steps_output_runs_after_it_whatever_the_listed_order(
        tmp_path):
    code = upload_script(tmp_path, "upper", COPY_UPPER)
    put_object(tmp_path, f"{BUCKET}/raw/a.txt", "abc")
    first = processing(
        "First", code, arguments=["/opt/ml/processing/input/data", "/opt/ml/processing/out"],
        inputs=[s3_input("data", f"{BUCKET}/raw", "/opt/ml/processing/input/data")],
        outputs=[s3_output("result", "/opt/ml/processing/out", f"{BUCKET}/first")])
    second = processing(
        "Second", code, arguments=["/opt/ml/processing/input/data", "/opt/ml/processing/out"],
        inputs=[s3_input("data", {"Get": "Steps.First.ProcessingOutputConfig"
                                         ".Outputs['result'].S3Output.S3Uri"},
                         "/opt/ml/processing/input/data")],
        outputs=[s3_output("result", "/opt/ml/processing/out", f"{BUCKET}/second")])

    result = run(tmp_path, definition(second, first))

    assert result.status == "Succeeded", result.failure_reason
    assert [step.name for step in result.steps] == ["First", "Second"]
    assert local(tmp_path, f"{BUCKET}/second/a.txt").read_text() == "ABC"


APPEND_NAME = """
    import sys
    with open(sys.argv[1], "a") as f:
        f.write(sys.argv[2] + "\\n")
"""


def test_depends_on_orders_steps_that_share_no_data(tmp_path):
    code = upload_script(tmp_path, "append", APPEND_NAME)
    ledger = tmp_path / "ledger.txt"
    steps = [processing(name, code, arguments=[str(ledger), name], DependsOn=after)
             for name, after in (("C", ["B"]), ("B", ["A"]), ("A", []))]
    events: list = []

    result = run(tmp_path, definition(*steps), events=events)

    assert result.status == "Succeeded", result.failure_reason
    assert ledger.read_text().split() == ["A", "B", "C"]
    assert [name for name, status in events if status == "Executing"] == ["A", "B", "C"]


def test_steps_that_wait_on_each_other_fail_the_execution_naming_them(tmp_path):
    code = upload_script(tmp_path, "append", APPEND_NAME)
    steps = [processing("A", code, DependsOn=["B"]), processing("B", code, DependsOn=["A"])]

    result = run(tmp_path, definition(*steps))

    assert result.status == "Failed"
    assert "wait on each other" in result.failure_reason
    assert "A" in result.failure_reason and "B" in result.failure_reason
    assert result.steps == []


def test_a_missing_input_prefix_fails_the_step_naming_the_input_and_stops_the_run(tmp_path):
    code = upload_script(tmp_path, "append", APPEND_NAME)
    ledger = tmp_path / "ledger.txt"
    reads = processing("Reads", code, arguments=[str(ledger), "Reads"],
                       inputs=[s3_input("training-data", f"{BUCKET}/nothing-here/",
                                        "/opt/ml/processing/input/data")])
    after = processing("After", code, arguments=[str(ledger), "After"], DependsOn=["Reads"])

    result = run(tmp_path, definition(reads, after))

    assert result.status == "Failed"
    step = result.step("Reads")
    assert step.status == "Failed"
    assert "training-data" in step.detail and f"{BUCKET}/nothing-here/" in step.detail
    assert "Reads" in result.failure_reason
    assert [s.name for s in result.steps] == ["Reads"]
    assert not ledger.exists()


FAIL_LOUDLY = """
    import sys
    for line in range(1, 21):
        print(f"progress line {line:02d}")
    print("ValueError: column 'age' is not numeric", file=sys.stderr)
    sys.exit(3)
"""


def test_a_job_exiting_non_zero_fails_the_step_with_its_last_line_and_its_log(tmp_path):
    code = upload_script(tmp_path, "fail", FAIL_LOUDLY)

    result = run(tmp_path, definition(processing("Crash", code)))

    assert result.status == "Failed"
    detail = result.step("Crash").detail
    assert "exited with 3" in detail
    assert "column 'age' is not numeric" in detail
    assert "progress line" not in detail  # the error line; the rest stays in the log
    assert "\n" not in detail
    log = Path(re.search(r"\(log: (.+)\)$", detail).group(1))
    assert "progress line 01" in log.read_text()
    assert "column 'age' is not numeric" in result.failure_reason


def test_unknown_parameter_overrides_are_refused_naming_them_and_the_declared_ones(tmp_path):
    code = upload_script(tmp_path, "append", APPEND_NAME)
    pipeline = definition(processing("A", code), parameters=[
        {"Name": "MetricThreshold", "Type": "Float", "DefaultValue": 0.8}])

    with pytest.raises(ValueError, match="Threshold") as raised:
        run(tmp_path, pipeline, {"Threshold": 0.9})
    assert "MetricThreshold" in str(raised.value)
    assert not (tmp_path / "jobs").exists()


SHARD = """
    import json, os, pathlib, sys
    host = json.load(open(os.environ["SM_RESOURCE_CONFIG"]))["current_host"]
    names = sorted(p.name for p in pathlib.Path(sys.argv[1]).rglob("*.csv"))
    out = pathlib.Path(sys.argv[2])
    (out / f"{host}.json").write_text(json.dumps(names))
"""


def test_sharded_input_gives_each_instance_a_disjoint_part_of_the_objects(tmp_path):
    code = upload_script(tmp_path, "shard", SHARD)
    for index in range(5):
        put_object(tmp_path, f"{BUCKET}/raw/part-{index}.csv", "x\n1\n")
    step = processing(
        "Shard", code, instances={"Get": "Parameters.Instances"},
        arguments=["/opt/ml/processing/input/data", "/opt/ml/processing/out"],
        inputs=[s3_input("data", f"{BUCKET}/raw/", "/opt/ml/processing/input/data",
                         S3DataDistributionType="ShardedByS3Key")],
        outputs=[s3_output("seen", "/opt/ml/processing/out", f"{BUCKET}/seen")])
    pipeline = definition(step, parameters=[
        {"Name": "Instances", "Type": "Integer", "DefaultValue": 1}])

    result = run(tmp_path, pipeline, {"Instances": 2})

    assert result.status == "Succeeded", result.failure_reason
    seen = {host: json.loads(local(tmp_path, f"{BUCKET}/seen/{host}.json").read_text())
            for host in ("algo-1", "algo-2")}
    assert not set(seen["algo-1"]) & set(seen["algo-2"])
    assert sorted(seen["algo-1"] + seen["algo-2"]) == [f"part-{i}.csv" for i in range(5)]


def test_a_branch_step_runs_after_the_top_level_step_it_depends_on(tmp_path):
    code = upload_script(tmp_path, "append", APPEND_NAME)
    ledger = tmp_path / "ledger.txt"
    gate = {"Name": "Gate", "Type": "Condition", "Arguments": {
        "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 1}],
        "IfSteps": [processing("Publish", code, arguments=[str(ledger), "Publish"],
                               DependsOn=["Export"])],
        "ElseSteps": []}}
    export = processing("Export", code, arguments=[str(ledger), "Export"])

    result = run(tmp_path, definition(gate, export))

    assert result.status == "Succeeded", result.failure_reason
    assert ledger.read_text().split() == ["Export", "Publish"]


# -- condition and fail ------------------------------------------------------------------

WRITE_SCORE = """
    import json, pathlib, sys
    pathlib.Path(sys.argv[1], "report.json").write_text(
        json.dumps({"metrics": {"score": {"value": 0.7}}}))
"""


def gated_pipeline(tmp_path: Path, condition_type: str = "GreaterThanOrEqualTo"):
    score_code = upload_script(tmp_path, "score", WRITE_SCORE)
    append_code = upload_script(tmp_path, "append", APPEND_NAME)
    score = processing(
        "Score", score_code, arguments=["/opt/ml/processing/report"],
        outputs=[s3_output("report", "/opt/ml/processing/report", f"{BUCKET}/report")],
        PropertyFiles=[{"PropertyFileName": "Report", "OutputName": "report",
                        "FilePath": "report.json"}])
    score_value = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Score.PropertyFiles.Report"},
                                   "Path": "metrics.score.value"}}
    gate = {"Name": "Gate", "Type": "Condition", "Arguments": {
        "Conditions": [{"Type": condition_type, "LeftValue": score_value,
                        "RightValue": {"Get": "Parameters.Threshold"}}],
        "IfSteps": [processing("Passed", append_code,
                               arguments=[str(tmp_path / "ledger.txt"), "Passed"])],
        "ElseSteps": [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": {
            "Std:Join": {"On": " ", "Values": [
                "score", score_value, "is below", {"Get": "Parameters.Threshold"}]}}}}],
    }}
    return definition(score, gate, parameters=[
        {"Name": "Threshold", "Type": "Float", "DefaultValue": 0.5}])


def test_a_condition_that_holds_runs_the_if_steps(tmp_path):
    result = run(tmp_path, gated_pipeline(tmp_path))

    assert result.status == "Succeeded", result.failure_reason
    assert [s.name for s in result.steps] == ["Score", "Gate", "Passed"]
    assert (tmp_path / "ledger.txt").read_text().split() == ["Passed"]
    gate = result.step("Gate").properties
    assert gate["Outcome"] is True
    assert gate["Conditions"][0]["LeftValue"] == 0.7  # the value the script wrote
    assert gate["Conditions"][0]["RightValue"] == 0.5


def test_a_condition_that_fails_runs_the_else_steps_and_the_fail_message_is_joined(tmp_path):
    events: list = []

    result = run(tmp_path, gated_pipeline(tmp_path), {"Threshold": 0.9}, events=events)

    assert result.status == "Failed"
    assert [s.name for s in result.steps] == ["Score", "Gate", "Stop"]
    assert result.step("Gate").status == "Succeeded"
    assert result.step("Gate").properties["Outcome"] is False
    assert result.step("Stop").status == "Failed"
    assert "score 0.7 is below 0.9" in result.failure_reason
    assert ("Stop", "Failed") in events
    assert not (tmp_path / "ledger.txt").exists()


def test_a_property_file_the_step_did_not_declare_fails_the_reading_step(tmp_path):
    pipeline = gated_pipeline(tmp_path)
    pipeline["Steps"][0]["PropertyFiles"] = []

    result = run(tmp_path, pipeline)

    assert result.status == "Failed"
    assert result.step("Gate").status == "Failed"
    assert "Report" in result.step("Gate").detail


def test_a_not_condition_in_the_shape_the_sdk_emits_is_evaluated(tmp_path):
    pipeline = gated_pipeline(tmp_path)
    gate = pipeline["Steps"][1]["Arguments"]
    # sagemaker.core.workflow.conditions.ConditionNot.to_request(): {"Type", "Condition"}
    gate["Conditions"] = [{"Type": "Not", "Condition": gate["Conditions"][0]}]

    result = run(tmp_path, pipeline, {"Threshold": 0.9})

    assert result.step("Gate").status == "Succeeded", result.step("Gate").detail
    assert result.step("Gate").properties["Outcome"] is True  # not (0.7 >= 0.9)


@pytest.mark.parametrize(("condition", "outcome"), [
    ({"Type": "Or", "Conditions": [
        {"Type": "LessThan", "LeftValue": 3, "RightValue": 2},
        {"Type": "Equals", "LeftValue": {"Get": "Parameters.Mode"}, "RightValue": "fast"}]},
     True),
    ({"Type": "In", "QueryValue": {"Get": "Parameters.Mode"}, "Values": ["slow", "exact"]},
     False),
    ({"Type": "LessThanOrEqualTo", "LeftValue": "2", "RightValue": 2.0}, True),
    ({"Type": "GreaterThan", "LeftValue": 2, "RightValue": 2}, False),
])
def test_or_in_and_comparisons_decide_the_branch(tmp_path, condition, outcome):
    pipeline = definition({"Name": "Gate", "Type": "Condition", "Arguments": {
        "Conditions": [condition], "IfSteps": [],
        "ElseSteps": [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "no"}}]}},
        parameters=[{"Name": "Mode", "Type": "String", "DefaultValue": "fast"}])

    result = run(tmp_path, pipeline)

    assert result.step("Gate").properties["Outcome"] is outcome
    assert result.status == ("Succeeded" if outcome else "Failed")


# -- register ----------------------------------------------------------------------------


def test_register_step_stores_the_resolved_request_in_the_local_registry(tmp_path):
    pipeline = definition({"Name": "Register", "Type": "RegisterModel", "Arguments": {
        "ModelPackageGroupName": "churn",
        "ModelApprovalStatus": {"Get": "Parameters.ModelApprovalStatus"},
        "InferenceSpecification": {"Containers": [{"ModelDataUrl": {"Std:Join": {
            "On": "/", "Values": [f"{BUCKET}/models", {"Get": "Execution.PipelineExecutionId"},
                                  "model.tar.gz"]}}}]}}},
        parameters=[{"Name": "ModelApprovalStatus", "Type": "String",
                     "DefaultValue": "PendingManualApproval"}])

    result = run(tmp_path, pipeline, {"ModelApprovalStatus": "Approved"})

    assert result.status == "Succeeded", result.failure_reason
    (package,) = LocalRegistry(tmp_path / "registry").packages("churn")
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == \
        f"{BUCKET}/models/{EXECUTION}/model.tar.gz"
    assert result.step("Register").properties["ModelPackageArn"] == package["ModelPackageArn"]


# -- training and tuning -----------------------------------------------------------------

TRAIN_SCRIPT = """
    import argparse, json, os, pathlib
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--x", type=int, default=0)
    parser.add_argument("--rate", type=float, default=0.0)
    args = parser.parse_args()
    rows = pathlib.Path(os.environ["SM_CHANNEL_TRAIN"], "rows.csv").read_text().split()
    for epoch in range(1, args.epochs + 1):
        print(f"epoch {epoch}: loss={1 / epoch:.4f}; score={args.x * 10 + args.rate:.4f};")
    pathlib.Path(os.environ["SM_MODEL_DIR"], "model.json").write_text(json.dumps({
        "rows": len(rows), "epochs": args.epochs, "x": args.x,
        "channels": json.loads(os.environ["SM_CHANNELS"])}))
"""


def upload_tarball(workdir: Path, uri: str, files: dict[str, str]) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as archive:
        for name, text in files.items():
            data = textwrap.dedent(text).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    path = local(workdir, uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw.getvalue())


def training_arguments(submit_directory: str) -> dict[str, Any]:
    channels = [{"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": f"{BUCKET}/data/train"}}}]
    if submit_directory.startswith("/opt/ml"):
        channels.append({"ChannelName": "code", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"{BUCKET}/code/sourcedir.tar.gz"}}})
    return {
        "AlgorithmSpecification": {"TrainingImage": "image", "TrainingInputMode": "File",
                                   "MetricDefinitions": [
                                       {"Name": "train:loss", "Regex": r"loss=([0-9\.]+);"},
                                       {"Name": "train:score", "Regex": r"score=([0-9\.]+);"},
                                       {"Name": "train:absent", "Regex": r"absent=([0-9]+)"}]},
        "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": {"Std:Join": {"On": "/", "Values": [
            f"{BUCKET}/models", {"Get": "Execution.PipelineExecutionId"}]}}},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large"},
    }


def read_model(workdir: Path, uri: str) -> dict[str, Any]:
    with tarfile.open(local(workdir, uri)) as archive:
        return json.load(archive.extractfile("model.json"))


@pytest.mark.parametrize("submit_directory", [
    f"{BUCKET}/code/sourcedir.tar.gz", "/opt/ml/input/data/code/sourcedir.tar.gz"])
def test_script_mode_training_runs_the_program_with_hyperparameters_and_parses_metrics(
        tmp_path, submit_directory):
    upload_tarball(tmp_path, f"{BUCKET}/code/sourcedir.tar.gz", {"pkg/train.py": TRAIN_SCRIPT})
    put_object(tmp_path, f"{BUCKET}/data/train/rows.csv", "a\nb\nc\n")
    arguments = training_arguments(submit_directory)
    # As the SDK writes them: every value a string, script-mode ones JSON-encoded.
    arguments["HyperParameters"] = {"epochs": "4", "x": "2",
                                    "sagemaker_program": '"pkg/train.py"',
                                    "sagemaker_submit_directory": json.dumps(submit_directory)}
    pipeline = definition({"Name": "Train", "Type": "Training", "Arguments": arguments})

    result = run(tmp_path, pipeline)

    assert result.status == "Succeeded", result.failure_reason
    properties = result.step("Train").properties
    metrics = {m["MetricName"]: m["Value"] for m in properties["FinalMetricDataList"]}
    assert metrics == {"train:loss": 0.25, "train:score": 20.0}  # the last epoch's values
    artifact = properties["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact.startswith(f"{BUCKET}/models/{EXECUTION}/")
    assert artifact.endswith("/output/model.tar.gz")
    model = read_model(tmp_path, artifact)
    assert model["rows"] == 3 and model["epochs"] == 4 and model["x"] == 2
    assert "train" in model["channels"]


def test_script_mode_without_a_program_fails_the_step_saying_what_is_missing(tmp_path):
    arguments = training_arguments(f"{BUCKET}/code/sourcedir.tar.gz")
    arguments["HyperParameters"] = {"epochs": "1"}

    result = run(tmp_path, definition({"Name": "Train", "Type": "Training",
                                       "Arguments": arguments}))

    assert result.step("Train").status == "Failed"
    assert "sagemaker_program" in result.step("Train").detail


def test_a_training_channel_with_no_objects_fails_the_step_naming_the_channel(tmp_path):
    upload_tarball(tmp_path, f"{BUCKET}/code/sourcedir.tar.gz", {"pkg/train.py": TRAIN_SCRIPT})
    arguments = training_arguments(f"{BUCKET}/code/sourcedir.tar.gz")
    arguments["InputDataConfig"].append({"ChannelName": "validation", "DataSource": {
        "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"{BUCKET}/data/validation"}}})
    put_object(tmp_path, f"{BUCKET}/data/train/rows.csv", "a\n")
    arguments["HyperParameters"] = {"epochs": "1", "sagemaker_program": '"pkg/train.py"',
                                    "sagemaker_submit_directory":
                                        f'"{BUCKET}/code/sourcedir.tar.gz"'}

    result = run(tmp_path, definition({"Name": "Train", "Type": "Training",
                                       "Arguments": arguments}))

    assert result.step("Train").status == "Failed"
    assert "validation" in result.step("Train").detail


def tuning_pipeline(tmp_path: Path, objective_type: str) -> dict[str, Any]:
    upload_tarball(tmp_path, f"{BUCKET}/code/sourcedir.tar.gz", {"pkg/train.py": TRAIN_SCRIPT})
    put_object(tmp_path, f"{BUCKET}/data/train/rows.csv", "a\nb\n")
    job = training_arguments(f"{BUCKET}/code/sourcedir.tar.gz")
    job["StaticHyperParameters"] = {
        "epochs": "2", "sagemaker_program": '"pkg/train.py"',
        "sagemaker_submit_directory": f'"{BUCKET}/code/sourcedir.tar.gz"'}
    tune = {"Name": "Tune", "Type": "Tuning", "Arguments": {
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"MetricName": "train:score",
                                                 "Type": objective_type},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "IntegerParameterRanges": [{"Name": "x", "MinValue": "1", "MaxValue": "9"}],
                "ContinuousParameterRanges": [{"Name": "rate", "MinValue": "0.001",
                                               "MaxValue": "0.1",
                                               "ScalingType": "Logarithmic"}]}},
        "TrainingJobDefinition": job}}
    # Reads the model the way get_top_model_s3_uri() addresses the best job.
    best_model = {"Std:Join": {"On": "/", "Values": [
        f"{BUCKET}/models", {"Get": "Execution.PipelineExecutionId"},
        {"Get": "Steps.Tune.TrainingJobSummaries[0].TrainingJobName"}, "output/model.tar.gz"]}}
    register = {"Name": "Register", "Type": "RegisterModel", "Arguments": {
        "ModelPackageGroupName": "tuned",
        "InferenceSpecification": {"Containers": [{"ModelDataUrl": best_model}]}}}
    return definition(tune, register)


@pytest.mark.parametrize(("objective_type", "best"), [("Maximize", max), ("Minimize", min)])
def test_tuning_trains_within_the_ranges_and_ranks_the_best_job_first(tmp_path,
                                                                      objective_type, best):
    result = run(tmp_path, tuning_pipeline(tmp_path, objective_type))

    assert result.status == "Succeeded", result.failure_reason
    summaries = result.step("Tune").properties["TrainingJobSummaries"]
    assert len(summaries) == 6
    for summary in summaries:
        tuned = summary["TunedHyperParameters"]
        assert 1 <= int(tuned["x"]) <= 9
        assert 0.001 <= float(tuned["rate"]) <= 0.1
        # the objective is what that job printed for those hyperparameters
        expected = round(int(tuned["x"]) * 10 + float(tuned["rate"]), 4)
        assert summary["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == \
            pytest.approx(expected, abs=1e-4)
    values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries]
    assert values[0] == best(values)
    assert result.step("Tune").properties["BestTrainingJob"] == summaries[0]
    (package,) = LocalRegistry(tmp_path / "registry").packages("tuned")
    model = read_model(tmp_path, package["InferenceSpecification"]["Containers"][0]
                       ["ModelDataUrl"])
    assert model["x"] == int(summaries[0]["TunedHyperParameters"]["x"])


def test_a_tuning_objective_no_job_prints_fails_the_step_naming_the_metric(tmp_path):
    pipeline = tuning_pipeline(tmp_path, "Maximize")
    config = pipeline["Steps"][0]["Arguments"]["HyperParameterTuningJobConfig"]
    config["HyperParameterTuningJobObjective"]["MetricName"] = "train:absent"

    result = run(tmp_path, pipeline)

    assert result.step("Tune").status == "Failed"
    assert "train:absent" in result.step("Tune").detail
    assert "Register" not in [s.name for s in result.steps]
