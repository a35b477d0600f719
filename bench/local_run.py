"""Time `mlops up --local` (dev stack, default dataset) step by step, and `mlops preview`.

    python bench/local_run.py [--repeat 3]

Every measurement runs in a fresh interpreter, as a user's command does, on a copy of the
example project and in an empty workdir (so each run is execution ``local-0001`` on the same
data). A local run is timed through ``run_local`` with an ``on_step`` callback:

- plan:     ``plan_stack`` (the Pulumi program under the mock engine, definition build included)
- prepare:  from the end of the plan to the first step (uploads materialised, dataset written)
- <step>:   each pipeline step, from Executing to its final status
- run_local: the whole call; process: the interpreter's wall time, imports included
- stages 1-4: the sum of the Profile, Preprocess, Train and Evaluate jobs (Processing and
  Training steps)

`mlops preview` is timed as a subprocess (``mlops preview --project-dir <copy>``), and so is the
whole loop (``mlops up --local``: the run, serving, traffic, the drift check and the second
run) in its own empty workdir. Both run this checkout's code (``python -m mlops_components.cli``
with it first on PYTHONPATH), not whatever the ``mlops`` script was installed from.
Prints a table (per repetition and median) and writes bench/results/local_run.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "local_run.json"
PROJECT_FILES = ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml", "__main__.py")
STACK = "dev"


def measure_one_local_run(project_dir: Path, workdir: Path) -> dict:
    """One ``run_local`` in this process; the phases and steps in seconds."""
    started = time.perf_counter()
    import mlops_components.local.run as local_run

    plan_seconds: list[float] = []
    real_plan_stack = local_run.plan_stack

    def timed_plan_stack(*args, **kwargs):
        begin = time.perf_counter()
        try:
            return real_plan_stack(*args, **kwargs)
        finally:
            plan_seconds.append(time.perf_counter() - begin)

    local_run.plan_stack = timed_plan_stack
    events: list[tuple[float, str, str, str]] = []
    imported = time.perf_counter()
    run = local_run.run_local(project_dir, STACK, workdir=workdir,
                              on_step=lambda name, kind, status: events.append(
                                  (time.perf_counter(), name, kind, status)))
    finished = time.perf_counter()

    steps: dict[str, dict] = {}
    for at, name, kind, status in events:
        if status == "Executing":
            steps[name] = {"type": kind, "start": at}
        elif status in ("Succeeded", "Failed"):
            steps[name].update(status=status, seconds=at - steps[name]["start"])
    first_step = min((step["start"] for step in steps.values()), default=finished)
    (plan,) = plan_seconds
    return {
        "import": imported - started,
        "plan": plan,
        "prepare": first_step - imported - plan,
        "steps": {name: {"type": step["type"], "status": step.get("status", "?"),
                         "seconds": step.get("seconds", 0.0)}
                  for name, step in steps.items()},
        "run_local": finished - imported,
        "execution_status": run.execution.status,
    }


def local_run_in_fresh_process(project_dir: Path, scratch: Path, index: int) -> dict:
    workdir = scratch / f"workdir-{index}"
    begin = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, __file__, "--child", str(project_dir), str(workdir)],
        capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - begin
    if completed.returncode != 0:
        raise SystemExit(f"local run {index} failed:\n{completed.stderr[-3000:]}")
    measured = json.loads(completed.stdout.strip().splitlines()[-1])
    measured["process"] = wall
    return measured


def _cli(arguments: list[str], cwd: Path) -> float:
    """Seconds `mlops <arguments>` of this checkout takes as a subprocess."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    begin = time.perf_counter()
    completed = subprocess.run([sys.executable, "-m", "mlops_components.cli", *arguments],
                               capture_output=True, text=True, cwd=cwd, env=env)
    seconds = time.perf_counter() - begin
    if completed.returncode != 0:
        raise SystemExit(f"mlops {' '.join(arguments)} failed:\n{completed.stdout[-3000:]}"
                         f"{completed.stderr[-3000:]}")
    return seconds


def preview_seconds(project_dir: Path) -> float:
    return _cli(["preview", "--project-dir", str(project_dir), "--stack", STACK], project_dir)


def loop_seconds(project_dir: Path, workdir: Path) -> float:
    """The whole `mlops up --local`: run, serve, shifted traffic, drift check, second run."""
    return _cli(["up", "--local", "--project-dir", str(project_dir), "--stack", STACK,
                 "--workdir", str(workdir)], project_dir)


JOB_STEP_TYPES = ("Processing", "Training")


def table(runs: list[dict], previews: list[float],
          loops: list[float]) -> list[tuple[str, list[float]]]:
    """Rows of (label, seconds per repetition), in the order a run goes."""
    rows = [("plan (mock engine + definition)", [r["plan"] for r in runs]),
            ("prepare (uploads, dataset)", [r["prepare"] for r in runs])]
    for name, step in runs[0]["steps"].items():
        rows.append((f"  {name} ({step['type']})",
                     [r["steps"].get(name, {}).get("seconds", float("nan")) for r in runs]))
    rows += [("stages 1-4 (the four jobs)",
              [sum(step["seconds"] for step in r["steps"].values()
                   if step["type"] in JOB_STEP_TYPES) for r in runs]),
             ("run_local total", [r["run_local"] for r in runs]),
             ("process wall (imports included)", [r["process"] for r in runs]),
             ("mlops preview (subprocess)", previews),
             ("mlops up --local, whole loop", loops)]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("PROJECT_DIR", "WORKDIR"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        sys.path.insert(0, str(REPO))
        print(json.dumps(measure_one_local_run(Path(args.child[0]), Path(args.child[1]))))
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-local-run-") as scratch_name:
        scratch = Path(scratch_name)
        project_dir = scratch / "project"
        project_dir.mkdir()
        for name in PROJECT_FILES:
            shutil.copy(REPO / name, project_dir / name)
        runs, previews, loops = [], [], []
        for index in range(1, args.repeat + 1):
            runs.append(local_run_in_fresh_process(project_dir, scratch, index))
            previews.append(preview_seconds(project_dir))
            loops.append(loop_seconds(project_dir, scratch / f"loop-{index}"))
            print(f"repetition {index}/{args.repeat}: local run "
                  f"{runs[-1]['process']:.1f} s ({runs[-1]['execution_status']}), "
                  f"preview {previews[-1]:.1f} s, whole loop {loops[-1]:.1f} s",
                  file=sys.stderr)

    rows = table(runs, previews, loops)
    header = "".join(f"{f'run {i}':>9}" for i in range(1, len(runs) + 1))
    print(f"{'seconds':34s}{header}{'median':>9}")
    for label, values in rows:
        cells = "".join(f"{value:9.2f}" for value in values)
        print(f"{label:34s}{cells}{statistics.median(values):9.2f}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "stack": STACK,
        "dataset": "default (scikit-learn breast_cancer)",
        "environment": {"python": platform.python_version(), "platform": platform.platform(),
                        "cpus": os.cpu_count(), "commit": _commit()},
        "median_seconds": {label.strip(): statistics.median(values) for label, values in rows},
        "local_runs": runs,
        "preview_seconds": previews,
        "loop_seconds": loops,
    }, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(REPO)}")
    return 0 if all(run["execution_status"] == "Succeeded" for run in runs) else 1


def _commit() -> str:
    completed = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                               capture_output=True, text=True)
    return completed.stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
