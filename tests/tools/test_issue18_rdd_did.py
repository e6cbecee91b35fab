"""Issue 18, the tool side of items 8 and 10, on the public research data a user would bring (causaldata exports
written to CSV by ``tests.public_data``), run through ``tools.registry.dispatch`` as every surface runs them.

8. A period column written as text ('Q42010', '2010-Q4', 'Apr 2010', '2010-W05' ...) is read into an ordered
   period index, the method says how, and the fixed-effects numbers equal those of the integer column; a cohort
   column in the same form reads the same way; what cannot be ordered is refused naming the values, with the
   integer-period fix.
10. A fuzzy RD whose take-up switches exactly from 0 to 1 at the cutoff (gov_transfers) is a sharp design: it is
    reported as such, with the sharp numbers (rdrobust's on the same data and bandwidths), never as a weak first
    stage; near-perfect compliance has a large F; the density sentence reads correctly for either treated side.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.public_data import write_public
from tools.data import Catalog
from tools.did.models import DiffInDiffRequest, DiffInDiffResult
from tools.did.periods import label, read_text_periods
from tools.did.tool import diff_in_diff
from tools.errors import ToolError
from tools.rdd.models import DensityTest, RddRequest, RddResult
from tools.rdd.report import density_detail
from tools.rdd.tool import f_statistic, headline, rdd
from tools.registry import dispatch
from tools.results import Estimate

pytest.importorskip("causaldata")


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    """The public sets as a user's CSV exports, read back as the catalog reads them."""
    folder = tmp_path_factory.mktemp("public")
    catalog = Catalog()
    frames = {}
    for name in ("gov_transfers", "organ_donations", "castle", "close_elections_lmb"):
        catalog.add(write_public(name, folder), name)
        frames[name] = catalog.frame(name)
    return frames


def run(tool: str, frame: pd.DataFrame, tmp_path: Path, **arguments: Any) -> Any:
    """``dispatch`` on ``frame`` written as a CSV and attached as 'data'."""
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    catalog = Catalog()
    catalog.add(path, "data")
    return dispatch(tool, {"dataset": "data", **arguments}, catalog)


def rdrobust_fit(frame: pd.DataFrame, **options: Any) -> Any:
    from rdrobust import rdrobust  # type: ignore[import-untyped]

    # rdrobust prints "Mass points detected", and divides by the exact first stage's zero standard error
    with contextlib.redirect_stdout(io.StringIO()), np.errstate(divide="ignore", invalid="ignore"):
        return rdrobust(frame["Support"], frame["Income_Centered"], c=0, **options)


GOV: dict[str, Any] = {"outcome": "Support", "running": "Income_Centered", "cutoff": 0, "treatment_side": "below"}
PERFECT = "compliance is perfect on both sides: the design is sharp; the fuzzy estimate equals the sharp one"


def gov(**fields: Any) -> RddRequest:
    """The gov_transfers request (treated below the cutoff) with ``fields`` changed."""
    return RddRequest.model_validate({"dataset": "g", **GOV, **fields})


def texts(result: RddResult) -> list[str]:
    return [result.summary, result.method, result.estimand, *result.warnings, *(c.detail for c in result.checks)]


# --- item 10: fuzzy RD with perfect compliance ----------------------------------------------------------------


