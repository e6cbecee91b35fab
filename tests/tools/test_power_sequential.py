"""The power tool's group-sequential designs (issue 21): looks, spending, maximum sample size, boundaries.

References: rpact 3.3.4 (tests/fixtures/sequential/rpact_designs.csv, made by make_reference.R): boundaries,
cumulative alpha, the inflation factor (maximum over fixed sample size) and the expected sample size under H1
relative to the fixed design. The fixed design is the power tool's own fixed-horizon answer, whose equations
tests/tools/test_power_reference.py pins to R and statsmodels.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tools.errors import ToolError
from tools.power import PowerRequest, power
from tools.registry import dispatch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sequential"


def _rpact(design: int) -> list[dict[str, str]]:
    with (FIXTURES / "rpact_designs.csv").open(encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if int(row["design"]) == design]


BASE = {"metric": "proportion", "baseline": 0.042, "mde": 0.05, "mde_kind": "relative", "daily_units": 12_000.0}


def test_one_look_changes_nothing() -> None:
    fixed = power(PowerRequest(**BASE))  # type: ignore[arg-type]
    assert fixed.sequential is None
    assert power(PowerRequest(**BASE, looks=1)) == fixed  # type: ignore[arg-type]
    assert power(PowerRequest(**BASE, looks=1, information_fractions=[1.0])) == fixed  # type: ignore[arg-type]
    assert "maximum" not in fixed.summary


@pytest.mark.parametrize(("spending", "design_number"), [("obrien_fleming", 5), ("pocock", 9)])
def test_five_looks_against_rpact(spending: str, design_number: int) -> None:
    rows = _rpact(design_number)
    fixed = power(PowerRequest(**BASE))  # type: ignore[arg-type]
    result = power(PowerRequest(**BASE, looks=5, spending=spending))  # type: ignore[arg-type]
    seq = result.sequential
    assert seq is not None and seq.looks == 5 and seq.spending == spending
    np.testing.assert_allclose(
        [b.z_boundary for b in seq.boundaries], [float(r["critical_value"]) for r in rows], atol=1e-5
    )
    np.testing.assert_allclose(
        [b.cumulative_alpha for b in seq.boundaries], [float(r["alpha_spent"]) for r in rows], rtol=1e-6, atol=2e-8
    )
    np.testing.assert_allclose(
        [b.nominal_p for b in seq.boundaries], [2 * float(r["stage_level"]) for r in rows], rtol=1e-4
    )
    inflation = float(rows[0]["inflation_factor"])
    assert seq.inflation_factor == pytest.approx(inflation, rel=1e-5)
    # the maximum is the fixed design's size times the inflation factor, up to rounding to whole units
    assert seq.n_per_arm_fixed == fixed.n_per_arm
    assert result.n_per_arm / fixed.n_per_arm == pytest.approx(inflation, abs=2e-4)
    assert result.power >= 0.8 and result.power == pytest.approx(0.8, abs=1e-4)
    # expected size under H1 relative to the fixed design, as rpact's ASN
    assert seq.expected_n_total / fixed.n_total == pytest.approx(float(rows[0]["asn_h1"]), rel=1e-3)
    assert seq.expected_n_total_h0 / fixed.n_total == pytest.approx(float(rows[0]["asn_h0"]), rel=1e-3)
    # per-look sizes: equal steps of the maximum, the last one the maximum itself
    assert [b.n_total for b in seq.boundaries][-1] == result.n_total
    np.testing.assert_allclose([b.n_per_arm for b in seq.boundaries], np.arange(1, 6) / 5 * result.n_per_arm, atol=1)
    assert [b.cumulative_power for b in seq.boundaries][-1] == pytest.approx(result.power, abs=1e-9)
    # the duration is the maximum's, and the summary says these are maxima
    assert result.duration_days == -(-result.n_total // 12_000)
    assert "maximum" in result.summary and f"{seq.boundaries[1].n_total:,}" in result.summary
    assert "Lan-DeMets" in result.method and any(c.name == "look_schedule" for c in result.checks)


def test_curve_still_plots_and_passes_through_the_answer() -> None:
    result = power(PowerRequest(**BASE, looks=4))  # type: ignore[arg-type]
    assert len(result.curve) >= 100 and result.curve_kind == "power_vs_n"
    point = next(p for p in result.curve if p.n_per_arm == result.n_per_arm)
    assert point.power == pytest.approx(result.power, abs=1e-9)
    powers = [p.power for p in result.curve]
    assert powers == sorted(powers)


def test_power_and_mde_at_the_maximum_give_the_design_back() -> None:
    planned = power(PowerRequest(**BASE, looks=5, power=0.9))  # type: ignore[arg-type]
    at_max = power(
        PowerRequest(**{**BASE, "daily_units": None}, solve_for="power", n_per_arm=planned.n_per_arm, looks=5)  # type: ignore[arg-type]
    )
    assert at_max.power == pytest.approx(0.9, abs=2e-4)
    no_mde = {k: v for k, v in BASE.items() if k not in ("mde", "daily_units")}
    mde = power(PowerRequest(**no_mde, solve_for="mde", n_per_arm=planned.n_per_arm, looks=5, power=0.9))  # type: ignore[arg-type]
    assert mde.mde_relative == pytest.approx(0.05, rel=2e-3)
    assert mde.power == 0.9 and mde.curve_kind == "mde_vs_n"


def test_means_use_the_same_inflation() -> None:
    fixed = power(PowerRequest(metric="mean", baseline=10.0, std_dev=2.0, mde=0.1))
    result = power(
        PowerRequest(
            metric="mean", baseline=10.0, std_dev=2.0, mde=0.1, looks=3, information_fractions=[0.5, 0.75, 1.0]
        )
    )
    assert result.sequential is not None
    # rpact design 17 is the same schedule at alpha 0.1; here the inflation is checked against the fixed t design
    assert result.n_per_arm / fixed.n_per_arm == pytest.approx(result.sequential.inflation_factor, abs=5e-4)
    assert [b.information_fraction for b in result.sequential.boundaries] == [0.5, 0.75, 1.0]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"looks": 3, "information_fractions": [0.5, 1.0]}, "fractions_mismatch"),
        ({"looks": 3, "information_fractions": [0.5, 0.4, 1.0]}, "fractions_not_increasing"),
        ({"looks": 3, "information_fractions": [0.3, 0.6, 0.9]}, "last_fraction_not_one"),
        ({"looks": 1, "information_fractions": [0.5]}, "fractions_without_looks"),
    ],
)
def test_bad_schedules_are_tool_errors(fields: dict[str, object], code: str) -> None:
    with pytest.raises(ToolError) as caught:
        power(PowerRequest(**BASE, **fields))  # type: ignore[arg-type]
    assert caught.value.code == code


def test_dispatch_takes_the_new_fields_and_refuses_too_many_looks() -> None:
    result = dispatch("power", json.dumps({**BASE, "looks": 3, "spending": "pocock"}))
    assert not isinstance(result, ToolError)
    too_many = dispatch("power", json.dumps({**BASE, "looks": 21}))
    assert isinstance(too_many, ToolError)
