"""aa_test's re-randomisation: 1,000 random splits of 1M rows, two metrics (a continuous one with CUPED and a
binary one), and of 1M session rows of 100k users (the repeated-unit case: two simulations, rows and units).

    .venv/bin/python benchmarks/bench_aa_test.py [rows]

Target (issue 23): 1,000 re-randomisations of 1M rows, two metrics, within 10 s on this 2-core machine.
"""

from __future__ import annotations

import resource
import sys
import time

import numpy as np
import pandas as pd

from tools.aa_test import AaTestRequest, aa_test


def main(rows: int = 1_000_000) -> None:
    rng = np.random.default_rng(23)
    pre = rng.gamma(2.0, 10.0, rows)
    frame = pd.DataFrame(
        {
            "revenue": 0.6 * pre + rng.gamma(2.0, 8.0, rows),
            "pre_revenue": pre,
            "converted": (rng.random(rows) < 0.1).astype(np.int8),
        }
    )
    request = AaTestRequest(
        dataset="bench",
        metrics=[
            {"name": "revenue", "kind": "continuous", "covariate_column": "pre_revenue"},
            {"name": "converted", "kind": "binary"},
        ],
    )
    start = time.perf_counter()
    result = aa_test(request, frame)
    took = time.perf_counter() - start
    rates = ", ".join(f"{s.metric} {s.false_positive_rate.rate:.1%}" for s in result.simulated)
    print(f"{rows:,} rows x 2 metrics, 1,000 splits: {took:.2f} s ({rates}; verdict {result.verdict})")

    users = rows // 10
    user = rng.integers(0, users, rows)
    level = rng.normal(0, 1, users)
    sessions = pd.DataFrame({"user_id": user, "minutes": 10 + 3 * level[user] + rng.normal(0, 2, rows)})
    start = time.perf_counter()
    result = aa_test(AaTestRequest(dataset="sessions", metrics=[{"name": "minutes"}]), sessions)
    took = time.perf_counter() - start
    print(
        f"{rows:,} session rows of {users:,} users, 1,000 splits, rows and units: {took:.2f} s "
        f"(rows {result.simulated[0].false_positive_rate.rate:.1%}, "
        f"units {result.by_unit[0].false_positive_rate.rate:.1%})"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {peak:,.0f} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
