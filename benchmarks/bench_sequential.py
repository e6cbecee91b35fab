"""Group-sequential benchmark: boundaries, a whole design, one interim look and the power tool with looks.

Run:  python3 dev.py bench      (or .venv/bin/python benchmarks/bench_sequential.py)
Target (issue 21): boundaries for K <= 10 looks in <= 20 ms (they sit on the interactive path of `power`).
No data set: designs are computed from the number of looks, the spending function and alpha.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from tools.power import PowerRequest, power
from tools.sequential.design import boundaries, group_sequential_design
from tools.sequential.monitoring import look_decision, planned_fractions


def timed(func: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median, min) wall time of one call, in seconds."""
    func()  # warm-up
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), min(samples)


def row(label: str, seconds: tuple[float, float], target: str = "") -> None:
    median, best = seconds
    print(f"{label:<62} median {median * 1e3:8.2f} ms   min {best * 1e3:8.2f} ms   {target}")


def main() -> None:
    print(f"sequential benchmark - python {sys.version.split()[0]}, numpy {np.__version__}")
    for looks in (2, 5, 10, 20):
        fractions = planned_fractions(looks)
        target = "<= 20 ms" if looks <= 10 else ""
        for spending in ("obrien_fleming", "pocock"):
            row(
                f"boundaries, K = {looks}, {spending}, two-sided",
                timed(lambda f=fractions, s=spending: boundaries(f, s, 0.05, two_sided=True), 30),  # type: ignore[misc]
                target,
            )
        row(
            f"design (boundaries + drift + expected n), K = {looks}, OBF",
            timed(lambda f=fractions: group_sequential_design(f, "obrien_fleming", 0.05, 0.8, two_sided=True), 20),  # type: ignore[misc]
        )
    row(
        "look_decision, look 3 of 5 at an unplanned fraction",
        timed(lambda: look_decision(1.0, 0.5, look=3, looks=5, information_fraction=0.63), 50),
    )
    fixed = PowerRequest(metric="proportion", baseline=0.042, mde=0.05, mde_kind="relative", daily_units=12_000)
    row("power tool, fixed horizon (looks = 1)", timed(lambda: power(fixed), 50))
    for looks in (5, 10):
        request = PowerRequest(
            metric="proportion", baseline=0.042, mde=0.05, mde_kind="relative", daily_units=12_000, looks=looks
        )
        row(f"power tool, {looks} looks (sample size + 100-point curve)", timed(lambda r=request: power(r), 20))  # type: ignore[misc]


if __name__ == "__main__":
    main()
