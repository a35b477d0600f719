"""The Pulumi component resources, one module each, and what they share (IAM, tags, code)."""
