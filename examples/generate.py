"""Regenerate the example datasets in examples/data/ (seeded: the same bytes every run).

    .venv/bin/python examples/generate.py

checkout.csv — a checkout redesign A/B test, one row per user:
    user_id, arm (control / treatment), converted (0/1), revenue (per user), pre_revenue (the same user's
    revenue in the 28 days before assignment), sessions.
    True effects: conversion 10.0% -> 11.0% (+10% relative); revenue per user +0.50 on a mean of about 9.

market_launch.csv — an AI shopping assistant launched in one of 30 markets (the synthetic-control example), one row
per market and week (30 markets x 60 weeks = 1,800 rows):
    market (market_01 .. market_30), week (1 .. 60), assistant_live (0/1: 1 in market_07 from week 41 on),
    orders_per_1k_users (the weekly outcome), active_users (the market's size; constant, unrelated to the outcome).
The outcome follows a factor model: a market level, common weekly effects (a slow trend and a yearly cycle), two
latent factors with market-specific loadings (a growth trend, weeks / 10, and a 26-week cycle), and noise (sd 0.6).
market_07 grows faster than the average market (loading 1.6 on the growth trend against a donor mean near 1.0), so
parallel trends fail; its loadings and level lie inside the donors' range, so a weighted blend of donors tracks it.
True effect: +3.0 orders per 1,000 users per week in market_07 in each of its 20 post weeks (41 .. 60), after 40
pre weeks. Two-way fixed-effects difference-in-differences gives about +4.54 (biased upward by the faster growth);
a plain synthetic control (non-negative weights summing to one, fitted to the 40 pre weeks) gives about +3.06 and
synthetic difference-in-differences about +2.98.
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


MARKET_EFFECT = 3.0
TREATED_MARKET = "market_07"
FIRST_LIVE_WEEK = 41


def market_launch(seed: int = 2609, n_markets: int = 30, n_weeks: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    weeks = np.arange(1, n_weeks + 1)
    markets = [f"market_{i:02d}" for i in range(1, n_markets + 1)]
    treated = markets.index(TREATED_MARKET)
    level = rng.normal(42.0, 5.0, n_markets)
    loadings = rng.uniform(0.0, 2.0, (n_markets, 2))
    loadings[treated] = (1.6, 0.7)  # faster growth than the donors' average, inside their range
    level[treated] = 43.0
    common = 0.04 * weeks + 1.2 * np.sin(2 * np.pi * weeks / 52)
    factors = np.column_stack([weeks / 10.0, 1.5 * np.cos(2 * np.pi * weeks / 26)])
    users = np.round(rng.lognormal(np.log(80_000), 0.6, n_markets)).astype(int)
    noise = rng.normal(0.0, 0.6, (n_markets, n_weeks))
    live = np.zeros((n_markets, n_weeks), dtype=int)
    live[treated, weeks >= FIRST_LIVE_WEEK] = 1
    outcome = level[:, None] + common[None, :] + loadings @ factors.T + noise + MARKET_EFFECT * live
    return pd.DataFrame(
        {
            "market": np.repeat(markets, n_weeks),
            "week": np.tile(weeks, n_markets),
            "assistant_live": live.ravel(),
            "orders_per_1k_users": np.round(outcome.ravel(), 2),
            "active_users": np.repeat(users, n_weeks),
        }
    )


def main() -> None:
    HERE.mkdir(exist_ok=True)
    checkout().to_csv(HERE / "checkout.csv", index=False)
    market_launch().to_csv(HERE / "market_launch.csv", index=False)


if __name__ == "__main__":
    main()
