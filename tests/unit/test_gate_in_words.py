"""The run summary's gate lines carry Evaluate's paired comparison with the champion."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mlops_components.cli import render
from mlops_components.sagemaker.spec import PipelineParameter
from training.contract import (
    BASELINE_GAP,
    CHAMPION_COMPARISON,
    CHAMPION_GAP,
    CHAMPION_GAP_HIGH,
    CHAMPION_PRESENT,
    CHAMPION_ROWS,
    CHAMPION_SEEN_ROWS,
    EVALUATION_FILE,
    EVALUATION_OUTPUT,
)

COMPARISON = ("balanced_accuracy: challenger 0.951 vs champion 0.947: difference +0.004, "
              "95 % interval [-0.012, +0.020] over 1000 paired resamples of the test rows: "
              "not distinguishable")


def gate_in_words(monkeypatch, gate: dict) -> list[str]:
    """The summary's gate sentences for an evaluation.json holding `gate`, at the default
    threshold 0.8 and margins 0.05 (baseline) and 0 (champion)."""
    files = {(EVALUATION_OUTPUT, EVALUATION_FILE): {"gate": gate}}
    monkeypatch.setattr(render, "_step_file", lambda run, output, name: files.get((output, name)))
    run = SimpleNamespace(execution=SimpleNamespace(parameters={
        PipelineParameter.METRIC_THRESHOLD.value: 0.8,
        PipelineParameter.BASELINE_MARGIN.value: 0.05,
        PipelineParameter.CHAMPION_MARGIN.value: 0.0}))
    return render._gate_in_words(run)


def test_the_summary_states_the_paired_comparison_in_words(monkeypatch):
    gate = {"metric": "balanced_accuracy", "model": 0.951, "baseline": 0.5, BASELINE_GAP: 0.451,
            CHAMPION_PRESENT: 1, "champion": 0.947, CHAMPION_GAP: 0.004,
            CHAMPION_COMPARISON: COMPARISON}
    words = gate_in_words(monkeypatch, gate)
    assert words[-2].startswith("beats the champion (0.9470)")
    assert words[-1] == COMPARISON


@pytest.mark.parametrize(("gap", "high", "expected"), [
    (-0.007, 0.015, "trails the champion (0.9470) within the noise (gap -0.0070; the top of its "
                    "95 % interval 0.0150 reaches the margin 0)"),
    (-0.08, -0.02, "is worse than the champion (0.9470) beyond the noise (gap -0.0800; the top "
                   "of its 95 % interval -0.0200 is below the margin 0)"),
    (0.0, 0.0, "matches the champion (0.9470): a tie, which the margin 0 accepts"),
])
def test_the_champion_sentence_decides_as_the_gate_does(monkeypatch, gap, high, expected):
    gate = {"metric": "balanced_accuracy", "model": 0.94, "baseline": 0.5, BASELINE_GAP: 0.44,
            CHAMPION_PRESENT: 1, "champion": 0.947, CHAMPION_GAP: gap, CHAMPION_GAP_HIGH: high}
    assert gate_in_words(monkeypatch, gate)[-1] == expected


def test_rows_left_out_of_the_champion_comparison_are_said(monkeypatch):
    gate = {"metric": "balanced_accuracy", "model": 0.94, "baseline": 0.5, BASELINE_GAP: 0.44,
            CHAMPION_PRESENT: 1, "champion": 0.947, CHAMPION_GAP: 0.0, CHAMPION_GAP_HIGH: 0.0,
            CHAMPION_ROWS: 61, CHAMPION_SEEN_ROWS: 24}
    assert gate_in_words(monkeypatch, gate)[-1] == (
        "compared on the 61 test rows the champion never learnt from (24 left out: its split "
        "rule puts them in its train or validation split)")
