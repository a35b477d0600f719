"""Model files: reproducible model.tar.gz, safe extraction."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from training.train.model_files import extract_model, package_model


def test_package_model_is_reproducible_and_flat(tmp_path):
    model_dir = tmp_path / "model"
    (model_dir / "code").mkdir(parents=True)
    (model_dir / "schema.json").write_text("{}")
    (model_dir / "model.joblib").write_bytes(b"\x00model")
    (model_dir / "code" / "inference.py").write_text("x = 1\n")
    first = package_model(model_dir, tmp_path / "a" / "model.tar.gz").read_bytes()
    os.utime(model_dir / "model.joblib", (1, 1))
    second = package_model(model_dir, tmp_path / "b" / "model.tar.gz").read_bytes()
    assert first == second
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["code/inference.py", "model.joblib", "schema.json"]
    assert {m.mtime for m in members} == {0}


def test_extract_model_round_trips_an_archive(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.joblib").write_bytes(b"weights")
    (model_dir / "schema.json").write_text('{"a": 1}')
    package_model(model_dir, tmp_path / "input" / "model.tar.gz")
    extracted = extract_model(tmp_path / "input", tmp_path / "extracted")
    assert (extracted / "model.joblib").read_bytes() == b"weights"
    assert (extracted / "schema.json").read_text() == '{"a": 1}'
    assert extract_model(model_dir, tmp_path / "unused") == model_dir


def test_extract_model_refuses_members_outside_the_destination(tmp_path):
    archive = tmp_path / "input" / "model.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(tarfile.FilterError):
        extract_model(archive.parent, tmp_path / "out" / "model")
    assert not (tmp_path / "out" / "escaped.txt").exists()


def test_extract_model_says_what_it_found_when_there_is_no_model(tmp_path):
    (tmp_path / "readme.txt").write_text("")
    with pytest.raises(FileNotFoundError, match=r"no model.joblib or model.tar.gz .*readme.txt"):
        extract_model(tmp_path, tmp_path / "out")

