"""The deployer's model card: written once per approved package, from its record.

Driven through `deployer.handle` with moto's SageMaker and S3 (moto implements
CreateModelCard, DescribeModelCard and UpdateModelCard; botocore validates every request
against the service model before it leaves the client). Each card's content is checked
against AWS's model card JSON schema (tests/fixtures/schemas), and the component's planned
role policy must grant exactly the card calls the deployer made, on that card's ARN.
"""

from __future__ import annotations

import fnmatch
import json
import uuid
from dataclasses import replace

import boto3
import jsonschema
import pytest
from botocore.exceptions import ClientError

from mlops_components.components.model_endpoint import (
    ModelEndpointArgs,
    _deployer_config,
    _deployer_policy,
    _validate,
    endpoint_alarm_names,
)
from mlops_components.functions import deployer
from mlops_components.functions.deployer import model_card
from mlops_components.sagemaker import spec
from mlops_components.validation import ValidationError
from tests.conftest import REPO_ROOT
from tests.serving.test_deployer import REGION, WithUpdates
from tests.serving.test_deployer_requests import (
    _DEPLOYER_CALLING,
    _THIS_CONFIGURATION,
    approval,
    counted,
)

SCHEMA = json.loads((REPO_ROOT / "tests" / "fixtures" / "schemas" /
                     "sagemaker-model-card.schema.json").read_text())
ROLE = "arn:aws:iam::123456789012:role/model"
CARD_ACTIONS = {"sagemaker:CreateModelCard", "sagemaker:UpdateModelCard",
                "sagemaker:DescribeModelCard"}


def valid_card(content: str | dict) -> dict:
    document = json.loads(content) if isinstance(content, str) else content
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    jsonschema.Draft7Validator(SCHEMA).validate(document)
    return document


