"""The guided mode on a user's OWN file (issue 18): six public research data sets nobody here wrote, attached as
CSV beside the bundled examples, driven with natural answers from scoping to the analysis — the published estimate
where it is known — and the corrections a user makes along the way ("treatment is treat", "control=0", "back",
"use a different dataset", "change covariates"), and what follows a flawed run.

Answers are given by the step the guided mode waits at (so the scoping questions may be reworded or reordered
without breaking these tests); a step the script has no answer for fails the test, naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from assistant.agent.conversation import Conversation, Done, Event, ToolFinished
from assistant.agent.guided import GuidedBackend
from assistant.agent.guided_state import Step
from assistant.launch import EXAMPLES, example_data
from tests.public_data import write_public
from tools.data import Catalog
from tools.did.models import DiffInDiffRequest
from tools.did.tool import diff_in_diff

pytest.importorskip("causaldata")

#: Answers every scoping run shares (the slots whose wording does not matter here).
COMMON: dict[Step, str] = {
    Step.WHY_INTERVENTION: "to know whether it changed the outcome",
    Step.POPULATION: "everyone in the data",
    Step.COUNTERFACTUAL: "the same units without it",
    Step.DECISION: "recommend it if the effect is clearly positive",
    Step.WHY_DECISION: "a clearly negative effect would change our mind",
    Step.AA_OFFER: "no",  # (the A/A check before sizing: see test_guided_aa.py)
    Step.WHOM_OFFER: "no",  # (the follow-up after an A/B test or an opt-in: see test_guided_followup.py)
}
END = "end"  # answers typed after the interview ended


@dataclass
class Session:
    backend: GuidedBackend
    conversation: Conversation
    events: list[Event] = field(default_factory=list)
    turns: list[tuple[Step | None, str, Done]] = field(default_factory=list)
    #: The step each turn left the guided mode waiting at.
    waits: list[Step | None] = field(default_factory=list)

    def send(self, answer: str) -> Done:
        step = self.backend.state.pending
        done = self.conversation.send(answer, self.events.append)
        self.turns.append((step, answer, done))
        self.waits.append(self.backend.state.pending)
        return done

    def finished(self, name: str) -> list[ToolFinished]:
        return [e for e in self.events if isinstance(e, ToolFinished) and e.name == name]

    def result(self, name: str) -> dict[str, Any]:
        runs = self.finished(name)
        assert runs, f"{name} never ran; the conversation:\n{self.transcript()}"
        assert runs[-1].error is None, f"{name} failed: {runs[-1].error}"
        assert runs[-1].result is not None
        return runs[-1].result

    def request(self, name: str) -> dict[str, Any]:
        import json

        started = [e for e in self.events if getattr(e, "name", None) == name and hasattr(e, "arguments")]
        assert started, f"{name} was never called"
        arguments = json.loads(started[-1].arguments)
        assert isinstance(arguments, dict)
        return arguments

    def asked(self, step: Step, which: int = 0) -> str:
        """The reply that asked the question of ``step`` (the first time; ``which=-1``: the last)."""
        found = [done.text for (_, _, done), wait in zip(self.turns, self.waits, strict=True) if wait is step]
        assert found, f"{step} was never asked; the conversation:\n{self.transcript()}"
        return found[which]

    def replies(self, step: Step | None) -> list[str]:
        """The replies to the answers given at ``step``, in order."""
        return [done.text for at, _, done in self.turns if at is step]

    @property
    def last(self) -> str:
        return self.turns[-1][2].text

    def transcript(self) -> str:
        return "\n".join(f">> [{step}] {answer}\n{done.text}" for step, answer, done in self.turns)


def attach(
    tmp_path: Path, name: str, *, examples: bool = True, edit: Callable[[pd.DataFrame], pd.DataFrame] | None = None
) -> Catalog:
    """A catalog as `whyscope --data FILE` (or `/load FILE` in the app) leaves it in the guided mode: the bundled
    examples, then the user's CSV export of the public data set (edited first as the user would, if ``edit``)."""
    catalog = Catalog()
    if examples:
        for example, file_name in EXAMPLES.items():
            path = example_data(file_name)
            assert path is not None
            catalog.add(path, example)
    path = write_public(name, tmp_path)
    if edit is not None:
        frame = edit(pd.read_csv(path))
        path = tmp_path / f"{name}_edited.csv"
        frame.to_csv(path, index=False)
        catalog.add(path, name)
    else:
        catalog.add(path)
    return catalog


