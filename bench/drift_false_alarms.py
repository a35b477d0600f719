"""Drift false alarms and sensitivity on the quality panel: does an unshifted window stay quiet?

    python bench/drift_false_alarms.py [--windows 100] [--sizes 100 300 1000] [--tables NAME ...]

For each table of `tests.training.panel.PANEL`: half the rows (seeded) are the training rows,
whose baseline is built as Profile builds it (`training.eda.drift_baseline.baseline_of_frame`);
the other half are held out. Then, with the drift job's own metrics and thresholds
(`training.monitor.drift.check_frame`, default `DriftThresholds`):

- false alarms: `--windows` unshifted windows per size, drawn without replacement from the
  held-out rows when there are enough of them, else by bootstrap from the training rows (the
  distribution the baseline describes); a window alarms when any feature drifts. Goal: 0.
- sensitivity: for the `--probe` numeric features with the most distinct values, windows
  of 300 and 1000 rows with that one feature moved by delta training standard deviations; the
  smallest delta of `DELTAS` at which >= 90 % of `--shift-windows` windows flag that feature
  (and the median over the probed features). An integer feature moves by whole units
  (round(delta * sd), deltas that round to 0 skipped): a fractional move would take every
  value off its integer, which any check finds. A shifted window that flags another feature
  counts as a collateral alarm.

Prints a table and writes JSON to bench/results/drift_false_alarms.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.training.panel import PANEL, PanelTable  # noqa: E402
from training.eda.drift_baseline import baseline_of_frame  # noqa: E402
from training.monitor.drift import check_frame  # noqa: E402
from training.monitor.metrics import DEFAULT_THRESHOLDS  # noqa: E402
from training.monitor.reference import Baseline, baseline_of_document  # noqa: E402

DELTAS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
"""Mean shifts probed, in training standard deviations of the feature."""
DETECTED = 0.9
"""Share of shifted windows that must flag the feature for a shift to count as detected."""
RESULTS = ROOT / "bench" / "results" / "drift_false_alarms.json"


def split(table: PanelTable, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = table.frame()
    order = np.random.default_rng(seed).permutation(len(frame))
    half = len(frame) // 2
    return (frame.iloc[order[:half]].reset_index(drop=True),
            frame.iloc[order[half:]].reset_index(drop=True))


def window(rows: pd.DataFrame, training: pd.DataFrame, size: int,
           rng: np.random.Generator) -> tuple[pd.DataFrame, str]:
    """`size` held-out rows without replacement, or a bootstrap of the training rows."""
    if size <= len(rows):
        return rows.iloc[rng.choice(len(rows), size, replace=False)].reset_index(drop=True), \
            "held-out"
    return training.iloc[rng.integers(0, len(training), size)].reset_index(drop=True), \
        "training bootstrap"


def probe_features(baseline: Baseline, training: pd.DataFrame, count: int) -> list[str]:
    numeric = [f.name for f in baseline.features if f.is_numeric]
    spread = {name: training[name].nunique() for name in numeric
              if training[name].std(skipna=True) > 0}
    return sorted(spread, key=lambda name: (-spread[name], name))[:count]


def bench_table(table: PanelTable, windows: int, sizes: list[int], probe: int,
                shift_windows: int, seed: int) -> dict:
    training, held_out = split(table, seed)
    baseline = baseline_of_document(baseline_of_frame(training, table.target,
                                                      table.problem_type), table.name)
    columns = baseline.names
    rng = np.random.default_rng(seed + 1)
    null: dict[str, dict] = {}
    for size in sizes:
        alarms, flagged, source = 0, {}, ""
        started = time.perf_counter()
        for _ in range(windows):
            rows, source = window(held_out, training, size, rng)
            report = check_frame(rows[columns], baseline)
            if report["drift"]:
                alarms += 1
                for name in report["drifted_features"]:
                    flagged[name] = flagged.get(name, 0) + 1
        null[str(size)] = {"windows": windows, "alarms": alarms, "source": source,
                           "flagged": flagged,
                           "seconds_per_check": (time.perf_counter() - started) / windows}
    sensitivity: dict[str, dict] = {}
    for size in (300, 1000):
        found: dict[str, float | None] = {}
        collateral = 0
        for name in probe_features(baseline, training, probe):
            std = float(training[name].std())
            integral = bool(np.all(np.mod(training[name].dropna(), 1) == 0))
            found[name] = None
            for delta in DELTAS:
                step = delta * std
                if integral:  # an integer feature moves by whole units: any fraction would
                    step = round(step)  # take every value off its integer (trivially found)
                    if step == 0:
                        continue
                hits = 0
                for _ in range(shift_windows):
                    rows, _ = window(held_out, training, size, rng)
                    rows = rows[columns].copy()
                    rows[name] = rows[name] + step
                    report = check_frame(rows, baseline)
                    hits += name in report["drifted_features"]
                    collateral += any(other != name for other in report["drifted_features"])
                if hits >= DETECTED * shift_windows:
                    found[name] = round(step / std, 3)  # the shift made, in sd
                    break
        detected = [delta for delta in found.values() if delta is not None]
        sensitivity[str(size)] = {"smallest_detected_shift_std": found,
                                  "median": float(np.median(detected)) if detected else None,
                                  "collateral_alarms": collateral}
    return {"table": table.name, "rows": len(training) + len(held_out),
            "baseline_rows": len(training), "held_out_rows": len(held_out),
            "features": len(baseline.features), "skipped": dict(baseline.skipped),
            "kinds": sorted({f.kind for f in baseline.features}),
            "false_alarms": null, "sensitivity": sensitivity}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=100)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--probe", type=int, default=3,
                        help="numeric features probed per table for the smallest shift")
    parser.add_argument("--shift-windows", type=int, default=20)
    parser.add_argument("--tables", nargs="*", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    tables = [t for t in PANEL if not args.tables or t.name in args.tables]
    results = []
    head = (f"{'table':20} {'rows':>5} {'feat':>4} "
            + " ".join(f"{'alarms@' + str(s):>12}" for s in args.sizes)
            + f" {'shift@300':>9} {'shift@1000':>10} {'collat.':>7}  skipped")
    print(head)
    for table in tables:
        result = bench_table(table, args.windows, args.sizes, args.probe,
                             args.shift_windows, args.seed)
        results.append(result)
        alarms = " ".join(f"{result['false_alarms'][str(s)]['alarms']:>8}/{args.windows:<3}"
                          for s in args.sizes)
        sens = result["sensitivity"]
        collateral = sum(v["collateral_alarms"] for v in sens.values())

        def median(size: str, sens: dict = sens) -> str:
            value = sens[size]["median"]
            return "-" if value is None else f"{value:g} sd"

        skipped = ", ".join(f"{k} ({v})" for k, v in result["skipped"].items()) or "-"
        print(f"{table.name:20} {result['rows']:>5} {result['features']:>4} {alarms} "
              f"{median('300'):>9} {median('1000'):>10} {collateral:>7}  {skipped}", flush=True)
    total = sum(r["false_alarms"][str(s)]["alarms"] for r in results for s in args.sizes)
    windows = len(results) * len(args.sizes) * args.windows
    print(f"false alarms: {total} of {windows} unshifted windows "
          f"(false_alarm_rate {DEFAULT_THRESHOLDS.false_alarm_rate:g} per window)")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "bench": "drift_false_alarms", "python": platform.python_version(),
        "thresholds": DEFAULT_THRESHOLDS.__dict__, "deltas": DELTAS, "seed": args.seed,
        "windows": args.windows, "sizes": args.sizes, "false_alarms_total": total,
        "windows_total": windows, "tables": results}, indent=2))
    print(f"written {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
