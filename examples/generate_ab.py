"""Regenerate the example datasets behind the pre-registration examples (seeded: the same bytes every run).

    .venv/bin/python examples/generate_ab.py

ai_feature_ab.csv — the AI trip planner A/B test (examples/briefs/ai_feature_ab.json), one row per user:
    user_id, arm (control / treatment), booked (0/1), revenue, pre_revenue (the 28 days before assignment),
    refund_request (0/1), page_load_ms.
    True effects: booking 10.0% -> 11.5% (+0.015, +15% relative); revenue per user +0.015 x 110 = +1.65 (revenue of
    a booking is 80 + 0.5 x pre_revenue, mean 110); refund requests 3.0% in both arms (no effect); page load time
    +1% (a mean of about 800 ms, inside the 5% margin).

cluster_rollout.csv — AI meeting notes switched on per workspace (examples/briefs/cluster_rollout.json), one row
per user, randomized by workspace:
    user_id, workspace_id, arm (control / treatment), weekly_active (0/1), support_tickets.
    True effects: weekly-active rate 40% -> 46% (+0.06) with a workspace-level spread that gives an intra-workspace
    correlation of about 0.05; support tickets per user unchanged (Poisson, mean 0.3).

The third example (a staggered rollout analysed by difference-in-differences) uses examples/data/staggered_rollout.csv,
generated separately.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent / "data"


def ai_feature_ab(n: int = 14_000, seed: int = 20263) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = np.where(rng.random(n) < 0.5, "control", "treatment")
    treated = arm == "treatment"
    pre_revenue = np.round(rng.gamma(0.6, 100.0, size=n), 2)
    booked = rng.binomial(1, np.where(treated, 0.115, 0.10))
    revenue = np.round(booked * (80.0 + 0.5 * pre_revenue + rng.normal(0.0, 15.0, size=n)).clip(min=0.0), 2)
    refund_request = rng.binomial(1, 0.03, size=n)
    page_load_ms = np.round(rng.lognormal(np.log(780.0), 0.22, size=n) * np.where(treated, 1.01, 1.0), 1)
    return pd.DataFrame(
        {
            "user_id": [f"u{i:06d}" for i in range(n)],
            "arm": arm,
            "booked": booked,
            "revenue": revenue,
            "pre_revenue": pre_revenue,
            "refund_request": refund_request,
            "page_load_ms": page_load_ms,
        }
    )


def cluster_rollout(workspaces: int = 220, users_per_workspace: int = 20, seed: int = 20262) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    workspace_arm = np.where(rng.permutation(workspaces) < workspaces // 2, "control", "treatment")
    # workspace-level rates: sd 0.11 around the arm's rate gives ICC = 0.11^2 / (0.43 x 0.57) = 0.05 or so
    workspace_rate = np.clip(0.40 + 0.06 * (workspace_arm == "treatment") + rng.normal(0.0, 0.11, workspaces), 0, 1)
    workspace = np.repeat(np.arange(workspaces), users_per_workspace)
    n = len(workspace)
    return pd.DataFrame(
        {
            "user_id": [f"m{i:05d}" for i in range(n)],
            "workspace_id": [f"w{w:04d}" for w in workspace],
            "arm": workspace_arm[workspace],
            "weekly_active": rng.binomial(1, workspace_rate[workspace]),
            "support_tickets": rng.poisson(0.3, size=n),
        }
    )


def main() -> None:
    HERE.mkdir(exist_ok=True)
    ai_feature_ab().to_csv(HERE / "ai_feature_ab.csv", index=False)
    cluster_rollout().to_csv(HERE / "cluster_rollout.csv", index=False)


if __name__ == "__main__":
    main()