def drive(catalog: Catalog, script: Mapping[Any, str | Sequence[str]], max_turns: int = 60) -> Session:
    """Answer what the guided mode asks, by the step it waits at, until the script has no answer left for it (a step
    the script does not name at all fails the test)."""
    backend = GuidedBackend(catalog=catalog)
    session = Session(backend, Conversation(backend, catalog=catalog))
    backend.opening()
    queues = {key: [value] if isinstance(value, str) else list(value) for key, value in script.items()}
    for _ in range(max_turns):
        step = backend.state.pending
        key: Any = END if step is None else step
        if key not in queues and step is None:
            break
        if key not in queues:
            pytest.fail(f"no answer scripted for step {step}; the conversation:\n{session.transcript()}")
        queue = queues[key]
        if not queue:  # the script ends here
            break
        session.send(queue.pop(0))
    flagged = [(c.text, c.reason) for _, _, done in session.turns for c in done.claims]
    assert all(done.unverified == () for _, _, done in session.turns) and not flagged, (flagged, session.transcript())
    return session


# -- the six public data sets, from scoping to the published answer ----------------------------------------------


def test_nsw_job_training_experiment_gets_the_experimental_benchmark(tmp_path: Path) -> None:
    """NSW (Dehejia-Wahba sample): 185 trained, 260 controls, randomised; earnings in 1978 up by about $1,794."""
    session = drive(
        attach(tmp_path, "nsw_mixtape"),
        {
            **COMMON,
            Step.INTERVENTION: "the NSW job training programme",
            Step.OUTCOME: "earnings in 1978 (re78)",
            Step.UNIT: "people",
            Step.CAN_RANDOMIZE: "yes",
            Step.INTERFERENCE: "no",
            Step.METRIC_KIND: "an average",
            Step.BASELINE: "5000",
            Step.STD_DEV: "6000",
            Step.MDE: ["20%", "yes"],
            Step.DAILY_UNITS: "skip",
            Step.LOOKS: "no",
            Step.DATASET: "ok",
            Step.COLUMNS: "ok",
            Step.SPLIT: "yes, that was planned",
            Step.REFUTE_OFFER: "no",
        },
    )
    assert "Reply 'ok' to use 'nsw_mixtape'" in session.asked(Step.DATASET)
    proposal = session.asked(Step.COLUMNS)
    assert "arm=treat; metric=re78; kind=continuous" in proposal
    assert "treat: 0/1, 185 of 445 are 1" in proposal
    request = session.request("ab_test")
    assert request["arm_column"] == "treat" and request["metrics"][0]["name"] == "re78"
    shares = {item["arm"]: item["share"] for item in request["expected_split"]}
    assert shares == pytest.approx({"0": 260 / 445, "1": 185 / 445})
    result = session.result("ab_test")
    assert result["effect"]["estimate"] == pytest.approx(1794.34, abs=0.01)
    assert result["srm"]["status"] == "pass"


def _thornton_script(columns: str | Sequence[str] = "ok", split: str | Sequence[str] = "no idea") -> dict[Any, Any]:
    return {
        **COMMON,
        Step.INTERVENTION: "a cash incentive to learn one's HIV test result",
        Step.OUTCOME: "whether people got their HIV result (got)",
        Step.UNIT: "people",
        Step.CAN_RANDOMIZE: "yes",
        Step.INTERFERENCE: "no",
        Step.METRIC_KIND: "a rate",
        Step.BASELINE: "35%",
        Step.MDE: ["10%", "yes"],
        Step.DAILY_UNITS: "skip",
        Step.LOOKS: "no",
        Step.DATASET: "ok",
        Step.COLUMNS: columns,
        Step.SPLIT: split,
        Step.REFUTE_OFFER: "no",
    }


