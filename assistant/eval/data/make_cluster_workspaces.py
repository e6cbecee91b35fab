"""Write ``cluster_workspaces_export.csv``: a user's own export of an experiment randomized by workspace, one row per
member, for the eval scenario ``cluster_workspaces``.

Why a generated file: the scenario checks that an experiment whose unit of randomization (the workspace) is coarser
than its rows (members) is analysed by workspace (a cluster column), and that whyscope copes with an export whose
column names are not ours ("Member", "Workspace", "Editor Version", "Active Last 7 Days", "Support Tickets"). The
data are simulated from a seed, so the file is the same on every machine and can be regenerated:
``python assistant/eval/data/make_cluster_workspaces.py``.

The design: ``WORKSPACES`` workspaces of 4 to 20 members, half randomized to the new collaborative editor. Members
of one workspace share a level of activity (a workspace effect, so their rows are not independent: analysed per
member, the standard error would be too small), and the new editor raises each member's chance of being active in
the last seven days by ``LIFT``; support tickets are unchanged.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

#: A seed where the per-member analysis calls the lift significant and the per-workspace one does not (about a
#: quarter of seeds do at this size): the trap the cluster column avoids, shown on a fixed file.
SEED = 2_534
WORKSPACES = 120
#: Members per workspace: uniform between these (inclusive).
SIZE = (4, 20)
#: Active rate in control, the spread of the workspaces' own rates, and the new editor's absolute lift.
RATE = 0.40
WORKSPACE_SD = 0.15
LIFT = 0.08
COLUMNS = ("Member", "Workspace", "Editor Version", "Active Last 7 Days", "Support Tickets")
OUT = Path(__file__).with_name("cluster_workspaces_export.csv")


def rows(seed: int = SEED) -> list[tuple[str, str, str, int, int]]:
    """The export's rows, workspace by workspace."""
    rng = np.random.default_rng(seed)
    treated = rng.permutation(np.repeat(np.array([False, True]), WORKSPACES // 2))
    out: list[tuple[str, str, str, int, int]] = []
    member = 0
    for workspace in range(WORKSPACES):
        size = int(rng.integers(SIZE[0], SIZE[1] + 1))
        level = RATE + rng.normal(0.0, WORKSPACE_SD) + (LIFT if treated[workspace] else 0.0)
        rate = min(0.95, max(0.02, level))
        version = "new" if treated[workspace] else "control"
        for _ in range(size):
            member += 1
            active = int(rng.random() < rate)
            tickets = int(rng.poisson(0.3))
            out.append((f"M{member:05d}", f"WS-{workspace + 1:03d}", version, active, tickets))
    return out


def main() -> None:
    """Write the CSV next to this script."""
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows())


if __name__ == "__main__":
    main()
