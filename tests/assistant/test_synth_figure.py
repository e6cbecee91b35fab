"""synthetic_control's figure: the PNG (treated against synthetic with the start marked, and the gap plot over the
placebo donors' gaps in light grey; the interrupted time series against its projected trend) and the app card's
text plot, drawn from real results on the bundled market example and ADH's Proposition 99 panel."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from matplotlib.colors import to_rgb

from assistant.agent.condense import PLOT_NOTE, condense
from assistant.figures import (
    FIGURES,
    PLACEBO_LINES,
    PLACEBO_MSPE_RATIO,
    FigureError,
    has_figure,
    placebo_paths,
    save_figure,
)
from assistant.tui.widgets.plot import DRAWERS, NO_TRAJECTORY, TRAJECTORY_CHARS, plot_result
from tests.assistant.card_probe import NARROW_CARD
from tests.assistant.figure_probe import as_png, drawn
from tools.synth.models import PlaceboGap, SyntheticControlRequest, SyntheticControlResult, TrajectoryPoint
from tools.synth.tool import synthetic_control

ROOT = Path(__file__).resolve().parents[2]
MARKETS = ROOT / "examples" / "data" / "market_launch.csv"
PROP99 = ROOT / "tests" / "fixtures" / "synth" / "california_prop99.csv"
#: The card's text width in an 80x24 terminal with the side panel open (F2), measured in the app below.


@cache
def market() -> SyntheticControlResult:
    """The bundled example: market_07 gets the assistant from week 41; synthetic DiD with placebo inference."""
    request = SyntheticControlRequest(
        dataset="markets", outcome="orders_per_1k_users", unit="market", time="week", treatment="assistant_live"
    )
    return synthetic_control(request, pd.read_csv(MARKETS))


@cache
def prop99() -> SyntheticControlResult:
    """California's Proposition 99 (1989), ADH's synthetic control."""
    request = SyntheticControlRequest(
        dataset="prop99",
        outcome="PacksPerCapita",
        unit="State",
        time="Year",
        treatment="treated",
        estimator="synthetic_control",
    )
    return synthetic_control(request, pd.read_csv(PROP99, sep=";"))


@cache
def its() -> SyntheticControlResult:
    """The treated market's own series against its projected pre-period trend (no unit column, no donors)."""
    frame = pd.read_csv(MARKETS)
    one = frame[frame["market"] == "market_07"].drop(columns="market")
    request = SyntheticControlRequest(
        dataset="one",
        outcome="orders_per_1k_users",
        time="week",
        treatment="assistant_live",
        estimator="interrupted_time_series",
    )
    return synthetic_control(request, one)


def is_grey(line: Any) -> bool:
    red, green, blue = to_rgb(line.get_color())
    return red == green == blue


def start_lines(axes: Any) -> list[Any]:
    return [line for line in axes.get_lines() if str(line.get_label()).startswith("start")]


def placebo_lines(axes: Any) -> list[Any]:
    """The light grey paths (the zero line is a darker grey and flat)."""
    return [line for line in axes.get_lines() if is_grey(line) and to_rgb(line.get_color())[0] >= 0.7]


def position_of(result: SyntheticControlResult, period: int | str) -> int:
    return [p.period for p in result.trajectory].index(period)


def test_the_figure_is_declared_and_drawn_in_both_tables() -> None:
    assert SyntheticControlResult.figure == "synthetic_control"
    assert "synthetic_control" in FIGURES and "synthetic_control" in DRAWERS


# --- the PNG ------------------------------------------------------------------------------------------------------


def test_the_png_draws_treated_against_synthetic_and_the_gap_over_grey_placebos(tmp_path: Path) -> None:
    result = market()
    start = position_of(result, 41)  # market_07 gets the change in week 41: the 41st of weeks 1..60
    assert start == 40 and result.treatment_start == 41
    with drawn("synthetic_control", result) as canvas:
        paths, gap = canvas.get_axes()
        assert len(canvas.get_axes()) == 2
        lines = {str(line.get_label()): line for line in paths.get_lines()}
        assert list(lines["treated"].get_ydata()) == [p.observed for p in result.trajectory]
        assert list(lines["synthetic"].get_ydata()) == [p.synthetic for p in result.trajectory]
        for axes in (paths, gap):  # the start marked on both panels, at week 41
            (marker,) = start_lines(axes)
            assert list(marker.get_xdata()) == [start, start]
            assert axes.xaxis.get_major_formatter()(start, 0) == "41"
        greys = placebo_lines(gap)
        assert len(greys) == len(result.placebo_gaps) == result.n_donors == 29  # every donor fits well enough
        treated = next(line for line in gap.get_lines() if line.get_label() == "treated")
        assert list(treated.get_ydata()) == [p.gap for p in result.trajectory]
        assert to_rgb(treated.get_color()) == (0.0, 0.0, 0.0)
        assert all(treated.get_linewidth() >= 2 * grey.get_linewidth() for grey in greys)
        assert all(treated.get_zorder() > grey.get_zorder() for grey in greys)
        assert [list(g.get_ydata()) for g in greys] == [p.gaps for p in result.placebo_gaps]
        assert f"{result.placebo.p_value:.3g}" in gap.get_title()  # type: ignore[union-attr]
    assert has_figure(result)
    width, height = as_png(save_figure(result, tmp_path / "synth.png", title="synthetic_control"))
    assert width > 1000 and height > 400  # two panels side by side
    assert (tmp_path / "synth.png").stat().st_size > 20_000