def test_thornton_incentive_raises_learning_hiv_results_by_about_45_points(tmp_path: Path) -> None:
    """Thornton (2008): any incentive -> 79% learn their result against 34% without (blanks: floats 0.0/1.0)."""
    session = drive(attach(tmp_path, "thornton_hiv"), _thornton_script())
    proposal = session.asked(Step.COLUMNS)
    assert "arm=any; metric=got; kind=binary" in proposal
    assert "any: 0/1, 2,222 of 2,901 are 1, 1,919 blank" in proposal
    assert "The arms have 679 units (any = 0) and 2,222 units (any = 1)" in session.asked(Step.SPLIT)
    assert "expected_split" not in session.request("ab_test")  # "no idea": the check assumes equal arms, and says so
    assert any("assumes the arms were meant to be equal" in done.text for _, _, done in session.turns) or (
        "assumes the arms were meant to be equal" in _assistant_text(session)
    )
    result = session.result("ab_test")
    comparison = result["comparisons"][0]
    assert comparison["absolute"]["estimate"] == pytest.approx(0.4506, abs=0.005)


def _assistant_text(session: Session) -> str:
    return "\n".join(str(m.get("content") or "") for m in session.conversation.messages if m.get("role") == "assistant")


def test_castle_doctrine_rollout_runs_a_staggered_did_on_state_and_year(tmp_path: Path) -> None:
    """Cheng & Hoekstra (2013): castle-doctrine laws adopted 2005-2009; TWFE +0.069 on log homicides (about +7%)."""
    session = drive(
        attach(tmp_path, "castle"),
        {
            **COMMON,
            Step.INTERVENTION: "castle doctrine (stand your ground) laws",
            Step.OUTCOME: "homicides: l_homicide, the log homicide rate",
            Step.UNIT: "states",
            Step.CAN_RANDOMIZE: "no",
            Step.ASSIGNMENT: "states adopted it in different years",
            Step.HAS_PRE: "yes",
            Step.DATASET: "ok",
            Step.COLUMNS: "ok",
            Step.REFUTE_OFFER: "no",
            END: "thanks",
        },
    )
    proposal = session.asked(Step.COLUMNS)
    assert "outcome=l_homicide; unit=sid; time=year; treatment=post" in proposal
    assert "sid: 50 units, one row per sid and year" in proposal and "year: 11 periods, from 2000 to 2010" in proposal
    assert "post: 0/1, 74 of 550 are 1 (turns on in 21 units and stays on)" in proposal
    assert "… (139 columns)" in proposal  # a wide file: the columns are not all listed
    result = session.result("diff_in_diff")
    assert result["estimator"] == "callaway_santanna"
    assert result["twfe"]["estimate"] == pytest.approx(0.0694, abs=0.001)
    # the pre-trend test fails: the end offers what can be done instead of "the scoping is complete"
    assert "The analysis ran, but its own checks failed: parallel_trends" in session.last
    assert "scoping is complete" not in session.last and "'use a different dataset'" in session.last


def _with_treated(frame: pd.DataFrame) -> pd.DataFrame:
    """The column a user would otherwise have to add by hand: California from 2011 Q3 (Quarter_Num 4) on."""
    return frame.assign(Treated=((frame["State"] == "California") & (frame["Quarter_Num"] >= 4)).astype(int))


#: Who was treated when, in the words people use; the file itself is left as it is (no column added).
ORGAN_TREATED = [
    "California from Q32011",
    "only California changed, from 2011 Q3",
    "CA in 2011Q3",
    "treated: California since Q3 2011",
    "California, from the third quarter of 2011",
]
ORGAN: dict[Any, Any] = {
    **COMMON,
    Step.INTERVENTION: "California's active-choice organ donor question from 2011 Q3",
    Step.OUTCOME: "the organ donor registration rate",
    Step.UNIT: "states",
    Step.CAN_RANDOMIZE: "no",
    Step.ASSIGNMENT: "group by group over time",
    Step.HAS_PRE: "yes",
    Step.DATASET: "ok",
    Step.COLUMNS: ["ok", ORGAN_TREATED[0]],
    Step.REFUTE_OFFER: "no",
}


