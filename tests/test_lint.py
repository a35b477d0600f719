"""The code base passes ruff with the project's rules, and its layers import downward only."""

import shutil
import subprocess

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.parametrize(("tool", "arguments"), [
    ("ruff", ["check", "--no-cache", str(REPO_ROOT)]),
    # The contracts live in pyproject.toml ([tool.importlinter]).
    ("lint-imports", ["--no-cache"]),
])
def test_linter_finds_nothing(tool, arguments):
    executable = shutil.which(tool)
    assert executable, f"{tool} is missing: install the dev extra (pip install -e '.[dev]')"
    result = subprocess.run([executable, *arguments], capture_output=True, text=True,
                            timeout=180, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("package", ["mlops_components", "training"])
def test_no_module_imports_one_that_imports_it_back(package):
    """No import cycle between modules, counting imports inside functions (where a cycle
    usually hides as a "late import")."""
    import grimp

    graph = grimp.build_graph(package, cache_dir=None)
    cycles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back:
                cycles.append(" -> ".join((importer, *back)))
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_shared_root_contract_names_every_root_module():
    """The import-linter contract that keeps training/'s root below its stages lists every
    root module, so a new one cannot slip past it."""
    import tomllib

    contracts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    root = next(c for c in contracts["contracts"] if c["name"].startswith("The job code's shared"))
    modules = {f"training.{path.stem}" for path in (REPO_ROOT / "training").glob("*.py")
               if path.stem != "__init__"}
    assert set(root["source_modules"]) == modules


# A job module run as a file puts its own folder first on sys.path, where a module named like
# one of the standard library's hides it from every import (training/data/numbers.py once hid
# `numbers`, and preprocess.py run as a script failed at `import pandas`).
STDLIB_NAMES_KEPT = {"training/eda/profile.py"}  # the profile job's name; nothing it runs
# beside imports the standard library's profiler


def test_no_job_module_is_named_like_a_standard_library_module():
    import sys

    clashes = sorted(
        str(path.relative_to(REPO_ROOT)) for path in (REPO_ROOT / "training").rglob("*.py")
        if path.stem in sys.stdlib_module_names
        and str(path.relative_to(REPO_ROOT)) not in STDLIB_NAMES_KEPT)
    assert clashes == []
