"""The batch inference pipeline's definition (BatchInference), built offline with the SDK.

``ResolveModel`` (LambdaStep) -> ``HasModelAndInput`` (ConditionStep on its ``Ready``) ->
``Score`` (ProcessingStep) -> ``PublishCounts`` (LambdaStep) -> ``AnyScored`` (ConditionStep:
``DriftCheck``, ProcessingStep, -> ``PublishDrift``, LambdaStep) and ``RefusedWithinLimit``
(ConditionStep; else ``TooManyRefused``, a FailStep). See :mod:`batch_spec`.

Why a processing step with the handler rather than a Transform step: Batch Transform sends
mini-batches to the serving container, and our handler refuses a whole request for one bad row
(a 400), which fails the transform job; its join (``JoinSource: Input``) needs exactly one
output record per input record and a headerless input (a header line is a record); and the
container cannot say which line was bad. The processing job runs the same handler functions on
each chunk (`training.serve.batch`), refuses single rows with their line numbers, keeps an ID
column and the header through the join, and needs no network (isolation on, like the
endpoint's model): inputs are the code, the model archive the Lambda resolved, and the input
prefix sharded by S3 key across ``BatchInstanceCount`` instances (Transform's
``ShardedByS3Key``); each chunk stays within the endpoint's 6 MB payload limit.

:func:`build_batch_definition` is a pure function of :class:`BatchSpec`: the same spec gives
byte-identical JSON, and it makes no AWS call (see :mod:`offline_sdk`).
"""

from __future__ import annotations

import json
from typing import Any

from mlops_components.sagemaker import offline_sdk
from mlops_components.sagemaker.batch_spec import (
    BASELINE_OUTPUT_NAME,
    DRIFT_ACTION,
    DRIFT_DETECTED_OUTPUT,
    MODEL_DATA_OUTPUT,
    PACKAGE_OUTPUT,
    PASSED_OUTPUT,
    PUBLISH_ACTION,
    READY_OUTPUT,
    REASON_OUTPUT,
    RESOLVE_ACTION,
    ROWS_REFUSED_OUTPUT,
    ROWS_SCORED_OUTPUT,
    SUMMARY_OUTPUT,
    BatchParameter,
    BatchSpec,
    BatchStep,
    batch_input_uri,
    batch_output_uri,
    validate_batch_spec,
)
from mlops_components.sagemaker.builder import BuildContext
from training.contract import (
    BATCH_CAPTURE_FOLDER,
    BATCH_DRIFT_METRICS_FILE,
    BATCH_OUTPUT,
    BOOTSTRAP_SCRIPT,
    CODE_CHANNEL,
    DRIFT_OUTPUT,
    PROCESSING_BASELINE_DIR,
    PROCESSING_BATCH_INPUT_DIR,
    PROCESSING_BATCH_OUTPUT_DIR,
    PROCESSING_CAPTURE_DIR,
    PROCESSING_CODE_DIR,
    PROCESSING_DRIFT_DIR,
    PROCESSING_MODEL_DIR,
    PROCESSING_WHEELHOUSE_DIR,
    WHEELHOUSE_CHANNEL,
    Job,
)


def build_batch_definition(spec: BatchSpec, owner: str | None = None) -> str:
    """The batch pipeline's definition JSON: deterministic, built with no AWS call.

    Raises ``ValidationError`` (a ``ValueError``) listing every problem of the spec.
    """
    validate_batch_spec(spec, owner)
    with offline_sdk.offline_sdk(spec.region):
        image_uri, session = offline_sdk.image_and_session(
            spec.region, spec.bucket, owner or f"BatchSpec {spec.pipeline_name!r}")
        definition = _pipeline(spec, session, image_uri).definition()
    return json.dumps(json.loads(definition), sort_keys=True, separators=(",", ":"))


def batch_arguments(spec: BatchSpec, max_refused_share: Any = None) -> list[Any]:
    """The batch job's arguments (``MaxRefusedShare``: the parameter; default the spec's)."""
    return ["--model-dir", PROCESSING_MODEL_DIR,
            "--input-dir", PROCESSING_BATCH_INPUT_DIR,
            "--output-dir", PROCESSING_BATCH_OUTPUT_DIR,
            "--output-format", spec.output_format,
            "--chunk-rows", str(spec.chunk_rows),
            "--max-refused-share", max_refused_share if max_refused_share is not None
            else repr(float(spec.max_refused_share)),
            "--capture-dir", f"{PROCESSING_BATCH_OUTPUT_DIR}/{BATCH_CAPTURE_FOLDER}"]