def test_item8_organ_donations_proposes_quarter_num_and_asks_who_was_treated_when(tmp_path: Path) -> None:
    session = drive(attach(tmp_path, "organ_donations"), {**ORGAN, Step.COLUMNS: ["ok"]})
    proposal = session.asked(Step.COLUMNS)
    assert "outcome=Rate; unit=State; time=Quarter_Num." in proposal  # not the "Q42010" strings
    assert "State: 27 units, one row per State and Quarter_Num" in proposal
    assert "Still needed: cohort or treatment (or who was treated when, in words)" in session.last
    assert "No column of the data says which units were treated when. Tell me in words" in session.last
    assert "such as 'Alaska from Q32011'" in session.last  # a unit and a period of the data, as people say them
    assert not session.finished("diff_in_diff")


def _organ_reference(tmp_path: Path) -> dict[str, Any]:
    """The estimate with a hand-made Treated column (what the user had to add before): the number to match."""
    frame = _with_treated(pd.read_csv(write_public("organ_donations", tmp_path)))
    request = DiffInDiffRequest(dataset="o", outcome="Rate", unit="State", time="Quarter_Num", treatment="Treated")
    return diff_in_diff(request, frame).effect.model_dump(mode="json")


@pytest.mark.parametrize("said", ORGAN_TREATED)
def test_item8_organ_donations_said_in_words_finds_kessler_and_roth_drop(tmp_path: Path, said: str) -> None:
    """Kessler & Roth (2014): California's change lowered registrations by about 2 points (TWFE -0.0225), on the
    raw file: the user says who was treated when instead of editing it. One treated state, so the tool says its
    inference cannot be trusted and the guided mode does not call it complete."""
    session = drive(attach(tmp_path, "organ_donations"), {**ORGAN, Step.COLUMNS: ["ok", said], END: "thanks"})
    request = session.request("diff_in_diff")
    assert request["adoptions"] == [{"unit": "California", "first_period": 4}] and "treatment" not in request
    said_back = "Treated: California from 2011Q3 (Quarter_Num 4); the other 26 units of 'State' count as never treated."
    assert said_back in _assistant_text(session)
    result = session.result("diff_in_diff")
    assert result["effect"] == _organ_reference(tmp_path)
    assert result["effect"]["estimate"] == pytest.approx(-0.02246, abs=1e-4)
    assert "treated units given as adoptions: California from period 4" in result["method"]
    assert "clusters" in session.last and "scoping is complete" not in session.last


def test_item8_a_unit_not_in_the_file_is_asked_again_with_the_closest_names(tmp_path: Path) -> None:
    session = drive(
        attach(tmp_path, "organ_donations", examples=False),
        {**ORGAN, Step.COLUMNS: ["ok", "Califonia from Q32011", "California from 2013Q1", "CA in 2011Q3"]},
    )
    first, second, third = session.replies(Step.COLUMNS)[1:]
    assert first.startswith("There is no 'Califonia' in 'State' (closest: California, Arizona).")
    assert second.startswith("'2013Q1' is no period of 'Quarter_Num'") and "2010Q4 to 2012Q1" in second
    assert session.request("diff_in_diff")["adoptions"] == [{"unit": "California", "first_period": 4}]
    assert len(session.finished("diff_in_diff")) == 1 and third


def test_item8_who_was_treated_when_can_be_changed_after_the_run(tmp_path: Path) -> None:
    session = drive(
        attach(tmp_path, "organ_donations", examples=False),
        {**ORGAN, Step.REFUTE_OFFER: ["no", "no"], END: ["thanks", "no: California from Q42011"]},
    )
    first, second = session.finished("diff_in_diff")
    assert first.result is not None and second.result is not None
    assert session.request("diff_in_diff")["adoptions"] == [{"unit": "California", "first_period": 5}]
    assert [c["cohort"] for c in second.result["cohorts"]] == [5]


