"""Code that runs in AWS Lambda: boto3 and the standard library only.

Nothing here imports the rest of the package (an import-linter contract checks it), so each
module can be packaged alone as a function's code.
"""
