"""Group-sequential boundaries and design characteristics against R's rpact 3.3.4 and published tables.

The reference numbers are in tests/fixtures/sequential/rpact_designs.csv, made by make_reference.R beside it
(rpact's getDesignGroupSequential and getDesignCharacteristics; the suite never needs R). Published values:
Lan-DeMets O'Brien-Fleming-type boundaries for K = 5, two-sided 0.05: 4.877, 3.357, 2.680, 2.290, 2.031, and
Pocock-type about 2.44 at each look (the figures issue 21 quotes from rpact's and gsDesign's documentation).
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from tools.sequential.design import boundaries, group_sequential_design, sequential_power
from tools.sequential.monitoring import look_decision, planned_fractions
from tools.sequential.spending import cumulative_alpha, spent

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sequential"


def _designs() -> dict[int, list[dict[str, Any]]]:
    rows: dict[int, list[dict[str, Any]]] = defaultdict(list)
    with (FIXTURES / "rpact_designs.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            rows[int(row["design"])].append(row)
    return dict(rows)


DESIGNS = _designs()


def _id(number: int) -> str:
    row = DESIGNS[number][0]
    return f"{number}-K{row['k']}-{row['spending']}-sided{row['sided']}-a{row['alpha']}"


@pytest.mark.parametrize("number", sorted(DESIGNS), ids=_id)
def test_design_matches_rpact(number: int) -> None:
    rows = DESIGNS[number]
    first = rows[0]
    two_sided = first["sided"] == "2"
    fractions = [float(r["information_rate"]) for r in rows]
    design = group_sequential_design(
        fractions, first["spending"], float(first["alpha"]), 1 - float(first["beta"]), two_sided=two_sided
    )
    bounds = design.boundaries
    rpact_z = np.array([float(r["critical_value"]) for r in rows])
    # rpact's stage level is the one-sided nominal p; ours is two-sided for a two-sided design
    rpact_nominal = np.array([float(r["stage_level"]) for r in rows]) * (2 if two_sided else 1)
    nominal = np.array([bounds.nominal_p(k) for k in range(len(rows))])
    np.testing.assert_allclose(nominal, rpact_nominal, rtol=1e-4, atol=2e-9)
    if number == 6:
        # K = 10, O'Brien-Fleming: at look 2, P(reject) = 1.08e-6, rpact's root search stops 1.4e-4 short in z
        # (its nominal level is off by 1e-9 absolute, within the check above); the other looks agree to 1e-6
        np.testing.assert_allclose(np.array(bounds.z), rpact_z, atol=2e-4)
        np.testing.assert_allclose(np.delete(bounds.z, 1), np.delete(rpact_z, 1), atol=1e-5)
    else:
        np.testing.assert_allclose(bounds.z, rpact_z, atol=1e-5)
    # rpact stops its spending at alpha - 1e-8 at the last look
    np.testing.assert_allclose(bounds.cumulative_alpha, [float(r["alpha_spent"]) for r in rows], rtol=1e-6, atol=2e-8)
    np.testing.assert_allclose(design.inflation_factor, float(first["inflation_factor"]), rtol=1e-5)
    np.testing.assert_allclose(design.drift**2, float(first["shift"]), rtol=1e-5)
    np.testing.assert_allclose(design.cumulative_power, [float(r["power"]) for r in rows], atol=1e-5)
    # rpact's expected sample sizes are relative to the fixed design: ours are fractions of the maximum
    np.testing.assert_allclose(design.expected_fraction_h1 * design.inflation_factor, float(first["asn_h1"]), rtol=1e-5)
    np.testing.assert_allclose(design.expected_fraction_h0 * design.inflation_factor, float(first["asn_h0"]), rtol=1e-5)


def test_published_obrien_fleming_and_pocock_boundaries() -> None:
    obf = boundaries(planned_fractions(5), "obrien_fleming", 0.05, two_sided=True)
    np.testing.assert_allclose(obf.z, [4.877, 3.357, 2.680, 2.290, 2.031], atol=5e-4)
    pocock = boundaries(planned_fractions(5), "pocock", 0.05, two_sided=True)
    np.testing.assert_allclose(pocock.z, 2.41, atol=0.03)  # "about 2.44 at every look", slowly falling to 2.39


def test_spending_functions_in_closed_form() -> None:
    z = stats.norm.ppf(1 - 0.025 / 2)
    for t in (0.1, 0.5, 0.9):
        assert spent("obrien_fleming", 0.025, t) == pytest.approx(2 * stats.norm.sf(z / math.sqrt(t)), rel=1e-12)
        assert spent("pocock", 0.025, t) == pytest.approx(0.025 * math.log(1 + (math.e - 1) * t), rel=1e-12)
        assert cumulative_alpha("pocock", 0.05, t, two_sided=True) == pytest.approx(2 * spent("pocock", 0.025, t))
    assert spent("obrien_fleming", 0.025, 1.0) == 0.025
    assert spent("pocock", 0.025, 0.0) == 0.0


def test_one_look_is_the_fixed_test() -> None:
    for two_sided, alpha in ((True, 0.05), (False, 0.025), (True, 0.01)):
        design = group_sequential_design([1.0], "obrien_fleming", alpha, 0.9, two_sided=two_sided)
        tail = alpha / 2 if two_sided else alpha
        assert design.boundaries.z[0] == pytest.approx(stats.norm.isf(tail), abs=1e-12)
        assert design.inflation_factor == pytest.approx(1.0, abs=1e-9)
        assert design.drift == pytest.approx(stats.norm.isf(tail) + stats.norm.ppf(0.9), abs=1e-8)


def test_recomputed_boundary_spends_alpha_at_the_actual_fraction() -> None:
    """A 5-look plan analysed at fractions 0.25 and 0.45 instead of 0.2 and 0.4 gets the boundary of the design
    planned at those fractions (rpact, design 15: 4.33263, 3.14472)."""
    rows = DESIGNS[15]
    first = look_decision(1.0, 1.0, look=1, looks=5, information_fraction=0.25)
    second = look_decision(1.0, 1.0, look=2, looks=5, information_fraction=0.45, previous_fractions=[0.25])
    assert first.recomputed and second.recomputed
    assert first.z_boundary == pytest.approx(float(rows[0]["critical_value"]), abs=1e-5)
    assert second.z_boundary == pytest.approx(float(rows[1]["critical_value"]), abs=1e-5)
    assert second.cumulative_alpha == pytest.approx(float(rows[1]["alpha_spent"]), rel=1e-6)
    as_planned = look_decision(1.0, 1.0, look=2, looks=5)
    assert not as_planned.recomputed
    assert as_planned.z_boundary == pytest.approx(float(DESIGNS[5][1]["critical_value"]), abs=1e-5)


def test_final_look_spends_all_that_is_left() -> None:
    """At the final look the level is exactly alpha whatever fraction was reached (0.9 or 1.1 of the plan): the
    interim looks spent alpha(t), the last one all that is left."""
    for final in (0.9, 1.1):
        decision = look_decision(1.0, 1.0, look=5, looks=5, information_fraction=final)
        assert decision.cumulative_alpha == pytest.approx(0.05)
        design = boundaries([0.2, 0.4, 0.6, 0.8, final], "obrien_fleming", 0.05, two_sided=True)
        assert decision.z_boundary == pytest.approx(design.z[-1], abs=1e-12)
        up, down = sequential_power(design, np.zeros(1))
        assert float(up.sum() + down.sum()) == pytest.approx(0.05, abs=1e-8)
        # the interim looks are those of the plan
        np.testing.assert_allclose(design.z[:4], [float(r["critical_value"]) for r in DESIGNS[5][:4]], atol=1e-5)
    # less information at the end than planned: the same alpha is left, over a shorter stretch: a lower boundary
    assert look_decision(1.0, 1.0, look=5, looks=5, information_fraction=0.9).z_boundary < float(
        DESIGNS[5][4]["critical_value"]
    )