LAUNCH: dict[Any, Any] = {
    **COMMON,
    Step.INTERVENTION: "the new one-page checkout",
    Step.OUTCOME: "orders per market and month",
    Step.UNIT: "markets",
    Step.CAN_RANDOMIZE: "no",
    Step.ASSIGNMENT: "we launched it market by market",
    Step.HAS_PRE: "yes",
    Step.DATASET: "ok",
    Step.COLUMNS: "ok",
    Step.REFUTE_OFFER: "no",
}


@pytest.mark.parametrize(
    "said", ["we launched in the UK in March and in France in May", "the UK from 2024-03 and France from 2024-05"]
)
def test_item8_a_product_teams_launch_dates_said_in_words_run_the_did(tmp_path: Path, said: str) -> None:
    """A product team: "we launched in the UK in March and in France in May", and no column says so. The dates
    become adoptions on the month column (ISO dates), with the numbers of a hand-made treated column."""
    months = pd.date_range("2024-01-01", periods=8, freq="MS")
    rng = np.random.default_rng(11)
    markets = ("UK", "France", "Spain", "Italy", "Germany", "Poland", "Sweden", "Austria")
    frame = pd.DataFrame(
        [
            {"market": m, "month": d.date().isoformat(), "orders": 500 + 3 * i + rng.normal(0, 4)}
            for m in markets
            for i, d in enumerate(months)
        ]
    )
    launched = {"UK": "2024-03-01", "France": "2024-05-01"}
    frame.loc[frame["market"].map(launched).fillna("9999") <= frame["month"], "orders"] += 20
    path = tmp_path / "market_orders.csv"
    frame.to_csv(path, index=False)
    catalog = Catalog()
    catalog.add(path)
    session = drive(catalog, {**LAUNCH, Step.COLUMNS: ["ok", said], END: "thanks"})
    assert "unit=market; time=month" in session.asked(Step.COLUMNS)
    request = session.request("diff_in_diff")
    assert request["adoptions"] == [
        {"unit": "UK", "first_period": "2024-03-01"},
        {"unit": "France", "first_period": "2024-05-01"},
    ]
    hand = frame.assign(treated=(frame["market"].map(launched).fillna("9999") <= frame["month"]).astype(int))
    reference = diff_in_diff(
        DiffInDiffRequest(dataset="m", outcome="orders", unit="market", time="month", treatment="treated"), hand
    )
    result = session.result("diff_in_diff")
    assert result["estimator"] == reference.estimator == "callaway_santanna"  # two launch dates: staggered
    assert result["effect"] == reference.effect.model_dump(mode="json")


def _lmb_script(columns: str | Sequence[str]) -> dict[Any, Any]:
    return {
        **COMMON,
        Step.INTERVENTION: "a Democrat winning the House seat in the previous election",
        Step.OUTCOME: "the representative's ADA voting score",
        Step.UNIT: "congressional districts",
        Step.CAN_RANDOMIZE: "no",
        Step.ASSIGNMENT: "by a score cutoff",
        Step.HAS_PRE: "no",
        Step.DATASET: "ok",
        Step.COLUMNS: columns,
        Step.REFUTE_OFFER: "no",
    }


def test_close_elections_rd_on_the_lagged_vote_share_at_one_half(tmp_path: Path) -> None:
    """Lee, Moretti & Butler (2004): a Democratic win raises the next ADA score by about 20 points."""
    session = drive(
        attach(tmp_path, "close_elections_lmb"),
        {
            **_lmb_script("the running variable is lagdemvoteshare; the cutoff is 0.5"),
            Step.DATASET: "use close_elections_lmb.csv",
        },
    )
    assert "outcome=score; running=demvoteshare" in session.asked(Step.COLUMNS)
    request = session.request("rdd")
    assert (request["outcome"], request["running"], request["cutoff"]) == ("score", "lagdemvoteshare", 0.5)
    result = session.result("rdd")
    assert 15 < result["effect"]["estimate"] < 30 and result["effect"]["ci_lower"] > 0


