"""The EDA report's body: skrub's TableReport of the table as the model will see it.

skrub (the dirty_cat successor, developed at Inria beside scikit-learn) renders an interactive,
self-contained page from a DataFrame: a sample of rows, per-column statistics, distributions and
pairwise associations, with its JavaScript and CSS inlined (it works offline, as the jobs do).
It replaces the hand-written tables and charts this report had; our alerts stay its head.

What it is given is what Preprocess uses: ID-like columns left out (the report lists them, a
histogram of unique keys says nothing), dates parsed as dates (skrub then plots them over
time), numbers as numbers, and the target. skrub draws one matplotlib figure per column
(about 0.14 s each) and its pairwise associations grow with the square of the columns (16 s
at 300), so past MAX_PLOTTED_COLUMNS columns both are skipped and the page says so; its
statistics and our feature-vs-target view (0.7 s at 300 columns) still cover every column.
Without skrub (a development interpreter that lacks it) the body is None and the caller falls
back to a plain table.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from unittest import mock

import pandas as pd

from training import plots

MAX_PLOTTED_COLUMNS = 100
"""Columns up to which skrub plots every distribution and computes the pairwise associations
(its own default is 30 for both)."""
SKRUB_MISSING_NOTE = ("the interactive table needs skrub and matplotlib "
                      "(training/requirements.txt), which this environment lacks")
SAMPLE_ROWS = 10
"""Rows shown in the table tab (half from the top, half from the bottom)."""


def table_report_html(frame: pd.DataFrame, column_filters: Mapping[str, Sequence[str]]
                      ) -> tuple[str, list[str]] | None:
    """skrub's report of `frame` as an HTML fragment to embed, and notes on what it skipped;
    None without skrub or matplotlib. `column_filters`: named column lists for its menu."""
    if not plots.available():
        return None
    try:
        import skrub
    except ImportError:
        return None
    plot = frame.shape[1] <= MAX_PLOTTED_COLUMNS
    notes = [] if plot else [
        f"distributions and pairwise associations are shown for tables of up to "
        f"{MAX_PLOTTED_COLUMNS} columns (this one has {frame.shape[1]}): the statistics below "
        "and each feature against the target above cover every column"]
    filters = {name: [c for c in columns if c in frame.columns]
               for name, columns in column_filters.items()}
    report = skrub.TableReport(frame, n_rows=SAMPLE_ROWS, verbose=0, plot_distributions=plot,
                               compute_associations=plot,
                               column_filters={k: v for k, v in filters.items() if v})
    with reproducible_ids(), contextlib.redirect_stdout(io.StringIO()):
        return report.html_snippet(), notes


@contextlib.contextmanager
def reproducible_ids() -> Iterator[None]:
    """The same page for the same data, as every other output of the jobs: skrub names its
    elements with `secrets.token_hex()`, matplotlib its SVG clip paths with random salt and
    dates its SVGs now (unless SOURCE_DATE_EPOCH is set); all three are fixed while the report
    renders."""
    import matplotlib

    counter = itertools.count(1)
    with mock.patch.object(secrets, "token_hex", lambda *_: f"{next(counter):016x}"), \
            matplotlib.rc_context({"svg.hashsalt": "mlops-eda"}), \
            mock.patch.dict(os.environ, {"SOURCE_DATE_EPOCH": "0"}):
        yield
