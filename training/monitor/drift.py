"""Drift job: captured endpoint traffic against the model's training baseline.

Usage (a SageMaker processing job, or locally)::

    python -m training.monitor.drift \\
        --capture-uri s3://<bucket>/capture/churn/ --baseline-uri s3://<bucket>/models/... \\
        --capture-dir /opt/ml/processing/input/capture \\
        --baseline-dir /opt/ml/processing/input/baseline \\
        --output-dir /opt/ml/processing/output/drift \\
        --endpoint churn --model churn-v3 --window-hours 24 [--no-publish]

With ``--capture-uri`` / ``--baseline-uri`` the job copies the window's hour folders and the
baseline's statistics.json from S3 itself (``source``) into the two folders; without them it
reads the folders as they are. No baseline or no capture in the window is "no data": a report
that says so, ``RecordsAnalyzed`` 0, exit 0.

The job reads the baseline (``reference``), streams the window's capture files into
fixed-size counts (``payloads``, ``window``), computes the drift metrics (``metrics``),
writes ``drift_report.json`` and ``drift_report.html`` (``report``) and publishes CloudWatch
metrics for alarms (``cloudwatch``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from training import capture
from training.contract import (
    DEFAULT_DRIFT_WINDOW_HOURS,
    DRIFT_HTML_FILE,
    DRIFT_REPORT_FILE,
    DRIFT_THRESHOLD_FLAGS,
    LOCAL_METRICS_FILE_ENV,
    PROCESSING_BASELINE_DIR,
    PROCESSING_CAPTURE_DIR,
    PROCESSING_DRIFT_DIR,
)
from training.monitor.cloudwatch import (
    cloudwatch_metric_data,
    publish_metrics,
    write_local_metrics,
)
from training.monitor.metrics import DEFAULT_THRESHOLDS, DriftThresholds
from training.monitor.payloads import collect
from training.monitor.reference import Baseline, DriftInputError, load_baseline
from training.monitor.report import (
    STATUS_NO_TRAFFIC,
    drift_report,
    no_baseline_report,
    render_html,
)
from training.monitor.source import (
    ObjectStore,
    SourceError,
    default_store,
    fetch_baseline,
    fetch_window,
)
from training.monitor.window import WindowStatistics


def run_drift(
    capture_dir: str | Path,
    baseline: str | Path | Baseline,
    output_dir: str | Path | None = None,
    window_hours: float = DEFAULT_DRIFT_WINDOW_HOURS,
    window_end: datetime | None = None,
    thresholds: DriftThresholds = DEFAULT_THRESHOLDS,
    chunk_bytes: int = capture.DEFAULT_CHUNK_BYTES,
) -> dict[str, Any]:
    """Check the capture files of a window against a baseline; write the reports if asked.

    ``window_hours`` <= 0 reads every file regardless of its hour folder.
    """
    if not isinstance(baseline, Baseline):
        baseline = load_baseline(baseline)
    start, end = window_bounds(window_hours, window_end)
    files = capture.list_capture_files(capture_dir, start, end if start else None)
    stats = collect(baseline, files, chunk_bytes)
    report = drift_report(stats, thresholds, _window(start, end, window_hours))
    if report["status"] == STATUS_NO_TRAFFIC:
        report["note"] = ("no capture records in the window: no traffic, capture not written "
                          "yet, or expired")
    if output_dir is not None:
        write_reports(report, output_dir)
    return report


def check_frame(
    frame: pd.DataFrame,
    baseline: Baseline,
    thresholds: DriftThresholds = DEFAULT_THRESHOLDS,
    window: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The drift report of a table of requests (one row each, columns named like the
    baseline's features, any dtype), as `run_drift` reports a window of capture files."""
    stats = WindowStatistics(baseline, files=0)
    stats.records = len(frame)
    stats.update_frame(frame)
    return drift_report(stats, thresholds, window)


def window_bounds(window_hours: float, window_end: datetime | None = None
                  ) -> tuple[datetime | None, datetime]:
    """(start, end) of the window; start None when ``window_hours`` <= 0 (every file)."""
    end = window_end or datetime.now(UTC)
    return (end - timedelta(hours=window_hours) if window_hours > 0 else None), end


def _window(start: datetime | None, end: datetime, hours: float) -> dict[str, Any]:
    return {"start": start.isoformat() if start else None, "end": end.isoformat(),
            "hours": hours}


def write_reports(report: dict[str, Any], output_dir: str | Path) -> None:
    """``drift_report.json`` and ``drift_report.html`` in ``output_dir``."""
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    (output / DRIFT_REPORT_FILE).write_text(json.dumps(report, indent=2, default=str))
    (output / DRIFT_HTML_FILE).write_text(render_html(report))


def run_drift_from_s3(
    store: ObjectStore,
    capture_uri: str,
    baseline_uri: str,
    capture_dir: str | Path,
    baseline_dir: str | Path,
    output_dir: str | Path | None = None,
    window_hours: float = DEFAULT_DRIFT_WINDOW_HOURS,
    window_end: datetime | None = None,
    thresholds: DriftThresholds = DEFAULT_THRESHOLDS,
    chunk_bytes: int = capture.DEFAULT_CHUNK_BYTES,
) -> dict[str, Any]:
    """The check on what the job reads from S3 itself: the baseline, then the window's hour
    folders only. No baseline: a "no baseline" report (the window is not read)."""
    start, end = window_bounds(window_hours, window_end)
    if fetch_baseline(store, baseline_uri, Path(baseline_dir)) is None:
        report = no_baseline_report(baseline_uri, _window(start, end, window_hours),
                                    thresholds)
        if output_dir is not None:
            write_reports(report, output_dir)
        return report
    fetch_window(store, capture_uri, Path(capture_dir), start, end)
    return run_drift(capture_dir, baseline_dir, output_dir, window_hours, end, thresholds,
                     chunk_bytes)


