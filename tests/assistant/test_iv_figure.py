"""instrumental_variables' figure: the PNG (the first stage beside the reduced form against the instrument's bins,
with lines of the estimated slopes; the Wald picture for a two-valued instrument; the 2SLS estimate as their ratio,
the first-stage F and the Anderson-Rubin set written as found) and the app card's text plot, drawn from real results
on Card's college proximity (nearc4), Mroz (fatheduc; fatheduc and motheduc) and simulated weak instruments.

References: pandas group means and numpy least squares on the same files, linearmodels 7.1's IV2SLS
(``tests/fixtures/iv/reference.json``) and Wooldridge's Examples 15.1 (0.0592) and 15.4 (0.1315)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray

from assistant.agent.condense import PLOT_NOTE, condense
from assistant.figures import FIGURES, FigureError, has_figure, save_figure
from assistant.tui.widgets.plot import (
    DRAWERS,
    IV_CHARS,
    NO_IV_BINS,
    ar_set_text,
    iv_picture,
    plot_result,
)
from tests.assistant.card_probe import NARROW_CARD
from tests.assistant.figure_probe import as_png, drawn
from tools.iv.models import (
    AndersonRubin,
    ARInterval,
    InstrumentalVariablesRequest,
    InstrumentalVariablesResult,
)
from tools.iv.tool import instrumental_variables

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "iv"
REFERENCE = json.loads((FIXTURES / "reference.json").read_text())["cases"]
CARD_COVARIATES = REFERENCE["card_nearc4"]["covariates"]
#: The card's text width in an 80x24 terminal with the side panel open (F2), as measured for synthetic control.
NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def card_frame() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "card.csv")


def mroz_frame() -> pd.DataFrame:
    """The 428 women in the labour force (lwage observed), as Wooldridge's Example 15.1."""
    return pd.read_csv(FIXTURES / "mroz.csv").dropna(subset=["lwage"])


def run(frame: pd.DataFrame, **fields: Any) -> InstrumentalVariablesResult:
    return instrumental_variables(InstrumentalVariablesRequest(dataset="data", **fields), frame)


@cache
def card() -> InstrumentalVariablesResult:
    """Card (1995): log wage on education, instrumented by growing up near a four-year college, no controls."""
    return run(card_frame(), outcome="lwage", treatment="educ", instruments=["nearc4"])


@cache
def card_adjusted() -> InstrumentalVariablesResult:
    """The same with Wooldridge's Example 15.4 controls (14 covariates)."""
    return run(card_frame(), outcome="lwage", treatment="educ", instruments=["nearc4"], covariates=CARD_COVARIATES)


@cache
def mroz() -> InstrumentalVariablesResult:
    """Mroz: log wage on education instrumented by father's education (Wooldridge, Example 15.1)."""
    return run(mroz_frame(), outcome="lwage", treatment="educ", instruments=["fatheduc"])


@cache
def mroz_overid() -> InstrumentalVariablesResult:
    """Two instruments (father's and mother's education) with experience and its square."""
    case = REFERENCE["mroz_overid"]
    return run(
        mroz_frame(),
        outcome="lwage",
        treatment="educ",
        instruments=case["instruments"],
        covariates=case["covariates"],
    )


def weak_frame(seed: int, binary: bool) -> pd.DataFrame:
    """A weak instrument: a continuous one with first-stage slope 0.03 and an endogenous treatment, or a 0/1 invite
    that raises a 0/1 take-up by one point; the true effect is 0.5 (continuous) or 1.0 (binary)."""
    rng = np.random.default_rng(seed)
    if binary:
        n = 2_000
        z = rng.integers(0, 2, n).astype(float)
        d = (rng.random(n) < 0.2 + 0.01 * z).astype(float)
        y = 1.0 * d + rng.normal(size=n)
    else:
        n = 400
        z = rng.normal(size=n)
        v = rng.normal(size=n)
        d = 0.03 * z + v
        y = 0.5 * d + 0.8 * v + 0.6 * rng.normal(size=n)
    return pd.DataFrame({"y": y, "d": d, "z": z})


@cache
def weak(seed: int = 2, binary: bool = False) -> InstrumentalVariablesResult:
    return run(weak_frame(seed, binary), outcome="y", treatment="d", instruments=["z"])


