"""templates/mlops-model: rendered as `pulumi new` renders it, then used as a new model's team
would use it: its own tests, `mlops preview` of each stage, and its CI workflow checked by
actionlint, GitHub's workflow schema and against the files the workflow names."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path
from shutil import which

import pytest
import yaml

from mlops_components.config import SETTINGS
from mlops_components.plan import plan_stack
from mlops_components.project import load_project
from tests.conftest import REPO_ROOT
from tests.template.render import (
    DESCRIPTION_PLACEHOLDER,
    PROJECT_PLACEHOLDER,
    RenderError,
    render,
    run_env,
    template_config,
    yaml_scalar,
)

TEMPLATE = REPO_ROOT / "templates" / "mlops-model"
STAGES = ("dev", "staging", "prod")
NAME = "churn-model"
DESCRIPTION = "Churn: the model's MLOps loop"
MODEL = "churn"
WORKFLOWS = Path(".github") / "workflows"
LOCAL_ACTIONS = Path(".github") / "actions"
#: Model identity: set by each project, so not compared with the repo's example stacks.
IDENTITY_KEYS = {"modelName", "owner", "targetColumn", "problemType",
                 "modelCardIntendedUses"}  # what this model is for: each project writes its own


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The template rendered once, with a model name answered at the prompt (the rest the
    prompts' defaults), as `pulumi new <template> --stack dev -c modelName=churn --yes` does."""
    return render(TEMPLATE, tmp_path_factory.mktemp("new") / NAME, name=NAME,
                  description=DESCRIPTION, config={"modelName": MODEL},
                  template_ref="https://github.com/org/repo/tree/main/templates/mlops-model")


def _tool(name: str) -> str:
    """A console script of this interpreter's environment (pyenv shims may not list it)."""
    found = Path(sysconfig.get_path("scripts")) / name
    path = str(found) if found.is_file() else which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: python3 -m uv pip install --python python3 "
                    "-e '.[dev]'")
    return path


def _workflow_files(root: Path) -> list[Path]:
    return sorted((root / WORKFLOWS).glob("*.yml"))


# --- the template itself -----------------------------------------------------------------


def test_the_template_is_a_pulumi_template():
    doc = yaml.safe_load((TEMPLATE / "Pulumi.yaml").read_text())
    assert doc["name"] == PROJECT_PLACEHOLDER and doc["description"] == DESCRIPTION_PLACEHOLDER
    assert doc["runtime"]["name"] == "python"
    assert doc["template"]["description"]
    # the prompts: what may differ per stage; what every stage shares is Pulumi.yaml's (an
    # answer would reach the one stack pulumi new creates)
    assert set(template_config(TEMPLATE)) == {"aws:region", "modelName"}


def test_the_prompts_and_shared_settings_are_sdk_settings():
    """Every prompt and every key Pulumi.yaml declares is a setting the SDK reads, with its
    type and description (and, but for the model's name, its default)."""
    doc = yaml.safe_load((TEMPLATE / "Pulumi.yaml").read_text())
    by_key = {setting.key: setting for setting in SETTINGS}
    for key in template_config(TEMPLATE):
        assert key == "aws:region" or key in by_key, f"prompt {key}: not an SDK setting"
    # the model's name is the project's; an owner is required (the policy pack's owner tag)
    own_defaults = {"modelName": PROJECT_PLACEHOLDER, "owner": "ml-platform"}
    for key, spec in doc["config"].items():
        setting = by_key[key]
        assert (spec["type"], spec["description"]) == (setting.type, setting.description), key
        assert spec["default"] == own_defaults.get(key, setting.default), key


