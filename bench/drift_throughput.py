"""Drift job throughput: the straightforward reader against training.monitor.drift's streaming one.

    python bench/drift_throughput.py [--records 1000000] [--features 10] [--keep DIR]

Generates SageMaker capture files (CSV payloads, one row per request, ~400 bytes a line) and
a Model Monitor baseline, then runs, each in its own subprocess so peak RSS is its own:

(a) straightforward: every line through json.loads, payloads split into a DataFrame, the
    same statistics (bucket counts on the baseline's edges, missing counts) on the whole
    frame;
(b) training.monitor.drift.collect: chunks cut up with numpy, one C CSV parse per chunk, counts.

Prints records/s and peak RSS (ru_maxrss) of both and checks both found the same counts.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RECORDS_PER_FILE = 50_000


def write_baseline(folder: Path, sample: np.ndarray, names: list[str]) -> Path:
    """Model Monitor statistics.json of `sample`, as Profile writes it (10 buckets of equal
    counts per feature, `training.baseline`), without the sketch (CDFs read off buckets)."""
    from training.baseline import FORMAT_VERSION, numeric_feature_statistics

    features = []
    for index, name in enumerate(names):
        entry = numeric_feature_statistics(name, sample[:, index])
        entry["numerical_statistics"]["distribution"]["kll"].pop("sketch")
        features.append(entry)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "statistics.json"
    path.write_text(json.dumps({"version": FORMAT_VERSION, "dataset": {"item_count": len(sample)},
                                "features": features}))
    return path


def generate(folder: Path, records: int, features: int, seed: int = 0) -> tuple[Path, Path]:
    """Capture files under folder/capture/yyyy/mm/dd/hh and a baseline under folder/baseline."""
    rng = np.random.default_rng(seed)
    names = [f"f{i}" for i in range(features)]
    baseline = write_baseline(folder / "baseline", rng.normal(size=(20_000, features)), names)
    capture_dir = folder / "capture"
    output = '{\\"predictions\\": [{\\"score\\": 0.4821}], \\"model\\": \\"churn-v3\\"}'
    for file_index, start in enumerate(range(0, records, RECORDS_PER_FILE)):
        count = min(RECORDS_PER_FILE, records - start)
        values = rng.normal(size=(count, features))
        rows = [",".join(r) for r in np.char.mod("%.6f", values).tolist()]
        hour = file_index % 24
        path = capture_dir / f"2026/11/27/{hour:02d}/00-00-000-{uuid.uuid4()}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        event = str(uuid.uuid4())
        lines = [
            '{"captureData":{"endpointInput":{"observedContentType":"text/csv","mode":"INPUT",'
            f'"data":"{row}","encoding":"CSV"}},"endpointOutput":{{"observedContentType":'
            f'"application/json","mode":"OUTPUT","data":"{output}","encoding":"JSON"}}}},'
            f'"eventMetadata":{{"eventId":"{event[:-6]}{i % 999999:06d}","inferenceTime":'
            f'"2026-11-27T{hour:02d}:00:00.000Z"}},"eventVersion":"0"}}\n'
            for i, row in enumerate(rows)
        ]
        path.write_text("".join(lines))
    return capture_dir, baseline


def straightforward(capture_dir: Path, baseline_path: Path) -> dict:
    """(a): json.loads per line, a DataFrame of the window, statistics on the whole frame."""
    import pandas as pd

    baseline = json.loads(baseline_path.read_text())
    names = [f["name"] for f in baseline["features"]]
    rows = []
    for path in sorted(capture_dir.rglob("*.jsonl")):
        with open(path) as handle:
            for line in handle:
                record = json.loads(line)
                data = record["captureData"]["endpointInput"]["data"]
                for row in data.split("\n"):
                    rows.append(row.split(","))
    frame = pd.DataFrame(rows, columns=names).apply(pd.to_numeric, errors="coerce")
    counts = {}
    for feature in baseline["features"]:
        buckets = feature["numerical_statistics"]["distribution"]["kll"]["buckets"]
        edges = np.array([b["upper_bound"] for b in buckets[:-1]])
        values = frame[feature["name"]].to_numpy()
        present = values[~np.isnan(values)]
        counts[feature["name"]] = np.bincount(
            np.searchsorted(edges, present, side="left"), minlength=len(buckets)).tolist()
    return {"records": len(frame), "counts": counts}


def streaming(capture_dir: Path, baseline_path: Path) -> dict:
    """(b): training.monitor.drift.collect."""
    from training import capture
    from training.monitor import drift

    stats = drift.collect(drift.load_baseline(baseline_path),
                          capture.list_capture_files(capture_dir))
    return {"records": stats.records,
            "counts": {name: w.counts.tolist() for name, w in stats.windows.items()}}


def run_one(method: str, capture_dir: Path, baseline: Path) -> None:
    """Child process: run one method, print a JSON line with time, RSS and results."""
    import pandas  # noqa: F401 - imports are not part of the measured work

    from training.monitor import drift  # noqa: F401

    function = {"straightforward": straightforward, "streaming": streaming}[method]
    started = time.perf_counter()
    result = function(capture_dir, baseline)
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"method": method, "seconds": elapsed, "peak_mb": peak_mb, **result}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--keep", type=Path, default=None, help="reuse/keep data in this folder")
    parser.add_argument("--only", choices=["straightforward", "streaming"], default=None)
    parser.add_argument("--child", choices=["straightforward", "streaming"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_one(args.child, args.data / "capture", args.data / "baseline" / "statistics.json")
        return 0
    folder = args.keep or Path(tempfile.mkdtemp(prefix="drift-bench-"))
    try:
        if not (folder / "capture").is_dir():
            started = time.perf_counter()
            generate(folder, args.records, args.features)
            size = sum(p.stat().st_size for p in (folder / "capture").rglob("*.jsonl"))
            print(f"generated {args.records:,} records, {size / 2**20:.0f} MiB "
                  f"in {time.perf_counter() - started:.1f} s")
        results = {}
        methods = [args.only] if args.only else ["straightforward", "streaming"]
        for method in methods:
            out = subprocess.run(
                [sys.executable, __file__, "--child", method, "--data", str(folder)],
                check=True, capture_output=True, text=True, cwd=ROOT,
            ).stdout
            results[method] = json.loads(out.strip().splitlines()[-1])
            r = results[method]
            print(f"{method:>16}: {r['records'] / r['seconds']:>12,.0f} records/s "
                  f"({r['seconds']:.2f} s, {r['records']:,} records), peak RSS "
                  f"{r['peak_mb']:.0f} MiB")
        if len(results) == 2:
            a, b = results["straightforward"], results["streaming"]
            same = a["records"] == b["records"] and a["counts"] == b["counts"]
            speedup = a["seconds"] / b["seconds"]
            print(f"speed-up {speedup:.1f}x; same statistics: {same}")
            if not same:
                return 1
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
