"""ModelMonitor: scheduled drift monitoring of an endpoint's traffic, with alarms.

Two engines (:class:`MonitorEngine`):

- ``processing`` (default; works in every account): a one-step SageMaker pipeline
  ``<name>`` whose processing job runs the ``training/`` drift code
  (``bootstrap.py drift``) over the last ``window_hours`` of captured traffic against the
  baseline, writes ``drift_report.json`` and ``drift_report.html`` under
  ``reports/<pipeline>/<execution>/drift`` and publishes CloudWatch metrics in
  ``MLOps/Drift`` (a drift score per feature, an overall ``DriftDetected`` flag, schema
  violations; dimensions Endpoint and Model). An EventBridge schedule starts it, through a
  role that may only ``StartPipelineExecution`` on it, with a retry policy and a DLQ.
- ``model-monitor``: a DataQualityJobDefinition and a MonitoringSchedule on the same
  baseline (Model Monitor's format), for accounts that still have Model Monitor (closed to
  new customers on 2026-07-30). It publishes ``feature_baseline_drift_<feature>`` metrics, so
  this engine needs the feature names to alarm on.

The baseline: the ``baseline_uri`` prefix holds ``statistics.json`` and
``constraints.json``. Its default, ``s3://<bucket>/models/<model>/deployed-baseline/``
(:func:`~mlops_components.bucket_layout.deployed_baseline_uri`), is where the endpoint's
deployer copies the DriftCheckBaselines of the package it deploys (before the endpoint
changes), so monitoring compares with the model that serves. A manual run of the
processing pipeline may pass another ``BaselineUri`` (e.g. a registered package's baseline
prefix).

Alarm names start with ``<model>/<endpoint>/``; :attr:`ModelMonitor.drift_alarm_names` are
the ones that mean "the data moved" (RetrainTrigger's drift source matches them exactly).

The monitor's own health (processing engine): ``no-records-analysed`` alarms when the sum of
``RecordsAnalyzed`` is 0 for two schedule periods, missing data counting as breaching (no
traffic, no capture, no baseline yet, or a drift check that no longer runs). The drift
alarms treat missing data as ``ignore`` on purpose: between runs there is none and the last
verdict stands, so a dead monitor's drift alarm would stay OK: the health alarm is what says
so. An EventBridge rule sends every failed execution of the monitoring pipeline (and of
``watched_pipeline_arns``: MlopsStack adds the training pipeline) to ``alarm_actions``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from mlops_components.bucket_layout import PREFIXES, deployed_baseline_uri
from mlops_components.components.event_delivery import (
    DEFAULT_RETRY_ATTEMPTS,
    allow_dead_letters,
    dead_letter_queue,
    delivery,
)
from mlops_components.components.iam import (
    assume_role_policy,
    document,
    job_key_and_network_statements,
    statement,
)
from mlops_components.components.inputs import cross_language
from mlops_components.components.tags import child_opts, tags_for
from mlops_components.components.training_pipeline import image_repositories
from mlops_components.enums import MonitorEngine
from mlops_components.sagemaker.cache import cached_monitor_definition
from mlops_components.sagemaker.endpoint import EndpointKind
from mlops_components.sagemaker.monitor_spec import (
    DEFAULT_MONITOR_INSTANCE_TYPE,
    DEFAULT_MONITOR_SCHEDULE,
    DRIFT_CHECK_STEP,
    MonitorSpec,
    validate_monitor_settings,
)
from mlops_components.sagemaker.spec import DEFAULT_MAX_RUNTIME_SECONDS, DEFAULT_VOLUME_SIZE_GB
from mlops_components.tag_keys import NETWORK_ACCESS_TAG
from mlops_components.validation import (
    KMS_KEY_ONLY_ARN_RE,
    SAGEMAKER_NAME_RE,
    Problems,
    rate_seconds,
    schedule_problem,
)
from training.contract import (
    BASELINE_CONSTRAINTS_FILE,
    BASELINE_STATISTICS_FILE,
    DEFAULT_DRIFT_WINDOW_HOURS,
    DRIFT_DETECTED_METRIC,
    DRIFT_METRIC_NAMESPACE,
    ENDPOINT_DIMENSION,
    MODEL_DIMENSION,
    PROCESSING_OUTPUT_DIR,
    PROCESSING_ROOT,
    RECORDS_ANALYZED_METRIC,
    SCHEMA_VIOLATIONS_METRIC,
)

ALARM_PERIOD_SECONDS = 3600
"""Drift alarms look at hourly periods; between runs no data arrives and the state is kept."""
HEALTH_ALARM_PERIODS = 2
"""The health alarm fires after this many schedule periods without records analysed."""
MAX_HEALTH_PERIOD_SECONDS = 7 * 86400 // HEALTH_ALARM_PERIODS
"""CloudWatch evaluates at most 7 days: longer schedules are watched over 7 days."""
DEFAULT_HEALTH_PERIOD_SECONDS = 86400
"""Period of the health alarm for a cron schedule (its interval is not derived)."""
PIPELINE_STATUS_DETAIL_TYPE = "SageMaker Model Building Pipeline Execution Status Change"
PIPELINE_FAILED_STATUS = "Failed"
#: Model Monitor's CloudWatch namespace and metric names (set by the service).
MODEL_MONITOR_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
MODEL_MONITOR_DRIFT_METRIC_PREFIX = "feature_baseline_drift_"
MODEL_MONITOR_SCHEDULE_DIMENSION = "MonitoringSchedule"
MODEL_MONITOR_INPUT_DIR = f"{PROCESSING_ROOT}/input/endpoint"
MODEL_MONITOR_OUTPUT_DIR = PROCESSING_OUTPUT_DIR
MODEL_MONITOR_METRICS_PER_ALARM = 10
DEFAULT_MODEL_MONITOR_DRIFT_THRESHOLD = 0.1
"""Model Monitor's own default comparison threshold for a feature's baseline drift."""
#: Model Monitor accepts only these schedule shapes (hourly or daily at the hour).
_MODEL_MONITOR_CRON = {3600: "cron(0 * ? * * *)", 86400: "cron(0 0 ? * * *)"}


def capture_uri(bucket: str, endpoint: str) -> str:
    """The endpoint's data capture prefix (SageMaker writes ``<dest>/<endpoint>/<variant>``)."""
    return f"s3://{bucket}/{PREFIXES['capture']}{endpoint}/"


