"""power's figure for a group-sequential design (issue 21): the PNG's second panel (the z boundary at each look
against its information fraction, above and below zero for a two-sided test, the fixed-horizon critical value
dashed, each look's units and nominal p written beside it) and the app card's table of looks, both drawn from the
result's own ``sequential`` field; a fixed-horizon design (looks = 1) draws exactly as before.

References: the Lan-DeMets O'Brien-Fleming-type boundaries for K = 5, two-sided 0.05, as rpact and gsDesign publish
them (4.877, 3.357, 2.680, 2.290, 2.031; the figures issue 21 quotes, pinned to rpact 3.3.4 in
tests/tools/test_sequential_reference.py); scipy's normal quantile for the fixed-horizon critical values; and, for
looks = 1, the drawers as they were before the sequential panel (copied below as the reference)."""

from __future__ import annotations

import io
import math
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import norm

from assistant.figures import ANNOTATED_LOOKS, SEQUENTIAL_SIZE, annotated_looks, has_figure, save_figure
from assistant.tui.widgets.plot import (
    BLOCKS,
    LOOK_COLUMNS,
    SEQUENTIAL_CHARS,
    SPENDING,
    plot_result,
    sparkline,
)
from tests.assistant.card_probe import NARROW_CARD
from tests.assistant.figure_probe import drawn
from tools.power.models import PowerRequest, PowerResult
from tools.power.report import SPENDING_NAMES
from tools.power.tool import power

#: rpact's / gsDesign's Lan-DeMets O'Brien-Fleming-type boundaries, K = 5 equally spaced looks, two-sided 0.05.
RPACT_OBF_5 = [4.877, 3.357, 2.680, 2.290, 2.031]
#: The card's text width in an 80x24 terminal with the side panel open (F2), as measured for synthetic control.


def run(**fields: Any) -> PowerResult:
    request: dict[str, Any] = {"metric": "proportion", "baseline": 0.1, "mde": 0.01} | fields
    return power(PowerRequest(**request))


@cache
def obf5() -> PowerResult:
    """5 looks, O'Brien-Fleming-type spending, two-sided 0.05: 10% against 11%."""
    return run(looks=5)


@cache
def pocock_larger() -> PowerResult:
    """5 looks, Pocock-type, one-sided (an increase), three arms: each comparison at 0.025 (Bonferroni)."""
    return run(looks=5, spending="pocock", alternative="larger", arms=3)


@cache
def mde_smaller() -> PowerResult:
    """3 looks, the detectable decrease at 5,000 control units at most, one-sided 0.05."""
    return run(looks=3, solve_for="mde", mde=None, n_per_arm=5000, alternative="smaller")


@cache
def twenty_looks() -> PowerResult:
    return run(looks=20)


def by_gid(axes: Any, gid: str) -> Any:
    (line,) = [line for line in axes.get_lines() if line.get_gid() == gid]
    return line


def table_rows(lines: list[str]) -> list[list[str]]:
    """The card's rows of looks, split into cells (the header is the line that starts with 'look')."""
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["look"])
    rows = []
    for line in lines[header + 1 :]:
        cells = line.split()
        if not cells or not cells[0].isdigit():
            break
        rows.append(cells)
    return rows


def test_the_spending_names_are_the_tools_without_type() -> None:
    assert set(SPENDING) == set(SPENDING_NAMES)
    assert all(SPENDING_NAMES[key] == f"{SPENDING[key]}-type" for key in SPENDING)
    assert sum(width for _, width in LOOK_COLUMNS) == SEQUENTIAL_CHARS


# --- the PNG ------------------------------------------------------------------------------------------------------


