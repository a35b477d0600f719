"""`mlops serve`: a package of the local registry behind the endpoint's HTTP contract.

Serves the latest approved package (what the endpoint would serve) or ``--version N`` on
127.0.0.1, prints the URL and blocks until Ctrl-C, SIGTERM or SIGHUP; capture records go under
the local bucket's capture prefix, or to ``--capture-dir``.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from mlops_components.cli.arguments import add_stack_arguments, where
from mlops_components.cli.errors import error
from mlops_components.enums import ApprovalStatus
from mlops_components.project import ProjectError, load_project
from mlops_components.validation import ValidationError

#: Signals that stop `mlops serve` as Ctrl-C (SIGINT) does.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def add_serve_parser(commands: argparse._SubParsersAction) -> None:
    """Register `mlops serve` (called by cli/main.py)."""
    serve = commands.add_parser(
        "serve", help="serve a model package of the local registry on 127.0.0.1 (Ctrl-C stops)")
    add_stack_arguments(serve)
    serve.add_argument("--group", metavar="NAME",
                       help="model package group (default: the stack's model; a --data run "
                            "registers into a group named after its data)")
    serve.add_argument("--version", type=int,
                       help="package version (default: the latest approved one)")
    serve.add_argument("--port", type=int, default=8080,
                       help="port on 127.0.0.1 (default: 8080; 0 picks a free one)")
    serve.add_argument("--capture-dir", type=Path, metavar="DIR",
                       help="write capture records here (default: the local bucket's capture/)")
    serve.add_argument("--workdir", type=Path, metavar="DIR",
                       help="the local workdir (default: .mlops/<stack>)")
    serve.add_argument("--dev-env", action="store_true",
                       help="serve under this interpreter instead of the image's Python and "
                            "pins (the ones the model was trained with)")
    serve.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    """Serve until Ctrl-C (or until `stop` is set: tests)."""
    console = Console()
    with _signals_stop_like_ctrl_c():
        return _serve(console, args, stop)


@contextmanager
def _signals_stop_like_ctrl_c() -> Iterator[None]:
    """SIGTERM (kill, a service manager) and SIGHUP (the terminal closed) stop the server as
    Ctrl-C does, so the model server's process is stopped too and never left on the port."""
    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")

    if threading.current_thread() is not threading.main_thread():  # tests serve in threads
        yield
        return
    previous = {signum: signal.signal(signum, interrupt) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _serve(console: Console, args: argparse.Namespace, stop: threading.Event | None) -> int:
    from mlops_components.config import parse_config
    from mlops_components.local.job_env import JobEnvironmentError
    from mlops_components.local.run import image_job_environment
    from mlops_components.local.smoke import ServeError, serve_package
    from mlops_components.local.workdir import LocalWorkdir, default_workdir
    from mlops_components.sagemaker.endpoint import endpoint_name
    from mlops_components.sagemaker.packages import RegistryError

    if not 0 <= args.port <= 65535:
        return error(f"--port must be between 0 and 65535 (got {args.port})")
    try:
        project = load_project(args.project_dir)
        group = args.group or parse_config(project.stack_config(args.stack),
                                           project=project.name).model_name
        workdir = Path(args.workdir or default_workdir(project.directory, args.stack))
        registry = LocalWorkdir(workdir).registry
        if args.version is None:
            package = registry.latest_approved(group)
            if package is None:
                versions = registry.packages(group) if (registry.root / group).is_dir() else []
                here = where(args, args.group)
                latest = versions[-1]["ModelPackageVersion"] if versions else None
                hint = (f"; approve one with {here.quoted('approve', version=latest)}"
                        if versions else f"; run {here.quoted('up')} first")
                return error(f"no approved model package in group {group!r} under "
                             f"{registry.root}{hint}, or pick one with --version")
        else:
            package = registry.get(group, args.version)
        python = None if args.dev_env else \
            str(image_job_environment().python)
        # capture lands where the monitor of this model reads: capture/<endpoint>/
        server = serve_package(workdir, package, port=args.port, capture_dir=args.capture_dir,
                               python=python, endpoint_name=endpoint_name(group))
    except (ProjectError, ValidationError, RegistryError, ServeError, JobEnvironmentError,
            ValueError) as problem:
        return error(str(problem))
    except OSError as problem:  # the port is taken, the folder is not writable
        return error(f"cannot serve on 127.0.0.1:{args.port}: {problem.strerror or problem}")
    status = package["ModelApprovalStatus"]
    note = "" if status == ApprovalStatus.APPROVED.value else f" ({status}: not deployable)"
    stop = stop or threading.Event()
    try:  # from here on, Ctrl-C at any moment stops the server it started
        console.print(f"serving {group} version {package['ModelPackageVersion']}{note} at "
                      f"{server.url}", highlight=False, soft_wrap=True)
        console.print(f"  curl -H 'Content-Type: text/csv' --data-binary @rows.csv "
                      f"{server.url}/invocations", highlight=False, soft_wrap=True)
        console.print("Ctrl-C stops it", highlight=False)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt as interrupt:
        console.print(str(interrupt) or "stopped", highlight=False)
    finally:
        server.stop()
    return 0
