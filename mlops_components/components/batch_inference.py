"""BatchInference: score batches under ``batch/input/`` with the latest approved model.

A SageMaker pipeline ``<name>`` (see :mod:`mlops_components.sagemaker.batch_builder`):
``ResolveModel`` finds the group's latest Approved package when the run starts (not at
``pulumi up``) and whether the input holds anything; without both the run ends there,
successfully, saying why. ``Score`` runs the endpoint's own handler over the input files
(network isolated, sharded by S3 key across instances) into ``batch/output/<execution>/``:
each row joined to its prediction, refused rows listed with their line numbers.
``PublishCounts`` publishes ``RowsScored``/``RowsRefused`` (``MLOps/Batch``, dimension
Pipeline); the run fails when the refused share passes ``max_refused_share``.

Triggers reuse :class:`RetrainTrigger` (its gate Lambda and DLQ): a schedule, and/or objects
created under ``batch/input/`` through the gate (a new-data event settles, so a multi-file
upload is one run on its prefix; a cooldown turns a storm of uploads into one run), with
EventBridge retries and a dead-letter queue.

Drift: when rows were scored, the monitor's drift job checks the batch (its scored rows,
written as capture records) as one window against the approved package's baseline; the
Lambda publishes the job's metrics (``MLOps/Drift``, Endpoint = the batch pipeline, Model).

Alarms: ``<model>/batch/run-failed`` (a failed execution: an EventBridge rule sends it to the
batch Lambda, which publishes ``RunsFailed``; the rule also notifies ``alarm_actions``),
``<model>/batch/rows-refused`` (a run refused rows) and ``<model>/batch/drift-detected`` (the
last batch drifted; MlopsStack lets it start a retraining like the monitor's drift alarm).

The pipeline's role reads only ``batch/input/``, the models under ``models/`` and the code;
it writes only ``batch/output/``. The Lambda may list the group's packages, list
``batch/input/`` and read the reports under ``batch/output/``, and publish in ``MLOps/Batch``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from mlops_components import functions
from mlops_components.bucket_layout import PREFIXES
from mlops_components.components.event_delivery import (
    DEFAULT_RETRY_ATTEMPTS,
    allow_dead_letters,
    dead_letter_queue,
    delivery,
)
from mlops_components.components.iam import (
    assume_role_policy,
    document,
    statement,
)
from mlops_components.components.inputs import cross_language
from mlops_components.components.lambdas import (
    RUNTIME,
    function_logs,
    function_role,
    single_file_code,
)
from mlops_components.components.model_monitor import (
    _common_statements,
    _pull,
    _read_statements,
    pipeline_failed_pattern,
)
from mlops_components.components.retrain_trigger import (
    DEFAULT_SETTLE_SECONDS,
    RetrainTrigger,
    RetrainTriggerArgs,
)
from mlops_components.components.tags import child_opts, tags_for
from mlops_components.components.training_pipeline import image_repositories
from mlops_components.enums import RetrainSource
from mlops_components.sagemaker.batch_spec import (
    DEFAULT_BATCH_INSTANCE_TYPE,
    BatchSpec,
    validate_batch_settings,
)
from mlops_components.sagemaker.cache import cached_batch_definition
from mlops_components.sagemaker.spec import DEFAULT_MAX_RUNTIME_SECONDS
from mlops_components.validation import (
    KMS_KEY_ONLY_ARN_RE,
    MAX_COOLDOWN_SECONDS,
    SAGEMAKER_NAME_RE,
    Problems,
    schedule_problem,
)
from training.contract import (
    BATCH_METRIC_NAMESPACE,
    BATCH_REPORT_PREFIX,
    DEFAULT_BATCH_CHUNK_ROWS,
    DEFAULT_BATCH_OUTPUT_FORMAT,
    DEFAULT_MAX_REFUSED_SHARE,
    DRIFT_DETECTED_METRIC,
    DRIFT_METRIC_NAMESPACE,
    ENDPOINT_DIMENSION,
    MODEL_DIMENSION,
    PIPELINE_DIMENSION,
    ROWS_REFUSED_METRIC,
    ROWS_SCORED_METRIC,
)

FUNCTION_SOURCE = Path(functions.__file__).parent / "batch_run.py"
RUNS_FAILED_METRIC = "RunsFailed"
"""Published by the batch Lambda for each failed execution (functions.batch_run)."""
ALARM_PERIOD_SECONDS = 3600
DEFAULT_BATCH_COOLDOWN_SECONDS = 900
"""New-data runs start at most this often: a storm of uploads is one run."""


def batch_alarm_name(model: str, what: str) -> str:
    """``<model>/batch/<what>``: model names have no '/', so the prefix is unambiguous."""
    return f"{model}/batch/{what}"


@dataclass
class BatchInferenceArgs:
    """Inputs of a BatchInference."""

    bucket_name: pulumi.Input[str] | None = None
    """The data bucket (batch/input/ in, batch/output/ out). Required; MlopsStack sets it."""

    model_package_group_name: pulumi.Input[str] | None = None
    """Group whose latest Approved package scores each run. Required; MlopsStack sets it."""

    code_uri: pulumi.Input[str] | None = None
    """s3:// prefix of the training code (TrainingPipeline.code_uri): the handler and the
    batch job. Required; MlopsStack sets it."""

    wheelhouse_uri: pulumi.Input[str] | None = None
    """s3:// URI of the jobs' wheelhouse (TrainingPipeline.wheelhouse_uri). Default: none."""

    model_name: str | None = None
    """Model the batches are scored with (alarm prefix, tags). Default: the component's name."""

    schedule_expression: str | None = None
    """Score batch/input/ on a schedule ('rate(1 day)', 'cron(0 2 * * ? *)'). Default: none."""

    on_new_data: bool = False
    """Score objects created under batch/input/ (through the gate: settle, cooldown).
    Default: False."""

    instance_type: str = DEFAULT_BATCH_INSTANCE_TYPE
    """Instance type of the scoring job. Default: ml.m5.large."""

    instance_count: int = 1
    """Instances of the scoring job; input files are sharded by S3 key. Default: 1."""

    output_format: str = DEFAULT_BATCH_OUTPUT_FORMAT
    """csv (input columns + prediction columns) or jsonl. Default: csv."""

    max_refused_share: float = DEFAULT_MAX_REFUSED_SHARE
    """Share of refused rows (0-1) above which a run fails; its good rows are still scored.
    Default: 0.05."""

    chunk_rows: int = DEFAULT_BATCH_CHUNK_ROWS
    """Rows per handler call (memory is bounded by a chunk). Default: 20000."""

    max_runtime_seconds: int = DEFAULT_MAX_RUNTIME_SECONDS
    """Time limit of the scoring job. Default: 3600."""

    cooldown_seconds: int = DEFAULT_BATCH_COOLDOWN_SECONDS
    """Minimum time between new-data runs (0-86400). Default: 900."""

    settle_seconds: int = DEFAULT_SETTLE_SECONDS
    """How long new data settles before its run (a multi-file upload is one run). Default:
    300."""

    alarm_actions: Sequence[pulumi.Input[str]] = ()
    """ARNs notified when an alarm fires and of each failed run (e.g. an SNS topic).
    Default: none."""

    retry_attempts: int = DEFAULT_RETRY_ATTEMPTS
    """EventBridge retries of a failed start before dead-lettering (0-185). Default: 3."""

    kms_key_arn: pulumi.Input[str] | None = None
    """KMS key ARN for the job's volume and output. Default: the bucket's encryption."""

    subnet_ids: Sequence[str] = ()
    """VPC subnets of the scoring job. Default: none."""

    security_group_ids: Sequence[str] = ()
    """Security groups of the scoring job (with subnet_ids). Default: none."""

    tags: Mapping[str, str] = field(default_factory=dict)
    """Extra tags for every resource. Default: none."""


