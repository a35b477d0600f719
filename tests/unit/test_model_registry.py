"""ModelRegistry: the group, cross-account read, and the approval pattern."""

import json

import pulumi
import pytest

from mlops_components import ModelRegistry, ModelRegistryArgs, ValidationError
from tests.conftest import only

GROUP = "aws:sagemaker/modelPackageGroup:ModelPackageGroup"
GROUP_POLICY = "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy"


def make(args=None):
    def program():
        registry = ModelRegistry("churn", args)
        pulumi.export("arn", registry.arn)
        pulumi.export("pattern", registry.approval_event_pattern)
    return program


def test_group_is_named_after_the_component_and_parented(run_pulumi):
    plan = run_pulumi(make())
    group = only(plan, GROUP)
    assert group.inputs["modelPackageGroupName"] == "churn"
    assert group.parent == only(plan, "mlops:index:ModelRegistry").urn
    assert group.inputs["tags"]["managed-by"] == "mlops-components"


def test_no_resource_policy_without_reader_accounts(run_pulumi):
    assert run_pulumi(make()).of_type(GROUP_POLICY) == []


def test_reader_accounts_get_read_only_access_to_this_group(run_pulumi):
    plan = run_pulumi(make(ModelRegistryArgs(reader_account_ids=["210987654321",
                                                                 "111122223333"])))
    policy = json.loads(only(plan, GROUP_POLICY).inputs["resourcePolicy"])
    (grant,) = policy["Statement"]
    assert grant["Effect"] == "Allow"
    assert grant["Principal"] == {"AWS": ["arn:aws:iam::111122223333:root",
                                          "arn:aws:iam::210987654321:root"]}
    assert all(action.startswith(("sagemaker:Describe", "sagemaker:List"))
               for action in grant["Action"])
    group_arn = plan.outputs["arn"]
    assert grant["Resource"] == [
        group_arn, group_arn.replace(":model-package-group/", ":model-package/") + "/*"]


def test_approval_pattern_matches_approved_packages_of_this_group_only(run_pulumi):
    pattern = json.loads(run_pulumi(make()).outputs["pattern"])
    assert pattern == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": ["churn"], "ModelApprovalStatus": ["Approved"],
                   "ModelPackageStatus": ["Completed"]},
    }


@pytest.mark.parametrize(("args", "message"), [
    (ModelRegistryArgs(reader_account_ids=["1234"]),
     r"ModelRegistry 'churn': reader_account_ids\[0\] must be a 12-digit AWS account ID "
     r"\(got '1234'\)"),
    (ModelRegistryArgs(model_package_group_name="bad_name!"),
     r"model_package_group_name must be 1-63 letters, digits and hyphens.*'bad_name!'"),
])
def test_invalid_input_is_named(run_pulumi, args, message):
    with pytest.raises(ValidationError, match=message):
        run_pulumi(make(args))
