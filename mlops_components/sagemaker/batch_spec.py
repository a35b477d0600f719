"""What the batch inference pipeline's definition depends on, and its rules; no SDK, no Pulumi.

The pipeline: ``ResolveModel`` (a Lambda step: the group's latest Approved package at the
run's start, and whether the input holds anything) -> ``HasModelAndInput`` (a condition: else
nothing runs and the execution succeeds, the Lambda's reason in its outputs) -> ``Score`` (a
processing job running ``training/bootstrap.py batch``: the endpoint's own handler over the
input files, sharded by S3 key across instances, network isolated) -> ``PublishCounts`` (the
Lambda again: rows scored and refused as CloudWatch metrics) -> ``RefusedWithinLimit`` (else
``TooManyRefused``, a Fail step: the run fails after its output was written); and, when rows
were scored (``AnyScored``), ``DriftCheck`` (the monitor's drift job, network isolated, on the
batch as its window: the scored rows as capture records, against the package's baseline) ->
``PublishDrift`` (the Lambda publishes the drift job's metrics, the batch pipeline as their
Endpoint dimension).
:class:`BatchSpec` is everything its definition depends on, as plain resolved values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mlops_components.bucket_layout import PREFIXES
from mlops_components.sagemaker.monitor_spec import DRIFT_CHECK_STEP, validate_job_settings
from mlops_components.sagemaker.spec import (
    DEFAULT_MAX_RUNTIME_SECONDS,
    DEFAULT_VOLUME_SIZE_GB,
    MAX_RUNTIME_SECONDS_LIMIT,
    PipelineParameter,
)
from mlops_components.validation import (
    INSTANCE_TYPE_RE,
    LAMBDA_ARN_RE,
    SAGEMAKER_NAME_RE,
    Problems,
    instance_count_problem,
    is_int,
)
from training.contract import (
    BATCH_OUTPUT_FORMATS,
    DEFAULT_BATCH_CHUNK_ROWS,
    DEFAULT_BATCH_OUTPUT_FORMAT,
    DEFAULT_MAX_REFUSED_SHARE,
)


class BatchParameter(StrEnum):
    """Parameters of the batch pipeline; a run (or the trigger) may override them."""

    INPUT_DATA_URI = PipelineParameter.INPUT_DATA_URI.value
    """s3:// prefix of the CSV files to score: named as the training pipeline's, since the
    trigger's gate passes a new object's prefix to that parameter of either pipeline."""
    BATCH_INSTANCE_TYPE = "BatchInstanceType"
    BATCH_INSTANCE_COUNT = "BatchInstanceCount"
    MAX_REFUSED_SHARE = "MaxRefusedShare"


class BatchStep(StrEnum):
    """Step names of the batch pipeline."""

    RESOLVE_MODEL = "ResolveModel"
    HAS_MODEL_AND_INPUT = "HasModelAndInput"
    SCORE = "Score"
    PUBLISH_COUNTS = "PublishCounts"
    REFUSED_WITHIN_LIMIT = "RefusedWithinLimit"
    TOO_MANY_REFUSED = "TooManyRefused"
    ANY_SCORED = "AnyScored"
    DRIFT_CHECK = DRIFT_CHECK_STEP
    """The monitor's drift job, on the batch."""
    PUBLISH_DRIFT = "PublishDrift"


#: The Lambda's outputs the pipeline reads (functions/batch_run.py returns them).
READY_OUTPUT = "Ready"
MODEL_DATA_OUTPUT = "ModelDataUrl"
PACKAGE_OUTPUT = "ModelPackageArn"
REASON_OUTPUT = "Reason"
ROWS_SCORED_OUTPUT = "RowsScored"
ROWS_REFUSED_OUTPUT = "RowsRefused"
PASSED_OUTPUT = "Passed"
SUMMARY_OUTPUT = "Summary"
BASELINE_OUTPUT_NAME = "BaselinePrefix"
"""The approved package's drift baseline prefix (its statistics.json), ResolveModel's output."""
DRIFT_DETECTED_OUTPUT = "Drifted"
#: The Lambda's actions (its inputs' ``action``).
RESOLVE_ACTION = "resolve"
PUBLISH_ACTION = "publish"
DRIFT_ACTION = "drift"

DEFAULT_BATCH_INSTANCE_TYPE = "ml.m5.large"



def batch_input_uri(bucket: str) -> str:
    """Where batches arrive: the InputDataUri default and the new-data trigger's prefix."""
    return f"s3://{bucket}/{PREFIXES['batch_input']}"


def batch_output_uri(bucket: str) -> str:
    """Under which each run writes ``<execution id>/``."""
    return f"s3://{bucket}/{PREFIXES['batch_output']}"


