"""Regenerate the example datasets in examples/data/ (seeded: the same bytes every run).

    .venv/bin/python examples/generate.py

checkout.csv — a checkout redesign A/B test, one row per user:
    user_id, arm (control / treatment), converted (0/1), revenue (per user), pre_revenue (the same user's
    revenue in the 28 days before assignment), sessions.
    True effects: conversion 10.0% -> 11.0% (+10% relative); revenue per user +0.50 on a mean of about 9.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent / "data"


def checkout(n: int = 12_000, seed: int = 2026) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = np.where(rng.random(n) < 0.5, "control", "treatment")
    treated = arm == "treatment"
    pre_revenue = np.round(rng.gamma(0.8, 11.0, size=n), 2)
    converted = rng.binomial(1, np.where(treated, 0.11, 0.10))
    revenue = np.round(np.maximum(0.0, 0.7 * pre_revenue + rng.normal(2.2, 4.0, size=n) + 0.5 * treated), 2)
    sessions = rng.poisson(2.5, size=n) + 1
    return pd.DataFrame(
        {
            "user_id": [f"u{i:06d}" for i in range(n)],
            "arm": arm,
            "converted": converted,
            "revenue": revenue,
            "pre_revenue": pre_revenue,
            "sessions": sessions,
        }
    )


def main() -> None:
    HERE.mkdir(exist_ok=True)
    checkout().to_csv(HERE / "checkout.csv", index=False)


if __name__ == "__main__":
    main()
