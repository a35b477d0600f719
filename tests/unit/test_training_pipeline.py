"""TrainingPipeline: content-addressed code, a valid definition, a least-privilege role."""

import fnmatch
import json
import shutil

import pulumi
import pytest

from mlops_components import ValidationError
from mlops_components.components.code_package import package_training_code
from mlops_components.components.training_pipeline import (
    TrainingPipeline,
    TrainingPipelineArgs,
    image_repositories,
)
from tests.conftest import only
from tests.pipeline.definition_checks import check_step_arguments, reference_problems
from training.contract import BOOTSTRAP_SCRIPT, SOURCEDIR_TARBALL

PIPELINE = "aws:sagemaker/pipeline:Pipeline"
OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
BUCKET = "stack-bucket"
#: Statements that may name "*": AWS offers no resource-level permission for these actions.
RESOURCE_WILDCARD_ALLOWED = {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData",
                             "ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission",
                             "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission",
                             "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs",
                             "ec2:DescribeDhcpOptions", "ec2:DescribeSubnets",
                             "ec2:DescribeSecurityGroups"}


def make(**overrides):
    args = TrainingPipelineArgs(bucket_name=BUCKET, model_package_group_name="churn",
                                **overrides)

    def program():
        pipeline = TrainingPipeline("churn-training", args)
        pulumi.export("code_uri", pipeline.code_uri)
        pulumi.export("role_arn", pipeline.role_arn)
    return program


@pytest.fixture(scope="module")
def default_plan():
    from mlops_components.plan import evaluate

    return evaluate(make(), project="mlops", stack="test")


def definition_of(plan):
    return json.loads(only(plan, PIPELINE).inputs["pipelineDefinition"])


def execution_policy(plan):
    """The pipeline's execution role policy (the lineage Lambda's role has its own)."""
    (policy,) = [r for r in plan.of_type(ROLE_POLICY) if r.name.endswith("-role-policy")]
    return policy


def execution_role(plan):
    (role,) = [r for r in plan.of_type("aws:iam/role:Role")
               if r.name.endswith("-role") and "-lineage-" not in r.name]
    return role


def policy_of(plan):
    return json.loads(execution_policy(plan).inputs["policy"])


def broad_statements(policy):
    """cdk-nag style: statements that allow every action, or any resource without need."""
    found = []
    for stmt in policy["Statement"]:
        if stmt["Effect"] != "Allow":
            continue
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
        if any(action == "*" or action.endswith(":*") for action in actions):
            found.append(stmt)
        elif "*" in resources and not set(actions) <= RESOURCE_WILDCARD_ALLOWED:
            found.append(stmt)
    return found


def test_definition_is_valid_for_the_apis_its_steps_call(default_plan):
    definition = definition_of(default_plan)
    assert check_step_arguments(definition) == []
    assert reference_problems(definition) == []


def code_objects(plan):
    """The code's objects: content-addressed by the code (the wheelhouse is addressed by the
    requirements instead, see tests/unit/test_job_packages.py)."""
    return [r for r in plan.of_type(OBJECT)
            if r.inputs["key"].startswith("code/") and "/wheelhouse/" not in r.inputs["key"]]


def test_code_is_uploaded_content_addressed(default_plan):
    package = package_training_code()
    keys = sorted(r.inputs["key"] for r in code_objects(default_plan))
    prefix = f"code/churn-training/{package.digest}/"
    # The bootstrap, and the whole package as one archive: two objects, not one per module.
    assert keys == sorted([prefix + BOOTSTRAP_SCRIPT, prefix + SOURCEDIR_TARBALL])
    assert default_plan.outputs["code_uri"] == f"s3://{BUCKET}/{prefix.rstrip('/')}"
    assert default_plan.outputs["code_uri"] in only(default_plan, PIPELINE).inputs[
        "pipelineDefinition"]


