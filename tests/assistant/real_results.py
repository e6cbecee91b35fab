"""Real results from every registered tool, run once per test session on the bundled example data.

Surfaces (the card, the text plot, the PNG figure, what the model reads, the session record) are tested with these
rather than hand-built dicts, so a renamed or new field reaches the tests. A tool registered without a request here
fails ``test_every_registered_tool_has_a_real_result``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from tools.data import Catalog
from tools.errors import ToolError
from tools.registry import dispatch
from tools.results import ToolResult

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"
DATASETS = (
    "checkout",
    "staggered_rollout",
    "market_launch",
    "agent_mode_opt_in",
    "agent_mode_invite",
    "paywall_cutoff",
    "checkout_sessions",
)
#: Bundled examples attached under another name than their file's (as the app attaches them).
RENAMED = {"onboarding_tour": "onboarding_uplift"}

RDD = {"dataset": "paywall_cutoff", "outcome": "converted_30d", "running": "credits_used", "cutoff": 10}

#: One small request per registered tool.
REQUESTS: dict[str, dict[str, Any]] = {
    "power": {"metric": "proportion", "baseline": 0.1, "mde": 0.1, "mde_kind": "relative"},
    "ab_test": {
        "dataset": "checkout",
        "arm_column": "arm",
        "metrics": [
            {"name": "converted", "kind": "binary"},
            {"name": "revenue", "kind": "continuous", "role": "guardrail", "non_inferiority_margin": 0.5},
        ],
    },
    "diff_in_diff": {
        "dataset": "staggered_rollout",
        "outcome": "weekly_orders",
        "unit": "region",
        "time": "month",
        "cohort": "launch_month",
    },
    "synthetic_control": {
        "dataset": "market_launch",
        "outcome": "orders_per_1k_users",
        "unit": "market",
        "time": "week",
        "treatment": "assistant_live",
    },
    "propensity": {
        "dataset": "agent_mode_opt_in",
        "outcome": "task_completion",
        "treatment": "opted_in",
        "covariates": ["plan", "tenure_months", "weekly_sessions_pre", "task_completion_pre"],
    },
    "rdd": RDD,
    "instrumental_variables": {
        "dataset": "agent_mode_invite",
        "outcome": "tasks_completed",
        "treatment": "used_agent_mode",
        "instruments": ["invited"],
        "covariates": ["tasks_completed_pre", "tenure_months"],
    },
    "assign": {
        "dataset": "agent_mode_opt_in",
        "unit_column": "user_id",
        "salt": "agent-mode-2027",
        "strata": ["plan"],
        "balance_covariates": ["tenure_months", "weekly_sessions_pre", "task_completion_pre"],
    },
    "metric_history": {
        "dataset": "checkout_sessions",
        "metric": "order_value",
        "unit_column": "user_id",
    },
    "aa_test": {
        "dataset": "checkout_sessions",
        "metrics": [{"name": "converted", "kind": "binary"}, {"name": "order_value"}],
        "simulations": 200,
    },
    "heterogeneity": {
        "dataset": "onboarding_tour",
        "outcome": "minutes_active_28d",
        "treatment": "tour",
        "effect_modifiers": ["tenure_months", "plan", "weekly_sessions_pre", "region"],
        "subgroups": ["plan"],
    },
    "allocate_traffic": {
        "arms": [
            {"arm": "control", "successes": 120, "trials": 1000},
            {"arm": "b", "successes": 140, "trials": 1000},
            {"arm": "c", "successes": 131, "trials": 1000},
        ],
        "min_share": 0.05,
    },
    "refute": {"target": {"tool": "rdd", "request": RDD}, "simulations": 10},
    "recommend_method": {"can_randomize": True},
}


@cache
def catalog() -> Catalog:
    """The bundled example datasets, by the names the requests use."""
    examples = Catalog()
    for name in (*DATASETS, *RENAMED):
        examples.add(DATA / f"{RENAMED.get(name, name)}.csv", name)
    return examples


@cache
def real_result(name: str) -> ToolResult:
    """The tool's result for its request in :data:`REQUESTS` (a failed run fails the calling test)."""
    outcome = dispatch(name, REQUESTS[name], catalog())
    if isinstance(outcome, ToolError):
        raise AssertionError(f"{name} failed on its example request: {outcome!r}")
    return outcome
