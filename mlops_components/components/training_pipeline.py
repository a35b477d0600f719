"""TrainingPipeline: the SageMaker pipeline for EDA, prep, training/tuning, gate, registration."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from mlops_components.bucket_layout import PREFIXES
from mlops_components.components.code_package import (
    TRAINING_DIR,
    package_training_code,
    training_wheelhouse,
)
from mlops_components.components.event_delivery import dead_letter_queue
from mlops_components.components.iam import (
    assume_role_policy,
    document,
    job_key_and_network_statements,
    statement,
)
from mlops_components.components.inputs import cross_language
from mlops_components.components.lambdas import (
    RUNTIME,
    function_logs,
    function_role,
    single_file_code,
)
from mlops_components.components.tags import child_opts, tags_for
from mlops_components.enums import ApprovalStatus, ProblemType
from mlops_components.functions import lineage_record
from mlops_components.sagemaker.cache import cached_pipeline_definition
from mlops_components.sagemaker.spec import (
    DEFAULT_LEAK_POLICY,
    DEFAULT_PROCESSING_INSTANCE_TYPE,
    DEFAULT_TRAINING_INSTANCE_TYPE,
    CategoricalRange,
    ContinuousRange,
    HyperparameterRange,
    IntegerRange,
    PipelineSpec,
    ScalingType,
    TuningSpec,
    TuningStrategy,
    no_champion_key,
)
from mlops_components.sagemaker.validate import validate_pipeline_spec
from mlops_components.validation import KMS_KEY_ONLY_ARN_RE, Problems, is_known
from training.contract import (
    ALPHA_FLAG,
    BOOTSTRAP_SCRIPT,
    DEFAULT_BASELINE_MARGIN,
    DEFAULT_CHAMPION_MARGIN,
    DEFAULT_ESTIMATOR,
    DEFAULT_GATE_METRIC_NAME,
    DEFAULT_GATE_THRESHOLD,
    DEFAULT_REGISTER_UNCHANGED_DATA,
    HYPERPARAMETER_PROBLEMS,
    HYPERPARAMETER_TYPES,
    LEARNING_RATE_FLAG,
    MAX_DEPTH_FLAG,
    N_ESTIMATORS_FLAG,
    SOURCEDIR_TARBALL,
    WHEELHOUSE_PREFIX,
    Estimator,
)

_ROUNDS = IntegerRange(50, 400)
_LEARNING_RATE = ContinuousRange(0.01, 0.3, ScalingType.LOGARITHMIC)
#: What a tuning job searches for each estimator when tuning is asked for without ranges:
#: exactly the hyperparameters it uses (contract.ESTIMATOR_HYPERPARAMETERS), around its
#: defaults. Classic gradient boosting keeps shallow trees; a random forest's trees and
#: histogram boosting's (31 leaves a tree) are searched up to depths that rarely bind.
DEFAULT_TUNING_RANGES: dict[str, dict[str, HyperparameterRange]] = {
    Estimator.GRADIENT_BOOSTING.value: {
        N_ESTIMATORS_FLAG: _ROUNDS, LEARNING_RATE_FLAG: _LEARNING_RATE,
        MAX_DEPTH_FLAG: IntegerRange(2, 6)},
    Estimator.HIST_GRADIENT_BOOSTING.value: {
        N_ESTIMATORS_FLAG: _ROUNDS, LEARNING_RATE_FLAG: _LEARNING_RATE,
        MAX_DEPTH_FLAG: IntegerRange(2, 12)},
    Estimator.RANDOM_FOREST.value: {
        N_ESTIMATORS_FLAG: _ROUNDS, MAX_DEPTH_FLAG: IntegerRange(4, 32)},
    Estimator.LINEAR.value: {
        ALPHA_FLAG: ContinuousRange(0.001, 100.0, ScalingType.LOGARITHMIC)},
}
#: The RecordLineage step's function code (boto3 + standard library: one file), its runtime
#: and the retention of its log group.
LINEAGE_FUNCTION_SOURCE = Path(lineage_record.__file__)
#: Prefixes the pipeline's jobs read from (and list: S3Prefix inputs are listed), and the ones
#: they write to. reports/ is not among them: the EDA report is kept with the model.
READ_PREFIXES = ("raw", "code", "processed", "models")
WRITE_PREFIXES = ("processed", "models")
#: Stand-ins for values that only exist once deployed, so a spec can be validated up front.
_PLACEHOLDERS = {"bucket": "placeholder-bucket", "region": "us-east-1",
                 "role_arn": "arn:aws:iam::123456789012:role/placeholder",
                 "model_package_group_name": "placeholder",
                 "code_uri": "s3://placeholder-bucket/code/placeholder",
                 "kms_key_id": None,
                 "lineage_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:"
                                         "placeholder"}


@dataclass
class HyperparameterRangeArgs:
    """The values a tuning job searches for one hyperparameter: `values` (a categorical range),
    else `min_value` to `max_value` (an integer range for an integer hyperparameter such as
    n-estimators, else a continuous one)."""

    min_value: float | None = None
    """Lowest value searched (integer hyperparameters: a whole number). Required without
    values."""

    max_value: float | None = None
    """Highest value searched (integer hyperparameters: a whole number). Required without
    values."""

    values: Sequence[str] = ()
    """The choices of a categorical range, as strings. Default: none (a numeric range)."""

    scaling: ScalingType = ScalingType.AUTO
    """How a numeric range is sampled. Default: Auto."""

    def to_range(self, hyperparameter: str) -> HyperparameterRange:
        """The pipeline spec's range for ``hyperparameter`` (validated with the spec)."""
        if self.values:
            return CategoricalRange(tuple(self.values))
        if HYPERPARAMETER_TYPES.get(hyperparameter) is int:
            return IntegerRange(*(int(bound) if isinstance(bound, float) and bound.is_integer()
                                  else bound for bound in (self.min_value, self.max_value)),
                                scaling=self.scaling)
        return ContinuousRange(self.min_value, self.max_value, self.scaling)


