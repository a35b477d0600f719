"""How the CLI reports a problem: one red line per problem on stderr, and its exit status."""

from __future__ import annotations

from rich.console import Console

#: Exit statuses: bad input (an argument, a file, a config value).
EXIT_INVALID = 2


def error(message: str) -> int:
    """Print ``message`` as ``error: ...`` lines on stderr; return :data:`EXIT_INVALID`."""
    for line in message.splitlines() or [""]:
        Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {line}", highlight=False)
    return EXIT_INVALID
