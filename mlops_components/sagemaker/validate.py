"""Every rule of a :class:`PipelineSpec`, checked without the SageMaker SDK.

The component checks its arguments with these rules at construction (with stand-ins for
values known only after deploy), and the builder checks the resolved spec again.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from mlops_components.enums import ApprovalStatus, ProblemType
from mlops_components.sagemaker.spec import (
    LEAK_POLICIES,
    MAX_RUNTIME_SECONDS_LIMIT,
    CategoricalRange,
    ContinuousRange,
    IntegerRange,
    PipelineSpec,
    ScalingType,
    TuningSpec,
    TuningStrategy,
)
from mlops_components.validation import (
    INSTANCE_TYPE_RE,
    KMS_KEY_ARN_RE,
    LAMBDA_ARN_RE,
    REGION_RE,
    SAGEMAKER_NAME_RE,
    SECURITY_GROUP_RE,
    SUBNET_RE,
    Problems,
    instance_count_problem,
    is_int,
    threshold_problem,
)
from training import contract

_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_BUCKET_RE = re.compile(r"^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_S3_URI_RE = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?$")
_KMS_KEY_RE = re.compile(
    r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}"
    r"|alias/[A-Za-z0-9/_-]{1,250})$")
_MAX_TUNING_JOBS = 500
_MAX_PARALLEL_TUNING_JOBS = 100
_MAX_CATEGORICAL_VALUES = 30
_MAX_SUBNETS = 16
_MAX_SECURITY_GROUPS = 5


def _is_number(value: Any) -> bool:
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value)


def validate_pipeline_spec(spec: PipelineSpec, owner: str | None = None) -> None:
    """Check every field of ``spec``; raise one ``ValidationError`` listing every problem.

    ``ValidationError`` is a ``ValueError``. Each line names the field, the bad value and
    what is allowed. Needs no SDK import, so callers can validate early and cheaply.
    """
    problems = Problems(owner or f"PipelineSpec {spec.pipeline_name!r}")
    problems.matches("pipeline_name", spec.pipeline_name, SAGEMAKER_NAME_RE,
                     "1-63 letters, digits and hyphens, starting with a letter or digit")
    problems.matches("role_arn", spec.role_arn, _ROLE_ARN_RE,
                     "an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)")
    problems.matches("bucket", spec.bucket, _BUCKET_RE, "an S3 bucket name (3-63 lowercase "
                     "letters, digits, dots and hyphens)")
    problems.matches("region", spec.region, REGION_RE, "an AWS region such as 'eu-west-1'")
    problems.matches("code_uri", spec.code_uri, _S3_URI_RE, "an s3://<bucket>/<prefix> URI")
    problems.matches("input_data_uri", spec.input_data_uri, _S3_URI_RE,
                     "an s3://<bucket>/<prefix> URI")
    if spec.wheelhouse_uri is not None:
        problems.matches("wheelhouse_uri", spec.wheelhouse_uri, _S3_URI_RE,
                         "an s3://<bucket>/<key> URI of a wheelhouse archive")
    if spec.lineage_function_arn is not None:
        problems.matches("lineage_function_arn", spec.lineage_function_arn, LAMBDA_ARN_RE,
                         "a Lambda function ARN")
    problems.matches("model_package_group_name", spec.model_package_group_name,
                     SAGEMAKER_NAME_RE, "1-63 letters, digits and hyphens")
    problems.check(isinstance(spec.target_column, str) and spec.target_column.strip() != "",
                   "target_column", "must be a non-empty column name", spec.target_column)
    problem_type = problems.one_of("problem_type", spec.problem_type, ProblemType)
    problems.one_of("approval_status", spec.approval_status, ApprovalStatus)

    gate = None
    if isinstance(problem_type, ProblemType):
        try:
            gate = contract.gate_metric(problem_type.value, spec.gate_metric)
        except ValueError:
            allowed = ", ".join(contract.METRIC_NAMES[
                contract.ProblemType(problem_type.value)])
            problems.add("gate_metric", f"must be a {problem_type.value} metric ({allowed})",
                         spec.gate_metric)
    _validate_threshold(problems, spec.metric_threshold, gate)
    problems.check(_is_number(spec.baseline_margin), "baseline_margin",
                   "must be a finite number", spec.baseline_margin)
    problems.check(_is_number(spec.champion_margin), "champion_margin",
                   "must be a finite number", spec.champion_margin)
    if spec.champion_model_uri is not None:
        problems.matches("champion_model_uri", spec.champion_model_uri, _S3_URI_RE,
                         "an s3://<bucket>/<key or prefix> URI")
    problems.check(spec.leak_policy in LEAK_POLICIES, "leak_policy",
                   f"must be one of {', '.join(LEAK_POLICIES)}", spec.leak_policy)
    problems.check(spec.split_key != spec.target_column, "split_key",
                   "must be an ID column, not the target", spec.split_key)
    problems.check(spec.split_time != spec.target_column, "split_time",
                   "must be a date column, not the target", spec.split_time)
    no_time = contract.NO_SPLIT_TIME
    problems.check(not spec.split_key or spec.split_time in (None, "", no_time), "split_time",
                   f"must be empty or '{no_time}' when split_key is set (a group split and a "
                   "time split are two rules)", spec.split_time)

    for name in ("processing_instance_type", "training_instance_type",
                 "evaluation_instance_type"):
        problems.matches(name, getattr(spec, name), INSTANCE_TYPE_RE,
                         "an ML instance type such as 'ml.m5.xlarge'")
    count_problem = instance_count_problem(spec.processing_instance_count)
    if count_problem:
        problems.add("processing_instance_count", count_problem, spec.processing_instance_count)
    problems.check(isinstance(spec.inference_instance_types, tuple)
                   and len(spec.inference_instance_types) >= 1, "inference_instance_types",
                   "must be a non-empty tuple of instance types", spec.inference_instance_types)
    if isinstance(spec.inference_instance_types, tuple):
        for index, instance_type in enumerate(spec.inference_instance_types):
            problems.matches(f"inference_instance_types[{index}]", instance_type,
                             INSTANCE_TYPE_RE, "an ML instance type such as 'ml.m5.large'")

    _validate_hyperparameters(problems, spec.hyperparameters)
    if isinstance(problem_type, ProblemType):
        _validate_problem_type_hyperparameters(problems, spec, problem_type.value)
    _validate_estimator_hyperparameters(problems, spec)
    problems.check(spec.estimator in contract.ESTIMATORS, "estimator",
                   "must be one of " + ", ".join(map(repr, contract.ESTIMATORS)),
                   spec.estimator)
    problems.check(is_int(spec.seed) and 0 <= spec.seed < 2**32, "seed",
                   "must be an integer between 0 and 4294967295", spec.seed)
    problems.check(is_int(spec.max_runtime_seconds)
                   and 1 <= spec.max_runtime_seconds <= MAX_RUNTIME_SECONDS_LIMIT,
                   "max_runtime_seconds", f"must be an integer between 1 and "
                   f"{MAX_RUNTIME_SECONDS_LIMIT}", spec.max_runtime_seconds)
    problems.check(isinstance(spec.use_spot, bool), "use_spot", "must be True or False",
                   spec.use_spot)
    problems.check(isinstance(spec.enable_network_isolation, bool),
                   "enable_network_isolation", "must be True or False",
                   spec.enable_network_isolation)
    if spec.kms_key_id is not None:
        problems.check(isinstance(spec.kms_key_id, str)
                       and bool(KMS_KEY_ARN_RE.match(spec.kms_key_id)
                                or _KMS_KEY_RE.match(spec.kms_key_id)), "kms_key_id",
                       "must be a KMS key ARN, alias ARN, key ID or alias/<name>",
                       spec.kms_key_id)
    _validate_vpc(problems, spec.subnets, spec.security_group_ids)
    if spec.tuning is not None:
        _validate_tuning(problems, spec.tuning, problem_type)
    problems.raise_if_any()


def _validate_threshold(problems: Problems, threshold: Any,
                        gate: contract.GateMetric | None) -> None:
    problem = threshold_problem(threshold, gate.name if gate is not None else None)
    if problem:
        problems.add("metric_threshold", problem, threshold)


def _validate_problem_type_hyperparameters(problems: Problems, spec: PipelineSpec,
                                           problem_type: str) -> None:
    """A hyperparameter that acts on the other problem type only does nothing here: set or
    tuned, only its default is accepted."""
    hyperparameters = spec.hyperparameters if isinstance(spec.hyperparameters, Mapping) else {}
    ranges = getattr(spec.tuning, "ranges", None)
    ranges = ranges if isinstance(ranges, Mapping) else {}
    for hyperparameter in contract.HYPERPARAMETERS:
        only_for = hyperparameter.only_for
        if only_for is None or only_for.value == problem_type:
            continue
        name, default = hyperparameter.name, hyperparameter.default
        rule = f"applies to {only_for.value} only (allowed for {problem_type}: {default})"
        if name in hyperparameters:
            value = hyperparameters[name]
            problems.check(str(value) == str(default), f"hyperparameters[{name!r}]", rule,
                           value)
        tuned = ranges.get(name)
        if isinstance(tuned, CategoricalRange):
            problems.check(set(map(str, tuned.values)) <= {str(default)},
                           f"tuning.ranges[{name!r}]", rule, tuned.values)


def _validate_estimator_hyperparameters(problems: Problems, spec: PipelineSpec) -> None:
    """A hyperparameter set or tuned must be one every estimator the pipeline may fit uses
    (the spec's, or each one the tuner picks from): to another it does nothing."""
    hyperparameters = spec.hyperparameters if isinstance(spec.hyperparameters, Mapping) else {}
    ranges = getattr(spec.tuning, "ranges", None)
    ranges = ranges if isinstance(ranges, Mapping) else {}
    tuned_estimators = ranges.get(contract.ESTIMATOR_FLAG)
    estimators = (tuned_estimators.values if isinstance(tuned_estimators, CategoricalRange)
                  and isinstance(tuned_estimators.values, tuple) else (spec.estimator,))
    for where, values in (("hyperparameters", hyperparameters), ("tuning.ranges", ranges)):
        for name, value in values.items():
            unused = [contract.unused_hyperparameter_problem(estimator, name)
                      for estimator in estimators if isinstance(estimator, str)]
            problem = next((problem for problem in unused if problem), None)
            if problem and isinstance(name, str):
                problems.add(f"{where}[{name!r}]", problem, value)


def _validate_hyperparameters(problems: Problems, hyperparameters: Any) -> None:
    if not isinstance(hyperparameters, Mapping):
        problems.add("hyperparameters", "must be a mapping of name to value", hyperparameters)
        return
    for name, value in hyperparameters.items():
        where = f"hyperparameters[{name!r}]"
        if name in contract.RESERVED_HYPERPARAMETERS:
            problems.add(where, "is set by the builder (use the spec field for target, "
                         "problem_type, estimator, seed, gate_metric or tuning)", value)
        elif name not in contract.HYPERPARAMETER_TYPES:
            problems.add(where, "is not a train.py hyperparameter (allowed: "
                         + ", ".join(contract.HYPERPARAMETER_TYPES) + ")", value)
        elif name in contract.HYPERPARAMETER_PROBLEMS:
            problem = contract.HYPERPARAMETER_PROBLEMS[name](value)
            if problem:
                problems.add(where, problem, value)
        elif contract.HYPERPARAMETER_TYPES[name] is int:
            problems.check(is_int(value) and value >= 1, where, "must be an integer >= 1",
                           value)
        else:
            problems.check(_is_number(value) and value > 0, where, "must be a number > 0",
                           value)


def _validate_vpc(problems: Problems, subnets: Any, security_group_ids: Any) -> None:
    for name, values, pattern, limit, allowed in (
            ("subnets", subnets, SUBNET_RE, _MAX_SUBNETS, "a subnet ID (subnet-...)"),
            ("security_group_ids", security_group_ids, SECURITY_GROUP_RE,
             _MAX_SECURITY_GROUPS, "a security group ID (sg-...)")):
        if not isinstance(values, tuple):
            problems.add(name, "must be a tuple", values)
            continue
        problems.check(len(values) <= limit, name, f"must have at most {limit} items", values)
        for index, value in enumerate(values):
            problems.matches(f"{name}[{index}]", value, pattern, allowed)
    if isinstance(subnets, tuple) and isinstance(security_group_ids, tuple):
        problems.check(bool(subnets) == bool(security_group_ids), "subnets",
                       "and security_group_ids must be given together (a VPC needs both)",
                       {"subnets": subnets, "security_group_ids": security_group_ids})


def _validate_tuning(problems: Problems, tuning: Any, problem_type: Any) -> None:
    if not isinstance(tuning, TuningSpec):
        problems.add("tuning", "must be a TuningSpec", tuning)
        return
    problems.check(is_int(tuning.max_jobs) and 1 <= tuning.max_jobs <= _MAX_TUNING_JOBS,
                   "tuning.max_jobs", f"must be an integer between 1 and {_MAX_TUNING_JOBS}",
                   tuning.max_jobs)
    parallel_ok = (is_int(tuning.max_parallel_jobs)
                   and 1 <= tuning.max_parallel_jobs <= _MAX_PARALLEL_TUNING_JOBS)
    problems.check(parallel_ok, "tuning.max_parallel_jobs",
                   f"must be an integer between 1 and {_MAX_PARALLEL_TUNING_JOBS}",
                   tuning.max_parallel_jobs)
    if parallel_ok and is_int(tuning.max_jobs):
        problems.check(tuning.max_parallel_jobs <= tuning.max_jobs, "tuning.max_parallel_jobs",
                       f"must be <= tuning.max_jobs ({tuning.max_jobs})",
                       tuning.max_parallel_jobs)
    problems.one_of("tuning.strategy", tuning.strategy, TuningStrategy)
    if isinstance(problem_type, ProblemType) and tuning.objective_metric is not None:
        names = contract.METRIC_NAMES[contract.ProblemType(problem_type.value)]
        problems.check(contract.metric_of_tuning_name(tuning.objective_metric) in names,
                       "tuning.objective_metric", f"must be a {problem_type.value} metric ("
                       + ", ".join(names) + ", optionally prefixed 'validation:')",
                       tuning.objective_metric)
    if not isinstance(tuning.ranges, Mapping) or not tuning.ranges:
        problems.add("tuning.ranges", "must map at least one hyperparameter to a range",
                     tuning.ranges)
        return
    for name, parameter_range in tuning.ranges.items():
        _validate_range(problems, f"tuning.ranges[{name!r}]", name, parameter_range)


def _validate_range(problems: Problems, where: str, name: Any, parameter_range: Any) -> None:
    if name not in contract.TUNABLE_HYPERPARAMETERS:
        problems.add(where, "is not a tunable hyperparameter (allowed: "
                     + ", ".join(contract.TUNABLE_HYPERPARAMETERS) + ")", name)
        return
    if isinstance(parameter_range, CategoricalRange):
        values = parameter_range.values
        ok = (isinstance(values, tuple) and 1 <= len(values) <= _MAX_CATEGORICAL_VALUES
              and len(set(map(str, values))) == len(values))
        problems.check(ok, where, f"values must be a tuple of 1-{_MAX_CATEGORICAL_VALUES} "
                       "distinct values", values)
        allowed = (contract.ESTIMATORS if name == "estimator"
                   else contract.HYPERPARAMETER_CHOICES.get(name))
        if ok and allowed:
            for value in values:
                problems.check(value in allowed, where,
                               f"values must be one of {', '.join(allowed)}", value)
        return
    if name == "estimator" or name in contract.HYPERPARAMETER_CHOICES:
        problems.add(where, f"must be a CategoricalRange ({name} is a name)", parameter_range)
        return
    expected = IntegerRange if contract.HYPERPARAMETER_TYPES[name] is int else ContinuousRange
    if not isinstance(parameter_range, expected):
        problems.add(where, f"must be a {expected.__name__} or CategoricalRange",
                     parameter_range)
        return
    low, high = parameter_range.min_value, parameter_range.max_value
    number = is_int if expected is IntegerRange else _is_number
    if not (number(low) and number(high)):
        problems.add(where, "min_value and max_value must be "
                     + ("integers" if expected is IntegerRange else "finite numbers"),
                     parameter_range)
        return
    problems.check(0 < low <= high, where, "needs 0 < min_value <= max_value", parameter_range)
    problems.one_of(f"{where}.scaling", parameter_range.scaling, ScalingType)
