"""Regenerate examples/data/onboarding_uplift.csv (seeded: the same bytes every run).

    .venv/bin/python examples/generate_uplift.py

onboarding_uplift.csv — an A/B test of a guided onboarding tour of the new workspace: a random half of the active
users (50/50, by user) saw the tour at their next login. One row per user:
    user_id, tour (0/1, randomised 50/50: the treatment), tenure_months (months since sign-up, 1 to 96),
    plan (free / pro / team), weekly_sessions_pre (sessions per week in the 4 weeks before), region (emea /
    americas / apac: no bearing on the effect), minutes_active_28d (minutes active in the 28 days after: the
    outcome, rounded to 0.1).

The true effect of the tour on a user (the CATE, minutes per 28 days) depends on tenure and plan only:

    tau(tenure, plan) = 40 exp(-tenure / 6) + {free: 8, pro: 3, team: -4}

so new users gain most (a free user in their first month about +42), users of several years only the plan's part,
and long-tenured team users lose a little (the tour interrupts work they already know how to do). Without the tour a
user is active 120 + 15 x weekly_sessions_pre + 20 x (paid plan) + 0.5 x min(tenure, 48) minutes plus noise (45 x a
standard normal cut at +-2.5, so every outcome stays positive); with it, tau more. Run, it prints the sample's true
average effect, the true effect by plan and tenure band, and the true effect in the fifths of true effect (what a
perfect model's GATES would show).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent / "data"
N_USERS = 8_000
SEED = 22
PLAN_EFFECT = {"free": 8.0, "pro": 3.0, "team": -4.0}


def true_effect(tenure: np.ndarray, plan: np.ndarray) -> np.ndarray:
    """The tour's true effect on each user (minutes active in 28 days); see the module docstring."""
    plan_part = np.select(
        [plan == "free", plan == "pro"], [PLAN_EFFECT["free"], PLAN_EFFECT["pro"]], PLAN_EFFECT["team"]
    )
    return np.asarray(40.0 * np.exp(-tenure / 6.0) + plan_part, dtype=np.float64)


def onboarding_uplift(n: int = N_USERS, seed: int = SEED) -> tuple[pd.DataFrame, np.ndarray]:
    """The dataset and each user's true effect of the tour."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(np.array(["free", "pro", "team"]), size=n, p=[0.55, 0.33, 0.12])
    paid = (plan != "free").astype(float)
    tenure = np.clip(np.round(rng.gamma(2.0, 9.0, size=n)), 1, 96).astype(int)
    region = rng.choice(np.array(["emea", "americas", "apac"]), size=n, p=[0.4, 0.4, 0.2])
    engagement = rng.gamma(2.0, 1.0, size=n)
    sessions = rng.poisson(1.0 + 1.5 * engagement + 1.0 * paid)
    tour = (rng.random(n) < 0.5).astype(int)
    noise = 45.0 * np.clip(rng.normal(size=n), -2.5, 2.5)
    untreated = 120.0 + 15.0 * sessions + 20.0 * paid + 0.5 * np.minimum(tenure, 48) + noise
    effect = true_effect(tenure.astype(float), plan)
    minutes = np.round(untreated + effect * tour, 1)
    frame = pd.DataFrame(
        {
            "user_id": [f"u{i:05d}" for i in range(n)],
            "tour": tour,
            "tenure_months": tenure,
            "plan": plan,
            "weekly_sessions_pre": sessions,
            "region": region,
            "minutes_active_28d": minutes,
        }
    )
    return frame, effect


def main() -> None:
    frame, effect = onboarding_uplift()
    HERE.mkdir(exist_ok=True)
    frame.to_csv(HERE / "onboarding_uplift.csv", index=False, lineterminator="\n")
    lines = [f"true average effect {effect.mean():.3f} minutes"]
    band = pd.cut(frame["tenure_months"], [0, 3, 12, 36, 96], labels=["1-3", "4-12", "13-36", "37-96"])
    table = pd.Series(effect).groupby([frame["plan"], band], observed=True).mean().unstack()
    lines.append("true effect by plan and tenure band (months):\n" + table.round(2).to_string())
    fifths = pd.qcut(pd.Series(effect).rank(method="first"), 5, labels=False)
    lines.append(
        "true effect by fifth of true effect: "
        + ", ".join(f"{v:+.2f}" for v in pd.Series(effect).groupby(fifths).mean())
    )
    print("\n".join(lines))  # noqa: T201


if __name__ == "__main__":
    main()
