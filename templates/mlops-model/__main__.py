"""Example program: one model's whole MLOps loop, configured by the stack's Pulumi config."""

import pulumi

from mlops_components import MlopsStack, MlopsStackArgs, config_from_pulumi

config = config_from_pulumi()
stack = MlopsStack(config.model_name, MlopsStackArgs.from_config(config))

pulumi.export("bucket_name", stack.bucket_name)
pulumi.export("model_package_group_name", stack.model_package_group_name)
pulumi.export("approval_event_pattern", stack.approval_event_pattern)
pulumi.export("pipeline_name", stack.pipeline_name)
pulumi.export("pipeline_arn", stack.pipeline_arn)
pulumi.export("alarm_names", stack.alarm_names)
pulumi.export("retrain_rule_names", stack.retrain_rule_names)
pulumi.export("endpoint_name", stack.endpoint_name)
pulumi.export("batch_pipeline_name", stack.batch_pipeline_name)
