"""Write ``guardrail_breach_export.csv``: a user's own A/B export in which the primary metric wins and a guardrail
regresses, for the eval scenario ``guardrail_breach``.

Why a generated file: the scenario checks that a guardrail the user named is analysed beside the primary metric and
that its harm is reported, not buried under the win; and that whyscope copes with an export whose column names are
not ours (spaces, capitals, units in brackets: "Visitor ID", "Bucket", "Purchased", "Page Load (ms)",
"Basket (EUR)"). The data are simulated from a seed, so the file is the same on every machine and can be
regenerated: ``python assistant/eval/data/make_guardrail_breach.py``.

The design: 2,000 visitors of a shop's search page, randomized 50/50 to bucket A (the current search) or B (a new
AI-ranked search). B raises the purchase rate from ``RATE`` by ``LIFT`` (a clear win at this size) and slows the
page by ``SLOWDOWN`` milliseconds on average (a clear breach of the page-load guardrail); basket value is unchanged.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

SEED = 2_512
VISITORS = 2_000
#: Purchase rate in A, and B's absolute lift.
RATE = 0.20
LIFT = 0.07
#: Page load in A (mean and spread, ms), and B's slowdown.
LOAD_MS = (900.0, 200.0)
SLOWDOWN = 90.0
COLUMNS = ("Visitor ID", "Bucket", "Purchased", "Page Load (ms)", "Basket (EUR)")
OUT = Path(__file__).with_name("guardrail_breach_export.csv")


def rows(seed: int = SEED) -> list[tuple[str, str, int, str, str]]:
    """The export's rows, one per visitor, in arrival order."""
    rng = np.random.default_rng(seed)
    bucket = rng.permutation(np.repeat(np.array(["A", "B"]), VISITORS // 2))
    out: list[tuple[str, str, int, str, str]] = []
    for index, arm in enumerate(bucket):
        treated = arm == "B"
        bought = int(rng.random() < RATE + (LIFT if treated else 0.0))
        load = max(150.0, rng.normal(LOAD_MS[0] + (SLOWDOWN if treated else 0.0), LOAD_MS[1]))
        basket = float(rng.gamma(4.0, 12.0)) if bought else 0.0
        out.append((f"V{index + 1:05d}", str(arm), bought, f"{load:.0f}", f"{basket:.2f}"))
    return out


def main() -> None:
    """Write the CSV next to this script."""
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows())


if __name__ == "__main__":
    main()