@cross_language(BatchInferenceArgs)
class BatchInference(pulumi.ComponentResource):
    """A batch scoring pipeline on the latest approved model, its triggers and alarms."""

    pipeline_name: pulumi.Output[str]
    """The batch inference pipeline."""
    pipeline_arn: pulumi.Output[str]
    """Its ARN."""
    input_uri: pulumi.Output[str]
    """s3:// prefix batches are put under."""
    output_uri: pulumi.Output[str]
    """s3:// prefix each run writes ``<execution id>/`` under."""
    function_name: pulumi.Output[str]
    """The batch Lambda (resolves the model, publishes the counts)."""
    alarm_names: pulumi.Output[list[str]]
    """The run-failed, rows-refused and drift-detected alarms."""
    drift_alarm_names: pulumi.Output[list[str]]
    """The alarm that means a batch's input drifted (what retraining may listen to)."""
    rule_names: pulumi.Output[dict[str, str]]
    """The trigger rules by source (``schedule``, ``new-data``) that exist."""

    def __init__(self, name: str, args: BatchInferenceArgs,
                 opts: pulumi.ResourceOptions | None = None):
        model = args.model_name or name
        _validate(name, model, args)
        super().__init__("mlops:index:BatchInference", name, None, opts)
        tags = tags_for(model, args.tags)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        region = aws.get_region_output(opts=invoke).region
        identity = aws.get_caller_identity_output(opts=invoke)
        partition = aws.get_partition_output(opts=invoke).partition
        bucket = pulumi.Output.from_input(args.bucket_name)
        group = pulumi.Output.from_input(args.model_package_group_name)
        self.input_uri = bucket.apply(lambda b: f"s3://{b}/{PREFIXES['batch_input']}")
        self.output_uri = bucket.apply(lambda b: f"s3://{b}/{PREFIXES['batch_output']}")

        # Failed async invocations of the function (failed-run events) and failed deliveries
        # of the failure rule both end here.
        dlq = dead_letter_queue(f"{name}-failures-dlq", self, tags)
        function = self._function(name, model, bucket, group, partition, region, identity,
                                  args.kms_key_arn, dlq, tags)
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=assume_role_policy("sagemaker.amazonaws.com",
                                                  source_account=identity.account_id),
            description=f"Batch inference of {model}", tags=tags, opts=child_opts(self))

        def build(values: list[Any]) -> str:
            bucket_name, role_arn, region_name, code, wheels, kms, group_name, function_arn = \
                values
            return cached_batch_definition(BatchSpec(
                pipeline_name=name, role_arn=role_arn, bucket=bucket_name, region=region_name,
                code_uri=code, model_package_group_name=group_name, function_arn=function_arn,
                model_name=model,
                instance_type=args.instance_type, instance_count=args.instance_count,
                output_format=args.output_format, max_refused_share=args.max_refused_share,
                chunk_rows=args.chunk_rows, max_runtime_seconds=args.max_runtime_seconds,
                wheelhouse_uri=wheels, kms_key_id=kms, subnets=tuple(args.subnet_ids),
                security_group_ids=tuple(args.security_group_ids)),
                owner=f"BatchInference '{name}'")

        definition = pulumi.Output.all(bucket, role.arn, region, args.code_uri,
                                       args.wheelhouse_uri, args.kms_key_arn, group,
                                       function.arn).apply(build)
        policy = aws.iam.RolePolicy(
            f"{name}-role-policy", role=role.id,
            policy=pulumi.Output.all(
                bucket, args.code_uri, args.wheelhouse_uri, role.arn, function.arn, definition,
                partition, region, identity.account_id, args.kms_key_arn).apply(
                    lambda values: batch_role_policy(*values, bool(args.subnet_ids))),
            opts=child_opts(self))
        pipeline = aws.sagemaker.Pipeline(
            f"{name}-pipeline", pipeline_name=name, pipeline_display_name=name,
            pipeline_description=f"Batch inference with {model}'s latest approved model",
            role_arn=role.arn, pipeline_definition=definition, tags=tags,
            opts=child_opts(self, depends_on=[policy]))

        self.rule_names = pulumi.Output.from_input({})
        if args.schedule_expression or args.on_new_data:
            trigger = RetrainTrigger(
                f"{name}-trig",
                RetrainTriggerArgs(
                    pipeline_name=pipeline.pipeline_name, pipeline_arn=pipeline.arn,
                    schedule_expression=args.schedule_expression,
                    bucket_name=bucket if args.on_new_data else None,
                    raw_prefix=PREFIXES["batch_input"],
                    cooldown_seconds=args.cooldown_seconds,
                    cooldown_sources=(RetrainSource.NEW_DATA,),
                    settle_seconds=args.settle_seconds, retry_attempts=args.retry_attempts,
                    purpose="Score a batch", model_name=model, tags=args.tags),
                opts=child_opts(self))
            self.rule_names = trigger.rule_names

        self._failure_rule(name, model, pipeline, function, dlq, args, tags)
        self.drift_alarm_names, self.alarm_names = self._alarms(name, model, args, tags)
        self.pipeline_name = pipeline.pipeline_name
        self.pipeline_arn = pipeline.arn
        self.function_name = function.name
        self.register_outputs({
            "pipeline_name": self.pipeline_name,
            "pipeline_arn": self.pipeline_arn,
            "input_uri": self.input_uri,
            "output_uri": self.output_uri,
            "function_name": self.function_name,
            "alarm_names": self.alarm_names,
            "drift_alarm_names": self.drift_alarm_names,
            "rule_names": self.rule_names,
        })

    def _function(self, name: str, model: str, bucket: pulumi.Output[str],
                  group: pulumi.Output[str], partition: Any, region: Any, identity: Any,
                  kms: pulumi.Input[str] | None, dlq: aws.sqs.Queue,
                  tags: dict[str, str]) -> aws.lambda_.Function:
        """The batch Lambda: resolve the model, publish the counts and failed runs."""
        function_name = f"{name}-run"
        role = function_role(f"{name}-run-role",
                             f"Batch inference of {model}: resolve the model, publish counts",
                             identity.account_id, self, tags)
        log_group = function_logs(f"{name}-run-logs", function_name, self, tags)
        policy = aws.iam.RolePolicy(
            f"{name}-run-policy", role=role.id,
            policy=pulumi.Output.all(bucket, group, partition, region, identity.account_id,
                                     log_group.arn, dlq.arn, kms).apply(
                lambda values: function_policy(*values)),
            opts=child_opts(self))
        return aws.lambda_.Function(
            f"{name}-run", name=function_name, runtime=RUNTIME,
            handler=f"{FUNCTION_SOURCE.stem}.handler", role=role.arn,
            code=single_file_code(FUNCTION_SOURCE),
            timeout=60, memory_size=128,
            dead_letter_config=aws.lambda_.FunctionDeadLetterConfigArgs(target_arn=dlq.arn),
            environment=aws.lambda_.FunctionEnvironmentArgs(variables={
                "METRIC_NAMESPACE": BATCH_METRIC_NAMESPACE,
                "PIPELINE_DIMENSION": PIPELINE_DIMENSION,
                "REPORT_PREFIX": BATCH_REPORT_PREFIX,
                "ROWS_SCORED_METRIC": ROWS_SCORED_METRIC,
                "ROWS_REFUSED_METRIC": ROWS_REFUSED_METRIC,
                "PIPELINE_NAME": name,
                "DRIFT_NAMESPACE": DRIFT_METRIC_NAMESPACE,
                "DRIFT_DETECTED_METRIC": DRIFT_DETECTED_METRIC}),
            description=f"Batch inference of {model}: the approved model at each run's start",
            tags=tags, opts=child_opts(self, depends_on=[policy, log_group]))

    def _failure_rule(self, name: str, model: str, pipeline: aws.sagemaker.Pipeline,
                      function: aws.lambda_.Function, dlq: aws.sqs.Queue,
                      args: BatchInferenceArgs, tags: dict[str, str]) -> None:
        """A failed execution: the Lambda publishes RunsFailed (the alarm's metric) and the
        alarm actions are told at once."""
        rule = aws.cloudwatch.EventRule(
            f"{name}-failures", description=f"Failed batch inference runs of {model}",
            event_pattern=pipeline.arn.apply(
                lambda arn: json.dumps(pipeline_failed_pattern([arn]), sort_keys=True)),
            tags=tags, opts=child_opts(self))
        permission = aws.lambda_.Permission(
            f"{name}-failures-invoke", action="lambda:InvokeFunction", function=function.name,
            principal="events.amazonaws.com", source_arn=rule.arn, opts=child_opts(self))
        allow_dead_letters(f"{name}-failures-dlq-policy", self, dlq, [rule])
        aws.cloudwatch.EventTarget(
            f"{name}-failures-target", rule=rule.name, arn=function.arn,
            **delivery(dlq, args.retry_attempts),
            opts=child_opts(self, depends_on=[permission]))
        for index, action in enumerate(args.alarm_actions):
            aws.cloudwatch.EventTarget(f"{name}-failures-notify-{index}", rule=rule.name,
                                       arn=action, **delivery(dlq, args.retry_attempts),
                                       opts=child_opts(self))

    def _alarms(self, name: str, model: str, args: BatchInferenceArgs,
                tags: dict[str, str]) -> tuple[pulumi.Output, pulumi.Output]:
        def alarm(resource: str, what: str, metric: str, description: str) -> Any:
            return aws.cloudwatch.MetricAlarm(
                f"{name}-{resource}", name=batch_alarm_name(model, what),
                alarm_description=f"{model}: {description}",
                namespace=BATCH_METRIC_NAMESPACE, metric_name=metric,
                dimensions={PIPELINE_DIMENSION: name}, statistic="Sum",
                period=ALARM_PERIOD_SECONDS, evaluation_periods=1, datapoints_to_alarm=1,
                comparison_operator="GreaterThanOrEqualToThreshold", threshold=1,
                # No run in the period: nothing failed and nothing was refused.
                treat_missing_data="notBreaching", alarm_actions=list(args.alarm_actions),
                tags=tags, opts=child_opts(self))

        alarms = [
            alarm("run-failed-alarm", "run-failed", RUNS_FAILED_METRIC,
                  "a batch inference run failed (its execution's failure reason says which "
                  "step; too many refused rows fail it too)"),
            alarm("rows-refused-alarm", "rows-refused", ROWS_REFUSED_METRIC,
                  "a batch run refused rows (missing columns, text in numeric columns): see "
                  "refused_rows-<host>.csv and batch_report-<host>.json under batch/output/"),
        ]
        drift = aws.cloudwatch.MetricAlarm(
            f"{name}-drift-alarm", name=batch_alarm_name(model, "drift-detected"),
            alarm_description=f"{model}: the last batch's input drifted from the model's "
                              "baseline (see drift_report.html under batch/output/<execution>/"
                              "drift)",
            namespace=DRIFT_METRIC_NAMESPACE, metric_name=DRIFT_DETECTED_METRIC,
            dimensions={ENDPOINT_DIMENSION: name, MODEL_DIMENSION: model},
            statistic="Maximum", period=ALARM_PERIOD_SECONDS, evaluation_periods=1,
            datapoints_to_alarm=1, comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=1,
            # As the monitor's drift alarms: between batches the last verdict stands.
            treat_missing_data="ignore", alarm_actions=list(args.alarm_actions), tags=tags,
            opts=child_opts(self))
        return (pulumi.Output.all(drift.name),
                pulumi.Output.all(*[alarm.name for alarm in [*alarms, drift]]))