def footer(canvas: Any) -> str:
    """The text under both panels: the 2SLS ratio with its interval, and the Anderson-Rubin set."""
    return str(canvas._supxlabel.get_text())


def points(axes: Any) -> list[tuple[float, float]]:
    (scatter,) = axes.collections[:1]
    return [(float(x), float(y)) for x, y in scatter.get_offsets()]


def written(axes: Any) -> list[str]:
    """The texts on a panel (the gap arrows are annotations without text)."""
    return [t.get_text().strip() for t in axes.texts if t.get_text()]


def fitted(axes: Any) -> Any:
    (line,) = [line for line in axes.get_lines() if str(line.get_label()).startswith("slope")]
    return line


def slope_of(line: Any) -> float:
    (x0, x1), (y0, y1) = line.get_xdata(), line.get_ydata()
    return float((y1 - y0) / (x1 - x0))


def least_squares(y: pd.Series, *columns: Any) -> NDArray[np.float64]:
    """Coefficients of ``y`` on a constant and ``columns`` (numpy's least squares)."""
    design = np.column_stack([np.ones(len(y)), *columns])
    solution = np.linalg.lstsq(design, np.asarray(y, dtype=float), rcond=None)
    return np.asarray(solution[0], dtype=np.float64)


def arm_means(frame: pd.DataFrame, column: str, by: str) -> tuple[float, float]:
    """The mean of ``column`` where the 0/1 column ``by`` is 0, and where it is 1 (pandas)."""
    means = frame.groupby(by)[column].mean()
    assert list(means.index) == [0, 1]
    low, high = means.to_numpy(dtype=float)
    return float(low), float(high)


def test_the_figure_is_declared_and_drawn_in_both_tables() -> None:
    from assistant.tui.widgets import plot
    from tools.iv import report

    assert plot.WEAK_F == report.WEAK_F  # the figure calls weak what the tool's check calls weak
    assert InstrumentalVariablesResult.figure == "instrumental_variables"
    assert InstrumentalVariablesResult.plot_fields == ("bins",)
    assert "instrumental_variables" in FIGURES and "instrumental_variables" in DRAWERS


# --- the Anderson-Rubin set in words ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "pieces", "text"),
    [
        ("bounded", [(0.028, 0.281)], "[0.028, 0.281]"),
        ("unbounded", [(None, None)], "(-inf, +inf) (unbounded)"),
        ("unbounded", [(0.3, None)], "[0.3, +inf) (unbounded)"),
        ("union", [(None, 0.3), (1.2, None)], "(-inf, 0.3] \N{UNION} [1.2, +inf) (unbounded)"),
        ("union", [(-2.0, -1.0), (1.0, 2.0)], "[-2, -1] \N{UNION} [1, 2]"),
        ("empty", [], "empty (no value fits: the instruments disagree)"),
    ],
)
def test_the_ar_set_is_written_as_found_infinite_ends_as_infinite(
    kind: Any, pieces: list[tuple[float | None, float | None]], text: str
) -> None:
    intervals = [ARInterval(lower=a, upper=b) for a, b in pieces]
    ar = AndersonRubin(
        kind=kind,
        intervals=intervals,
        ci_lower=intervals[0].lower if intervals else None,
        ci_upper=intervals[-1].upper if intervals else None,
        statistic=1.0,
        df_num=1,
        df_denom=100,
        p_value=0.3,
        alpha=0.05,
    )
    assert ar_set_text(ar) == text


# --- the PNG: the Wald picture --------------------------------------------------------------------------------------


