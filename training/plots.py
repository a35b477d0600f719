"""Matplotlib figures rendered with the Agg canvas (no display, no pyplot global state).

matplotlib is not in SageMaker's scikit-learn image: it arrives as a pinned extra of
training/requirements.txt, so it may be missing. It is imported only when a figure is made;
jobs call `available()` first and write their other outputs without plots when it is False.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

SKIPPED_NOTE = "plots skipped: matplotlib is not installed in the job environment"
"""What a report says (once) when it has no plots because matplotlib is missing."""


def available() -> bool:
    """Whether matplotlib can be imported in this environment."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def new_figure(width: float = 6.0, height: float = 4.0) -> Any:
    """A matplotlib Figure drawn by the Agg backend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def figure_png(figure: Any) -> bytes:
    """PNG bytes of `figure`, without the software/version metadata (reproducible files)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def save_png(figure: Any, path: str | Path) -> bytes:
    """Write `figure` as PNG to `path` and return the bytes (for embedding)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = figure_png(figure)
    path.write_bytes(data)
    return data
