"""Write ``own_export_did.csv``: a user's own export of a staggered store-layout rollout, for the eval scenario
``own_export_did``.

Why a generated file: the scenario checks that whyscope copes with a real export, whose column names are not ours
(spaces, capitals, a currency sign: "Store ID", "Week Start", "Got New Layout", "Weekly Sales ($)"), and that the
estimate lands on a known effect. The data are simulated from a seed, so the file is the same on every machine and
can be regenerated: ``python assistant/eval/data/make_own_export_did.py``.

The design: 40 stores observed for 40 weeks (1,600 rows); 10 stores get the new layout in week 13, 10 in week 21,
10 in week 29, and 10 never do. Each store has its own sales level, all stores share a seasonal week effect, and the
new layout adds a constant ``EFFECT`` dollars of weekly sales from its first week on (no anticipation, parallel
trends hold by construction), so a sound difference-in-differences estimate is close to ``EFFECT``.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np

#: The true effect of the new layout on weekly sales, in dollars per store and week.
EFFECT = 1200.0
SEED = 25
STORES = 40
WEEKS = 40
#: First week (1-based) with the new layout for each wave of 10 stores; None: never.
WAVES: tuple[int | None, ...] = (13, 21, 29, None)
FIRST_MONDAY = dt.date(2024, 1, 1)
COLUMNS = ("Store ID", "Week Start", "Got New Layout", "Weekly Sales ($)")
OUT = Path(__file__).with_name("own_export_did.csv")


def rows(seed: int = SEED) -> list[tuple[str, str, int, str]]:
    """The export's rows, store by store and week by week."""
    rng = np.random.default_rng(seed)
    level = rng.normal(25_000.0, 4_000.0, STORES)
    season = 1_500.0 * np.sin(np.arange(WEEKS) * 2 * np.pi / 26) + 40.0 * np.arange(WEEKS)
    out: list[tuple[str, str, int, str]] = []
    per_wave = STORES // len(WAVES)
    for store in range(STORES):
        first = WAVES[store // per_wave]
        for week in range(1, WEEKS + 1):
            treated = first is not None and week >= first
            sales = level[store] + season[week - 1] + rng.normal(0.0, 600.0) + (EFFECT if treated else 0.0)
            start = FIRST_MONDAY + dt.timedelta(weeks=week - 1)
            out.append((f"S-{store + 1:03d}", start.isoformat(), int(treated), f"{sales:.2f}"))
    return out


def main() -> None:
    """Write the CSV next to this script."""
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows())


if __name__ == "__main__":
    main()
