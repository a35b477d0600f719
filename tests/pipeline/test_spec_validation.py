"""Every spec rule rejects a bad value with a message naming field, value and what is allowed.

Validation runs before the SDK is imported, so these tests need no SageMaker at all.
"""

from __future__ import annotations

import math

import pytest

from mlops_components.components.training_pipeline import DEFAULT_TUNING_RANGES
from mlops_components.sagemaker.builder import build_pipeline_definition
from mlops_components.sagemaker.spec import (
    CategoricalRange,
    ContinuousRange,
    IntegerRange,
    TuningSpec,
)
from mlops_components.sagemaker.validate import validate_pipeline_spec
from mlops_components.validation import ValidationError
from tests.pipeline.conftest import TUNING, VARIANTS, make_spec


def tuning(**overrides):
    values = {"max_jobs": 4, "max_parallel_jobs": 2,
              "ranges": {"max-depth": IntegerRange(2, 6)}, **overrides}
    return TuningSpec(**values)


INVALID = [
    ({"pipeline_name": "bad_name!"}, r"pipeline_name must be 1-63 letters.*\(got 'bad_name!'\)"),
    ({"pipeline_name": "p" * 64}, r"pipeline_name must be 1-63"),
    ({"role_arn": "pipeline-role"}, r"role_arn must be an IAM role ARN.*'pipeline-role'"),
    ({"role_arn": "arn:aws:iam::123:role/x"}, r"role_arn must be an IAM role ARN"),
    ({"bucket": "My_Bucket"}, r"bucket must be an S3 bucket name.*'My_Bucket'"),
    ({"region": "europe"}, r"region must be an AWS region.*'europe'"),
    ({"region": "xx-nowhere-9"}, r"region must be a region with the SageMaker scikit-learn"),
    ({"code_uri": "/tmp/code"}, r"code_uri must be an s3://<bucket>/<prefix> URI.*'/tmp/code'"),
    ({"input_data_uri": "https://example.com/data.csv"}, r"input_data_uri must be an s3://"),
    ({"model_package_group_name": "group name"}, r"model_package_group_name must be 1-63"),
    ({"target_column": "  "}, r"target_column must be a non-empty column name"),
    ({"problem_type": "clustering"},
     r"problem_type must be one of 'classification', 'regression' \(got 'clustering'\)"),
    ({"approval_status": "Maybe"}, r"approval_status must be one of 'PendingManualApproval'"),
    ({"gate_metric": "rmse"}, r"gate_metric must be a classification metric "
                              r"\(accuracy, balanced_accuracy, f1, roc_auc\) \(got 'rmse'\)"),
    ({"baseline_margin": math.inf}, r"baseline_margin must be a finite number"),
    ({"champion_margin": "0"}, r"champion_margin must be a finite number \(got '0'\)"),
    ({"champion_model_uri": "models/champion"}, r"champion_model_uri must be an s3://"),
    ({"leak_policy": "ignore"}, r"leak_policy must be one of stop, drop, proceed"),
    ({"target_column": "churned", "split_key": "churned"},
     r"split_key must be an ID column, not the target \(got 'churned'\)"),
    ({"target_column": "churned", "split_time": "churned"},
     r"split_time must be a date column, not the target \(got 'churned'\)"),
    ({"split_key": "customer_id", "split_time": "order_date"},
     r"split_time must be empty or 'none' when split_key is set"),
    ({"metric_threshold": 1.5}, r"metric_threshold must be between 0.0 and 1.0 \(got 1.5\)"),
    ({"metric_threshold": -0.1}, r"metric_threshold must be between 0.0 and 1.0"),
    ({"metric_threshold": math.nan}, r"metric_threshold must be a finite number"),
    ({"metric_threshold": "0.8"}, r"metric_threshold must be a finite number \(got '0.8'\)"),
    ({"problem_type": "regression", "gate_metric": "rmse", "metric_threshold": -1.0},
     r"metric_threshold must be >= 0.0 \(got -1.0\)"),
    ({"problem_type": "regression", "gate_metric": "r2", "metric_threshold": 1.2},
     r"metric_threshold must be <= 1.0 for r2"),
    ({"processing_instance_type": "m5.xlarge"},
     r"processing_instance_type must be an ML instance type.*'m5.xlarge'"),
    ({"training_instance_type": "ml.m5"}, r"training_instance_type must be an ML instance"),
    ({"evaluation_instance_type": ""}, r"evaluation_instance_type must be an ML instance"),
    ({"processing_instance_count": 0}, r"processing_instance_count must be an integer >= 1 "
                                       r"and <= 100 \(got 0\)"),
    ({"processing_instance_count": 101}, r"processing_instance_count must be an integer >= 1 "
                                         r"and <= 100 \(got 101\)"),
    ({"processing_instance_count": 1.5}, r"processing_instance_count must be an integer >= 1"),
    ({"inference_instance_types": ()}, r"inference_instance_types must be a non-empty tuple"),
    ({"inference_instance_types": ["ml.m5.large"]},
     r"inference_instance_types must be a non-empty tuple"),
    ({"inference_instance_types": ("ml.m5.large", "t2.micro")},
     r"inference_instance_types\[1\] must be an ML instance type.*'t2.micro'"),
    ({"hyperparameters": {"n-estimators": 0}},
     r"hyperparameters\['n-estimators'\] must be an integer >= 1 \(got 0\)"),
    ({"hyperparameters": {"learning-rate": -0.1}},
     r"hyperparameters\['learning-rate'\] must be a number > 0"),
    ({"hyperparameters": {"epochs": 3}},
     r"hyperparameters\['epochs'\] is not a train.py hyperparameter \(allowed: n-estimators"),
    ({"hyperparameters": {"target": "y"}}, r"hyperparameters\['target'\] is set by the builder"),
    ({"hyperparameters": {"gate-metric": "f1"}},
     r"hyperparameters\['gate-metric'\] is set by the builder"),
    ({"hyperparameters": {"class-weight": "auto"}},
     r"hyperparameters\['class-weight'\] must be one of balanced, none \(got 'auto'\)"),
    ({"hyperparameters": {"decision-threshold": 1.0}},
     r"hyperparameters\['decision-threshold'\] must be auto, none or a probability strictly "
     r"between 0 and 1 \(got 1.0\)"),
    ({"hyperparameters": {"sagemaker_program": "x.py"}},
     r"hyperparameters\['sagemaker_program'\] is set by the builder"),
    ({"estimator": "xgboost"}, r"estimator must be one of 'gradient_boosting'.*'xgboost'"),
    ({"seed": -1}, r"seed must be an integer between 0 and 4294967295 \(got -1\)"),
    ({"max_runtime_seconds": 0}, r"max_runtime_seconds must be an integer between 1 and 432000"),
    ({"max_runtime_seconds": 10 * 24 * 3600}, r"max_runtime_seconds must be an integer"),
    ({"use_spot": "yes"}, r"use_spot must be True or False \(got 'yes'\)"),
    ({"enable_network_isolation": None}, r"enable_network_isolation must be True or False"),
    ({"kms_key_id": "my-key"}, r"kms_key_id must be a KMS key ARN, alias ARN, key ID or "
                               r"alias/<name> \(got 'my-key'\)"),
    ({"subnets": ("subnet-0123456789abcdef0",)},
     r"subnets and security_group_ids must be given together"),
    ({"security_group_ids": ("sg-0123456789abcdef0",)},
     r"subnets and security_group_ids must be given together"),
    ({"subnets": ("vpc-123",), "security_group_ids": ("sg-0123456789abcdef0",)},
     r"subnets\[0\] must be a subnet ID \(subnet-...\) \(got 'vpc-123'\)"),
    ({"subnets": ("subnet-0123456789abcdef0",), "security_group_ids": ("default",)},
     r"security_group_ids\[0\] must be a security group ID"),
    ({"subnets": ["subnet-0123456789abcdef0"], "security_group_ids": ("sg-0123456789abcdef0",)},
     r"subnets must be a tuple"),
    ({"subnets": tuple(f"subnet-{i:017x}" for i in range(17)),
      "security_group_ids": ("sg-0123456789abcdef0",)}, r"subnets must have at most 16 items"),
    ({"tuning": {"max_jobs": 4}}, r"tuning must be a TuningSpec"),
    ({"tuning": tuning(max_jobs=0)}, r"tuning.max_jobs must be an integer between 1 and 500"),
    ({"tuning": tuning(max_parallel_jobs=0)},
     r"tuning.max_parallel_jobs must be an integer between 1 and 100 \(got 0\)"),
    ({"tuning": tuning(max_jobs=2, max_parallel_jobs=3)},
     r"tuning.max_parallel_jobs must be <= tuning.max_jobs \(2\) \(got 3\)"),
    ({"tuning": tuning(strategy="Grid")}, r"tuning.strategy must be one of 'Bayesian', 'Random'"),
    ({"tuning": tuning(objective_metric="rmse")},
     r"tuning.objective_metric must be a classification metric.*\(got 'rmse'\)"),
    ({"tuning": tuning(ranges={})}, r"tuning.ranges must map at least one hyperparameter"),
    ({"tuning": tuning(ranges={"epochs": IntegerRange(1, 5)})},
     r"tuning.ranges\['epochs'\] is not a tunable hyperparameter \(allowed: n-estimators"),
    ({"tuning": tuning(ranges={"max-depth": IntegerRange(8, 2)})},
     r"tuning.ranges\['max-depth'\] needs 0 < min_value <= max_value"),
    ({"tuning": tuning(ranges={"max-depth": ContinuousRange(2.0, 8.0)})},
     r"tuning.ranges\['max-depth'\] must be a IntegerRange or CategoricalRange"),
    ({"tuning": tuning(ranges={"learning-rate": ContinuousRange(0.0, 0.3)})},
     r"tuning.ranges\['learning-rate'\] needs 0 < min_value <= max_value"),
    ({"tuning": tuning(ranges={"learning-rate": ContinuousRange(0.01, math.inf)})},
     r"tuning.ranges\['learning-rate'\] min_value and max_value must be finite numbers"),
    ({"tuning": tuning(ranges={"max-depth": IntegerRange(2, 6, scaling="Cubic")})},
     r"tuning.ranges\['max-depth'\].scaling must be one of 'Auto', 'Linear'"),
    ({"tuning": tuning(ranges={"estimator": IntegerRange(1, 2)})},
     r"tuning.ranges\['estimator'\] must be a CategoricalRange"),
    ({"tuning": tuning(ranges={"estimator": CategoricalRange(("svm",))})},
     r"tuning.ranges\['estimator'\] values must be one of gradient_boosting.*\(got 'svm'\)"),
    ({"tuning": tuning(ranges={"target-transform": CategoricalRange(("log",))})},
     r"tuning.ranges\['target-transform'\] values must be one of none, quantile \(got 'log'\)"),
    ({"tuning": tuning(ranges={"target-transform": IntegerRange(1, 2)})},
     r"tuning.ranges\['target-transform'\] must be a CategoricalRange"),
    ({"hyperparameters": {"target-transform": "log"}},
     r"hyperparameters\['target-transform'\] must be one of none, quantile \(got 'log'\)"),
    ({"tuning": tuning(ranges={"target-transform": CategoricalRange(("none", "quantile"))})},
     r"tuning.ranges\['target-transform'\] applies to regression only"),
    ({"hyperparameters": {"target-transform": "quantile"}},
     r"hyperparameters\['target-transform'\] applies to regression only \(allowed for "
     r"classification: none\) \(got 'quantile'\)"),
    ({"problem_type": "regression", "gate_metric": "r2",
      "hyperparameters": {"class-weight": "none"}},
     r"hyperparameters\['class-weight'\] applies to classification only \(allowed for "
     r"regression: balanced\) \(got 'none'\)"),
    ({"problem_type": "regression", "gate_metric": "r2",
      "hyperparameters": {"decision-threshold": "0.3"}},
     r"hyperparameters\['decision-threshold'\] applies to classification only \(allowed "
     r"for regression: auto\) \(got '0.3'\)"),
    ({"tuning": tuning(ranges={"max-depth": CategoricalRange((3, 3))})},
     r"tuning.ranges\['max-depth'\] values must be a tuple of 1-30 distinct values"),
    ({"estimator": "random_forest", "hyperparameters": {"learning-rate": 0.05}},
     r"hyperparameters\['learning-rate'\] is not used by random_forest \(it uses: "
     r"n-estimators, max-depth\) \(got 0.05\)"),
    ({"estimator": "linear", "tuning": tuning()},
     r"tuning.ranges\['max-depth'\] is not used by linear \(it uses: alpha\) "
     r"\(got IntegerRange"),
    ({"hyperparameters": {"alpha": 0.5}},
     r"hyperparameters\['alpha'\] is not used by hist_gradient_boosting \(it uses: "
     r"n-estimators, learning-rate, max-depth\)"),
    ({"tuning": tuning(ranges={"learning-rate": ContinuousRange(0.01, 0.3),
                               "estimator": CategoricalRange(("gradient_boosting",
                                                              "random_forest"))})},
     r"tuning.ranges\['learning-rate'\] is not used by random_forest"),
    ({"hyperparameters": {"alpha": 0}}, r"hyperparameters\['alpha'\] must be a number > 0"),
]