def test_gov_transfers_rd_below_the_income_cutoff_from_the_briefs_words(tmp_path: Path) -> None:
    """Manacorda, Miguel & Vigorito (2011): households below the income cutoff get the transfer; the brief says
    "below", so the treated side is proposed as below, and take-up can be added after the run."""
    script: dict[Any, Any] = {
        **COMMON,
        Step.INTERVENTION: "a cash transfer programme for households below an income cutoff",
        Step.OUTCOME: "support for the government",
        Step.UNIT: "households",
        Step.CAN_RANDOMIZE: "no",
        Step.ASSIGNMENT: "by a score cutoff",
        Step.HAS_PRE: "no",
        Step.DATASET: "ok",
        Step.COLUMNS: "cutoff is 0",
        Step.REFUTE_OFFER: ["no", "no"],
        END: ["fuzzy=Participation"],
    }
    session = drive(attach(tmp_path, "gov_transfers"), script)
    proposal = session.asked(Step.COLUMNS)
    assert "outcome=Support; running=Income_Centered; side=below. Still needed: cutoff." in proposal
    first = session.finished("rdd")[0]
    assert first.error is None and first.result is not None
    assert first.result["cutoff"] == 0 and first.result["treatment_side"] == "below"
    assert session.request("rdd")["fuzzy"] == "Participation"  # changed after the end: the analysis ran again
    assert len(session.finished("rdd")) == 2


# -- item 1: the planned split ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "shares"),
    [
        ("50/50", {"0": 0.5, "1": 0.5}),
        ("it was meant to be even", {"0": 0.5, "1": 0.5}),
        ("yes, 40/60", {"0": 0.4, "1": 0.6}),
        ("planned", {"0": 679 / 2901, "1": 2222 / 2901}),
        ("no idea", None),
    ],
)
def test_item1_the_planned_split_is_asked_and_sent_as_the_user_said(
    tmp_path: Path, answer: str, shares: dict[str, float] | None
) -> None:
    session = drive(attach(tmp_path, "thornton_hiv", examples=False), _thornton_script(split=answer))
    request = session.request("ab_test")
    if shares is None:
        assert "expected_split" not in request
    else:
        assert {i["arm"]: i["share"] for i in request["expected_split"]} == pytest.approx(shares)


def test_item1_an_unclear_split_answer_is_asked_again(tmp_path: Path) -> None:
    session = drive(attach(tmp_path, "thornton_hiv", examples=False), _thornton_script(split=["no", "50/50"]))
    replies = session.replies(Step.SPLIT)
    assert replies[0].startswith("I did not catch the planned split.")
    assert session.request("ab_test")["expected_split"]


# -- item 2: a float 0/1 arm and control=0 ---------------------------------------------------------------------


def test_item2_control_is_read_as_a_role_and_sent_as_typed(tmp_path: Path) -> None:
    session = drive(
        attach(tmp_path, "thornton_hiv", examples=False), _thornton_script(columns="control=0", split="no idea")
    )
    assert "could not read" not in session.replies(Step.COLUMNS)[0]
    request = session.request("ab_test")
    assert request["control"] == "0" and request["arm_column"] == "any"
    assert session.result("ab_test")["arms"][0] in ("0", "0.0")


# -- item 8: proposals from the data, the user's file first, and changes at any time --------------------------


def test_item8_nsw_propensity_never_proposes_treatment_or_outcome_as_covariates(tmp_path: Path) -> None:
    session = drive(
        attach(tmp_path, "nsw_mixtape"),
        {
            **COMMON,
            Step.INTERVENTION: "the NSW job training programme",
            Step.OUTCOME: "re78, earnings in 1978",
            Step.UNIT: "people",
            Step.CAN_RANDOMIZE: "no",
            Step.ASSIGNMENT: "people chose to join the programme",
            Step.HAS_PRE: "yes",
            Step.DATASET: "ok",
            Step.COLUMNS: "treatment is treat; covariates=age, educ, black, hisp",
            Step.REFUTE_OFFER: ["no", "no"],
            END: "add re74, re75",
        },
    )
    proposal = session.asked(Step.COLUMNS)
    covariates = proposal.split("covariates=")[1].split(".")[0]
    assert "treat" not in covariates.split(", ") and "re78" not in covariates and "data_id" not in covariates
    first, second = (run.result for run in session.finished("propensity"))
    assert first is not None and second is not None
    assert first["treatment"] == "treat" and first["outcome"] == "re78"
    assert first["covariates"] == ["age", "educ", "black", "hisp"]
    assert second["covariates"] == ["age", "educ", "black", "hisp", "re74", "re75"]  # added after the run