@dataclass
class TuningArgs:
    """Hyperparameter tuning instead of a single training job."""

    max_jobs: int
    """Training jobs the tuner runs in total (1-500)."""

    max_parallel_jobs: int
    """Training jobs it runs at once (<= max_jobs)."""

    ranges: Mapping[str, HyperparameterRangeArgs] = field(default_factory=dict)
    """train.py hyperparameter -> what to search, e.g. {"max-depth": {min_value: 2,
    max_value: 8}}. Default: the estimator's usual ranges (DEFAULT_TUNING_RANGES)."""

    objective_metric: str | None = None
    """Metric to optimise, e.g. f1 or validation:f1. Default: the gate metric."""

    strategy: TuningStrategy = TuningStrategy.BAYESIAN
    """Search strategy. Default: Bayesian."""

    def to_spec(self, estimator: str) -> TuningSpec:
        """The pipeline spec's tuning for a pipeline that trains ``estimator``."""
        ranges = ({name: value.to_range(name) if isinstance(value, HyperparameterRangeArgs)
                   else value for name, value in self.ranges.items()}
                  or DEFAULT_TUNING_RANGES.get(estimator, {}))
        return TuningSpec(max_jobs=self.max_jobs, max_parallel_jobs=self.max_parallel_jobs,
                          ranges=ranges, objective_metric=self.objective_metric,
                          strategy=self.strategy)