def test_prop99_gap_plot_keeps_the_34_placebo_states_of_adh_figure_6() -> None:
    """Abadie, Diamond & Hainmueller (2010), Figure 6: California's gap against 34 of the 38 control states, the
    ones whose pre-1989 MSPE is at most twenty times California's."""
    result = prop99()
    assert len(result.placebo_gaps) == 38
    with drawn("synthetic_control", result) as canvas:
        paths, gap = canvas.get_axes()
        assert len(placebo_lines(gap)) == 34
        (marker,) = start_lines(paths)
        assert list(marker.get_xdata()) == [19, 19] and paths.xaxis.get_major_formatter()(19, 0) == "1989"
        assert "placebos left out: 4 with a pre-period MSPE over 20x the treated's" in [t.get_text() for t in gap.texts]


def test_placebo_paths_follow_the_mspe_cut_and_are_capped() -> None:
    base = market()
    n = len(base.trajectory)
    r = base.pre_rmspe
    cut = PLACEBO_MSPE_RATIO**0.5 * r  # a pre-period RMSPE of sqrt(20) times the treated's is 20 times its MSPE

    def placebo(name: str, rmspe: float, length: int = n, level: float = 0.0) -> PlaceboGap:
        return PlaceboGap(unit=name, gaps=[level] * length, pre_rmspe=rmspe)

    good = [placebo(f"good{i:03d}", r * (1 + i / 200), level=float(i)) for i in range(PLACEBO_LINES + 50)]
    poor = [placebo("just_in", cut * 0.99), placebo("just_out", cut * 1.01), placebo("far_out", 30 * r)]
    short = [placebo("short", r, length=n - 1)]
    result = base.model_copy(update={"placebo_gaps": [*poor[:1], *good, *poor[1:], *short]})
    paths, note = placebo_paths(result)
    assert len(paths) == PLACEBO_LINES  # the first 100 kept, in the result's order (best pre-period fit first)
    assert paths[0] == [0.0] * n and paths[1:] == [[float(i)] * n for i in range(PLACEBO_LINES - 1)]
    assert note == (
        "placebos left out: 2 with a pre-period MSPE over 20x the treated's; 51 beyond the 100 best pre-period fits; "
        "1 not matching the periods"
    )
    with drawn("synthetic_control", result) as canvas:
        gap = canvas.get_axes()[1]
        assert len(placebo_lines(gap)) == PLACEBO_LINES
        assert all(to_rgb(line.get_color())[0] >= 0.7 for line in placebo_lines(gap))  # light grey, not black
        assert note in [t.get_text() for t in gap.texts]


def test_a_perfect_pre_period_fit_does_not_hide_every_placebo() -> None:
    base = market()
    n = len(base.trajectory)
    result = base.model_copy(
        update={"pre_rmspe": 0.0, "placebo_gaps": [PlaceboGap(unit="d", gaps=[1.0] * n, pre_rmspe=5.0)]}
    )
    assert placebo_paths(result) == ([[1.0] * n], "")


def test_the_its_draws_one_panel_observed_against_its_projected_trend(tmp_path: Path) -> None:
    result = its()
    assert result.estimator == "interrupted_time_series" and result.placebo_gaps == []
    with drawn("synthetic_control", result) as canvas:
        (axes,) = canvas.get_axes()  # no gap panel, no placebos
        assert tuple(canvas.get_size_inches()) == (8, 4.8)
        lines = {str(line.get_label()): line for line in axes.get_lines()}
        assert set(lines) == {"observed", "projected pre-period trend", "start (41)"}
        assert list(lines["projected pre-period trend"].get_ydata()) == [p.synthetic for p in result.trajectory]
        assert list(lines["start (41)"].get_xdata()) == [40, 40]
        assert placebo_lines(axes) == []
        assert axes.get_title().startswith("Interrupted time series")
    width, height = as_png(save_figure(result, tmp_path / "its.png"))
    assert 500 < width < 1000 and height > 300