def test_the_png_of_five_obrien_fleming_looks_draws_the_boundaries_beside_the_curve(tmp_path: Path) -> None:
    result = obf5()
    sequential = result.sequential
    assert sequential is not None and sequential.looks == 5
    looks = sequential.boundaries
    with drawn("power_curve", result) as canvas:
        assert len(canvas.get_axes()) == 2
        assert tuple(canvas.get_size_inches()) == SEQUENTIAL_SIZE
        curve, bounds = canvas.get_axes()
        line = curve.get_lines()[0]  # the curve as before: power against the (maximum) control-arm size
        assert list(line.get_xdata()) == [p.n_per_arm for p in result.curve]
        assert list(line.get_ydata()) == [p.power for p in result.curve]
        design = by_gid(curve, "design")
        assert list(design.get_xdata()) == [result.n_per_arm] and list(design.get_ydata()) == [result.power]
        upper, lower = by_gid(bounds, "boundary"), by_gid(bounds, "lower boundary")
        assert list(upper.get_xdata()) == list(lower.get_xdata()) == [look.information_fraction for look in looks]
        assert list(upper.get_ydata()) == [look.z_boundary for look in looks]
        assert list(lower.get_ydata()) == [-look.z_boundary for look in looks]
        np.testing.assert_allclose(upper.get_ydata(), RPACT_OBF_5, atol=5e-4)
        np.testing.assert_allclose(upper.get_xdata(), [0.2, 0.4, 0.6, 0.8, 1.0], atol=1e-12)
        critical = norm.ppf(1 - 0.05 / 2)  # 1.95996...
        np.testing.assert_allclose(by_gid(bounds, "fixed").get_ydata(), [critical, critical], rtol=1e-12)
        np.testing.assert_allclose(by_gid(bounds, "fixed lower").get_ydata(), [-critical, -critical], rtol=1e-12)
        assert by_gid(bounds, "fixed").get_linestyle() == "--"
        notes = [text.get_text() for text in bounds.texts]
        assert notes == [f"n = {look.n_total:,}\np = {look.nominal_p:.2g}" for look in looks]
        assert [text.xy for text in bounds.texts] == [(look.information_fraction, look.z_boundary) for look in looks]
        assert f"maximum {result.n_total:,} units" in bounds.get_title()
        assert f"{sequential.inflation_factor:.3f}x the fixed design" in bounds.get_title()
        assert f"expected {sequential.expected_n_total:,.0f}" in bounds.get_title()
        assert "O'Brien-Fleming" in bounds.get_title()
    assert has_figure(result)
    path = save_figure(result, tmp_path / "obf.png", title="power")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") > 1000  # two panels side by side


def test_a_one_sided_design_draws_one_boundary_at_its_own_critical_value() -> None:
    result = pocock_larger()
    assert result.sequential is not None
    looks = result.sequential.boundaries
    with drawn("power_curve", result) as canvas:
        _, bounds = canvas.get_axes()
        assert [line.get_gid() for line in bounds.get_lines() if line.get_gid()] == ["boundary", "fixed"]
        assert list(by_gid(bounds, "boundary").get_ydata()) == [look.z_boundary for look in looks]
        # three arms: each comparison one-sided at 0.05 / 2 = 0.025
        np.testing.assert_allclose(by_gid(bounds, "fixed").get_ydata(), [norm.ppf(1 - 0.025)] * 2, rtol=1e-12)
        assert "Pocock" in bounds.get_title()
        low, high = bounds.get_ylim()
        assert low < 0 < max(look.z_boundary for look in looks) < high


def test_a_test_of_a_decrease_draws_its_boundary_below_zero() -> None:
    result = mde_smaller()
    assert result.sequential is not None and result.curve_kind == "mde_vs_n"
    looks = result.sequential.boundaries
    with drawn("power_curve", result) as canvas:
        curve, bounds = canvas.get_axes()
        assert list(by_gid(curve, "design").get_ydata()) == [abs(result.mde_absolute)]
        assert list(by_gid(bounds, "boundary").get_ydata()) == [-look.z_boundary for look in looks]
        np.testing.assert_allclose(by_gid(bounds, "fixed").get_ydata(), [-norm.ppf(0.95)] * 2, rtol=1e-12)
        assert bounds.get_ylim()[0] < -max(look.z_boundary for look in looks)


