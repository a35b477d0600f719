"""The reports as a person sees them: the EDA, evaluation and drift pages the real jobs write on
real data, opened in headless Chromium with the network closed (`tests.page_check`): no console
error, no failed request, every plot decoded and laid out with a size. Screenshots are kept
under pytest's temporary folder (`<basetemp>/report-screenshots*/`) for a person to look at."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest

from tests.page_check import page_checker
from tests.training.dirty_data import TARGET, churn_table
from tests.training.panel import wide_fraud
from training import capture
from training.contract import BASELINE_STATISTICS_FILE, DRIFT_HTML_FILE, REPORT_FILE
from training.eda.profile import profile_dataframe
from training.evaluate.evaluate import EVALUATION_REPORT_FILE
from training.monitor import drift

WINDOW_END = datetime(2026, 11, 27, 11, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def checker(tmp_path_factory):
    with page_checker(tmp_path_factory.mktemp("report-screenshots")) as checker:
        yield checker


def test_the_eda_report_of_a_dirty_table_shows_every_plot(checker, tmp_path):
    profile_dataframe(churn_table(), TARGET, "classification", tmp_path / "report")
    page = checker.check(tmp_path / "report" / REPORT_FILE, "eda-churn")
    page.assert_ok(min_plots=60)  # target, over time, 31 sparklines, skrub's distributions
    assert [s.split("'")[1] for s in page.states[1:]] == [
        "Table", "Stats", "Distributions", "Associations"]  # skrub's tabs, each clicked


def test_the_eda_report_of_300_columns_loads_cleanly(checker, tmp_path):
    wide = wide_fraud().iloc[:600]
    profile_dataframe(wide, "fraud", "classification", tmp_path / "report")
    page = checker.check(tmp_path / "report" / REPORT_FILE, "eda-wide")
    page.assert_ok(min_plots=wide.shape[1] - 6)  # a sparkline per feature at least
    assert page.height < 4500  # alerts, roles and features scroll in their boxes


def test_the_pipelines_eda_and_evaluation_reports_show_every_plot(checker, classification_run):
    checker.check(classification_run.report / REPORT_FILE, "eda-cancer").assert_ok(min_plots=10)
    evaluation = checker.check(classification_run.evaluation / EVALUATION_REPORT_FILE,
                               "evaluation")
    evaluation.assert_ok(min_plots=3)


def test_the_drift_report_of_a_shifted_window_shows_every_plot(checker, classification_run,
                                                               cancer_frame, tmp_path):
    # GIVEN the profile job's own baseline and a window of traffic with one feature shifted
    baseline = classification_run.baseline
    names = [f["name"] for f in json.loads((baseline / BASELINE_STATISTICS_FILE).read_text())
             ["features"]]
    live: pd.DataFrame = cancer_frame[names].sample(200, random_state=0)
    live["mean radius"] += 3 * cancer_frame["mean radius"].std()
    lines = live.to_csv(header=False, index=False, lineterminator="\n").splitlines()
    capture.append_records(tmp_path / "capture", [
        capture.capture_record(line, "text/csv", "1", "text/csv",
                               time=WINDOW_END.replace(minute=0) - pd.Timedelta(minutes=30))
        for line in lines])
    # WHEN the drift job runs on it
    assert drift.main(["--capture-dir", str(tmp_path / "capture"), "--baseline-dir",
                       str(baseline), "--output-dir", str(tmp_path / "drift"),
                       "--window-hours", "2", "--window-end", WINDOW_END.isoformat(),
                       "--no-publish"]) == 0
    # THEN its page loads cleanly with a plot per feature
    page = checker.check(tmp_path / "drift" / DRIFT_HTML_FILE, "drift")
    page.assert_ok(min_plots=len(names))


def test_the_checker_fails_a_page_that_needs_the_network_or_shows_a_broken_plot(checker,
                                                                                 tmp_path):
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><head><script src="https://cdn.example.org/lib.js"></script>'
        "</head><body><img alt=broken src=\"data:image/png;base64,AAAA\">"
        '<img alt=empty style="width:0" src="data:image/svg+xml,'
        "%3Csvg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/%3E\">"
        "<script>console.error('boom')</script></body></html>")
    problems = "\n".join(checker.check(page).problems)
    assert "failed request: https://cdn.example.org/lib.js" in problems
    assert "console error: boom" in problems
    assert "img #0 'broken' (as opened): image not decoded" in problems
    assert "img #1 'empty' (as opened): rendered 0x0" in problems