@pytest.mark.parametrize("overrides, message", INVALID,
                         ids=[next(iter(overrides)) + f"-{index}"
                              for index, (overrides, _) in enumerate(INVALID)])
def test_invalid_spec_is_rejected_with_field_value_and_allowed(overrides, message):
    spec = make_spec(**overrides)
    with pytest.raises(ValueError, match=message):
        build_pipeline_definition(spec)


def test_every_problem_is_reported_at_once():
    spec = make_spec(pipeline_name="bad name", processing_instance_count=0, seed=-1,
                     tuning=tuning(max_jobs=1, max_parallel_jobs=2))
    with pytest.raises(ValidationError) as caught:
        validate_pipeline_spec(spec)
    fields = [problem.split(": ", 1)[1].split(" ", 1)[0] for problem in caught.value.problems]
    assert fields == ["pipeline_name", "processing_instance_count", "seed",
                      "tuning.max_parallel_jobs"]
    assert all(problem.startswith("PipelineSpec 'bad name': ")
               for problem in caught.value.problems)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_valid_specs_pass(variant):
    validate_pipeline_spec(make_spec(**VARIANTS[variant]))


def test_valid_edge_values_pass():
    validate_pipeline_spec(make_spec(
        kms_key_id="0a1b2c3d-4e5f-6789-abcd-ef0123456789", metric_threshold=1,
        problem_type="classification", approval_status="Approved",
        tuning=TuningSpec(max_jobs=1, max_parallel_jobs=1, objective_metric="validation:f1",
                          ranges=TUNING.ranges)))


def test_specs_are_hashable_values():
    specs = {make_spec(**overrides) for overrides in VARIANTS.values()}
    assert len(specs) == len(VARIANTS)
    assert make_spec(**VARIANTS["tuning"]) in specs


@pytest.mark.parametrize("estimator", sorted(DEFAULT_TUNING_RANGES))
def test_each_estimators_default_tuning_ranges_pass_for_it(estimator):
    validate_pipeline_spec(make_spec(estimator=estimator, tuning=TuningSpec(
        max_jobs=4, max_parallel_jobs=2, ranges=DEFAULT_TUNING_RANGES[estimator])))
