"""heterogeneity's figure: the PNG (the effect in each fifth of units ranked by predicted effect, GATES, with its
interval beside lines at the average effect and at zero, the BLP test in the title; the Qini curve against random
targeting) and the app card's text plot (the test, the fifths as bars with their numbers, what targeting
recommends, the Qini coefficient), drawn from real results: the bundled onboarding tour example and two seeded
simulations, one with a constant effect and one whose effect changes sign with a modifier."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from assistant.agent.condense import PLOT_NOTE, condense
from assistant.agent.provenance import unverified_numbers
from assistant.figures import FIGURES, FigureError, has_figure, save_figure
from assistant.tui.widgets.plot import (
    DRAWERS,
    GATES_BAR,
    GATES_BAR_MIN,
    HETEROGENEITY_CHARS,
    gates_bars,
    plot_result,
)
from tests.assistant.card_probe import NARROW_CARD
from tests.assistant.figure_probe import as_png, drawn
from tests.assistant.real_results import real_result
from tools.heterogeneity.models import HeterogeneityRequest, HeterogeneityResult
from tools.heterogeneity.tool import heterogeneity

#: The card's text width in an 80x24 terminal with the side panel open (F2), as measured for synthetic control.
#: A GATES row of the card: group, bar, estimate, interval.
ROW = re.compile(r"^(\d) (.*?) *(\S+) \[(\S+), (\S+)\]$")


@cache
def onboarding() -> HeterogeneityResult:
    """The bundled example: does the onboarding tour add active minutes, and for whom (by plan, tenure, usage)."""
    result = real_result("heterogeneity")
    assert isinstance(result, HeterogeneityResult)
    return result


def simulated(kind: str, seed: int = 1, n: int = 2_000) -> pd.DataFrame:
    """A randomized 0/1 treatment whose effect is 2 for everyone ("flat"), or 6 where x > 0.5 and -4 below
    ("split"): there, treating the top share by predicted effect beats treating everyone."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, n)
    t = rng.integers(0, 2, n)
    effect = np.full(n, 2.0) if kind == "flat" else np.where(x > 0.5, 6.0, -4.0)
    y = 3 * x + effect * t + rng.normal(size=n)
    return pd.DataFrame({"y": y, "t": t, "x": x, "g": rng.choice(["a", "b"], n)})


@cache
def run(kind: str) -> HeterogeneityResult:
    request = HeterogeneityRequest(
        dataset="simulated", outcome="y", treatment="t", effect_modifiers=["x", "g"], repetitions=3
    )
    return heterogeneity(request, simulated(kind))


def line(axes: Any, label: str) -> Any:
    (found,) = [item for item in axes.get_lines() if str(item.get_label()).startswith(label)]
    return found


def level_of(axes: Any, gid: str) -> float:
    """The y of a horizontal line drawn with ``gid``."""
    (found,) = [item for item in axes.get_lines() if item.get_gid() == gid]
    (y0, y1) = found.get_ydata()
    assert y0 == y1
    return float(y0)


def test_the_figure_is_declared_and_drawn_in_both_tables() -> None:
    assert HeterogeneityResult.figure == "heterogeneity"
    assert HeterogeneityResult.plot_fields == ("qini_curve",)
    assert "heterogeneity" in FIGURES and "heterogeneity" in DRAWERS


def test_the_simulations_are_what_they_claim() -> None:
    flat, split = run("flat"), run("split")
    assert not flat.heterogeneity_found and flat.recommended_share is None
    np.testing.assert_allclose(flat.effect.estimate, 2.0, atol=0.2)
    assert split.heterogeneity_found and split.recommended_share is not None
    np.testing.assert_allclose([g.estimate for g in split.gates[:2]], [-4, -4], atol=0.5)
    np.testing.assert_allclose([g.estimate for g in split.gates[-2:]], [6, 6], atol=0.5)


# --- the PNG --------------------------------------------------------------------------------------------------------


