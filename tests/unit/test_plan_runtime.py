"""The offline plan's runtime: what it changes in Pulumi while a program runs, and puts back."""

from __future__ import annotations

import gc

import pytest
from pulumi.runtime import resource as runtime_resource

from mlops_components.plan import mocked_runtime


def test_registrations_carry_no_stack_trace_only_while_a_plan_runs():
    original = runtime_resource._get_stack_trace
    with mocked_runtime("mlops", "unit"):
        assert runtime_resource._get_stack_trace is not original
        assert list(runtime_resource._get_stack_trace().frames) == []
    assert runtime_resource._get_stack_trace is original


def test_the_stack_trace_is_put_back_when_the_program_fails():
    original = runtime_resource._get_stack_trace
    with pytest.raises(RuntimeError, match="boom"), mocked_runtime("mlops", "unit"):
        raise RuntimeError("boom")
    assert runtime_resource._get_stack_trace is original


def test_the_gc_runs_less_often_only_while_a_plan_runs():
    before = gc.get_threshold()
    with mocked_runtime("proj", "dev"):
        assert gc.get_threshold()[0] > before[0]
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
