"""The monitoring pipeline's definition (ModelMonitor's ``processing`` engine), built offline.

One step, ``DriftCheck``: a processing job on the scikit-learn image that runs
``python3 /opt/ml/processing/input/code/training/bootstrap.py drift <args>`` with

- inputs: the training code and, when given, the wheelhouse. The capture and the baseline
  are not processing inputs: SageMaker refuses an input prefix with no objects, and both are
  empty before the first deployment (capture also before traffic and after it expires). The
  job gets their URIs (``--capture-uri``; ``--baseline-uri`` is the ``BaselineUri``
  parameter) and reads them itself: the baseline's statistics.json and only the hour folders
  of the last ``window_hours`` (``training.monitor.source``);
- output: ``drift_report.json`` and ``drift_report.html`` under
  ``s3://<bucket>/reports/<pipeline>/<execution id>/drift``;
- CloudWatch metrics in the drift namespace, dimensions Endpoint and Model.

Network isolation is off for this job only, because the job itself calls S3 (its window) and
``cloudwatch:PutMetricData``. Its role makes up for it: read on the capture, baseline and code
prefixes, write on its reports prefix, ``PutMetricData`` in the drift namespace only.

:func:`build_monitor_definition` is a pure function of :class:`MonitorSpec`: the same spec
gives byte-identical JSON, and it makes no AWS call (see :mod:`offline_sdk`).
"""

from __future__ import annotations

import json
from typing import Any

from mlops_components.bucket_layout import PREFIXES
from mlops_components.sagemaker import offline_sdk
from mlops_components.sagemaker.builder import BuildContext
from mlops_components.sagemaker.monitor_spec import (
    BASELINE_URI_FLAG,
    CAPTURE_URI_FLAG,
    DRIFT_CHECK_STEP,
    WINDOW_HOURS_FLAG,
    MonitorParameter,
    MonitorSpec,
    validate_monitor_spec,
)
from training.contract import (
    BOOTSTRAP_SCRIPT,
    DRIFT_OUTPUT,
    DRIFT_THRESHOLD_FLAGS,
    PROCESSING_BASELINE_DIR,
    PROCESSING_CAPTURE_DIR,
    PROCESSING_CODE_DIR,
    PROCESSING_DRIFT_DIR,
    PROCESSING_WHEELHOUSE_DIR,
    WHEELHOUSE_CHANNEL,
    Job,
)


def build_monitor_definition(spec: MonitorSpec, owner: str | None = None) -> str:
    """The monitoring pipeline's definition JSON: deterministic, built with no AWS call.

    Raises ``ValidationError`` (a ``ValueError``) listing every problem of the spec.
    """
    validate_monitor_spec(spec, owner)
    with offline_sdk.offline_sdk(spec.region):
        image_uri, session = offline_sdk.image_and_session(
            spec.region, spec.bucket, owner or f"MonitorSpec {spec.pipeline_name!r}")
        definition = _pipeline(spec, session, image_uri).definition()
    return json.dumps(json.loads(definition), sort_keys=True, separators=(",", ":"))


def drift_arguments(spec: MonitorSpec, baseline_uri: Any = None) -> list[Any]:
    """drift.py's arguments: what it reads from S3, fixed paths, the endpoint and model, the
    window, thresholds. ``baseline_uri``: the ``BaselineUri`` parameter (default: the spec's
    URI)."""
    arguments = [CAPTURE_URI_FLAG, spec.capture_uri,
                 BASELINE_URI_FLAG, baseline_uri if baseline_uri is not None
                 else spec.baseline_uri,
                 "--capture-dir", PROCESSING_CAPTURE_DIR,
                 "--baseline-dir", PROCESSING_BASELINE_DIR,
                 "--output-dir", PROCESSING_DRIFT_DIR,
                 "--endpoint", spec.endpoint_name,
                 "--model", spec.model_name,
                 WINDOW_HOURS_FLAG, str(spec.window_hours)]
    for flag in DRIFT_THRESHOLD_FLAGS:
        if flag in spec.thresholds:
            arguments += [f"--{flag}", repr(float(spec.thresholds[flag]))]
    return arguments


def _pipeline(spec: MonitorSpec, session: Any, image_uri: str) -> Any:
    from sagemaker.core.network import NetworkConfig
    from sagemaker.core.processing import Processor
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join
    from sagemaker.core.workflow.parameters import ParameterString
    from sagemaker.mlops.workflow import Pipeline, ProcessingStep

    baseline = ParameterString(MonitorParameter.BASELINE_URI.value,
                               default_value=spec.baseline_uri)
    instance_type = ParameterString(MonitorParameter.MONITOR_INSTANCE_TYPE.value,
                                    default_value=spec.instance_type)
    processor = Processor(
        role=spec.role_arn,
        image_uri=image_uri,
        instance_count=1,
        instance_type=instance_type,
        entrypoint=["python3", f"{PROCESSING_CODE_DIR}/{BOOTSTRAP_SCRIPT}", Job.DRIFT.value],
        volume_size_in_gb=spec.volume_size_gb,
        volume_kms_key=spec.kms_key_id,
        output_kms_key=spec.kms_key_id,
        max_runtime_in_seconds=spec.max_runtime_seconds,
        base_job_name=Job.DRIFT.value,
        sagemaker_session=session,
        # The job reads its window from S3 and publishes its metrics itself: it needs a route
        # to S3 and CloudWatch.
        network_config=NetworkConfig(
            enable_network_isolation=False,
            security_group_ids=list(spec.security_group_ids) or None,
            subnets=list(spec.subnets) or None),
        env={"AWS_DEFAULT_REGION": spec.region},
    )
    inputs = [
        BuildContext.processing_input("code", spec.code_uri.rstrip("/"), PROCESSING_CODE_DIR),
    ]
    if spec.wheelhouse_uri:
        inputs.append(BuildContext.processing_input(WHEELHOUSE_CHANNEL, spec.wheelhouse_uri,
                                                    PROCESSING_WHEELHOUSE_DIR))
    reports = Join(on="/", values=[
        f"s3://{spec.bucket}/{PREFIXES['reports']}{spec.pipeline_name}",
        ExecutionVariables.PIPELINE_EXECUTION_ID, DRIFT_OUTPUT])
    step_args = processor.run(
        inputs=inputs,
        outputs=[BuildContext.processing_output(DRIFT_OUTPUT, PROCESSING_DRIFT_DIR, reports)],
        arguments=drift_arguments(spec, baseline))
    step = ProcessingStep(
        name=DRIFT_CHECK_STEP, step_args=step_args,
        description=f"Drift of {spec.endpoint_name}'s last {spec.window_hours} h of captured "
                    "traffic against the model's baseline; reports and CloudWatch metrics.")
    return Pipeline(name=spec.pipeline_name, parameters=[baseline, instance_type],
                    steps=[step], sagemaker_session=session, pipeline_experiment_config=None)


def model_monitor_image_uri(region: str) -> str:
    """Model Monitor's analyzer image for ``region`` (the ``model-monitor`` engine), from the
    SDK's bundled table, with no AWS call. Raises ``ValueError`` for an unknown region."""
    with offline_sdk.offline_sdk(region):
        from sagemaker.core import image_uris

        return image_uris.retrieve(framework="model-monitor", region=region)