def test_the_png_draws_the_gates_with_their_intervals_beside_the_qini_curve(tmp_path: Path) -> None:
    result = onboarding()
    gates = result.gates
    assert [g.group for g in gates] == [1, 2, 3, 4, 5]
    with drawn("heterogeneity", result) as canvas:
        left, right = canvas.get_axes()
        assert len(canvas.get_axes()) == 2
        (bars,) = left.containers  # the error bars: the points, and one vertical segment per fifth
        points, _caps, (segments,) = bars.lines
        assert list(points.get_xdata()) == [1, 2, 3, 4, 5]
        assert list(points.get_ydata()) == [g.estimate for g in gates]
        ends = [tuple(sorted(segment[:, 1])) for segment in segments.get_segments()]
        np.testing.assert_allclose(ends, [(g.ci_lower, g.ci_upper) for g in gates], rtol=1e-12)
        assert [x for segment in segments.get_segments() for x in segment[:, 0]] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
        assert level_of(left, "ate") == result.effect.estimate and level_of(left, "zero") == 0
        effect = result.effect
        assert str(line(left, "average effect (ATE)").get_label()) == (
            f"average effect (ATE) {effect.estimate:.4g} [{effect.ci_lower:.4g}, {effect.ci_upper:.4g}]"
        )
        assert [t.get_text() for t in left.get_xticklabels()] == ["1\nleast", "2", "3", "4", "5\nmost"]
        assert left.get_xlabel() == "fifth of units by predicted effect (least → most affected)"
        assert left.get_ylabel() == "effect on minutes_active_28d"
        test = result.blp.heterogeneity
        assert left.get_title().endswith(
            f"heterogeneity loading {test.estimate:.3g}, p = {test.p_value:.3g}: the effect varies"
        )
        assert "loading 0.874, p = 5.19e-07" in left.get_title()
        curve = result.qini_curve
        top, random = line(right, "treat the top share"), line(right, "treat that share at random")
        assert list(top.get_xdata()) == [p.share for p in curve] and list(top.get_ydata()) == [p.gain for p in curve]
        assert list(random.get_ydata()) == [p.random for p in curve]
        assert top.get_xdata()[0] == 0 and top.get_xdata()[-1] == pytest.approx(1)
        assert right.xaxis.get_major_formatter()(0.4, 0) == "40%"
        assert [item.get_gid() for item in right.get_lines()].count("recommended") == 0  # none recommended
        qini = result.qini
        assert right.get_title() == (
            f"Qini curve\nQini coefficient {qini.estimate:.4g}, 95% CI [{qini.ci_lower:.4g}, {qini.ci_upper:.4g}]"
        )
    assert has_figure(result)
    width, height = as_png(save_figure(result, tmp_path / "heterogeneity.png", title="heterogeneity"))
    assert width > 1000 and height > 500  # two panels side by side
    assert (tmp_path / "heterogeneity.png").stat().st_size > 20_000


def test_the_png_marks_the_recommended_share() -> None:
    result = run("split")
    share = result.recommended_share
    assert share is not None
    with drawn("heterogeneity", result) as canvas:
        right = canvas.get_axes()[1]
        (marker,) = [item for item in right.get_lines() if item.get_gid() == "recommended"]
        assert list(marker.get_xdata()) == [share, share]
        assert marker.get_label() == f"recommended: the top {share:.0%}"
        assert canvas.get_axes()[0].get_title().endswith(": the effect varies")


def test_the_png_says_when_no_heterogeneity_is_found() -> None:
    result = run("flat")
    with drawn("heterogeneity", result) as canvas:
        left, right = canvas.get_axes()
        test = result.blp.heterogeneity
        assert left.get_title().endswith(
            f"heterogeneity loading {test.estimate:.3g}, p = {test.p_value:.3g}: no heterogeneity found"
        )
        assert [item.get_gid() for item in right.get_lines()].count("recommended") == 0


