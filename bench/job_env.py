"""Time the local job environment: one cold build and a warm `ensure_job_environment` call.

    python3 bench/job_env.py               # cold build into a fresh temporary cache
    python3 bench/job_env.py --cache DIR   # use (and keep) DIR; cold only if DIR lacks it

The cold build downloads the image's packages from PyPI (pip's own cache makes a second cold
build faster); the warm call is what every `mlops up --local` after the first one pays.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mlops_components.local.job_env import ensure_job_environment  # noqa: E402
from training.contract import IMAGE_REQUIREMENTS_FILE, PACKAGE, REQUIREMENTS_FILE  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, help="cache folder to use and keep")
    parser.add_argument("--warm-calls", type=int, default=20)
    options = parser.parse_args(argv)
    cache = options.cache or Path(tempfile.mkdtemp(prefix="mlops-job-env-bench-"))
    pins = REPO / PACKAGE / IMAGE_REQUIREMENTS_FILE
    requirements = REPO / PACKAGE / REQUIREMENTS_FILE
    try:
        started = time.perf_counter()
        environment = ensure_job_environment(pins, requirements, cache, progress=print)
        first = time.perf_counter() - started
        print(f"first call (cold unless the cache had it): {first:.1f} s")
        print(environment.description)
        timings = []
        for _ in range(options.warm_calls):
            started = time.perf_counter()
            ensure_job_environment(pins, requirements, cache)
            timings.append(time.perf_counter() - started)
        timings.sort()
        print(f"warm call: median {timings[len(timings) // 2] * 1000:.1f} ms, "
              f"max {timings[-1] * 1000:.1f} ms over {len(timings)} calls "
              "(includes interpreter discovery)")
    finally:
        if options.cache is None:
            shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
