"""Code that runs in AWS Lambda: boto3 and the standard library only, nothing of the project."""
