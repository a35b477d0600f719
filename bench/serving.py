"""Serving cost: handler overhead vs the raw model, and the local server under load.

    python3 bench/serving.py [--requests 2000] [--threads 4]

1. In-process: input_fn -> predict_fn -> output_fn on a CSV body vs the model alone on an
   already-typed frame (predict_proba for the classifier, which is the work the reply needs),
   at 1 and 100 rows, as a ratio measured in the same run (goal: <= 1.1x at 100 rows,
   <= 1 ms added at 1 row).
2. Over HTTP on 127.0.0.1: `serve_model` under a bounded load (N requests from T threads,
   keep-alive connections), p50/p99 latency and requests/s.

The model is the test suite's: a scikit-learn pipeline (impute, scale, one-hot, logistic
regression) on breast cancer with a text column, 31 features.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sklearn.linear_model import LogisticRegression  # noqa: E402

from mlops_components.local.serve import serve_model  # noqa: E402
from tests.serving.conftest import (  # noqa: E402
    CLASSIFICATION_TARGET,
    cancer_frame,
    fit_and_save,
)
from training.data.schema import coerce_features  # noqa: E402
from training.serve import inference  # noqa: E402


def best_of(fn, repeat: int, number: int) -> float:
    """Seconds per call: the best of `repeat` timings of `number` calls."""
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        timings.append((time.perf_counter() - start) / number)
    return min(timings)


def handler_overhead(model_dir: Path, frame) -> None:
    served = inference.model_fn(str(model_dir))
    features = frame.drop(columns=CLASSIFICATION_TARGET)
    for rows in (1, 100):
        sample = features.sample(rows, random_state=rows, replace=rows > len(features))
        typed = coerce_features(sample, served.schema.features)
        body = sample.to_csv(index=False, header=False)

        def raw(typed=typed):
            served.pipeline.predict_proba(typed)

        def handled(body=body):
            reply = inference.output_fn(
                inference.predict_fn(inference.input_fn(body, "text/csv"), served), None)
            assert reply.status == 200, reply.body

        number = 200 if rows == 1 else 50
        raw_s, handled_s = best_of(raw, 7, number), best_of(handled, 7, number)
        print(f"handler  {rows:>3} rows: raw {raw_s * 1e3:7.3f} ms  handler "
              f"{handled_s * 1e3:7.3f} ms  ratio {handled_s / raw_s:5.2f}x  added "
              f"{(handled_s - raw_s) * 1e3:6.3f} ms")


def load(url: str, body: bytes, requests: int, threads: int) -> None:
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    errors: list[int] = []
    per_thread = requests // threads

    def client() -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        mine = []
        for _ in range(per_thread):
            start = time.perf_counter()
            connection.request("POST", "/invocations", body, {"Content-Type": "text/csv"})
            response = connection.getresponse()
            response.read()
            mine.append(time.perf_counter() - start)
            if response.status != 200:
                errors.append(response.status)
        connection.close()
        latencies.extend(mine)

    workers = [threading.Thread(target=client) for _ in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"serve    {len(latencies)} requests x 1 row, {threads} threads: "
          f"p50 {statistics.median(latencies) * 1e3:.2f} ms  p99 {p99 * 1e3:.2f} ms  "
          f"{len(latencies) / elapsed:.0f} req/s  errors {len(errors)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    frame = cancer_frame()
    with tempfile.TemporaryDirectory() as tmp:
        trained = fit_and_save(frame, CLASSIFICATION_TARGET, "classification",
                               LogisticRegression(max_iter=2000), Path(tmp) / "model")
        handler_overhead(trained.model_dir, frame)
        body = trained.features.head(1).to_csv(index=False, header=False).encode()
        with serve_model(trained.model_dir) as handle:
            load(handle.url, body, 100, args.threads)  # warm-up
            load(handle.url, body, args.requests, args.threads)


if __name__ == "__main__":
    main()
