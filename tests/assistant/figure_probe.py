"""The matplotlib figure a PNG drawer draws, before it is saved: the figure tests read its axes and lines."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from assistant.figures import FIGURES
from tools.results import ToolResult

__all__ = ["as_png", "drawn"]


@contextmanager
def drawn(figure: str, result: ToolResult) -> Iterator[Any]:
    """The figure ``FIGURES[figure]`` draws for ``result`` (closed on exit)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    canvas = plt.figure(figsize=FIGURES[figure].size)
    try:
        FIGURES[figure].draw(canvas, result)
        yield canvas
    finally:
        plt.close(canvas)


def as_png(path: Path) -> tuple[int, int]:
    """The width and height of the PNG file at ``path`` (it must be one)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)
