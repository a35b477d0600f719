"""The SageMaker pipeline definition of the training loop, built offline with the SDK v3.

Steps: ``Profile`` (EDA report + drift baseline) -> ``Preprocess`` (clean, split, fit the
feature transforms) -> ``Train`` or ``Tune`` -> ``Evaluate`` (the model, a trivial baseline
and the champion at ``ChampionModelUri``, on the test split) -> ``QualityGate`` (from
``evaluation.json``: the gate metric meets ``MetricThreshold``, beats the baseline by
``BaselineMargin`` and the champion, if any, by ``ChampionMargin``, on a test split large
enough to decide) -> ``NewDataCheck`` (the training data differs from the champion's, or
``RegisterUnchangedData`` is true) -> ``Register`` (model package with metrics, drift
baselines, the EDA report, the training data's fingerprint and lineage manifest); a failed
gate ends in ``QualityGateFailed``, unchanged data in nothing (the execution succeeds,
unregistered). ``RecordLineage`` (a Lambda, when the spec names one) runs at the start beside
``Profile``: the input's S3 object versions, which the network-isolated jobs cannot see.

Every job runs the scikit-learn container on the ``training/`` package uploaded under
``spec.code_uri``: processing jobs get that prefix as an input and run
``python3 /opt/ml/processing/input/code/training/<job>.py``; the training job runs in script
mode (``sagemaker_program`` / ``sagemaker_submit_directory`` hyperparameters), so the SDK
uploads nothing. With network isolation (the default) a container cannot fetch
``sourcedir.tar.gz`` itself, so SageMaker stages it as the ``code`` channel and
``sagemaker_submit_directory`` names the staged file, as the SDK v2 did. The registered model
serves with ``SAGEMAKER_PROGRAM=training.serve.inference`` (a module name, see
:func:`_serving_environment`).

:func:`build_pipeline_definition` is a pure function of :class:`PipelineSpec`: the same spec
gives byte-identical JSON (sorted keys, no timestamps, no generated names), and it makes no
AWS call - see :mod:`mlops_components.sagemaker.offline_sdk` for how the SDK is kept offline.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from mlops_components.bucket_layout import PREFIXES
from mlops_components.enums import ApprovalStatus, ProblemType
from mlops_components.sagemaker import offline_sdk
from mlops_components.sagemaker.spec import (
    CODE_URI_METADATA,
    CONTENT_TYPES,
    DEFAULT_VOLUME_SIZE_GB,
    EDA_REPORT_METADATA,
    EVALUATION_REPORT,
    GATE_METRIC_METADATA,
    LINEAGE_FOLDER,
    LINEAGE_MANIFEST,
    LINEAGE_METADATA,
    PROBLEM_TYPE_METADATA,
    RESPONSE_TYPES,
    TARGET_COLUMN_METADATA,
    TRAINING_DATA_METADATA,
    CategoricalRange,
    IntegerRange,
    PipelineParameter,
    PipelineSpec,
    ScalingType,
    StepName,
    TuningSpec,
    TuningStrategy,
    no_champion_uri,
)
from mlops_components.sagemaker.validate import validate_pipeline_spec
from training import contract
from training.contract import (
    BASELINE_CONSTRAINTS_FILE,
    BASELINE_OUTPUT,
    BASELINE_STATISTICS_FILE,
    BOOTSTRAP_SCRIPT,
    CHECKPOINT_DIR,
    CODE_CHANNEL,
    DEFAULT_HYPERPARAMETERS,
    EVALUATION_FILE,
    EVALUATION_OUTPUT,
    JOB_ENV,
    MODEL_ARCHIVE,
    PREPROCESS_OUTPUTS,
    PROCESSING_CHAMPION_DIR,
    PROCESSING_CODE_DIR,
    PROCESSING_DATA_DIR,
    PROCESSING_MODEL_DIR,
    PROCESSING_OUTPUT_DIR,
    PROCESSING_TEST_DIR,
    PROCESSING_WHEELHOUSE_DIR,
    PROFILE_OUTPUTS,
    REPORT_OUTPUT,
    SERVING_CODE_DIR,
    SERVING_MODULE,
    SOURCEDIR_TARBALL,
    TRAINING_CHANNEL_ROOT,
    TRAINING_CHANNELS,
    WHEELHOUSE_CHANNEL,
    Job,
)

# --------------------------------------------------------------------------------------
# The build
# --------------------------------------------------------------------------------------


def build_pipeline_definition(spec: PipelineSpec, owner: str | None = None) -> str:
    """The pipeline definition JSON for ``spec``: deterministic, built with no AWS call.

    Raises ``ValidationError`` (a ``ValueError``) listing every problem of the spec.
    """
    validate_pipeline_spec(spec, owner)
    with offline_sdk.offline_sdk(spec.region):
        image_uri, session = offline_sdk.image_and_session(
            spec.region, spec.bucket, owner or f"PipelineSpec {spec.pipeline_name!r}")
        definition = pipeline_definition(BuildContext(spec, session, image_uri))
    return json.dumps(json.loads(definition), sort_keys=True, separators=(",", ":"))


class BuildContext:
    """Builds the steps of one pipeline; only called inside ``offline_sdk``."""

    def __init__(self, spec: PipelineSpec, session: Any, image_uri: str):
        from sagemaker.core.workflow.parameters import (
            ParameterBoolean,
            ParameterFloat,
            ParameterInteger,
            ParameterString,
        )

        self.spec = spec
        self.session = session
        self.image_uri = image_uri
        self.code_uri = spec.code_uri.rstrip("/")
        self.problem_type = ProblemType(spec.problem_type)
        self.gate = contract.gate_metric(self.problem_type.value, spec.gate_metric)
        self.metric_definitions = contract.METRIC_DEFINITIONS[self.problem_type]
        self.parameters = {
            PipelineParameter.INPUT_DATA_URI: ParameterString(
                PipelineParameter.INPUT_DATA_URI.value, default_value=spec.input_data_uri),
            PipelineParameter.METRIC_THRESHOLD: ParameterFloat(
                PipelineParameter.METRIC_THRESHOLD.value,
                default_value=float(spec.metric_threshold)),
            PipelineParameter.MODEL_APPROVAL_STATUS: ParameterString(
                PipelineParameter.MODEL_APPROVAL_STATUS.value,
                default_value=ApprovalStatus(spec.approval_status).value,
                enum_values=[status.value for status in ApprovalStatus]),
            PipelineParameter.PROCESSING_INSTANCE_TYPE: ParameterString(
                PipelineParameter.PROCESSING_INSTANCE_TYPE.value,
                default_value=spec.processing_instance_type),
            PipelineParameter.PROCESSING_INSTANCE_COUNT: ParameterInteger(
                PipelineParameter.PROCESSING_INSTANCE_COUNT.value,
                default_value=spec.processing_instance_count),
            PipelineParameter.TRAINING_INSTANCE_TYPE: ParameterString(
                PipelineParameter.TRAINING_INSTANCE_TYPE.value,
                default_value=spec.training_instance_type),
            PipelineParameter.EVALUATION_INSTANCE_TYPE: ParameterString(
                PipelineParameter.EVALUATION_INSTANCE_TYPE.value,
                default_value=spec.evaluation_instance_type),
            PipelineParameter.BASELINE_MARGIN: ParameterFloat(
                PipelineParameter.BASELINE_MARGIN.value,
                default_value=float(spec.baseline_margin)),
            PipelineParameter.CHAMPION_MARGIN: ParameterFloat(
                PipelineParameter.CHAMPION_MARGIN.value,
                default_value=float(spec.champion_margin)),
            PipelineParameter.CHAMPION_MODEL_URI: ParameterString(
                PipelineParameter.CHAMPION_MODEL_URI.value,
                default_value=spec.champion_model_uri
                or no_champion_uri(spec.bucket, spec.pipeline_name)),
            PipelineParameter.REGISTER_UNCHANGED_DATA: ParameterBoolean(
                PipelineParameter.REGISTER_UNCHANGED_DATA.value,
                default_value=bool(spec.register_unchanged_data)),
        }

    # ---- locations ------------------------------------------------------------------

    def s3(self, prefix: str, *parts: Any) -> Any:
        """``s3://<bucket>/<prefix><pipeline>/<execution id>/<parts>`` as a Join."""
        from sagemaker.core.workflow.execution_variables import ExecutionVariables
        from sagemaker.core.workflow.functions import Join

        base = f"s3://{self.spec.bucket}/{PREFIXES[prefix]}{self.spec.pipeline_name}"
        return Join(on="/", values=[base, ExecutionVariables.PIPELINE_EXECUTION_ID, *parts])

    @staticmethod
    def output_uri(step: Any, output: str) -> Any:
        return step.properties.ProcessingOutputConfig.Outputs[output].S3Output.S3Uri

    # ---- shared job settings --------------------------------------------------------

    def network_config(self) -> Any:
        from sagemaker.core.network import NetworkConfig

        return NetworkConfig(
            enable_network_isolation=self.spec.enable_network_isolation,
            security_group_ids=list(self.spec.security_group_ids) or None,
            subnets=list(self.spec.subnets) or None,
        )

    def processor(self, job: Job, instance_type: Any, instance_count: Any) -> Any:
        from sagemaker.core.processing import Processor

        return Processor(
            role=self.spec.role_arn,
            image_uri=self.image_uri,
            instance_count=instance_count,
            instance_type=instance_type,
            # Every job starts through the bootstrap: it installs the wheelhouse offline.
            entrypoint=["python3", f"{PROCESSING_CODE_DIR}/{BOOTSTRAP_SCRIPT}", job.value],
            volume_size_in_gb=DEFAULT_VOLUME_SIZE_GB,
            volume_kms_key=self.spec.kms_key_id,
            output_kms_key=self.spec.kms_key_id,
            max_runtime_in_seconds=self.spec.max_runtime_seconds,
            base_job_name=job.value,
            sagemaker_session=self.session,
            network_config=self.network_config(),
        )

    @staticmethod
    def processing_input(name: str, s3_uri: Any, local_path: str, sharded: bool = False) -> Any:
        from sagemaker.core.shapes import ProcessingInput, ProcessingS3Input

        return ProcessingInput(input_name=name, s3_input=ProcessingS3Input(
            s3_uri=s3_uri, local_path=local_path, s3_data_type="S3Prefix",
            s3_input_mode="File",
            s3_data_distribution_type="ShardedByS3Key" if sharded else "FullyReplicated",
            s3_compression_type="None"))

    @staticmethod
    def processing_output(name: str, local_path: str, s3_uri: Any) -> Any:
        from sagemaker.core.shapes import ProcessingOutput, ProcessingS3Output

        return ProcessingOutput(output_name=name, s3_output=ProcessingS3Output(
            s3_uri=s3_uri, local_path=local_path, s3_upload_mode="EndOfJob"))

    def data_processor(self, job: Job) -> Any:
        """The processor of a job over the input data (Profile, Preprocess): its instance type
        and count are pipeline parameters, so an execution can scale out."""
        return self.processor(job, self.parameters[PipelineParameter.PROCESSING_INSTANCE_TYPE],
                              self.parameters[PipelineParameter.PROCESSING_INSTANCE_COUNT])

    def data_input(self) -> Any:
        """The InputDataUri files, sharded by S3 key across the job's instances."""
        return self.processing_input("data", self.parameters[PipelineParameter.INPUT_DATA_URI],
                                     PROCESSING_DATA_DIR, sharded=True)

    def code_inputs(self) -> list[Any]:
        """The code location, and the wheelhouse when the jobs need packages beyond the image."""
        inputs = [self.processing_input(CODE_CHANNEL, self.code_uri, PROCESSING_CODE_DIR)]
        if self.spec.wheelhouse_uri:
            inputs.append(self.processing_input(WHEELHOUSE_CHANNEL, self.spec.wheelhouse_uri,
                                                PROCESSING_WHEELHOUSE_DIR))
        return inputs

    def split_arguments(self, with_seed: bool = False) -> list[str]:
        """Preprocess's split flags, each only when set (Profile also gets the seed, which
        Preprocess is always given: the hash split's salt)."""
        arguments = [f"--{contract.SEED_FLAG}", str(self.spec.seed)] if with_seed else []
        for flag, value in ((contract.SPLIT_KEY_FLAG, self.spec.split_key),
                            (contract.SPLIT_TIME_FLAG, self.spec.split_time)):
            if value:
                arguments += [f"--{flag}", value]
        return arguments

    def training_settings(self) -> dict[str, Any]:
        """train.py's contract hyperparameters: the estimator's defaults with the spec's
        overrides. When the tuner picks the estimator, only the shared defaults: train.py
        gives each estimator its own."""
        tuned = self.spec.tuning.ranges if self.spec.tuning is not None else {}
        defaults = (DEFAULT_HYPERPARAMETERS if contract.ESTIMATOR_FLAG in tuned
                    else contract.training_defaults(self.spec.estimator,
                                                    self.problem_type.value))
        return {**defaults, **self.spec.hyperparameters}

    def hyperparameters(self) -> dict[str, str]:
        values = self.training_settings()
        submit_directory = (f"{TRAINING_CHANNEL_ROOT}/{CODE_CHANNEL}/{SOURCEDIR_TARBALL}"
                            if self.spec.enable_network_isolation
                            else f"{self.code_uri}/{SOURCEDIR_TARBALL}")
        values.update({
            contract.TARGET_FLAG: self.spec.target_column,
            contract.PROBLEM_TYPE_FLAG: self.problem_type.value,
            contract.ESTIMATOR_FLAG: self.spec.estimator,
            contract.SEED_FLAG: self.spec.seed,
            contract.GATE_METRIC_FLAG: self.gate.name,
            **({contract.TUNED_FLAG: "true"} if self.spec.tuning is not None else {}),
            "sagemaker_program": BOOTSTRAP_SCRIPT,
            "sagemaker_submit_directory": submit_directory,
        })
        return {name: str(value) for name, value in sorted(values.items())}

    def model_trainer(self) -> Any:
        from sagemaker.core.shapes import CheckpointConfig, MetricDefinition
        from sagemaker.train.configs import (
            Compute,
            Networking,
            OutputDataConfig,
            StoppingCondition,
        )
        from sagemaker.train.model_trainer import ModelTrainer

        spec = self.spec
        stopping = StoppingCondition(max_runtime_in_seconds=spec.max_runtime_seconds)
        checkpoint = None
        if spec.use_spot:
            stopping = StoppingCondition(max_runtime_in_seconds=spec.max_runtime_seconds,
                                         max_wait_time_in_seconds=2 * spec.max_runtime_seconds)
            checkpoint = CheckpointConfig(s3_uri=self.s3("models", "checkpoints"),
                                          local_path=CHECKPOINT_DIR)
        networking = Networking(
            enable_network_isolation=spec.enable_network_isolation,
            subnets=list(spec.subnets) or None,
            security_group_ids=list(spec.security_group_ids) or None,
        )
        trainer = ModelTrainer(
            training_image=self.image_uri,
            role=spec.role_arn,
            sagemaker_session=self.session,
            base_job_name=Job.TRAIN.value,
            compute=Compute(
                instance_type=self.parameters[PipelineParameter.TRAINING_INSTANCE_TYPE],
                instance_count=1,
                volume_size_in_gb=DEFAULT_VOLUME_SIZE_GB,
                volume_kms_key_id=spec.kms_key_id,
                enable_managed_spot_training=spec.use_spot or None,
            ),
            networking=networking,
            stopping_condition=stopping,
            output_data_config=OutputDataConfig(s3_output_path=self.s3("models"),
                                                kms_key_id=spec.kms_key_id),
            checkpoint_config=checkpoint,
            hyperparameters=self.hyperparameters(),
            # Script mode runs `python <program> --hp value...`: the bootstrap learns the job here.
            environment=training_environment(),
        )
        return trainer.with_metric_definitions(
            [MetricDefinition(name=metric["Name"], regex=metric["Regex"])
             for metric in self.metric_definitions])

    def training_inputs(self, preprocess: Any) -> list[Any]:
        from sagemaker.train.configs import InputData

        inputs = [InputData(channel_name=channel,
                            data_source=self.output_uri(preprocess, channel),
                            content_type="text/csv")
                  for channel in TRAINING_CHANNELS]
        if self.spec.enable_network_isolation:
            # No network in the container: SageMaker stages the code archive as a channel.
            inputs.append(InputData(channel_name=CODE_CHANNEL,
                                    data_source=f"{self.code_uri}/{SOURCEDIR_TARBALL}"))
        if self.spec.wheelhouse_uri:
            inputs.append(InputData(channel_name=WHEELHOUSE_CHANNEL,
                                    data_source=self.spec.wheelhouse_uri))
        return inputs


