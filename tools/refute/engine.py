"""The simulation engine: seeded draws spread over threads, with progress events and cancellation.

Each draw gets its own generator from ``SeedSequence(seed, spawn_key=(check, draw))``, so a result does not
depend on how draws were scheduled across threads. The heavy parts of every target estimator (numpy linear
algebra, sorting, sklearn/statsmodels fits) release the GIL, so threads use both cores without copying the data.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from pydantic import ValidationError

from tools.errors import ToolError
from tools.refute.models import CHECK_NAMES

__all__ = ["Draws", "Progress", "Runner"]

#: A draw whose result model refused its numbers (NaN, infinity): counted as a failed draw, like a ToolError.
INVALID_DRAW = "the target tool could not compute a valid estimate on this draw"

Progress = Callable[[int, int, str], None]
Draw = Callable[[np.random.Generator], tuple[float, float]]


@dataclass
class Draws:
    """The re-estimates of one simulation check: column 0 the estimate, column 1 its p-value (NaN when the
    target gives none); a NaN estimate marks a draw the target tool refused."""

    values: NDArray[np.float64]
    failures: list[str] = field(default_factory=list)

    @property
    def estimates(self) -> NDArray[np.float64]:
        column = self.values[:, 0]
        return column[np.isfinite(column)]

    @property
    def p_values(self) -> NDArray[np.float64]:
        column = self.values[:, 1]
        return column[np.isfinite(self.values[:, 0]) & np.isfinite(column)]


@dataclass
class Runner:
    """Runs the draws of every check of one refutation, and counts progress over all of them."""

    seed: int
    total: int
    progress: Progress | None = None
    cancel: threading.Event | None = None
    workers: int | None = None
    done: int = 0

    def __post_init__(self) -> None:
        if self.workers is None:
            self.workers = max(1, min(os.cpu_count() or 1, 8))

    def rng(self, check: str, index: int = 0) -> np.random.Generator:
        """The generator of draw ``index`` of ``check`` (independent of scheduling)."""
        sequence = np.random.SeedSequence(self.seed, spawn_key=(CHECK_NAMES.index(check), index))
        return np.random.default_rng(sequence)

    def step(self, label: str, count: int = 1) -> None:
        """Record finished work and tell the listener; stop if the caller cancelled."""
        self.stop_if_cancelled()
        self.done += count
        if self.progress is not None:
            self.progress(self.done, self.total, label)

    def stop_if_cancelled(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise ToolError(
                "cancelled",
                f"The refutation was cancelled after {self.done} of {self.total} steps.",
                "Run it again when you are ready; fewer simulations make it faster.",
            )

    def simulate(self, check: str, draw: Draw, n: int) -> Draws:
        """Run ``n`` seeded draws of ``check`` (in parallel when workers > 1)."""
        return self.run(check, [functools.partial(self._draw, draw, check, i) for i in range(n)])

    def _draw(self, draw: Draw, check: str, index: int) -> tuple[float, float]:
        return draw(self.rng(check, index))

    def run(self, check: str, tasks: Sequence[Callable[[], tuple[float, float]]]) -> Draws:
        """Run independent re-estimates in parallel; a ToolError marks a failed draw (NaN) with its message."""
        n = len(tasks)
        workers = min(self.workers or 1, n)
        chunk = max(1, n // (workers * 4))
        chunks = [range(start, min(start + chunk, n)) for start in range(0, n, chunk)]
        values = np.full((n, 2), np.nan)
        failures: dict[int, str] = {}
        stop = threading.Event()

        def run_chunk(indices: range) -> int:
            for i in indices:
                if stop.is_set() or (self.cancel is not None and self.cancel.is_set()):
                    return 0
                try:
                    values[i] = tasks[i]()
                except ToolError as error:
                    failures[i] = error.message
                except ValidationError:
                    failures[i] = INVALID_DRAW
            return len(indices)

        if workers == 1:
            for indices in chunks:
                run_chunk(indices)
                self.step(check, len(indices))
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="refute") as pool:
                pending: set[Future[int]] = {pool.submit(run_chunk, indices) for indices in chunks}
                try:
                    while pending:
                        finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                        for future in finished:
                            self.step(check, future.result())
                        self.stop_if_cancelled()
                except BaseException:
                    stop.set()
                    for future in pending:
                        future.cancel()
                    raise
        return Draws(values, [failures[i] for i in sorted(failures)])
