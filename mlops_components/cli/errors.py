"""How the CLI reports a problem: one line per problem on stderr, and its exit status.

Exit statuses (also in the README): 0 success; 1 the pipeline ran and failed (a job failed
or the quality gate did); 2 bad input (an argument, a file, a config value; nothing ran);
130 interrupted (Ctrl-C). No Python traceback reaches the user: a job's own traceback stays
in its log, which the summary names; ``MLOPS_DEBUG=1`` re-raises an unexpected error.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

#: Exit statuses.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
DEBUG_VARIABLE = "MLOPS_DEBUG"


class UsageError(Exception):
    """A command-line argument that argparse or a flag's own rule refuses."""


def _print(label: str, style: str, message: str) -> None:
    console = Console(stderr=True, soft_wrap=True)
    for line in message.splitlines() or [""]:  # plain text: no markup in file names
        console.print(Text.assemble((label, style), " ", line), highlight=False)


def error(message: str) -> int:
    """Print ``message`` as ``error: ...`` lines on stderr; return :data:`EXIT_INVALID`."""
    _print("error:", "red", message)
    return EXIT_INVALID


def warning(message: str) -> None:
    _print("warning:", "yellow", message)


def interrupted(message: str) -> int:
    """One ``interrupted: ...`` line; return :data:`EXIT_INTERRUPTED`."""
    _print("interrupted:", "yellow", message or "stopped by Ctrl-C")
    return EXIT_INTERRUPTED