@dataclass
class TrainingPipelineArgs:
    """Inputs of a TrainingPipeline."""

    bucket_name: pulumi.Input[str] | None = None
    """The data bucket (code, data, models and reports live there). Required alone;
    MlopsStack sets it."""

    model_package_group_name: pulumi.Input[str] | None = None
    """Model package group the pipeline registers into. Required alone; MlopsStack sets it."""

    target_column: str = "target"
    """Column of the training data to predict. Default: "target"."""

    problem_type: ProblemType = ProblemType.CLASSIFICATION
    """What the model predicts. Default: classification."""

    input_data_uri: pulumi.Input[str] | None = None
    """Default of the InputDataUri parameter. Default: s3://<bucket>/raw/."""

    gate_metric: str | None = None
    """Metric the quality gate checks. Default: balanced_accuracy (classification), r2
    (regression)."""

    metric_threshold: float | None = None
    """Value the gate metric must reach. Default: 0.8 for accuracy, balanced_accuracy, f1 and
    roc_auc, 0.3 for r2; rmse and mae depend on the target's scale and need one."""

    baseline_margin: float = DEFAULT_BASELINE_MARGIN
    """How much the gate metric must beat the trivial baseline (majority class or mean) by
    on the test split; relative for rmse and mae. Default: 0.05."""

    champion_margin: float = DEFAULT_CHAMPION_MARGIN
    """How much it must beat the latest approved model by, when there is one. Default: 0.0."""

    leak_policy: str = DEFAULT_LEAK_POLICY
    """What preprocessing does with a column that alone predicts the target: stop the run,
    drop the column, or proceed with it. Default: stop."""

    split_key: str | None = None
    """A column (a customer or patient ID) whose value decides each row's split, so all rows of
    one entity share a split (the group split). Default: None (a time split on the data's date
    column, else a hash of each row's feature values)."""

    split_time: str | None = None
    """The date column whose order decides the splits (oldest rows train, newest test), or
    "none" for a hash split on dated data. Default: None (the data's date column, if it has
    exactly one)."""

    register_unchanged_data: bool = DEFAULT_REGISTER_UNCHANGED_DATA
    """Register a retrain whose training data is exactly the champion's (the default holds it
    back: it can only tie). Default: False."""

    approval_status: ApprovalStatus = ApprovalStatus.PENDING_MANUAL_APPROVAL
    """Status of newly registered packages. Default: PendingManualApproval."""

    estimator: str = DEFAULT_ESTIMATOR
    """Estimator train.py fits. Default: hist_gradient_boosting."""

    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    """Extra hyperparameters for train.py, as strings (SageMaker passes every hyperparameter
    to the job as a string; a Python number is written with str()). Default: none."""

    tuning: TuningArgs | None = None
    """Tune hyperparameters instead of training once (without ranges: the estimator's usual
    ranges, DEFAULT_TUNING_RANGES[estimator]). Default: no tuning."""

    processing_instance_type: str = DEFAULT_PROCESSING_INSTANCE_TYPE
    """Instance type of the profile, preprocess and evaluate jobs. Default: ml.m5.xlarge."""

    processing_instance_count: int = 1
    """Instances for profile and preprocess (inputs sharded by S3 key). Default: 1."""

    training_instance_type: str = DEFAULT_TRAINING_INSTANCE_TYPE
    """Instance type of the training job(s). Default: ml.m5.xlarge."""

    use_spot_training: bool = False
    """Managed spot training with checkpoints under models/. Default: False."""

    kms_key_arn: pulumi.Input[str] | None = None
    """KMS key ARN (not an alias: IAM grants use keys) for job volumes and outputs, and the
    bucket's key if it is customer-managed. Default: none (the bucket's AWS-managed key)."""

    subnet_ids: Sequence[str] = ()
    """VPC subnets for the jobs. Default: none (SageMaker-managed network)."""

    security_group_ids: Sequence[str] = ()
    """Security groups for the jobs (with subnet_ids). Default: none."""

    enable_network_isolation: bool = True
    """Run training containers without network access. Default: True."""

    code_dir: str = str(TRAINING_DIR)
    """Local folder of the training code to upload (a path; a Python caller may give a
    pathlib.Path). Default: the `training` package shipped with the SDK."""

    model_name: str | None = None
    """Model this pipeline trains, used in tags. Default: the group name when it is plain."""

    tags: Mapping[str, str] = field(default_factory=dict)
    """Extra tags for every resource. Default: none."""


