"""Batch inference throughput: the batch job's rows/second against the raw model's predict.

The batch job (`training/serve/batch.py`, what the Score step of `mlops batch --local` runs)
reads a CSV file in chunks, types each chunk with the endpoint's handler, predicts and writes
the joined output; the raw figure is ``pipeline.predict`` on the same rows already typed in
memory (no reading, no typing, no writing). Both run in child processes so each reports its
own peak memory (``VmHWM``): the batch job's should stay bounded by a chunk, not grow with
the file.

The model: the test suite's breast cancer table (with a text column and missing values) and a
scikit-learn pipeline (impute, scale, one-hot) around the project's default estimator,
HistGradientBoostingClassifier; the rows are that table resampled to ``--rows``.

    PYTHONPATH=. python3 bench/batch_throughput.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402

from tests.serving.conftest import CLASSIFICATION_TARGET, cancer_frame, fit_and_save  # noqa: E402
from training.contract import DEFAULT_BATCH_CHUNK_ROWS  # noqa: E402


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM: reset at exec, unlike ru_maxrss, which a
    child inherits from the parent that forked it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_rows(path: Path, rows: int) -> None:
    features = cancer_frame().drop(columns=[CLASSIFICATION_TARGET])
    repeated = features.sample(n=rows, replace=True, random_state=0)
    repeated.to_csv(path, index=False, chunksize=100_000)


def raw_child(model_dir: str, data: str) -> dict:
    import pandas as pd

    from training.data.schema import coerce_features
    from training.train.model_files import load_model

    pipeline, schema = load_model(model_dir)
    typed = coerce_features(pd.read_csv(data, dtype=str), schema.features)
    start = time.perf_counter()
    pipeline.predict(typed)
    seconds = time.perf_counter() - start
    return {"rows": len(typed), "seconds": seconds,
            "peak_mb": peak_mb()}


def batch_child(model_dir: str, data: str, output: str, chunk_rows: int) -> dict:
    from training.serve import batch, inference

    model = inference.model_fn(model_dir)
    start = time.perf_counter()
    report = batch.score_folder(model, Path(data), Path(output), chunk_rows=chunk_rows)
    seconds = time.perf_counter() - start
    return {"rows": report.scored, "seconds": seconds,
            "peak_mb": peak_mb()}


def in_child(function: str, *args: object) -> dict:
    code = (f"import json, sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r}); "
            f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); "
            f"import batch_throughput as b; print(json.dumps(b.{function}(*{args!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=DEFAULT_BATCH_CHUNK_ROWS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "model"
        fit_and_save(cancer_frame(), CLASSIFICATION_TARGET, "classification",
                     HistGradientBoostingClassifier(random_state=0), model_dir)
        data = Path(tmp) / "rows.csv"
        write_rows(data, args.rows)
        size_mb = data.stat().st_size / 2**20
        raw = in_child("raw_child", str(model_dir), str(data))
        scored = in_child("batch_child", str(model_dir), str(data), str(Path(tmp) / "out"),
                          args.chunk_rows)
    raw_rate = raw["rows"] / raw["seconds"]
    batch_rate = scored["rows"] / scored["seconds"]
    print(f"rows {args.rows:,} ({size_mb:.0f} MB CSV), chunk {args.chunk_rows:,} rows")
    print(f"raw   pipeline.predict on typed rows in memory: {raw_rate:,.0f} rows/s "
          f"({raw['seconds']:.2f} s), peak {raw['peak_mb']:.0f} MB (holds every row)")
    print(f"batch read + type + predict + write:            {batch_rate:,.0f} rows/s "
          f"({scored['seconds']:.2f} s), peak {scored['peak_mb']:.0f} MB")
    print(f"batch / raw: {batch_rate / raw_rate:.2f}x")


if __name__ == "__main__":
    main()