def test_unchanged_code_gives_the_same_definition_and_a_change_a_new_one(tmp_path,
                                                                        default_plan,
                                                                        run_pulumi):
    from mlops_components.components.code_package import TRAINING_DIR

    again = run_pulumi(make())
    assert definition_of(again) == definition_of(default_plan)

    changed_dir = tmp_path / "training"
    shutil.copytree(TRAINING_DIR, changed_dir, ignore=shutil.ignore_patterns("__pycache__"))
    changed = changed_dir / "train" / "train.py"
    changed.write_text(changed.read_text() + "\n# v2\n")
    changed = run_pulumi(make(code_dir=changed_dir))
    assert definition_of(changed) != definition_of(default_plan)
    old_keys = {r.inputs["key"] for r in code_objects(default_plan)}
    new_keys = {r.inputs["key"] for r in code_objects(changed)}
    assert old_keys.isdisjoint(new_keys)


def test_pipeline_is_created_after_its_code_and_permissions(default_plan):
    waits_for = set(only(default_plan, PIPELINE).dependencies)
    assert {r.urn for r in default_plan.of_type(OBJECT)} <= waits_for
    assert execution_policy(default_plan).urn in waits_for


def test_the_tarball_is_byte_reproducible(monkeypatch):
    import time

    first = package_training_code().tarball()
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)  # another day, another clock
    assert package_training_code().tarball() == first


def test_old_code_outlives_a_code_change(default_plan):
    """Registered packages and running executions keep pointing at the old code's keys."""
    assert all(r.retain_on_delete for r in code_objects(default_plan))


def test_the_no_champion_marker_is_championmodeluris_default(default_plan):
    """Evaluate always gets a champion input; until a model is approved it is the marker."""
    (marker,) = [r for r in default_plan.of_type(OBJECT) if not r.inputs["key"].startswith(
        "code/")]
    assert marker.inputs["key"] == "models/churn-training/no-champion/NO_CHAMPION"
    definition = definition_of(default_plan)
    (champion,) = [p for p in definition["Parameters"] if p["Name"] == "ChampionModelUri"]
    assert champion["DefaultValue"] == f"s3://{BUCKET}/models/churn-training/no-champion/"
    assert marker.urn in set(only(default_plan, PIPELINE).dependencies)


def test_role_is_assumable_by_sagemaker_in_this_account_only(default_plan):
    role = execution_role(default_plan)
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    assert "managedPolicyArns" not in role.inputs
    assert default_plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") == []


def test_policy_checker_flags_a_full_access_policy():
    """The non-compliant half of the pair: the checker catches what we must never emit."""
    full_access = {"Statement": [
        {"Effect": "Allow", "Action": ["sagemaker:*"], "Resource": ["*"]},
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["*"]},
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
    ]}
    assert len(broad_statements(full_access)) == 3


def test_execution_policy_is_least_privilege(default_plan):
    policy = policy_of(default_plan)
    assert broad_statements(policy) == []
    s3_resources = [resource for stmt in policy["Statement"] for resource in stmt["Resource"]
                    if resource.startswith("arn:aws:s3:::")]
    assert all(r == f"arn:aws:s3:::{BUCKET}" or
               r.split("/", 1)[1].split("/")[0] in {"raw", "code", "processed", "models"}
               for r in s3_resources), s3_resources
    writes = next(s for s in policy["Statement"] if s["Sid"] == "WriteOutputs")
    assert not any("/raw/" in r or "/code/" in r for r in writes["Resource"])
    register = next(s for s in policy["Statement"] if s["Sid"] == "RegisterModels")
    assert register["Resource"] == [
        "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/churn",
        "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/*"]
    pass_role = next(s for s in policy["Statement"] if s["Action"] == ["iam:PassRole"])
    assert pass_role["Resource"] == [default_plan.outputs["role_arn"]]