@cross_language(TrainingPipelineArgs)
class TrainingPipeline(pulumi.ComponentResource):
    """A SageMaker pipeline with its own least-privilege role and content-addressed code."""

    pipeline_name: pulumi.Output[str]
    """Name of the SageMaker pipeline."""
    pipeline_arn: pulumi.Output[str]
    """ARN of the SageMaker pipeline (what EventBridge targets start)."""
    role_arn: pulumi.Output[str]
    """The pipeline's execution role."""
    code_uri: pulumi.Output[str]
    """s3:// prefix of this version of the training code."""
    wheelhouse_uri: pulumi.Output[str | None]
    """s3:// URI of the jobs' wheelhouse (None when they need nothing beyond the image)."""
    definition: pulumi.Output[str]
    """The pipeline definition JSON."""

    def __init__(self, name: str, args: TrainingPipelineArgs,
                 opts: pulumi.ResourceOptions | None = None):
        _validate(name, args)
        super().__init__("mlops:index:TrainingPipeline", name, None, opts)
        problem_type = ProblemType(args.problem_type)
        model = args.model_name or (args.model_package_group_name
                                    if isinstance(args.model_package_group_name, str) else None)
        tags = tags_for(model, args.tags)
        pipeline_name = name
        bucket = pulumi.Output.from_input(args.bucket_name)
        group = pulumi.Output.from_input(args.model_package_group_name)
        invoke_opts = pulumi.InvokeOutputOptions(parent=self)
        region = aws.get_region_output(opts=invoke_opts).region
        identity = aws.get_caller_identity_output(opts=invoke_opts)
        partition = aws.get_partition_output(opts=invoke_opts).partition

        package = package_training_code(Path(args.code_dir))
        code_key_prefix = f"{PREFIXES['code']}{pipeline_name}/{package.digest}"
        # A code change replaces these objects (new keys); the old versions stay, because
        # registered packages and running executions still point at them. The package travels
        # as one archive (training jobs unpack it as their source dir; every job's bootstrap,
        # the one loose file, unpacks it for processing jobs): two objects a model, not one
        # per module.
        keep = child_opts(self, retain_on_delete=True)
        uploads = [
            aws.s3.BucketObjectv2(
                f"{name}-code-{_object_suffix(BOOTSTRAP_SCRIPT)}", bucket=bucket,
                key=f"{code_key_prefix}/{BOOTSTRAP_SCRIPT}",
                content=package.files[BOOTSTRAP_SCRIPT].decode(),
                content_type="text/x-python", tags=tags, opts=keep),
            aws.s3.BucketObjectv2(
                f"{name}-code-sourcedir", bucket=bucket,
                key=f"{code_key_prefix}/{SOURCEDIR_TARBALL}",
                source=pulumi.FileAsset(str(package.tarball_file())),
                content_type="application/gzip", tags=tags, opts=keep),
        ]
        # ChampionModelUri's default: a prefix holding only the marker that means "no approved
        # model yet", so Evaluate always has a champion input and the gate skips the champion.
        uploads.append(aws.s3.BucketObjectv2(
            f"{name}-no-champion", bucket=bucket, key=no_champion_key(pipeline_name),
            content="No champion: no model has been approved yet.\n",
            content_type="text/plain", tags=tags, opts=child_opts(self)))
        self.code_uri = bucket.apply(lambda b: f"s3://{b}/{code_key_prefix}")
        # What the jobs need beyond the image reaches them as wheels, installed offline by the
        # bootstrap; keyed by the requirements (not the code), so a code change re-uploads none.
        wheelhouse = training_wheelhouse(Path(args.code_dir))
        wheelhouse_uri: pulumi.Output[str | None] = pulumi.Output.from_input(None)
        if wheelhouse is not None:
            wheelhouse_key = (f"{PREFIXES['code']}{pipeline_name}/{WHEELHOUSE_PREFIX}/"
                              f"{wheelhouse.archive_name}")
            uploads.append(aws.s3.BucketObjectv2(
                f"{name}-code-wheelhouse", bucket=bucket, key=wheelhouse_key,
                source=pulumi.FileAsset(str(wheelhouse.path)),
                content_type="application/gzip", tags=tags, opts=keep))
            wheelhouse_uri = bucket.apply(lambda b: f"s3://{b}/{wheelhouse_key}")

        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=assume_role_policy("sagemaker.amazonaws.com",
                                                  source_account=identity.account_id),
            description=f"Execution role of the SageMaker pipeline {pipeline_name}",
            tags=tags, opts=child_opts(self))
        lineage = self._lineage_function(name, bucket, args.input_data_uri, partition,
                                         region, identity, args.kms_key_arn, tags)

        def build(values: list[Any]) -> str:
            (bucket_name, role_arn, region_name, group_name, code_uri, input_uri, kms,
             wheelhouse_location, lineage_arn) = values
            return cached_pipeline_definition(pipeline_spec(
                name, args, bucket=bucket_name, role_arn=role_arn, region=region_name,
                model_package_group_name=group_name, code_uri=code_uri,
                input_data_uri=input_uri, kms_key_id=kms, wheelhouse_uri=wheelhouse_location,
                lineage_function_arn=lineage_arn),
                owner=f"TrainingPipeline '{name}'")

        self.definition = pulumi.Output.all(
            bucket, role.arn, region, group, self.code_uri, args.input_data_uri,
            args.kms_key_arn, wheelhouse_uri, lineage.arn).apply(build)
        self.wheelhouse_uri = wheelhouse_uri

        role_policy = aws.iam.RolePolicy(
            f"{name}-role-policy", role=role.id,
            policy=_execution_policy(
                bucket=bucket, group=group, role_arn=role.arn, input_data_uri=args.input_data_uri,
                definition=self.definition, partition=partition, region=region,
                account=identity.account_id, kms_key_arn=args.kms_key_arn,
                in_vpc=bool(args.subnet_ids), lineage_function_arn=lineage.arn),
            opts=child_opts(self))

        pipeline = aws.sagemaker.Pipeline(
            f"{name}-pipeline",
            pipeline_name=pipeline_name,
            pipeline_display_name=pipeline_name,
            pipeline_description=f"Profile, preprocess, train, evaluate and register "
                                 f"({problem_type.value})",
            role_arn=role.arn,
            pipeline_definition=self.definition,
            tags=tags,
            # An execution may start as soon as the pipeline exists: the code it names and the
            # permissions its jobs need must already be in place.
            opts=child_opts(self, depends_on=[*uploads, role_policy]))

        self.pipeline_name = pipeline.pipeline_name
        self.pipeline_arn = pipeline.arn
        self.role_arn = role.arn
        self.register_outputs({
            "pipeline_name": self.pipeline_name,
            "pipeline_arn": self.pipeline_arn,
            "role_arn": self.role_arn,
            "code_uri": self.code_uri,
            "wheelhouse_uri": self.wheelhouse_uri,
            "definition": self.definition,
        })


    def _lineage_function(self, name: str, bucket: pulumi.Output[str],
                          input_data_uri: pulumi.Input[str] | None, partition: Any,
                          region: Any, identity: Any, kms: pulumi.Input[str] | None,
                          tags: dict[str, str]) -> aws.lambda_.Function:
        """The RecordLineage step's Lambda (``functions/lineage_record.py``): it lists the
        input's object versions and writes the manifest under the pipeline's models prefix.
        SageMaker invokes it synchronously; the queue takes what an asynchronous invocation
        could not do (every Lambda of the stack has one)."""
        function_name = lineage_function_name(name)
        dlq = dead_letter_queue(f"{name}-lineage-dlq", self, tags)
        role = function_role(f"{name}-lineage-role",
                             f"Lineage of {name}: the input's S3 versions at each execution",
                             identity.account_id, self, tags)
        log_group = function_logs(f"{name}-lineage-logs", function_name, self, tags)
        policy = aws.iam.RolePolicy(
            f"{name}-lineage-policy", role=role.id,
            policy=pulumi.Output.all(bucket, input_data_uri, partition, log_group.arn, dlq.arn,
                                     kms).apply(
                lambda values: lineage_function_policy(name, *values)),
            opts=child_opts(self))
        return aws.lambda_.Function(
            f"{name}-lineage", name=function_name, runtime=RUNTIME,
            handler=f"{LINEAGE_FUNCTION_SOURCE.stem}.handler", role=role.arn,
            code=single_file_code(LINEAGE_FUNCTION_SOURCE),
            timeout=60, memory_size=128,
            dead_letter_config=aws.lambda_.FunctionDeadLetterConfigArgs(target_arn=dlq.arn),
            description=f"Lineage of {name}: the input's S3 object versions at each execution",
            tags=tags, opts=child_opts(self, depends_on=[policy, log_group]))


