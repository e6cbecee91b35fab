"""Who was treated when, said in words (issue 18, item 8): the guided mode's reading of "California from Q32011" and
"the UK from 2024-03 and France from 2024-05" into diff_in_diff's ``adoptions``, for data with no column saying it.

Units are matched against the unit column's values (case, abbreviations, closest values when not found); periods
in any form the tool reads are written in the time column's own form, through a column holding the same periods as
text when the time column is integers (organ_donations' Quarter beside Quarter_Num).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from assistant.agent.guided_adoptions import Adopted, AdoptionAnswer, read_adoptions
from tools.did.models import Adoption, DiffInDiffRequest
from tools.did.tool import diff_in_diff

STATES = ["Alaska", "Arizona", "California", "New York", "New Jersey", "Ohio"]
QUARTERS = ["Q42010", "Q12011", "Q22011", "Q32011", "Q42011", "Q12012"]


@pytest.fixture(scope="module")
def organ() -> pd.DataFrame:
    """organ_donations' layout: State, Quarter ('Q42010'), Rate, Quarter_Num (1..6)."""
    rng = np.random.default_rng(3)
    rows = [
        {"State": s, "Quarter": q, "Rate": 0.5 + rng.normal(0, 0.01), "Quarter_Num": i + 1}
        for s in STATES
        for i, q in enumerate(QUARTERS)
    ]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def launches() -> pd.DataFrame:
    """A product team's export: markets by month (ISO dates), no column saying where the feature launched."""
    months = pd.date_range("2024-01-01", periods=8, freq="MS")
    rng = np.random.default_rng(5)
    markets = ("UK", "France", "Spain", "Italy", "Germany", "Poland")
    rows = [{"market": m, "month": d, "orders": 100 + i + rng.normal()} for m in markets for i, d in enumerate(months)]
    return pd.DataFrame(rows)


def read(frame: pd.DataFrame, text: str, unit: str = "State", time: str = "Quarter_Num", asked: bool = True) -> Any:
    return read_adoptions(text, frame, unit, time, asked)


def adopted(answer: AdoptionAnswer | None) -> list[tuple[str, int | str]]:
    assert answer is not None and not answer.problems, answer
    return [(a.unit, a.first_period) for a in answer.adopted]


PHRASINGS = [
    "California from Q32011",
    "only California changed, from 2011 Q3",
    "CA in 2011Q3",
    "treated: California since Q3 2011",
    "California, starting in the third quarter of 2011",
    "california from 2011-Q3",
    "California: Q3 of 2011",
    "from 2011Q3 on, in California",
    "California (Q32011)",
    "only CALIFORNIA, since 2011q3; all other states never",
    "not Ohio, only California from Q3 2011",
    "Calif. from Q32011",
    "California from Quarter_Num 4",
    "California since period 4",
]


@pytest.mark.parametrize("text", PHRASINGS)
def test_item8_california_from_2011_q3_in_words_is_quarter_num_4(organ: pd.DataFrame, text: str) -> None:
    answer = read(organ, text)
    assert adopted(answer) == [("California", 4)]
    assert answer is not None and answer.facts["adoptions"] == {"treated": 1, "untreated": 5, "first_periods": [4]}


def test_item8_the_period_is_written_as_the_time_column_writes_it(organ: pd.DataFrame) -> None:
    assert adopted(read(organ, "California from 2011 Q3", time="Quarter")) == [("California", "Q32011")]
    answer = read(organ, "CA in 2011Q3")
    assert answer is not None
    assert answer.adopted[0].words("Quarter_Num") == "California from 2011Q3 (Quarter_Num 4)"
    assert Adopted("Florida", 2005, "2005").words("year") == "Florida from year 2005"


def test_item8_several_units_and_staggered_dates(organ: pd.DataFrame) -> None:
    answer = read(organ, "California and New York from Q32011, Ohio since Q1 2012")
    assert adopted(answer) == [("California", 4), ("New York", 4), ("Ohio", 6)]
    assert adopted(read(organ, "NY from Q42011 and NJ from Q12012")) == [("New York", 5), ("New Jersey", 6)]


def test_item8_the_uk_from_march_and_france_from_may_on_a_date_column(launches: pd.DataFrame) -> None:
    for text in (
        "the UK from 2024-03 and France from 2024-05",
        "we launched in the UK in March 2024 and in France in May 2024",
        "UK: 2024-03-01; France: 2024-05-01",
        "United Kingdom since Mar 2024, France since May 2024",
    ):
        answer = read(launches, text, unit="market", time="month")
        assert adopted(answer) == [("UK", "2024-03-01"), ("France", "2024-05-01")], text
    months = launches.assign(month=launches["month"].dt.strftime("%Y-%m"))
    answer = read(months, "the UK from 2024-03 and France from May 2024", unit="market", time="month")
    assert adopted(answer) == [("UK", "2024-03"), ("France", "2024-05")]
    assert answer is not None
    request = DiffInDiffRequest(
        dataset="d", outcome="orders", unit="market", time="month", estimator="twfe",
        adoptions=[Adoption(unit=a.unit, first_period=a.first_period) for a in answer.adopted],
    )  # fmt: skip
    assert diff_in_diff(request, months).n_treated_units == 2


