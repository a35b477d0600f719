"""`mlops diagram`: the rendered SVG holds every component and every flow of the plan."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mlops_components import diagram
from mlops_components.cli import main
from mlops_components.plan import Plan, plan_stack
from tests.conftest import REPO_ROOT

SVG = "{http://www.w3.org/2000/svg}"
COMMITTED_PICTURE = REPO_ROOT / "docs" / "dev-stack.svg"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's dot not installed (README set-up installs it)")


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    return {stack: plan_stack(REPO_ROOT, stack) for stack in ("dev", "staging", "prod")}


def _svg_parts(path: Path) -> tuple[dict[str, str], set[str], set[tuple[str, str]]]:
    """(cluster id -> its label text, node ids, edges as (source, target)) of an SVG."""
    root = ET.parse(path).getroot()
    clusters, nodes, edges = {}, set(), set()
    for group in root.iter(f"{SVG}g"):
        title = group.findtext(f"{SVG}title") or ""
        text = " ".join(t.text or "" for t in group.iter(f"{SVG}text"))
        kind = group.get("class")
        if kind == "cluster":
            clusters[title] = text
        elif kind == "node":
            nodes.add(title)
        elif kind == "edge":
            source, _, target = title.partition("->")
            edges.add((source, target))
    return clusters, nodes, edges


def _components(plan: Plan) -> list[str]:
    return [r.name for r in plan.resources
            if r.type.startswith("mlops:index:") and r.type != "mlops:index:MlopsStack"]


@needs_dot
@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_svg_holds_every_component_resource_and_flow_of_the_plan(plans, tmp_path, stack):
    plan = plans[stack]
    out = diagram.render(plan, tmp_path / "stack.svg")
    clusters, nodes, edges = _svg_parts(out)
    expected = diagram.drawn(plan)
    for component in _components(plan):
        assert any(component in label.split() for label in clusters.values()), component
    assert set(expected.nodes) <= nodes
    missing = [(s, t, label) for s, t, label in expected.edges if (s, t) not in edges]
    assert not missing, f"flows of the plan missing from the picture: {missing}"
    assert len(expected.edges) >= 15


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_lifecycles_event_flows_are_derived_from_the_plan(plans, stack):
    model = "diagnosis-dev" if stack == "dev" else "diagnosis"
    edges = {(source, target) for source, target, _ in diagram.drawn(plans[stack]).edges}

    def chain(*names: str) -> None:
        for source, target in zip(names, names[1:], strict=False):
            assert (source, target) in edges, f"{source} -> {target}"

    # approval -> deploy
    chain(f"{model}-registry-group", f"{model}-endpoint-approval-rule",
          f"{model}-endpoint-deployer", f"endpoint/{model}-endpoint")
    # schedule -> drift check -> alarm -> retrain
    chain(f"{model}-monitor-schedule", f"{model}-monitor-pipeline",
          f"{model}-monitor-drift-alarm", f"{model}-retrain-drift", f"{model}-retrain-gate",
          f"{model}-training-pipeline", f"{model}-registry-group")
    # new data -> gate -> retrain
    chain(f"{model}-data-bucket", f"{model}-retrain-new-data", f"{model}-retrain-gate")
    if stack == "prod":  # the weekly retrain schedule
        chain(f"{model}-retrain-schedule", f"{model}-retrain-gate")


def test_the_committed_picture_of_dev_is_the_plan_of_today(plans):
    """docs/dev-stack.svg (README) carries the digest of the Graphviz source it was drawn
    from; regenerate it with `mlops diagram --stack dev -o docs/dev-stack.svg`."""
    source = diagram.build(plans["dev"]).source
    text = COMMITTED_PICTURE.read_text()
    assert f"{diagram.SOURCE_DIGEST_PREFIX}{diagram.source_digest(source)}" in text, (
        "docs/dev-stack.svg is stale: run `mlops diagram --stack dev -o docs/dev-stack.svg`")
    clusters, nodes, _ = _svg_parts(COMMITTED_PICTURE)
    assert set(diagram.drawn(plans["dev"]).nodes) <= nodes


@needs_dot
def test_diagram_command_draws_prod(tmp_path, capsys):
    out = tmp_path / "stack.svg"
    assert main(["diagram", "--project-dir", str(REPO_ROOT), "--stack", "prod",
                 "-o", str(out)]) == 0
    assert "drawn to" in capsys.readouterr().out
    ET.parse(out)


def test_dot_source_needs_no_graphviz_binary(tmp_path, monkeypatch):
    monkeypatch.setattr(diagram.shutil, "which", lambda name: None)
    out = tmp_path / "stack.dot"
    assert main(["diagram", "--project-dir", str(REPO_ROOT), "-o", str(out)]) == 0
    assert out.read_text().startswith("digraph")


def test_a_missing_dot_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(diagram.shutil, "which", lambda name: None)
    code = main(["diagram", "--project-dir", str(REPO_ROOT), "-o", str(tmp_path / "s.svg")])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert "Graphviz's `dot` is not installed: `apt-get install graphviz`" in err


@pytest.mark.parametrize(("output", "named"), [
    ("stack.gif", "unknown format '.gif'"),
    ("nope/stack.svg", "does not exist"),
])
def test_a_bad_output_is_refused_before_planning(tmp_path, capsys, output, named):
    code = main(["diagram", "--project-dir", str(tmp_path), "-o", str(tmp_path / output)])
    assert code == 2
    assert named in " ".join(capsys.readouterr().err.split())