def _time(text: str) -> datetime:
    try:
        return capture.parse_time(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from error


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    defaults = DriftThresholds()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture-uri", default=None,
                        help="s3:// prefix of the endpoint's capture: the window's hour "
                             "folders are copied into --capture-dir")
    parser.add_argument("--baseline-uri", default=None,
                        help="s3:// prefix of statistics.json, copied into --baseline-dir")
    parser.add_argument("--capture-dir", type=Path, default=Path(PROCESSING_CAPTURE_DIR))
    parser.add_argument("--baseline-dir", type=Path, default=Path(PROCESSING_BASELINE_DIR))
    parser.add_argument("--output-dir", type=Path, default=Path(PROCESSING_DRIFT_DIR))
    parser.add_argument("--endpoint", default="")
    parser.add_argument("--model", default="")
    parser.add_argument("--window-hours", type=float, default=DEFAULT_DRIFT_WINDOW_HOURS,
                        help="hours of capture folders before --window-end (<= 0: all files)")
    parser.add_argument("--window-end", type=_time, default=None, help="default: now (UTC)")
    parser.add_argument("--publish", action=argparse.BooleanOptionalAction, default=True,
                        help="publish CloudWatch metrics (needs --endpoint and --model)")
    parser.add_argument("--metrics-file", type=Path, default=None,
                        help="with --no-publish: write the metric data (PutMetricData items, "
                             "no timestamp) as JSON to this file instead, for a job without "
                             "network whose pipeline publishes them (batch inference)")
    psi_flag, ks_flag, js_flag, missing_flag = DRIFT_THRESHOLD_FLAGS
    floor = ("the smallest {} that alarms, however many rows (at fewer rows the threshold is "
             "higher: what chance alone reaches; see DriftThresholds)")
    parser.add_argument(f"--{psi_flag}", type=float, default=defaults.psi,
                        help=floor.format("PSI"))
    parser.add_argument(f"--{ks_flag}", type=float, default=defaults.ks,
                        help=floor.format("KS statistic"))
    parser.add_argument(f"--{js_flag}", type=float, default=defaults.js_distance,
                        help=floor.format("Jensen-Shannon distance"))
    parser.add_argument(f"--{missing_flag}", type=float,
                        default=defaults.missing_rate_increase,
                        help=floor.format("increase of the missing-value rate"))
    parser.add_argument("--min-rows", type=int, default=defaults.min_rows)
    parser.add_argument("--chunk-mb", type=float, default=capture.DEFAULT_CHUNK_BYTES / 2**20)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Processing-job entry point: 0 when the check ran (drift or not), 2 on bad input."""
    args = parse_args(argv)
    try:
        if args.publish and not (args.endpoint and args.model):
            raise DriftInputError("--publish needs --endpoint and --model (or use --no-publish)")
        for name in ("psi_threshold", "ks_threshold", "js_threshold", "missing_threshold"):
            if getattr(args, name) <= 0:
                raise DriftInputError(f"--{name.replace('_', '-')} must be > 0 "
                                      f"(got {getattr(args, name)})")
        thresholds = DriftThresholds(psi=args.psi_threshold, ks=args.ks_threshold,
                                     js_distance=args.js_threshold,
                                     missing_rate_increase=args.missing_threshold,
                                     min_rows=args.min_rows)
        if bool(args.capture_uri) != bool(args.baseline_uri):
            raise DriftInputError("--capture-uri and --baseline-uri go together")
        chunk = max(int(args.chunk_mb * 2**20), 1024)
        if args.capture_uri:
            report = run_drift_from_s3(default_store(), args.capture_uri, args.baseline_uri,
                                       args.capture_dir, args.baseline_dir, args.output_dir,
                                       args.window_hours, args.window_end, thresholds, chunk)
        else:
            report = run_drift(args.capture_dir, args.baseline_dir, args.output_dir,
                               args.window_hours, args.window_end, thresholds, chunk)
    except (DriftInputError, SourceError) as error:
        print(f"drift: {error}", file=sys.stderr)
        return 2
    if report.get("note"):
        print(f"drift: {report['note']}")
    print(f"drift: {report['verdict']}; window {report['window']['description']}; "
          f"{report['malformed']['description']}; "
          f"schema violations={len(report['violations'])}")
    if args.metrics_file is not None:
        if not (args.endpoint and args.model):
            print("drift: --metrics-file needs --endpoint and --model", file=sys.stderr)
            return 2
        data = cloudwatch_metric_data(report, args.endpoint, args.model)
        args.metrics_file.parent.mkdir(parents=True, exist_ok=True)
        args.metrics_file.write_text(json.dumps(
            [{key: value for key, value in datum.items() if key != "Timestamp"}
             for datum in data], indent=1))
    if args.publish and os.environ.get(LOCAL_METRICS_FILE_ENV):
        path = Path(os.environ[LOCAL_METRICS_FILE_ENV])
        write_local_metrics(path, cloudwatch_metric_data(report, args.endpoint, args.model))
        print(f"drift: metrics appended to {path} (the local stand-in for CloudWatch)")
    elif args.publish:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            publish_metrics(boto3.client("cloudwatch"),
                            cloudwatch_metric_data(report, args.endpoint, args.model))
        except (BotoCoreError, ClientError) as error:
            print(f"drift: publishing CloudWatch metrics failed: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
