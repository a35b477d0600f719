"""The model folder and model.tar.gz: reproducible archives, safe extraction, loading."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

import joblib

from training.archives import pack_folder
from training.contract import MODEL_ARCHIVE, MODEL_FILE, SCHEMA_FILE
from training.data.schema import DatasetSchema, load_schema


def package_model(model_dir: str | Path, archive_path: str | Path) -> Path:
    """The model.tar.gz SageMaker would make from SM_MODEL_DIR, byte-for-byte reproducible."""
    return pack_folder(model_dir, archive_path)


def extract_model(source: str | Path, destination: str | Path) -> Path:
    """The folder holding model.joblib: `source` itself, or `destination` after unpacking.

    `source` is a folder with model.joblib, a folder with model.tar.gz, or the archive itself.
    Archives are extracted with the "data" filter (no absolute paths, links out, or devices).
    """
    source = Path(source)
    if source.is_dir() and (source / MODEL_FILE).is_file():
        return source
    archive = source / MODEL_ARCHIVE if source.is_dir() else source
    if not archive.is_file():
        found = sorted(p.name for p in source.iterdir()) if source.is_dir() else []
        raise FileNotFoundError(f"no {MODEL_FILE} or {MODEL_ARCHIVE} in {source} (found {found})")
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, mode="r:*") as tar:
        tar.extractall(destination, filter="data")
    if not (destination / MODEL_FILE).is_file():
        raise FileNotFoundError(f"{archive} holds no {MODEL_FILE} at its root")
    return destination


def load_model(model_dir: str | Path) -> tuple[Any, DatasetSchema]:
    """The fitted pipeline and its schema from an extracted model folder."""
    model_dir = Path(model_dir)
    return joblib.load(model_dir / MODEL_FILE), load_schema(model_dir / SCHEMA_FILE)
