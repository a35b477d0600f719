"""Plan time of a Pulumi program with 1 model vs 20 models: the per-model marginal cost.

    python bench/program_scaling.py [--repeat 3]

Each measurement runs in a fresh interpreter: it evaluates a program that composes N
MlopsStacks (bucket, registry, training pipeline with its definition) under the same mock
runtime `mlops preview` uses, and reports the wall time of the evaluation alone (imports
excluded) and the number of resources. Two cases: warm (the definition cache holds every
definition, as on a user's second preview) and cold (cache off: every definition is built by
the SageMaker SDK). Prints a table and writes bench/results/program_scaling.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

_MEASURE = r"""
import json, sys, time
sys.path.insert(0, {repo!r})
from mlops_components import MlopsStack
from mlops_components.plan import evaluate
if {cold}:
    import mlops_components.sagemaker.builder  # noqa: F401  (import cost is not per model)

def program():
    for index in range({models}):
        MlopsStack(f"model-{{index:02d}}")

started = time.perf_counter()
plan = evaluate(program, project="bench", stack="bench")
print(json.dumps({{"seconds": time.perf_counter() - started,
                  "resources": len(plan.resources)}}))
"""


def measure(models: int, cache: Path | None) -> dict:
    code = _MEASURE.format(repo=str(REPO), models=models, cold=cache is None)
    environment = {**os.environ, "MLOPS_DEFINITION_CACHE": str(cache) if cache else "off"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env=environment)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    report = {}
    with tempfile.TemporaryDirectory(prefix="mlops-bench-cache-") as folder:
        for case, cache in (("cold", None), ("warm", Path(folder))):
            if cache is not None:
                measure(20, cache)  # fill the cache: every definition built once
            results = {}
            for models in (1, 20):
                runs = [measure(models, cache) for _ in range(args.repeat)]
                results[models] = {
                    "median_seconds": statistics.median(r["seconds"] for r in runs),
                    "runs": [r["seconds"] for r in runs], "resources": runs[0]["resources"]}
                print(f"{case}: {models:>3} model(s): {results[models]['median_seconds']:.2f} s "
                      f"median of {args.repeat}, {results[models]['resources']} resources")
            marginal = (results[20]["median_seconds"] - results[1]["median_seconds"]) / 19
            print(f"{case}: marginal cost per additional model: {marginal:.3f} s")
            report[case] = {"models": results, "marginal_seconds_per_model": marginal}
    out = REPO / "bench" / "results" / "program_scaling.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