def unscoped_jobs(policy):
    """Resources that let the role see or stop processing/training jobs it did not start:
    any name other than the ``pipelines-*`` names SageMaker Pipelines gives its jobs."""
    found = []
    for stmt in policy["Statement"]:
        for resource in stmt.get("Resource", []):
            kind, _, job = resource.rpartition(":")[2].partition("/")
            if kind in ("processing-job", "training-job") and not job.startswith("pipelines-"):
                found.append((stmt.get("Sid"), resource))
    return found


def unconditioned_listing(policy):
    """s3:ListBucket grants without an ``s3:prefix`` condition: the whole bucket's keys."""
    return [stmt.get("Sid") for stmt in policy["Statement"]
            if stmt["Effect"] == "Allow" and "s3:ListBucket" in stmt["Action"]
            and "s3:prefix" not in stmt.get("Condition", {}).get("StringLike", {})]


def test_jobs_and_listing_are_scoped_to_the_pipelines_own(default_plan):
    policy = policy_of(default_plan)
    assert unscoped_jobs(policy) == []
    assert unconditioned_listing(policy) == []
    listing = next(s for s in policy["Statement"] if s["Sid"] == "ListBucket")
    assert listing["Condition"]["StringLike"]["s3:prefix"] == [
        "raw/*", "code/*", "processed/*", "models/*"]


def test_scope_checks_catch_account_wide_jobs_and_whole_bucket_listing():
    """The non-compliant half: the policy as it was before jobs and listing were scoped."""
    sagemaker = "arn:aws:sagemaker:us-east-1:123456789012"
    broad = {"Statement": [
        {"Sid": "WatchJobs", "Effect": "Allow",
         "Action": ["sagemaker:DescribeProcessingJob", "sagemaker:StopTrainingJob"],
         "Resource": [f"{sagemaker}:processing-job/*", f"{sagemaker}:training-job/*"]},
        {"Sid": "ListBucket", "Effect": "Allow", "Action": ["s3:ListBucket"],
         "Resource": [f"arn:aws:s3:::{BUCKET}"]},
    ]}
    assert unscoped_jobs(broad) == [("WatchJobs", f"{sagemaker}:processing-job/*"),
                                    ("WatchJobs", f"{sagemaker}:training-job/*")]
    assert unconditioned_listing(broad) == ["ListBucket"]


def test_images_pulled_are_exactly_the_definitions(default_plan):
    repositories = image_repositories(json.dumps(definition_of(default_plan)))
    assert repositories == ["683313688378/sagemaker-scikit-learn"]
    pull = next(s for s in policy_of(default_plan)["Statement"] if s["Sid"] == "PullJobImages")
    assert pull["Resource"] == [
        "arn:aws:ecr:us-east-1:683313688378:repository/sagemaker-scikit-learn"]


def s3_locations(definition):
    """Every literal s3:// location the definition's jobs read or write."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str) and node.startswith("s3://"):
            found.append(node)
    walk(definition)
    return found


def uncovered(locations, policy):
    """Locations no s3:GetObject grant of the policy covers (prefix match on the ARN)."""
    grants = [resource.removesuffix("*") for stmt in policy["Statement"]
              if stmt["Effect"] == "Allow" and "s3:GetObject" in stmt["Action"]
              for resource in stmt["Resource"]]
    return [location for location in locations
            if not any(f"arn:aws:s3:::{location.removeprefix('s3://')}".startswith(grant)
                       for grant in grants)]


def unlistable(locations, policy):
    """Locations no s3:ListBucket grant covers: bucket ARN and an ``s3:prefix`` pattern
    (``*`` wildcards) that the location's key matches, as an S3Prefix input lists it."""
    grants = [(resource, pattern) for stmt in policy["Statement"]
              if stmt["Effect"] == "Allow" and "s3:ListBucket" in stmt["Action"]
              for resource in stmt["Resource"]
              for pattern in stmt.get("Condition", {}).get("StringLike", {}).get(
                  "s3:prefix", ["*"])]
    missing = []
    for location in locations:
        bucket, _, key = location.removeprefix("s3://").partition("/")
        if not any(resource == f"arn:aws:s3:::{bucket}" and fnmatch.fnmatchcase(key, pattern)
                   for resource, pattern in grants):
            missing.append(location)
    return missing


