"""aa_test finds a repeated unit whose column is not named *_id ("Workspace", an export's own name) the same way in
memory and in the engine, and leaves alone a column that only looks like one: a measurement, a trait named after a
unit ("account_type"), a segment with too few values to randomise, or a column the request itself uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.tools.test_engine_aa_test import assert_same, both
from tools.aa_test.models import AaTestRequest
from tools.aa_test.tool import aa_test
from tools.aa_test.units import named_unit

EXPORT = Path(__file__).parents[2] / "assistant" / "eval" / "data" / "cluster_workspaces_export.csv"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Workspace", True),
        ("workspace_id", True),
        ("Team Name", True),
        ("StoreID", True),
        ("accounts", True),
        ("store_sales", False),
        ("account_type", False),
        ("country", False),
        ("Support Tickets", False),
    ],
)
def test_a_unit_is_read_from_the_last_noun_of_the_name(name: str, expected: bool) -> None:
    assert named_unit(name) is expected


def workspaces(seed: int = 5, n: int = 60) -> pd.DataFrame:
    """Members of workspaces that differ (a strong ICC), one row per member."""
    rng = np.random.default_rng(seed)
    size = rng.integers(4, 12, n)
    workspace = np.repeat(np.arange(n), size)
    level = rng.normal(0, 1.0, n)[workspace]
    return pd.DataFrame(
        {
            "Member": [f"M{i:05d}" for i in range(workspace.size)],
            "Workspace": [f"WS-{w:03d}" for w in workspace],
            "Plan": np.where(workspace % 3 == 0, "pro", "team"),
            "Seats": size[workspace] * 1.0,
            "Minutes": 30 + 10 * level + rng.normal(0, 5, workspace.size),
        }
    )


def test_the_bundled_workspace_export_is_randomised_by_workspace() -> None:
    frame = pd.read_csv(EXPORT)
    request = AaTestRequest(
        dataset="e", metrics=[{"name": "Active Last 7 Days", "kind": "binary"}], simulations=400, seed=3
    )
    result = aa_test(request, frame)
    assert result.repeated_unit == "Workspace" and result.verdict == "investigate"
    rows, units = result.simulated[0], result.by_unit[0]
    assert rows.se_ratio < 0.9 and rows.false_positive_rate.rate > 0.1  # members of a workspace are not independent
    assert units.analysed_per == "Workspace"
    assert units.false_positive_rate.ci_lower <= 0.05 <= units.false_positive_rate.ci_upper
    assert "cluster_column='Workspace'" in result.summary


def test_a_named_unit_is_found_the_same_way_in_the_engine(tmp_path: Path) -> None:
    a, b = both(workspaces(), tmp_path, metrics=[{"name": "Minutes"}])
    assert a.repeated_unit == "Workspace"
    assert_same(a, b)


def test_a_trait_or_a_segment_named_like_a_unit_is_not_the_unit(tmp_path: Path) -> None:
    frame = workspaces().drop(columns="Workspace")
    frame["account_type"] = np.where(np.arange(len(frame)) % 2 == 0, "free", "paid")  # a trait
    frame["Team"] = np.arange(len(frame)) % 5  # five segments: too few to randomise
    frame["Store"] = np.arange(len(frame)) % 40 * 1.5  # a measurement, named after a unit
    a, b = both(frame, tmp_path, metrics=[{"name": "Minutes"}])
    assert a.repeated_unit is None and b.repeated_unit is None


def test_a_column_the_request_uses_is_never_the_unit() -> None:
    frame = workspaces()
    frame["Store"] = frame["Workspace"]  # the same values, but used as the metric's denominator here
    frame["Store"] = frame["Store"].str.slice(3).astype(int) + 1
    request = AaTestRequest(
        dataset="w",
        metrics=[{"name": "Minutes", "kind": "ratio", "denominator_column": "Store"}],
        simulations=200,
    )
    assert aa_test(request, frame.drop(columns="Workspace")).repeated_unit is None


def test_an_id_column_still_comes_first() -> None:
    frame = workspaces()
    frame["user_id"] = np.repeat(np.arange(len(frame) // 2 + 1), 2)[: len(frame)]
    request = AaTestRequest(dataset="w", metrics=[{"name": "Minutes"}], simulations=200)
    assert aa_test(request, frame).repeated_unit == "user_id"
