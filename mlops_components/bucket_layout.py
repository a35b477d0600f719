"""The data bucket's layout and retention defaults: what every component and the runtime share.

Bottom layer: the pipeline builder, the components and the local runtime all read these.
"""

from __future__ import annotations

#: Well-known key prefixes; every component and the local runtime agree on these.
PREFIXES: dict[str, str] = {
    "raw": "raw/",
    "processed": "processed/",
    "code": "code/",
    "models": "models/",
    "reports": "reports/",
    "capture": "capture/",
    "batch_input": "batch/input/",
    "batch_output": "batch/output/",
}

DEPLOYED_BASELINE_FOLDER = "deployed-baseline"


def deployed_baseline_uri(bucket: str, model: str) -> str:
    """Where the drift baseline of the model an endpoint serves lives: the endpoint's deployer
    copies the approved package's baseline here, the monitor reads it (its default
    BaselineUri)."""
    return f"s3://{bucket}/{PREFIXES['models']}{model}/{DEPLOYED_BASELINE_FOLDER}/"


DEFAULT_CAPTURE_RETENTION_DAYS = 30
DEFAULT_REPORT_RETENTION_DAYS = 365
DEFAULT_BATCH_INPUT_RETENTION_DAYS = 7
"""Batches to score are kept a week: a scheduled run scores what batch/input/ holds."""
DEFAULT_BATCH_OUTPUT_RETENTION_DAYS = 90
DEFAULT_NONCURRENT_VERSION_RETENTION_DAYS = 30
MIN_RETENTION_DAYS = 1
MAX_RETENTION_DAYS = 3650