def profile_step(ctx: BuildContext) -> Any:
    from sagemaker.mlops.workflow import ProcessingStep

    step_args = ctx.data_processor(Job.PROFILE).run(
        inputs=[*ctx.code_inputs(), ctx.data_input()],
        # Both outputs are attached to the registered package (the baseline as its drift
        # baseline, the report as mlops:eda-report-uri), so both live with the model's other
        # artefacts under models/<pipeline>/<execution>/, which has no expiry: under reports/
        # the package's report link would break when that prefix expires (30 days in dev).
        # Writing there directly, not copying on registration, needs no extra step or
        # permission; the price is that an execution the gate rejects keeps its report too,
        # as it keeps its baseline and model (a few hundred kB per execution).
        outputs=[ctx.processing_output(name, f"{PROCESSING_OUTPUT_DIR}/{name}",
                                       ctx.s3("models", name))
                 for name in PROFILE_OUTPUTS],
        arguments=["--data-dir", PROCESSING_DATA_DIR,
                   "--report-dir", f"{PROCESSING_OUTPUT_DIR}/{REPORT_OUTPUT}",
                   "--baseline-dir", f"{PROCESSING_OUTPUT_DIR}/{BASELINE_OUTPUT}",
                   "--target", ctx.spec.target_column,
                   "--problem-type", ctx.problem_type.value,
                   # Preprocess's split settings: the report says how the test rows will be
                   # chosen and checks leakage on the same training rows
                   *ctx.split_arguments(with_seed=True),
                   # training's imbalance settings, which the imbalance alert names
                   *[argument for name in (contract.CLASS_WEIGHT_FLAG,
                                           contract.DECISION_THRESHOLD_FLAG)
                     for argument in (f"--{name}", str(ctx.training_settings()[name]))]])
    return ProcessingStep(name=StepName.PROFILE.value, step_args=step_args,
                          description="EDA report and the drift baseline of the input data.")


