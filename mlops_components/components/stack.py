"""MlopsStack: the whole lifecycle for one model, composed from one typed config."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi

from mlops_components.components.batch_inference import BatchInference, BatchInferenceArgs
from mlops_components.components.data_bucket import DataBucket, DataBucketArgs
from mlops_components.components.inputs import cross_language
from mlops_components.components.model_endpoint import (
    AutoscalingArgs,
    ModelEndpoint,
    ModelEndpointArgs,
)
from mlops_components.components.model_monitor import (
    ModelMonitor,
    ModelMonitorArgs,
    serverless_problem,
)
from mlops_components.components.model_registry import ModelRegistry, ModelRegistryArgs
from mlops_components.components.retrain_trigger import RetrainTrigger, RetrainTriggerArgs
from mlops_components.components.tags import child_opts
from mlops_components.components.training_pipeline import (
    TrainingPipeline,
    TrainingPipelineArgs,
    TuningArgs,
)
from mlops_components.config import StackConfig
from mlops_components.enums import ApprovalStatus, MonitorEngine
from mlops_components.sagemaker.endpoint import PackagesOnDestroy, endpoint_name
from mlops_components.sagemaker.spec import PipelineParameter
from mlops_components.validation import MAX_MODEL_NAME_LENGTH, SAGEMAKER_NAME_RE, Problems

#: The training pipeline parameter for the deployed model, when the pipeline declares one
#: (the retraining gate passes the latest approved package's artifact to it).
CHAMPION_PARAMETER: str = PipelineParameter.CHAMPION_MODEL_URI.value


@dataclass
class MlopsStackArgs:
    """Inputs of an MlopsStack."""

    bucket: DataBucketArgs = field(default_factory=DataBucketArgs)
    """Settings of the data bucket. Default: DataBucketArgs() (secure defaults)."""

    pipeline: TrainingPipelineArgs = field(default_factory=TrainingPipelineArgs)
    """Settings of the training pipeline (bucket and group are filled in by the stack).
    Default: TrainingPipelineArgs() (classification of "target", manual approval)."""

    endpoint: ModelEndpointArgs = field(default_factory=ModelEndpointArgs)
    """Settings of the endpoint approved models deploy to (bucket, group and name are filled
    in by the stack; the group is the stack's, so packages_on_destroy keep becomes delete with
    bucket.force_destroy, else refuse; a registry account's group given here is kept as it
    is). Default: ModelEndpointArgs() (serverless, capture on)."""

    reader_account_ids: Sequence[str] = field(default_factory=list)
    """Other AWS accounts allowed to read approved model packages. Default: none."""

    monitor: ModelMonitorArgs | None = field(default_factory=ModelMonitorArgs)
    """Drift monitoring of the model's endpoint (endpoint, bucket, code and model are filled
    in by the stack); None: no monitoring. Default: ModelMonitorArgs() (daily, processing)."""

    retrain: RetrainTriggerArgs | None = field(default_factory=RetrainTriggerArgs)
    """Automated retraining (pipeline, bucket and drift alarms are filled in by the stack);
    None: none. Default: RetrainTriggerArgs() (new data and drift, one-hour cooldown)."""

    retrain_on_new_data: bool = True
    """Retrain when objects are created under the bucket's raw/ prefix. Default: True."""

    retrain_on_drift: bool = True
    """Retrain when the monitor's (or the batch inference's) drift alarm fires. Default:
    True."""

    batch: BatchInferenceArgs | None = None
    """Batch inference with the latest approved model (bucket, group, code and model are
    filled in by the stack; give it a schedule_expression and/or on_new_data); None: none.
    Default: None."""

    tags: Mapping[str, str] = field(default_factory=dict)
    """Extra tags for every resource. Default: none."""

    @classmethod
    def from_config(cls, config: StackConfig) -> MlopsStackArgs:
        """The stack arguments a Pulumi stack's config describes."""
        tuning = None
        if config.tuning_max_jobs > 0:
            tuning = TuningArgs(max_jobs=config.tuning_max_jobs,
                                max_parallel_jobs=config.tuning_max_parallel_jobs)
        kms_key_arn = config.kms_key_arn or None
        return cls(
            bucket=DataBucketArgs(
                kms_key_arn=kms_key_arn,
                capture_retention_days=config.capture_retention_days,
                report_retention_days=config.report_retention_days,
                force_destroy=config.force_destroy,
            ),
            pipeline=TrainingPipelineArgs(
                target_column=config.target_column,
                problem_type=config.problem_type,
                gate_metric=config.gate_metric or None,
                metric_threshold=float(config.metric_threshold)
                if config.metric_threshold else None,
                leak_policy=config.leak_policy,
                split_key=config.split_key or None,
                split_time=config.split_time or None,
                register_unchanged_data=config.register_unchanged_data,
                approval_status=ApprovalStatus(config.approval_status),
                estimator=config.estimator,
                hyperparameters=config.training_hyperparameters,
                tuning=tuning,
                processing_instance_type=config.processing_instance_type,
                processing_instance_count=config.processing_instance_count,
                training_instance_type=config.training_instance_type,
                use_spot_training=config.use_spot_training,
                kms_key_arn=kms_key_arn,
                subnet_ids=list(config.subnet_ids),
                security_group_ids=list(config.security_group_ids),
                enable_network_isolation=config.network_isolation,
            ),
            endpoint=ModelEndpointArgs(
                kind=config.endpoint_kind,
                instance_type=config.endpoint_instance_type,
                instance_count=config.endpoint_instance_count,
                serverless_memory_mb=config.serverless_memory_mb,
                serverless_max_concurrency=config.serverless_max_concurrency,
                model_card=config.model_card,
                model_card_intended_uses=config.model_card_intended_uses,
                capture_sampling_percent=config.capture_sampling_percent,
                deployment_strategy=config.deployment_strategy,
                canary_percent=config.canary_percent,
                autoscaling=AutoscalingArgs(min_capacity=config.autoscaling_min_capacity,
                                            max_capacity=config.autoscaling_max_capacity)
                if config.autoscaling_max_capacity > 0 else None,
                kms_key_arn=kms_key_arn,
                # a deployment account: the registry account's group, bucket and key
                model_package_group_name=config.registry_model_package_group_arn or None,
                registry_bucket_name=config.registry_bucket_name or None,
                registry_kms_key_arn=config.registry_kms_key_arn or None,
            ),
            reader_account_ids=list(config.reader_account_ids),
            monitor=ModelMonitorArgs(
                engine=MonitorEngine(config.monitor_engine),
                schedule_expression=config.monitor_schedule,
                window_hours=config.monitor_window_hours,
                features=list(config.monitor_features),
                kms_key_arn=kms_key_arn,
                subnet_ids=list(config.subnet_ids),
                security_group_ids=list(config.security_group_ids),
            ),
            retrain=RetrainTriggerArgs(
                schedule_expression=config.retrain_schedule or None,
                cooldown_seconds=config.retrain_cooldown_seconds,
            ),
            retrain_on_new_data=config.retrain_on_new_data,
            retrain_on_drift=config.retrain_on_drift,
            batch=BatchInferenceArgs(
                schedule_expression=config.batch_schedule or None,
                on_new_data=config.batch_on_new_data,
                instance_type=config.batch_instance_type,
                instance_count=config.batch_instance_count,
                output_format=config.batch_output_format,
                max_refused_share=float(config.batch_max_refused_share),
                kms_key_arn=kms_key_arn,
                subnet_ids=list(config.subnet_ids),
                security_group_ids=list(config.security_group_ids),
            ) if config.batch_schedule or config.batch_on_new_data else None,
            tags=config.tags,
        )


