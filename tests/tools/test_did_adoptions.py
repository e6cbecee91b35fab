"""diff_in_diff's third way to say who was treated when (issue 18): ``adoptions``, a list of {unit, first_period},
for a file with no treatment or cohort column (organ_donations: California changed its sign-up in 2011 Q3).

The numbers equal those of a hand-made 0/1 column, for every estimator and in every form of the period; unknown
units and periods are refused naming them and the closest values; the method says how treatment was defined; the
refutation battery runs on it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from tools.did.models import Adoption, DiffInDiffRequest, DiffInDiffResult
from tools.did.panel import adoption_indicator, period_codes
from tools.did.tool import diff_in_diff, headline
from tools.errors import ToolError
from tools.refute.models import RefuteRequest
from tools.refute.tool import refute

causaldata = pytest.importorskip("causaldata")

CALIFORNIA = [{"unit": "California", "first_period": "Q32011"}]


@pytest.fixture(scope="module")
def organ() -> pd.DataFrame:
    from causaldata import organ_donations  # type: ignore[import-untyped]

    frame: pd.DataFrame = organ_donations.load_pandas().data
    return frame


def with_treated(frame: pd.DataFrame) -> pd.DataFrame:
    """The column a user would otherwise add by hand: California from 2011 Q3 (Quarter_Num 4) on."""
    return frame.assign(Treated=((frame["State"] == "California") & (frame["Quarter_Num"] >= 4)).astype(int))


def did(frame: pd.DataFrame, **fields: Any) -> DiffInDiffResult:
    return diff_in_diff(
        DiffInDiffRequest.model_validate({"dataset": "organ", "outcome": "Rate", "unit": "State", **fields}), frame
    )


def refused(frame: pd.DataFrame, **fields: Any) -> ToolError:
    with pytest.raises(ToolError) as caught:
        did(frame, **fields)
    return caught.value


# -- the numbers equal the hand-made column's --------------------------------------------------------------------


@pytest.mark.parametrize("estimator", ["twfe", "event_study", "callaway_santanna", "auto"])
@pytest.mark.parametrize(
    ("time", "first"),
    [("Quarter", "Q32011"), ("Quarter", "2011Q3"), ("Quarter", "Q3 2011"), ("Quarter_Num", 4), ("Quarter_Num", "4")],
)
def test_item8_adoptions_equal_a_hand_made_treated_column(
    organ: pd.DataFrame, estimator: str, time: str, first: int | str
) -> None:
    by_hand = did(with_treated(organ), time=time, treatment="Treated", estimator=estimator)
    said = did(organ, time=time, adoptions=[{"unit": "California", "first_period": first}], estimator=estimator)
    same = by_hand.model_dump(exclude={"method"})
    assert said.model_dump(exclude={"method"}) == same
    if estimator == "twfe":
        assert said.effect.estimate == pytest.approx(-0.02246, abs=1e-4)  # Kessler & Roth's TWFE
    assert said.event_study == by_hand.event_study and said.pretrend == by_hand.pretrend
    request = DiffInDiffRequest.model_validate(
        {"dataset": "o", "outcome": "Rate", "unit": "State", "time": time, "estimator": estimator,
         "adoptions": [{"unit": "California", "first_period": first}]}
    )  # fmt: skip
    assert headline(request, organ) == said.effect.estimate


def test_item8_the_method_says_how_treatment_was_defined(organ: pd.DataFrame) -> None:
    said = did(organ, time="Quarter", adoptions=CALIFORNIA)
    assert "treated units given as adoptions: California from 2011Q3 (units not listed: never treated)" in said.method
    assert said.method.endswith("; periods: 'Quarter' read as quarters ('Q42010' = 2010Q4), in calendar order.")
    assert "adoptions" not in did(with_treated(organ), time="Quarter", treatment="Treated").method
    by_integer = did(organ, time="Quarter_Num", adoptions=[{"unit": "California", "first_period": 4}])
    assert "California from period 4 (units not listed" in by_integer.method


def test_item8_unit_names_match_regardless_of_case_and_staggered_adoptions_make_cohorts(organ: pd.DataFrame) -> None:
    said = did(
        organ,
        time="Quarter",
        adoptions=[{"unit": "california", "first_period": "2011-Q3"}, {"unit": "NEW YORK", "first_period": "Q12012"}],
    )
    assert said.estimator == "callaway_santanna"  # two adoption dates: staggered
    assert [(c.cohort, c.n_units) for c in said.cohorts] == [("2011Q3", 1), ("2012Q1", 1)]
    hand = organ.assign(
        cohort=organ["State"].map({"California": "Q32011", "New York": "Q12012"}).fillna("never"),
    )
    assert said.model_dump(exclude={"method"}) == did(hand, time="Quarter", cohort="cohort").model_dump(
        exclude={"method"}
    )


def test_item8_dates_read_any_period_form_and_a_date_between_periods_counts_from_the_next() -> None:
    months = pd.date_range("2024-01-01", periods=8, freq="MS")
    rng = np.random.default_rng(4)
    rows = [
        {"market": m, "month": d, "orders": 100 + i + rng.normal() + (5 if (m, d >= months[2]) == ("UK", True) else 0)}
        for m in ("UK", "France", "Spain", "Italy", "Germany")
        for i, d in enumerate(months)
    ]
    frame = pd.DataFrame(rows)
    frame["treated"] = (
        ((frame["market"] == "UK") & (frame["month"] >= "2024-03-01"))
        | ((frame["market"] == "France") & (frame["month"] >= "2024-05-01"))
    ).astype(int)

    def run(uk: str, france: str) -> DiffInDiffResult:
        return diff_in_diff(
            DiffInDiffRequest(
                dataset="d", outcome="orders", unit="market", time="month", estimator="twfe",
                adoptions=[Adoption(unit="UK", first_period=uk), Adoption(unit="France", first_period=france)],
            ),
            frame,
        )  # fmt: skip

    hand = diff_in_diff(
        DiffInDiffRequest(dataset="d", outcome="orders", unit="market", time="month", estimator="twfe",
                          treatment="treated"),
        frame,
    )  # fmt: skip
    for uk, france in (("2024-03", "2024-05"), ("2024-03-01", "May 2024"), ("2024-02-15", "2024-04-20")):
        said = run(uk, france)
        assert said.effect == hand.effect, (uk, france)
    between = run("2024-02-15", "2024-05")
    assert any("'UK' was first treated on 2024-02-15" in w and "from 2024-03-01 on" in w for w in between.warnings)


# -- refusals name what is wrong and the closest values ------------------------------------------------------------


def test_item8_unknown_units_are_refused_with_the_closest_values(organ: pd.DataFrame) -> None:
    error = refused(
        organ,
        time="Quarter",
        adoptions=[{"unit": "Califonia", "first_period": "Q32011"}, {"unit": "Texas", "first_period": "Q32011"}],
    )
    assert error.code == "unknown_adoption_unit"
    assert "no unit 'Califonia' (closest: 'California'" in error.message and "'Texas'" in error.message
    assert "'Alaska', 'Arizona', 'California'" in error.hint


def test_item8_unknown_periods_are_refused_with_the_closest_periods(organ: pd.DataFrame) -> None:
    later = refused(organ, time="Quarter", adoptions=[{"unit": "California", "first_period": "Q32013"}])
    assert later.code == "unknown_adoption_period"
    assert "'Q32013' given for 'California' is not in the time column 'Quarter'" in later.message
    assert "closest: 2011Q3, 2011Q4, 2012Q1" in later.message and "2010Q4 to 2012Q1" in later.hint
    wrong_kind = refused(organ, time="Quarter_Num", adoptions=CALIFORNIA)
    assert "holds integers (from 1 to 6)" in wrong_kind.message and "as an integer" in wrong_kind.hint
    gone = refused(organ, time="Quarter_Num", adoptions=[{"unit": "California", "first_period": 9}])
    assert "(closest: 4, 5, 6)" in gone.message


def test_item8_exactly_one_way_to_say_who_was_treated(organ: pd.DataFrame) -> None:
    both = refused(with_treated(organ), time="Quarter", treatment="Treated", adoptions=CALIFORNIA)
    assert both.code == "treatment_or_cohort" and "`treatment` and `adoptions` were both given" in both.message
    twice = refused(
        organ,
        time="Quarter",
        adoptions=[{"unit": "California", "first_period": "Q32011"}, {"unit": "california", "first_period": "Q42011"}],
    )
    assert twice.code == "duplicate_adoption"
    with pytest.raises(ValueError, match="at least 1 item"):
        DiffInDiffRequest(dataset="d", outcome="y", unit="u", time="t", adoptions=[])


def test_item8_numeric_unit_ids_are_written_as_the_user_writes_them() -> None:
    frame = pd.DataFrame({"store": np.repeat([101.0, 102.0, 103.0, 104.0], 4), "week": np.tile([1, 2, 3, 4], 4)})
    request = DiffInDiffRequest(
        dataset="d", outcome="sales", unit="store", time="week", estimator="twfe",
        adoptions=[Adoption(unit="102", first_period=3)],
    )  # fmt: skip
    assert adoption_indicator(request, frame).tolist() == [
        float(s == 102.0 and w >= 3) for s, w in zip(frame["store"], frame["week"], strict=True)
    ]


def test_item8_refute_period_codes_follow_the_calendar_not_the_spelling(organ: pd.DataFrame) -> None:
    codes = period_codes(organ, "Quarter")
    assert dict(zip(organ["Quarter"], codes, strict=True)) == {
        "Q42010": 0, "Q12011": 1, "Q22011": 2, "Q32011": 3, "Q42011": 4, "Q12012": 5,
    }  # fmt: skip


# -- the refutation battery passes the field through -------------------------------------------------------------


def test_item8_refute_runs_on_adoptions_with_the_numbers_of_the_hand_made_column(organ: pd.DataFrame) -> None:
    checks = ["pre_trends", "placebo_time", "leave_one_out", "placebo_treatment", "bootstrap"]

    def challenge(frame: pd.DataFrame, **fields: Any) -> Any:
        target = {"tool": "diff_in_diff", "request": {
            "dataset": "organ", "outcome": "Rate", "unit": "State", "time": "Quarter", "estimator": "twfe", **fields,
        }}  # fmt: skip
        return refute(RefuteRequest.model_validate({"target": target, "checks": checks, "simulations": 60}), frame)

    said = challenge(organ, adoptions=CALIFORNIA)
    by_hand = challenge(with_treated(organ), treatment="Treated")
    assert said.original == by_hand.original
    assert said.original.estimate == pytest.approx(-0.02246, abs=1e-4)
    assert [(c.name, c.verdict, c.estimate, c.p_value) for c in said.checks] == [
        (c.name, c.verdict, c.estimate, c.p_value) for c in by_hand.checks
    ]
    placebo = next(c for c in said.checks if c.name == "placebo_treatment")
    assert placebo.detail.startswith("60 placebo estimates")  # every refit ran (adoptions moved between states)