def preprocess_step(ctx: BuildContext, profile: Any) -> Any:
    from sagemaker.mlops.workflow import ProcessingStep

    step_args = ctx.data_processor(Job.PREPROCESS).run(
        inputs=[*ctx.code_inputs(), ctx.data_input()],
        outputs=[ctx.processing_output(name, f"{PROCESSING_OUTPUT_DIR}/{name}",
                                       ctx.s3("processed", name))
                 for name in PREPROCESS_OUTPUTS],
        arguments=["--data-dir", PROCESSING_DATA_DIR,
                   "--output-dir", PROCESSING_OUTPUT_DIR,
                   "--target", ctx.spec.target_column,
                   "--problem-type", ctx.problem_type.value,
                   "--seed", str(ctx.spec.seed),
                   f"--{contract.LEAK_POLICY_FLAG}", ctx.spec.leak_policy,
                   *ctx.split_arguments()])
    return ProcessingStep(name=StepName.PREPROCESS.value, step_args=step_args,
                          depends_on=[profile],
                          description="Clean, split and fit the feature transforms.")


def train_step(ctx: BuildContext, preprocess: Any) -> tuple[Any, Any]:
    """The training step and its model artifact URI."""
    from sagemaker.mlops.workflow import TrainingStep

    step_args = ctx.model_trainer().train(input_data_config=ctx.training_inputs(preprocess))
    step = TrainingStep(name=StepName.TRAIN.value, step_args=step_args,
                        description="Train the model on the preprocessed data.")
    return step, step.properties.ModelArtifacts.S3ModelArtifacts