def test_placeholders_in_yaml_files_are_whole_values_at_the_end_of_a_line():
    """In a .yaml file `pulumi new` writes a placeholder's value as a YAML scalar and a newline,
    so anything after it on its line would move to the next line."""
    for path in TEMPLATE.rglob("*.yaml"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for placeholder in (PROJECT_PLACEHOLDER, DESCRIPTION_PLACEHOLDER):
                if placeholder in line:
                    assert line.rstrip().endswith(f": {placeholder}"), \
                        f"{path.relative_to(TEMPLATE)}:{number}: {line.strip()}"


def test_prompt_defaults_hold_no_placeholder():
    """`pulumi new` offers a prompt's default as written: a placeholder there is not replaced."""
    for key, prompt in template_config(TEMPLATE).items():
        assert "${" not in str(prompt.get("default", "")), key


def test_the_program_is_the_repos_program():
    assert (TEMPLATE / "__main__.py").read_bytes() == (REPO_ROOT / "__main__.py").read_bytes()


def test_requirements_pin_this_sdk_version():
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pins = [line.split("#")[0].strip() for line in
            (TEMPLATE / "requirements.txt").read_text().splitlines()]
    assert f"{pyproject['name']}=={pyproject['version']}" in pins


@pytest.mark.parametrize("stage", ["dev", "prod", "staging"])
def test_stage_settings_follow_the_repos_example_stack(stage):
    """A stage sets what the repo's example stack of that name sets (the model's identity
    aside), so a change of the example's stage choices reaches new projects too."""
    example = REPO_ROOT / f"Pulumi.{stage}.yaml"
    if not example.is_file():
        pytest.skip(f"the repo has no Pulumi.{stage}.yaml")
    ours = yaml.safe_load((TEMPLATE / f"Pulumi.{stage}.yaml").read_text())["config"]
    theirs = {key.removeprefix("mlops:"): value for key, value in
              yaml.safe_load(example.read_text())["config"].items()}
    strip = lambda values: {key: value for key, value in values.items()  # noqa: E731
                            if key not in IDENTITY_KEYS}
    assert strip(ours) == strip(theirs)


# --- rendering as `pulumi new` does ------------------------------------------------------


def test_yaml_scalars_as_go_writes_them():
    assert yaml_scalar("churn-model") == "churn-model\n"
    assert yaml.safe_load(yaml_scalar("123")) == "123"
    assert yaml.safe_load(yaml_scalar("true")) == "true"
    assert yaml.safe_load(yaml_scalar("Churn: the loop")) == "Churn: the loop"


def test_a_name_pulumi_refuses_is_refused(tmp_path):
    with pytest.raises(RenderError, match="project name"):
        render(TEMPLATE, tmp_path / "x", name="churn model")


def test_the_rendered_project(project):
    doc = yaml.safe_load((project / "Pulumi.yaml").read_text())
    assert (doc["name"], doc["description"]) == (NAME, DESCRIPTION)
    assert "template" not in doc
    assert doc["config"]["modelName"]["default"] == NAME
    assert "${" not in (project / "README.md").read_text()
    assert (project / "README.md").read_text().startswith(f"# {NAME}\n\n{DESCRIPTION}\n")
    dev = yaml.safe_load((project / "Pulumi.dev.yaml").read_text())["config"]
    assert dev[f"{NAME}:modelName"] == MODEL and dev["aws:region"] == "us-east-1"
    assert f"{NAME}:targetColumn" not in dev, "an unanswered prompt writes nothing"
    assert load_project(project).stacks() == sorted(STAGES)


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_plans_with_the_projects_names(project, stage):
    plan = plan_stack(project, stage)
    (stack,) = plan.of_type("mlops:index:MlopsStack")
    assert stack.name == (MODEL if stage == "dev" else NAME)
    assert all(f"::{NAME}::" in resource.urn for resource in plan.resources)


def _run(command: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=run_env(REPO_ROOT), capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
def test_the_projects_own_tests_pass(project):
    result = _run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"], project)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "5 passed" in result.stdout


@pytest.mark.slow
def test_the_projects_tests_catch_stages_that_disagree(tmp_path):
    """A targetColumn set on one stage only (`pulumi config set targetColumn` on dev, or a
    `--config` of pulumi new): the project's test says so."""
    project = render(TEMPLATE, tmp_path / NAME, name=NAME, config={"targetColumn": "churned"})
    result = _run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                   "-k", "same_model"], project)
    assert result.returncode == 1
    assert "targetColumn differs between stages (dev 'churned', staging 'target'" in result.stdout


