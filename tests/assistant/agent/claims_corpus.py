"""Assistant answers judged against real tool results, for the claim checker (``assistant/agent/claims.py``).

Each :class:`Case` is an answer of the kind GPT-4-class and small local models write, the session it is judged
against (names of :func:`build_sources`' results, and the user's question), and the flags a careful reader expects,
each as ``kind`` or ``kind/problem``. The sources are real results: the registered tools run on the bundled examples
(``examples/data``) and on small seeded frames, never hand-written result dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from assistant.launch import EXAMPLES, example_data
from tools.data import Catalog
from tools.did.models import DiffInDiffRequest
from tools.did.tool import diff_in_diff
from tools.refute.models import RefuteRequest
from tools.refute.tool import refute
from tools.registry import dispatch

__all__ = ["CASES", "Case", "build_sources"]


@dataclass(frozen=True)
class Case:
    """An answer, the session's results it is judged against, and the flags expected (``kind`` or
    ``kind/problem``; empty: nothing may be flagged)."""

    name: str
    text: str
    results: tuple[str, ...]
    expected: tuple[str, ...] = ()
    user: str = "Did the change work?"


def _counts(arm: str, metric: str, n: int, conversions: int) -> dict[str, Any]:
    return {"arm": arm, "metric": metric, "n": n, "conversions": conversions}


def _ab(*rows: tuple[str, str, int, int], metrics: list[dict[str, Any]]) -> dict[str, Any]:
    return {"summaries": [_counts(*row) for row in rows], "metrics": metrics}


CONVERSION = {"name": "conversion", "kind": "binary"}

#: Each result: the tool and its request (run through the registry's dispatch on the bundled examples).
REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "ab_checkout": (
        "ab_test",
        {
            "dataset": "checkout",
            "arm_column": "arm",
            "metrics": [{"name": "converted", "kind": "binary"}, {"name": "revenue", "role": "secondary"}],
        },
    ),
    "ab_pos": (
        "ab_test",
        _ab(("control", "conversion", 20000, 2000), ("treatment", "conversion", 20000, 2200), metrics=[CONVERSION]),
    ),
    "ab_neg": (
        "ab_test",
        _ab(("control", "conversion", 20000, 2000), ("treatment", "conversion", 20000, 1800), metrics=[CONVERSION]),
    ),
    "ab_ns": (
        "ab_test",
        _ab(("control", "conversion", 5000, 500), ("treatment", "conversion", 5000, 510), metrics=[CONVERSION]),
    ),
    "ab_guard": (
        "ab_test",
        _ab(
            ("control", "conversion", 20000, 2000),
            ("treatment", "conversion", 20000, 2200),
            ("control", "refunds", 20000, 400),
            ("treatment", "refunds", 20000, 520),
            metrics=[CONVERSION, {"name": "refunds", "kind": "binary", "role": "guardrail", "direction": "decrease"}],
        ),
    ),
    "ab_arms": (
        "ab_test",
        _ab(
            ("control", "conversion", 20000, 2000),
            ("B", "conversion", 20000, 2250),
            ("C", "conversion", 20000, 1990),
            metrics=[CONVERSION],
        ),
    ),
    "power": (
        "power",
        {"solve_for": "sample_size", "metric": "proportion", "baseline": 0.1, "mde": 0.05, "mde_kind": "relative"},
    ),
    "recommend": ("recommend_method", {}),
    "did": (
        "diff_in_diff",
        {
            "dataset": "staggered_rollout",
            "outcome": "weekly_orders",
            "unit": "region",
            "time": "month",
            "cohort": "launch_month",
        },
    ),
    "synth": (
        "synthetic_control",
        {
            "dataset": "market_launch",
            "outcome": "orders_per_1k_users",
            "unit": "market",
            "time": "week",
            "treatment": "assistant_live",
        },
    ),
    "iv": (
        "instrumental_variables",
        {
            "dataset": "agent_mode_invite",
            "outcome": "tasks_completed",
            "treatment": "used_agent_mode",
            "instruments": ["invited"],
        },
    ),
    "rdd": ("rdd", {"dataset": "paywall_cutoff", "outcome": "converted_30d", "running": "credits_used", "cutoff": 10}),
    "propensity": (
        "propensity",
        {
            "dataset": "agent_mode_opt_in",
            "outcome": "task_completion",
            "treatment": "opted_in",
            "covariates": ["plan", "tenure_months", "weekly_sessions_pre", "task_completion_pre"],
        },
    ),
    "refute_ab": (
        "refute",
        {
            "target": {
                "tool": "ab_test",
                "request": {
                    "dataset": "checkout",
                    "arm_column": "arm",
                    "metrics": [{"name": "revenue", "covariate_column": "pre_revenue"}],
                },
            },
            "simulations": 20,
        },
    ),
    "aa": (
        "aa_test",
        {"dataset": "checkout_sessions", "metrics": [{"name": "converted", "kind": "binary"}], "simulations": 200},
    ),
    "error": (
        "ab_test",
        {"dataset": "checkout", "arm_column": "variant", "metrics": [{"name": "converted", "kind": "binary"}]},
    ),
}


def _panel(seed: int = 7) -> pd.DataFrame:
    """20 stores over 10 weeks; half of them get the change from week 6, which cuts sales by 2 (noise sd 0.5)."""
    rng = np.random.default_rng(seed)
    rows = []
    for store in range(20):
        level = rng.normal(50, 5)
        for week in range(1, 11):
            treated = int(store < 10 and week >= 6)
            rows.append(
                {
                    "store": f"s{store:02d}",
                    "week": week,
                    "treated": treated,
                    "sales": level + 0.3 * week - 2.0 * treated + rng.normal(0, 0.5),
                }
            )
    return pd.DataFrame(rows)


def _mismatched(seed: int = 3) -> pd.DataFrame:
    """An A/B test planned 50/50 whose arms came out 56/44: the sample-ratio check fails."""
    rng = np.random.default_rng(seed)
    arm = np.where(rng.random(4000) < 0.56, "treatment", "control")
    converted = (rng.random(4000) < np.where(arm == "treatment", 0.12, 0.10)).astype(int)
    return pd.DataFrame({"user_id": [f"u{i}" for i in range(4000)], "arm": arm, "converted": converted})


def build_sources() -> dict[str, Any]:
    """Every result the corpus names, computed by the tools (about 3 s)."""
    catalog = Catalog()
    for name, file_name in EXAMPLES.items():
        path = example_data(file_name)
        assert path is not None, file_name
        catalog.add(path, name)
    results: dict[str, Any] = {name: dispatch(tool, request, catalog) for name, (tool, request) in REQUESTS.items()}
    results["did_neg"] = diff_in_diff(
        DiffInDiffRequest(dataset="stores", outcome="sales", unit="store", time="week", treatment="treated"), _panel()
    )
    target = {
        "dataset": "mismatched",
        "arm_column": "arm",
        "expected_split": [{"arm": "control", "share": 0.5}, {"arm": "treatment", "share": 0.5}],
        "metrics": [{"name": "converted", "kind": "binary"}],
    }
    request = {"target": {"tool": "ab_test", "request": target}, "checks": ["sample_ratio"], "simulations": 10}
    results["refute_failed"] = refute(RefuteRequest.model_validate(request), _mismatched())
    return results


CHECKOUT_Q = "Did checkout conversion go up after the redesign?"

CASES: tuple[Case, ...] = (
    # --- no tool ran: the SmolLM2 answer and its cousins ------------------------------------------------------------
    Case("smollm2_yes", "Yes, checkout conversion went up.", (), ("direction/unsupported",), CHECKOUT_Q),
    Case(
        "no_tool_significant",
        "Yes! The new checkout flow led to a statistically significant increase in conversions.",
        (),
        ("causation/unsupported", "significance/unsupported"),
        CHECKOUT_Q,
    ),
    Case(
        "no_tool_ship",
        "Conversion improved, so you should ship it.",
        (),
        ("direction/unsupported", "decision/unsupported"),
        CHECKOUT_Q,
    ),
    Case(
        "no_tool_null",
        "There was no significant difference between the two versions.",
        (),
        ("null/unsupported",),
        CHECKOUT_Q,
    ),
    Case(
        "no_tool_honest",
        "I haven't analysed any data yet, so I can't tell whether conversion went up. Could you attach the experiment "
        "file?",
        (),
        (),
        CHECKOUT_Q,
    ),
    Case(
        "no_tool_hypothetical", "If conversion went up, that would support shipping the redesign.", (), (), CHECKOUT_Q
    ),
    Case("no_tool_robust", "The results are robust and trustworthy.", (), ("verdict/unsupported",)),
    # --- only planning tools ran ------------------------------------------------------------------------------------
    Case(
        "power_only_caused",
        "The power analysis shows the redesign caused a 5% lift in conversion.",
        ("power",),
        ("causation/unsupported",),
    ),
    Case(
        "power_only_sizing",
        "To detect a lift of 5% from a baseline of 10% you need 57,763 users per arm. With that sample, a real "
        "increase would show up as significant.",
        ("power",),
        (),
    ),
    Case("power_only_went_up", "Good news: conversion went up by 5%.", ("power",), ("direction/unsupported",)),
    Case(
        "recommend_only",
        "An A/B test is the best design here because randomisation balances confounders. Once it has run, we can check "
        "whether the change increased conversion.",
        ("recommend",),
        (),
    ),
    Case(
        "recommend_only_ship",
        "Based on the recommendation, roll it out to everyone.",
        ("recommend",),
        ("decision/unsupported",),
    ),
    # --- a significant positive A/B test ---------------------------------------------------------------------------
    Case(
        "pos_correct",
        "Yes: conversion went up by 10.00% relative (95% CI +3.88% to +16.49%, p = 0.00111), a statistically "
        "significant lift. The tool's decision is to ship.",
        ("ab_pos",),
        (),
    ),
    Case("pos_ship", "The test is a clear win: ship it.", ("ab_pos",), ()),
    Case("pos_quoted", "Decision: ship. 'conversion' in treatment vs control: +10.00% relative.", ("ab_pos",), ()),
    Case(
        "pos_markdown",
        "**Result**\n- Conversion: **+10.0%** relative, statistically significant (p = 0.001)\n- Decision: ship\n\n"
        "The treatment clearly increased conversion.",
        ("ab_pos",),
        (),
    ),
    Case(
        "pos_says_down",
        "Unfortunately conversion dropped in the treatment group.",
        ("ab_pos",),
        ("direction/contradicted",),
    ),
    Case("pos_says_null", "The experiment found no effect on conversion.", ("ab_pos",), ("null/contradicted",)),
    Case(
        "pos_not_significant",
        "The difference in conversion is not statistically significant, so we cannot conclude anything.",
        ("ab_pos",),
        ("null/contradicted",),
    ),
    Case("pos_dont_ship", "I recommend you don't ship this change.", ("ab_pos",), ("decision/contradicted",)),
    Case("pos_caused", "The new checkout caused conversion to rise by about 10%.", ("ab_pos",), ()),
    Case(
        "pos_you_said",
        "You said conversion dropped last month, but this test shows it went up by 10%.",
        ("ab_pos",),
        (),
    ),
    # --- a significant negative A/B test ---------------------------------------------------------------------------
    Case("neg_went_up", "Conversion went up in the treatment arm.", ("ab_neg",), ("direction/contradicted",)),
    Case("neg_correct", "Conversion fell by 10% relative to control (p < 0.001); don't ship it.", ("ab_neg",), ()),
    Case("neg_ship", "Despite the dip, I think you should ship it.", ("ab_neg",), ("decision/contradicted",)),
    Case("neg_improved", "The redesign improved checkout conversion.", ("ab_neg",), ("direction/contradicted",)),
    Case("neg_hurt", "The change hurt conversion: it dropped by 10%.", ("ab_neg",), ()),
    Case("neg_negation", "Conversion did not go up; it went down by 10%.", ("ab_neg",), ()),
    Case("neg_no_drop", "Conversion did not drop.", ("ab_neg",), ("null/contradicted",)),
    # --- an inconclusive A/B test ----------------------------------------------------------------------------------
    Case("ns_went_up", "Conversion went up by 2%.", ("ab_ns",), ("direction/contradicted",)),
    Case(
        "ns_hedged",
        "The point estimate is slightly higher (+2%), but the difference is not statistically significant.",
        ("ab_ns",),
        (),
    ),
    Case(
        "ns_correct",
        "The result is inconclusive: +2.00% relative with a 95% CI from -9.25% to +14.65%, so there is no detectable "
        "effect yet.",
        ("ab_ns",),
        (),
    ),
    Case("ns_ship", "Conversion is up 2%, ship it!", ("ab_ns",), ("direction/contradicted", "decision/contradicted")),
    Case(
        "ns_significant", "We saw a significant improvement in conversion.", ("ab_ns",), ("significance/contradicted",)
    ),
    Case(
        "ns_dont_ship",
        "Don't ship it yet: the test is inconclusive. Keep it running until the planned sample.",
        ("ab_ns",),
        (),
    ),
    Case("ns_no_effect", "There is no significant effect on conversion.", ("ab_ns",), ()),
    Case("ns_not_up", "Conversion did not go up in any way we can detect.", ("ab_ns",), ()),
    Case("ns_caused", "The redesign led to more checkouts.", ("ab_ns",), ("causation/contradicted",)),
    Case(
        "checkout_rows",
        "Conversion is up 4.35% relative but the 95% CI runs from -6.23% to +16.12%, so it could be noise. Revenue, "
        "on the other hand, rose significantly: +6.4%.",
        ("ab_checkout",),
        (),
    ),
    Case(
        "checkout_rows_wrong",
        "Both conversion and revenue increased significantly.",
        ("ab_checkout",),
        ("significance/contradicted",),
    ),
    # --- guardrails --------------------------------------------------------------------------------------------------
    Case(
        "guard_correct",
        "Conversion rose 10%, but the refunds guardrail was breached (+30%), so the decision is don't ship.",
        ("ab_guard",),
        (),
    ),
    Case(
        "guard_missed",
        "Conversion went up and no guardrail got worse, so ship it.",
        ("ab_guard",),
        ("null/contradicted", "decision/contradicted"),
    ),
    Case("guard_refunds_fell", "Refunds went down as well.", ("ab_guard",), ("direction/contradicted",)),
    Case("guard_hurt", "The change hurt refunds: they increased by 30%.", ("ab_guard",), ()),
    # --- several arms ------------------------------------------------------------------------------------------------
    Case(
        "arms_correct",
        "Variant B increased conversion by 12.5% and should ship; variant C showed no detectable change.",
        ("ab_arms",),
        (),
    ),
    Case("arms_c_up", "Variant C went up too.", ("ab_arms",), ("direction/contradicted",)),
    Case("arms_ship_c", "Ship variant C.", ("ab_arms",), ("decision/contradicted",)),
    Case("arms_both", "Both B and C lifted conversion significantly.", ("ab_arms",), ("significance/contradicted",)),
    # --- observational designs -------------------------------------------------------------------------------------
    Case(
        "did_correct",
        "The staggered rollout increased weekly orders by about 6.14 per region (95% CI +4.705 to +7.575); the "
        "pre-trend test passed.",
        ("did",),
        (),
    ),
    Case("did_down", "Weekly orders decreased after the launch.", ("did",), ("direction/contradicted",)),
    Case("did_null", "The rollout had no effect on weekly orders.", ("did",), ("null/contradicted",)),
    Case("did_neg_correct", "Sales fell by about 2 per week in the stores that got the change.", ("did_neg",), ()),
    Case("did_neg_up", "The change boosted sales.", ("did_neg",), ("direction/contradicted",)),
    Case(
        "synth_correct",
        "In market_07 the assistant raised orders per 1k users by about 3 per week compared with its synthetic "
        "control; the effect is significant (p = 2.5e-05).",
        ("synth",),
        (),
    ),
    Case("synth_null", "Orders per 1k users were unchanged after the launch.", ("synth",), ("null/contradicted",)),
    Case(
        "iv_correct",
        "For the compliers, using agent mode increased tasks completed by about 3 (the LATE), well below the naive "
        "gap of 7.31.",
        ("iv",),
        (),
    ),
    Case("iv_decrease", "Using agent mode reduced tasks completed.", ("iv",), ("direction/contradicted",)),
    Case("rdd_correct", "Seeing the paywall at the cutoff raised 30-day conversion by about 14 points.", ("rdd",), ()),
    Case("rdd_down", "The paywall lowered conversion at the cutoff.", ("rdd",), ("direction/contradicted",)),
    Case("propensity_caused", "Opting in caused task completion to go up by about 4 points.", ("propensity",), ()),
    # --- verdicts ----------------------------------------------------------------------------------------------------
    Case(
        "refute_robust",
        "The revenue estimate survived all four robustness checks, so it is robust.",
        ("ab_checkout", "refute_ab"),
        (),
    ),
    Case(
        "refute_failed_robust",
        "The estimate is robust: the checks back it.",
        ("refute_failed",),
        ("verdict/contradicted",),
    ),
    Case(
        "refute_failed_correct",
        "The estimate failed the sample-ratio check, so don't base the decision on it.",
        ("refute_failed",),
        (),
    ),
    Case("aa_trustworthy", "The A/A test shows your analysis is trustworthy.", ("aa",), ("verdict/contradicted",)),
    Case(
        "aa_correct",
        "The A/A check says investigate: 8.5% of random splits came out significant, far above the 5% alpha, because "
        "sessions of one user are not independent.",
        ("aa",),
        (),
    ),
    # --- words that are no claims ----------------------------------------------------------------------------------
    Case("question", "Did conversion go up? Let me run the test to find out.", (), ()),
    Case("definition", "A statistically significant result means the 95% CI excludes zero.", (), ()),
    Case("prereg", "H1: the new checkout will increase conversion. We expect a lift of about 5%.", ("power",), ()),
    Case("whether", "The test will tell us whether the change caused any increase.", ("power",), ()),
    Case(
        "plan_conditional",
        "If the effect is significant and guardrails hold, we ship; otherwise we roll back.",
        ("power",),
        (),
    ),
    Case("reported", "Your hypothesis is that the redesign increased conversion; the test can check that.", (), ()),
    Case(
        "tool_error", "The analysis failed: there is no column 'variant'. Which column holds the arm?", ("error",), ()
    ),
    Case(
        "error_then_claim",
        "Even though the tool failed, conversion clearly went up.",
        ("error",),
        ("direction/unsupported",),
    ),
    # --- longer answers, as chat models write them --------------------------------------------------------------
    Case(
        "guided_inconclusive_quoted",
        "Decision: inconclusive. 'converted' in treatment vs control: +4.35% relative (95% CI -6.23% to +16.12%), "
        "p = 0.435. SRM check passed (p = 0.307).",
        ("ab_checkout",),
        (),
    ),
    Case(
        "gpt_long_inconclusive",
        "Here's what the experiment shows:\n\n1. **Conversion**: treatment converted at a slightly higher rate "
        "(+4.35% relative), but the 95% confidence interval (-6.23% to +16.12%) includes zero, so this is not "
        "statistically significant.\n2. **Revenue**: revenue per user increased by 6.4%, and this difference is "
        "significant.\n\nBottom line: the redesign seems to lift revenue, but we can't yet say it moves "
        "conversion. I'd keep the experiment running before making a call on conversion.",
        ("ab_checkout",),
        (),
    ),
    Case(
        "gpt_long_overclaim",
        "Great news! The analysis confirms that the new checkout significantly increased conversion (+4.35%). "
        "Revenue also went up. I recommend rolling it out to all users.",
        ("ab_checkout",),
        ("causation/contradicted", "significance/contradicted", "decision/contradicted"),
    ),
    Case(
        "small_model_ramble",
        "Based on the data, it looks like the redesign was a success. Conversion rates increased and users were "
        "happier. You should definitely launch it.",
        (),
        ("direction/unsupported", "decision/unsupported"),
    ),
    Case(
        "small_model_after_power",
        "I ran a power analysis. The result shows that the change will have a positive impact on conversion.",
        ("power",),
        ("direction/unsupported",),
    ),
    Case(
        "did_with_caveats",
        "Using Callaway-Sant'Anna, the rollout raised weekly orders by +6.14 on average (95% CI +4.705 to +7.575). "
        "The pre-trend test passed (p = 0.227), so parallel trends look plausible, though they can never be proven.",
        ("did",),
        (),
    ),
    Case(
        "refute_fragile_overclaim",
        "The robustness checks all passed, so the estimate is trustworthy and you can ship with confidence.",
        ("refute_failed",),
        ("verdict/contradicted",),
    ),
    Case(
        "guardrail_summary_correct",
        "Primary metric: conversion improved significantly (+10%). Guardrail: refunds rose by 30%, a breach, which "
        "is why the tool says don't ship.",
        ("ab_guard",),
        (),
    ),
    Case(
        "arms_summary_wrong",
        "Both treatment arms beat control, and variant C performed best.",
        ("ab_arms",),
        ("direction/contradicted",),
    ),
    # --- held out: written after the checker, before any change to it (18 of 20 judged right then) ---------------
    Case(
        "held_significant_level",
        "The test shows a lift of 10% in conversion, which is statistically significant at the 5% level.",
        ("ab_pos",),
    ),
    Case("held_rates", "Conversion in the treatment group was 11.0% versus 10.0% in control.", ("ab_pos",)),
    Case("held_success", "The experiment was a success and conversion rose.", (), ("direction/unsupported",)),
    Case(
        "held_not_improve",
        "Unfortunately, the new design did not improve conversion; it actually decreased it by 10%.",
        ("ab_neg",),
    ),
    Case("held_trend", "There's a positive trend, but it's not significant yet.", ("ab_ns",)),
    Case("held_rose_significantly", "Conversion rose significantly.", ("ab_ns",), ("significance/contradicted",)),
    Case("held_drove_revenue", "We can conclude that the redesign drove the increase in revenue.", ("ab_checkout",)),
    Case("held_revenue_down", "Revenue went down by 6%.", ("ab_checkout",), ("direction/contradicted",)),
    Case(
        "held_rdd_null", "The paywall had no significant effect on 30-day conversion.", ("rdd",), ("null/contradicted",)
    ),
    Case(
        "held_synth",
        "Orders per 1k users increased by about 3 in market_07, and the in-space placebo test supports it.",
        ("synth",),
    ),
    Case("held_sales_up", "Sales increased after the change.", ("did_neg",), ("direction/contradicted",)),
    Case("held_aa", "The A/A test flagged a problem, so investigate before trusting any result.", ("aa",)),
    Case("held_roll_back", "Roll back the change: it hurt conversion.", ("ab_neg",)),
    Case(
        "held_roll_back_wrong",
        "Roll back the change: it hurt conversion.",
        ("ab_pos",),
        ("decision/contradicted", "direction/contradicted"),
    ),
    Case("held_robust_to", "The effect is robust to the placebo and bootstrap checks.", ("refute_ab",)),
    Case(
        "held_p_only", "Yes — the results are statistically significant, p < 0.05.", (), ("significance/unsupported",)
    ),
    Case(
        "held_typically",
        "Good question! Without the data I can't know, but typically such redesigns increase conversion by 2-5%.",
        (),
    ),
    Case(
        "held_excludes_zero",
        "Since the CI excludes zero, the effect is real.",
        ("ab_ns",),
        ("significance/contradicted",),
    ),
    Case("held_works", "The data clearly show that the new checkout works.", (), ("direction/unsupported",)),
    Case("held_flat", "Conversion is flat.", ("ab_pos",), ("null/contradicted",)),
    Case(
        "mixed_hedge",
        "Conversion might have gone up, but without running the test we can't say whether the change caused it.",
        (),
        (),
    ),
)
