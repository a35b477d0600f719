"""Matplotlib figures rendered with the Agg canvas (no display, no pyplot global state)."""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(width: float = 6.0, height: float = 4.0) -> Figure:
    """A figure drawn by the Agg backend."""
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def figure_png(figure: Figure) -> bytes:
    """PNG bytes of `figure`, without the software/version metadata (reproducible files)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def save_png(figure: Figure, path: str | Path) -> bytes:
    """Write `figure` as PNG to `path` and return the bytes (for embedding)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = figure_png(figure)
    path.write_bytes(data)
    return data
