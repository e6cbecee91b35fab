"""Write ``store_list.csv``: a retail chain's list of stores to randomise, for the eval scenario
``randomise_store_list``.

Why a generated file: the scenario checks that a unit list (one row per store, no arm column, no outcome) is
recognised as such after the experiment is sized, and randomised with ``assign`` stratified by the column the user
names. The list is simulated from a seed, so the file is the same on every machine and can be regenerated:
``python assistant/eval/data/make_store_list.py``.

The list: 160 stores ("ST-001" ...), each in one of four regions (unequal sizes, so stratifying matters) and of one
of two formats (mall or street). No numeric column: nothing in it can be mistaken for an outcome.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

SEED = 26
STORES = 160
REGIONS = ("north", "south", "east", "west")
REGION_SHARES = (0.4, 0.3, 0.2, 0.1)
FORMATS = ("mall", "street")


def rows() -> list[dict[str, str]]:
    """The store list, one dict per store."""
    rng = np.random.default_rng(SEED)
    regions = rng.choice(len(REGIONS), size=STORES, p=REGION_SHARES)
    formats = rng.choice(len(FORMATS), size=STORES)
    return [
        {"Store ID": f"ST-{i + 1:03d}", "region": REGIONS[r], "format": FORMATS[f]}
        for i, (r, f) in enumerate(zip(regions, formats, strict=True))
    ]


def main() -> None:
    path = Path(__file__).with_name("store_list.csv")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["Store ID", "region", "format"])
        writer.writeheader()
        writer.writerows(rows())


if __name__ == "__main__":
    main()
