"""Regenerate examples/data/staggered_rollout.csv (seeded: the same bytes every run).

    .venv/bin/python examples/generate_staggered.py

A feature rolled out region by region: 40 regions observed monthly from 2024-01 to 2025-12 (24 months, 960 rows).
Ten regions launched in 2024-07, ten in 2025-01, ten in 2025-07, and ten never launched. Columns:
    region (r01 .. r40), month (ISO date, first of the month), launched (0/1: the feature is live that month),
    launch_month (the region's first live month, empty if never), weekly_orders (the outcome, in thousands),
    population (thousands; a weight, constant per region).
True effect: +3.0 in the launch month, growing by +0.5 each month after (3.0 + 0.5 * months since launch), so
the effect averaged over all launched region-months (equal cohort sizes: 18 + 12 + 6 post months) is exactly
3.0 + 0.5 * 6.5 = 6.25. The static two-way fixed-effects regression is biased well below that here, because
later regions are compared with regions whose effect is still growing; Callaway-Sant'Anna recovers it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent / "data"
TRUE_ATT = 6.25


def staggered_rollout(seed: int = 2024) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_regions, n_months = 40, 24
    months = pd.date_range("2024-01-01", periods=n_months, freq="MS")
    launch = np.repeat([6, 12, 18, -1], 10)  # month index of launch; -1 never
    region_level = rng.normal(100.0, 20.0, n_regions)
    month_effect = 2.0 * np.sin(np.arange(n_months) * 2 * np.pi / 12) + 0.3 * np.arange(n_months)
    population = np.round(rng.uniform(200, 3000, n_regions))
    rows = []
    for r in range(n_regions):
        for t in range(n_months):
            live = launch[r] >= 0 and t >= launch[r]
            effect = 3.0 + 0.5 * (t - launch[r]) if live else 0.0
            y = region_level[r] + month_effect[t] + effect + rng.normal(0.0, 2.0)
            rows.append(
                {
                    "region": f"r{r + 1:02d}",
                    "month": months[t].date().isoformat(),
                    "launched": int(live),
                    "launch_month": months[launch[r]].date().isoformat() if launch[r] >= 0 else "",
                    "weekly_orders": round(float(y), 3),
                    "population": population[r],
                }
            )
    return pd.DataFrame(rows)


def main() -> None:
    HERE.mkdir(exist_ok=True)
    staggered_rollout().to_csv(HERE / "staggered_rollout.csv", index=False, lineterminator="\n")


if __name__ == "__main__":
    main()
