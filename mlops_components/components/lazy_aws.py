"""pulumi_aws service packages that import only the resource modules a program uses.

A pulumi_aws service package (``pulumi_aws.sagemaker``, ``pulumi_aws.s3``, ...) imports every
one of its resource modules when first touched: 40 for SageMaker, 70 for S3, although a stack
uses a handful. Those class bodies are ~0.45 s of CPU in every ``mlops preview`` and
``pulumi up``. :func:`load_services_lazily` makes each service package that is not loaded yet
import a resource module when one of its names is first read; which module holds a name comes
from the ``__all__`` at the top of each module's file, read as text.

The result is the same objects under the same names: a package whose ``__init__.py`` is not the
generated list of ``from .<module> import *`` lines this relies on, or a name no module lists
(``__all__`` of the package, say), loads the whole package as before.
"""

from __future__ import annotations

import importlib
import re
import sys
import threading
import types
from pathlib import Path
from typing import Any

import pulumi_aws

_HEADER_LINES = {"import builtins as _builtins", "from .. import _utilities", "import typing"}
_STAR_IMPORT = re.compile(r"from \.(\w+) import \*")
_SUBMODULE_IMPORT = re.compile(r"from \. import (\w+)")
_EXPORTS = re.compile(r"^__all__ = \[(.*?)\]", re.MULTILINE | re.DOTALL)
_NAME = re.compile(r"""['"](\w+)['"]""")
_HEAD_BYTES = 4096
_INDEX = "_mlops_lazy_index"
_LOCK = threading.RLock()


class _Index:
    """Which module of a service package each exported name comes from."""

    def __init__(self, names: dict[str, str], submodules: set[str]):
        self.names = names
        self.submodules = submodules


def _exports(module_file: Path) -> list[str] | None:
    """The names in a generated module's ``__all__``, read from its text (None: no list)."""
    with module_file.open(encoding="utf-8") as source:
        text = source.read(_HEAD_BYTES)
        found = _EXPORTS.search(text)
        if found is None:  # a long list (``_inputs``) ends further down
            text += source.read()
            found = _EXPORTS.search(text)
    return None if found is None else _NAME.findall(found.group(1))


def read_index(package_dir: Path) -> _Index | None:
    """The name -> module index of a generated service package; None if it is not one.

    Later star imports win, as they do when ``__init__.py`` runs.
    """
    names: dict[str, str] = {}
    submodules: set[str] = set()
    for line in (package_dir / "__init__.py").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line in _HEADER_LINES:
            continue
        if star := _STAR_IMPORT.fullmatch(line):
            module = star.group(1)
            exported = _exports(package_dir / f"{module}.py") \
                if (package_dir / f"{module}.py").is_file() else None
            if exported is None:
                return None
            names.update(dict.fromkeys(exported, module))
            submodules.add(module)
        elif plain := _SUBMODULE_IMPORT.fullmatch(line):
            submodules.add(plain.group(1))
        else:
            return None
    return _Index(names, submodules)


class _ServicePackage(types.ModuleType):
    """A service package whose names import their resource module on first read."""

    def __getattr__(self, name: str) -> Any:
        with _LOCK:
            state = self.__dict__
            if name in state:  # another thread resolved it meanwhile
                return state[name]
            if _INDEX not in state:
                state[_INDEX] = read_index(Path(self.__file__).parent)
            index: _Index | None = state[_INDEX]
            if index is not None and name in index.names:
                module = importlib.import_module(f"{self.__name__}.{index.names[name]}")
                value = getattr(module, name)
                setattr(self, name, value)
                return value
            if index is not None and name in index.submodules:
                return importlib.import_module(f"{self.__name__}.{name}")
            self.__class__ = types.ModuleType  # anything else: the whole package, as before
            self.__spec__.loader.exec_module(self)
            return getattr(self, name)


def load_services_lazily(root: types.ModuleType = pulumi_aws) -> None:
    """Turn ``root``'s service packages that are not loaded yet into :class:`_ServicePackage`.

    pulumi_aws creates them as not-yet-executed lazy modules; one already loaded (by code that
    ran earlier) is left as it is.
    """
    prefix = f"{root.__name__}."
    with _LOCK:
        for name, module in list(sys.modules.items()):
            if not name.startswith(prefix) or "." in name[len(prefix):] \
                    or type(module) in (types.ModuleType, _ServicePackage):
                continue
            # Reading the lazy module's own __dict__ does not load it; "__builtins__" is in the
            # globals of every module whose code has run.
            raw = types.ModuleType.__getattribute__(module, "__dict__")
            spec = raw.get("__spec__")
            if "__builtins__" in raw or raw.get("__path__") is None or spec is None \
                    or not hasattr(spec.loader, "exec_module"):
                continue
            module.__class__ = _ServicePackage
