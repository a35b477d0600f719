"""Built pipeline definitions kept on disk, so a plan with an unchanged spec skips the SDK.

Building a definition imports the SageMaker SDK (~3 s) and runs it (~0.8 s); a user previews
many times a day with the same spec. The cache key is a digest of everything the definition
depends on: the resolved :class:`PipelineSpec`, the installed SageMaker SDK's version, this
package's version, and the bytes of the modules that build it (so an edited builder in a
development checkout never serves a stale definition). A hit reads one file and imports
nothing of the SDK; the definition is byte-identical to a fresh build (the builder is
deterministic, and a test compares the two). An entry that does not parse, names another
key or fails its own digest is ignored and rewritten, never trusted. Writes are atomic
(a temporary file renamed into place), so concurrent plans cannot read half an entry; a
cache folder that cannot be written only costs the build.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from mlops_components.sagemaker.batch_spec import BatchSpec, validate_batch_spec
from mlops_components.sagemaker.monitor_spec import MonitorSpec, validate_monitor_spec
from mlops_components.sagemaker.spec import PipelineSpec
from mlops_components.sagemaker.validate import validate_pipeline_spec

#: Environment variable naming the cache folder; ``off`` disables the cache.
CACHE_ENV = "MLOPS_DEFINITION_CACHE"
CACHE_DISABLED = "off"
_FORMAT = 1


def cache_dir() -> Path | None:
    """``$MLOPS_DEFINITION_CACHE``, else ``$XDG_CACHE_HOME`` or ``~/.cache``, plus our folder."""
    configured = os.environ.get(CACHE_ENV)
    if configured == CACHE_DISABLED:
        return None
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mlops-components" / "definitions"


@functools.cache
def _builder_fingerprint() -> str:
    """Versions of the SDK and this package, and the bytes of every module of the builder."""
    import training.contract

    digest = hashlib.sha256()
    for distribution in ("sagemaker", "mlops-components"):
        try:
            version = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            version = "not-installed"
        digest.update(f"{distribution}={version}\n".encode())
    sources = sorted(Path(__file__).parent.glob("*.py")) + [Path(training.contract.__file__)]
    for source in sources:
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


def definition_key(spec: PipelineSpec | MonitorSpec | BatchSpec) -> str:
    """The digest of everything the definition of ``spec`` depends on."""
    fields = json.dumps(dataclasses.asdict(spec), sort_keys=True, default=str)
    kind = "" if isinstance(spec, PipelineSpec) else f"{type(spec).__name__}\n"
    payload = f"{_FORMAT}\n{_builder_fingerprint()}\n{kind}{fields}"
    return hashlib.sha256(payload.encode()).hexdigest()


def _read(path: Path, key: str) -> str | None:
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        definition = entry["definition"]
        intact = (entry.get("key") == key and isinstance(definition, str) and
                  entry.get("sha256") == hashlib.sha256(definition.encode()).hexdigest())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return definition if intact else None


def _write(path: Path, key: str, definition: str) -> None:
    entry = {"key": key, "sha256": hashlib.sha256(definition.encode()).hexdigest(),
             "definition": definition}
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".entry-", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(entry, file)
            os.replace(temporary, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)


def cached_pipeline_definition(spec: PipelineSpec, owner: str | None = None) -> str:
    """The definition of ``spec``: from the cache when an intact entry exists, else built.

    Validates ``spec`` first either way, so a bad spec fails the same with or without a hit.
    """
    validate_pipeline_spec(spec, owner)

    def build() -> str:
        from mlops_components.sagemaker.builder import build_pipeline_definition

        return build_pipeline_definition(spec, owner)

    return _cached(definition_key(spec), build)


def cached_monitor_definition(spec: MonitorSpec, owner: str | None = None) -> str:
    """The monitoring pipeline's definition of ``spec``: cached like the training one."""
    validate_monitor_spec(spec, owner)

    def build() -> str:
        from mlops_components.sagemaker.monitor_builder import build_monitor_definition

        return build_monitor_definition(spec, owner)

    return _cached(definition_key(spec), build)


def cached_batch_definition(spec: BatchSpec, owner: str | None = None) -> str:
    """The batch inference pipeline's definition of ``spec``: cached like the training one."""
    validate_batch_spec(spec, owner)

    def build() -> str:
        from mlops_components.sagemaker.batch_builder import build_batch_definition

        return build_batch_definition(spec, owner)

    return _cached(definition_key(spec), build)


def cached_sklearn_image_uri(region: str) -> str:
    """The scikit-learn image URI for ``region`` (the SDK's offline table), cached like a
    definition so that components needing only the image (the endpoint's model role) do not
    import the SDK on a warm plan. Raises ValueError for a region the SDK does not know."""
    key = hashlib.sha256(f"sklearn-image\n{_builder_fingerprint()}\n{region}".encode()
                         ).hexdigest()

    def lookup() -> str:
        from mlops_components.sagemaker import offline_sdk

        with offline_sdk.offline_sdk(region):
            return offline_sdk.sklearn_image_uri(region)

    return _cached(key, lookup)


def _cached(key: str, build: Callable[[], str]) -> str:
    folder = cache_dir()
    path = folder / f"{key}.json" if folder is not None else None
    if path is not None:
        definition = _read(path, key)
        if definition is not None:
            return definition
    definition = build()
    if path is not None:
        _write(path, key, definition)
    return definition
