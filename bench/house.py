"""Where people wait: the README's set-up, the whole test suite and its fast subset.

    python3 bench/house.py setup [--pip]   # the README's set-up in a fresh venv, empty caches
    python3 bench/house.py suite           # the README's test command, then -m "not slow"

`setup` runs the README's set-up line exactly as written with a new virtual environment's
`python3` first on PATH (as a newcomer who activated one), with empty uv and pip caches, so
every package is downloaded as on a fresh machine; `--pip` times plain
`python3 -m pip install -e ".[dev]"` the same way, for comparison. `suite` times the README's
test command and the documented fast subset in this checkout. Run on a quiet machine: both
are wall-clock times on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FAST_SUBSET = ["-m", "not slow"]


def quickstart() -> list[str]:
    """The README's quickstart commands (set-up, main job, tests), comments removed."""
    block = re.search(r"## Quickstart.*?```bash\n(.*?)```", (REPO / "README.md").read_text(),
                      flags=re.DOTALL).group(1)
    return [line.partition("  #")[0].strip() for line in block.splitlines()]


def timed(command: str, env: dict[str, str] | None = None) -> float:
    """Seconds `command` took; its last output lines when it fails."""
    started = time.perf_counter()
    result = subprocess.run(command, shell=True, cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        tail = "\n".join(result.stdout.splitlines()[-30:])
        raise SystemExit(f"{command} failed (exit {result.returncode}) after {seconds:.0f} s:"
                         f"\n{tail}")
    return seconds


def setup(use_pip: bool) -> None:
    command = 'python3 -m pip install -e ".[dev]"' if use_pip else quickstart()[0]
    with tempfile.TemporaryDirectory(prefix="mlops-setup-") as scratch:
        venv = Path(scratch) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
               "VIRTUAL_ENV": str(venv), "UV_CACHE_DIR": str(Path(scratch) / "uv-cache"),
               "PIP_NO_CACHE_DIR": "1"}
        print(f"set-up: {command}")
        print(f"  {timed(command, env):.0f} s in a fresh venv, empty caches")


def suite() -> None:
    test = quickstart()[-1]
    for label, command in (("whole suite", test),
                           ("fast subset", f"{test} {' '.join(repr(a) for a in FAST_SUBSET)}")):
        print(f"{label}: {command}")
        print(f"  {timed(command):.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["setup", "suite"])
    parser.add_argument("--pip", action="store_true", help="time plain pip instead")
    options = parser.parse_args(argv)
    if options.what == "setup":
        setup(options.pip)
    else:
        suite()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
