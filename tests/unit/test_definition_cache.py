"""The definition cache: identical to a build, never trusted when damaged, SDK-free on a hit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_components.sagemaker import cache
from mlops_components.sagemaker.builder import build_pipeline_definition
from mlops_components.validation import ValidationError
from tests.conftest import REPO_ROOT
from tests.pipeline.conftest import make_spec


@pytest.fixture
def cache_folder(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path))
    return tmp_path


def entry_of(folder: Path) -> Path:
    (entry,) = folder.glob("*.json")
    return entry


def test_a_hit_is_byte_identical_to_a_fresh_build_and_skips_the_builder(cache_folder,
                                                                       monkeypatch):
    spec = make_spec()
    first = cache.cached_pipeline_definition(spec)
    assert first == build_pipeline_definition(spec)

    import mlops_components.sagemaker.builder as builder

    monkeypatch.setattr(builder, "build_pipeline_definition",
                        lambda *a, **k: pytest.fail("a cache hit built the definition"))
    assert cache.cached_pipeline_definition(spec) == first


def test_a_different_spec_is_a_different_entry(cache_folder):
    cache.cached_pipeline_definition(make_spec())
    cache.cached_pipeline_definition(make_spec(target_column="churned"))
    assert len(list(cache_folder.glob("*.json"))) == 2
    assert cache.definition_key(make_spec()) != cache.definition_key(
        make_spec(target_column="churned"))


@pytest.mark.parametrize("damage", [
    lambda entry: entry.write_text("{not json"),
    lambda entry: entry.write_text(json.dumps({**json.loads(entry.read_text()),
                                               "definition": "{}"})),  # digest no longer fits
    lambda entry: entry.write_text(json.dumps({**json.loads(entry.read_text()),
                                               "key": "another spec"})),
    lambda entry: entry.write_bytes(entry.read_bytes()[:40]),  # cut off mid-write
])
def test_a_damaged_or_foreign_entry_is_rebuilt_and_rewritten(cache_folder, damage):
    spec = make_spec()
    good = cache.cached_pipeline_definition(spec)
    entry = entry_of(cache_folder)
    damage(entry)
    assert cache.cached_pipeline_definition(spec) == good
    assert json.loads(entry.read_text())["definition"] == good


def test_an_unwritable_cache_costs_only_the_build(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(cache.CACHE_ENV, str(blocker / "cache"))
    assert cache.cached_pipeline_definition(make_spec()) == build_pipeline_definition(make_spec())


def test_a_bad_spec_fails_the_same_with_or_without_an_entry(cache_folder):
    with pytest.raises(ValidationError, match="metric_threshold"):
        cache.cached_pipeline_definition(make_spec(metric_threshold=5.0))


def test_the_cache_can_be_turned_off(monkeypatch):
    monkeypatch.setenv(cache.CACHE_ENV, cache.CACHE_DISABLED)
    assert cache.cache_dir() is None
    assert cache.cached_pipeline_definition(make_spec()) == build_pipeline_definition(make_spec())


PLAN_AND_REPORT = """
import json, sys
from mlops_components.plan import plan_stack
plan = plan_stack(sys.argv[1], "dev")
definitions = sorted(pipeline.inputs["pipelineDefinition"]
                     for pipeline in plan.of_type("aws:sagemaker/pipeline:Pipeline"))
print(json.dumps({"sdk_imported": "sagemaker" in sys.modules,
                  "heavy": sorted(m for m in ("sklearn", "pandas", "matplotlib", "boto3")
                                  if m in sys.modules),
                  "definitions": definitions}))
"""


@pytest.mark.slow
def test_a_warm_plan_does_not_import_the_sdk_or_the_ml_libraries(tmp_path):
    environment = {**os.environ, cache.CACHE_ENV: str(tmp_path)}

    def plan() -> dict:
        result = subprocess.run([sys.executable, "-c", PLAN_AND_REPORT, str(REPO_ROOT)],
                                capture_output=True, text=True, env=environment, timeout=300,
                                cwd=REPO_ROOT)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.strip().splitlines()[-1])

    cold, warm = plan(), plan()
    assert cold["sdk_imported"] is True and warm["sdk_imported"] is False
    assert warm["heavy"] == []
    assert warm["definitions"] == cold["definitions"] and len(cold["definitions"]) >= 1
