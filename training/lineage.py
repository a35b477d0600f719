"""Lineage: a fingerprint of the data a model was trained on.

Preprocess fingerprints the input files it reads (a SHA-256 of each file's bytes, combined
in sorted order, so neither file names nor listing order matter: the same bytes uploaded again
under another key are the same data). The fingerprint travels in schema.json from the
transform output into the model folder, so every model archive says which data made it, and
Evaluate compares a challenger's fingerprint with the champion's. This works the same in S3
(where the job sees the objects as files) and locally, for the cost of one more read of the
input. Standard library only.

On a processing cluster each host sees its shard of the files only; the primary's fingerprint
then covers its shard and is marked incomplete, and an incomplete fingerprint is never taken
as "unchanged" (a changed file on another host must not hold back a new model).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

DIGEST_ALGORITHM = "sha256"
SHORT_DIGEST_CHARS = 12
"""Hex characters of a digest shown to people (``mlops registry list``, the run summary)."""
_CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.new(DIGEST_ALGORITHM)
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint_files(files: Iterable[Path], complete: bool = True) -> dict[str, Any]:
    """``{"digest": "sha256:<hex>", "files": n, "bytes": total, "complete": bool}`` of the
    files' contents (independent of their names and order)."""
    paths = [Path(path) for path in files]
    digests = sorted(file_digest(path) for path in paths)
    combined = hashlib.new(DIGEST_ALGORITHM, "\n".join(digests).encode("ascii")).hexdigest()
    return {"digest": f"{DIGEST_ALGORITHM}:{combined}", "files": len(paths),
            "bytes": sum(path.stat().st_size for path in paths), "complete": bool(complete)}


def comparable_digest(fingerprint: Mapping[str, Any] | None) -> str:
    """The digest of a complete fingerprint, else "" (unknown: never equal to anything)."""
    if not fingerprint or not fingerprint.get("complete"):
        return ""
    return str(fingerprint.get("digest") or "")


def same_data(fingerprint: Mapping[str, Any] | None,
              other: Mapping[str, Any] | None) -> bool:
    """Whether two fingerprints prove the same training data (both complete and equal)."""
    digest = comparable_digest(fingerprint)
    return bool(digest) and digest == comparable_digest(other)


UNKNOWN_DIGEST = "unknown"
"""What is recorded for a model without a fingerprint (trained before fingerprints existed)."""
PARTIAL_PREFIX = "partial:"
"""Prefix of a recorded digest that covers one host's shard of the input only."""


def recorded_digest(fingerprint: Mapping[str, Any] | None) -> str:
    """The digest as evaluation.json and the registered package record it: ``sha256:<hex>``,
    ``partial:sha256:<hex>`` for one host's shard, or ``unknown``. Never empty, and made of
    characters SageMaker's CustomerMetadataProperties values allow."""
    if not fingerprint or not fingerprint.get("digest"):
        return UNKNOWN_DIGEST
    digest = str(fingerprint["digest"])
    return digest if fingerprint.get("complete") else PARTIAL_PREFIX + digest


def short_digest(digest: str | None) -> str:
    """A recorded digest for people: ``sha256:0123…`` -> ``0123456789ab`` (12 hex characters),
    ``partial:sha256:0123…`` -> ``partial:0123456789ab``; ``unknown`` or "" stay as they are."""
    if not digest or digest == UNKNOWN_DIGEST:
        return digest or ""
    partial = digest.startswith(PARTIAL_PREFIX)
    short = digest.removeprefix(PARTIAL_PREFIX).split(":", 1)[-1][:SHORT_DIGEST_CHARS]
    return PARTIAL_PREFIX + short if partial else short