def test_column_names_are_drawn_literally(tmp_path: Path) -> None:
    result = onboarding().model_copy(update={"outcome": "revenue $ per user"})
    with drawn("heterogeneity", result) as canvas:
        assert canvas.get_axes()[0].get_ylabel() == r"effect on revenue \$ per user"
    save_figure(result, tmp_path / "dollars.png")  # no mathtext error


def test_a_result_whose_qini_curve_was_left_out_draws_no_png_but_keeps_its_card(tmp_path: Path) -> None:
    result = onboarding()
    shown = json.loads(condense(result, 3_000))  # what the model reads: the plot data replaced by a note
    assert shown.get("qini_curve", PLOT_NOTE) == PLOT_NOTE
    stripped = result.model_copy(update={"qini_curve": []})
    assert not has_figure(stripped)
    with pytest.raises(FigureError, match="no plot data for its heterogeneity figure"):
        save_figure(stripped, tmp_path / "none.png")
    assert list(tmp_path.iterdir()) == []
    assert plot_result(stripped) == plot_result(result)  # the card needs only the GATES, not the curve
    assert plot_result(result.model_copy(update={"gates": []})) == []


# --- the app card's text plot ---------------------------------------------------------------------------------


def rows_of(lines: list[str]) -> list[re.Match[str]]:
    found = [ROW.match(text) for text in lines]
    return [match for match in found if match is not None]


def column(value: float, low: float, high: float, width: int) -> int:
    """Where ``value`` falls on ``width`` columns spanning ``low`` to ``high`` (the bars' scale)."""
    return round((value - low) / (high - low) * (width - 1))


def test_the_card_reads_the_test_the_fifths_targeting_and_qini() -> None:
    result = onboarding()
    lines = plot_result(result)
    assert lines[:3] == [
        "heterogeneity loading 0.874, p 5.19e-07",
        "→ the effect varies",
        "by fifth, least (1) → most (5) affected",
    ]
    rows = rows_of(lines)
    assert lines[3:8] == [match.string for match in rows]
    for match, group in zip(rows, result.gates, strict=True):
        assert match.groups()[0] == str(group.group)
        assert match.groups()[2:] == (f"{group.estimate:.4g}", f"{group.ci_lower:.4g}", f"{group.ci_upper:.4g}")
    assert [match.group(3) for match in rows] == ["2.741", "6.57", "5.965", "13.42", "22.32"]
    assert lines[8] == "● effect ─ 95% CI ┊ 0 │ average 10.94"
    assert lines[9] == "no top share beats treating everyone"
    qini = result.qini
    assert lines[10] == f"Qini coefficient {qini.estimate:.4g} [{qini.ci_lower:.4g}, {qini.ci_upper:.4g}]"
    assert len(lines) == 11


def test_the_bars_put_every_mark_on_one_scale() -> None:
    result = onboarding()
    bars = gates_bars(result, GATES_BAR)
    assert bars == [match.group(2).ljust(GATES_BAR) for match in rows_of(plot_result(result))]
    values = [v for g in result.gates for v in (g.estimate, g.ci_lower, g.ci_upper)] + [0.0, result.effect.estimate]
    low, high = min(values), max(values)
    for bar, group in zip(bars, result.gates, strict=True):
        assert len(bar) == GATES_BAR
        assert bar.index("●") == column(group.estimate, low, high, GATES_BAR)
        assert bar.index("┊") == column(0.0, low, high, GATES_BAR) == 2  # group 1's interval starts at column 0
        assert bar.index("│") == column(result.effect.estimate, low, high, GATES_BAR)
        interval = range(column(group.ci_lower, low, high, GATES_BAR), column(group.ci_upper, low, high, GATES_BAR) + 1)
        assert all(bar[i] != " " for i in interval)  # the interval, the lines and the point drawn over it
        assert all(cell in " ┊│" for i, cell in enumerate(bar) if i not in interval)  # outside: the lines alone
    assert bars[0].startswith("─") and bars[-1].rstrip().endswith("─")  # the widest reach the ends
    assert [bar.index("●") for bar in bars] == [
        3,
        4,
        4,
        7,
        10,
    ]  # least to most affected (by hand: 13 (e + 4.342) / 33.96)