def test_the_wald_picture_shows_the_arms_means_and_their_gaps_whose_ratio_is_the_estimate(tmp_path: Path) -> None:
    """Without covariates and with a two-valued instrument, 2SLS is Wald's ratio of the gaps in group means."""
    result = card()
    frame = card_frame()
    educ, lwage = arm_means(frame, "educ", "nearc4"), arm_means(frame, "lwage", "nearc4")
    gap_educ, gap_lwage = educ[1] - educ[0], lwage[1] - lwage[0]
    np.testing.assert_allclose(result.effect.estimate, gap_lwage / gap_educ, rtol=1e-10)  # Wald (1940)
    picture = iv_picture(result)
    assert picture is not None and picture.wald
    np.testing.assert_allclose(picture.gaps(result), (gap_educ, gap_lwage), rtol=1e-10)
    with drawn("instrumental_variables", result) as canvas:
        first, reduced = canvas.get_axes()
        np.testing.assert_allclose(points(first), [(0, educ[0]), (1, educ[1])], rtol=1e-12)
        np.testing.assert_allclose(points(reduced), [(0, lwage[0]), (1, lwage[1])], rtol=1e-12)
        assert f"gap {gap_educ:+.4g}" in first.get_title() and "F = 60.37" in first.get_title()
        assert f"gap {gap_lwage:+.4g}" in reduced.get_title() and "intention to treat" in reduced.get_title()
        assert written(first) == [f"raw gap {gap_educ:+.4g}"]
        assert written(reduced) == [f"raw gap {gap_lwage:+.4g}"]
        assert [tick.get_text() for tick in first.get_xticklabels()] == ["0\n(957 rows)", "1\n(2,053 rows)"]
        assert first.get_xlabel() == "nearc4"
        text = footer(canvas)
        assert f"= {gap_lwage:.4g} / {gap_educ:.4g} = {gap_lwage / gap_educ:.4g}, 95% CI" in text
        ar = result.anderson_rubin
        assert ar.kind == "bounded" and f"Anderson-Rubin 95% set: [{ar.ci_lower:.4g}, {ar.ci_upper:.4g}]" in text
    width, height = as_png(save_figure(result, tmp_path / "card.png", title="instrumental_variables"))
    assert width > 1000 and height > 500


def test_with_covariates_the_titles_give_the_adjusted_gaps_and_the_arrows_the_raw_ones() -> None:
    """Wooldridge's Example 15.4: 0.1315; the first-stage coefficient as linearmodels' IV2SLS reports it."""
    result = card_adjusted()
    reference = REFERENCE["card_nearc4"]["robust"]
    coefficient = reference["first_stage_coefficients"][0]
    np.testing.assert_allclose(result.effect.estimate, reference["estimate"], rtol=1e-9)
    assert f"{result.effect.estimate:.4g}" == "0.1315"
    frame = card_frame()
    controls = frame[CARD_COVARIATES].to_numpy(dtype=float)
    itt = least_squares(frame["lwage"], frame["nearc4"], controls)[1]  # the reduced form, by least squares
    with drawn("instrumental_variables", result) as canvas:
        first, reduced = canvas.get_axes()
        assert f"gap {coefficient:+.4g}\nadjusted for 14 covariates\n" in first.get_title()
        assert reduced.get_title().endswith(f"lwage by arm: gap {itt:+.4g}\nadjusted for 14 covariates")
        raw = arm_means(frame, "educ", "nearc4")
        assert written(first) == [f"raw gap {raw[1] - raw[0]:+.4g}"]
        assert f"= {itt:.4g} / {coefficient:.4g} = 0.1315, 95% CI" in footer(canvas)


def test_a_binary_treatment_reads_as_take_up_and_the_late() -> None:
    result = weak(seed=5, binary=True)
    assert result.estimand == "LATE" and result.complier_share is not None
    frame = weak_frame(5, binary=True)
    takeup = arm_means(frame, "d", "z")
    np.testing.assert_allclose(result.complier_share.estimate, takeup[1] - takeup[0], rtol=1e-10)
    with drawn("instrumental_variables", result) as canvas:
        first, _ = canvas.get_axes()
        assert f"take-up gap (complier share) {takeup[1] - takeup[0]:+.4g}" in first.get_title()
        assert first.get_ylabel() == "take-up (share with d = 1)"
        assert footer(canvas).startswith("LATE (2SLS) = reduced form / first stage")


# --- the PNG: first stage beside reduced form -----------------------------------------------------------------------


