"""allocate_traffic's behaviour: the split and its floor, the direction, determinism, what the result says, its
summary's numbers, and one test per refusal (the tool's own codes, and the request bounds through the registry's
parser). Reference values (integrals, closed forms) are in ``test_allocate_reference.py``."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tools.allocate.models import AllocateTrafficRequest, AllocateTrafficResult
from tools.allocate.spec import SPEC
from tools.allocate.tool import GOAL_NOTE, allocate_traffic
from tools.errors import ToolError
from tools.registry import parse_request

RATES = [
    {"arm": "control", "successes": 120, "trials": 1000},
    {"arm": "b", "successes": 140, "trials": 1000},
    {"arm": "c", "successes": 131, "trials": 1000},
]


def run(arms: list[dict[str, Any]], **options: Any) -> AllocateTrafficResult:
    return allocate_traffic(AllocateTrafficRequest.model_validate({"arms": arms, **options}))


def test_without_a_floor_the_split_is_the_probability_of_being_best() -> None:
    result = run(RATES)
    assert [a.share for a in result.arms] == [a.probability_best for a in result.arms]
    assert sum(a.share for a in result.arms) == pytest.approx(1.0, abs=1e-12)
    assert result.best_arm == "b" == max(result.arms, key=lambda a: a.probability_best).arm
    assert result.metric == "binary" and result.model == "beta_bernoulli" and result.n_obs == 3000


def test_the_floor_holds_the_starved_arms_and_shares_the_rest_in_proportion() -> None:
    # 'low' and 'mid' are hopeless beside 'high' (P(best) < 1e-6 by the normal approximation): the floor binds both
    hopeless = [
        {"arm": "high", "successes": 300, "trials": 1000},
        {"arm": "low", "successes": 100, "trials": 1000},
        {"arm": "mid", "successes": 150, "trials": 1000},
    ]
    shares = [a.share for a in run(hopeless, min_share=0.1).arms]
    assert shares == pytest.approx([0.8, 0.1, 0.1], abs=1e-12)
    # one arm under the floor: it gets the floor, the two others share 0.9 in proportion to their P(best)
    result = run(RATES, min_share=0.1)
    control, b, c = result.arms
    assert control.probability_best < 0.1 and control.share == pytest.approx(0.1, abs=1e-12)
    assert b.share == pytest.approx(0.9 * b.probability_best / (b.probability_best + c.probability_best), rel=1e-12)
    assert c.share == pytest.approx(0.9 * c.probability_best / (b.probability_best + c.probability_best), rel=1e-12)


def test_same_seed_same_result_and_another_seed_other_draws() -> None:
    assert run(RATES, seed=3) == run(RATES, seed=3)
    assert run(RATES, seed=3).model_dump_json() == run(RATES, seed=3).model_dump_json()
    assert run(RATES, seed=3).arms[1].probability_best != run(RATES, seed=4).arms[1].probability_best


def test_decrease_makes_the_lowest_arm_the_best() -> None:
    churn = [{"arm": "a", "successes": 50, "trials": 1000}, {"arm": "b", "successes": 80, "trials": 1000}]
    up, down = run(churn), run(churn, direction="decrease")
    assert up.best_arm == "b" and down.best_arm == "a" and down.direction == "decrease"
    # two arms, continuous posteriors: P(a lowest) = P(a not highest) up to ties of probability 0
    assert down.arms[0].probability_best == pytest.approx(1 - up.arms[0].probability_best, abs=0.02)
    assert down.value_remaining_relative is not None  # relative to the leader's (positive) rate


def test_the_result_says_it_is_no_effect_estimate_and_how_to_reweight() -> None:
    result = run([{"arm": "a", "successes": 3, "trials": 20}, {"arm": "b", "successes": 5, "trials": 400}])
    text = " ".join(result.warnings).lower()
    assert "cannot be analysed as a fixed-split a/b test" in text and "reweight" in text
    assert "inverse-probability weighting" in text and "period" in text
    assert GOAL_NOTE in result.warnings and "ab_test" in GOAL_NOTE and "earn while learning" in GOAL_NOTE
    checks = {c.name: c.status for c in result.checks}
    assert checks == {"not_an_effect_estimate": "warn", "enough_data": "warn", "monte_carlo_error": "pass"}
    assert "'a'" in next(c.detail for c in result.checks if c.name == "enough_data")
    assert "credible" in result.summary and "reweighting" in result.summary
    assert type(result).figure is None


def test_few_draws_warn_about_monte_carlo_error() -> None:
    close = [{"arm": "a", "successes": 100, "trials": 1000}, {"arm": "b", "successes": 101, "trials": 1000}]
    assert {c.name: c.status for c in run(close, draws=1000).checks}["monte_carlo_error"] == "warn"


def test_averages_and_new_arms_run() -> None:
    result = run(
        [{"arm": "a", "mean": 10.0, "std_dev": 4.0, "n": 20}, {"arm": "b", "mean": 10.5, "std_dev": 5.0, "n": 300}],
        metric="continuous",
    )
    assert result.model == "normal" and result.arms[0].successes is None
    assert {c.name: c.status for c in result.checks}["enough_data"] == "warn"
    fresh = run([{"arm": "a", "successes": 0, "trials": 0}, {"arm": "b", "successes": 0, "trials": 0}])
    assert fresh.arms[0].probability_best == pytest.approx(0.5, abs=0.03)  # two flat priors


def test_extreme_counts_and_magnitudes_give_finite_numbers() -> None:
    huge = run([{"arm": "a", "successes": 5 * 10**11, "trials": 10**12}, {"arm": "b", "successes": 0, "trials": 0}])
    wide = run([{"arm": "a", "mean": 1e15, "std_dev": 1e15, "n": 2}, {"arm": "b", "mean": -1e15, "std_dev": 1e-9,
                "n": 10**12}])  # fmt: skip
    assert huge.arms[1].probability_best == pytest.approx(0.5, abs=0.03)  # a flat prior against a rate of 1/2
    assert wide.best_arm == "a" and wide.value_remaining_relative is None  # a's draws cross 0: no relative value


#: A number as the summary writes it: optional sign, digits, an optional percent sign.
NUMBER = re.compile(r"(?<![\w'])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?%?")


def _values(node: Any) -> list[float]:
    if isinstance(node, dict):
        return [v for value in node.values() for v in _values(value)]
    if isinstance(node, list):
        return [v for value in node for v in _values(value)]
    if isinstance(node, int | float) and not isinstance(node, bool):
        return [float(node)]
    return []


@pytest.mark.parametrize(
    "request_",
    [
        {"arms": RATES, "min_share": 0.05},
        {
            "arms": [
                {"arm": "x", "mean": 3.2, "std_dev": 1.1, "n": 900},
                {"arm": "y", "mean": 3.25, "std_dev": 1.2, "n": 880},
            ],
            "direction": "decrease",
            "alpha": 0.1,
        },
    ],
)
def test_every_number_in_the_summary_is_in_the_result(request_: dict[str, Any]) -> None:
    result = allocate_traffic(AllocateTrafficRequest.model_validate(request_))
    data = result.model_dump(mode="json")
    values = [*_values({k: v for k, v in data.items() if k != "summary"}), 1 - result.alpha]
    for text in NUMBER.findall(result.summary):
        number = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
        digits = len(text.rstrip("%").partition(".")[2])
        step = 10 ** -(digits + (2 if text.endswith("%") else 0))
        assert any(abs(v - number) <= step for v in values) or any(abs(v - number) <= 5e-4 * abs(v) for v in values), (
            f"{text} in the summary is in no field"
        )


# --- refusals ---------------------------------------------------------------------------------------------------


def _arms(*pairs: tuple[int | None, int | None]) -> list[dict[str, Any]]:
    return [{"arm": f"v{i}", "successes": s, "trials": t} for i, (s, t) in enumerate(pairs)]


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        ({"arms": [*_arms((1, 10), (2, 10)), {"arm": "v0", "successes": 3, "trials": 10}]}, "duplicate_arms"),
        ({"arms": [{"arm": "a", "successes": 1, "trials": 10}, {"arm": "b", "mean": 1.0, "std_dev": 1.0, "n": 9}]},
         "mixed_kinds"),
        ({"arms": [{"arm": "a", "successes": 1, "trials": 10, "mean": 0.1}, {"arm": "b", "successes": 1,
          "trials": 10}]}, "mixed_kinds"),
        ({"arms": _arms((1, 10), (2, 10)), "metric": "continuous"}, "metric_mismatch"),
        ({"arms": _arms((11, 10), (2, 10))}, "bad_counts"),
        ({"arms": _arms((1, None), (2, 10))}, "bad_counts"),
        ({"arms": [{"arm": "a"}, {"arm": "b", "successes": 2, "trials": 10}]}, "bad_counts"),
        ({"arms": [{"arm": "a", "mean": 1.0, "std_dev": 0.0, "n": 10}, {"arm": "b", "mean": 1.0, "std_dev": 1.0,
          "n": 9}]}, "bad_moments"),
        ({"arms": [{"arm": "a", "mean": 1.0, "std_dev": 1.0, "n": 1}, {"arm": "b", "mean": 1.0, "std_dev": 1.0,
          "n": 9}]}, "bad_moments"),
        ({"arms": [{"arm": "a", "mean": 1.0, "std_dev": 1.0}, {"arm": "b", "mean": 1.0, "std_dev": 1.0, "n": 9}]},
         "bad_moments"),
        ({"arms": _arms((1, 10), (2, 10), (3, 10)), "min_share": 0.4}, "min_share_out_of_range"),
    ],
)  # fmt: skip
def test_bad_input_is_a_tool_error_with_a_hint(request_: dict[str, Any], code: str) -> None:
    request = parse_request(SPEC, request_)
    assert isinstance(request, AllocateTrafficRequest)
    with pytest.raises(ToolError) as caught:
        allocate_traffic(request)
    assert caught.value.code == code and caught.value.message and caught.value.hint


@pytest.mark.parametrize(
    "request_",
    [
        {"arms": _arms((1, 10))},  # one arm
        {"arms": _arms((-1, 10), (2, 10))},  # negative successes
        {"arms": _arms((1, -10), (2, 10))},  # negative trials
        {"arms": [{"arm": "a", "mean": 1.0, "std_dev": -1.0, "n": 10}, {"arm": "b", "mean": 1.0, "std_dev": 1.0,
          "n": 9}]},  # negative standard deviation
        {"arms": _arms((1, 10), (2, 10)), "draws": 10**7},
        {"arms": _arms((1, 10), (2, 10)), "min_share": 0.5},
        {"arms": _arms((1, 10), (2, 10)), "metric": "ratio"},
    ],
)  # fmt: skip
def test_out_of_bounds_requests_are_refused_before_the_tool_runs(request_: dict[str, Any]) -> None:
    with pytest.raises(ToolError) as caught:
        parse_request(SPEC, request_)
    assert caught.value.code == "invalid_arguments" and caught.value.hint