def tune_step(ctx: BuildContext, preprocess: Any, tuning: TuningSpec) -> tuple[Any, Any]:
    """The tuning step and the model artifact URI of its best training job."""
    from sagemaker.core.parameter import (
        CategoricalParameter,
        ContinuousParameter,
        IntegerParameter,
    )
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join
    from sagemaker.train.tuner import HyperparameterTuner

    ranges: dict[str, Any] = {}
    for name, parameter_range in sorted(tuning.ranges.items()):
        if isinstance(parameter_range, CategoricalRange):
            ranges[name] = CategoricalParameter([str(v) for v in parameter_range.values])
        elif isinstance(parameter_range, IntegerRange):
            ranges[name] = IntegerParameter(parameter_range.min_value,
                                            parameter_range.max_value,
                                            ScalingType(parameter_range.scaling).value)
        else:
            ranges[name] = ContinuousParameter(parameter_range.min_value,
                                               parameter_range.max_value,
                                               ScalingType(parameter_range.scaling).value)
    objective = contract.metric_of_tuning_name(tuning.objective_metric or ctx.gate.name)
    tuner = HyperparameterTuner(
        model_trainer=ctx.model_trainer(),
        objective_metric_name=contract.tuning_metric_name(objective),
        objective_type=("Maximize" if contract.HIGHER_IS_BETTER[objective]
                        else "Minimize"),
        hyperparameter_ranges=ranges,
        metric_definitions=list(ctx.metric_definitions),
        strategy=TuningStrategy(tuning.strategy).value,
        max_jobs=tuning.max_jobs,
        max_parallel_jobs=tuning.max_parallel_jobs,
        base_tuning_job_name="tune",
        random_seed=ctx.spec.seed,
    )
    step_args = tuner.tune(inputs=ctx.training_inputs(preprocess))
    tuning_step_class, _ = _step_classes()
    step = tuning_step_class(
        name=StepName.TUNE.value, step_args=step_args,
        description="Tune hyperparameters on the preprocessed data.",
        network_isolation=ctx.spec.enable_network_isolation,
        volume_kms_key_id=ctx.spec.kms_key_id)
    # The tuner's training jobs write <S3OutputPath>/<job name>/output/model.tar.gz.
    best_model = Join(on="/", values=[
        f"s3://{ctx.spec.bucket}/{PREFIXES['models']}{ctx.spec.pipeline_name}",
        ExecutionVariables.PIPELINE_EXECUTION_ID,
        step.properties.TrainingJobSummaries[0].TrainingJobName,
        f"output/{MODEL_ARCHIVE}",
    ])
    return step, best_model


