"""mlops-components: Pulumi component resources for the MLOps lifecycle on AWS SageMaker."""