def lineage_function_name(pipeline_name: str) -> str:
    """``<pipeline>-lineage`` (pipeline names fit: model names are at most 32 characters)."""
    return f"{pipeline_name}-lineage"


def lineage_function_policy(pipeline_name: str, bucket: str, input_uri: str | None,
                            partition: str, log_group_arn: str, dlq_arn: str,
                            kms: str | None) -> str:
    """What ``functions/lineage_record.py`` calls: ListObjectVersions under the input prefixes
    the pipeline reads (raw/ and a custom InputDataUri), PutObject of the manifest under the
    pipeline's models prefix; and what Lambda does with its role: logs, dead letters."""
    reads = [(bucket, PREFIXES["raw"])]
    if input_uri:
        input_bucket, _, prefix = input_uri.removeprefix("s3://").partition("/")
        if (input_bucket, prefix) != reads[0]:
            reads.append((input_bucket, prefix))
    statements = [
        statement("Allow", ["s3:ListBucketVersions"], [f"arn:{partition}:s3:::{read_bucket}"],
                  sid=f"ListInputVersions{index}" if index else "ListInputVersions",
                  condition={"StringLike": {"s3:prefix": [f"{prefix}*"]}})
        for index, (read_bucket, prefix) in enumerate(reads)]
    statements += [
        statement("Allow", ["s3:PutObject"],
                  [f"arn:{partition}:s3:::{bucket}/{PREFIXES['models']}{pipeline_name}/*"],
                  sid="WriteLineageManifest"),
        statement("Allow", ["logs:CreateLogStream", "logs:PutLogEvents"],
                  [f"{log_group_arn}:*"], sid="WriteOwnLogs"),
        statement("Allow", ["sqs:SendMessage"], [dlq_arn], sid="DeadLetters"),
    ]
    if kms:
        statements.append(statement("Allow", ["kms:GenerateDataKey"], [kms],
                                    sid="EncryptManifest"))
    return json.dumps(document(statements), sort_keys=True)