def evaluate_step(ctx: BuildContext, model_data: Any, preprocess: Any) -> tuple[Any, Any]:
    """The evaluation step and its ``EvaluationReport`` property file."""
    from sagemaker.core.workflow.properties import PropertyFile
    from sagemaker.mlops.workflow import ProcessingStep

    processor = ctx.processor(
        Job.EVALUATE, ctx.parameters[PipelineParameter.EVALUATION_INSTANCE_TYPE], 1)
    step_args = processor.run(
        inputs=[*ctx.code_inputs(),
                ctx.processing_input("model", model_data, PROCESSING_MODEL_DIR),
                ctx.processing_input("test", ctx.output_uri(preprocess, "test"),
                                     PROCESSING_TEST_DIR),
                ctx.processing_input(
                    "champion", ctx.parameters[PipelineParameter.CHAMPION_MODEL_URI],
                    PROCESSING_CHAMPION_DIR)],
        # evaluation.json is the registered package's ModelQuality statistics: no expiry.
        outputs=[ctx.processing_output(EVALUATION_OUTPUT,
                                       f"{PROCESSING_OUTPUT_DIR}/{EVALUATION_OUTPUT}",
                                       ctx.s3("models", EVALUATION_OUTPUT))],
        arguments=["--model-dir", PROCESSING_MODEL_DIR,
                   "--test-dir", PROCESSING_TEST_DIR,
                   "--champion-dir", PROCESSING_CHAMPION_DIR,
                   "--output-dir", f"{PROCESSING_OUTPUT_DIR}/{EVALUATION_OUTPUT}",
                   "--target", ctx.spec.target_column,
                   "--problem-type", ctx.problem_type.value,
                   f"--{contract.GATE_METRIC_FLAG}", ctx.gate.name])
    report = PropertyFile(name=EVALUATION_REPORT, output_name=EVALUATION_OUTPUT,
                          path=EVALUATION_FILE)
    step = ProcessingStep(name=StepName.EVALUATE.value, step_args=step_args,
                          property_files=[report],
                          description="Score the model, a trivial baseline and the champion "
                                      "on the held-out test split.")
    return step, report