def test_the_slopes_are_the_first_stage_and_reduced_form_and_their_ratio_the_estimate(tmp_path: Path) -> None:
    """Mroz, fatheduc: the lines are the row-level least-squares fits (no covariates: through the rows' means), and
    their ratio is Wooldridge's 0.0592."""
    result = mroz()
    frame = mroz_frame()
    first_fit = least_squares(frame["educ"], frame["fatheduc"])
    reduced_fit = least_squares(frame["lwage"], frame["fatheduc"])
    np.testing.assert_allclose(result.effect.estimate, 0.0592, atol=5e-5)  # Wooldridge, Example 15.1
    np.testing.assert_allclose(reduced_fit[1] / first_fit[1], result.effect.estimate, rtol=1e-9)
    with drawn("instrumental_variables", result) as canvas:
        first, reduced = canvas.get_axes()
        assert len(canvas.get_axes()) == 2
        for axes, fit in ((first, first_fit), (reduced, reduced_fit)):
            line = fitted(axes)
            np.testing.assert_allclose(slope_of(line), fit[1], rtol=1e-9)
            np.testing.assert_allclose(line.get_ydata(), fit[0] + fit[1] * np.asarray(line.get_xdata()), rtol=1e-9)
            assert axes.get_xlabel() == "fatheduc"
        xs = [b.instrument_value for b in result.bins]
        assert list(fitted(first).get_xdata()) == [min(xs), max(xs)]
        assert points(first) == [(b.instrument_value, b.treatment_mean) for b in result.bins]
        assert points(reduced) == [(b.instrument_value, b.outcome_mean) for b in result.bins]
        assert sum(b.n for b in result.bins) == len(frame) == 428
        assert f"slope {first_fit[1]:.4g}; first-stage F = 87.12" in first.get_title()
        assert f"slope {reduced_fit[1]:.4g}" in reduced.get_title()
        assert "weak" not in first.get_title()
        text = footer(canvas)
        assert f"= {reduced_fit[1]:.4g} / {first_fit[1]:.4g} = 0.05917, 95% CI [" in text
        ar = result.anderson_rubin
        assert f"Anderson-Rubin 95% set: [{ar.ci_lower:.4g}, {ar.ci_upper:.4g}]" in text
    assert has_figure(result)
    width, height = as_png(save_figure(result, tmp_path / "mroz.png"))
    assert width > 1000 and height > 500


def test_several_instruments_are_drawn_against_their_combined_first_stage_fit() -> None:
    """With the instruments combined by their first-stage coefficients, the first-stage slope is 1 and the reduced
    form's is the 2SLS estimate (linearmodels' IV2SLS on the same data), both after the covariates."""
    result = mroz_overid()
    case = REFERENCE["mroz_overid"]
    frame = mroz_frame()
    controls = frame[case["covariates"]].to_numpy(dtype=float)
    instruments = frame[case["instruments"]].to_numpy(dtype=float)
    first_stage = least_squares(frame["educ"], instruments, controls)[1:3]
    combined = instruments @ first_stage
    assert least_squares(frame["educ"], combined, controls)[1] == pytest.approx(1.0, rel=1e-9)
    reduced = least_squares(frame["lwage"], combined, controls)[1]
    np.testing.assert_allclose(reduced, case["robust"]["estimate"], rtol=1e-9)
    with drawn("instrumental_variables", result) as canvas:
        first, second = canvas.get_axes()
        np.testing.assert_allclose(slope_of(fitted(first)), 1.0, rtol=1e-12)
        np.testing.assert_allclose(slope_of(fitted(second)), reduced, rtol=1e-9)
        assert first.get_xlabel() == "combined instrument (the first-stage fit of the instruments)"
        assert "adjusted for 2 covariates" in str(fitted(first).get_label())
        assert f"= {reduced:.4g} / 1 = {reduced:.4g}" in footer(canvas)


# --- the PNG: weak instruments -------------------------------------------------------------------------------------


