"""The drift job's inputs read from S3 by the job itself: the window's capture, the baseline.

SageMaker refuses a processing input whose S3 prefix holds no objects, and a capture prefix is
empty before the first deployment, before traffic and after capture expires (the deployed
baseline too, before the first deployment). So the job is given ``s3://`` URIs, not
processing inputs, and an absent window or baseline is "no data", never a failed job.

Capture is filed under ``<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/``: the job lists the
variants under the endpoint's prefix, then only the window's hour folders of each
(:func:`window_hour_prefixes`), never the capture history the lifecycle rule keeps.

The calls the job makes are ``s3:ListBucket`` (ListObjectsV2, always with a prefix) and
``s3:GetObject``; listing the baseline's prefix first also makes a missing baseline a
listing without it, not the 403 S3 answers for a key the caller may not list.

Locally (``LOCAL_S3_ROOT_ENV`` set: ``mlops up --local``) the same listing runs on the
local runtime's S3 folder (``<root>/<bucket>/<key>``) through :class:`LocalStore`.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from training.contract import BASELINE_STATISTICS_FILE, LOCAL_S3_ROOT_ENV

CAPTURE_FILE_SUFFIX = ".jsonl"
"""Capture files' extension (as training.capture writes and SageMaker names them)."""
_S3_URI = re.compile(r"^s3://([^/]+)/?(.*)$")


class SourceError(Exception):
    """An input could not be read (access denied, bad URI...): one line for the log."""


def split_uri(uri: str) -> tuple[str, str]:
    """(bucket, key prefix) of an ``s3://`` URI."""
    match = _S3_URI.match(uri)
    if not match:
        raise SourceError(f"not an s3:// URI: {uri!r}")
    return match.group(1), match.group(2)


def folder_prefix(key: str) -> str:
    """A key prefix that ends with '/' (the empty prefix stays empty)."""
    return key if not key or key.endswith("/") else f"{key}/"


class ObjectStore(Protocol):
    """The two reads the job makes: a listing under a prefix, and one object's bytes."""

    def list(self, bucket: str, prefix: str, delimiter: str | None = None
             ) -> tuple[list[str], list[str]]:
        """(keys, common prefixes) under ``prefix`` (common prefixes only with a delimiter)."""

    def download(self, bucket: str, key: str, destination: Path) -> None:
        """Write the object to ``destination``."""


class S3Store:
    """S3 through a boto3 client: ListObjectsV2 (paginated) and GetObject."""

    def __init__(self, client: Any):
        self.client = client

    def list(self, bucket: str, prefix: str, delimiter: str | None = None
             ) -> tuple[list[str], list[str]]:
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if delimiter:
            params["Delimiter"] = delimiter
        keys, prefixes = [], []
        with _s3_errors(f"s3://{bucket}/{prefix}"):
            for page in self.client.get_paginator("list_objects_v2").paginate(**params):
                keys += [item["Key"] for item in page.get("Contents", [])]
                prefixes += [item["Prefix"] for item in page.get("CommonPrefixes", [])]
        return keys, prefixes

    def download(self, bucket: str, key: str, destination: Path) -> None:
        destination.parent.mkdir(parents=True, exist_ok=True)
        with _s3_errors(f"s3://{bucket}/{key}"):
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
            with destination.open("wb") as out:
                shutil.copyfileobj(body, out, 1024 * 1024)


@contextmanager
def _s3_errors(where: str) -> Iterator[None]:
    """An S3 error as a :class:`SourceError` naming the object or prefix."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        raise SourceError(f"{where}: {code} ({error})") from error
    except BotoCoreError as error:
        raise SourceError(f"{where}: {error}") from error


class LocalStore:
    """The local runtime's S3 folder, ``<root>/<bucket>/<key>``, listed like S3."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def list(self, bucket: str, prefix: str, delimiter: str | None = None
             ) -> tuple[list[str], list[str]]:
        base = self.root / bucket
        folder = base / prefix.rpartition("/")[0] if "/" in prefix else base
        if not folder.is_dir():
            return [], []
        keys = sorted(path.relative_to(base).as_posix() for path in folder.rglob("*")
                      if path.is_file() and not _partial(path))
        keys = [key for key in keys if key.startswith(prefix)]
        if not delimiter:
            return keys, []
        direct, prefixes = [], set()
        for key in keys:
            rest = key[len(prefix):]
            if delimiter in rest:
                prefixes.add(prefix + rest.split(delimiter, 1)[0] + delimiter)
            else:
                direct.append(key)
        return direct, sorted(prefixes)

    def download(self, bucket: str, key: str, destination: Path) -> None:
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.root / bucket / key, destination)


def _partial(path: Path) -> bool:
    """Another writer's temporary file in the local S3 folder (``.<name>.tmp``)."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def default_store() -> ObjectStore:
    """The local S3 folder when ``LOCAL_S3_ROOT_ENV`` is set, else S3 with boto3."""
    root = os.environ.get(LOCAL_S3_ROOT_ENV)
    if root:
        return LocalStore(root)
    import boto3

    return S3Store(boto3.client("s3"))


def window_hours(start: datetime, end: datetime) -> list[datetime]:
    """The hours (UTC, on the hour) whose folders overlap [start, end)."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour < end:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


def window_hour_prefixes(variant_prefix: str, start: datetime, end: datetime) -> list[str]:
    """``<variant prefix>yyyy/mm/dd/hh/`` of every hour of the window: all the job lists."""
    base = folder_prefix(variant_prefix)
    return [f"{base}{hour:%Y/%m/%d/%H}/" for hour in window_hours(start, end)]


@dataclass
class Fetched:
    """What the job copied from S3 for one check."""

    files: int = 0
    bytes: int = 0
    prefixes_listed: int = 0


def fetch_window(store: ObjectStore, capture_uri: str, destination: Path,
                 start: datetime | None, end: datetime) -> Fetched:
    """Copy the window's capture files under ``destination`` in their ``<variant>/yyyy/mm/dd/
    hh/`` layout. ``start`` None: every file under the prefix (no hour folders listed)."""
    bucket, key = split_uri(capture_uri)
    endpoint_prefix = folder_prefix(key)
    fetched = Fetched()
    if start is None:
        prefixes = [endpoint_prefix]
    else:
        _, variants = store.list(bucket, endpoint_prefix, delimiter="/")
        fetched.prefixes_listed += 1
        prefixes = [hour for variant in variants
                    for hour in window_hour_prefixes(variant, start, end)]
    for prefix in prefixes:
        keys, _ = store.list(bucket, prefix)
        fetched.prefixes_listed += 1
        for object_key in keys:
            if not object_key.endswith(CAPTURE_FILE_SUFFIX):
                continue
            target = destination / object_key[len(endpoint_prefix):]
            store.download(bucket, object_key, target)
            fetched.files += 1
            fetched.bytes += target.stat().st_size
    return fetched


def fetch_baseline(store: ObjectStore, baseline_uri: str, destination: Path) -> Path | None:
    """Copy the baseline's ``statistics.json`` into ``destination``; None if there is none."""
    bucket, key = split_uri(baseline_uri)
    wanted = f"{folder_prefix(key)}{BASELINE_STATISTICS_FILE}"
    keys, _ = store.list(bucket, wanted)
    if wanted not in keys:
        return None
    target = destination / BASELINE_STATISTICS_FILE
    store.download(bucket, wanted, target)
    return target