def _object_suffix(path: str) -> str:
    return path.removeprefix("training/").removesuffix(".py").replace("/", "-")


def image_repositories(definition: str) -> list[str]:
    """``account/repository`` of every ECR image the definition's jobs pull."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("ImageUri", "TrainingImage", "Image") and isinstance(value, str):
                    match = re.match(r"^(\d{12})\.dkr\.ecr\.[^/]+/([^:@]+)", value)
                    if match:
                        found.add(f"{match.group(1)}/{match.group(2)}")
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(definition))
    return sorted(found)


def _execution_policy(*, bucket: pulumi.Output[str], input_data_uri: pulumi.Input[str] | None,
                      group: pulumi.Output[str], role_arn: pulumi.Output[str],
                      definition: pulumi.Output[str], partition: pulumi.Output[str],
                      region: pulumi.Output[str], account: pulumi.Output[str],
                      kms_key_arn: pulumi.Input[str] | None, in_vpc: bool,
                      lineage_function_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    """Exactly what the pipeline's jobs need: its prefixes, its jobs, its group, its images,
    its lineage Lambda."""

    def build(values: list[Any]) -> str:
        (bucket_name, group_name, role, input_uri, definition_json, part, reg, acct, kms,
         lineage_arn) = values
        bucket_arn = f"arn:{part}:s3:::{bucket_name}"
        sagemaker_arn = f"arn:{part}:sagemaker:{reg}:{acct}"
        group_lower = group_name.lower()
        statements = [
            statement("Allow", ["s3:GetObject"],
                      [f"{bucket_arn}/{PREFIXES[p]}*" for p in READ_PREFIXES], sid="ReadData"),
            statement("Allow", ["s3:PutObject", "s3:AbortMultipartUpload"],
                      [f"{bucket_arn}/{PREFIXES[p]}*" for p in WRITE_PREFIXES],
                      sid="WriteOutputs"),
            # Listing is what S3Prefix inputs and checkpoint resumes do: only where jobs read.
            statement("Allow", ["s3:ListBucket"], [bucket_arn], sid="ListBucket",
                      condition={"StringLike": {
                          "s3:prefix": [f"{PREFIXES[p]}*" for p in READ_PREFIXES]}}),
            statement("Allow", ["s3:GetBucketLocation"], [bucket_arn], sid="BucketLocation"),
            *_input_data_statements(input_uri, bucket_name, part),
            statement("Allow", ["sagemaker:CreateProcessingJob", "sagemaker:CreateTrainingJob",
                                "sagemaker:AddTags"],
                      [f"{sagemaker_arn}:processing-job/pipelines-*",
                       f"{sagemaker_arn}:training-job/pipelines-*"], sid="RunPipelineJobs"),
            # Tuning jobs stay at any name in this account and region. SageMaker Pipelines
            # names its processing and training jobs "pipelines-<execution id>-<step>-<random>"
            # (AWS's step-status event examples; AWS's own example policies scope to
            # "pipelines-*"), but tuning job names stop at 32 characters and no AWS document or
            # SDK issue we found states the name a TuningStep's job gets: a guessed prefix would
            # fail prod's Tune step at run time, so these are not scoped by name.
            statement("Allow", ["sagemaker:CreateHyperParameterTuningJob", "sagemaker:AddTags",
                                "sagemaker:DescribeHyperParameterTuningJob",
                                "sagemaker:StopHyperParameterTuningJob",
                                "sagemaker:ListTrainingJobsForHyperParameterTuningJob"],
                      [f"{sagemaker_arn}:hyper-parameter-tuning-job/*"], sid="RunTuningJobs"),
            statement("Allow", ["sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob",
                                "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"],
                      [f"{sagemaker_arn}:processing-job/pipelines-*",
                       f"{sagemaker_arn}:training-job/pipelines-*"], sid="WatchJobs"),
            statement("Allow", ["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage",
                                "sagemaker:DescribeModelPackageGroup", "sagemaker:AddTags"],
                      [f"{sagemaker_arn}:model-package-group/{group_lower}",
                       f"{sagemaker_arn}:model-package/{group_lower}/*"], sid="RegisterModels"),
            statement("Allow", ["iam:PassRole"], [role], sid="PassOwnRoleToJobs",
                      condition={"StringEquals": {
                          "iam:PassedToService": "sagemaker.amazonaws.com"}}),
            statement("Allow", ["logs:CreateLogGroup", "logs:CreateLogStream",
                                "logs:PutLogEvents", "logs:DescribeLogStreams"],
                      [f"arn:{part}:logs:{reg}:{acct}:log-group:/aws/sagemaker/*"],
                      sid="WriteJobLogs"),
            statement("Allow", ["cloudwatch:PutMetricData"], ["*"], sid="PublishJobMetrics",
                      condition={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}),
            statement("Allow", ["ecr:GetAuthorizationToken"], ["*"], sid="EcrLogin"),
            statement("Allow", ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                                "ecr:BatchCheckLayerAvailability"],
                      [f"arn:{part}:ecr:{reg}:{repo.split('/')[0]}:repository/{repo.split('/')[1]}"
                       for repo in image_repositories(definition_json)], sid="PullJobImages"),
            statement("Allow", ["lambda:InvokeFunction"], [lineage_arn],
                      sid="RunLineageStep"),
        ]
        statements += job_key_and_network_statements(kms, in_vpc)
        return json.dumps(document(statements), sort_keys=True)

    return pulumi.Output.all(bucket, group, role_arn, input_data_uri, definition, partition,
                             region, account, kms_key_arn, lineage_function_arn).apply(build)


def _input_data_statements(input_uri: str | None, bucket_name: str, partition: str) -> list:
    """Read access to input data kept outside the stack bucket's raw/ prefix."""
    if not input_uri:
        return []
    input_bucket, _, prefix = input_uri.removeprefix("s3://").partition("/")
    if input_bucket == bucket_name and prefix.startswith(PREFIXES["raw"]):
        return []
    input_bucket_arn = f"arn:{partition}:s3:::{input_bucket}"
    return [statement("Allow", ["s3:GetObject"], [f"{input_bucket_arn}/{prefix}*"],
                      sid="ReadInputData"),
            statement("Allow", ["s3:ListBucket"], [input_bucket_arn], sid="ListInputData",
                      condition={"StringLike": {"s3:prefix": [f"{prefix}*"]}})]


