"""Lambda: the training pipeline's ``RecordLineage`` step writes which data an execution reads.

Processing jobs run network-isolated and see their input as files, without S3 version IDs;
this step (a LambdaStep at the execution's start) lists the versions under the execution's
``InputDataUri`` (the bucket is versioned) and writes a lineage manifest, JSON, under the
execution's models prefix:

``{"execution_arn", "input_uri", "recorded_at", "objects": [{"uri", "version_id", "etag",
"bytes", "last_modified"}]}``

one entry per object current now (the latest version that is not a delete marker). The
Register step names the manifest in the package's CustomerMetadataProperties
(``mlops:lineage-uri``; values there are limited to 256 characters, so the list lives in S3).
Returns ``{"manifest_uri", "objects"}`` (the step's outputs).

boto3 + standard library only; imports nothing of mlops_components or training.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

MANIFEST_OUTPUT = "manifest_uri"
OBJECTS_OUTPUT = "objects"
INPUT_URI_INPUT = "input_uri"
EXECUTION_INPUT = "execution_arn"


@dataclass
class Clients:
    """The AWS clients the function calls (boto3's, or a local stand-in with the same methods)."""

    s3: Any = None


def split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def current_objects(s3: Any, input_uri: str) -> list[dict[str, Any]]:
    """Every object under the prefix as it is now: its latest version, unless deleted."""
    bucket, prefix = split_uri(input_uri)
    objects = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket,
                                                                   Prefix=prefix):
        objects += [{"uri": f"s3://{bucket}/{version['Key']}",
                     "version_id": version.get("VersionId") or "null",
                     "etag": str(version.get("ETag", "")).strip('"'),
                     "bytes": version.get("Size"),
                     "last_modified": str(version.get("LastModified", ""))}
                    for version in page.get("Versions", [])
                    if version.get("IsLatest") and not version["Key"].endswith("/")]
    return sorted(objects, key=lambda item: item["uri"])


def record(inputs: dict[str, Any], clients: Clients) -> dict[str, str]:
    """List the input's current versions and write the manifest; the step's outputs."""
    input_uri, manifest_uri = inputs[INPUT_URI_INPUT], inputs[MANIFEST_OUTPUT]
    objects = current_objects(clients.s3, input_uri)
    manifest = {"execution_arn": inputs.get(EXECUTION_INPUT, ""), "input_uri": input_uri,
                "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "objects": objects}
    bucket, key = split_uri(manifest_uri)
    clients.s3.put_object(Bucket=bucket, Key=key, ContentType="application/json",
                          Body=json.dumps(manifest, indent=2, sort_keys=True).encode())
    logger.info("recorded %d object version(s) under %s in %s", len(objects), input_uri,
                manifest_uri)
    return {MANIFEST_OUTPUT: manifest_uri, OBJECTS_OUTPUT: str(len(objects))}


def handler(event: dict[str, Any], context: Any = None) -> dict[str, str]:
    import boto3

    return record(event, Clients(s3=boto3.client("s3")))
