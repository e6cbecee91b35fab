"""aa_test's figure: the PNG (per metric, the p-value histogram of the random A/A splits against the uniform line,
the rejection region shaded, the per-unit analysis beside it when rows repeat a unit; the rates and SE ratios in the
titles, the verdict below) and the app card's text plot (the verdict, then per metric a row of blocks on a fixed
scale with the rate and SE ratio, the per-unit analysis indented below it), drawn from real results: the bundled
checkout sessions (rows of users analysed per row: investigate, the fix per user) and seeded simulations with one
row per user (trustworthy)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from assistant.agent.provenance import unverified_numbers
from assistant.figures import FIGURES, FigureError, has_figure, save_figure
from assistant.figures_aa import AA_PANELS, aa_figure_size, fpr_text
from assistant.tui.widgets.plot import DRAWERS, plot_result
from assistant.tui.widgets.plot_aa import AA_CHARS, AA_LINES, alpha_bins, p_bars
from tests.assistant.card_probe import NARROW_CARD
from tests.assistant.figure_probe import as_png, drawn
from tests.assistant.real_results import real_result
from tools.aa_test import aa_test
from tools.aa_test.models import P_BINS, AaTestRequest, AaTestResult, SimulatedMetric

BLOCKS = " ▁▂▃▄▅▆▇█"
METRICS = ("revenue", "visits", "converted", "basket", "minutes")


@cache
def sessions() -> AaTestResult:
    """The bundled example: checkout sessions, several per user, analysed per row (investigate; by_unit: the fix)."""
    result = real_result("aa_test")
    assert isinstance(result, AaTestResult)
    return result


def users(seed: int = 3, n: int = 2_000) -> pd.DataFrame:
    """One row per user: nothing repeats, so ab_test's analysis is calibrated on any random split."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "user_id": np.arange(n),
            "revenue": rng.exponential(10, n),
            "visits": rng.poisson(3, n),
            "converted": rng.binomial(1, 0.2, n),
            "basket": rng.normal(50, 12, n),
            "minutes": rng.gamma(2, 5, n),
        }
    )


@cache
def clean(metrics: int = 1, alpha: float = 0.05) -> AaTestResult:
    metrics_asked = [{"name": name} for name in METRICS[:metrics]]
    request = AaTestRequest.model_validate(
        {"dataset": "x", "metrics": metrics_asked, "simulations": 200, "alpha": alpha}
    )
    return aa_test(request, users())


def bars(axes: Any, label: str) -> list[Any]:
    """The bars of the series ``label``: its plain bins and its outlined rejection bins, in bin order."""
    found = [c for c in axes.containers if c.get_label() in (label, f"_{label}: p < alpha")]
    assert len(found) == 2, [c.get_label() for c in axes.containers]
    return sorted((patch for container in found for patch in container.patches), key=lambda patch: patch.get_x())


def gid(axes: Any, name: str) -> Any:
    (found,) = [item for item in [*axes.get_lines(), *axes.patches] if item.get_gid() == name]
    return found


def captions(canvas: Any) -> list[str]:
    """The figure's own texts: the caption below the panels (a suptitle would be one more)."""
    return [text.get_text() for text in canvas.texts]


def fpr(metric: SimulatedMetric) -> str:
    """The rate, its interval and the SE ratio, written independently of the drawers."""
    rate = metric.false_positive_rate
    return (
        f"FPR {100 * rate.rate:.1f}% [{100 * rate.ci_lower:.1f}%, {100 * rate.ci_upper:.1f}%]"
        f" · SE ratio {metric.se_ratio:.3g}"
    )


def test_the_figure_is_declared_and_drawn_in_both_tables() -> None:
    assert AaTestResult.figure == "aa_test"
    assert SimulatedMetric.plot_fields == ("p_histogram",)
    assert "aa_test" in FIGURES and "aa_test" in DRAWERS


def test_the_results_are_what_they_claim() -> None:
    result = sessions()
    assert result.verdict == "investigate" and result.repeated_unit == "user_id"
    assert [m.metric for m in result.simulated] == [m.metric for m in result.by_unit] == ["converted", "order_value"]
    assert [m.status for m in result.simulated] == ["fail", "fail"]
    assert [m.status for m in result.by_unit] == ["pass", "pass"]
    assert all(m.analysed_per is None for m in result.simulated)
    assert all(m.analysed_per == "user_id" for m in result.by_unit)
    assert all(len(m.p_histogram) == P_BINS and sum(m.p_histogram) == 200 for m in result.simulated + result.by_unit)
    for metric in result.simulated + result.by_unit:  # the first bin is the rejections at alpha 0.05
        assert metric.p_histogram[0] == metric.false_positive_rate.rejections
    calm = clean()
    assert calm.verdict == "trustworthy" and calm.by_unit == [] and calm.repeated_unit is None