def test_item10_fuzzy_rd_with_perfect_compliance_is_reported_sharp_never_weak(
    public: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    frame = public["gov_transfers"]
    fuzzy = run("rdd", frame, tmp_path, **GOV, fuzzy="Participation")
    sharp = run("rdd", frame, tmp_path, **GOV)
    assert isinstance(fuzzy, RddResult) and isinstance(sharp, RddResult), (fuzzy, sharp)
    assert fuzzy.design == "sharp" and fuzzy.first_stage is None and fuzzy.treatment_side == "below"
    assert not any("weak" in text.lower() and "none is weak" not in text for text in texts(fuzzy))
    check = next(c for c in fuzzy.checks if c.name == "first_stage")
    assert check.status == "pass"
    assert check.detail == (
        "Take-up 'Participation' is 1 on every row below the cutoff and 0 on every row at or above it, so "
        f"{PERFECT} (take-up jumps by exactly 1: there is no first stage to estimate, and none is weak)."
    )
    assert fuzzy.summary.endswith(f"; {PERFECT}; density test p = {fuzzy.density_test.p_value:.3g}.")  # type: ignore[union-attr]
    assert "the take-up jump is exactly 1, so the outcome jump over it is the sharp estimate" in fuzzy.method
    # the fuzzy estimate is the sharp one: same bandwidths, same numbers
    assert fuzzy.bandwidth == sharp.bandwidth and fuzzy.bandwidth_inference == sharp.bandwidth_inference
    for ours, theirs in ((fuzzy.effect, sharp.effect), (fuzzy.conventional, sharp.conventional)):
        for field in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value"):
            assert getattr(ours, field) == pytest.approx(getattr(theirs, field), rel=1e-12, abs=1e-15)


def test_item10_perfect_compliance_matches_rdrobust_at_the_same_bandwidths(public: dict[str, pd.DataFrame]) -> None:
    """rdrobust's fuzzy estimate on gov_transfers (treated minus untreated is rdrobust's sign: take-up is 1 below),
    at its own bandwidths (inference_bandwidth='same': rdrobust's default output)."""
    frame = public["gov_transfers"]
    ours = rdd(gov(fuzzy="Participation", inference_bandwidth="same"), frame)
    ref = rdrobust_fit(frame, fuzzy=frame["Participation"])
    h = ref.bws.to_numpy()
    assert ours.bandwidth.h_below == pytest.approx(h[0, 0], rel=1e-6)
    assert ours.bandwidth.b_below == pytest.approx(h[1, 0], rel=1e-6)
    coef, se = ref.coef.to_numpy()[:, 0], ref.se.to_numpy()[:, 0]
    assert ours.conventional.estimate == pytest.approx(coef[0], rel=1e-6)
    assert ours.conventional.std_error == pytest.approx(se[0], rel=1e-6)
    assert ours.effect.estimate == pytest.approx(coef[2], rel=1e-6)
    assert ours.effect.std_error == pytest.approx(se[2], rel=1e-6)
    assert ours.conventional.estimate == pytest.approx(-0.024702, abs=5e-7)


def test_item10_treatment_side_contradicting_perfect_take_up_follows_the_take_up(
    public: dict[str, pd.DataFrame],
) -> None:
    frame = public["gov_transfers"]
    said_above = rdd(gov(treatment_side="above", fuzzy="Participation"), frame)
    below = rdd(gov(fuzzy="Participation"), frame)
    assert said_above.treatment_side == "below" and said_above.effect == below.effect
    # refute re-estimates through headline: the same number
    assert headline(gov(treatment_side="above", fuzzy="Participation"), frame) == said_above.effect.estimate
    assert (
        "treatment_side says the units at or above the cutoff are treated, but every row below it takes the "
        "treatment ('Participation' = 1) and none on the other side: the effect is reported with the side below the "
        "cutoff as treated (a fuzzy estimate, a ratio of two jumps, is the same either way)." in said_above.warnings
    )


def _flip(frame: pd.DataFrame, rows: pd.Index) -> pd.DataFrame:
    flipped = frame.copy()
    flipped.loc[rows, "Participation"] = 0
    return flipped


def test_item10_near_perfect_compliance_has_a_large_f_not_weak(public: dict[str, pd.DataFrame]) -> None:
    """Five non-compliers right at the cutoff: take-up jumps by ~0.9 with a small standard error, so F is large."""
    frame = public["gov_transfers"]
    near = frame.index[(frame["Income_Centered"] < 0) & (frame["Income_Centered"] > -0.002)][:5]
    result = rdd(gov(fuzzy="Participation"), _flip(frame, near))
    assert result.design == "fuzzy" and result.first_stage is not None
    assert 0.85 < result.first_stage.conventional.estimate < 1.0
    assert result.first_stage.f_statistic > 100 and not result.first_stage.weak
    assert not any("Weak first stage" in w for w in result.warnings)


def test_item10_compliance_perfect_only_near_the_cutoff_says_so(public: dict[str, pd.DataFrame]) -> None:
    frame = public["gov_transfers"]
    far = frame.index[frame["Income_Centered"] < -0.019][:1]  # a non-complier outside every bandwidth
    result = rdd(gov(fuzzy="Participation"), _flip(frame, far))
    assert result.design == "sharp" and result.first_stage is None
    assert result.summary.count(
        "compliance is perfect on both sides near the cutoff: the design is sharp there; the fuzzy estimate equals "
        "the sharp one at these bandwidths"
    )
    assert next(c for c in result.checks if c.name == "first_stage").detail.startswith(
        "Within the bandwidths, take-up 'Participation' is 1 on every row below the cutoff and 0 on every row at or "
        "above it (farther away some rows differ)"
    )


def test_item10_compliance_perfect_within_h_only_matches_rdrobust(public: dict[str, pd.DataFrame]) -> None:
    """A non-complier inside b but outside h: the conventional first stage is exact, the bias-corrected one is
    estimated. The LATE is rdrobust's; the first stage is described, not reported as weak."""
    frame = public["gov_transfers"]
    inside_b = frame.index[(frame["Income_Centered"] < -0.008) & (frame["Income_Centered"] > -0.0085)][:1]
    flipped = _flip(frame, inside_b)
    result = rdd(gov(fuzzy="Participation", inference_bandwidth="same"), flipped)
    assert result.design == "fuzzy" and result.first_stage is None
    detail = next(c for c in result.checks if c.name == "first_stage").detail
    assert detail.startswith(
        "Within the estimation bandwidth, take-up 'Participation' is 1 on every row below the cutoff and 0 on every "
        "row at or above it; over the bias-correction bandwidth take-up jumps by +0.99"
    )
    assert detail.endswith("(a first stage as strong as one can be, not a weak one).")
    ref = rdrobust_fit(flipped, fuzzy=flipped["Participation"])
    coef = ref.coef.to_numpy()[:, 0]
    assert result.conventional.estimate == pytest.approx(coef[0], rel=1e-6)
    assert result.effect.estimate == pytest.approx(coef[2], rel=1e-6)


def test_item10_f_statistic_is_never_zero_for_a_jump() -> None:
    assert f_statistic(Estimate.normal(0.5, 0.1)) == pytest.approx(25.0)
    assert f_statistic(Estimate.normal(-0.5, 0.1)) == pytest.approx(25.0)  # the side's sign does not matter
    assert f_statistic(Estimate.normal(0.0, 0.0)) == 0.0  # no jump and no error: no first stage at all


def _density(below: float, above: float) -> DensityTest:
    return DensityTest(
        density_below=below,
        density_above=above,
        t_statistic=-0.846,
        p_value=0.398,
        h_below=0.0068,
        h_above=0.0071,
        n_below=384,
        n_above=275,
    )


def test_item10_density_sentence_reads_for_either_treated_side(public: dict[str, pd.DataFrame]) -> None:
    density = _density(29.737, 22.442)
    assert density_detail(density, "below") == (
        "The running variable's estimated density is 29.74 just below the cutoff, on the treated side, and 22.44 "
        "just above it, on the untreated side; t = -0.846, p = 0.398."
    )
    assert density_detail(density, "above") == (
        "The running variable's estimated density is 29.74 just below the cutoff, on the untreated side, and 22.44 "
        "just above it, on the treated side; t = -0.846, p = 0.398."
    )
    result = rdd(gov(fuzzy="Participation"), public["gov_transfers"])
    check = next(c for c in result.checks if c.name == "density")
    assert check.detail == (
        "The running variable's estimated density is 29.74 just below the cutoff, on the treated side, and 22.44 "
        "just above it, on the untreated side; t = -0.846, p = 0.398."
    )


def test_item10_mass_points_far_from_the_cutoff_do_not_make_it_discrete() -> None:
    """Uncontested races at exactly 1 (close_elections_lmb's shape): rdrobust widens its pilots for the mass point,
    but near the cutoff every value is distinct, so the running variable is not called discrete there."""
    rng = np.random.default_rng(18)
    x = np.concatenate([rng.uniform(0, 1, 3000), np.ones(1500)])
    frame = pd.DataFrame({"x": x, "y": 10 * x + 5 * (x >= 0.5) + rng.normal(0, 1, len(x))})
    result = rdd(RddRequest(dataset="d", outcome="y", running="x", cutoff=0.5), frame)
    assert result.bandwidth.mass_points_adjusted
    check = next(c for c in result.checks if c.name == "running_variable_distinct_values")
    assert check.status == "pass"
    assert check.detail.endswith(
        "Many rows share a value (rdrobust's mass-point rule), so the pilot bandwidths were widened; near the cutoff "
        "the values are distinct enough."
    )
    assert not any("discrete" in w for w in result.warnings)


# --- item 8: periods written as text ---------------------------------------------------------------------------


def organ(frame: pd.DataFrame) -> pd.DataFrame:
    """organ_donations with what a user adds: California's opt-in change from 2011 Q3 (Quarter_Num 4)."""
    out = frame.copy()
    california = out["State"] == "California"
    out["Treated"] = (california & (out["Quarter_Num"] >= 4)).astype(int)
    out["FirstQuarter"] = np.where(california, "Q32011", "")
    out["FirstQuarterNum"] = np.where(california, 4, 0)
    return out


NUMBERS = ("effect", "twfe", "event_study", "pretrend", "placebo", "n_obs", "n_units", "n_periods", "checks")


@pytest.mark.parametrize("estimator", ["twfe", "event_study"])
def test_item8_quarter_strings_give_the_numbers_of_the_integer_quarter(
    public: dict[str, pd.DataFrame], tmp_path: Path, estimator: str
) -> None:
    frame = organ(public["organ_donations"])
    base = {"outcome": "Rate", "unit": "State", "estimator": estimator}
    text = run("diff_in_diff", frame, tmp_path, **base, time="Quarter", treatment="Treated")
    number = run("diff_in_diff", frame, tmp_path, **base, time="Quarter_Num", treatment="Treated")
    cohort = run("diff_in_diff", frame, tmp_path, **base, time="Quarter", cohort="FirstQuarter")
    cohort_num = run("diff_in_diff", frame, tmp_path, **base, time="Quarter_Num", cohort="FirstQuarterNum")
    for result in (text, number, cohort, cohort_num):
        assert isinstance(result, DiffInDiffResult), result
    for field in NUMBERS:
        assert getattr(text, field) == getattr(number, field) == getattr(cohort, field) == getattr(cohort_num, field)
    assert [c.cohort for c in text.cohorts] == ["2011Q3"] and [c.cohort for c in number.cohorts] == [4]
    assert text.method.endswith("; periods: 'Quarter' read as quarters ('Q42010' = 2010Q4), in calendar order.")
    assert "periods:" not in number.method
    assert text.effect.estimate == pytest.approx({"twfe": -0.02246, "event_study": -0.02134}[estimator], abs=5e-6)


def panel(times: list[str]) -> pd.DataFrame:
    """Twelve units over the given periods (in calendar order), half adopting at the third: rows shuffled so that
    text order and calendar order differ."""
    rng = np.random.default_rng(8)
    rows = []
    for unit in range(12):
        for index, time in enumerate(times):
            treated = unit < 6 and index >= 2
            rows.append({"u": unit, "t": time, "k": index, "d": int(treated), "y": unit + index + 2.0 * treated})
    frame = pd.DataFrame(rows)
    frame["y"] += rng.normal(0, 0.5, len(frame))
    return frame.sample(frac=1.0, random_state=3).reset_index(drop=True)


SPELLINGS = {
    "Q42010": ["Q42010", "Q12011", "Q22011", "Q32011", "Q42011"],
    "Q4 2010": ["Q4 2010", "Q1 2011", "Q2 2011", "Q3 2011", "Q4 2011"],
    "2010Q4": ["2010Q4", "2011Q1", "2011Q2", "2011Q3", "2011Q4"],
    "2010-Q4": ["2010-Q4", "2011-Q1", "2011-Q2", "2011-Q3", "2011-Q4"],
    "2010 Q4": ["2010 q4", "2011 q1", "2011 q2", "2011 q3", "2011 q4"],
    "2010-04": ["2010-11", "2010-12", "2011-01", "2011-02", "2011-10"],
    "Apr 2010": ["Nov 2010", "December 2010", "Jan 2011", "Feb 2011", "Sept 2011"],
    "04/2010": ["11/2010", "12/2010", "01/2011", "02/2011", "10/2011"],
    "2010H1": ["2010H1", "H2 2010", "2011H1", "2011 H2", "2012H1"],
    "2010-W05": ["2010-W51", "2010-W52", "2011-W01", "2011-W02", "2011-W10"],
    "ISO date": ["2010-11-01", "2010-12-01", "2011-01-01", "2011-02-01", "2011-10-01"],
    "year": ["2009", "2010", "2011", "2012", "2013"],
}


@pytest.mark.parametrize("spelling", list(SPELLINGS))
def test_item8_period_spellings_read_in_calendar_order(spelling: str) -> None:
    frame = panel(SPELLINGS[spelling])
    request = {"dataset": "p", "outcome": "y", "unit": "u", "treatment": "d", "estimator": "event_study"}
    text = diff_in_diff(DiffInDiffRequest.model_validate({**request, "time": "t"}), frame)
    index = diff_in_diff(DiffInDiffRequest.model_validate({**request, "time": "k"}), frame)
    for field in NUMBERS:
        assert getattr(text, field) == getattr(index, field), field
    assert text.effect.estimate == pytest.approx(2.0, abs=0.5)


def test_item8_period_kinds_and_canonical_labels() -> None:
    read = read_text_periods(pd.Series(["Q42010", "2011-Q1", "Q1 2011"]))
    assert not isinstance(read, list) and read.kind == "quarter"
    assert [label(int(k), "quarter") for k in read.keys] == ["2010Q4", "2011Q1", "2011Q1"]
    months = read_text_periods(pd.Series(["Apr 2010", "2010-04", "04/2010", "April 2010"]))
    assert not isinstance(months, list) and months.kind == "month" and len(set(months.keys.tolist())) == 1
    assert label(int(months.keys[0]), "month") == "2010-04"
    assert read_text_periods(pd.Series(["Q42010", "Q52010", "2011-02"])) == ["Q52010", "2011-02"]


def test_item8_unreadable_periods_are_named_with_the_integer_fix() -> None:
    frame = panel(["week one", "week two", "week three", "week four", "week five"])
    with pytest.raises(ToolError) as info:
        diff_in_diff(DiffInDiffRequest(dataset="p", outcome="y", unit="u", time="t", treatment="d"), frame)
    assert info.value.code == "unparseable_time"
    assert re.match(
        r"The time column 't' holds values that cannot be read as ordered periods: ('week \w+', ){2}'week \w+' and "
        r"2 more\. Periods can be integers",
        info.value.message,
    )
    assert "Give an integer period column instead (1, 2, 3, … in calendar order, or years)" in info.value.hint
    mixed = panel(["Q42010", "Q12011", "2011-05", "Q32011", "Q42011"])
    with pytest.raises(ToolError) as info:
        diff_in_diff(DiffInDiffRequest(dataset="p", outcome="y", unit="u", time="t", treatment="d"), mixed)
    assert info.value.message.startswith(
        "The time column 't' holds values that do not read like the others: '2011-05' (1 of 5 distinct values)."
    )


def test_item8_a_cohort_in_another_form_than_the_time_column_is_refused(
    public: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    frame = organ(public["organ_donations"])
    base = {"outcome": "Rate", "unit": "State"}
    error = run("diff_in_diff", frame, tmp_path, **base, time="Quarter", cohort="FirstQuarterNum")
    assert isinstance(error, ToolError) and error.code == "cohort_mismatch"
    assert error.message == (
        "The time column 'Quarter' holds quarters, but the cohort column 'FirstQuarterNum' holds integers ('4')."
    )
    error = run("diff_in_diff", frame, tmp_path, **base, time="Quarter_Num", cohort="FirstQuarter")
    assert isinstance(error, ToolError) and error.code == "cohort_mismatch"
    assert error.message == (
        "The time column 'Quarter_Num' holds integers, but the cohort column 'FirstQuarter' holds quarters ('Q32011')."
    )
    assert "or give a 0/1 `treatment` column instead" in error.hint
    frame["Words"] = np.where(frame["State"] == "California", "2011 Q3", "never")  # another spelling, 'never'
    same = run("diff_in_diff", frame, tmp_path, **base, time="Quarter", cohort="Words")
    assert isinstance(same, DiffInDiffResult) and [c.cohort for c in same.cohorts] == ["2011Q3"]


# --- the texts of castle and organ_donations ---------------------------------------------------------------------


def test_item8_castle_and_organ_texts_read_right(public: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    castle = run(
        "diff_in_diff", public["castle"], tmp_path, outcome="l_homicide", unit="sid", time="year", treatment="post"
    )
    assert isinstance(castle, DiffInDiffResult)
    assert (
        "Event times -9 and 4 rest on a single treated cluster: their standard errors leave out the treated side's "
        "variance, so their intervals are too narrow; event time -9 was left out of the joint pre-trend test."
        in castle.warnings
    )
    check = next(c for c in castle.checks if c.name == "twfe_vs_robust")
    assert check.detail.endswith(
        "TWFE gives none of the 74 treated unit-periods a negative weight here, although it also compares later "
        "adopters with already-treated units."
    )
    assert "over 21 treated units in 5 cohorts" in castle.summary
    organ_result = run(
        "diff_in_diff", organ(public["organ_donations"]), tmp_path, outcome="Rate", unit="State", time="Quarter",
        treatment="Treated",
    )  # fmt: skip
    assert isinstance(organ_result, DiffInDiffResult)
    assert "over 1 treated unit in 1 cohort;" in organ_result.summary
