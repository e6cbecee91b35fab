"""The synthetic_control request model and panel builder: the matrix on hand-made and real panels (Prop 99, Basque
Country, castle doctrine) and one test per ToolError code, each checking that the message names the offending units,
periods or values and that a hint says how to fix it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from tools.errors import ToolError
from tools.results import Estimate
from tools.synth.models import SyntheticControlRequest, SyntheticControlResult
from tools.synth.panel import SERIES_UNIT, SynthPanel, prepare_synth_panel

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "synth"


def small(n_donors: int = 3, n_periods: int = 6, start: int = 2004) -> pd.DataFrame:
    """Units 'a' (treated from ``start``), donors 'b', 'c', ...; years 2001..; y = 10 * unit + year offset."""
    rows = []
    names = ["a"] + [chr(ord("b") + i) for i in range(n_donors)]
    for i, name in enumerate(names):
        for year in range(2001, 2001 + n_periods):
            rows.append({"u": name, "t": year, "y": 10.0 * i + (year - 2000), "d": int(name == "a" and year >= start)})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0).reset_index(drop=True)  # row order must not matter


def build(frame: pd.DataFrame, **fields: Any) -> SynthPanel:
    base: dict[str, Any] = {"dataset": "p", "outcome": "y", "unit": "u", "time": "t", "treatment": "d"}
    return prepare_synth_panel(SyntheticControlRequest.model_validate({**base, **fields}), frame)


def expect(code: str, frame: pd.DataFrame, *named: str, **fields: Any) -> ToolError:
    with pytest.raises(ToolError) as info:
        build(frame, **fields)
    error = info.value
    assert error.code == code, error
    assert error.message and error.hint, error
    for text in named:
        assert text in error.message, (text, error.message)
    return error


# --- the happy path ----------------------------------------------------------------------------------------------


def test_small_panel_matrix() -> None:
    panel = build(small())
    assert panel.units == ["b", "c", "d", "a"]  # donors in sorted order, then the treated unit
    assert panel.periods == [2001, 2002, 2003, 2004, 2005, 2006]
    assert (panel.n_treated, panel.n_donors, panel.n_pre, panel.n_post, panel.start) == (1, 3, 3, 3, 2004)
    assert panel.y.dtype == np.float64 and panel.y.flags.c_contiguous
    expected = np.array([[10.0 * i + k for k in range(1, 7)] for i in (1, 2, 3, 0)])
    np.testing.assert_array_equal(panel.y, expected)
    assert panel.predictors is None and panel.notes == [] and panel.period_note == ""
    assert panel.n_obs == 24 and panel.treated_units == ["a"] and panel.donors == ["b", "c", "d"]


def test_several_treated_units_come_last_in_order() -> None:
    frame = small(n_donors=4)
    frame.loc[frame.u.isin(["c", "a"]) & (frame.t >= 2004), "d"] = 1
    panel = build(frame)
    assert panel.units == ["b", "d", "e", "a", "c"] and panel.n_treated == 2


def test_numeric_unit_ids_sort_numerically_and_read_as_integers() -> None:
    frame = small(n_donors=10)
    frame["u"] = frame.u.map({c: float(i) for i, c in enumerate("abcdefghijk")})  # 0.0 treated, 1.0..10.0 donors
    panel = build(frame)
    assert panel.units == [str(i) for i in range(1, 11)] + ["0"]


def test_text_quarters_and_dates_in_calendar_order() -> None:
    frame = small(n_periods=6)
    quarters = {2001: "Q3 2009", 2002: "Q4 2009", 2003: "Q1 2010", 2004: "Q2 2010", 2005: "Q3 2010", 2006: "Q4 2010"}
    panel = build(frame.assign(t=frame.t.map(quarters)))
    assert panel.periods == ["2009Q3", "2009Q4", "2010Q1", "2010Q2", "2010Q3", "2010Q4"]
    assert panel.start == "2010Q2" and panel.period_kind == "quarter" and "quarters" in panel.period_note
    dates = frame.assign(t=pd.to_datetime(frame.t.astype(str) + "-07-01"))
    panel = build(dates)
    assert panel.periods[0] == "2001-07-01" and panel.start == "2004-07-01" and panel.period_kind == "date"


def test_blank_treatment_rows_are_left_out_and_counted() -> None:
    frame = small()
    frame["d"] = frame.d.astype(float)
    extra = pd.DataFrame({"u": ["b", "c"], "t": [2001, 2002], "y": [np.nan, np.nan], "d": [np.nan, np.nan]})
    panel = build(pd.concat([frame, extra], ignore_index=True))
    assert any("2 row(s) with no treatment value" in note for note in panel.notes)
    assert panel.y.shape == (4, 6)


def test_boolean_treatment_matches_by_value() -> None:
    frame = small()
    panel = build(frame.assign(d=frame.d.astype(bool)))
    assert panel.n_treated == 1 and panel.n_pre == 3


def test_incomplete_donor_is_dropped_and_named() -> None:
    frame = small(n_donors=3)
    frame = frame[~((frame.u == "c") & (frame.t == 2002))]
    panel = build(frame)
    assert panel.units == ["b", "d", "a"]
    assert any("1 donor(s) missing" in note and "c" in note for note in panel.notes)


def test_donor_history_outside_the_treated_span_is_left_out() -> None:
    frame = small()
    early = pd.DataFrame({"u": ["b", "c", "d"], "t": [1999, 1999, 2000], "y": [1.0, 2.0, 3.0], "d": [0, 0, 0]})
    panel = build(pd.concat([frame, early], ignore_index=True))
    assert panel.periods[0] == 2001 and panel.y.shape == (4, 6)
    assert any("3 row(s) outside the treated units' periods (2001 to 2006)" in note for note in panel.notes)


def test_missing_outcome_rows_are_counted() -> None:
    frame = small()
    frame.loc[(frame.u == "b") & (frame.t == 2003), "y"] = np.nan
    panel = build(frame)
    assert "b" not in panel.units
    assert any("1 row(s) with a missing outcome" in note for note in panel.notes)


def test_a_period_nobody_has_is_not_a_gap() -> None:
    frame = small(n_periods=8)
    panel = build(frame[frame.t != 2002])
    assert panel.periods == [2001, 2003, 2004, 2005, 2006, 2007, 2008] and panel.n_pre == 2


def test_covariates_are_pre_period_means() -> None:
    frame = small()
    frame["x"] = frame.t * 1.0 + frame.u.map({"a": 0.0, "b": 100.0, "c": 200.0, "d": 300.0})
    frame.loc[(frame.u == "b") & (frame.t == 2001), "x"] = np.nan  # averaged over what is there
    panel = build(frame, estimator="synthetic_control", covariates=["x", "y"])
    assert panel.predictors is not None and panel.predictors.shape == (2, 4)
    np.testing.assert_allclose(panel.predictors[0], [2102.5, 2202.0, 2302.0, 2002.0])
    np.testing.assert_allclose(panel.predictors[1], [12.0, 22.0, 32.0, 2.0])
    assert panel.covariate_names == ["x", "y"]


def test_donor_without_covariate_is_dropped() -> None:
    frame = small().assign(x=1.0)
    frame["x"] = frame.x + np.arange(len(frame))
    frame.loc[(frame.u == "c") & (frame.t < 2004), "x"] = np.nan
    panel = build(frame, estimator="synthetic_control", covariates=["x"])
    assert panel.units == ["b", "d", "a"]
    assert any("no pre-period value of a covariate" in note and "c" in note for note in panel.notes)


def test_single_series_for_interrupted_time_series() -> None:
    frame = small()
    series = frame[frame.u == "a"].drop(columns="u")
    panel = build(series, unit=None, estimator="interrupted_time_series", season_period=2)
    assert panel.units == [SERIES_UNIT] and panel.n_treated == 1 and panel.n_donors == 0
    np.testing.assert_array_equal(panel.y[0], np.arange(1.0, 7.0))
    # with a unit column and no donor at all, the ITS still gets its series
    panel = build(frame[frame.u == "a"], estimator="interrupted_time_series")
    assert panel.units == ["a"] and panel.n_donors == 0


def test_prop99_reference_panel() -> None:
    frame = pd.read_csv(FIXTURES / "california_prop99.csv", sep=";")
    panel = build(frame, outcome="PacksPerCapita", unit="State", time="Year", treatment="treated")
    assert panel.y.shape == (39, 31) and panel.n_donors == 38 and panel.units[-1] == "California"
    assert (panel.n_pre, panel.start, panel.periods[0], panel.periods[-1]) == (19, 1989, 1970, 2000)
    assert panel.notes == []
    # end to end with the estimator core: Arkhangelsky et al. (2021) Table 1 / synthdid: SDID -15.60, DiD -27.35
    from tools.synth import fit

    assert fit(panel.y, panel.n_treated, panel.n_pre, "synthetic_did").tau == pytest.approx(-15.60, abs=0.01)
    assert fit(panel.y, panel.n_treated, panel.n_pre, "did").tau == pytest.approx(-27.35, abs=0.01)


def test_basque_panel_with_covariates() -> None:
    frame = pd.read_csv(FIXTURES / "basque.csv")
    frame = frame[frame.regionno != 1].assign(treat=lambda f: ((f.regionno == 17) & (f.year >= 1970)).astype(int))
    covariates = ["school.illit", "school.high", "invest", "sec.industry", "popdens"]
    panel = build(
        frame, outcome="gdpcap", unit="regionname", time="year", treatment="treat",
        estimator="synthetic_control", covariates=covariates,
    )  # fmt: skip
    assert panel.y.shape == (17, 43) and panel.n_pre == 15 and panel.start == 1970
    assert panel.units[-1] == "Basque Country (Pais Vasco)" and panel.periods[0] == 1955
    assert panel.predictors is not None and np.isfinite(panel.predictors).all()
    basque = frame[(frame.regionno == 17) & (frame.year < 1970)]
    np.testing.assert_allclose(panel.predictors[:, -1], basque[covariates].mean().to_numpy())


def test_castle_one_cohort() -> None:
    causaldata = pytest.importorskip("causaldata")
    frame = causaldata.castle.load_pandas().data
    first = frame[frame.post == 1].groupby("sid").year.min()
    keep = ~frame.sid.isin(first[first != 2007].index)  # never treated, and the states treated from 2007
    panel = build(frame[keep], outcome="homicide", unit="sid", time="year", treatment="post")
    assert (panel.n_treated, panel.n_donors, panel.n_pre, panel.n_post) == (13, 29, 7, 4)
    assert panel.start == 2007 and panel.periods == list(range(2000, 2011))


# --- one test per refusal -----------------------------------------------------------------------------------------


def test_castle_staggered_starts_are_refused() -> None:
    causaldata = pytest.importorskip("causaldata")
    frame = causaldata.castle.load_pandas().data
    error = expect(
        "staggered_adoption", frame, "5 different periods", "from 2006: '10'", "from 2010: '27'",
        outcome="homicide", unit="sid", time="year", treatment="post",
    )  # fmt: skip
    assert "diff_in_diff" in error.hint


def test_staggered_small() -> None:
    frame = small(n_donors=4)
    frame.loc[(frame.u == "c") & (frame.t >= 2005), "d"] = 1
    expect("staggered_adoption", frame, "from 2004: 'a'", "from 2005: 'c'")


@pytest.mark.parametrize("role", ["outcome", "unit", "time", "treatment"])
def test_unknown_column(role: str) -> None:
    frame = small().rename(columns={"y": "yy", "u": "uu", "t": "tt", "d": "dd"})
    fields = {"outcome": "yy", "unit": "uu", "time": "tt", "treatment": "dd"}
    fields[role] = {"outcome": "y", "unit": "u", "time": "t", "treatment": "d"}[role]
    error = expect("unknown_column", frame, f"{role} column '{fields[role]}'", **fields)
    assert "Did you mean" in error.hint


def test_unknown_covariate() -> None:
    error = expect("unknown_column", small().assign(income=1.0), "'incme'", estimator="synthetic_control",
                   covariates=["incme"])  # fmt: skip
    assert "'income'" in error.hint


def test_non_numeric_outcome() -> None:
    frame = small().astype({"y": object})
    frame.loc[0, "y"] = "n/a"
    expect("non_numeric_column", frame, "'n/a'")


def test_treatment_not_binary() -> None:
    frame = small()
    frame.loc[frame.d == 1, "d"] = 2
    expect("treatment_not_binary", frame, "'d'", "2")


def test_text_treatment_is_refused() -> None:
    frame = small()
    expect("non_numeric_column", frame.assign(d=frame.d.map({0: "no", 1: "yes"})), "treatment column 'd'")


def test_no_data_rows() -> None:
    expect("no_data_rows", small().assign(d=np.nan))


def test_duplicate_rows() -> None:
    frame = small()
    error = expect("duplicate_rows", pd.concat([frame, frame[(frame.u == "c") & (frame.t == 2003)]]), "'c' in 2003")
    assert "one row per unit and period" in error.hint
    series = frame[frame.u == "a"].drop(columns="u")
    expect("duplicate_rows", pd.concat([series, series.iloc[:1]]), "1 period(s)", unit=None,
           estimator="interrupted_time_series")  # fmt: skip


def test_no_treated() -> None:
    expect("no_treated", small().assign(d=0), "'d'")


def test_treatment_reverts() -> None:
    frame = small()
    frame.loc[(frame.u == "a") & (frame.t == 2005), "d"] = 0
    expect("treatment_reverts", frame, "'a' in 2005")


def test_treated_unit_without_outcome() -> None:
    frame = small()
    frame.loc[frame.u == "a", "y"] = np.nan
    expect("missing_outcome", frame, "'a'")


def test_treated_unit_with_missing_periods() -> None:
    frame = small(n_donors=3)
    frame = frame[~((frame.u == "a") & frame.t.isin([2002, 2003]))]
    expect("treated_unit_incomplete", frame, "'a' in 2002, 2003")
    frame = small(n_donors=3)
    frame.loc[(frame.u == "a") & (frame.t == 2005), "y"] = np.nan  # a blank outcome is a missing period too
    expect("treated_unit_incomplete", frame, "'a' in 2005")


def test_no_pre_period() -> None:
    expect("no_pre_period", small(start=2001), "(2001)")


def test_no_post_period() -> None:
    frame = small()
    frame.loc[(frame.u == "a") & (frame.t >= 2004), "y"] = np.nan  # the post-period's data are not in yet
    expect("no_post_period", frame, "starts in 2004", "last is 2003")


def test_no_donor_every_unit_treated() -> None:
    frame = small(n_donors=1)
    frame.loc[frame.t >= 2004, "d"] = 1
    error = expect("no_donor", frame, "'a', 'b'")
    assert "interrupted_time_series" in error.hint


def test_no_donor_all_incomplete() -> None:
    frame = small(n_donors=2)
    frame = frame[~((frame.u != "a") & (frame.t == 2006))]
    expect("no_donor", frame, "2 untreated unit(s)", "'b' has no outcome in 2006")


def test_no_donor_all_without_covariate() -> None:
    frame = small(n_donors=2).assign(x=1.0)
    frame.loc[frame.u != "a", "x"] = np.nan
    expect("no_donor", frame, "2 untreated unit(s)", "covariate before the change (2)", estimator="synthetic_control",
           covariates=["x"])  # fmt: skip


def test_constant_outcome() -> None:
    expect("constant_outcome", small().assign(y=3.5), "'y'", "3.5")


def test_unreadable_periods() -> None:
    frame = small()
    expect("unparseable_time", frame.assign(t=frame.t.map(lambda year: f"year {year}")), "time column 't'", "'year 20")


def test_covariates_need_synthetic_control() -> None:
    expect("covariates_need_synthetic_control", small().assign(x=1.0), "synthetic_did", covariates=["x"])


def test_duplicate_covariates() -> None:
    expect("duplicate_covariates", small().assign(x=1.0), estimator="synthetic_control", covariates=["x", "x"])


def test_season_needs_its() -> None:
    expect("season_needs_its", small(), estimator="did", season_period=4)


def test_unit_required() -> None:
    expect("unit_required", small(), "'synthetic_control'", unit=None, estimator="synthetic_control")


def test_missing_covariate_of_treated_unit() -> None:
    frame = small().assign(x=1.0, z=2.0)
    frame.loc[(frame.u == "a") & (frame.t < 2004), "z"] = np.nan
    expect("missing_covariate", frame, "'a'", "'z'", estimator="synthetic_control", covariates=["x", "z"])


# --- the models ---------------------------------------------------------------------------------------------------


def test_request_defaults_and_strictness() -> None:
    request = SyntheticControlRequest(dataset="p", outcome="y", unit="u", time="t", treatment="d")
    assert (request.estimator, request.inference, request.alpha, request.seed) == ("synthetic_did", "placebo", 0.05, 0)
    for bad in ({"estimator": "sdid"}, {"inference": "permutation"}, {"alpha": 0.9}, {"extra": 1}, {"seed": -1}):
        with pytest.raises(ValidationError):
            SyntheticControlRequest.model_validate({**request.model_dump(), **bad})
    schema = SyntheticControlRequest.model_json_schema()
    assert all(prop.get("description") for prop in schema["properties"].values())


def test_result_round_trips_with_att() -> None:
    estimate = Estimate.normal(-15.6, 8.0)
    result = SyntheticControlResult(
        estimand="ATT", estimator="synthetic_did", method="m", dataset="p", outcome="y", effect=estimate,
        inference="placebo", comparison=[{"estimator": "did", "estimate": -27.3}],
        unit_weights=[{"unit": "Utah", "weight": 0.4}], time_weights=[{"period": 1988, "weight": 1.0}],
        predictor_weights=[], pre_rmspe=1.0, post_rmspe=10.0,
        placebo={"p_value": 0.025, "rank": 1, "n_placebos": 38, "min_p_value": 1 / 39, "rmspe_ratio": 10.0,
                 "status": "pass"},
        treatment_start=1989, trajectory=[{"period": 1989, "post": True, "observed": 1.0, "synthetic": 2.0,
                                           "gap": -1.0}],
        placebo_gaps=[{"unit": "Utah", "gaps": [0.1, -0.2], "pre_rmspe": 0.1}], alpha=0.05, n_obs=1209,
        n_units=39, n_treated_units=1, n_donors=38, n_pre_periods=19, n_post_periods=12, checks=[], warnings=[],
        summary="s",
    )  # fmt: skip
    dumped = result.model_dump(mode="json")
    assert dumped["att"] == dumped["effect"] and result.att == estimate
    assert SyntheticControlResult.model_validate(dumped) == result
    assert SyntheticControlResult.figure == "synthetic_control"
    assert set(SyntheticControlResult.plot_fields) <= set(SyntheticControlResult.model_fields)
    assert sorted(SyntheticControlResult.legacy_fields) == sorted(SyntheticControlResult.model_computed_fields)
    assert str(SyntheticControlResult.model_fields["effect"].description).startswith("The headline estimate")
    schema = SyntheticControlResult.model_json_schema()
    assert all(prop.get("description") for prop in schema["properties"].values())