def alarm_name(model: str, endpoint: str, what: str) -> str:
    """``<model>/<endpoint>/<what>``: model names have no '/', so the prefix is unambiguous."""
    return f"{model}/{endpoint}/{what}"


def health_period_seconds(schedule_expression: str) -> int:
    """The health alarm's period: the schedule's interval (a whole number of minutes, at most
    half of CloudWatch's 7-day evaluation limit); a day for a cron schedule."""
    seconds = rate_seconds(schedule_expression) or DEFAULT_HEALTH_PERIOD_SECONDS
    return min(max(60, -(-seconds // 60) * 60), MAX_HEALTH_PERIOD_SECONDS)


def pipeline_failed_pattern(pipeline_arns: Sequence[str]) -> dict[str, Any]:
    """EventBridge pattern: an execution of one of these pipelines failed."""
    return {"source": ["aws.sagemaker"], "detail-type": [PIPELINE_STATUS_DETAIL_TYPE],
            "detail": {"currentPipelineExecutionStatus": [PIPELINE_FAILED_STATUS],
                       "pipelineArn": list(pipeline_arns)}}


def model_monitor_schedule(expression: str) -> str | None:
    """The Model Monitor cron for a schedule, or None when Model Monitor cannot run it."""
    if expression in _MODEL_MONITOR_CRON.values():
        return expression
    return _MODEL_MONITOR_CRON.get(rate_seconds(expression) or 0)


@dataclass
class ModelMonitorArgs:
    """Inputs of a ModelMonitor."""

    endpoint_name: pulumi.Input[str] | None = None
    """The endpoint whose captured traffic is checked. Required."""

    bucket_name: pulumi.Input[str] | None = None
    """The data bucket (capture, baselines, reports, code). Required; MlopsStack sets it."""

    code_uri: pulumi.Input[str] | None = None
    """s3:// prefix of the training code (TrainingPipeline.code_uri). Required for the
    processing engine."""

    model_name: str | None = None
    """Model the endpoint serves (metric dimension, alarm prefix, tags). Default: the
    component's name."""

    engine: MonitorEngine = MonitorEngine.PROCESSING
    """Drift engine. Default: processing (works without Model Monitor)."""

    endpoint_kind: EndpointKind | None = None
    """Kind of the monitored endpoint; the model-monitor engine refuses a serverless one
    (Model Monitor does not support serverless endpoints). MlopsStack sets it. Default:
    not checked."""

    schedule_expression: str = DEFAULT_MONITOR_SCHEDULE
    """How often to check (EventBridge rate or cron; the model-monitor engine takes hourly or
    daily only). Default: "rate(1 day)"."""

    window_hours: int = DEFAULT_DRIFT_WINDOW_HOURS
    """Hours of traffic each check reads, 1-168 (processing engine). Default: 24."""

    baseline_uri: pulumi.Input[str] | None = None
    """s3:// prefix with statistics.json and constraints.json. Default:
    s3://<bucket>/models/<model>/deployed-baseline/."""

    thresholds: Mapping[str, float] = field(default_factory=dict)
    """drift.py thresholds (psi-threshold, ks-threshold, js-threshold, missing-threshold),
    each > 0: the smallest change that alarms (the job raises them on small windows to what
    chance reaches). Default: the job's defaults (training.monitor.metrics.DriftThresholds)."""

    alarm_on_schema_violations: bool = True
    """Also alarm when requests break the schema (not a retraining signal). Default: True."""

    alarm_actions: Sequence[pulumi.Input[str]] = ()
    """ARNs notified when an alarm fires (e.g. an SNS topic). Also the targets of the failed
    pipeline execution rule (an SNS topic whose policy lets events.amazonaws.com publish).
    Default: none."""

    watched_pipeline_arns: Sequence[pulumi.Input[str]] = ()
    """Other pipelines whose failed executions go to alarm_actions, with the monitoring
    pipeline's own (MlopsStack: the training pipeline). Default: none."""

    features: Sequence[str] = ()
    """Feature names to alarm on (model-monitor engine only; its metrics are per feature).
    Default: none."""

    model_monitor_drift_threshold: float = DEFAULT_MODEL_MONITOR_DRIFT_THRESHOLD
    """feature_baseline_drift value that alarms (model-monitor engine). Default: 0.1."""

    instance_type: str = DEFAULT_MONITOR_INSTANCE_TYPE
    """Instance type of the monitoring job. Default: ml.m5.large."""

    max_runtime_seconds: int = DEFAULT_MAX_RUNTIME_SECONDS
    """Time limit of the monitoring job. Default: 3600."""

    wheelhouse_uri: pulumi.Input[str] | None = None
    """s3:// URI of the jobs' wheelhouse (HTML plots need matplotlib). Default: none."""

    kms_key_arn: pulumi.Input[str] | None = None
    """KMS key ARN for the job's volume and reports. Default: the bucket's encryption."""

    subnet_ids: Sequence[str] = ()
    """VPC subnets (they need a route or VPC endpoint to CloudWatch). Default: none."""

    security_group_ids: Sequence[str] = ()
    """Security groups for the job (with subnet_ids). Default: none."""

    retry_attempts: int = DEFAULT_RETRY_ATTEMPTS
    """EventBridge retries of a failed scheduled start (0-185). Default: 3."""

    tags: Mapping[str, str] = field(default_factory=dict)
    """Extra tags for every resource. Default: none."""


@cross_language(ModelMonitorArgs)
class ModelMonitor(pulumi.ComponentResource):
    """Scheduled drift checks of one endpoint's traffic against its model's baseline."""

    alarm_names: pulumi.Output[list[str]]
    """Every alarm this monitor created."""
    drift_alarm_names: pulumi.Output[list[str]]
    """The alarms that mean the input data drifted (what retraining listens to)."""
    pipeline_name: pulumi.Output[str | None]
    """The monitoring pipeline (processing engine)."""
    schedule_name: pulumi.Output[str]
    """The EventBridge rule (processing) or monitoring schedule (model-monitor)."""
    reports_uri: pulumi.Output[str]
    """s3:// prefix the reports are written under."""
    failure_rule_name: pulumi.Output[str]
    """EventBridge rule matching failed executions of the watched pipelines."""

    def __init__(self, name: str, args: ModelMonitorArgs,
                 opts: pulumi.ResourceOptions | None = None):
        model = args.model_name or name
        engine = _validate(name, model, args)
        super().__init__("mlops:index:ModelMonitor", name, None, opts)
        self._tags = tags_for(model, args.tags)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        self._region = aws.get_region_output(opts=invoke).region
        self._identity = aws.get_caller_identity_output(opts=invoke)
        self._partition = aws.get_partition_output(opts=invoke).partition
        bucket = pulumi.Output.from_input(args.bucket_name)
        endpoint = pulumi.Output.from_input(args.endpoint_name)
        baseline = pulumi.Output.from_input(args.baseline_uri) if args.baseline_uri else \
            bucket.apply(lambda b: deployed_baseline_uri(b, model))
        self.reports_uri = bucket.apply(lambda b: f"s3://{b}/{PREFIXES['reports']}{name}/")
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=assume_role_policy("sagemaker.amazonaws.com",
                                                  source_account=self._identity.account_id),
            description=f"Drift monitoring of {model}", tags=self._tags, opts=child_opts(self))

        watched = list(args.watched_pipeline_arns)
        if engine is MonitorEngine.PROCESSING:
            self.pipeline_name, self.schedule_name, pipeline_arn = self._processing(
                name, model, args, role, bucket, endpoint, baseline)
            watched.insert(0, pipeline_arn)
        else:
            self.pipeline_name = pulumi.Output.from_input(None)
            self.schedule_name = self._model_monitor(name, args, role, bucket, endpoint,
                                                     baseline)
        self.drift_alarm_names, self.alarm_names = self._alarms(
            name, model, args, engine, endpoint)
        self.failure_rule_name = self._failure_rule(name, model, args, watched)
        self.register_outputs({
            "alarm_names": self.alarm_names,
            "drift_alarm_names": self.drift_alarm_names,
            "pipeline_name": self.pipeline_name,
            "schedule_name": self.schedule_name,
            "reports_uri": self.reports_uri,
            "failure_rule_name": self.failure_rule_name,
        })

    # ---- processing engine ------------------------------------------------------------

    def _processing(self, name: str, model: str, args: ModelMonitorArgs, role: aws.iam.Role,
                    bucket: pulumi.Output[str], endpoint: pulumi.Output[str],
                    baseline: pulumi.Output[str]) -> tuple[pulumi.Output, pulumi.Output]:
        def build(values: list[Any]) -> str:
            bucket_name, role_arn, region, code, endpoint_name, baseline_uri, wheels, kms = \
                values
            return cached_monitor_definition(MonitorSpec(
                pipeline_name=name, role_arn=role_arn, bucket=bucket_name, region=region,
                code_uri=code, endpoint_name=endpoint_name, model_name=model,
                capture_uri=capture_uri(bucket_name, endpoint_name), baseline_uri=baseline_uri,
                window_hours=args.window_hours, thresholds=dict(args.thresholds),
                instance_type=args.instance_type, max_runtime_seconds=args.max_runtime_seconds,
                wheelhouse_uri=wheels, kms_key_id=kms, subnets=tuple(args.subnet_ids),
                security_group_ids=tuple(args.security_group_ids)),
                owner=f"ModelMonitor '{name}'")

        definition = pulumi.Output.all(
            bucket, role.arn, self._region, args.code_uri, endpoint, baseline,
            args.wheelhouse_uri, args.kms_key_arn).apply(build)
        policy = aws.iam.RolePolicy(
            f"{name}-role-policy", role=role.id,
            policy=pulumi.Output.all(
                bucket, endpoint, baseline, args.code_uri, args.wheelhouse_uri, role.arn,
                definition, self._partition, self._region, self._identity.account_id,
                args.kms_key_arn).apply(lambda values: _processing_policy(name, *values,
                                                                          bool(args.subnet_ids))),
            opts=child_opts(self))
        pipeline = aws.sagemaker.Pipeline(
            f"{name}-pipeline", pipeline_name=name, pipeline_display_name=name,
            pipeline_description=f"Drift check of {model}'s endpoint traffic",
            role_arn=role.arn, pipeline_definition=definition,
            # the drift job lists its capture window and publishes its metrics itself: it
            # needs a route to S3 and CloudWatch, an exemption the policy pack reads here
            tags={**self._tags, NETWORK_ACCESS_TAG: DRIFT_CHECK_STEP},
            opts=child_opts(self, depends_on=[policy]))

        rule = aws.cloudwatch.EventRule(
            f"{name}-schedule", schedule_expression=args.schedule_expression,
            description=f"Start the drift check of {model} ({args.schedule_expression})",
            tags=self._tags, opts=child_opts(self))
        start_role = aws.iam.Role(
            f"{name}-start-role",
            assume_role_policy=assume_role_policy("events.amazonaws.com",
                                                  source_account=self._identity.account_id),
            description=f"EventBridge: start the drift check of {model}", tags=self._tags,
            opts=child_opts(self))
        start_policy = aws.iam.RolePolicy(
            f"{name}-start-policy", role=start_role.id,
            policy=pulumi.Output.json_dumps(document([statement(
                "Allow", ["sagemaker:StartPipelineExecution"], [pipeline.arn],
                sid="StartThisPipelineOnly")])),
            opts=child_opts(self))
        dlq = dead_letter_queue(f"{name}-dlq", self, self._tags)
        allow_dead_letters(f"{name}-dlq-policy", self, dlq, [rule])
        aws.cloudwatch.EventTarget(
            f"{name}-schedule-target", rule=rule.name, arn=pipeline.arn,
            role_arn=start_role.arn,
            sagemaker_pipeline_target=aws.cloudwatch.EventTargetSagemakerPipelineTargetArgs(
                pipeline_parameter_lists=[]),
            **delivery(dlq, args.retry_attempts),
            opts=child_opts(self, depends_on=[start_policy]))
        return pipeline.pipeline_name, rule.name, pipeline.arn

    # ---- failed pipeline executions ---------------------------------------------------

    def _failure_rule(self, name: str, model: str, args: ModelMonitorArgs,
                      pipeline_arns: Sequence[pulumi.Input[str]]) -> pulumi.Output[str]:
        """A failed monitoring (or watched training) execution notifies the alarm actions: a
        job that fails every run publishes nothing, which no metric alarm can tell apart
        from a quiet day in time."""
        rule = aws.cloudwatch.EventRule(
            f"{name}-failures",
            description=f"Failed executions of {model}'s monitoring and training pipelines",
            event_pattern=pulumi.Output.all(*pipeline_arns).apply(
                lambda arns: json.dumps(pipeline_failed_pattern(arns), sort_keys=True)),
            tags=self._tags, opts=child_opts(self))
        if args.alarm_actions:
            dlq = dead_letter_queue(f"{name}-failures-dlq", self, self._tags)
            allow_dead_letters(f"{name}-failures-dlq-policy", self, dlq, [rule])
            for index, action in enumerate(args.alarm_actions):
                aws.cloudwatch.EventTarget(f"{name}-failures-target-{index}", rule=rule.name,
                                           arn=action, **delivery(dlq, args.retry_attempts),
                                           opts=child_opts(self))
        return rule.name

    # ---- model-monitor engine ---------------------------------------------------------

    def _model_monitor(self, name: str, args: ModelMonitorArgs, role: aws.iam.Role,
                       bucket: pulumi.Output[str], endpoint: pulumi.Output[str],
                       baseline: pulumi.Output[str]) -> pulumi.Output[str]:
        from mlops_components.sagemaker.monitor_builder import model_monitor_image_uri

        image = self._region.apply(model_monitor_image_uri)
        policy = aws.iam.RolePolicy(
            f"{name}-role-policy", role=role.id,
            policy=pulumi.Output.all(
                bucket, endpoint, baseline, image, self._partition, self._region,
                self._identity.account_id, args.kms_key_arn).apply(
                    lambda values: _model_monitor_policy(name, *values)),
            opts=child_opts(self))
        subnets, groups = list(args.subnet_ids), list(args.security_group_ids)
        vpc = aws.sagemaker.DataQualityJobDefinitionNetworkConfigVpcConfigArgs(
            subnets=subnets, security_group_ids=groups) if subnets else None
        job = aws.sagemaker.DataQualityJobDefinition(
            f"{name}-data-quality", name=name, role_arn=role.arn,
            data_quality_app_specification=aws.sagemaker
            .DataQualityJobDefinitionDataQualityAppSpecificationArgs(
                image_uri=image, environment={"publish_cloudwatch_metrics": "Enabled"}),
            data_quality_baseline_config=aws.sagemaker
            .DataQualityJobDefinitionDataQualityBaselineConfigArgs(
                constraints_resource=aws.sagemaker
                .DataQualityJobDefinitionDataQualityBaselineConfigConstraintsResourceArgs(
                    s3_uri=baseline.apply(lambda b: _in(b, BASELINE_CONSTRAINTS_FILE))),
                statistics_resource=aws.sagemaker
                .DataQualityJobDefinitionDataQualityBaselineConfigStatisticsResourceArgs(
                    s3_uri=baseline.apply(lambda b: _in(b, BASELINE_STATISTICS_FILE)))),
            data_quality_job_input=aws.sagemaker.DataQualityJobDefinitionDataQualityJobInputArgs(
                endpoint_input=aws.sagemaker
                .DataQualityJobDefinitionDataQualityJobInputEndpointInputArgs(
                    endpoint_name=endpoint, local_path=MODEL_MONITOR_INPUT_DIR)),
            data_quality_job_output_config=aws.sagemaker
            .DataQualityJobDefinitionDataQualityJobOutputConfigArgs(
                kms_key_id=args.kms_key_arn,
                monitoring_outputs=aws.sagemaker
                .DataQualityJobDefinitionDataQualityJobOutputConfigMonitoringOutputsArgs(
                    s3_output=aws.sagemaker
                    .DataQualityJobDefinitionDataQualityJobOutputConfigMonitoringOutputsS3OutputArgs(
                        s3_uri=self.reports_uri.apply(lambda r: f"{r}data-quality"),
                        local_path=MODEL_MONITOR_OUTPUT_DIR, s3_upload_mode="EndOfJob"))),
            job_resources=aws.sagemaker.DataQualityJobDefinitionJobResourcesArgs(
                cluster_config=aws.sagemaker.DataQualityJobDefinitionJobResourcesClusterConfigArgs(
                    instance_count=1, instance_type=args.instance_type,
                    volume_size_in_gb=DEFAULT_VOLUME_SIZE_GB, volume_kms_key_id=args.kms_key_arn)),
            # Model Monitor's analyzer writes its metrics to a file the service publishes.
            network_config=aws.sagemaker.DataQualityJobDefinitionNetworkConfigArgs(
                enable_network_isolation=True, vpc_config=vpc),
            stopping_condition=aws.sagemaker.DataQualityJobDefinitionStoppingConditionArgs(
                max_runtime_in_seconds=args.max_runtime_seconds),
            tags=self._tags, opts=child_opts(self, depends_on=[policy]))
        schedule = aws.sagemaker.MonitoringSchedule(
            f"{name}-schedule", name=name,
            monitoring_schedule_config=aws.sagemaker.MonitoringScheduleMonitoringScheduleConfigArgs(
                monitoring_job_definition_name=job.name, monitoring_type="DataQuality",
                schedule_config=aws.sagemaker
                .MonitoringScheduleMonitoringScheduleConfigScheduleConfigArgs(
                    schedule_expression=model_monitor_schedule(args.schedule_expression))),
            tags=self._tags, opts=child_opts(self))
        return schedule.name

    # ---- alarms -----------------------------------------------------------------------

    def _alarms(self, name: str, model: str, args: ModelMonitorArgs, engine: MonitorEngine,
                endpoint: pulumi.Output[str]) -> tuple[pulumi.Output, pulumi.Output]:
        common = {"alarm_actions": list(args.alarm_actions), "period": ALARM_PERIOD_SECONDS,
                  "evaluation_periods": 1, "datapoints_to_alarm": 1,
                  # Chosen: between scheduled runs there is no data, so the last verdict is
                  # kept (a drift in ALARM stays there until a run says otherwise). A monitor
                  # that stops running would keep its last state forever too: the health
                  # alarm and the failure rule say so instead.
                  "treat_missing_data": "ignore", "tags": self._tags}
        drift, others = [], []
        if engine is MonitorEngine.PROCESSING:
            dimensions = endpoint.apply(
                lambda e: {ENDPOINT_DIMENSION: e, MODEL_DIMENSION: model})

            def at_least_once(resource: str, what: str, metric: str, description: str) -> Any:
                """An alarm on one of the drift job's metrics reaching 1 in a run."""
                return aws.cloudwatch.MetricAlarm(
                    f"{name}-{resource}",
                    name=endpoint.apply(lambda e: alarm_name(model, e, what)),
                    alarm_description=f"{model}: {description}",
                    namespace=DRIFT_METRIC_NAMESPACE, metric_name=metric,
                    dimensions=dimensions, statistic="Maximum",
                    comparison_operator="GreaterThanOrEqualToThreshold", threshold=1,
                    opts=child_opts(self), **common)

            drift.append(at_least_once(
                "drift-alarm", "drift-detected", DRIFT_DETECTED_METRIC,
                "the last drift check found drifted features (see the drift report under "
                "reports/)"))
            others.append(aws.cloudwatch.MetricAlarm(
                f"{name}-health-alarm",
                name=endpoint.apply(lambda e: alarm_name(model, e, "no-records-analysed")),
                alarm_description=f"{model}: no capture records analysed for "
                                  f"{HEALTH_ALARM_PERIODS} schedule periods (no traffic, no "
                                  "capture, no baseline, or the drift check is not running)",
                namespace=DRIFT_METRIC_NAMESPACE, metric_name=RECORDS_ANALYZED_METRIC,
                dimensions=dimensions, statistic="Sum",
                period=health_period_seconds(args.schedule_expression),
                evaluation_periods=HEALTH_ALARM_PERIODS, datapoints_to_alarm=HEALTH_ALARM_PERIODS,
                comparison_operator="LessThanOrEqualToThreshold", threshold=0,
                # No datum means no run reached CloudWatch: that is the failure it watches.
                treat_missing_data="breaching", alarm_actions=list(args.alarm_actions),
                tags=self._tags, opts=child_opts(self)))
            if args.alarm_on_schema_violations:
                others.append(at_least_once(
                    "schema-alarm", "schema-violations", SCHEMA_VIOLATIONS_METRIC,
                    "requests broke the schema (new or missing columns, text in numeric "
                    "columns)"))
        else:
            features = list(args.features)
            for index in range(0, len(features), MODEL_MONITOR_METRICS_PER_ALARM):
                chunk = features[index:index + MODEL_MONITOR_METRICS_PER_ALARM]
                part = index // MODEL_MONITOR_METRICS_PER_ALARM
                drift.append(aws.cloudwatch.MetricAlarm(
                    f"{name}-drift-alarm-{part}",
                    name=endpoint.apply(lambda e, p=part: alarm_name(
                        model, e, f"feature-baseline-drift-{p}")),
                    alarm_description=f"{model}: Model Monitor found baseline drift in one of "
                                      f"{', '.join(chunk)}"[:1024],
                    metric_queries=_feature_queries(name, endpoint, chunk),
                    comparison_operator="GreaterThanThreshold",
                    threshold=args.model_monitor_drift_threshold,
                    opts=child_opts(self), **{k: v for k, v in common.items()
                                              if k != "period"}))
        drift_names = pulumi.Output.all(*[alarm.name for alarm in drift])
        all_names = pulumi.Output.all(*[alarm.name for alarm in drift + others])
        return drift_names, all_names


def _feature_queries(schedule: str, endpoint: pulumi.Output[str],
                     features: Sequence[str]) -> list[Any]:
    """Model Monitor's per-feature drift metrics and their maximum (the alarm's value)."""
    queries = [aws.cloudwatch.MetricAlarmMetricQueryArgs(
        id=f"m{index}", return_data=False,
        metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
            namespace=MODEL_MONITOR_NAMESPACE,
            metric_name=f"{MODEL_MONITOR_DRIFT_METRIC_PREFIX}{feature}",
            # Our drift job's Endpoint dimension is named as Model Monitor's is.
            dimensions=endpoint.apply(lambda e: {ENDPOINT_DIMENSION: e,
                                                 MODEL_MONITOR_SCHEDULE_DIMENSION: schedule}),
            period=ALARM_PERIOD_SECONDS, stat="Maximum"))
        for index, feature in enumerate(features)]
    expression = f"MAX([{', '.join(query.id for query in queries)}])"
    queries.append(aws.cloudwatch.MetricAlarmMetricQueryArgs(
        id="drift", expression=expression, label="largest feature baseline drift",
        return_data=True))
    return queries


def _in(prefix: str, file_name: str) -> str:
    return f"{prefix.rstrip('/')}/{file_name}"


def _s3_path(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _read_statements(partition: str, uris: Sequence[str], read_sid: str = "ReadInputs",
                     list_sid: str = "ListInputs") -> list[dict[str, Any]]:
    """GetObject under each prefix, and ListBucket limited to those prefixes."""
    objects: list[str] = []
    listing: dict[str, set[str]] = {}
    for uri in uris:
        bucket, key = _s3_path(uri)
        objects.append(f"arn:{partition}:s3:::{bucket}/{key}*")
        listing.setdefault(bucket, set()).add(f"{key}*")
    statements = [statement("Allow", ["s3:GetObject"], sorted(set(objects)), sid=read_sid)]
    for index, (bucket, prefixes) in enumerate(sorted(listing.items())):
        statements.append(statement(
            "Allow", ["s3:ListBucket"], [f"arn:{partition}:s3:::{bucket}"],
            sid=f"{list_sid}{index}", condition={"StringLike": {"s3:prefix": sorted(prefixes)}}))
    return statements


def _common_statements(role_arn: str | None, partition: str, region: str, account: str,
                       kms: str | None, in_vpc: bool) -> list[dict[str, Any]]:
    statements = [
        statement("Allow", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                            "logs:DescribeLogStreams"],
                  [f"arn:{partition}:logs:{region}:{account}:log-group:/aws/sagemaker/*"],
                  sid="WriteJobLogs"),
        statement("Allow", ["ecr:GetAuthorizationToken"], ["*"], sid="EcrLogin"),
    ]
    if role_arn:
        statements.append(statement("Allow", ["iam:PassRole"], [role_arn], sid="PassOwnRole",
                                    condition={"StringEquals": {
                                        "iam:PassedToService": "sagemaker.amazonaws.com"}}))
    statements += job_key_and_network_statements(kms, in_vpc)
    return statements


def _pull(partition: str, region: str, repositories: Sequence[str]) -> dict[str, Any]:
    return statement("Allow", ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                               "ecr:BatchCheckLayerAvailability"],
                     [f"arn:{partition}:ecr:{region}:{repo.split('/')[0]}:repository/"
                      f"{repo.split('/')[1]}" for repo in repositories], sid="PullJobImage")