@cross_language(MlopsStackArgs)
class MlopsStack(pulumi.ComponentResource):
    """Data bucket, model registry, training pipeline, endpoint, drift monitoring and
    retraining for one model."""

    bucket_name: pulumi.Output[str]
    """Name of the data bucket."""
    bucket_arn: pulumi.Output[str]
    """ARN of the data bucket."""
    bucket_kms_key_arn: pulumi.Output[str | None]
    """The bucket's key (configured, or created for reader accounts); None: aws/s3."""
    model_package_group_name: pulumi.Output[str]
    """Name of the model package group."""
    model_package_group_arn: pulumi.Output[str]
    """ARN of the model package group."""
    approval_event_pattern: pulumi.Output[str]
    """EventBridge pattern (JSON) for approvals in this model's group."""
    pipeline_name: pulumi.Output[str]
    """Name of the SageMaker training pipeline."""
    pipeline_arn: pulumi.Output[str]
    """ARN of the SageMaker training pipeline."""
    alarm_names: pulumi.Output[list[str]]
    """The drift monitor's alarms (empty without monitoring)."""
    retrain_rule_names: pulumi.Output[dict[str, str]]
    """The retraining rules by source (empty without retraining)."""
    endpoint_name: pulumi.Output[str]
    """Name of the SageMaker endpoint (it exists once a model has been approved)."""
    batch_pipeline_name: pulumi.Output[str | None]
    """Name of the batch inference pipeline (None without batch inference)."""

    def __init__(self, name: str, args: MlopsStackArgs | None = None,
                 opts: pulumi.ResourceOptions | None = None):
        args = args or MlopsStackArgs()
        problems = Problems(f"MlopsStack '{name}'")
        problems.check(bool(SAGEMAKER_NAME_RE.match(name)) and len(name) <= MAX_MODEL_NAME_LENGTH,
                       "name", f"must be 1-{MAX_MODEL_NAME_LENGTH} letters, digits and hyphens, "
                       "starting with a letter or digit", name)
        if args.monitor is not None:
            serverless_problem(problems, "monitor.engine", args.monitor.engine,
                               args.endpoint.kind)
        problems.raise_if_any()
        super().__init__("mlops:index:MlopsStack", name, None, opts)
        bucket_args = dataclasses.replace(args.bucket,
                                          model_name=args.bucket.model_name or name,
                                          reader_account_ids=list(
                                              args.bucket.reader_account_ids
                                              or args.reader_account_ids),
                                          tags={**args.tags, **args.bucket.tags})

        self.data = DataBucket(f"{name}-data", bucket_args, opts=child_opts(self))
        if bucket_args.reader_account_ids and bucket_args.kms_key_arn is None:
            # the bucket made its own key (reader accounts cannot decrypt aws/s3): every job,
            # the endpoint and the monitor write and read with it, as with a configured key
            args = _with_key(args, self.data.kms_key_arn)
        self.registry = ModelRegistry(
            f"{name}-registry",
            ModelRegistryArgs(model_package_group_name=name,
                              reader_account_ids=list(args.reader_account_ids), tags=args.tags),
            opts=child_opts(self))
        self.pipeline = TrainingPipeline(
            f"{name}-training",
            dataclasses.replace(args.pipeline, bucket_name=self.data.bucket_name,
                                model_package_group_name=self.registry.model_package_group_name,
                                model_name=args.pipeline.model_name or name,
                                tags={**args.tags, **args.pipeline.tags}),
            opts=child_opts(self))
        self.endpoint = ModelEndpoint(
            f"{name}-endpoint",
            dataclasses.replace(args.endpoint, bucket_name=self.data.bucket_name,
                                model_package_group_name=args.endpoint.model_package_group_name
                                or self.registry.model_package_group_name,
                                endpoint_name=args.endpoint.endpoint_name or endpoint_name(name),
                                model_name=args.endpoint.model_name or name,
                                packages_on_destroy=_packages_on_destroy(args),
                                tags={**args.tags, **args.endpoint.tags}),
            opts=child_opts(self))

        self.monitor = None
        if args.monitor is not None:
            self.monitor = ModelMonitor(
                f"{name}-monitor",
                dataclasses.replace(args.monitor,
                                    endpoint_name=args.monitor.endpoint_name
                                    or endpoint_name(name),
                                    bucket_name=self.data.bucket_name,
                                    code_uri=args.monitor.code_uri or self.pipeline.code_uri,
                                    # the same wheels the training jobs get (report plots)
                                    wheelhouse_uri=args.monitor.wheelhouse_uri
                                    or self.pipeline.wheelhouse_uri,
                                    model_name=args.monitor.model_name or name,
                                    endpoint_kind=args.endpoint.kind,
                                    watched_pipeline_arns=[*args.monitor.watched_pipeline_arns,
                                                           self.pipeline.pipeline_arn],
                                    tags={**args.tags, **args.monitor.tags}),
                opts=child_opts(self))
        self.batch = None
        if args.batch is not None:
            self.batch = BatchInference(
                f"{name}-batch",
                dataclasses.replace(
                    args.batch, bucket_name=args.batch.bucket_name or self.data.bucket_name,
                    model_package_group_name=args.batch.model_package_group_name
                    or self.registry.model_package_group_name,
                    code_uri=args.batch.code_uri or self.pipeline.code_uri,
                    wheelhouse_uri=args.batch.wheelhouse_uri or self.pipeline.wheelhouse_uri,
                    model_name=args.batch.model_name or name,
                    tags={**args.tags, **args.batch.tags}),
                opts=child_opts(self))

        self.retrain = None
        retrain = args.retrain
        if retrain is not None:
            drift_alarms = ([self.monitor.drift_alarm_names] if self.monitor else []) + (
                [self.batch.drift_alarm_names] if self.batch else [])
            on_drift = args.retrain_on_drift and bool(drift_alarms)
            sources_left = (retrain.schedule_expression is not None or args.retrain_on_new_data
                            or on_drift)
            if sources_left:
                self.retrain = RetrainTrigger(
                    f"{name}-retrain",
                    dataclasses.replace(
                        retrain,
                        pipeline_name=self.pipeline.pipeline_name,
                        pipeline_arn=self.pipeline.pipeline_arn,
                        bucket_name=self.data.bucket_name if args.retrain_on_new_data
                        else None,
                        drift_alarm_names=pulumi.Output.all(*drift_alarms).apply(
                            lambda lists: [name for names in lists for name in names])
                        if on_drift else (),
                        model_package_group_name=self.registry.model_package_group_name,
                        champion_parameter=retrain.champion_parameter or CHAMPION_PARAMETER,
                        model_name=retrain.model_name or name,
                        tags={**args.tags, **retrain.tags}),
                    opts=child_opts(self))

        self.bucket_name = self.data.bucket_name
        self.bucket_arn = self.data.arn
        self.bucket_kms_key_arn = self.data.kms_key_arn
        self.model_package_group_name = self.registry.model_package_group_name
        self.model_package_group_arn = self.registry.arn
        self.approval_event_pattern = self.registry.approval_event_pattern
        self.pipeline_name = self.pipeline.pipeline_name
        self.pipeline_arn = self.pipeline.pipeline_arn
        self.alarm_names = self.monitor.alarm_names if self.monitor else \
            pulumi.Output.from_input([])
        self.retrain_rule_names = self.retrain.rule_names if self.retrain else \
            pulumi.Output.from_input({})
        self.endpoint_name = self.endpoint.endpoint_name
        self.batch_pipeline_name = self.batch.pipeline_name if self.batch else \
            pulumi.Output.from_input(None)
        self.register_outputs({
            "bucket_name": self.bucket_name,
            "bucket_arn": self.bucket_arn,
            "bucket_kms_key_arn": self.bucket_kms_key_arn,
            "model_package_group_name": self.model_package_group_name,
            "model_package_group_arn": self.model_package_group_arn,
            "approval_event_pattern": self.approval_event_pattern,
            "pipeline_name": self.pipeline_name,
            "pipeline_arn": self.pipeline_arn,
            "alarm_names": self.alarm_names,
            "retrain_rule_names": self.retrain_rule_names,
            "endpoint_name": self.endpoint_name,
            "batch_pipeline_name": self.batch_pipeline_name,
        })


def _with_key(args: MlopsStackArgs, key_arn: pulumi.Output[str]) -> MlopsStackArgs:
    """``args`` with ``key_arn`` for every component that has no key of its own."""
    def keyed(component_args):  # noqa: ANN001, ANN202 (any of the components' args)
        if component_args is None or component_args.kms_key_arn is not None:
            return component_args
        return dataclasses.replace(component_args, kms_key_arn=key_arn)

    return dataclasses.replace(args, pipeline=keyed(args.pipeline), endpoint=keyed(args.endpoint),
                               monitor=keyed(args.monitor), batch=keyed(args.batch))


def _packages_on_destroy(args: MlopsStackArgs) -> PackagesOnDestroy:
    """The stack owns its group, which AWS refuses to delete while it holds packages: the
    destroy hook deletes them (forceDestroy, dev) or refuses the destroy up front (prod)."""
    if args.endpoint.packages_on_destroy != PackagesOnDestroy.KEEP or \
            args.endpoint.model_package_group_name is not None:
        # a group the caller chose (a registry account's) is not the stack's to empty
        return args.endpoint.packages_on_destroy
    return PackagesOnDestroy.DELETE if args.bucket.force_destroy else PackagesOnDestroy.REFUSE
