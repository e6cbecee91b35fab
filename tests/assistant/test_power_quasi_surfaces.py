"""A quasi-experiment's sizing on the surfaces: the card states the simulation (power ± its Monte Carlo error, the
closed form, the assumptions), the text and PNG curves count the design's comparison units, and the
pre-registration's sample-size item states the design instead of arms — each from the power tool's own result."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.agent.brief import Brief
from assistant.figures import save_figure
from assistant.prereg import assemble
from assistant.tui.widgets.plot import plot_result
from assistant.tui.widgets.tool_card import details
from tools.power import PowerRequest
from tools.power.tool import power

DESIGNS = {
    "did": {"kind": "did", "treated": 20, "control": 20, "pre": 8, "post": 4, "icc": 0.3, "ar1": 0.4},
    "rdd": {"kind": "rdd", "treated": 400, "control": 300},
    "synth": {"kind": "synth", "treated": 1, "control": 39, "pre": 20, "post": 6},
}
UNITS = {"did": "control units", "rdd": "units below the cutoff", "synth": "donors"}


def sized(kind: str) -> object:
    request = {"metric": "mean", "baseline": 100.0, "std_dev": 15.0, "mde": 5.0, "solve_for": "power"}
    return power(PowerRequest.model_validate({**request, "design": DESIGNS[kind]}), None)


@pytest.mark.parametrize("kind", list(DESIGNS))
def test_the_card_plot_and_plan_state_the_simulation(kind: str, tmp_path: Path) -> None:
    result = sized(kind)
    shown = result.model_dump(mode="json")  # type: ignore[attr-defined]
    quasi = shown["quasi"]
    lines = details(shown)
    simulated = next(line for line in lines if line.startswith("simulated power"))
    assert f"{shown['power']:.3g} ± {quasi['power_mc_se']:.2g}" in simulated
    assert f"({quasi['simulations']:,} simulations, seed {quasi['seed']})" in simulated
    assert [line for line in lines if line.startswith("assumes: ")] == [f"assumes: {a}" for a in quasi["assumptions"]]
    curve = plot_result(result)  # type: ignore[arg-type]
    if curve:
        assert curve[0].endswith(UNITS[kind]) and curve[-1].endswith(UNITS[kind])
        assert "per arm" not in " ".join(curve)
        assert save_figure(result, tmp_path / "power.png").exists()  # type: ignore[arg-type]
    item = assemble(Brief(), power=result).item("sample_size")  # type: ignore[arg-type]
    text = item.value or ""
    assert item.status == "complete" and "Control arm" not in text
    assert f"Simulated power {shown['power']:g}" in text and f"{quasi['simulations']:,} simulations" in text
    assert {"did": "difference-in-differences", "rdd": "regression discontinuity", "synth": "synthetic control"}[
        kind
    ] in text