def test_the_card_says_when_no_heterogeneity_is_found() -> None:
    result = run("flat")
    lines = plot_result(result)
    test = result.blp.heterogeneity
    assert lines[:2] == [f"heterogeneity loading {test.estimate:.3g}, p {test.p_value:.3g}", "→ no heterogeneity found"]
    assert "targeting: none (act on the average)" in lines


def test_the_card_gives_the_recommended_share_and_its_gain() -> None:
    result = run("split")
    share = result.recommended_share
    (chosen,) = [row for row in result.targeting if row.share == share]
    lines = plot_result(result)
    assert lines[1] == "→ the effect varies"
    text = " ".join(lines)
    assert f"target the top {share:.0%}: {chosen.gain_vs_all.estimate:+.4g} per unit vs treating everyone" in text
    assert chosen.gain_vs_all.estimate > 0 and chosen.gain_vs_all.ci_lower > 0
    estimates = [float(match.group(3)) for match in rows_of(lines)]
    assert estimates[0] < 0 < estimates[-1]  # the least affected fifth is harmed: its ● left of the ┊
    first = rows_of(lines)[0].group(2)
    assert first.index("●") < first.index("┊") < first.index("│")


@pytest.mark.parametrize("kind", ["onboarding", "flat", "split"])
def test_every_number_on_the_card_is_the_results_own(kind: str) -> None:
    result = onboarding() if kind == "onboarding" else run(kind)
    lines = plot_result(result)
    assert [m.text for m in unverified_numbers("\n".join(lines), [result])] == []


@pytest.mark.parametrize("kind", ["onboarding", "flat", "split"])
def test_the_card_plot_fits_an_80x24_screen_and_the_narrow_panel(kind: str) -> None:
    lines = plot_result(onboarding() if kind == "onboarding" else run(kind))
    assert max(len(text) for text in lines) <= min(HETEROGENEITY_CHARS, NARROW_CARD)
    assert len(lines) <= 14  # the chat is 19 rows high at 80x24: the plot and the card's title fit


def test_wide_numbers_drop_the_bars_never_a_digit() -> None:
    base = onboarding()
    scale = 123456.789
    gates = [
        g.model_copy(
            update={"estimate": -g.estimate * scale, "ci_lower": -g.ci_upper * scale, "ci_upper": -g.ci_lower * scale}
        )
        for g in base.gates
    ]
    result = base.model_copy(update={"gates": gates})
    lines = plot_result(result)
    rows = rows_of(lines)
    widest = max(len(f"{g.estimate:.4g}") for g in gates) + max(
        len(f"[{g.ci_lower:.4g}, {g.ci_upper:.4g}]") for g in gates
    )
    assert HETEROGENEITY_CHARS - 1 - widest - 3 < GATES_BAR_MIN  # no room for the narrowest bar beside the numbers
    assert len(rows) == 5 and all(match.group(2) == "" for match in rows)
    for match, group in zip(rows, gates, strict=True):
        assert match.groups()[2:] == (f"{group.estimate:.4g}", f"{group.ci_lower:.4g}", f"{group.ci_upper:.4g}")
    assert "estimate [95% CI]; average 10.94" in lines
    assert max(len(text) for text in lines) <= HETEROGENEITY_CHARS


@pytest.mark.parametrize(("size", "panel_open"), [((80, 24), False), ((80, 24), True)])
async def test_the_card_shows_the_plot_unwrapped_at_80x24(size: tuple[int, int], panel_open: bool) -> None:
    from tests.assistant.card_probe import assert_plot_unwrapped

    await assert_plot_unwrapped(onboarding(), "heterogeneity", size, panel_open)
