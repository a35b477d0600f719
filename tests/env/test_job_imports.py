"""Every import in training/ is in the image pins or in training/requirements.txt.

The image has no matplotlib; a job that imports it dies at its first line in the cloud while
every local run passes. This reads the imports of each module with `ast` (no import runs),
drops the standard library (`sys.stdlib_module_names`) and the package itself, maps import
names to distributions, and fails naming the module, the import and the files to edit.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from mlops_components.sagemaker.requirements import canonical_name, parse_requirements
from tests.env.conftest import PINS, REPO_ROOT, REQUIREMENTS
from tests.python_source import parse
from training.contract import PACKAGE

IMPORT_TO_DISTRIBUTION = {
    "sklearn": "scikit-learn", "yaml": "pyyaml", "PIL": "pillow", "dateutil": "python-dateutil",
    "google": "protobuf", "nacl": "pynacl", "zope": "zope-interface", "mpl_toolkits": "matplotlib",
    "attr": "attrs", "cv2": "opencv-python", "bs4": "beautifulsoup4",
}
"""Import names whose distribution is named differently (beyond what is installed here)."""


def top_level_imports(source: str) -> set[str]:
    """Top-level names of every absolute import in `source` (relative imports excluded)."""
    names: set[str] = set()
    for node in ast.walk(parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@functools.cache
def _installed_distributions() -> Mapping[str, list[str]]:
    """Import name -> distributions, of this interpreter (a scan of every installed one)."""
    return importlib.metadata.packages_distributions()


def distribution_of(import_name: str) -> str:
    """The distribution an import name comes from (static table, installed metadata, name)."""
    if import_name in IMPORT_TO_DISTRIBUTION:
        return IMPORT_TO_DISTRIBUTION[import_name]
    installed = _installed_distributions().get(import_name)
    return canonical_name(installed[0] if installed else import_name)


def unlisted_imports(modules: Iterable[Path], allowed: set[str]) -> list[str]:
    """`module: import -> distribution` for each third-party import not in `allowed`."""
    problems = []
    for module in sorted(modules):
        for name in sorted(top_level_imports(module.read_text(encoding="utf-8"))):
            if name in sys.stdlib_module_names or name == PACKAGE or name == "__future__":
                continue
            distribution = distribution_of(name)
            if distribution not in allowed:
                problems.append(f"{module.name}: import {name} -> {distribution}")
    return problems


def allowed_distributions() -> set[str]:
    return {req.name for req in parse_requirements(PINS) + parse_requirements(REQUIREMENTS)}


def test_every_job_import_is_in_the_image_or_the_requirements() -> None:
    modules = list((REPO_ROOT / PACKAGE).rglob("*.py"))
    assert len(modules) > 5  # the check looked at the real job code
    problems = unlisted_imports(modules, allowed_distributions())
    assert problems == [], (
        f"not in {PACKAGE}/image-requirements.txt nor {PACKAGE}/requirements.txt (the image "
        f"lacks them): {'; '.join(problems)}. Pin them in {PACKAGE}/requirements.txt.")


def test_an_unlisted_import_is_reported(tmp_path: Path) -> None:
    module = tmp_path / "fast_json.py"
    module.write_text("import json\nimport orjson\nfrom sklearn.base import clone\n"
                      "from . import sibling\nfrom training.contract import Job\n")
    assert unlisted_imports([module], allowed_distributions()) == [
        "fast_json.py: import orjson -> orjson"]


def test_a_requirement_makes_the_same_import_allowed(tmp_path: Path) -> None:
    module = tmp_path / "boost.py"
    module.write_text("import lightgbm\n")
    allowed = allowed_distributions()
    assert unlisted_imports([module], allowed) == ["boost.py: import lightgbm -> lightgbm"]
    assert unlisted_imports([module], allowed | {"lightgbm"}) == []


def test_import_names_map_to_their_distributions() -> None:
    assert [distribution_of(name) for name in ("sklearn", "PIL", "yaml", "matplotlib")] == [
        "scikit-learn", "pillow", "pyyaml", "matplotlib"]
    assert re.fullmatch(r"[a-z0-9-]+", distribution_of("Some_Unknown.Pkg".split(".")[0]))