def batch_role_policy(bucket: str, code: str, wheelhouse: str | None, role_arn: str,
                      function_arn: str, definition: str, partition: str, region: str,
                      account: str, kms: str | None, in_vpc: bool) -> str:
    """Exactly what the batch pipeline needs: SageMaker, with this role, stages the code, the
    resolved model and the batch input into the job and uploads its output; runs one
    processing job per run; invokes the batch Lambda for the Lambda steps."""
    sagemaker_arn = f"arn:{partition}:sagemaker:{region}:{account}"
    batch_input = f"s3://{bucket}/{PREFIXES['batch_input']}"
    models = f"s3://{bucket}/{PREFIXES['models']}"
    inputs = [code, batch_input, models] + ([wheelhouse] if wheelhouse else [])
    statements = [
        *_read_statements(partition, inputs, "ReadCodeInputAndModels",
                          "ListCodeInputAndModels"),
        statement("Allow", ["s3:PutObject", "s3:AbortMultipartUpload"],
                  [f"arn:{partition}:s3:::{bucket}/{PREFIXES['batch_output']}*"],
                  sid="WriteBatchOutput"),
        statement("Allow", ["sagemaker:CreateProcessingJob", "sagemaker:AddTags"],
                  [f"{sagemaker_arn}:processing-job/pipelines-*"], sid="RunScoringJob"),
        statement("Allow", ["sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob"],
                  [f"{sagemaker_arn}:processing-job/pipelines-*"], sid="WatchScoringJob"),
        statement("Allow", ["lambda:InvokeFunction"], [function_arn], sid="RunLambdaSteps"),
        _pull(partition, region, image_repositories(definition)),
        *_common_statements(role_arn, partition, region, account, kms, in_vpc),
    ]
    return json.dumps(document(statements), sort_keys=True)


