"""Lambda: what the batch inference pipeline asks of AWS (its scoring job has no network).

Three pipeline steps' actions, and one event:

- ``resolve`` (the pipeline's first step, a LambdaStep, so at the run's start and never at
  ``pulumi up``): the group's latest Approved package, its ``ModelDataUrl`` and its drift
  baseline prefix (``BaselinePrefix``), and whether the input prefix holds any object (SageMaker
  refuses a job whose input prefix is empty). Returns ``Ready`` "true" only with all of them;
  otherwise "false" and a ``Reason`` the execution shows (its condition step then runs
  nothing and the execution succeeds);
- ``publish`` (after scoring): adds up the scoring job's ``batch_report-<host>.json`` files
  under the run's output prefix, publishes ``RowsScored`` and ``RowsRefused``, and says
  whether the refused share is within the run's limit (``Passed``; the pipeline fails the
  run otherwise, after everything scored was written);
- ``drift`` (after the drift job checked the batch): publishes the metric data the job wrote
  (it runs without network) in ``$DRIFT_NAMESPACE``;
- an EventBridge event of a failed batch execution: publishes ``RunsFailed`` 1 (the alarm on
  a failed run watches it).

Metrics go to ``$METRIC_NAMESPACE`` with the dimension ``$PIPELINE_DIMENSION`` = the pipeline.
boto3 + standard library only; imports nothing of mlops_components or training.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

APPROVED = "Approved"
COMPLETED = "Completed"
RESOLVE, PUBLISH, DRIFT = "resolve", "publish", "drift"
RUNS_FAILED_METRIC = "RunsFailed"
FAILED_STATUS = "Failed"


@dataclass
class Clients:
    """The AWS clients the function calls (boto3 clients, or fakes with the same methods)."""

    sagemaker: Any = None
    s3: Any = None
    cloudwatch: Any = None


@dataclass(frozen=True)
class Config:
    """Settings from the Lambda's environment."""

    namespace: str
    dimension: str
    report_prefix: str
    rows_scored_metric: str
    rows_refused_metric: str
    pipeline_name: str
    drift_namespace: str
    drift_detected_metric: str
    """The batch pipeline (ARNs lower-case its name; the metrics' dimension keeps it)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        names = ("METRIC_NAMESPACE", "PIPELINE_DIMENSION", "REPORT_PREFIX",
                 "ROWS_SCORED_METRIC", "ROWS_REFUSED_METRIC", "PIPELINE_NAME",
                 "DRIFT_NAMESPACE", "DRIFT_DETECTED_METRIC")
        missing = [name for name in names if not env.get(name)]
        if missing:
            raise ValueError(f"missing environment variable(s): {', '.join(missing)}")
        return cls(*(env[name] for name in names))


def _s3_path(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def latest_approved_package(sagemaker: Any, group: str) -> dict[str, Any] | None:
    """The group's newest package that is Approved and Completed; None when there is none."""
    request: dict[str, Any] = {"ModelPackageGroupName": group, "ModelApprovalStatus": APPROVED,
                               "SortBy": "CreationTime", "SortOrder": "Descending",
                               "MaxResults": 20}
    while True:
        page = sagemaker.list_model_packages(**request)
        for summary in page.get("ModelPackageSummaryList", []):
            if summary.get("ModelPackageStatus", COMPLETED) == COMPLETED:
                return sagemaker.describe_model_package(
                    ModelPackageName=summary["ModelPackageArn"])
        if not page.get("NextToken"):
            return None
        request["NextToken"] = page["NextToken"]


def has_objects(s3: Any, uri: str) -> bool:
    """Whether any object (not a folder marker) lies under the prefix ``uri``."""
    bucket, prefix = _s3_path(uri)
    request: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": 100}
    while True:
        page = s3.list_objects_v2(**request)
        if any(not item["Key"].endswith("/") for item in page.get("Contents", [])):
            return True
        if not page.get("IsTruncated"):
            return False
        request["ContinuationToken"] = page["NextContinuationToken"]


def resolve(inputs: Mapping[str, Any], clients: Clients) -> dict[str, str]:
    """The model a run scores with, or why the run has nothing to do."""
    group, input_uri = str(inputs["model_package_group"]), str(inputs["input_uri"])
    package = latest_approved_package(clients.sagemaker, group)
    containers = ((package or {}).get("InferenceSpecification") or {}).get("Containers") or []
    model = containers[0].get("ModelDataUrl", "") if containers else ""
    statistics = (((package or {}).get("DriftCheckBaselines") or {}).get(
        "ModelDataQuality") or {}).get("Statistics", {}).get("S3Uri", "")
    result = {"Ready": "false", "ModelDataUrl": model,
              "ModelPackageArn": (package or {}).get("ModelPackageArn", ""),
              "BaselinePrefix": statistics.rsplit("/", 1)[0] + "/" if statistics else ""}
    if not model:
        result["Reason"] = f"no approved model in group {group}: nothing scored"
    elif not statistics:
        result["Reason"] = (f"{result['ModelPackageArn']} has no drift baseline "
                            "(DriftCheckBaselines.ModelDataQuality.Statistics): nothing scored")
    elif not has_objects(clients.s3, input_uri):
        result["Reason"] = f"no input under {input_uri}: nothing to score"
    else:
        result["Ready"] = "true"
        result["Reason"] = f"scoring {input_uri} with {result['ModelPackageArn']}"
    return result