def test_item8_a_month_without_its_year_is_read_when_the_data_have_it_once(launches: pd.DataFrame) -> None:
    answer = read(launches, "we launched in the UK in March and in France in May", unit="market", time="month")
    assert adopted(answer) == [("UK", "2024-03-01"), ("France", "2024-05-01")]
    two_years = pd.concat([launches, launches.assign(month=launches["month"] + pd.DateOffset(years=1))])
    again = read(two_years, "the UK from March", unit="market", time="month")
    assert again is not None and again.problems == [
        "March of which year? In 'month', the data have March 2024, March 2025: say the year too."
    ]
    verb = read(launches, "we may launch it in the UK", unit="market", time="month")  # 'may', the verb
    assert verb is not None and verb.problems[0].startswith("From which period was UK treated?")


def test_item8_long_names_in_the_data_and_short_ones_said(launches: pd.DataFrame) -> None:
    named = launches.assign(market=launches["market"].replace({"UK": "United Kingdom"}))
    answer = read(named, "the UK from 2024-03", unit="market", time="month")
    assert adopted(answer) == [("United Kingdom", "2024-03-01")]


def test_item8_a_unit_not_in_the_data_is_named_with_the_closest_values(organ: pd.DataFrame) -> None:
    answer = read(organ, "Califonia from Q32011")
    assert answer is not None and not answer.adopted
    assert answer.problems == ["There is no 'Califonia' in 'State' (closest: California, Arizona)."]
    far = read(organ, "Texas from Q32011")
    assert far is not None and far.problems == ["There is no 'Texas' in 'State' (its values include Alaska, Arizona, "
                                               "California)."]  # fmt: skip


def test_item8_a_period_the_data_lack_or_cannot_map_is_said_plainly(organ: pd.DataFrame) -> None:
    later = read(organ, "California from 2013Q1")
    assert later is not None and later.problems == [
        "'2013Q1' is no period of 'Quarter_Num': 'Quarter_Num' holds integers (1 to 6), and 'Quarter' has no 2013Q1 "
        "(its periods run from 2010Q4 to 2012Q1). Say the first period as 'Quarter_Num' writes it."
    ]
    alone = organ.drop(columns="Quarter")
    unmapped = read(alone, "California from Q32011")
    assert unmapped is not None and "no other column says which of them 'Q32011' is" in unmapped.problems[0]
    assert unmapped.facts == {"time_range": {"low": 1, "high": 6}}


def test_item8_half_an_answer_is_asked_about_and_two_periods_for_one_unit_are_refused(organ: pd.DataFrame) -> None:
    no_period = read(organ, "California")
    assert no_period is not None and no_period.problems[0].startswith("From which period was California treated?")
    no_unit = read(organ, "from Q32011")
    assert no_unit is not None and no_unit.problems == ["Which units were treated from Q32011? Name them as 'State' "
                                                       "writes them."]  # fmt: skip
    twice = read(organ, "California from Q32011 and California from Q12012")
    assert twice is not None and twice.problems == [
        "California is given two first periods (2011Q3 and 2012Q1): which one is it?"
    ]


@pytest.mark.parametrize(
    "text", ["ok", "time is Quarter", "outcome=Rate; unit=State", "back", "use a different dataset", "the 2 of them"]
)
def test_item8_answers_about_other_things_are_not_read_as_adoptions(organ: pd.DataFrame, text: str) -> None:
    assert read(organ, text) is None
    assert read(organ, text, asked=False) is None


def test_item8_when_a_column_already_says_it_only_a_named_unit_and_period_change_it(organ: pd.DataFrame) -> None:
    assert read(organ, "California", asked=False) is None
    assert read(organ, "from Q32011", asked=False) is None
    assert adopted(read(organ, "California from Q32011", asked=False)) == [("California", 4)]


def test_item8_integer_years_need_a_word_before_a_bare_number() -> None:
    frame = pd.DataFrame(
        [{"state": s, "year": y, "y": 1.0} for s in ("Florida", "Texas", "Ohio") for y in range(2003, 2009)]
    )
    answer = read(frame, "the 2 states Florida from 2005 and Texas since 2007", unit="state", time="year")
    assert adopted(answer) == [("Florida", 2005), ("Texas", 2007)]


def test_item8_numeric_unit_ids_are_matched_as_written() -> None:
    frame = pd.DataFrame(
        [{"store": float(s), "week": f"2024-W{w:02d}", "sales": 1.0} for s in (101, 102, 103) for w in range(1, 7)]
    )
    assert adopted(read(frame, "store 102 from 2024-W03", unit="store", time="week")) == [("102", "2024-W03")]