def test_a_weak_instrument_says_so_and_never_draws_a_finite_ar_interval(tmp_path: Path) -> None:
    result = weak()
    ar = result.anderson_rubin
    assert result.first_stage.f_statistic < 1 and ar.kind == "unbounded"
    assert ar.ci_lower is None and ar.ci_upper is None
    with drawn("instrumental_variables", result) as canvas:
        first, reduced = canvas.get_axes()
        assert f"first-stage F = {result.first_stage.f_statistic:.4g} (weak: below 10)" in first.get_title()
        ar_line = footer(canvas).split("\n")[1]
        assert ar_line == (
            "Anderson-Rubin 95% set: (-inf, +inf) (unbounded) — the interval to trust: the instrument is weak"
        )
        assert NUMBER.findall(ar_line.replace("95%", "")) == []  # no finite end written
        for axes in (first, reduced):  # the bins and the slope, nothing else: no band, span or bar for the set
            assert [str(line.get_label()) for line in axes.get_lines()] == [str(fitted(axes).get_label())]
            assert len(axes.collections) == 1 and list(axes.patches) == [] and list(axes.texts) == []
    save_figure(result, tmp_path / "weak.png")


def test_a_union_set_is_written_as_two_half_lines() -> None:
    result = weak(seed=5, binary=True)
    ar = result.anderson_rubin
    assert ar.kind == "union" and [p.lower is None for p in ar.intervals] == [True, False]
    lower, upper = ar.intervals[0].upper, ar.intervals[1].lower
    assert lower is not None and upper is not None
    with drawn("instrumental_variables", result) as canvas:
        assert f"set: (-inf, {lower:.4g}] \N{UNION} [{upper:.4g}, +inf) (unbounded)" in footer(canvas)
        assert "weak: below 10" in canvas.get_axes()[0].get_title()


def test_column_names_are_drawn_literally(tmp_path: Path) -> None:
    frame = mroz_frame().rename(columns={"lwage": "log $ wage", "fatheduc": "dad_$educ$"})
    result = run(frame, outcome="log $ wage", treatment="educ", instruments=["dad_$educ$"])
    with drawn("instrumental_variables", result) as canvas:
        assert canvas.get_axes()[0].get_xlabel() == r"dad_\$educ\$"
    save_figure(result, tmp_path / "dollars.png")  # no mathtext error


# --- no plot data ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kept", [0, 1])
def test_a_result_without_bins_says_so_and_draws_nothing(kept: int, tmp_path: Path) -> None:
    result = mroz()
    shown = json.loads(condense(result, 1_200))  # what the model reads: the plot data replaced by a note
    assert shown.get("bins", PLOT_NOTE) == PLOT_NOTE
    stripped = result.model_copy(update={"bins": result.bins[:kept]})
    assert iv_picture(stripped) is None and not has_figure(stripped)
    with pytest.raises(FigureError, match="no plot data for its instrumental_variables figure"):
        save_figure(stripped, tmp_path / "none.png")
    assert list(tmp_path.iterdir()) == []
    assert plot_result(stripped) == [NO_IV_BINS]


# --- the app card's text plot ----------------------------------------------------------------------------------


def grids(lines: list[str]) -> list[list[str]]:
    """The card's grids (first stage, reduced form), each as its rows after the y axis."""
    found: list[list[str]] = []
    for index, line in enumerate(lines):
        if "┤" in line:
            if index == 0 or "┤" not in lines[index - 1]:
                found.append([])
            found[-1].append(line.split("┤", 1)[1])
    return found


def test_the_wald_card_lists_the_arms_means_gaps_and_ratio() -> None:
    result = card()
    frame = card_frame()
    lines = plot_result(result)
    assert lines[0] == "Wald picture: raw means by arm"
    assert lines[1].split() == ["nearc4", "0", "1", "gap"]
    for line, column in zip(lines[2:4], ("educ", "lwage"), strict=True):
        low, high = arm_means(frame, column, "nearc4")
        assert line.split() == [column, f"{low:.4g}", f"{high:.4g}", f"{high - low:+.4g}"]
    educ, lwage = arm_means(frame, "educ", "nearc4"), arm_means(frame, "lwage", "nearc4")
    gap_educ, gap_lwage = educ[1] - educ[0], lwage[1] - lwage[0]
    assert lines[4] == f"IV = {gap_lwage:.4g} / {gap_educ:.4g} = {result.effect.estimate:.4g}"
    assert lines[5].startswith("95% CI [") and lines[5].endswith("; F 60.37")
    assert lines[6] == f"AR 95% set [{result.anderson_rubin.ci_lower:.4g}, {result.anderson_rubin.ci_upper:.4g}]"


