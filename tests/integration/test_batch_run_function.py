"""The batch Lambda (functions/batch_run.py): every request it sends validated by botocore's
input shapes (Stubber clients), its answers as the pipeline's Lambda steps read them."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from mlops_components.functions import batch_run
from mlops_components.sagemaker.batch_spec import (
    MODEL_DATA_OUTPUT,
    PASSED_OUTPUT,
    READY_OUTPUT,
    REASON_OUTPUT,
)
from training.contract import (
    BATCH_METRIC_NAMESPACE,
    BATCH_REPORT_PREFIX,
    PIPELINE_DIMENSION,
    ROWS_REFUSED_METRIC,
    ROWS_SCORED_METRIC,
)

GROUP = "diagnosis"
ARN = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/diagnosis/3"
MODEL = "s3://bucket/models/diagnosis-training/exec/model/model.tar.gz"
BASELINE = "s3://bucket/models/diagnosis-training/exec/baseline/"
CONFIG = batch_run.Config(namespace=BATCH_METRIC_NAMESPACE, dimension=PIPELINE_DIMENSION,
                          report_prefix=BATCH_REPORT_PREFIX,
                          rows_scored_metric=ROWS_SCORED_METRIC,
                          rows_refused_metric=ROWS_REFUSED_METRIC,
                          pipeline_name="diagnosis-batch", drift_namespace="MLOps/Drift",
                          drift_detected_metric="DriftDetected")


@pytest.fixture
def stubs():
    clients = {name: boto3.client(name, region_name="eu-west-1", aws_access_key_id="x",
                                  aws_secret_access_key="x")
               for name in ("sagemaker", "s3", "cloudwatch")}
    stubbers = {name: Stubber(client) for name, client in clients.items()}
    for stubber in stubbers.values():
        stubber.activate()
    yield batch_run.Clients(**clients), stubbers
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()


def _summary(arn: str, status: str = "Completed") -> dict:
    return {"ModelPackageArn": arn, "ModelPackageStatus": status,
            "CreationTime": datetime(2026, 1, 1, tzinfo=UTC), "ModelPackageGroupName": GROUP}


def _described() -> dict:
    return {"ModelPackageName": GROUP, "ModelPackageArn": ARN,
            "CreationTime": datetime(2026, 1, 1, tzinfo=UTC), "ModelPackageStatus": "Completed",
            "ModelApprovalStatus": "Approved",
            "ModelPackageStatusDetails": {"ValidationStatuses": []},
            "DriftCheckBaselines": {"ModelDataQuality": {"Statistics": {
                "ContentType": "application/json", "S3Uri": BASELINE + "statistics.json"}}},
            "InferenceSpecification": {"Containers": [{"Image": "image", "ModelDataUrl": MODEL}],
                                       "SupportedContentTypes": ["text/csv"],
                                       "SupportedResponseMIMETypes": ["text/csv"]}}


def test_resolve_finds_the_latest_approved_completed_package_and_the_input(stubs):
    clients, stub = stubs
    stub["sagemaker"].add_response("list_model_packages", {"ModelPackageSummaryList": [
        _summary(ARN.replace("/3", "/4"), "InProgress"), _summary(ARN)]})
    stub["sagemaker"].add_response("describe_model_package", _described(),
                                   {"ModelPackageName": ARN})
    stub["s3"].add_response("list_objects_v2", {"Contents": [
        {"Key": "batch/input/day1/"}, {"Key": "batch/input/day1/a.csv"}], "IsTruncated": False})
    result = batch_run.handle({"action": "resolve", "model_package_group": GROUP,
                               "input_uri": "s3://bucket/batch/input/"}, clients, CONFIG)
    assert result[READY_OUTPUT] == "true" and result[MODEL_DATA_OUTPUT] == MODEL
    assert result["BaselinePrefix"] == BASELINE


def test_resolve_with_no_approved_package_says_so(stubs):
    clients, stub = stubs
    stub["sagemaker"].add_response("list_model_packages", {"ModelPackageSummaryList": []})
    result = batch_run.handle({"action": "resolve", "model_package_group": GROUP,
                               "input_uri": "s3://bucket/batch/input/"}, clients, CONFIG)
    assert result[READY_OUTPUT] == "false"
    assert "no approved model in group diagnosis" in result[REASON_OUTPUT]
    assert result[MODEL_DATA_OUTPUT] == ""  # every declared output is present


def test_resolve_with_a_package_without_a_drift_baseline_says_so(stubs):
    clients, stub = stubs
    stub["sagemaker"].add_response("list_model_packages",
                                   {"ModelPackageSummaryList": [_summary(ARN)]})
    package = _described()
    del package["DriftCheckBaselines"]
    stub["sagemaker"].add_response("describe_model_package", package)
    result = batch_run.handle({"action": "resolve", "model_package_group": GROUP,
                               "input_uri": "s3://bucket/batch/input/"}, clients, CONFIG)
    assert result[READY_OUTPUT] == "false" and "no drift baseline" in result[REASON_OUTPUT]


def test_resolve_with_an_empty_input_prefix_says_so(stubs):
    clients, stub = stubs
    stub["sagemaker"].add_response("list_model_packages",
                                   {"ModelPackageSummaryList": [_summary(ARN)]})
    stub["sagemaker"].add_response("describe_model_package", _described())
    stub["s3"].add_response("list_objects_v2", {"Contents": [{"Key": "batch/input/x/"}],
                                                "IsTruncated": False})
    result = batch_run.handle({"action": "resolve", "model_package_group": GROUP,
                               "input_uri": "s3://bucket/batch/input/"}, clients, CONFIG)
    assert result[READY_OUTPUT] == "false" and "no input under" in result[REASON_OUTPUT]


def _body(document: dict | list) -> StreamingBody:
    raw = json.dumps(document).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


@pytest.mark.parametrize(("refused", "passed"), [(2, "true"), (40, "false")])
def test_publish_sums_the_hosts_reports_and_publishes_the_counts(stubs, refused, passed):
    clients, stub = stubs
    keys = [f"batch/output/exec/{BATCH_REPORT_PREFIX}-algo-{i}.json" for i in (1, 2)]
    stub["s3"].add_response("list_objects_v2", {"Contents": [{"Key": k} for k in keys],
                                                "IsTruncated": False},
                            {"Bucket": "bucket",
                             "Prefix": f"batch/output/exec/{BATCH_REPORT_PREFIX}-"})
    for key, refused_here in zip(keys, (refused, 0), strict=True):
        stub["s3"].add_response("get_object", {"Body": _body({
            "rows": 500, "scored": 500 - refused_here, "refused": refused_here,
            "max_refused_share": 0.01})}, {"Bucket": "bucket", "Key": key})
    stub["cloudwatch"].add_response("put_metric_data", {}, {
        "Namespace": BATCH_METRIC_NAMESPACE, "MetricData": [
            {"MetricName": name, "Value": float(value), "Unit": "Count",
             "Dimensions": [{"Name": PIPELINE_DIMENSION, "Value": "diagnosis-batch"}]}
            for name, value in ((ROWS_SCORED_METRIC, 1000 - refused),
                                (ROWS_REFUSED_METRIC, refused))]})
    result = batch_run.handle({"action": "publish", "output_uri": "s3://bucket/batch/output/exec"},
                              clients, CONFIG)
    assert result["RowsRefused"] == refused and result[PASSED_OUTPUT] == passed


def test_drift_publishes_the_drift_jobs_metric_data(stubs):
    clients, stub = stubs
    data = [{"MetricName": "DriftDetected", "Value": 1.0, "Unit": "None",
             "Dimensions": [{"Name": "Endpoint", "Value": "diagnosis-batch"},
                            {"Name": "Model", "Value": "diagnosis"}]}]
    stub["s3"].add_response("get_object", {"Body": _body(data)},
                            {"Bucket": "bucket", "Key": "batch/output/exec/drift/metrics.json"})
    stub["cloudwatch"].add_response("put_metric_data", {},
                                    {"Namespace": "MLOps/Drift", "MetricData": data})
    result = batch_run.handle({"action": "drift",
                               "metrics_uri": "s3://bucket/batch/output/exec/drift/metrics.json"},
                              clients, CONFIG)
    assert result == {"Drifted": "true"}


def test_a_failed_execution_event_publishes_runs_failed(stubs):
    clients, stub = stubs
    stub["cloudwatch"].add_response("put_metric_data", {})
    event = {"source": "aws.sagemaker",
             "detail-type": "SageMaker Model Building Pipeline Execution Status Change",
             "detail": {"currentPipelineExecutionStatus": "Failed",
                        "pipelineArn": "arn:aws:sagemaker:eu-west-1:1:pipeline/diagnosis-batch"}}
    assert batch_run.handle(event, clients, CONFIG)["published"] == batch_run.RUNS_FAILED_METRIC


def test_the_environment_names_every_setting():
    with pytest.raises(ValueError, match="PIPELINE_NAME"):
        batch_run.Config.from_env({"METRIC_NAMESPACE": "x"})


#: IAM actions of the S3 requests the function sends (ListObjectsV2 is authorised as ListBucket).
IAM_ACTIONS = {"s3:ListObjectsV2": "s3:ListBucket"}
#: Actions the function's role needs that no line of its code calls: Lambda writes its logs
#: and dead-letters failed asynchronous invocations with the function's role.
RUNTIME_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage"}


def test_the_function_role_allows_exactly_the_actions_its_code_calls(stubs):
    """Every path (resolve, publish, a failed run), compared both ways with the policy
    BatchInference plans."""
    from tests.unit.test_batch_inference import ROLE_POLICY, run

    clients, stub = stubs
    calls: set[str] = set()
    for client in (clients.sagemaker, clients.s3, clients.cloudwatch):
        prefix = client.meta.service_model.service_id.lower().replace(" ", "")
        client.meta.events.register_first(  # before the Stubber answers
            "before-call.*.*", lambda model, prefix=prefix, **_: calls.add(
                IAM_ACTIONS.get(f"{prefix}:{model.name}", f"{prefix}:{model.name}")))
    test_resolve_finds_the_latest_approved_completed_package_and_the_input(stubs)
    test_publish_sums_the_hosts_reports_and_publishes_the_counts(stubs, 2, "true")
    test_a_failed_execution_event_publishes_runs_failed(stubs)
    test_drift_publishes_the_drift_jobs_metric_data(stubs)

    plan = run()
    (policy,) = [json.loads(r.inputs["policy"])["Statement"] for r in plan.of_type(ROLE_POLICY)
                 if r.name == "churn-batch-run-policy"]
    planned = {action for statement in policy for action in statement["Action"]}
    assert planned - RUNTIME_ACTIONS == calls, (
        f"missing from the policy: {sorted(calls - planned)}; "
        f"allowed but never called: {sorted(planned - RUNTIME_ACTIONS - calls)}")