@pytest.fixture
def world(moto_endpoint, monkeypatch):
    """moto clients (requests counted), a bucket, a group and an approved package with its
    metrics, drift baselines and lineage metadata."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    def client(service: str):
        return counted(boto3.client(service, region_name=REGION, endpoint_url=moto_endpoint))

    sm, s3 = WithUpdates(client("sagemaker"), moto_endpoint), client("s3")
    bucket, group = f"data-{uuid.uuid4().hex[:8]}", f"churn-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    sm.create_model_package_group(ModelPackageGroupName=group)
    key = "models/churn-training/exec-1/evaluation/evaluation.json"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps({"classification_metrics": {
        "balanced_accuracy": {"value": 0.91}, "roc_auc": {"value": 0.97},
        "accuracy": {"value": None}}}).encode())
    metadata = {spec.TRAINING_DATA_METADATA: "sha256:" + "ab" * 32,
                spec.CODE_URI_METADATA: f"s3://{bucket}/code/churn-training/0123456789abcdef",
                spec.PROBLEM_TYPE_METADATA: "classification",
                spec.GATE_METRIC_METADATA: "balanced_accuracy",
                spec.PROMOTED_FROM_METADATA: "arn:aws:sagemaker:us-east-1:111111111111:"
                                             "model-package/churn/2"}
    baselines = {part: {"ContentType": "application/json",
                        "S3Uri": f"s3://{bucket}/models/churn-training/exec-1/baseline/"
                                 f"{part.lower()}.json"} for part in ("Statistics",
                                                                      "Constraints")}
    for source in baselines.values():
        s3.put_object(Bucket=bucket, Key=source["S3Uri"].split("/", 3)[3], Body=b"{}")
    arn = sm.create_model_package(
        ModelPackageGroupName=group, ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": "image", "ModelDataUrl": f"s3://{bucket}/m.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"]},
        ModelMetrics={"ModelQuality": {"Statistics": {
            "ContentType": "application/json", "S3Uri": f"s3://{bucket}/{key}"}}},
        DriftCheckBaselines={"ModelDataQuality": baselines},
        CustomerMetadataProperties=metadata)["ModelPackageArn"]
    # moto clears the fields an update does not repeat (SageMaker keeps them)
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved",
                            ApprovalDescription="beats the champion",
                            CustomerMetadataProperties=metadata)
    return {"sm": sm, "s3": s3, "bucket": bucket, "group": group, "arn": arn,
            "metadata": metadata,
            "scaling": client("application-autoscaling"), "cloudwatch": client("cloudwatch")}


def settings_and_config(world, **endpoint):
    name = f"ep-{uuid.uuid4().hex[:8]}"
    args = ModelEndpointArgs(bucket_name="placeholder", model_package_group_name="placeholder",
                             **endpoint)
    settings = _validate(name, args)
    config = _deployer_config(settings, endpoint_alarm_names(name), {"team": "ml"}, ROLE,
                              world["bucket"], world["group"], None)
    return settings, deployer.Config.from_env(config.to_env())  # what the Lambda reads


def handle(world, config, event):
    _DEPLOYER_CALLING[0] = True
    try:
        return deployer.handle(event, config, sm=world["sm"], s3=world["s3"],
                               autoscaling=world["scaling"], cloudwatch=world["cloudwatch"])
    finally:
        _DEPLOYER_CALLING[0] = False


def test_an_approval_writes_one_card_from_the_package_record_and_duplicates_change_nothing(
        world):
    settings, config = settings_and_config(
        world, model_card=True, model_card_intended_uses="Churn risk for retention offers.")
    _THIS_CONFIGURATION.clear()

    first = handle(world, config, approval(world["arn"], world["group"]))
    again = handle(world, config, approval(world["arn"], world["group"]))

    assert first.action == "created", first
    assert first.reason.endswith("; model card created")
    assert again.reason.endswith("; model card unchanged")
    name = model_card.card_name(world["group"], 1)
    card = world["sm"].describe_model_card(ModelCardName=name)
    content = valid_card(card["Content"])
    assert card["ModelCardStatus"] == "Draft"
    assert content["model_overview"]["model_id"] == world["arn"]
    assert content["model_overview"]["problem_type"] == "classification"
    assert content["intended_uses"]["intended_uses"] == "Churn risk for retention offers."
    metrics = {m["name"]: m["value"]
               for m in content["evaluation_details"][0]["metric_groups"][0]["metric_data"]}
    assert metrics == {"balanced_accuracy": 0.91, "roc_auc": 0.97}  # n/a left out
    details = content["additional_information"]["custom_details"]
    assert details["approval_description"] == "beats the champion"
    assert details["approval_status"] == "Approved"
    assert details["promoted_from"].endswith("model-package/churn/2")
    assert "sha256:" + "ab" * 32 in content["training_details"]["training_observations"]
    # the role: exactly the card calls it made, on this card's ARN
    used = {call for call in _THIS_CONFIGURATION if call.startswith("sagemaker:")
            and "ModelCard" in call}
    assert used == {"sagemaker:DescribeModelCard", "sagemaker:CreateModelCard"}
    granted = card_grants(settings, world)
    assert set(granted) == CARD_ACTIONS
    for action in used:
        assert any(fnmatch.fnmatchcase(card["ModelCardArn"].lower(), pattern)
                   for pattern in granted[action]), (action, card["ModelCardArn"], granted)


def card_grants(settings, world) -> dict[str, list[str]]:
    policy = json.loads(_deployer_policy(
        settings, world["group"], ROLE, "arn:aws:sqs:us-east-1:123456789012:dlq",
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/d", "aws", REGION,
        "123456789012", None, world["bucket"]))
    return {action: statement["Resource"] for statement in policy["Statement"]
            for action in statement["Action"] if action in CARD_ACTIONS}


def test_a_changed_record_updates_the_card(world):
    _, config = settings_and_config(world, model_card=True)
    handle(world, config, approval(world["arn"], world["group"]))
    world["sm"].update_model_package(ModelPackageArn=world["arn"],
                                     ModelApprovalStatus="Approved",
                                     ApprovalDescription="re-approved after the audit",
                                     CustomerMetadataProperties=world["metadata"])

    outcome = handle(world, config, approval(world["arn"], world["group"]))

    assert outcome.reason.endswith("; model card updated")
    card = world["sm"].describe_model_card(ModelCardName=model_card.card_name(world["group"], 1))
    content = valid_card(card["Content"])
    assert content["additional_information"]["custom_details"]["approval_description"] == \
        "re-approved after the audit"
    assert content["intended_uses"]["intended_uses"] == model_card.INTENDED_USES_PLACEHOLDER


def test_a_create_that_loses_the_race_to_a_duplicate_event_updates(world):
    """Two deliveries of one event: both find no card, the second create is refused."""
    _, config = settings_and_config(world, model_card=True)
    name = model_card.card_name(world["group"], 1)
    world["sm"].create_model_card(ModelCardName=name, Content="{}", ModelCardStatus="Draft")

    class NotYet:
        """DescribeModelCard says "no such card" once (the other delivery's create lands
        between this one's describe and create)."""

        def __init__(self, client):
            self.client, self.hidden = client, True

        def __getattr__(self, attribute):
            return getattr(self.client, attribute)

        def describe_model_card(self, **request):
            if self.hidden:
                self.hidden = False
                raise ClientError({"Error": {"Code": "ResourceNotFound",
                                             "Message": f"Model card {name} does not exist"}},
                                  "DescribeModelCard")
            return self.client.describe_model_card(**request)

    done = model_card.write_model_card(NotYet(world["sm"]), world["s3"], world["arn"], config)

    assert done == "updated"
    valid_card(world["sm"].describe_model_card(ModelCardName=name)["Content"])


def test_an_archived_card_is_left_alone(world):
    _, config = settings_and_config(world, model_card=True)
    handle(world, config, approval(world["arn"], world["group"]))
    name = model_card.card_name(world["group"], 1)
    world["sm"].update_model_card(ModelCardName=name, ModelCardStatus="Archived")
    world["sm"].update_model_package(ModelPackageArn=world["arn"], ModelApprovalStatus="Approved",
                                     ApprovalDescription="later",
                                     CustomerMetadataProperties=world["metadata"])

    assert model_card.write_model_card(world["sm"], world["s3"], world["arn"],
                                       config) == "archived"


def test_without_model_card_no_card_and_no_permission(world):
    settings, config = settings_and_config(world)
    _THIS_CONFIGURATION.clear()

    handle(world, config, approval(world["arn"], world["group"]))

    assert not [call for call in _THIS_CONFIGURATION if "ModelCard" in call]
    assert card_grants(settings, world) == {}
    assert "MODEL_CARD" not in config.to_env()  # off: the Lambda's environment is unchanged


def test_card_names_fit_and_the_role_pattern_covers_them():
    long_group = "g" * 63
    for group in ("churn", "a-b-" * 15 + "abc", long_group):
        for version in (1, 42, 999_999):
            name = model_card.card_name(group, version)
            assert len(name) <= 63 and name.endswith(f"-v{version}")
            assert fnmatch.fnmatchcase(name, model_card.card_name_pattern(group))
            assert not fnmatch.fnmatchcase(f"{group}x-v{version}",
                                           model_card.card_name_pattern(group)) \
                or len(group) > 55  # a long group's pattern is its prefix
    assert model_card.card_name(long_group, 1) != model_card.card_name("g" * 62 + "h", 1)


def test_the_largest_record_still_fits_the_schema():
    package = {"ModelPackageArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/x/1",
               "ModelPackageGroupName": "x", "ModelPackageVersion": 1,
               "ApprovalDescription": "y" * 1024,
               "CustomerMetadataProperties": {spec.CODE_URI_METADATA: "s3://b/" + "c" * 1500}}
    metrics = {f"metric_{index}": index / 100 for index in range(80)}

    content = valid_card(model_card.card_content(package, metrics, "z" * 2048))

    assert len(content["evaluation_details"][0]["metric_groups"][0]["metric_data"]) == 50


def test_intended_uses_beyond_the_schema_are_refused_at_construction():
    with pytest.raises(ValidationError, match="model_card_intended_uses must be at most 2048 "
                                              r"characters long .* \(got 2049\)"):
        _validate("churn", ModelEndpointArgs(bucket_name="b", model_package_group_name="g",
                                             model_card=True,
                                             model_card_intended_uses="x" * 2049))
    with pytest.raises(deployer.ConfigError, match="MODEL_CARD_INTENDED_USES"):
        deployer.Config.from_env({**replace(
            deployer.Config("e", "g", ROLE), model_card=True).to_env(),
            "MODEL_CARD_INTENDED_USES": "x" * 2049})


def test_the_deployer_reads_the_metadata_keys_the_registration_writes():
    """The Lambda imports nothing of the SDK, so it spells the keys: they must agree."""
    assert model_card._METADATA == {
        "training_data": spec.TRAINING_DATA_METADATA, "code_uri": spec.CODE_URI_METADATA,
        "eda_report": spec.EDA_REPORT_METADATA, "problem_type": spec.PROBLEM_TYPE_METADATA,
        "target_column": spec.TARGET_COLUMN_METADATA,
        "gate_metric": spec.GATE_METRIC_METADATA,
        "promoted_from": spec.PROMOTED_FROM_METADATA, "promoted_by": spec.PROMOTED_BY_METADATA,
        "promoted_at": spec.PROMOTED_AT_METADATA,
        "promotion_reason": spec.PROMOTION_REASON_METADATA}


def test_the_lambdas_metadata_keys_are_the_sdks():
    """The deployer cannot import the SDK, so it spells the keys itself: the same strings."""
    from mlops_components.sagemaker import spec

    assert model_card._METADATA == {
        "training_data": spec.TRAINING_DATA_METADATA, "code_uri": spec.CODE_URI_METADATA,
        "eda_report": spec.EDA_REPORT_METADATA, "problem_type": spec.PROBLEM_TYPE_METADATA,
        "target_column": spec.TARGET_COLUMN_METADATA, "gate_metric": spec.GATE_METRIC_METADATA,
        "promoted_from": spec.PROMOTED_FROM_METADATA, "promoted_by": spec.PROMOTED_BY_METADATA,
        "promoted_at": spec.PROMOTED_AT_METADATA,
        "promotion_reason": spec.PROMOTION_REASON_METADATA}


def test_a_card_the_role_may_not_write_leaves_the_deployment_done_and_says_why(world):
    """A refused card (a permission, a quota) must not fail the invocation: Lambda would
    retry and dead-letter an approval whose endpoint was deployed."""
    _, config = settings_and_config(world, model_card=True)

    class Refusing:
        def __init__(self, client):
            self.client = client

        def __getattr__(self, attribute):
            return getattr(self.client, attribute)

        def create_model_card(self, **request):
            raise ClientError({"Error": {"Code": "AccessDeniedException",
                                         "Message": "not authorized to CreateModelCard"}},
                              "CreateModelCard")

    world_refusing = {**world, "sm": Refusing(world["sm"])}
    outcome = handle(world_refusing, config, approval(world["arn"], world["group"]))

    assert outcome.action == "created", outcome  # the endpoint's part happened
    assert outcome.reason.endswith(
        "; model card not written (AccessDeniedException: not authorized to CreateModelCard)")
    name = model_card.card_name(world["group"], 1)
    with pytest.raises(ClientError):
        world["sm"].describe_model_card(ModelCardName=name)