# --- the PNG --------------------------------------------------------------------------------------------------------


def test_the_png_draws_each_metrics_histogram_beside_the_fix(tmp_path: Path) -> None:
    result = sessions()
    with drawn("aa_test", result) as canvas:
        panels = canvas.get_axes()
        assert len(panels) == 2
        assert tuple(canvas.get_size_inches()) == aa_figure_size(2) == (11.0, 4.8)
        for axes, metric, fix in zip(panels, result.simulated, result.by_unit, strict=True):
            for index, (analysed, label, colour) in enumerate(
                ((metric, "per row (as analysed)", "C0"), (fix, "per user_id (the fix)", "C2"))
            ):
                drawn_bars = bars(axes, label)
                assert len(drawn_bars) == P_BINS
                expected = [count * P_BINS / 200 for count in analysed.p_histogram]  # density: 1 is uniform
                np.testing.assert_allclose([b.get_height() for b in drawn_bars], expected, rtol=1e-12)
                np.testing.assert_allclose(
                    [b.get_x() for b in drawn_bars], [i / P_BINS + (0.05 + 0.45 * index) / P_BINS for i in range(20)]
                )
                np.testing.assert_allclose([b.get_width() for b in drawn_bars], 0.45 / P_BINS)
                assert {tuple(b.get_facecolor()) for b in drawn_bars} == {_rgba(colour)}
                outlined = [b.get_linewidth() > 0 for b in drawn_bars]
                assert outlined == [True] + [False] * 19  # the alpha bin, p < 0.05
            span = gid(axes, "alpha")
            assert (span.get_x(), span.get_width()) == (0, 0.05)
            assert span.get_label() == "p < alpha 0.05: a false positive"
            assert list(gid(axes, "uniform").get_ydata()) == [1, 1]
            assert axes.get_xlim() == (0, 1)
            assert axes.get_title() == (f"{metric.metric}: fail\nper row: {fpr(metric)}\nper user_id: {fpr(fix)}")
            assert [t.get_text() for t in axes.get_legend().get_texts()] == [
                "p < alpha 0.05: a false positive",
                "uniform (a calibrated test)",
                "per row (as analysed)",
                "per user_id (the fix)",
            ]
        assert panels[0].get_title().splitlines()[1:] == [
            "per row: FPR 8.5% [5.0%, 13.3%] · SE ratio 0.851",
            "per user_id: FPR 3.5% [1.4%, 7.1%] · SE ratio 1.05",
        ]
        assert panels[1].get_title().splitlines()[1] == "per row: FPR 13.0% [8.7%, 18.5%] · SE ratio 0.804"
        assert captions(canvas) == ["A/A verdict: investigate (200 random splits, alpha 0.05)"]  # no suptitle
    assert has_figure(result)
    width, height = as_png(save_figure(result, tmp_path / "aa.png", title="aa_test"))
    assert (width, height) == (1210, 528)  # 11 x 4.8 inches at 110 dpi
    assert (tmp_path / "aa.png").stat().st_size > 20_000


def _rgba(colour: str) -> tuple[float, float, float, float]:
    from matplotlib.colors import to_rgba

    return tuple(to_rgba(colour))  # type: ignore[return-value]


def test_a_clean_result_draws_one_panel_without_a_fix(tmp_path: Path) -> None:
    result = clean()
    (metric,) = result.simulated
    with drawn("aa_test", result) as canvas:
        (axes,) = canvas.get_axes()
        assert tuple(canvas.get_size_inches()) == aa_figure_size(1)
        labels = [c.get_label() for c in axes.containers]
        assert labels == ["per row (as analysed)", "_per row (as analysed): p < alpha"]
        np.testing.assert_allclose(
            [b.get_height() for b in bars(axes, "per row (as analysed)")],
            [c / 10 for c in metric.p_histogram],  # 200 splits, 10 per bin when uniform
        )
        assert axes.get_title() == f"revenue: pass\n{fpr(metric)}"
        assert axes.get_title().endswith("FPR 4.5% [2.1%, 8.4%] · SE ratio 1.04")
        assert captions(canvas) == ["A/A verdict: trustworthy (200 random splits, alpha 0.05)"]
    width, height = as_png(save_figure(result, tmp_path / "clean.png"))
    assert (width, height) == (825, 528)


def test_the_shaded_region_and_outlined_bins_follow_alpha() -> None:
    result = clean(alpha=0.1)
    assert result.alpha == 0.1
    with drawn("aa_test", result) as canvas:
        (axes,) = canvas.get_axes()
        span = gid(axes, "alpha")
        assert (span.get_x(), span.get_width()) == (0, 0.1)
        assert [b.get_linewidth() > 0 for b in bars(axes, "per row (as analysed)")] == [True, True] + [False] * 18
        assert captions(canvas) == ["A/A verdict: trustworthy (200 random splits, alpha 0.1)"]


