"""Each stage of this project, planned offline: the real program under Pulumi's mock engine.

No AWS account, Pulumi CLI or network is needed: this is what `mlops preview --stack <stage>`
runs, checked here so a change that breaks a stage or the platform's policy pack fails before
it is merged.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_components.config import parse_config
from mlops_components.plan import plan_stack
from mlops_components.policy.offline import evaluate_policies, mandatory, stack_policy_config
from mlops_components.project import load_project

PROJECT_DIR = Path(__file__).resolve().parent.parent
STAGES = ("dev", "staging", "prod")
#: Settings every stage must share: a model carried from dev to prod predicts the same column
#: the same way, for the same owner.
SHARED_SETTINGS = ("targetColumn", "problemType", "owner")


def _config(stage: str):
    project = load_project(PROJECT_DIR)
    return parse_config(project.stack_config(stage), project=project.name)


def test_the_project_has_every_stage():
    assert set(STAGES) <= set(load_project(PROJECT_DIR).stacks())


@pytest.mark.parametrize("stage", STAGES)
def test_the_stage_plans_and_passes_the_policy_pack(stage):
    plan = plan_stack(PROJECT_DIR, stage)
    config = _config(stage)
    stacks = plan.of_type("mlops:index:MlopsStack")
    assert [resource.name for resource in stacks] == [config.model_name]
    assert plan.of_type("aws:sagemaker/pipeline:Pipeline"), "no training pipeline planned"
    blocking = mandatory(evaluate_policies(plan, stack_policy_config(config)))
    assert not blocking, "\n".join(violation.line() for violation in blocking)


def test_every_stage_describes_the_same_model():
    project = load_project(PROJECT_DIR)
    values = {stage: project.stack_config(stage) for stage in STAGES}
    problems = []
    for key in SHARED_SETTINGS:
        full_key = f"{project.name}:{key}"
        seen = {stage: values[stage].get(full_key) for stage in STAGES}
        if len(set(seen.values())) > 1:
            where = ", ".join(f"{stage} {value!r}" for stage, value in seen.items())
            problems.append(f"{key} differs between stages ({where}): set it once in "
                            f"Pulumi.yaml's config, which every stage reads, and remove it "
                            f"from the Pulumi.<stage>.yaml files")
    assert not problems, "\n".join(problems)