def test_every_location_in_the_definition_is_readable_by_the_role(run_pulumi):
    plan = run_pulumi(make(input_data_uri="s3://shared-lake/churn/2026/"))
    definition = definition_of(plan)
    locations = s3_locations(definition)
    assert "s3://shared-lake/churn/2026/" in locations
    assert uncovered(locations, policy_of(plan)) == []
    assert unlistable(locations, policy_of(plan)) == []


def test_listing_check_catches_a_prefix_the_conditions_miss(default_plan):
    """The non-compliant half: a key outside every s3:prefix pattern, another bucket."""
    outside = [f"s3://{BUCKET}/reports/x/", "s3://shared-lake/churn/2026/"]
    assert unlistable(outside, policy_of(default_plan)) == outside


def test_coverage_check_catches_a_location_the_policy_misses(default_plan):
    """The non-compliant half: a location outside every grant is reported."""
    assert uncovered(["s3://shared-lake/churn/2026/"], policy_of(default_plan)) == [
        "s3://shared-lake/churn/2026/"]


def test_input_in_the_stack_bucket_needs_no_extra_grant(default_plan):
    assert "ReadInputData" not in {s["Sid"] for s in policy_of(default_plan)["Statement"]}


def test_kms_and_vpc_permissions_only_when_asked(default_plan, run_pulumi):
    sids = {s["Sid"] for s in policy_of(default_plan)["Statement"]}
    assert "UseKmsKey" not in sids and "RunJobsInVpc" not in sids
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    plan = run_pulumi(make(kms_key_arn=key, subnet_ids=["subnet-0123456789abcdef0"],
                           security_group_ids=["sg-0123456789abcdef0"]))
    statements = {s["Sid"]: s for s in policy_of(plan)["Statement"]}
    assert statements["UseKmsKey"]["Resource"] == [key]
    assert "RunJobsInVpc" in statements
    definition = only(plan, PIPELINE).inputs["pipelineDefinition"]
    assert "subnet-0123456789abcdef0" in definition and key in definition


def test_standalone_use_needs_bucket_and_group(run_pulumi):
    with pytest.raises(ValidationError) as raised:
        run_pulumi(lambda: TrainingPipeline("p", TrainingPipelineArgs()))
    assert raised.value.problems == [
        "TrainingPipeline 'p': bucket_name is required (got None)",
        "TrainingPipeline 'p': model_package_group_name is required (got None)",
    ]


@pytest.mark.parametrize(("overrides", "message"), [
    ({"training_instance_type": "m5.large"},
     "training_instance_type must be an ML instance type"),
    ({"metric_threshold": 1.5}, r"metric_threshold must be between 0.0 and 1.0 \(got 1.5\)"),
    ({"estimator": "xgboost"}, "estimator must be one of"),
    ({"subnet_ids": ["subnet-0123456789abcdef0"]}, "security_group_ids"),
    ({"kms_key_arn": "arn:aws:kms:us-east-1:123456789012:alias/mine"},
     "kms_key_arn must be a KMS key ARN"),
    ({"problem_type": "regression", "gate_metric": "rmse"},
     "metric_threshold is required for gate_metric 'rmse'"),
])
def test_bad_arguments_are_named_before_anything_is_created(run_pulumi, overrides, message):
    from mlops_components.plan import mocked_runtime

    with mocked_runtime("mlops", "test") as monitor:
        with pytest.raises(ValidationError, match=message) as raised:
            make(**overrides)()
    assert all(p.startswith("TrainingPipeline 'churn-training': ")
               for p in raised.value.problems)
    assert monitor.recorded == []
