"""Raw pulumi-aws resources for the policy tests: compliant by default, each knob breaks one
rule (the cdk-nag habit: a compliant and a non-compliant case per rule)."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

TAGS = {"owner": "ml-platform", "model": "churn", "managed-by": "platform-team"}
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/jobs"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
#: AWS's scikit-learn image in us-east-1 (an allowed registry by default).
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"
FOREIGN_IMAGE = "docker.io/library/python:3.12"
SUBNETS = ["subnet-0123456789abcdef0"]
VPC = {"Subnets": SUBNETS, "SecurityGroupIds": ["sg-0123456789abcdef0"]}


def deny_insecure_transport(arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})


def bucket(name: str = "data", *, sse: str | None = "aws:kms",
           blocks: dict[str, bool] | None = None, public_access_block: bool = True,
           tls: bool = True, versioning: str | None = "Enabled",
           lifecycle: tuple[str, ...] = ("capture/", "reports/"), capture_days: int = 30,
           tags: dict[str, str] | None = TAGS) -> aws.s3.Bucket:
    """A bucket and its separate configuration resources, as DataBucket makes them."""
    data = aws.s3.Bucket(name, tags=tags)
    if sse:
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-sse", bucket=data.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": sse}}])
    if public_access_block:
        flags = {"block_public_acls": True, "block_public_policy": True,
                 "ignore_public_acls": True, "restrict_public_buckets": True,
                 **(blocks or {})}
        aws.s3.BucketPublicAccessBlock(f"{name}-public-access", bucket=data.id, **flags)
    policy = (deny_insecure_transport if tls else
              lambda arn: json.dumps({"Version": "2012-10-17", "Statement": []}))
    aws.s3.BucketPolicy(f"{name}-policy", bucket=data.id, policy=data.arn.apply(policy))
    if versioning:
        aws.s3.BucketVersioning(f"{name}-versioning", bucket=data.id,
                                versioning_configuration={"status": versioning})
    if lifecycle:
        aws.s3.BucketLifecycleConfiguration(f"{name}-lifecycle", bucket=data.id, rules=[
            {"id": f"expire-{prefix.strip('/')}", "status": "Enabled",
             "filter": {"prefix": prefix},
             "expiration": {"days": capture_days if prefix == "capture/" else 30}}
            for prefix in lifecycle])
    return data


def role_policy(*statements: dict[str, Any], name: str = "jobs") -> aws.iam.Role:
    role = aws.iam.Role(name, tags=TAGS, assume_role_policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"Service": "sagemaker.amazonaws.com"}}]}))
    aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=json.dumps(
        {"Version": "2012-10-17", "Statement": list(statements)}))
    return role


def processing(name: str = "Preprocess", *, isolated: Any = True, image: Any = IMAGE,
               vpc: dict | None = None, kms: str | None = None) -> dict[str, Any]:
    network: dict[str, Any] = {"EnableNetworkIsolation": isolated}
    if vpc:
        network["VpcConfig"] = vpc
    cluster: dict[str, Any] = {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                               "VolumeSizeInGB": 30}
    outputs: dict[str, Any] = {"Outputs": []}
    if kms:
        cluster["VolumeKmsKeyId"] = kms
        outputs["KmsKeyId"] = kms
    return {"Name": name, "Type": "Processing", "Arguments": {
        "AppSpecification": {"ImageUri": image}, "NetworkConfig": network,
        "ProcessingResources": {"ClusterConfig": cluster}, "ProcessingOutputConfig": outputs,
        "RoleArn": ROLE_ARN, "StoppingCondition": {"MaxRuntimeInSeconds": 3600}}}


def training_job(*, isolated: Any = True, spot: bool = True, image: Any = IMAGE,
                 vpc: dict | None = None, kms: str | None = None) -> dict[str, Any]:
    job: dict[str, Any] = {
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "EnableNetworkIsolation": isolated, "EnableManagedSpotTraining": spot,
        "OutputDataConfig": {"S3OutputPath": "s3://data/models/"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                           "VolumeSizeInGB": 30},
        "RoleArn": ROLE_ARN,
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}}
    if vpc:
        job["VpcConfig"] = vpc
    if kms:
        job["ResourceConfig"]["VolumeKmsKeyId"] = kms
        job["OutputDataConfig"]["KmsKeyId"] = kms
    return job


def training(name: str = "Train", **job: Any) -> dict[str, Any]:
    return {"Name": name, "Type": "Training", "Arguments": training_job(**job)}


def tuning(name: str = "Tune", **job: Any) -> dict[str, Any]:
    return {"Name": name, "Type": "Tuning", "Arguments": {
        "HyperParameterTuningJobConfig": {"Strategy": "Bayesian"},
        "TrainingJobDefinition": training_job(**job)}}


def register(image: Any = IMAGE) -> dict[str, Any]:
    return {"Name": "Register", "Type": "RegisterModel", "Arguments": {
        "ModelPackageGroupName": "churn",
        "InferenceSpecification": {"Containers": [{"Image": image}]}}}


def gate(*if_steps: dict[str, Any]) -> dict[str, Any]:
    """A condition step whose branch holds ``if_steps`` (rules look inside branches)."""
    return {"Name": "QualityGate", "Type": "Condition",
            "Arguments": {"Conditions": [], "IfSteps": list(if_steps), "ElseSteps": []}}


def pipeline(*steps: dict[str, Any], name: str = "training",
             tags: dict[str, str] | None = TAGS) -> aws.sagemaker.Pipeline:
    return aws.sagemaker.Pipeline(
        name, pipeline_name=name, pipeline_display_name=name, role_arn=ROLE_ARN, tags=tags,
        pipeline_definition=json.dumps({"Version": "2020-12-01", "Parameters": [],
                                        "Steps": list(steps)}))


def model(*, isolated: bool = True, image: str = IMAGE,
          vpc: bool = False) -> aws.sagemaker.Model:
    return aws.sagemaker.Model(
        "model", execution_role_arn=ROLE_ARN, primary_container={"image": image},
        enable_network_isolation=isolated, tags=TAGS,
        vpc_config={"subnets": SUBNETS, "security_group_ids": VPC["SecurityGroupIds"]}
        if vpc else None)


def endpoint_config(*, serverless: bool = False, capture: bool = True,
                    kms: str | None = None) -> aws.sagemaker.EndpointConfiguration:
    variant: dict[str, Any] = {"variant_name": "AllTraffic", "model_name": "model"}
    if serverless:
        variant["serverless_config"] = {"max_concurrency": 5, "memory_size_in_mb": 2048}
    else:
        variant.update(instance_type="ml.m5.large", initial_instance_count=1)
    return aws.sagemaker.EndpointConfiguration(
        "endpoint-config", production_variants=[variant], kms_key_arn=kms, tags=TAGS,
        data_capture_config={
            "enable_capture": True, "initial_sampling_percentage": 20,
            "destination_s3_uri": "s3://data/capture",
            "capture_options": [{"capture_mode": "Input"}, {"capture_mode": "Output"}],
        } if capture else None)


def function(name: str = "gate", *, dlq: bool = True, on_failure: bool = False,
             log_group: bool = True, retention: int | None = 30) -> aws.lambda_.Function:
    queue = aws.sqs.Queue(f"{name}-dlq", sqs_managed_sse_enabled=True, tags=TAGS)
    handler = aws.lambda_.Function(
        name, name=name, role=f"arn:aws:iam::{ACCOUNT}:role/{name}", runtime="python3.12",
        handler="handler.handler", tags=TAGS,
        code=pulumi.AssetArchive({"handler.py": pulumi.StringAsset("def handler(e, c): pass")}),
        dead_letter_config={"target_arn": queue.arn} if dlq else None)
    if on_failure:
        aws.lambda_.FunctionEventInvokeConfig(
            f"{name}-retries", function_name=handler.name, maximum_retry_attempts=2,
            destination_config={"on_failure": {"destination": queue.arn}})
    if log_group:
        aws.cloudwatch.LogGroup(f"{name}-logs", name=f"/aws/lambda/{name}",
                                retention_in_days=retention, tags=TAGS)
    return handler


def event_target(*, retry: bool = True, dlq: bool = True) -> aws.cloudwatch.EventTarget:
    rule = aws.cloudwatch.EventRule("retrain", schedule_expression="rate(1 day)", tags=TAGS)
    queue = aws.sqs.Queue("retrain-dlq", sqs_managed_sse_enabled=True, tags=TAGS)
    return aws.cloudwatch.EventTarget(
        "retrain-target", rule=rule.name, arn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:gate",
        retry_policy={"maximum_retry_attempts": 3, "maximum_event_age_in_seconds": 3600}
        if retry else None,
        dead_letter_config={"arn": queue.arn} if dlq else None)
