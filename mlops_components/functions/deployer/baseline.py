"""The deployed package's drift baseline, copied where the monitor reads it.

The monitor compares traffic with the model being served, so a deployment copies the
package's DriftCheckBaselines under the configured prefix before it changes the endpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .calls import DeploymentError

logger = logging.getLogger(__name__)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of an ``s3://bucket/key`` URI."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def baseline_uris(package: Mapping[str, Any]) -> list[str]:
    """s3:// URIs of a package's drift baselines (data statistics, then constraints)."""
    quality = (package.get("DriftCheckBaselines") or {}).get("ModelDataQuality") or {}
    return [quality[part]["S3Uri"] for part in ("Statistics", "Constraints")
            if isinstance(quality.get(part), Mapping) and quality[part].get("S3Uri")]


def copy_baseline(package: Mapping[str, Any], destination: str, s3: Any,
                  also_from: tuple[str, ...] = ()) -> list[str]:
    """Copy the package's drift baseline files under ``destination`` (same file names).

    Only copies from the destination's bucket or the buckets ``also_from`` names (the
    registry account's, for a deployment account: the deployer's role may read nothing
    else); a package without drift baselines copies nothing and says so in the log.
    """
    sources = baseline_uris(package)
    arn = package.get("ModelPackageArn", "the package")
    if not sources:
        logger.warning("%s has no DriftCheckBaselines: %s is left as it is", arn, destination)
        return []
    bucket, prefix = split_s3_uri(destination)
    copied = []
    for source in sources:
        source_bucket, key = split_s3_uri(source)
        if source_bucket != bucket and source_bucket not in also_from:
            readable = ", ".join((bucket, *also_from))
            raise DeploymentError(f"{arn}: drift baseline {source} is outside bucket "
                                  f"{readable}; the deployer copies baselines from there only")
        target = f"{prefix.rstrip('/')}/{key.rsplit('/', 1)[-1]}"
        s3.copy_object(Bucket=bucket, Key=target,
                       CopySource={"Bucket": source_bucket, "Key": key})
        copied.append(f"s3://{bucket}/{target}")
    logger.info("copied the drift baseline of %s to %s", arn, destination)
    return copied
