"""SageMaker-side code without Pulumi: the pipeline spec, its builder, requirements."""
