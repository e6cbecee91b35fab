"""Six users' own files, from the first question to a pre-registration (issue 18's "done when").

Each journey is a public research data set nobody here wrote (``tests/public_data.py``: the causaldata package's
sets, written as the CSV a user would export) and the answers such a user would type, keyed by the question the
guided mode waits at — natural words only: no ``/run`` JSON, no ``role=column`` syntax. After the analysis the user
says "pre-register" and answers the plan's open items in words (:data:`ITEM_ANSWERS`, keyed by the item asked).
``tests/assistant/agent/test_own_data_journeys.py`` drives them through the conversation engine and
``tests/assistant/test_app_own_data.py`` through the app with the Pilot; both check the published answer and a
pre-registration with no item left missing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from assistant.agent.guided_state import Step

__all__ = ["END", "ITEM_ANSWERS", "JOURNEYS", "Journey", "answer_for"]

END = "end"  # answers typed after the interview ended

#: Answers to the slots whose wording does not matter for the design.
COMMON: dict[Any, str] = {
    Step.WHY_INTERVENTION: "we need to know whether it actually changed the outcome before doing more of it",
    Step.POPULATION: "everyone in the data we have",
    Step.COUNTERFACTUAL: "the same kind of units without it",
    Step.DECISION: "keep and extend it if the effect is clearly positive, drop it otherwise",
    Step.WHY_DECISION: "a clearly negative or null effect would change our mind",
    Step.REFUTE_OFFER: "yes",
    Step.WHOM_OFFER: "no",
    Step.AA_OFFER: "no, go on to the sizing",
    Step.LOOKS: "no, one analysis at the end",
    END: "pre-register",
}

#: What a user answers to each open item of the plan, in words.
ITEM_ANSWERS: dict[str, str] = {
    "hypotheses": "We expect it to improve the primary metric; a two-sided test, since it could also hurt.",
    "exclusions": "None: every unit in the file is analysed.",
    "duration_stopping": "The data are already collected: one analysis at the end, no interim looks.",
    "quality_checks": "We check for duplicate units and for missing outcomes before the analysis.",
    "outliers_missing": "No capping; units with a missing outcome are left out and counted.",
    "guardrails": "None for this question.",
    "sample_size": "Everyone in the data, as collected.",
    "data_status": "The data were collected before this plan was written; we have not analysed them yet.",
}


def answer_for(item: str) -> str:
    """The user's answer to the plan's item ``item`` (a KeyError names an item no journey expected)."""
    return ITEM_ANSWERS[item]


@dataclass(frozen=True)
class Journey:
    """One user's file and answers, and what the analysis must find."""

    name: str
    answers: Mapping[Any, str | tuple[str, ...]]
    tool: str
    #: Checks on the analysis result (the published answer).
    check: Callable[[dict[str, Any]], None]
    #: Checks on the analysis request (the columns the user meant).
    request: Mapping[str, Any] = field(default_factory=dict)
    #: Checks on the follow-up's result (heterogeneity: for whom), when the user accepts it.
    follow_up: Callable[[dict[str, Any]], None] | None = None


def _nsw(result: dict[str, Any]) -> None:
    assert abs(result["effect"]["estimate"] - 1794.34) < 0.01  # the experimental benchmark
    assert result["srm"]["status"] == "pass"  # 185/260 was planned: not "broken"


def _nsw_for_whom(result: dict[str, Any]) -> None:
    # for whom: the doubly robust average over the same 445 people still covers the experimental benchmark
    assert result["effect"]["ci_lower"] < 1794.34 < result["effect"]["ci_upper"]
    assert result["randomized"] is True and result["treatment"] == "treat" and result["outcome"] == "re78"
    assert "re78" not in result["effect_modifiers"] and {"age", "educ", "re75"} <= set(result["effect_modifiers"])
    assert len(result["gates"]) == 5


def _thornton(result: dict[str, Any]) -> None:
    assert abs(result["comparisons"][0]["absolute"]["estimate"] - 0.4506) < 0.005  # 34% -> 79% learn their result
    assert result["arms"] == ["0", "1"]  # a 0/1 column with blanks (floats) reads as 0 and 1


def _castle(result: dict[str, Any]) -> None:
    assert abs(result["twfe"]["estimate"] - 0.0694) < 0.001  # Cheng & Hoekstra: about +7% homicides


def _organ(result: dict[str, Any]) -> None:
    # One state changed: synthetic DiD leads; its comparison's plain DiD is Kessler & Roth's about -2 points
    comparison = {point["estimator"]: point["estimate"] for point in result["comparison"]}
    assert abs(comparison["did"] - (-0.02246)) < 1e-4
    assert result["estimator"] == "synthetic_did" and result["n_treated_units"] == 1
    assert result["effect"]["ci_lower"] < -0.02246 < result["effect"]["ci_upper"]
    assert any("pre-periods" in warning for warning in result["warnings"])  # a short pre-period, said