def test_item8_the_users_file_is_proposed_before_the_bundled_examples(tmp_path: Path) -> None:
    session = drive(attach(tmp_path, "close_elections_lmb"), {**_lmb_script("ok"), Step.DATASET: []})
    question = session.last
    assert "Reply 'ok' to use 'close_elections_lmb'" in question
    assert "Your data: close_elections_lmb (bundled examples: checkout" in question


def test_item8_two_own_files_and_no_name_fit_ask_instead_of_picking_an_example(tmp_path: Path) -> None:
    catalog = attach(tmp_path, "close_elections_lmb")
    catalog.add(write_public("gov_transfers", tmp_path))
    session = drive(catalog, {**_lmb_script("ok"), Step.DATASET: []})
    assert "Reply with its name." in session.last and "'paywall_cutoff'" not in session.last


def test_item8_change_covariates_back_and_another_dataset_at_the_columns_step(tmp_path: Path) -> None:
    catalog = attach(tmp_path, "nsw_mixtape")
    session = drive(
        catalog,
        {
            **COMMON,
            Step.INTERVENTION: "the NSW job training programme",
            Step.OUTCOME: "re78, earnings in 1978",
            Step.UNIT: "people",
            Step.CAN_RANDOMIZE: "no",
            Step.ASSIGNMENT: "people chose to join the programme",
            Step.HAS_PRE: "yes",
            Step.DATASET: ["ok", "use nsw_mixtape"],
            Step.COLUMNS: ["change covariates", "no_such_column is the outcome", "back", "drop re74"],
            Step.REFUTE_OFFER: [],
        },
    )
    replies = session.replies(Step.COLUMNS)
    assert replies[0].startswith("Now: covariates=age, educ, black, hisp, marr, nodegree, re74, re75. What should")
    assert replies[1].startswith("There is no column 'no_such_column' in 'nsw_mixtape'")
    assert replies[2].startswith("Back to the dataset.")
    assert session.request("propensity")["covariates"] == ["age", "educ", "black", "hisp", "marr", "nodegree", "re75"]


def test_item8_after_a_flawed_run_a_change_runs_the_analysis_again_instead_of_ending(tmp_path: Path) -> None:
    catalog = attach(tmp_path, "organ_donations")
    script = {**ORGAN, Step.REFUTE_OFFER: ["no", "no"]}
    session = drive(catalog, {**script, END: ["thanks", "time is Quarter_Num and the outcome is Rate", "back"]})
    ends = session.replies(None)
    assert "The analysis ran, but its own checks failed" in ends[0]
    assert len(session.finished("diff_in_diff")) == 2  # the change re-ran it
    assert session.last.startswith("Back to the columns.") and session.backend.state.pending is Step.COLUMNS


def test_item8_use_a_different_dataset_after_the_end_reopens_the_dataset_question(tmp_path: Path) -> None:
    catalog = attach(tmp_path, "organ_donations")
    session = drive(catalog, {**ORGAN, END: ["use a different dataset"]})
    assert "Which attached dataset holds the data?" in session.last
    assert session.backend.state.pending is Step.DATASET


def test_item2_a_control_label_the_data_lacks_comes_back_in_the_tools_words_and_can_be_fixed(tmp_path: Path) -> None:
    session = drive(
        attach(tmp_path, "thornton_hiv", examples=False),
        _thornton_script(columns=["control=2", "control=0"], split="no idea"),
    )
    first, second = session.finished("ab_test")
    assert first.error is not None and first.error["code"] == "unknown_control"
    assert first.error["message"] in session.replies(Step.SPLIT)[0]  # shown, then the columns asked again
    assert len(session.replies(Step.SPLIT)) == 1  # the planned split is not asked twice
    assert second.error is None and second.result is not None
    assert session.request("ab_test")["control"] == "0"