@dataclass(frozen=True)
class BatchSpec:
    """Everything the batch pipeline's definition depends on (no Pulumi Outputs)."""

    pipeline_name: str
    """SageMaker pipeline name (the metrics' Pipeline dimension)."""
    role_arn: str
    """Role of the pipeline and its scoring job (read input, model and code; write output)."""
    bucket: str
    """The stack's data bucket: batch/input/ in, batch/output/<execution>/ out."""
    region: str
    """AWS region; selects the scikit-learn image."""
    code_uri: str
    """``s3://<bucket>/code/<hash>``: the ``training/`` package (the handler and the job)."""
    model_package_group_name: str
    """Group whose latest Approved package scores each run."""
    function_arn: str
    """The batch Lambda (functions/batch_run.py): resolves the model, publishes the counts."""
    model_name: str | None = None
    """The Model dimension of the batch's drift metrics. Default: the group's name."""
    instance_type: str = DEFAULT_BATCH_INSTANCE_TYPE
    """Default of ``BatchInstanceType``. Default: ml.m5.large."""
    instance_count: int = 1
    """Default of ``BatchInstanceCount``; files are sharded by S3 key. Default: 1."""
    output_format: str = DEFAULT_BATCH_OUTPUT_FORMAT
    """csv (input columns + prediction columns) or jsonl. Default: csv."""
    max_refused_share: float = DEFAULT_MAX_REFUSED_SHARE
    """Default of ``MaxRefusedShare``: the run fails above this share. Default: 0.05."""
    chunk_rows: int = DEFAULT_BATCH_CHUNK_ROWS
    """Rows per handler call (memory is bounded by a chunk). Default: 20000."""
    max_runtime_seconds: int = DEFAULT_MAX_RUNTIME_SECONDS
    """Time limit of the scoring job. Default: 3600."""
    volume_size_gb: int = DEFAULT_VOLUME_SIZE_GB
    """Disk of each instance (its shard of the input and its output). Default: 30."""
    wheelhouse_uri: str | None = None
    """s3:// URI of the jobs' wheelhouse. Default: none."""
    kms_key_id: str | None = None
    """KMS key for the job's volume and output. Default: the bucket's encryption."""
    subnets: tuple[str, ...] = ()
    """VPC subnets of the job. Default: no VPC."""
    security_group_ids: tuple[str, ...] = ()
    """VPC security groups (with subnets). Default: no VPC."""


def validate_batch_settings(problems: Problems, *, instance_type: Any, instance_count: Any,
                            output_format: Any, max_refused_share: Any, chunk_rows: Any,
                            max_runtime_seconds: Any) -> None:
    """The rules of the settings a user picks (the component checks them at construction)."""
    problems.matches("instance_type", instance_type, INSTANCE_TYPE_RE,
                     "an ML instance type such as 'ml.m5.large'")
    count = instance_count_problem(instance_count)
    if count:
        problems.add("instance_count", count, instance_count)
    problems.check(output_format in BATCH_OUTPUT_FORMATS, "output_format",
                   f"must be one of {', '.join(BATCH_OUTPUT_FORMATS)}", output_format)
    share_ok = isinstance(max_refused_share, int | float) and not isinstance(
        max_refused_share, bool) and math.isfinite(max_refused_share) \
        and 0 <= max_refused_share <= 1
    problems.check(share_ok, "max_refused_share", "must be a number between 0 and 1",
                   max_refused_share)
    problems.check(is_int(chunk_rows) and 1 <= chunk_rows <= 1_000_000, "chunk_rows",
                   "must be an integer between 1 and 1000000", chunk_rows)
    problems.check(is_int(max_runtime_seconds)
                   and 1 <= max_runtime_seconds <= MAX_RUNTIME_SECONDS_LIMIT,
                   "max_runtime_seconds",
                   f"must be an integer between 1 and {MAX_RUNTIME_SECONDS_LIMIT}",
                   max_runtime_seconds)


def validate_batch_spec(spec: BatchSpec, owner: str | None = None) -> None:
    """Check every field of ``spec``; raise one ``ValidationError`` listing every problem."""
    problems = Problems(owner or f"BatchSpec {spec.pipeline_name!r}")
    validate_batch_settings(problems, instance_type=spec.instance_type,
                            instance_count=spec.instance_count,
                            output_format=spec.output_format,
                            max_refused_share=spec.max_refused_share,
                            chunk_rows=spec.chunk_rows,
                            max_runtime_seconds=spec.max_runtime_seconds)
    if spec.model_name is not None:
        problems.matches("model_name", spec.model_name, SAGEMAKER_NAME_RE,
                         "1-63 letters, digits and hyphens, starting with a letter or digit")
    for name in ("pipeline_name", "model_package_group_name"):
        problems.matches(name, getattr(spec, name), SAGEMAKER_NAME_RE,
                         "1-63 letters, digits and hyphens, starting with a letter or digit")
    problems.matches("function_arn", spec.function_arn, LAMBDA_ARN_RE,
                     "a Lambda function ARN (arn:aws:lambda:<region>:<account>:function:<name>)")
    validate_job_settings(problems, spec)
    problems.raise_if_any()