def _lmb(result: dict[str, Any]) -> None:
    assert 15 < result["effect"]["estimate"] < 30 and result["effect"]["ci_lower"] > 0  # about +20 ADA points


def _transfers(result: dict[str, Any]) -> None:
    assert result["treatment_side"] == "below" and result["cutoff"] == 0
    assert abs(result["conventional"]["estimate"] - (-0.024702)) < 1e-5  # rdrobust at the same bandwidth, signed


JOURNEYS: dict[str, Journey] = {
    "nsw_mixtape": Journey(
        "nsw_mixtape",
        {
            **COMMON,
            Step.INTERVENTION: "the NSW job training programme for disadvantaged workers",
            Step.OUTCOME: "earnings in 1978 (re78)",
            Step.UNIT: "people",
            Step.CAN_RANDOMIZE: "yes, it was a randomised trial",
            Step.INTERFERENCE: "no",
            Step.METRIC_KIND: "an average, dollars per person",
            Step.BASELINE: "about 5000 dollars",
            Step.STD_DEV: "around 6000",
            Step.MDE: ("20%", "yes"),
            Step.DAILY_UNITS: "I don't know",
            Step.DATASET: "ok",
            Step.COLUMNS: "ok",
            Step.SPLIT: "yes, that was planned",
            Step.WHOM_OFFER: "yes, for whom did it work best?",
        },
        "ab_test",
        _nsw,
        {"arm_column": "treat"},
        _nsw_for_whom,
    ),
    "thornton_hiv": Journey(
        "thornton_hiv",
        {
            **COMMON,
            Step.INTERVENTION: "a small cash incentive to pick up one's HIV test result",
            Step.OUTCOME: "whether people got their HIV result (got)",
            Step.UNIT: "individuals",
            Step.CAN_RANDOMIZE: "yes",
            Step.INTERFERENCE: "no, not really",
            Step.METRIC_KIND: "a rate",
            Step.BASELINE: "35%",
            Step.MDE: ("10 percentage points", "yes"),
            Step.DAILY_UNITS: "skip",
            Step.DATASET: "ok",
            Step.COLUMNS: "ok",
            Step.SPLIT: "yes, it was planned that way: most people were offered an incentive",
        },
        "ab_test",
        _thornton,
        {"arm_column": "any"},
    ),
    "castle": Journey(
        "castle",
        {
            **COMMON,
            Step.INTERVENTION: "castle doctrine (stand your ground) laws",
            Step.OUTCOME: "homicides: l_homicide, the log homicide rate",
            Step.UNIT: "states",
            Step.CAN_RANDOMIZE: "no, states pass their own laws",
            Step.ASSIGNMENT: "states adopted it in different years",
            Step.HAS_PRE: "yes, every year from 2000",
            Step.DATASET: "ok",
            Step.COLUMNS: "ok",
        },
        "diff_in_diff",
        _castle,
        {"unit": "sid", "time": "year", "treatment": "post"},
    ),
    "organ_donations": Journey(
        "organ_donations",
        {
            **COMMON,
            Step.INTERVENTION: "California's active-choice question on organ donor registration",
            Step.OUTCOME: "the organ donor registration rate",
            Step.UNIT: "states",
            Step.CAN_RANDOMIZE: "no",
            Step.ASSIGNMENT: "only California changed, the other states did not",
            Step.HAS_PRE: "yes",
            Step.DATASET: "ok",
            Step.COLUMNS: ("only California changed, from 2011 Q3",),
        },
        "synthetic_control",
        _organ,
        {"unit": "State"},
    ),
    "close_elections_lmb": Journey(
        "close_elections_lmb",
        {
            **COMMON,
            Step.INTERVENTION: "a Democrat winning the House seat in the previous election",
            Step.OUTCOME: "the representative's ADA voting score",
            Step.UNIT: "congressional districts",
            Step.CAN_RANDOMIZE: "no",
            Step.ASSIGNMENT: "vote share above 50% decides who wins",
            Step.HAS_PRE: "no",
            Step.DATASET: "ok",
            Step.COLUMNS: "the running variable is lagdemvoteshare and the cutoff is 0.5",
        },
        "rdd",
        _lmb,
        {"running": "lagdemvoteshare", "cutoff": 0.5},
    ),
    "gov_transfers": Journey(
        "gov_transfers",
        {
            **COMMON,
            Step.INTERVENTION: "a cash transfer for households below an income cutoff",
            Step.OUTCOME: "support for the government",
            Step.UNIT: "households",
            Step.CAN_RANDOMIZE: "no",
            Step.ASSIGNMENT: "households under the income threshold get it",
            Step.HAS_PRE: "no",
            Step.DATASET: "ok",
            Step.COLUMNS: "the cutoff is 0",
        },
        "rdd",
        _transfers,
        {"running": "Income_Centered", "treatment_side": "below"},
    ),
}