def baseline_read_uris(bucket: str, baseline: str) -> list[str]:
    """What a run's ``BaselineUri`` may name: any baseline under the stack bucket's
    ``models/`` (the deployed one, a registered package's), and the configured one if it lies
    elsewhere. A manual run naming anything else gets AccessDenied: one line, exit 2."""
    models = f"s3://{bucket}/{PREFIXES['models']}"
    return [models] + ([baseline] if not baseline.startswith(models) else [])


def _processing_policy(name: str, bucket: str, endpoint: str, baseline: str, code: str,
                       wheelhouse: str | None, role_arn: str, definition: str, partition: str,
                       region: str, account: str, kms: str | None, in_vpc: bool) -> str:
    """Exactly what the monitoring pipeline needs. SageMaker, with this role: its code (and
    wheels) in, its reports out, its one processing job. The drift job's own calls
    (``training.monitor.source``, ``cloudwatch``): ListObjectsV2 and GetObject on the
    endpoint's capture and the baselines, PutMetricData in the drift namespace only."""
    sagemaker_arn = f"arn:{partition}:sagemaker:{region}:{account}"
    inputs = [code] + ([wheelhouse] if wheelhouse else [])
    job_reads = [capture_uri(bucket, endpoint), *baseline_read_uris(bucket, baseline)]
    statements = [
        *_read_statements(partition, inputs, "ReadInputs", "ListInputs"),
        *_read_statements(partition, job_reads, "JobReadWindowAndBaseline",
                          "JobListWindowAndBaseline"),
        statement("Allow", ["s3:PutObject", "s3:AbortMultipartUpload"],
                  [f"arn:{partition}:s3:::{bucket}/{PREFIXES['reports']}{name}/*"],
                  sid="WriteReports"),
        statement("Allow", ["cloudwatch:PutMetricData"], ["*"], sid="JobPublishDriftMetrics",
                  condition={"StringEquals": {"cloudwatch:namespace": DRIFT_METRIC_NAMESPACE}}),
        statement("Allow", ["sagemaker:CreateProcessingJob", "sagemaker:AddTags"],
                  [f"{sagemaker_arn}:processing-job/pipelines-*"], sid="RunDriftJob"),
        statement("Allow", ["sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob"],
                  [f"{sagemaker_arn}:processing-job/pipelines-*"], sid="WatchDriftJob"),
        _pull(partition, region, image_repositories(definition)),
        *_common_statements(role_arn, partition, region, account, kms, in_vpc),
    ]
    return json.dumps(document(statements), sort_keys=True)