def run_counts(s3: Any, output_uri: str, report_prefix: str) -> dict[str, Any]:
    """Rows, scored and refused, summed over the run's reports (one per host), and the
    refused-share limit they were scored under."""
    bucket, prefix = _s3_path(output_uri.rstrip("/") + "/")
    totals: dict[str, Any] = {"rows": 0, "scored": 0, "refused": 0, "reports": 0,
                              "max_refused_share": 1.0}
    request: dict[str, Any] = {"Bucket": bucket, "Prefix": f"{prefix}{report_prefix}-"}
    while True:
        page = s3.list_objects_v2(**request)
        for item in page.get("Contents", []):
            if not item["Key"].endswith(".json"):
                continue
            report = json.loads(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            for key in ("rows", "scored", "refused"):
                totals[key] += int(report.get(key, 0))
            totals["max_refused_share"] = min(totals["max_refused_share"],
                                              float(report.get("max_refused_share", 1.0)))
            totals["reports"] += 1
        if not page.get("IsTruncated"):
            return totals
        request["ContinuationToken"] = page["NextContinuationToken"]


def put_metrics(cloudwatch: Any, config: Config, pipeline: str,
                values: Mapping[str, float]) -> None:
    cloudwatch.put_metric_data(Namespace=config.namespace, MetricData=[
        {"MetricName": name, "Value": float(value), "Unit": "Count",
         "Dimensions": [{"Name": config.dimension, "Value": pipeline}]}
        for name, value in values.items()])


def publish(inputs: Mapping[str, Any], clients: Clients, config: Config) -> dict[str, Any]:
    """Publish the run's counts; return them (the step's outputs)."""
    totals = run_counts(clients.s3, str(inputs["output_uri"]), config.report_prefix)
    put_metrics(clients.cloudwatch, config, config.pipeline_name,
                {config.rows_scored_metric: totals["scored"],
                 config.rows_refused_metric: totals["refused"]})
    share = totals["refused"] / totals["rows"] if totals["rows"] else 0.0
    passed = share <= totals["max_refused_share"] and totals["reports"] > 0
    summary = (f"{totals['scored']} of {totals['rows']} rows scored, {totals['refused']} "
               f"refused ({share:.2%}; limit {totals['max_refused_share']:.2%})")
    if not totals["reports"]:
        summary = f"no batch report under {inputs['output_uri']}: the scoring job wrote none"
    return {"RowsScored": totals["scored"], "RowsRefused": totals["refused"],
            "Passed": "true" if passed else "false", "Summary": summary}


def publish_drift(inputs: Mapping[str, Any], clients: Clients, config: Config
                  ) -> dict[str, Any]:
    """Publish the metric data the drift job wrote for the batch (its job has no network)."""
    bucket, key = _s3_path(str(inputs["metrics_uri"]))
    data = json.loads(clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    for start in range(0, len(data), 1000):  # PutMetricData's limit per call
        clients.cloudwatch.put_metric_data(Namespace=config.drift_namespace,
                                           MetricData=data[start:start + 1000])
    drifted = any(datum.get("MetricName") == config.drift_detected_metric
                  and datum.get("Value") for datum in data)
    return {"Drifted": "true" if drifted else "false"}


def handle(event: Mapping[str, Any], clients: Clients, config: Config) -> dict[str, Any]:
    """One pipeline step's request, or a pipeline status event."""
    if event.get("action") == RESOLVE:
        return resolve(event, clients)
    if event.get("action") == PUBLISH:
        return publish(event, clients, config)
    if event.get("action") == DRIFT:
        return publish_drift(event, clients, config)
    detail = event.get("detail") or {}
    if event.get("source") == "aws.sagemaker" and \
            detail.get("currentPipelineExecutionStatus") == FAILED_STATUS:
        put_metrics(clients.cloudwatch, config, config.pipeline_name, {RUNS_FAILED_METRIC: 1})
        return {"published": RUNS_FAILED_METRIC, "pipeline": config.pipeline_name,
                "execution": detail.get("pipelineExecutionArn", "")}
    return {"ignored": f"not a request of the batch pipeline (action {event.get('action')!r}, "
                       f"source {event.get('source')!r})"}


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point."""
    clients = Clients(sagemaker=boto3.client("sagemaker"), s3=boto3.client("s3"),
                      cloudwatch=boto3.client("cloudwatch"))
    result = handle(event, clients, Config.from_env(os.environ))
    logger.info(json.dumps(result, default=str))
    return result
