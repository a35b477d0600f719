"""Parse Python source for the tests that read code (`ast`), safe from a CPython 3.11 bug.

CPython 3.11 keeps the AST constructor's recursion depth in shared state; a garbage
collection that runs a finalizer in the middle of `ast.parse` (here: an un-awaited Pulumi
`Output.all` coroutine left by an earlier test in the same worker, whose finalizer emits a
RuntimeWarning) makes the parse fail with "SystemError: AST constructor recursion depth
mismatch" (python/cpython#106905). Keeping the collector off for the parse removes that
re-entry (the garbage is collected later, as usual), so a test that reads code fails only on
what the code says.
"""

from __future__ import annotations

import ast
import gc
from pathlib import Path


def parse(source: str, filename: str | Path = "<unknown>") -> ast.Module:
    """`ast.parse(source)` with no garbage collection (so no finalizer) during it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(source, filename=str(filename))
    finally:
        if was_enabled:
            gc.enable()


def parse_file(path: Path) -> ast.Module:
    """The module at `path`, parsed as `parse` does."""
    return parse(path.read_text(encoding="utf-8"), filename=path)