@pytest.mark.parametrize("stage", STAGES)
def test_mlops_preview_passes_each_stage(project, stage, tmp_path):
    out = tmp_path / "plan.json"
    result = _run([sys.executable, "-m", "mlops_components.cli", "preview", "--stack", stage,
                   "--json", str(out)], project, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    document = json.loads(out.read_text())
    assert document["policy"]["mandatory"] == 0
    assert document["stack"] == stage


# --- the CI workflow ---------------------------------------------------------------------


def test_the_workflow_passes_actionlint(project):
    files = [str(path.relative_to(project)) for path in _workflow_files(project)]
    assert files, "no workflow in the rendered project"
    result = subprocess.run([_tool("actionlint"), "-no-color", *files], cwd=project,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("schema", "pattern"), [
    ("vendor.github-workflows", "workflows/*.yml"),
    ("vendor.github-actions", "actions/*/action.yml"),
])
def test_the_workflow_passes_githubs_schema(project, schema, pattern):
    files = sorted((project / ".github").glob(pattern))
    assert files
    result = subprocess.run([_tool("check-jsonschema"), "--builtin-schema", schema,
                             *map(str, files)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _matrix_rows(job: dict) -> list[dict[str, str]]:
    matrix = (job.get("strategy") or {}).get("matrix") or {}
    rows = [dict(row) for row in matrix.get("include", [])]
    axes = {key: values for key, values in matrix.items() if key not in ("include", "exclude")}
    for key, values in axes.items():
        rows = [{**row, key: value} for row in rows or [{}] for value in values]
    return rows or [{}]


def _with_matrix(text: str, row: dict[str, str]) -> str:
    for key, value in row.items():
        text = text.replace(f"${{{{ matrix.{key} }}}}", str(value))
    return text


def _steps(project: Path) -> list[tuple[str, dict, dict[str, str]]]:
    """Every step of every workflow (a local action's steps in its place), with the matrix
    row it runs under: (where, step, row)."""
    found = []
    for path in _workflow_files(project):
        for job_id, job in yaml.safe_load(path.read_text())["jobs"].items():
            for row in _matrix_rows(job):
                for step in job["steps"]:
                    found.append((f"{path.name} {job_id}", step, row))
                    uses = step.get("uses", "")
                    if uses.startswith("./"):
                        action = yaml.safe_load((project / uses / "action.yml").read_text())
                        found += [(f"{uses}", inner, row) for inner in action["runs"]["steps"]]
    return found


def _command_problems(project: Path, command: list[str]) -> list[str]:
    """What in one shell command names a file, stack or test path the project lacks."""
    problems = []
    stacks = set(load_project(project).stacks())
    words = command[2:] if command[:3] == ["python", "-m", "pytest"] else command
    if words and words[0] == "pytest":
        for word in words[1:]:
            if not word.startswith("-") and not (project / word.split("::")[0]).exists():
                problems.append(f"pytest path {word} does not exist")
    if command[:2] == ["mlops", "preview"]:
        stack = command[command.index("--stack") + 1] if "--stack" in command else "dev"
        if stack not in stacks:
            problems.append(f"mlops preview --stack {stack}: no Pulumi.{stack}.yaml")
    for flag in ("-r", "--requirement"):
        if flag in command:
            requirement = command[command.index(flag) + 1]
            if not requirement.startswith("$") and not (project / requirement).is_file():
                problems.append(f"requirements file {requirement} does not exist")
    if command and command[0] == "pulumi":
        problems.append("pulumi runs through pulumi/actions, not a run: step")
    return problems


def test_the_workflow_calls_only_what_the_project_has(project):
    stacks = set(load_project(project).stacks())
    problems, previewed, deployed, tested = [], set(), [], False
    for where, step, row in _steps(project):
        if "run" in step:
            for line in step["run"].splitlines():
                line = line.split(">>")[0].strip()
                if not line:
                    continue
                command = shlex.split(line)
                problems += [f"{where}: {problem}"
                             for problem in _command_problems(project, command)]
                previewed |= {command[3]} if command[:3] == ["mlops", "preview", "--stack"] \
                    else set()
                tested |= "pytest" in command
        inputs = {key: _with_matrix(str(value), row) for key, value in
                  (step.get("with") or {}).items()}
        if step.get("uses", "").startswith("pulumi/actions@"):
            stack = inputs["stack-name"].rsplit("/", 1)[-1]
            if stack not in stacks:
                problems.append(f"{where}: pulumi stack {inputs['stack-name']}: "
                                f"no Pulumi.{stack}.yaml")
            if inputs["command"] == "up":
                deployed.append(stack)
            if inputs["command"] == "preview":
                assert inputs.get("comment-on-pr") == "True", where
                previewed.add(f"pulumi:{stack}")
        if step.get("uses", "").startswith("./"):
            action = project / step["uses"] / "action.yml"
            if not action.is_file():
                problems.append(f"{where}: local action {step['uses']} does not exist")
                continue
            declared = yaml.safe_load(action.read_text()).get("inputs") or {}
            inputs = {key: spec.get("default") for key, spec in declared.items()} | inputs
        problems += [f"{where}: {key} {value}: no such file" for key, value in inputs.items()
                     if "requirements" in key and not (project / str(value)).is_file()]
    assert not problems, "\n".join(problems)
    assert tested
    assert previewed == set(STAGES) | {f"pulumi:{stage}" for stage in STAGES}
    assert deployed == list(STAGES)


def test_prod_waits_for_staging_and_an_approval(project):
    (path,) = _workflow_files(project)
    jobs = yaml.safe_load(path.read_text())["jobs"]
    deploys = {job["environment"]: (job_id, job) for job_id, job in jobs.items()
               if "environment" in job}
    assert set(deploys) == set(STAGES)
    assert deploys["staging"][1]["needs"] == deploys["dev"][0]
    assert deploys["prod"][1]["needs"] == deploys["staging"][0]
    for job_id, job in [*deploys.values(), (None, jobs["preview"])]:
        assert job["permissions"]["id-token"] == "write", job_id
    text = path.read_text()
    assert "aws-access-key-id" not in text and "PULUMI_ACCESS_TOKEN" not in text
    assert "role-to-assume" in text and "pulumi/auth-actions@" in text
