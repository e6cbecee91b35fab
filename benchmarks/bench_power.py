"""Power tool benchmark: one solve, a 100-point curve, and the command line's start-up.

Run:  python3 dev.py bench      (or .venv/bin/python benchmarks/bench_power.py)
Targets (issue 2): curve <= 5 ms, one solve <= 1 ms, `whyscope --help` <= 0.3 s.
No data set: the power tool works from summary numbers; the curve has 100 points.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tools.power import PowerRequest, power
from tools.power.formulas import Design, power_vec, solve_mde_vec, solve_sample_size

BIN = Path(sys.executable).parent


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
    scale, unit = (1e3, "ms") if median < 1 else (1.0, "s")
    print(f"{label:<58} median {median * scale:9.3f} {unit}   min {best * scale:9.3f} {unit}   {target}")


def main() -> None:
    print(f"power benchmark — python {sys.version.split()[0]}, numpy {np.__version__}")
    mean = Design("mean", 10.0, 2.0, 1.0, 1.0, None, 1.0, 0.05, "two-sided")
    rate = Design("proportion", 0.042, 0.0, 1.0, 1.0, None, 1.0, 0.05, "two-sided")
    row("one solve: sample size, mean (noncentral t)", timed(lambda: solve_sample_size(mean, 0.1, 0.8), 300), "<= 1 ms")
    row(
        "one solve: sample size, proportion (normal)",
        timed(lambda: solve_sample_size(rate, 0.0021, 0.8), 300),
        "<= 1 ms",
    )

    grid = np.linspace(100.0, 200_000.0, 100)
    row("100-point power curve, mean", timed(lambda: power_vec(mean, grid, grid, np.full(100, 0.1)), 300), "<= 5 ms")
    row(
        "100-point power curve, proportion",
        timed(lambda: power_vec(rate, grid, grid, np.full(100, 0.0021)), 300),
        "<= 5 ms",
    )
    row(
        "100-point MDE curve (100 solves), mean",
        timed(lambda: solve_mde_vec(mean, grid, grid, 0.8, ftol=1e-9), 100),
        "<= 5 ms",
    )
    row(
        "100-point MDE curve (100 solves), proportion",
        timed(lambda: solve_mde_vec(rate, grid, grid, 0.8, ftol=1e-9), 100),
        "<= 5 ms",
    )

    request = PowerRequest(metric="proportion", baseline=0.042, mde=0.05, mde_kind="relative", daily_units=12_000)
    row("whole tool call: sample size + curve + result model", timed(lambda: power(request), 200))
    request_mde = PowerRequest(metric="mean", baseline=10.0, std_dev=2.0, n_per_arm=5_000, solve_for="mde")
    row("whole tool call: MDE + MDE curve + result model", timed(lambda: power(request_mde), 200))

    try:
        from statsmodels.stats.power import TTestIndPower

        analysis = TTestIndPower()
        sizes = np.linspace(100, 200_000, 100)
        row(
            "reference: statsmodels solve_power looped over 100 points",
            timed(lambda: [analysis.solve_power(nobs1=n, alpha=0.05, power=0.8) for n in sizes], 3),
        )
    except ImportError:  # pragma: no cover - statsmodels is a dependency
        pass

    whyscope = str(BIN / "whyscope")
    row(
        "start-up: whyscope --help",
        timed(lambda: subprocess.run([whyscope, "--help"], capture_output=True), 10),
        "<= 0.3 s",
    )
    run = [whyscope, "tool", "run", "power", "--json", '{"metric": "proportion", "baseline": 0.1, "mde": 0.01}']
    row("start-up + answer: whyscope tool run power", timed(lambda: subprocess.run(run, capture_output=True), 10))


if __name__ == "__main__":
    main()