def register_step(ctx: BuildContext, model_data: Any, profile: Any, evaluate: Any,
                  lineage: Any | None = None) -> Any:
    from sagemaker.core.drift_check_baselines import DriftCheckBaselines
    from sagemaker.core.model_metrics import MetricsSource, ModelMetrics
    from sagemaker.core.workflow.functions import Join
    from sagemaker.serve.model_builder import ModelBuilder

    def file_in(step: Any, output: str, name: str) -> Any:
        return Join(on="/", values=[ctx.output_uri(step, output), name])

    statistics = MetricsSource(content_type="application/json", s3_uri=file_in(
        profile, BASELINE_OUTPUT, BASELINE_STATISTICS_FILE))
    constraints = MetricsSource(content_type="application/json", s3_uri=file_in(
        profile, BASELINE_OUTPUT, BASELINE_CONSTRAINTS_FILE))
    model_metrics = ModelMetrics(
        model_statistics=MetricsSource(content_type="application/json", s3_uri=file_in(
            evaluate, EVALUATION_OUTPUT, EVALUATION_FILE)),
        model_data_statistics=statistics,
        model_data_constraints=constraints,
    )
    builder = ModelBuilder(
        image_uri=ctx.image_uri,
        s3_model_data_url=model_data,
        role_arn=ctx.spec.role_arn,
        sagemaker_session=ctx.session,
        instance_type=ctx.spec.inference_instance_types[0],
        env_vars=_serving_environment(ctx.code_uri, ctx.spec.region),
    )
    step_args = builder.register(
        model_package_group_name=ctx.spec.model_package_group_name,
        content_types=list(CONTENT_TYPES),
        response_types=list(RESPONSE_TYPES),
        inference_instances=list(ctx.spec.inference_instance_types),
        transform_instances=list(ctx.spec.inference_instance_types),
        approval_status=ctx.parameters[PipelineParameter.MODEL_APPROVAL_STATUS],
        model_metrics=model_metrics,
        drift_check_baselines=DriftCheckBaselines(
            model_data_statistics=statistics, model_data_constraints=constraints),
        customer_metadata_properties=_customer_metadata(ctx, profile, evaluate, lineage),
        domain="MACHINE_LEARNING",
        task=ctx.problem_type.value.upper(),
    )
    _, register_step_class = _step_classes()
    return register_step_class(
        name=StepName.REGISTER.value, step_args=step_args,
        description="Register the model for review with its metrics, drift baselines "
                    "and EDA report.")


def lineage_step(ctx: BuildContext) -> Any | None:
    """``RecordLineage``: at the execution's start, the Lambda lists the object versions under
    InputDataUri and writes the lineage manifest (jobs run network-isolated and cannot see
    version IDs). None when the spec names no function."""
    if not ctx.spec.lineage_function_arn:
        return None
    from sagemaker.core.lambda_helper import Lambda
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.mlops.workflow import LambdaOutput, LambdaStep
    from sagemaker.mlops.workflow.lambda_step import LambdaOutputTypeEnum

    from mlops_components.functions import lineage_record

    return LambdaStep(
        name=StepName.RECORD_LINEAGE.value,
        lambda_func=Lambda(function_arn=ctx.spec.lineage_function_arn, session=ctx.session),
        description="Record the input data's objects and S3 version IDs at the start.",
        inputs={lineage_record.INPUT_URI_INPUT:
                ctx.parameters[PipelineParameter.INPUT_DATA_URI],
                lineage_record.MANIFEST_OUTPUT: ctx.s3("models", LINEAGE_FOLDER,
                                                       LINEAGE_MANIFEST),
                lineage_record.EXECUTION_INPUT: ExecutionVariables.PIPELINE_EXECUTION_ARN},
        outputs=[LambdaOutput(output_name=name, output_type=LambdaOutputTypeEnum.String)
                 for name in (lineage_record.MANIFEST_OUTPUT, lineage_record.OBJECTS_OUTPUT)])


def _customer_metadata(ctx: BuildContext, profile: Any, evaluate: Any,
                       lineage: Any | None) -> dict[str, Any]:
    """Traceability facts; the EDA report and the training data's fingerprint have no
    ModelMetrics slot, so they live here (the fingerprint as Evaluate recorded it), with the
    lineage manifest RecordLineage wrote."""
    from sagemaker.core.workflow.functions import JsonGet

    from mlops_components.functions import lineage_record

    report = next(iter(evaluate.property_files))
    recorded = ({LINEAGE_METADATA: lineage.properties.Outputs[lineage_record.MANIFEST_OUTPUT]}
                if lineage is not None else {})
    return {
        **recorded,
        TRAINING_DATA_METADATA: JsonGet(step_name=evaluate.name, property_file=report,
                                        json_path=contract.gate_json_path(
                                            contract.DATA_DIGEST)),
        EDA_REPORT_METADATA: ctx.output_uri(profile, REPORT_OUTPUT),
        CODE_URI_METADATA: ctx.code_uri,
        PROBLEM_TYPE_METADATA: ctx.problem_type.value,
        TARGET_COLUMN_METADATA: ctx.spec.target_column,
        GATE_METRIC_METADATA: ctx.gate.name,
    }