def batch_drift_arguments(spec: BatchSpec) -> list[str]:
    """The monitor's drift job on a batch: every capture file of the batch (no hour window),
    no network (its metrics go to a file the Lambda publishes), the batch pipeline as the
    Endpoint dimension."""
    return ["--capture-dir", PROCESSING_CAPTURE_DIR,
            "--baseline-dir", PROCESSING_BASELINE_DIR,
            "--output-dir", PROCESSING_DRIFT_DIR,
            "--endpoint", spec.pipeline_name,
            "--model", spec.model_name or spec.model_package_group_name,
            "--window-hours", "0", "--no-publish",
            "--metrics-file", f"{PROCESSING_DRIFT_DIR}/{BATCH_DRIFT_METRICS_FILE}"]


def _pipeline(spec: BatchSpec, session: Any, image_uri: str) -> Any:
    from sagemaker.core.lambda_helper import Lambda
    from sagemaker.core.network import NetworkConfig
    from sagemaker.core.processing import Processor
    from sagemaker.core.workflow.conditions import ConditionEquals, ConditionGreaterThan
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join
    from sagemaker.core.workflow.parameters import ParameterInteger, ParameterString
    from sagemaker.mlops.workflow import (
        ConditionStep,
        FailStep,
        LambdaOutput,
        LambdaStep,
        Pipeline,
        ProcessingStep,
    )
    from sagemaker.mlops.workflow.lambda_step import LambdaOutputTypeEnum

    input_uri = ParameterString(BatchParameter.INPUT_DATA_URI.value,
                                default_value=batch_input_uri(spec.bucket))
    instance_type = ParameterString(BatchParameter.BATCH_INSTANCE_TYPE.value,
                                    default_value=spec.instance_type)
    instance_count = ParameterInteger(BatchParameter.BATCH_INSTANCE_COUNT.value,
                                      default_value=spec.instance_count)
    max_refused = ParameterString(BatchParameter.MAX_REFUSED_SHARE.value,
                                  default_value=repr(float(spec.max_refused_share)))
    function = Lambda(function_arn=spec.function_arn, session=session)
    text, integer = LambdaOutputTypeEnum.String, LambdaOutputTypeEnum.Integer

    resolve = LambdaStep(
        name=BatchStep.RESOLVE_MODEL.value, lambda_func=function,
        description="The group's latest Approved package now, and whether there is input.",
        inputs={"action": RESOLVE_ACTION,
                "model_package_group": spec.model_package_group_name,
                "input_uri": input_uri},
        outputs=[LambdaOutput(output_name=name, output_type=text)
                 for name in (READY_OUTPUT, MODEL_DATA_OUTPUT, PACKAGE_OUTPUT, REASON_OUTPUT,
                              BASELINE_OUTPUT_NAME)])

    def processor(job: Job, count: Any) -> Any:
        return Processor(
            role=spec.role_arn,
            image_uri=image_uri,
            instance_count=count,
            instance_type=instance_type,
            entrypoint=["python3", f"{PROCESSING_CODE_DIR}/{BOOTSTRAP_SCRIPT}", job.value],
            volume_size_in_gb=spec.volume_size_gb,
            volume_kms_key=spec.kms_key_id,
            output_kms_key=spec.kms_key_id,
            max_runtime_in_seconds=spec.max_runtime_seconds,
            base_job_name=job.value,
            sagemaker_session=session,
            network_config=NetworkConfig(
                enable_network_isolation=True,
                security_group_ids=list(spec.security_group_ids) or None,
                subnets=list(spec.subnets) or None),
        )

    code_inputs = [BuildContext.processing_input(CODE_CHANNEL, spec.code_uri.rstrip("/"),
                                                 PROCESSING_CODE_DIR)]
    if spec.wheelhouse_uri:
        code_inputs.append(BuildContext.processing_input(
            WHEELHOUSE_CHANNEL, spec.wheelhouse_uri, PROCESSING_WHEELHOUSE_DIR))
    inputs = [
        *code_inputs,
        BuildContext.processing_input("model", resolve.properties.Outputs[MODEL_DATA_OUTPUT],
                                      PROCESSING_MODEL_DIR),
        BuildContext.processing_input("batch", input_uri, PROCESSING_BATCH_INPUT_DIR,
                                      sharded=True),
    ]
    output_uri = Join(on="/", values=[batch_output_uri(spec.bucket).rstrip("/"),
                                      ExecutionVariables.PIPELINE_EXECUTION_ID])
    score = ProcessingStep(
        name=BatchStep.SCORE.value,
        step_args=processor(Job.BATCH, instance_count).run(
            inputs=inputs,
            outputs=[BuildContext.processing_output(BATCH_OUTPUT, PROCESSING_BATCH_OUTPUT_DIR,
                                                    output_uri)],
            arguments=batch_arguments(spec, max_refused)),
        description="Score the input with the endpoint's handler; refused rows are listed "
                    "with their line numbers.")
    publish = LambdaStep(
        name=BatchStep.PUBLISH_COUNTS.value, lambda_func=function,
        description="Publish the run's rows scored and refused to CloudWatch.",
        inputs={"action": PUBLISH_ACTION,
                "output_uri": BuildContext.output_uri(score, BATCH_OUTPUT)},
        outputs=[*(LambdaOutput(output_name=name, output_type=integer)
                   for name in (ROWS_SCORED_OUTPUT, ROWS_REFUSED_OUTPUT)),
                 *(LambdaOutput(output_name=name, output_type=text)
                   for name in (PASSED_OUTPUT, SUMMARY_OUTPUT))])
    too_many = FailStep(
        name=BatchStep.TOO_MANY_REFUSED.value,
        error_message=Join(on=" ", values=[
            "Too many refused rows:", publish.properties.Outputs[SUMMARY_OUTPUT],
            "- see refused_rows-<host>.csv under", BuildContext.output_uri(score, BATCH_OUTPUT)]))
    within_limit = ConditionStep(
        name=BatchStep.REFUSED_WITHIN_LIMIT.value,
        conditions=[ConditionEquals(left=publish.properties.Outputs[PASSED_OUTPUT],
                                    right="true")],
        if_steps=[], else_steps=[too_many],
        description="Fail the run when the share of refused rows passes MaxRefusedShare.")
    drift_uri = Join(on="/", values=[batch_output_uri(spec.bucket).rstrip("/"),
                                     ExecutionVariables.PIPELINE_EXECUTION_ID, DRIFT_OUTPUT])
    drift = ProcessingStep(
        name=BatchStep.DRIFT_CHECK.value,
        step_args=processor(Job.DRIFT, 1).run(
            inputs=[*code_inputs,
                    BuildContext.processing_input(
                        "capture", Join(on="/", values=[
                            BuildContext.output_uri(score, BATCH_OUTPUT),
                            BATCH_CAPTURE_FOLDER]), PROCESSING_CAPTURE_DIR),
                    BuildContext.processing_input(
                        "baseline", resolve.properties.Outputs[BASELINE_OUTPUT_NAME],
                        PROCESSING_BASELINE_DIR)],
            outputs=[BuildContext.processing_output(DRIFT_OUTPUT, PROCESSING_DRIFT_DIR,
                                                    drift_uri)],
            arguments=batch_drift_arguments(spec)),
        description="The monitor's drift job on this batch (a window of its own) against the "
                    "approved package's baseline.")
    publish_drift = LambdaStep(
        name=BatchStep.PUBLISH_DRIFT.value, lambda_func=function,
        description="Publish the drift job's metrics for this batch to CloudWatch.",
        inputs={"action": DRIFT_ACTION,
                "metrics_uri": Join(on="/", values=[
                    BuildContext.output_uri(drift, DRIFT_OUTPUT), BATCH_DRIFT_METRICS_FILE])},
        outputs=[LambdaOutput(output_name=DRIFT_DETECTED_OUTPUT, output_type=text)])
    any_scored = ConditionStep(
        name=BatchStep.ANY_SCORED.value,
        conditions=[ConditionGreaterThan(left=publish.properties.Outputs[ROWS_SCORED_OUTPUT],
                                         right=0)],
        if_steps=[drift, publish_drift], else_steps=[],
        description="Check the scored rows for drift (no scored row: nothing to check).")
    ready = ConditionStep(
        name=BatchStep.HAS_MODEL_AND_INPUT.value,
        conditions=[ConditionEquals(left=resolve.properties.Outputs[READY_OUTPUT],
                                    right="true")],
        if_steps=[score, publish, any_scored, within_limit], else_steps=[],
        description="Score only with an approved model and some input; else the run ends "
                    "here, successfully, with ResolveModel's Reason.")
    return Pipeline(name=spec.pipeline_name,
                    parameters=[input_uri, instance_type, instance_count, max_refused],
                    steps=[resolve, ready], sagemaker_session=session,
                    pipeline_experiment_config=None)