@pytest.mark.parametrize(("metrics", "visible", "caption"), [(3, 3, ""), (5, 4, "; 1 more metric not drawn")])
def test_three_or_more_metrics_share_a_grid_of_four(metrics: int, visible: int, caption: str) -> None:
    result = clean(metrics)
    with drawn("aa_test", result) as canvas:
        panels = canvas.get_axes()
        assert len(panels) == 4 and AA_PANELS == 4
        assert tuple(canvas.get_size_inches()) == aa_figure_size(4) == (11.0, 8.6)
        assert [axes.get_visible() for axes in panels] == [True] * visible + [False] * (4 - visible)
        shown = [axes.get_title().splitlines()[0].split(":")[0] for axes in panels[:visible]]
        assert shown == list(METRICS[:visible])
        assert captions(canvas) == [f"A/A verdict: {result.verdict} (200 random splits, alpha 0.05){caption}"]


def test_metric_names_are_drawn_literally(tmp_path: Path) -> None:
    base = sessions()
    renamed = [m.model_copy(update={"metric": "revenue $ per user"}) for m in base.simulated]
    fixes = [m.model_copy(update={"metric": "revenue $ per user"}) for m in base.by_unit]
    result = base.model_copy(update={"simulated": renamed[:1], "by_unit": fixes[:1]})
    with drawn("aa_test", result) as canvas:
        (axes,) = canvas.get_axes()
        assert axes.get_title().startswith(r"revenue \$ per user: fail")
        assert len(bars(axes, "per user_id (the fix)")) == P_BINS  # the fix is matched by the metric's name
    save_figure(result, tmp_path / "dollars.png")  # no mathtext error


def test_a_result_without_histograms_draws_no_png(tmp_path: Path) -> None:
    result = sessions()
    stripped = result.model_copy(
        update={"simulated": [m.model_copy(update={"p_histogram": []}) for m in result.simulated]}
    )
    assert not has_figure(stripped)
    with pytest.raises(FigureError, match="no plot data for its aa_test figure"):
        save_figure(stripped, tmp_path / "none.png")
    assert list(tmp_path.iterdir()) == []
    empty = result.model_copy(update={"simulated": [], "by_unit": []})
    assert not has_figure(empty) and plot_result(empty) == []


# --- the app card's text plot ---------------------------------------------------------------------------------


def blocks_of(counts: list[int]) -> str:
    """Each count as a block on the scale where the uniform expectation (200 / 20 = 10 splits) is ▄ (4 of 8)."""
    return "".join(BLOCKS[min(8, int(count / 10 * 4 + 0.5))] for count in counts)


def test_the_card_reads_the_verdict_histograms_rates_and_the_fix() -> None:
    result = sessions()
    converted, order_value = result.simulated
    converted_fix, order_value_fix = result.by_unit
    assert plot_result(result) == [
        "A/A verdict: investigate",
        "p-values 0 → 1: ▄ uniform, │ alpha 0.05",
        f"converted: fail    {blocks_of(converted.p_histogram[:1])}│{blocks_of(converted.p_histogram[1:])}",
        "FPR 8.5% [5.0%, 13.3%] · SE ratio 0.851",
        f" per user_id: pass {blocks_of(converted_fix.p_histogram[:1])}│{blocks_of(converted_fix.p_histogram[1:])}",
        " FPR 3.5% [1.4%, 7.1%] · SE ratio 1.05",
        f"order_value: fail  {blocks_of(order_value.p_histogram[:1])}│{blocks_of(order_value.p_histogram[1:])}",
        "FPR 13.0% [8.7%, 18.5%] · SE ratio 0.804",
        f" per user_id: pass {blocks_of(order_value_fix.p_histogram[:1])}│{blocks_of(order_value_fix.p_histogram[1:])}",
        " FPR 4.0% [1.7%, 7.7%] · SE ratio 1.03",
    ]
    assert plot_result(result)[2] == "converted: fail    ▇│▆▆▄▅▃█▄▃▁▂▃▃▃▃▂▄▅▄▄"  # 17 of 200 below alpha: ▇
    assert plot_result(result)[6].endswith("█│▇▅▄▅▃▃▂▄▂▃▂▅▄▄▃▄▃▄▃")  # 26: past twice uniform, drawn full


def test_the_card_and_the_png_write_the_rates_alike() -> None:
    result = sessions()
    lines = plot_result(result)
    for metric in result.simulated:
        assert fpr_text(metric) == fpr(metric) and fpr(metric) in lines
    for fix in result.by_unit:
        assert f" {fpr(fix)}" in lines