def gate_step(ctx: BuildContext, evaluate: Any, report: Any, register: Any) -> Any:
    """Go on to the new-data check only if the test split is large enough to decide, the gate
    metric meets MetricThreshold, beats the trivial baseline by BaselineMargin, and is not
    worse than the champion (when there is one) beyond the noise: the top of the paired
    interval of the champion gap reaches ChampionMargin (see DEFAULT_CHAMPION_MARGIN).

    Conditions compare two values and pipeline expressions cannot subtract, so Evaluate
    writes the gaps (``gate.baseline_gap``, ``gate.champion_gap_high``, positive = better, see
    ``training.contract.gate_gap``) and the test split's verdict, and the conditions compare
    them with the margins.
    """
    from sagemaker.core.workflow.conditions import (
        ConditionEquals,
        ConditionGreaterThanOrEqualTo,
        ConditionLessThanOrEqualTo,
        ConditionOr,
    )
    from sagemaker.core.workflow.functions import Join
    from sagemaker.mlops.workflow import ConditionStep, FailStep

    def value(key: str) -> Any:
        return _gate_value(evaluate, report, key)

    threshold = ctx.parameters[PipelineParameter.METRIC_THRESHOLD]
    baseline_margin = ctx.parameters[PipelineParameter.BASELINE_MARGIN]
    champion_margin = ctx.parameters[PipelineParameter.CHAMPION_MARGIN]
    metric_value = _json_value(evaluate, report, ctx.gate.json_path)
    baseline_gap = value(contract.BASELINE_GAP)
    champion_gap = value(contract.CHAMPION_GAP)
    champion_gap_high = value(contract.CHAMPION_GAP_HIGH)
    champion_present = value(contract.CHAMPION_PRESENT)
    test_rows = value(contract.TEST_ROWS)
    test_split_sufficient = value(contract.TEST_SPLIT_SUFFICIENT)
    if ctx.gate.higher_is_better:
        meets_threshold = ConditionGreaterThanOrEqualTo(left=metric_value, right=threshold)
        needed = "at least"
    else:
        meets_threshold = ConditionLessThanOrEqualTo(left=metric_value, right=threshold)
        needed = "at most"
    conditions = [
        meets_threshold,
        ConditionGreaterThanOrEqualTo(left=baseline_gap, right=baseline_margin),
        ConditionOr(conditions=[
            ConditionEquals(left=champion_present, right=0),
            ConditionGreaterThanOrEqualTo(left=champion_gap_high, right=champion_margin),
        ]),
        ConditionEquals(left=test_split_sufficient, right=1),
    ]
    fail = FailStep(
        name=StepName.QUALITY_GATE_FAILED.value,
        error_message=Join(on=" ", values=[
            f"Quality gate failed: {ctx.gate.name} =", metric_value,
            f"(MetricThreshold: {needed}", threshold,
            "); gap to the trivial baseline =", baseline_gap,
            "(BaselineMargin: at least", baseline_margin,
            "); gap to the champion =", champion_gap,
            ", top of its 95 % interval =", champion_gap_high,
            "(ChampionMargin: at least", champion_margin,
            "; champion present:", champion_present,
            "); test rows =", test_rows,
            f"(enough to decide: {contract.MIN_TEST_ROWS_PER_CLASS} of every class, or "
            f"{contract.MIN_TEST_ROWS} for regression; sufficient:", test_split_sufficient,
            "). The model was not registered.",
        ]),
        description="Stop: the model missed the quality gate.",
    )
    return ConditionStep(
        name=StepName.QUALITY_GATE.value,
        conditions=conditions,
        if_steps=[new_data_step(ctx, evaluate, report, register)],
        else_steps=[fail],
        description=f"Go on only if {ctx.gate.name} meets MetricThreshold, beats the trivial "
                    "baseline by BaselineMargin, is not worse than the champion beyond the "
                    "noise (ChampionMargin), on a test split large enough to decide.",
    )


def new_data_step(ctx: BuildContext, evaluate: Any, report: Any, register: Any) -> Any:
    """Register unless the model was trained on exactly the champion's training data (it can
    only tie with it), or RegisterUnchangedData says to register it anyway.

    Evaluate measures (``gate.data_unchanged``: both fingerprints complete and equal); the
    decision is this condition's, so an execution may override it. Unchanged data ends the
    execution successfully with nothing registered: it is not a failure.
    """
    from sagemaker.core.workflow.conditions import ConditionEquals, ConditionOr
    from sagemaker.mlops.workflow import ConditionStep

    return ConditionStep(
        name=StepName.NEW_DATA_CHECK.value,
        conditions=[ConditionOr(conditions=[
            ConditionEquals(left=_gate_value(evaluate, report, contract.DATA_UNCHANGED),
                            right=0),
            ConditionEquals(left=ctx.parameters[PipelineParameter.REGISTER_UNCHANGED_DATA],
                            right=True),
        ])],
        if_steps=[register],
        else_steps=[],
        description="Register unless the training data is the champion's own "
                    "(RegisterUnchangedData registers it anyway).",
    )


