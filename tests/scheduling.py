"""How `--dist loadfile` hands the test files to the two workers (``tests/conftest.py``).

xdist's loadfile sends one file at a time, the files with the most tests first. Two things
cost minutes with that order:

- A session fixture runs once per *worker*: the files that read one session's whole
  `mlops up --local` runs (``default_run`` and the runs made after it) or in-process pipeline
  runs (``classification_run``, ``regression_run``) made them once on each worker. Here such
  files form one unit, so one worker makes each run once.
- The longest files have few tests (the README test is one test of ~3 minutes), so they
  started last and the other worker sat idle at the end. Here the longest units go first,
  then the rest by number of tests as before.
"""

from __future__ import annotations

from collections import OrderedDict

from xdist.scheduler import LoadFileScheduling

SHARED_RUNS = {
    **dict.fromkeys(("tests/local/test_end_to_end.py", "tests/local/test_cli_hints.py",
                     "tests/local/test_drift_cli.py"), "tests/local: default_run"),
    **dict.fromkeys((f"tests/training/{name}.py" for name in (
        "test_baseline", "test_cluster", "test_model", "test_plots", "test_preprocess",
        "test_profile", "test_reports_in_browser", "test_retraining", "test_scripts",
        "test_train")), "tests/training: classification_run, regression_run"),
}
"""File → the unit it runs in, for files sharing session fixtures that make whole runs."""

LONGEST_FIRST = (
    "tests/test_readme.py",  # ~3 min: every README command, six `mlops up --local`
    "tests/env/test_training_under_image.py",  # ~3 min: tests/training again under 3.12
    "tests/local: default_run",
    "tests/training: classification_run, regression_run",
    "tests/local/test_concurrent_runs.py",
)
"""Units measured to take longest, longest first (`--durations`)."""


class SharedRunScheduling(LoadFileScheduling):
    """loadfile, with the units of SHARED_RUNS, and those of LONGEST_FIRST first (then, as
    loadfile does, the units with most tests)."""

    def _split_scope(self, nodeid: str) -> str:
        path = super()._split_scope(nodeid)
        return SHARED_RUNS.get(path, path)

    def _assign_work_unit(self, node) -> None:
        if not getattr(self, "_ordered", False):  # the first assignment: the queue is full
            self._ordered = True

            def rank(unit: str) -> int:
                return LONGEST_FIRST.index(unit) if unit in LONGEST_FIRST else len(LONGEST_FIRST)

            self.workqueue = OrderedDict(sorted(self.workqueue.items(),
                                                key=lambda item: rank(item[0])))
        super()._assign_work_unit(node)
