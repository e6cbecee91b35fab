"""Regenerate the running-experiment example (seeded: the same bytes every run).

    .venv/bin/python examples/generate_running.py

running_experiment.csv — AI reply suggestions in a support inbox, an experiment still running, one row per user:
    user_id, arm (control / treatment), enrolled_day (1-14: the data so far cover the first 14 days),
    replied (0/1: answered a customer within the hour, the primary metric), replies_sent (count, secondary),
    complaint (0/1: a customer complained about a reply, the guardrail).

The plan (the power tool: a 30% reply rate, a +2-point minimum detectable effect, two-sided alpha 0.05, 80% power,
5 looks with O'Brien-Fleming-type spending) needs at most 8,601 users per arm, 17,202 in all; look 2 is due at
information fraction 0.4, 3,441 per arm (6,882 users), which is what the file holds. True effects: reply rate 30.0%
-> 31.5% (+1.5 points, +5% relative: modest, below the planned +2 points); replies sent per user +5% (Poisson,
mean 2.0 -> 2.1); complaints 1.5% in both arms (no effect).

At look 2 the reply rate's z statistic is about 2.6: a fixed-horizon test would call it significant (p about 0.01),
but look 2's boundary is 3.357 (nominal p 0.00079), so the plan says: continue to look 3 of 5. That is the point of
the example: peeking with a fixed-horizon test would have shipped on a result the plan does not yet support.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent / "data"

#: Users per arm at look 2 of the plan (the power tool's look-2 size).
PER_ARM = 3_441
#: The plan's maximum across both arms (the power tool's n_total with 5 looks).
PLANNED_N_TOTAL = 17_202
SEED = 2_026_014
REPLY_RATE = (0.30, 0.315)


def running_experiment(per_arm: int = PER_ARM, seed: int = SEED) -> pd.DataFrame:
    """The first 14 days of the reply-suggestion experiment: ``per_arm`` users in each arm, in enrolment order."""
    rng = np.random.default_rng(seed)
    n = 2 * per_arm
    treated = rng.permutation(np.arange(n) < per_arm)  # a balanced randomization, in enrolment order
    enrolled_day = np.sort(rng.integers(1, 15, size=n))
    replied = rng.binomial(1, np.where(treated, REPLY_RATE[1], REPLY_RATE[0]))
    replies_sent = rng.poisson(np.where(treated, 2.1, 2.0))
    complaint = rng.binomial(1, 0.015, size=n)
    return pd.DataFrame(
        {
            "user_id": [f"r{i:05d}" for i in range(n)],
            "arm": np.where(treated, "treatment", "control"),
            "enrolled_day": enrolled_day,
            "replied": replied,
            "replies_sent": replies_sent,
            "complaint": complaint,
        }
    )


def main() -> None:
    HERE.mkdir(exist_ok=True)
    running_experiment().to_csv(HERE / "running_experiment.csv", index=False)


if __name__ == "__main__":
    main()
