"""Regenerate examples/data/paywall_cutoff.csv, a regression-discontinuity example (seeded: the same bytes every run).

    .venv/bin/python examples/generate_cutoff.py

paywall_cutoff.csv — a metered paywall, one row per trial user. Queries cost different amounts of credit; once a
user has used 10 free credits in the trial week, the paywall appears (except for exempt education accounts).
    user_id
    credits_used        the running variable: free credits used in the trial week (cutoff 10.0)
    saw_paywall         1 if the paywall was shown (take-up: 0 below the cutoff; 85% of users at or above it)
    converted_30d       1 if the user bought a subscription within 30 days
    sessions_next_30d   sessions in the following 30 days
    signup_sessions     sessions in the signup week before the trial (pre-determined covariate)
    account_age_days    days since the account was created (pre-determined covariate)
    platform            web / ios / android
True effects of seeing the paywall: conversion +12 points, sessions -3.0. Because 15% above the cutoff are exempt,
the jumps at the cutoff (sharp RD of the outcome, intention to treat) are 0.85 x those: +10.2 points and -2.55
sessions; the fuzzy RD with take-up saw_paywall recovers +12 points and -3.0. Nobody sorts around the cutoff (the
density of credits_used is smooth there) and the covariates are continuous.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent / "data"
CUTOFF = 10.0
CONVERSION_EFFECT = 0.12
SESSIONS_EFFECT = -3.0
EXEMPT_SHARE = 0.15


def paywall(n: int = 5000, seed: int = 2028) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    engagement = rng.normal(0, 1, n)  # latent: drives usage, sessions and conversion alike
    credits = np.round(np.clip(rng.gamma(4.0, 2.6, n) * np.exp(0.25 * engagement), 0.05, 40.0), 3)
    signup_sessions = rng.poisson(np.exp(1.2 + 0.3 * engagement))
    account_age = np.round(rng.gamma(2.0, 90.0, n)).astype(int)
    platform = rng.choice(["web", "ios", "android"], size=n, p=[0.5, 0.3, 0.2])
    above = credits >= CUTOFF
    saw_paywall = (above & (rng.random(n) >= EXEMPT_SHARE)).astype(int)
    distance = credits - CUTOFF
    p_convert = np.clip(0.06 + 0.004 * distance + 0.02 * engagement + CONVERSION_EFFECT * saw_paywall, 0.01, 0.9)
    converted = rng.binomial(1, p_convert)
    sessions = np.maximum(
        0.0, 18 + 0.35 * distance + 2.0 * engagement + SESSIONS_EFFECT * saw_paywall + rng.normal(0, 5, n)
    )
    return pd.DataFrame(
        {
            "user_id": [f"t{i:05d}" for i in range(n)],
            "credits_used": credits,
            "saw_paywall": saw_paywall,
            "converted_30d": converted,
            "sessions_next_30d": np.round(sessions, 1),
            "signup_sessions": signup_sessions,
            "account_age_days": account_age,
            "platform": platform,
        }
    )


def main() -> None:
    HERE.mkdir(exist_ok=True)
    paywall().to_csv(HERE / "paywall_cutoff.csv", index=False)


if __name__ == "__main__":
    main()
