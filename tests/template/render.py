"""`pulumi new <template>` without the Pulumi CLI: what it writes, for the template's tests.

The rules follow the Pulumi CLI's source (pulumi/pulumi, pkg/cmd/pulumi/templates/
project_templates.go and pkg/cmd/pulumi/project/newcmd/new.go, config.go):

- every file is copied except the ``.git`` folder and ``.pulumi.template.yaml``; a file whose
  first 8000 bytes hold no NUL byte is text, and in it ``${PROJECT}`` and ``${DESCRIPTION}``
  are replaced by the project's name and description: as they are in any text file, except
  in a file whose name ends in ``.yaml``, where each value is first written as a YAML scalar
  followed by a newline (Go's ``yaml.Marshal``), so there a placeholder only works as a whole
  value at the end of a line; ``${PROJECT}`` in a file's path is replaced too;
- Pulumi.yaml is then read back: the name and the description (when one is given) are set,
  the ``template:`` section is removed, and the ``pulumi:tags`` project config gains the
  ``pulumi:template`` tag (the template's name or URL);
- the template's config prompts, read from the template's own (untransformed) Pulumi.yaml, are
  answered (a ``--config`` value, else the prompt's default as written: a placeholder there is
  not replaced; an empty answer is not saved), a key without a namespace belongs to the
  project, and the answers are merged as strings into the stack file of the one stack
  `pulumi new` creates, whose existing keys are namespaced by the project on the way.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

PROJECT_PLACEHOLDER = "${PROJECT}"
DESCRIPTION_PLACEHOLDER = "${DESCRIPTION}"
#: The file `pulumi new` never copies, and the folder it skips.
LEGACY_MANIFEST = ".pulumi.template.yaml"
GIT_DIR = ".git"
#: Pulumi's baseline rule for a project name (ValidateProjectName).
PROJECT_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
BINARY_PROBE_BYTES = 8000


class RenderError(Exception):
    """What `pulumi new` would refuse (a bad project name, a template without a section)."""


def yaml_scalar(value: str) -> str:
    """``value`` as Go's yaml.Marshal writes a string: the scalar, quoted when YAML would read
    it as something else (a number, a bool), and a newline."""
    dumped = yaml.safe_dump(value, default_flow_style=True, width=float("inf"),
                            allow_unicode=True)
    return dumped.removesuffix("...\n").rstrip("\n") + "\n"


def _transform(text: str, name: str, description: str) -> str:
    return text.replace(PROJECT_PLACEHOLDER, name).replace(DESCRIPTION_PLACEHOLDER, description)


def _is_binary(content: bytes) -> bool:
    return b"\0" in content[:BINARY_PROBE_BYTES]


def template_config(template_dir: Path) -> dict[str, dict[str, Any]]:
    """The prompts of a template (its Pulumi.yaml's ``template.config``)."""
    doc = yaml.safe_load((Path(template_dir) / "Pulumi.yaml").read_text())
    section = doc.get("template")
    if not isinstance(section, dict):
        raise RenderError(f"{template_dir}/Pulumi.yaml: no template: section")
    return dict(section.get("config") or {})


def copy_template_files(template_dir: Path, dest: Path, name: str, description: str) -> None:
    """The files, transformed as CopyTemplateFiles does."""
    yaml_name, yaml_description = yaml_scalar(name), yaml_scalar(description)
    for source in sorted(Path(template_dir).rglob("*")):
        relative = source.relative_to(template_dir)
        if GIT_DIR in relative.parts:
            continue
        target = dest / relative
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        if source.name == LEGACY_MANIFEST:
            continue
        target = Path(_transform(str(target), name, ""))
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            raise RenderError(f"{target} exists: pulumi new would not overwrite it")
        content = source.read_bytes()
        if not _is_binary(content):
            values = (yaml_name, yaml_description) if source.name.endswith(".yaml") \
                else (name, description)
            content = _transform(content.decode(), *values).encode()
        target.write_bytes(content)
        target.chmod(stat.S_IMODE(source.lstat().st_mode) | 0o600)


def _namespaced(key: str, project: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def render(template_dir: Path, dest: Path, *, name: str, description: str = "",
           stack: str = "dev", config: Mapping[str, str] | None = None,
           template_ref: str | None = None) -> Path:
    """Lay the template down in ``dest`` (empty or missing) as `pulumi new` does, answering
    its prompts with ``config`` (`pulumi new --config key=value`) or their defaults
    (`--yes`), and write the answers to ``stack``'s file. Returns ``dest``."""
    template_dir, dest = Path(template_dir), Path(dest)
    if not PROJECT_NAME_RE.match(name) or name.lower() == "pulumi" \
            or name.lower().startswith("pulumi."):
        raise RenderError(f"project name {name!r}: Pulumi allows 1-100 letters, digits, "
                          "hyphens, underscores and periods, not 'pulumi' or 'pulumi.*'")
    prompts = template_config(template_dir)
    if dest.exists() and any(dest.iterdir()):
        raise RenderError(f"{dest} is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    copy_template_files(template_dir, dest, name, description)

    project_file = dest / "Pulumi.yaml"
    project = yaml.safe_load(project_file.read_text())
    project["name"] = name
    if description:
        project["description"] = description
    project.pop("template", None)
    tags = project.setdefault("config", {}).setdefault("pulumi:tags", {"value": {}})
    tags["value"]["pulumi:template"] = template_ref or template_dir.name
    project_file.write_text(yaml.safe_dump(project, sort_keys=False))
    append = dest / "Pulumi.yaml.append"
    if append.exists():
        append.unlink()

    flags = {_namespaced(key, name): value for key, value in (config or {}).items()}
    answers = dict(flags)
    for key, prompt in prompts.items():
        full_key = _namespaced(key, name)
        if full_key not in answers:
            answers[full_key] = str(prompt.get("default") or "")
    answers = {key: value for key, value in answers.items() if value != ""}

    stack_file = dest / f"Pulumi.{stack}.yaml"
    stack_doc = yaml.safe_load(stack_file.read_text()) if stack_file.is_file() else None
    stack_doc = stack_doc or {}
    existing = stack_doc.get("config") or {}
    stack_doc["config"] = {**{_namespaced(key, name): value for key, value in existing.items()},
                           **answers}
    stack_file.write_text(yaml.safe_dump(stack_doc, sort_keys=False))
    return dest


def rendered_copy(template_dir: Path, dest: Path, **kwargs: Any) -> Path:
    """``render`` into a fresh ``dest`` (removed first)."""
    if dest.exists():
        shutil.rmtree(dest)
    return render(template_dir, dest, **kwargs)


def run_env(repo_root: Path) -> dict[str, str]:
    """The environment a rendered project's commands run in here: this checkout's SDK first
    (what the project's requirements pin), no AWS credentials from the machine."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(repo_root), *filter(None, [env.get("PYTHONPATH")])])
    for variable in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                     "AWS_SESSION_TOKEN"):
        env.pop(variable, None)
    return env