def test_many_looks_annotate_an_even_spread_first_and_last_included() -> None:
    assert annotated_looks(5) == [0, 1, 2, 3, 4]
    assert annotated_looks(20) == [0, 4, 8, 11, 15, 19]
    result = twenty_looks()
    assert result.sequential is not None
    looks = result.sequential.boundaries
    with drawn("power_curve", result) as canvas:
        _, bounds = canvas.get_axes()
        assert len(by_gid(bounds, "boundary").get_ydata()) == 20  # every look drawn
        notes = [text.get_text() for text in bounds.texts]
        assert len(notes) == ANNOTATED_LOOKS
        assert notes[0] == f"n = {looks[0].n_total:,}\np = {looks[0].nominal_p:.2g}"
        assert notes[-1] == f"n = {looks[-1].n_total:,}\np = {looks[-1].nominal_p:.2g}"


# --- looks = 1: exactly as before ---------------------------------------------------------------------------------


def reference_png_drawer(figure: Any, result: PowerResult) -> None:
    """assistant/figures.py's power drawer before the sequential panel (the reference for looks = 1)."""
    axes = figure.add_subplot()
    ns = [p.n_per_arm for p in result.curve]
    if result.curve_kind == "mde_vs_n":
        axes.plot(ns, [abs(p.mde_absolute) for p in result.curve], color="C0")
        axes.set_ylabel("minimum detectable effect (absolute)")
    else:
        axes.plot(ns, [p.power for p in result.curve], color="C0")
        axes.set_ylim(0, 1)
        axes.set_ylabel("power")
    axes.set_xlabel("units per arm")
    axes.grid(alpha=0.3)
    axes.set_title("Power against sample size")


def reference_card(result: PowerResult) -> list[str]:
    """tui/widgets/plot.py's power drawer before the table of looks (the reference for looks = 1)."""
    curve = result.curve
    if not curve:
        return []
    ns = [p.n_per_arm for p in curve]
    if result.curve_kind == "mde_vs_n":
        label = "minimum detectable effect against units per arm"
        line = sparkline([abs(p.mde_absolute) for p in curve])
    else:
        label = "power against units per arm"
        line = sparkline([p.power for p in curve], 0.0, 1.0)
    return [label, line, f"{ns[0]:,} … {ns[-1]:,} units per arm"]


