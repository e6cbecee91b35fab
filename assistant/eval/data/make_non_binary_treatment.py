"""Write ``non_binary_treatment.csv``: a user's own export whose obvious "treatment" column has three values, for the
eval scenario ``non_binary_treatment``.

Why: a real export often codes the change as a version ("Layout Version": 0 old, 1 pilot, 2 final) rather than the
0/1 flag a difference-in-differences needs. The scenario checks that the tool refuses such a column with an error
that says what is wrong and how to fix it, and that the user can then name the 0/1 column ("On New Layout") instead.
Seeded, so the file is the same everywhere: ``python assistant/eval/data/make_non_binary_treatment.py``.

The design: 30 stores over 30 weeks (900 rows); 10 stores get the pilot layout in week 10 and the final one in week
20, 10 stores get the final layout directly in week 16, and 10 never change. Any new layout adds ``EFFECT`` to
weekly sales from its first week on.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

#: The true effect of any new layout on weekly sales (thousands of dollars per store and week).
EFFECT = 2.0
SEED = 2511
STORES = 30
WEEKS = 30
COLUMNS = ("Store", "Week", "Layout Version", "On New Layout", "Sales (k$)")
OUT = Path(__file__).with_name("non_binary_treatment.csv")


def version(store: int, week: int) -> int:
    """The layout a store has in a week: 0 old, 1 pilot, 2 final."""
    wave = store // (STORES // 3)
    if wave == 0:
        return 2 if week >= 20 else 1 if week >= 10 else 0
    if wave == 1:
        return 2 if week >= 16 else 0
    return 0


def rows(seed: int = SEED) -> list[tuple[str, int, int, int, str]]:
    """The export's rows, store by store and week by week."""
    rng = np.random.default_rng(seed)
    level = rng.normal(40.0, 6.0, STORES)
    trend = 0.1 * np.arange(WEEKS)
    out: list[tuple[str, int, int, int, str]] = []
    for store in range(STORES):
        for week in range(1, WEEKS + 1):
            layout = version(store, week)
            sales = level[store] + trend[week - 1] + rng.normal(0.0, 1.0) + (EFFECT if layout else 0.0)
            out.append((f"Store {store + 1}", week, layout, int(layout > 0), f"{sales:.2f}"))
    return out


def main() -> None:
    """Write the CSV next to this script."""
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows())


if __name__ == "__main__":
    main()