def function_policy(bucket: str, group: str, partition: str, region: str, account: str,
                    log_group_arn: str, dlq_arn: str, kms: str | None) -> str:
    """What functions/batch_run.py calls: ListModelPackages (no resource-level permission),
    DescribeModelPackage in the group, ListObjectsV2 on batch/input/ and batch/output/,
    GetObject of the reports and drift metrics, PutMetricData in the batch and drift namespaces
    only; and what Lambda does
    with the function's role: its logs, its dead letters."""
    statements = [
        statement("Allow", ["sagemaker:ListModelPackages"], ["*"], sid="FindApprovedPackages"),
        statement("Allow", ["sagemaker:DescribeModelPackage"],
                  [f"arn:{partition}:sagemaker:{region}:{account}:model-package/"
                   f"{group.lower()}/*"], sid="ReadApprovedPackage"),
        statement("Allow", ["s3:ListBucket"], [f"arn:{partition}:s3:::{bucket}"],
                  sid="ListBatchInputAndOutput",
                  condition={"StringLike": {"s3:prefix": [f"{PREFIXES['batch_input']}*",
                                                          f"{PREFIXES['batch_output']}*"]}}),
        statement("Allow", ["s3:GetObject"],
                  [f"arn:{partition}:s3:::{bucket}/{PREFIXES['batch_output']}*"],
                  sid="ReadBatchReports"),
        statement("Allow", ["cloudwatch:PutMetricData"], ["*"], sid="PublishBatchMetrics",
                  condition={"StringEquals": {"cloudwatch:namespace": [
                      BATCH_METRIC_NAMESPACE, DRIFT_METRIC_NAMESPACE]}}),
        statement("Allow", ["logs:CreateLogStream", "logs:PutLogEvents"],
                  [f"{log_group_arn}:*"], sid="WriteOwnLogs"),
        statement("Allow", ["sqs:SendMessage"], [dlq_arn], sid="DeadLetters"),
    ]
    if kms:
        statements.append(statement("Allow", ["kms:Decrypt"], [kms], sid="ReadEncryptedReports"))
    return json.dumps(document(statements), sort_keys=True)


