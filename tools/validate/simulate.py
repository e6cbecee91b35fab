"""Running registered tools on simulated frames exactly as a user's data would be run: attached to a catalog from a
file, analysed through :func:`tools.registry.dispatch`."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tools.data import Catalog
from tools.errors import ToolError
from tools.registry import dispatch
from tools.results import ToolResult

__all__ = ["Progress", "Simulator", "stream"]

Progress = Callable[[int, int, str], None]  # (done, total, label)


def stream(seed: int, name: str) -> np.random.Generator:
    """The random stream of one design: derived from the base seed and the design's name, so a design draws the same
    numbers whether it runs alone (``--only``) or with the others."""
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


class Simulator:
    """Runs tools on simulated frames: each frame is written to a Parquet file in ``directory``, attached to a fresh
    :class:`~tools.data.Catalog` as ``sim`` and analysed through the dispatcher, as ``whyscope tool run --data`` does.

    A :class:`~tools.errors.ToolError` is returned, not raised: the caller counts it as a failed replication."""

    def __init__(self, directory: Path, progress: Progress | None = None) -> None:
        self._path = directory / "sim.parquet"
        self._progress = progress
        self._label = ""
        self._done = 0
        self._total = 0

    def run(self, tool: str, frame: pd.DataFrame, request: Mapping[str, Any]) -> ToolResult | ToolError:
        return dispatch(tool, {**request, "dataset": "sim"}, self._catalog(frame))

    def refute(self, frame: pd.DataFrame, target: Mapping[str, Any], checks: list[str]) -> ToolResult | ToolError:
        """Run refute's ``checks`` on ``target`` (``{"tool", "request"}``), its request reading the frame."""
        request = {**target["request"], "dataset": "sim"}
        return dispatch("refute", {"target": {**target, "request": request}, "checks": checks}, self._catalog(frame))

    def _catalog(self, frame: pd.DataFrame) -> Catalog:
        frame.to_parquet(self._path, index=False)
        catalog = Catalog()
        catalog.add(self._path, "sim")
        return catalog

    def call(self, tool: str, request: Mapping[str, Any]) -> ToolResult | ToolError:
        """Run a tool that takes no data (power)."""
        return dispatch(tool, dict(request))

    def start(self, label: str, total: int) -> None:
        """A design begins: ``total`` replications to go."""
        self._label, self._done, self._total = label, 0, total
        self.step(0)

    def step(self, count: int = 1) -> None:
        """``count`` more replications of the current design are done."""
        self._done += count
        if self._progress is not None:
            self._progress(min(self._done, self._total), self._total, self._label)
