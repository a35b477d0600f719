"""The Pulumi component resources, one module each, and what they share (IAM, tags, code)."""

from mlops_components.components.lazy_aws import load_services_lazily

load_services_lazily()  # before any component touches a pulumi_aws service package
