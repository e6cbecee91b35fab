"""Quasi-experimental power benchmark: each design at the default precision (2,000 simulations), per unknown.

Run:  .venv/bin/python benchmarks/bench_power_quasi.py
Target (issue 26, item 6): every request <= 5 s at the default precision on the project's 2-core machine.
Data size: no data set; the simulated size of each design is printed beside its time (units x periods for a DiD,
units within the bandwidth for an RDD, (donors + 1) x periods for a synthetic control).
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

import numpy as np

from tools.power import PowerRequest, power

TARGET_SECONDS = 5.0

DESIGNS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "DiD, 100 units, 8 + 8 periods, ICC + AR(1)",
        "100 units x 16 periods",
        {"kind": "did", "treated": 40, "control": 60, "pre": 8, "post": 8, "icc": 0.4, "ar1": 0.5},
    ),
    (
        "DiD, 5,000 units, 26 + 26 weeks, staggered (4 cohorts)",
        "5,000 units x 52 periods",
        {
            "kind": "did",
            "treated": 2000,
            "control": 3000,
            "pre": 26,
            "post": 26,
            "icc": 0.3,
            "ar1": 0.6,
            "adoption": [0.25, 0.25, 0.25, 0.25],
        },
    ),
    ("RDD, 500 + 400 units in the bandwidth", "900 units", {"kind": "rdd", "treated": 400, "control": 500}),
    ("RDD, 5,000 + 5,000 units in the bandwidth", "10,000 units", {"kind": "rdd", "treated": 5000, "control": 5000}),
    (
        "Synthetic control, 39 donors, 20 + 5 periods",
        "40 units x 25 periods",
        {"kind": "synth", "treated": 1, "control": 39, "pre": 20, "post": 5},
    ),
]


def timed(request: PowerRequest, repeat: int = 3) -> float:
    """Median wall time of one call, in seconds (after a warm-up call)."""
    power(request)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        power(request)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    print(f"quasi-experimental power benchmark — python {sys.version.split()[0]}, numpy {np.__version__}")
    for label, size, design in DESIGNS:
        for solve_for in ("power", "mde", "sample_size"):
            if design["kind"] == "synth" and solve_for == "sample_size":
                continue
            fields: dict[str, Any] = {"metric": "mean", "baseline": 10.0, "std_dev": 2.0, "solve_for": solve_for}
            fields["mde"] = None if solve_for == "mde" else (3.0 if design["kind"] == "synth" else 0.3)
            request = PowerRequest.model_validate({**fields, "design": design})
            seconds = timed(request)
            result = power(request)
            simulations = result.quasi.simulations if result.quasi is not None else 0
            flag = "ok" if seconds <= TARGET_SECONDS else "SLOW"
            print(
                f"{label:<56} {solve_for:<12} {seconds:7.3f} s  {flag:<4} data {size:<24} "
                f"-> {result.n_total:,} units, {simulations:,} simulations, power {result.power:.3f}"
            )


if __name__ == "__main__":
    main()