def _json_value(evaluate: Any, report: Any, json_path: str) -> Any:
    from sagemaker.core.workflow.functions import JsonGet

    return JsonGet(step_name=evaluate.name, property_file=report, json_path=json_path)


def _gate_value(evaluate: Any, report: Any, key: str) -> Any:
    """A value of evaluation.json's gate section, read at execution time."""
    return _json_value(evaluate, report, contract.gate_json_path(key))


def pipeline_definition(ctx: BuildContext) -> str:
    """The whole pipeline: each step built by its function, in execution order."""
    from sagemaker.mlops.workflow import Pipeline

    lineage = lineage_step(ctx)
    profile = profile_step(ctx)
    preprocess = preprocess_step(ctx, profile)
    if ctx.spec.tuning is None:
        model_step, model_data = train_step(ctx, preprocess)
    else:
        model_step, model_data = tune_step(ctx, preprocess, ctx.spec.tuning)
    evaluate, report = evaluate_step(ctx, model_data, preprocess)
    register = register_step(ctx, model_data, profile, evaluate, lineage)
    gate = gate_step(ctx, evaluate, report, register)
    pipeline = Pipeline(
        name=ctx.spec.pipeline_name,
        parameters=list(ctx.parameters.values()),
        steps=[*([lineage] if lineage is not None else []), profile, preprocess, model_step,
               evaluate, gate],
        sagemaker_session=ctx.session,
        pipeline_experiment_config=None,
    )
    return pipeline.definition()


def training_environment() -> dict[str, str]:
    """Environment of every training job: which job the bootstrap runs."""
    return {JOB_ENV: Job.TRAIN.value}


def _serving_environment(code_uri: str, region: str) -> dict[str, str]:
    """Environment of the serving container of a registered model.

    The scikit-learn serving stack treats ``SAGEMAKER_PROGRAM`` as a module name (it strips
    ``.py`` and imports it), so ``training/serve/inference.py`` cannot be named as a path. The
    dotted name ``training.serve.inference`` imports the module from the ``training`` package that
    train.py copies into the model (``code/training/`` in model.tar.gz);
    ``SAGEMAKER_SUBMIT_DIRECTORY`` points the container there. An ``s3://`` submit directory
    (``code_uri``) would need the container to reach S3, which network isolation forbids;
    ``code_uri`` stays in the package's metadata (``mlops:code-uri``) for traceability.

    ``PYTHONPATH`` names the same folder: the serving stack first tries
    ``importlib.import_module(SAGEMAKER_PROGRAM)`` and only when that fails copies the submit
    directory to ``/opt/ml/code`` and runs ``pip install .`` there, which needs the package
    index (pip's build isolation fetches setuptools): impossible under network isolation, and
    a download at every cold start of a serverless endpoint. With the code folder on the path
    the first import succeeds and nothing is installed.
    """
    del code_uri
    return {
        "SAGEMAKER_PROGRAM": SERVING_MODULE,
        "SAGEMAKER_SUBMIT_DIRECTORY": SERVING_CODE_DIR,
        "PYTHONPATH": SERVING_CODE_DIR,
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "SAGEMAKER_REGION": region,
    }


@functools.cache
def _step_classes() -> tuple[type, type]:
    """SDK step subclasses that fix what the SDK emits (defined on first use: lazy import)."""
    from sagemaker.mlops.workflow import ModelStep, TuningStep

    class SpecTuningStep(TuningStep):
        """A TuningStep whose training job definition keeps the spec's job settings.

        The SDK's tuner drops ``EnableNetworkIsolation`` and ``VolumeKmsKeyId`` from the
        training job definition, and copies the checkpoint location to every trial (they
        would share one S3 prefix); this restores the first two and removes the third.
        """

        def __init__(self, *, network_isolation: bool, volume_kms_key_id: str | None,
                     **kwargs: Any):
            super().__init__(**kwargs)
            self._network_isolation = network_isolation
            self._volume_kms_key_id = volume_kms_key_id

        @property
        def arguments(self) -> dict[str, Any]:
            request = super().arguments
            definition = request["TrainingJobDefinition"]
            definition["EnableNetworkIsolation"] = self._network_isolation
            definition["Environment"] = training_environment()
            definition.pop("CheckpointConfig", None)
            if self._volume_kms_key_id:
                definition["ResourceConfig"]["VolumeKmsKeyId"] = self._volume_kms_key_id
            return request

    class RegisterModelStep(ModelStep):
        """The registration ModelStep without the SDK's empty report slots.

        ``ModelMetrics`` always emits ``Bias: {}`` and ``Explainability: {}``; the service
        accepts them, but they claim reports that do not exist.
        """

        @property
        def arguments(self) -> dict[str, Any]:
            request = super().arguments
            for section in ("ModelMetrics", "DriftCheckBaselines"):
                slots = request.get(section, {})
                for empty in [name for name, value in slots.items() if value == {}]:
                    del slots[empty]
            return request

    return SpecTuningStep, RegisterModelStep
