"""Regenerate the checkout sessions example (seeded: the same bytes every run).

    .venv/bin/python examples/generate_sessions.py

checkout_sessions.csv — four weeks of checkout history before any experiment, one row per SESSION (not per user):
    user_id (u00000-u02999: 3,000 users, each with 1 to 12 sessions, 13,000-odd rows), session_day (1-28),
    device (desktop / mobile), converted (0/1: the session ended in an order), order_value (the order's amount, 0
    without an order), minutes (time in the session).

Users differ a lot and stay themselves from session to session: each user has a propensity to buy (their
sessions convert at 4% to 40%), a typical basket and a browsing pace. So the sessions of one user are not
independent, and an analysis that treats sessions as units understates the noise: re-randomised by user (as an
experiment assigns users) and analysed per session, an A/A test calls far more than 5% of splits significant, while
the same analysis per user (cluster_column='user_id') keeps about 5%. That is the mistake aa_test exists to catch.
No treatment and no effect: this is history, for A/A checks and for sizing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent / "data"
USERS = 3_000
SEED = 2323


def checkout_sessions(users: int = USERS, seed: int = SEED) -> pd.DataFrame:
    """The session rows; see the module docstring."""
    rng = np.random.default_rng(seed)
    sessions = rng.integers(1, 13, users)
    propensity = 1 / (1 + np.exp(-rng.normal(-1.9, 0.8, users)))  # a user's chance that a session converts
    basket = rng.lognormal(3.6, 0.5, users)  # a user's typical order value
    pace = rng.lognormal(1.9, 0.45, users)  # a user's typical minutes per session
    mobile = rng.random(users) < 0.55
    user = np.repeat(np.arange(users), sessions)
    n = len(user)
    converted = (rng.random(n) < propensity[user]).astype(int)
    value = np.where(converted == 1, np.round(basket[user] * rng.lognormal(0.0, 0.3, n), 2), 0.0)
    minutes = np.round(pace[user] * rng.lognormal(0.0, 0.35, n), 1)
    return pd.DataFrame(
        {
            "user_id": [f"u{u:05d}" for u in user],
            "session_day": rng.integers(1, 29, n),
            "device": np.where(mobile[user], "mobile", "desktop"),
            "converted": converted,
            "order_value": value,
            "minutes": minutes,
        }
    )


def main() -> None:
    HERE.mkdir(exist_ok=True)
    checkout_sessions().to_csv(HERE / "checkout_sessions.csv", index=False)


if __name__ == "__main__":
    main()