def _validate(name: str, model: str, args: BatchInferenceArgs) -> None:
    problems = Problems(f"BatchInference '{name}'")
    for field_name in ("bucket_name", "model_package_group_name", "code_uri"):
        problems.check(getattr(args, field_name) is not None, field_name, "is required", None)
    problems.matches("name", name, SAGEMAKER_NAME_RE,
                     "1-63 letters, digits and hyphens (it names the batch pipeline)")
    problems.matches("model_name", model, SAGEMAKER_NAME_RE, "1-63 letters, digits and hyphens")
    if args.schedule_expression is not None:
        problem = schedule_problem(args.schedule_expression)
        if problem:
            problems.add("schedule_expression", problem, args.schedule_expression)
    validate_batch_settings(problems, instance_type=args.instance_type,
                            instance_count=args.instance_count,
                            output_format=args.output_format,
                            max_refused_share=args.max_refused_share,
                            chunk_rows=args.chunk_rows,
                            max_runtime_seconds=args.max_runtime_seconds)
    problems.between("cooldown_seconds", args.cooldown_seconds, 0, MAX_COOLDOWN_SECONDS)
    problems.between("retry_attempts", args.retry_attempts, 0, 185)
    problems.matches("kms_key_arn", args.kms_key_arn, KMS_KEY_ONLY_ARN_RE,
                     "a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), not an alias")
    problems.check(bool(args.subnet_ids) == bool(args.security_group_ids), "subnet_ids",
                   "and security_group_ids must be given together", list(args.subnet_ids))
    problems.raise_if_any()