def _model_monitor_policy(name: str, bucket: str, endpoint: str, baseline: str, image: str,
                          partition: str, region: str, account: str, kms: str | None) -> str:
    """What Model Monitor's analyzer needs: capture and baseline in, reports out, its image."""
    account_repo = image.split(".dkr.ecr.")[0] + "/" + image.split("/", 1)[1].split(":")[0]
    statements = [
        *_read_statements(partition, [capture_uri(bucket, endpoint), baseline]),
        statement("Allow", ["s3:PutObject", "s3:AbortMultipartUpload"],
                  [f"arn:{partition}:s3:::{bucket}/{PREFIXES['reports']}{name}/*"],
                  sid="WriteReports"),
        _pull(partition, region, [account_repo]),
        *_common_statements(None, partition, region, account, kms, False),
    ]
    return json.dumps(document(statements), sort_keys=True)


def serverless_problem(problems: Problems, field_name: str, engine: Any,
                       endpoint_kind: Any) -> None:
    """Model Monitor does not support serverless endpoints: its engine needs instances."""
    kind = endpoint_kind.value if isinstance(endpoint_kind, EndpointKind) else endpoint_kind
    problems.check(
        not (engine == MonitorEngine.MODEL_MONITOR and kind == EndpointKind.SERVERLESS.value),
        field_name, f"must be {MonitorEngine.PROCESSING.value!r} for a serverless endpoint "
        f"(Model Monitor does not support serverless endpoints; {engine!s} is allowed with "
        f"endpoint kind {EndpointKind.INSTANCES.value!r} only)", str(engine))