def reference_png(result: PowerResult, title: str | None) -> bytes:
    """What ``save_figure`` wrote with the reference drawer: the same canvas, size, resolution and metadata."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    canvas = plt.figure(figsize=(8, 4.8), dpi=110)
    try:
        reference_png_drawer(canvas, result)
        if title:
            canvas.suptitle(title)
        canvas.tight_layout()
        buffer = io.BytesIO()
        canvas.savefig(buffer, format="png", metadata={"Software": "whyscope"})
    finally:
        plt.close(canvas)
    return buffer.getvalue()


FIXED: dict[str, dict[str, Any]] = {
    "sample_size": {"looks": 1},
    "mde_of_means": {"metric": "mean", "baseline": 10, "std_dev": 3, "solve_for": "mde", "mde": None, "n_per_arm": 500},
    "power_three_arms": {"solve_for": "power", "mde": 0.02, "n_per_arm": 2000, "arms": 3},
}


@pytest.mark.parametrize("case", sorted(FIXED))
def test_a_fixed_horizon_design_draws_exactly_as_before(case: str, tmp_path: Path) -> None:
    result = run(**FIXED[case])
    assert result.sequential is None
    title = "power" if case == "sample_size" else None
    saved = save_figure(result, tmp_path / f"{case}.png", title=title).read_bytes()
    assert saved == reference_png(result, title)  # byte for byte: one panel, the same curve, labels and size
    with drawn("power_curve", result) as canvas:
        assert len(canvas.get_axes()) == 1 and tuple(canvas.get_size_inches()) == (8, 4.8)
    assert plot_result(result) == reference_card(result)


# --- the app card -------------------------------------------------------------------------------------------------


def test_the_card_lists_each_look_with_the_results_numbers() -> None:
    result = obf5()
    assert result.sequential is not None
    looks = result.sequential.boundaries
    lines = plot_result(result)
    assert lines[0] == "power against maximum units per arm"
    header = next(line for line in lines if line.startswith("look"))
    assert header.split() == ["look", "n", "total", "z", "nominal", "p", "\N{GREEK SMALL LETTER ALPHA}", "spent"]
    rows = table_rows(lines)
    assert rows == [
        [
            str(look.look),
            f"{look.n_total:,}",
            f"{look.z_boundary:.3f}",
            f"{look.nominal_p:.2g}",
            f"{look.cumulative_alpha:.2g}",
        ]
        for look in looks
    ]
    assert [row[2] for row in rows] == [f"{z:.3f}" for z in RPACT_OBF_5]  # rpact's boundaries, as written
    assert rows[-1][1] == f"{result.n_total:,}" and rows[-1][4] == "0.05"  # the whole alpha by the last look
    assert "5 looks, O'Brien-Fleming spending;" in lines
    assert "stop at a look if |z| ≥ its z:" in lines
    assert f"fixed design (one look): |z| ≥ {norm.ppf(0.975):.3f}" in lines
    assert f"maximum n {result.n_total:,}: {result.sequential.inflation_factor:.3f}x the fixed n" in lines
    assert f"expected n, effect real: {result.sequential.expected_n_total:,.0f}" in lines
    assert f"expected n, no effect: {result.sequential.expected_n_total_h0:,.0f}" in lines


def test_the_cards_curve_spans_the_whole_curve_within_the_width() -> None:
    result = obf5()
    curve = result.curve
    label, line, span = plot_result(result)[:3]
    assert len(line) == SEQUENTIAL_CHARS
    assert line[0] == BLOCKS[round(curve[0].power * 8)] and line[-1] == BLOCKS[round(curve[-1].power * 8)]
    assert span == f"{curve[0].n_per_arm:,} … {curve[-1].n_per_arm:,} max units per arm"
    label, line, _ = plot_result(mde_smaller())[:3]
    assert label == "MDE against maximum units per arm" and line[0] == BLOCKS[8]  # the largest effect first


def test_one_sided_cards_state_the_direction_and_their_critical_value() -> None:
    lines = plot_result(pocock_larger())
    assert "stop at a look if z ≥ its z:" in lines
    assert f"fixed design (one look): z ≥ {norm.ppf(1 - 0.025):.3f}" in lines
    lines = plot_result(mde_smaller())
    assert "stop at a look if z ≤ -its z:" in lines
    assert f"fixed design (one look): z ≤ -{norm.ppf(0.95):.3f}" in lines


@pytest.mark.parametrize("make", [obf5, pocock_larger, mde_smaller, twenty_looks])
def test_the_card_fits_an_80x24_screen_with_the_side_panel_open(make: Any) -> None:
    result = make()
    assert result.sequential is not None
    lines = plot_result(result)
    assert max(len(line) for line in lines) <= min(SEQUENTIAL_CHARS, NARROW_CARD)
    assert len(table_rows(lines)) == result.sequential.looks


def test_a_huge_sample_is_written_shorter_never_wider() -> None:
    result = run(looks=4, mde=0.00001)
    assert result.sequential is not None
    looks = result.sequential.boundaries
    assert looks[-1].n_total >= 10**10  # wider than the column with its commas
    lines = plot_result(result)
    assert max(len(line) for line in lines) <= SEQUENTIAL_CHARS
    for row, look in zip(table_rows(lines), looks, strict=True):
        written = row[1]
        expected = f"{look.n_total:,}" if len(f"{look.n_total:,}") <= 10 else f"{look.n_total:.4g}"
        assert written == expected
        assert math.isclose(float(written.replace(",", "")), look.n_total, rel_tol=5e-4)


@pytest.mark.parametrize("panel_open", [False, True])
async def test_the_card_shows_the_curve_and_the_looks_unwrapped_at_80x24(panel_open: bool) -> None:
    from tests.assistant.card_probe import assert_plot_unwrapped

    await assert_plot_unwrapped(obf5(), "power", (80, 24), panel_open)
