"""`mlops preview` wall time, cold and warm, for the dev and prod stacks.

    python bench/preview_speed.py [--repeat 3]

Each run is a fresh process (`python -m mlops_components.cli preview --stack S`), timed from
start to exit, as a user sees it. Cold: an empty definition cache, so the SageMaker SDK is
imported and the definition built. Warm: the cache holds the definition (the user's second
preview of an unchanged stack). Prints medians and writes bench/results/preview_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def preview(stack: str, cache: Path) -> float:
    environment = {**os.environ, "MLOPS_DEFINITION_CACHE": str(cache)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mlops_components.cli", "preview", "--stack", stack],
                   cwd=REPO, env=environment, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    for stack in ("dev", "prod"):
        cold, warm = [], []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="mlops-bench-cache-") as folder:
                cold.append(preview(stack, Path(folder)))
                warm.append(preview(stack, Path(folder)))
        results[stack] = {"cold_median_seconds": statistics.median(cold),
                          "warm_median_seconds": statistics.median(warm),
                          "cold_runs": cold, "warm_runs": warm}
        print(f"{stack}: cold {statistics.median(cold):.2f} s, warm "
              f"{statistics.median(warm):.2f} s (medians of {args.repeat} fresh processes)")
    out = REPO / "bench" / "results" / "preview_speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