def _validate(name: str, model: str, args: ModelMonitorArgs) -> MonitorEngine:
    problems = Problems(f"ModelMonitor '{name}'")
    problems.check(args.endpoint_name is not None, "endpoint_name", "is required", None)
    problems.check(args.bucket_name is not None, "bucket_name", "is required", None)
    engine = problems.one_of("engine", args.engine, MonitorEngine)
    serverless_problem(problems, "engine", engine, args.endpoint_kind)
    problems.matches("name", name, SAGEMAKER_NAME_RE,
                     "1-63 letters, digits and hyphens (it names the monitoring pipeline)")
    problems.matches("model_name", model, SAGEMAKER_NAME_RE,
                     "1-63 letters, digits and hyphens")
    schedule = schedule_problem(args.schedule_expression)
    if schedule:
        problems.add("schedule_expression", schedule, args.schedule_expression)
    validate_monitor_settings(problems, window_hours=args.window_hours,
                              thresholds=args.thresholds, instance_type=args.instance_type,
                              max_runtime_seconds=args.max_runtime_seconds)
    problems.matches("kms_key_arn", args.kms_key_arn, KMS_KEY_ONLY_ARN_RE,
                     "a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), not an alias")
    problems.check(bool(args.subnet_ids) == bool(args.security_group_ids), "subnet_ids",
                   "and security_group_ids must be given together", list(args.subnet_ids))
    problems.between("retry_attempts", args.retry_attempts, 0, 185)
    if engine is MonitorEngine.PROCESSING:
        problems.check(args.code_uri is not None, "code_uri",
                       "is required by the processing engine", None)
        problems.check(not args.features, "features",
                       "are for the model-monitor engine only", list(args.features))
    elif engine is MonitorEngine.MODEL_MONITOR:
        problems.check(not schedule and model_monitor_schedule(args.schedule_expression)
                       is not None, "schedule_expression",
                       "must be hourly or daily for Model Monitor ('rate(1 hour)', "
                       "'rate(1 day)' or their crons)", args.schedule_expression)
        problems.check(bool(args.features), "features", "are required by the model-monitor "
                       "engine (its drift metrics are per feature)", list(args.features))
        problems.check(not args.thresholds, "thresholds", "are for the processing engine "
                       "(Model Monitor uses the baseline's constraints)", dict(args.thresholds))
        problems.check(args.model_monitor_drift_threshold > 0, "model_monitor_drift_threshold",
                       "must be > 0", args.model_monitor_drift_threshold)
    problems.raise_if_any()
    return MonitorEngine(engine)
