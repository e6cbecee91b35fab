"""The synthetic_control tool, as registered: a change that reached one or a few units (a market, a region, a
customer) at one date, with untreated units to blend into a counterfactual; or, with none, one series against its
own trend (the interrupted time series)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tools.did.spec import adoption_item
from tools.spec import Battery, Guide, ToolSpec
from tools.synth.models import SyntheticControlRequest, SyntheticControlResult

__all__ = ["SPEC"]


def guided_request(dataset: str, roles: Mapping[str, Any]) -> dict[str, Any]:
    """The synthetic_control request for the guided mode's roles: outcome, time, the unit (none: one series, run as
    an interrupted time series), and who got the change (a 0/1 column, or ``adoptions`` said in words)."""
    request: dict[str, Any] = {"dataset": dataset, "outcome": roles["outcome"], "time": roles["time"]}
    if roles.get("unit"):
        request["unit"] = roles["unit"]
    else:
        request["estimator"] = "interrupted_time_series"
    if roles.get("treatment"):
        request["treatment"] = roles["treatment"]
    else:
        request["adoptions"] = [adoption_item(item) for item in roles["adoptions"]]
    return request


SPEC = ToolSpec(
    name="synthetic_control",
    request=SyntheticControlRequest,
    result=SyntheticControlResult,
    implementation="tools.synth.tool:synthetic_control",
    designs=("synthetic_control", "interrupted_time_series"),
    mentions=(
        "synthetic_control",
        "synthetic control",
        "synthetic diff",
        "synthdid",
        "sdid",
        "donor",
        "interrupted time series",
        "interrupted_time_series",
        "one market",
        "one region",
        "one country",
        "one city",
        "one customer",
        "single market",
        "single region",
    ),
    guide=Guide(
        required=("outcome", "time"),
        optional=("unit", "treatment", "adoptions"),
        dataset_words=("market", "launch", "country", "city", "region", "series"),
        question="Which columns hold the outcome, the period, and the unit (market, region, customer), and which "
        "0/1 column is 1 in the treated unit's periods from the change on? (If no column says it, name the treated "
        "unit and its first treated period in words: 'UNIT from PERIOD'.)",
        build=guided_request,
        suggest=("time", "unit", "treatment"),
        one_of=(("treatment", "adoptions"),),
        values=("adoptions",),
        words={
            "unit": ("market", "region", "country", "city", "state", "store", "customer", "account", "unit"),
            "treatment": ("live", "launched", "treated", "treatment", "treat", "post", "policy", "active", "on"),
        },
        remedies={
            "adoptions": "No column of the data says which unit got the change and when. Tell me in words: the "
            "treated unit and its first treated period, such as '{example}' (units you do not name are the donors; "
            "several treated units must start together: 'A from P and B from P'). Or add a 0/1 column to the file, "
            "attach it again (/load in the app, --data for whyscope chat) and say 'use a different dataset'."
        },
    ),
    battery=Battery(
        auto=("placebo_time", "leave_one_out", "placebo_treatment"),
        more=("data_subset",),
        design="tools.refute.designs.synth:SyntheticControlDesign",
    ),
    plans=True,
)