def typed_hyperparameters(hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """``hyperparameters`` with each string of a numeric train.py hyperparameter read as its
    number ("6" -> 6 for max-depth), as the spec validates them; other values as given."""
    typed = dict(hyperparameters)
    for name, value in hyperparameters.items():
        kind = HYPERPARAMETER_TYPES.get(name)
        if isinstance(value, str) and kind in (int, float) \
                and name not in HYPERPARAMETER_PROBLEMS:
            try:
                typed[name] = kind(value)
            except ValueError:
                pass  # the spec's validation names it
    return typed


def pipeline_spec(name: str, args: TrainingPipelineArgs, **resolved: Any) -> PipelineSpec:
    """The definition's spec from the component's arguments and its resolved Outputs."""
    problem_type = ProblemType(args.problem_type)
    gate_metric = args.gate_metric or DEFAULT_GATE_METRIC_NAME[problem_type]
    input_data_uri = resolved.pop("input_data_uri", None) or \
        f"s3://{resolved['bucket']}/{PREFIXES['raw']}"
    return PipelineSpec(
        pipeline_name=name, target_column=args.target_column, problem_type=problem_type,
        input_data_uri=input_data_uri,
        gate_metric=gate_metric,
        metric_threshold=(args.metric_threshold if args.metric_threshold is not None
                          else DEFAULT_GATE_THRESHOLD.get(gate_metric)),
        approval_status=args.approval_status,
        processing_instance_type=args.processing_instance_type,
        processing_instance_count=args.processing_instance_count,
        training_instance_type=args.training_instance_type,
        evaluation_instance_type=args.processing_instance_type,
        estimator=args.estimator, hyperparameters=typed_hyperparameters(args.hyperparameters),
        tuning=args.tuning.to_spec(args.estimator) if isinstance(args.tuning, TuningArgs)
        else args.tuning, use_spot=args.use_spot_training,
        subnets=tuple(args.subnet_ids), security_group_ids=tuple(args.security_group_ids),
        enable_network_isolation=args.enable_network_isolation,
        baseline_margin=args.baseline_margin, champion_margin=args.champion_margin,
        leak_policy=args.leak_policy, split_key=args.split_key, split_time=args.split_time,
        register_unchanged_data=args.register_unchanged_data,
        **resolved)


def _validate(name: str, args: TrainingPipelineArgs) -> None:
    """Every rule of the spec, checked now with stand-ins for values known only after deploy."""
    owner = f"TrainingPipeline '{name}'"
    problems = Problems(owner)
    problems.check(args.bucket_name is not None, "bucket_name", "is required", None)
    problems.check(args.model_package_group_name is not None, "model_package_group_name",
                   "is required", None)
    problems.one_of("problem_type", args.problem_type, ProblemType)
    problems.check(Path(args.code_dir).is_dir(), "code_dir", "must be a directory",
                   str(args.code_dir))
    problems.matches("kms_key_arn", args.kms_key_arn, KMS_KEY_ONLY_ARN_RE,
                     "a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), not an alias")
    problems.check(args.metric_threshold is not None or args.gate_metric is None
                   or args.gate_metric in DEFAULT_GATE_THRESHOLD, "metric_threshold",
                   f"is required for gate_metric {args.gate_metric!r} (its scale is the "
                   "target's)", None)
    if problems.problems:
        problems.raise_if_any()
    known = {key: getattr(args, key) for key in ("bucket_name", "model_package_group_name",
                                                 "kms_key_arn", "input_data_uri")}
    resolved = dict(_PLACEHOLDERS)
    for field_name, spec_field in (("bucket_name", "bucket"),
                                   ("model_package_group_name", "model_package_group_name"),
                                   ("kms_key_arn", "kms_key_id")):
        if is_known(known[field_name]):
            resolved[spec_field] = known[field_name]
    if is_known(known["input_data_uri"]):
        resolved["input_data_uri"] = known["input_data_uri"]
    validate_pipeline_spec(pipeline_spec(name, args, **resolved), owner=owner)