def test_a_result_without_placebo_gaps_draws_the_treated_gap_alone() -> None:
    result = market().model_copy(update={"placebo_gaps": [], "placebo": None})
    with drawn("synthetic_control", result) as canvas:
        gap = canvas.get_axes()[1]
        assert placebo_lines(gap) == []
        assert [line.get_label() for line in gap.get_lines() if line.get_label() == "treated"] == ["treated"]
        assert "no placebo gaps to draw" in [t.get_text() for t in gap.texts]


def test_a_result_whose_plot_data_were_left_out_says_so_and_draws_nothing(tmp_path: Path) -> None:
    result = market()
    shown = json.loads(condense(result, 3_000))  # what the model reads: the plot fields replaced by a note
    assert shown["trajectory"] == PLOT_NOTE and shown["placebo_gaps"] == PLOT_NOTE
    stripped = result.model_copy(update={"trajectory": [], "placebo_gaps": []})
    assert not has_figure(stripped)
    with pytest.raises(FigureError, match="no plot data for its synthetic_control figure"):
        save_figure(stripped, tmp_path / "none.png")
    assert list(tmp_path.iterdir()) == []
    assert plot_result(stripped) == [NO_TRAJECTORY]


# --- the app card's text plot ----------------------------------------------------------------------------------


def grid_of(lines: list[str]) -> list[str]:
    """The plot's grid rows, from just after the y axis."""
    return [line.split("┤", 1)[1] for line in lines if "┤" in line]


def test_the_card_plot_marks_the_start_and_the_jump_after_it() -> None:
    weeks = [f"2025-W{w:02d}" for w in range(1, 13)]
    trajectory = [
        TrajectoryPoint(period=w, post=i >= 5, observed=20.0 if i >= 5 else 10.0, synthetic=10.0, gap=0.0)
        for i, w in enumerate(weeks)
    ]
    result = market().model_copy(update={"trajectory": trajectory, "treatment_start": "2025-W06"})
    lines = plot_result(result)
    assert lines[0] == "treated ● against synthetic ·"
    assert lines[-1] == "│ the change starts at 2025-W06"
    grid = grid_of(lines)
    top, bottom = grid[0], grid[-1]
    start = next(row.index("│") for row in grid if "│" in row)
    assert all(row[start] in "│●·" for row in grid)  # one vertical line (points drawn over it)
    assert top.index("●") == start and set(top[start:].replace(" ", "")) == {"●"}  # the treated jump from the start on
    assert "●" not in top[:start] and "●" not in bottom[start + 1 :]
    assert set(bottom) <= {"·", "●", "│"} and "·" in bottom[start + 1 :]  # the synthetic line across every column
    axis = lines[-2]
    assert axis.split() == ["2025-W01", "2025-W06", "2025-W12"]
    assert axis.index("2025-W06") == lines[1].index("┤") + 1 + start  # the start's period under its line


@pytest.mark.parametrize(("make", "title"), [(market, "treated ●"), (prop99, "treated ●"), (its, "observed ●")])
def test_the_card_plot_fits_an_80x24_screen_and_the_narrow_panel(make: Any, title: str) -> None:
    result = make()
    lines = plot_result(result)
    assert lines[0].startswith(title)
    assert max(len(line) for line in lines) <= min(TRAJECTORY_CHARS, NARROW_CARD)
    assert len(lines) <= 14  # the chat is 19 rows high at 80x24: the plot and the card's title fit
    assert lines[-1] == f"│ the change starts at {result.treatment_start}"
    assert sum("●" in row for row in grid_of(lines)) >= 5


def test_long_y_labels_narrow_the_grid_instead_of_wrapping() -> None:
    base = market()
    trajectory = [
        p.model_copy(update={"observed": p.observed * 1e7, "synthetic": p.synthetic * 1e7}) for p in base.trajectory
    ]
    lines = plot_result(base.model_copy(update={"trajectory": trajectory}))
    assert "e+08" in lines[1]
    assert max(len(line) for line in lines) <= TRAJECTORY_CHARS


@pytest.mark.parametrize(("size", "panel_open"), [((80, 24), False), ((80, 24), True)])
async def test_the_card_shows_the_plot_unwrapped_at_80x24(size: tuple[int, int], panel_open: bool) -> None:
    from tests.assistant.card_probe import assert_plot_unwrapped

    await assert_plot_unwrapped(prop99(), "synthetic_control", size, panel_open)