def test_a_clean_result_has_one_histogram_and_no_fix() -> None:
    result = clean()
    (metric,) = result.simulated
    assert plot_result(result) == [
        "A/A verdict: trustworthy",
        "p-values 0 → 1: ▄ uniform, │ alpha 0.05",
        f"revenue: pass      {blocks_of(metric.p_histogram[:1])}│{blocks_of(metric.p_histogram[1:])}",
        "FPR 4.5% [2.1%, 8.4%] · SE ratio 1.04",
    ]


def test_the_bars_are_on_the_uniform_scale_with_the_alpha_mark() -> None:
    assert p_bars([10] * 20, 0.05) == "▄│" + "▄" * 19  # uniform: ▄ in every bin
    skewed = [0, 5, 15, 20, 40, 0, 0, 0] + [10] * 12  # 200 splits: 10 a bin when uniform
    assert p_bars(skewed, 0.05) == " │▂▆██   " + "▄" * 12  # 0, 1/2, 3/2, 2 and 4 times uniform, 0
    assert p_bars([10] * 20, 0.1) == "▄▄│" + "▄" * 18
    assert p_bars([], 0.05) == "" and p_bars([0] * 20, 0.05) == ""
    assert [alpha_bins(20, a) for a in (1e-10, 0.01, 0.05, 0.051, 0.1, 0.5)] == [1, 1, 1, 2, 2, 10]


def test_an_alpha_off_the_bin_edges_is_marked_approximately() -> None:
    result = clean().model_copy(update={"alpha": 0.01})
    lines = plot_result(result)
    assert lines[1] == "p-values 0 → 1: ▄ uniform, │ ≈ alpha 0.01"
    assert lines[2].split(" ")[-1].index("│") == 1  # after the bin that holds p < 0.01


def test_many_metrics_fill_the_card_then_say_how_many_more() -> None:
    base = sessions()

    def copies(count: int) -> AaTestResult:
        names = [f"metric_{i}" for i in range(count)]
        return base.model_copy(
            update={
                "simulated": [base.simulated[i % 2].model_copy(update={"metric": n}) for i, n in enumerate(names)],
                "by_unit": [base.by_unit[i % 2].model_copy(update={"metric": n}) for i, n in enumerate(names)],
            }
        )

    three = plot_result(copies(3))
    assert len(three) == AA_LINES == 14 and not three[-1].startswith("and ")
    five = plot_result(copies(5))
    assert five[-1] == "and 3 more metrics (below)"
    assert five[:-1] == three[:10]  # two metrics with their fixes, then the line that counts the rest
    four = plot_result(copies(4).model_copy(update={"by_unit": []}))  # two lines a metric: all fit
    assert len(four) == 10 and sum(line.startswith("metric_") for line in four) == 4


def test_long_names_and_wide_numbers_stay_within_the_card() -> None:
    base = sessions()
    wide = base.simulated[0].model_copy(
        update={
            "metric": "average_order_value_in_euros_after_discounts",
            "se_ratio": 12345.678,
            "false_positive_rate": base.simulated[0].false_positive_rate.model_copy(
                update={"rate": 1.0, "ci_lower": 0.98, "ci_upper": 1.0}
            ),
        }
    )
    fix = base.by_unit[0].model_copy(update={"metric": wide.metric, "analysed_per": "customer_account_identifier"})
    result = base.model_copy(update={"simulated": [wide], "by_unit": [fix]})
    lines = plot_result(result)
    assert lines[2].startswith("average_ord…: fail ▇│")  # the name shortened, never the status
    assert lines[3:5] == ["FPR 100.0% [98.0%, 100.0%]", "SE ratio 1.23e+04"]  # too wide for one line: two
    assert lines[5].startswith(" per custom…: pass ▃│")
    assert max(len(text) for text in lines) <= AA_CHARS
    assert [m.text for m in unverified_numbers("\n".join(lines), [result])] == []


@pytest.mark.parametrize("kind", ["sessions", "clean", "five"])
def test_every_number_on_the_card_is_the_results_own(kind: str) -> None:
    result = sessions() if kind == "sessions" else clean(5 if kind == "five" else 1)
    lines = plot_result(result)
    assert [m.text for m in unverified_numbers("\n".join(lines), [result])] == []


@pytest.mark.parametrize("kind", ["sessions", "clean", "five"])
def test_the_card_plot_fits_an_80x24_screen_and_the_narrow_panel(kind: str) -> None:
    lines = plot_result(sessions() if kind == "sessions" else clean(5 if kind == "five" else 1))
    assert max(len(text) for text in lines) <= min(AA_CHARS, NARROW_CARD)
    assert len(lines) <= AA_LINES


@pytest.mark.parametrize(("size", "panel_open"), [((80, 24), False), ((80, 24), True)])
async def test_the_card_shows_the_plot_unwrapped_at_80x24(size: tuple[int, int], panel_open: bool) -> None:
    from tests.assistant.card_probe import assert_plot_unwrapped

    await assert_plot_unwrapped(sessions(), "aa_test", size, panel_open)
