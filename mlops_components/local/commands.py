"""The `mlops` commands the CLI tells a user to run next, built in one place.

A printed hint must act on what the command that printed it acted on: the same project,
stack, workdir and model package group. A hint that leaves out ``--workdir`` after a
``--workdir`` run fails, or worse, serves another workdir's model; so every hint is built
here from a :class:`Where`, which carries each of those that was not the default.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, replace
from pathlib import Path

#: The stack a command reads when ``--stack`` is not given.
DEFAULT_STACK = "dev"
#: The project directory a command reads when ``--project-dir`` is not given.
DEFAULT_PROJECT_DIR = Path(".")
#: Verbs that act on the local registry only with ``--local`` (serve is always local).
_LOCAL_FLAG_VERBS = ("up", "approve", "reject", "status", "registry list", "drift", "batch")


@dataclass(frozen=True)
class Where:
    """What a command acted on: each field is a flag its follow-up commands repeat."""

    stack: str = DEFAULT_STACK
    project_dir: Path = DEFAULT_PROJECT_DIR
    workdir: Path | None = None
    """The ``--workdir`` given, or None for the stack's default workdir."""
    group: str | None = None
    """The model package group, or None for the stack's model."""
    dev_env: bool = False
    """Whether the model was trained under this interpreter (serve it under the same one)."""

    def with_group(self, group: str | None) -> Where:
        return replace(self, group=group or None)

    def command(self, verb: str, **options: object) -> str:
        """``mlops <verb>`` with the flags that keep it on this project, stack, workdir and
        group, then ``options`` (``version=2`` is ``--version 2``; None is left out)."""
        words = ["mlops", *verb.split()]
        if verb in _LOCAL_FLAG_VERBS:
            words.append("--local")
        words += ["--stack", self.stack]
        if Path(self.project_dir) != DEFAULT_PROJECT_DIR:
            words += ["--project-dir", str(self.project_dir)]
        if self.workdir is not None:
            words += ["--workdir", str(self.workdir)]
        if self.group and verb != "up":  # up names its group with --model-name, with --data
            words += ["--group", self.group]
        if self.dev_env and verb == "serve":
            words.append("--dev-env")
        for name, value in options.items():
            if value is not None:
                words += [f"--{name.replace('_', '-')}", str(value)]
        return shlex.join(words)

    def quoted(self, verb: str, **options: object) -> str:
        """:meth:`command` between backquotes, as hints are printed."""
        return f"`{self.command(verb, **options)}`"