def test_the_adjusted_wald_card_says_whose_gaps_the_ratio_divides() -> None:
    lines = plot_result(card_adjusted())
    coefficient = REFERENCE["card_nearc4"]["robust"]["first_stage_coefficients"][0]
    assert lines[4].startswith("IV = ") and lines[4].endswith(f" / {coefficient:.4g} = 0.1315")
    assert lines[5] == "(gaps adjusted for 14 covariates)"


def test_the_slope_card_draws_the_first_stage_above_the_reduced_form() -> None:
    result = mroz()
    lines = plot_result(result)
    frame = mroz_frame()
    first_slope = least_squares(frame["educ"], frame["fatheduc"])[1]
    reduced_slope = least_squares(frame["lwage"], frame["fatheduc"])[1]
    assert lines[0] == f"first stage ● mean educ · slope {first_slope:.4g}"
    top, bottom = grids(lines)
    # 41 characters with "mean": the word goes, the name and the number stay
    assert lines[1 + len(top)] == f"reduced form ● lwage · slope {reduced_slope:.4g}"
    for grid in (top, bottom):  # both slopes are positive: the line rises from left to right
        line = sorted((column, r) for r, row in enumerate(grid) for column, cell in enumerate(row) if cell == "·")
        assert line[0][1] > line[-1][1] and line[-1][0] - line[0][0] >= len(grid[0]) - 3
        assert sum(row.count("●") for row in grid) >= len(result.bins) - 2  # bins may share a cell
    assert {line.index("┤") for line in lines if "┤" in line} == {lines[1].index("┤")}  # one y axis column
    axis = lines[2 + len(top) + len(bottom)]
    assert axis.split() == ["0", "fatheduc", f"{result.bins[-1].instrument_value:.3g}"]
    assert lines[-3:] == [
        f"IV = {reduced_slope:.4g} / {first_slope:.4g} = 0.05917",
        f"95% CI [{result.effect.ci_lower:.4g}, {result.effect.ci_upper:.4g}]; F 87.12",
        f"AR 95% set [{result.anderson_rubin.ci_lower:.4g}, {result.anderson_rubin.ci_upper:.4g}]",
    ]


def test_the_weak_card_writes_the_unbounded_set_and_flags_the_f() -> None:
    lines = plot_result(weak())
    assert lines[-2].endswith(f"F {weak().first_stage.f_statistic:.4g} weak")
    assert lines[-1] == "AR 95% set (-inf, +inf) (unbounded)"
    union = plot_result(weak(seed=5, binary=True))
    assert " ".join(union[-2:]).startswith("AR 95% set (-inf, ")
    assert "] \N{UNION} [" in " ".join(union[-2:]) and " ".join(union[-2:]).endswith("+inf) (unbounded)")


@pytest.mark.parametrize("make", [card, card_adjusted, mroz, mroz_overid, weak])
def test_the_card_plot_fits_an_80x24_screen_and_the_narrow_panel(make: Any) -> None:
    lines = plot_result(make())
    assert max(len(line) for line in lines) <= min(IV_CHARS, NARROW_CARD)
    assert len(lines) <= 16  # the chat is 19 rows high at 80x24: the plot and the card's title fit


def test_long_names_shorten_the_name_never_the_number() -> None:
    frame = mroz_frame().rename(columns={"lwage": "log_hourly_wage_in_1975_dollars"})
    lines = plot_result(
        run(frame, outcome="log_hourly_wage_in_1975_dollars", treatment="educ", instruments=["fatheduc"])
    )
    title = next(line for line in lines if line.startswith("reduced form"))
    assert title.endswith(f"· slope {mroz().reduced_form.estimate:.4g}")  # type: ignore[union-attr]
    assert "…" in title and len(title) <= IV_CHARS


@pytest.mark.parametrize(("size", "panel_open"), [((80, 24), False), ((80, 24), True)])
async def test_the_card_shows_the_plot_unwrapped_at_80x24(size: tuple[int, int], panel_open: bool) -> None:
    from tests.assistant.card_probe import assert_plot_unwrapped

    await assert_plot_unwrapped(mroz(), "instrumental_variables", size, panel_open)
