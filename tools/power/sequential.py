"""The power tool's group-sequential designs: the fixed test's equations, carried to a design with interim looks.

A design with K looks and Lan-DeMets spending reaches its power at a larger drift (effect over standard error at
the maximum sample size) than the fixed test (``tools.sequential.design``). The fixed test reaches that same drift
at the power it has there, ``equivalent_power``; so the fixed equations solved for that power give the maximum
sample size (or, at a given maximum, the detectable effect), and the fixed power at any size maps to the
sequential one through the drift. Under the normal approximation the maximum is the inflation factor times the fixed
size; the exact t-test power of means carries over through the same drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tools.errors import ToolError
from tools.power.formulas import Design, FloatArray
from tools.power.models import PowerLook, PowerRequest, PowerSequential
from tools.sequential.design import (
    DesignCharacteristics,
    drift_for_fixed_power,
    expected_fraction,
    fixed_power,
    group_sequential_design,
    sequential_power,
)
from tools.sequential.monitoring import planned_fractions

__all__ = ["SequentialPlan", "plan"]


@dataclass(frozen=True)
class SequentialPlan:
    """A request's sequential design at the power it targets (or 0.8 when power is solved for)."""

    request: PowerRequest
    design: Design
    characteristics: DesignCharacteristics

    @property
    def two_sided(self) -> bool:
        return self.design.alternative == "two-sided"

    def equivalent_power(self) -> float:
        """The fixed test's power at the drift where the sequential design has its target power."""
        value = float(
            fixed_power(np.array([self.characteristics.drift]), self.design.alpha, two_sided=self.two_sided)[0]
        )
        if value >= 1.0 - 1e-12:
            raise ToolError(
                "power_too_high",
                f"A target power of {self.characteristics.power:g} with {self.request.looks} looks is beyond what "
                "the equations can resolve.",
                "Use a target power of at most 0.99.",
            )
        return value

    def drift_at(self, fixed: FloatArray) -> FloatArray:
        """The drift at which the fixed test has power ``fixed``."""
        return drift_for_fixed_power(fixed, self.design.alpha, two_sided=self.two_sided)

    def power_at(self, fixed: FloatArray) -> FloatArray:
        """The sequential design's power (in the effect's direction) where the fixed test has power ``fixed``."""
        up, _ = sequential_power(self.characteristics.boundaries, self.drift_at(fixed))
        return np.asarray(np.clip(up.sum(axis=0), 0.0, 1.0), dtype=np.float64)

    def result(self, n1: int, n2: int, arms: int, fixed_at_max: float, n_fixed: int | None) -> PowerSequential:
        """The result's ``sequential``: per-look sizes and boundaries, and expected sizes under H1 and H0."""
        bounds = self.characteristics.boundaries
        drift = float(self.drift_at(np.array([fixed_at_max]))[0])
        up, _ = sequential_power(bounds, np.array([drift]))
        cumulative = np.cumsum(up[:, 0])
        n_total = n1 + (arms - 1) * n2
        looks = []
        for k, t in enumerate(bounds.fractions):
            a = n1 if k == bounds.looks - 1 else math.ceil(t * n1 - 1e-9)
            b = n2 if k == bounds.looks - 1 else math.ceil(t * n2 - 1e-9)
            looks.append(
                PowerLook(
                    look=k + 1,
                    information_fraction=t,
                    z_boundary=bounds.z[k],
                    nominal_p=bounds.nominal_p(k),
                    cumulative_alpha=min(1.0, bounds.cumulative_alpha[k]),
                    n_per_arm=a,
                    n_total=a + (arms - 1) * b,
                    cumulative_power=float(min(1.0, cumulative[k])),
                )
            )
        return PowerSequential(
            looks=bounds.looks,
            spending=bounds.spending,
            boundaries=looks,
            inflation_factor=self.characteristics.inflation_factor,
            n_per_arm_fixed=n_fixed,
            expected_n_total=expected_fraction(bounds, drift) * n_total,
            expected_n_total_h0=expected_fraction(bounds, 0.0) * n_total,
        )


def plan(request: PowerRequest, design: Design, target: float | None) -> SequentialPlan | None:
    """The sequential design of a request with looks > 1 (None for a fixed-horizon one)."""
    if request.looks == 1:
        if request.information_fractions is not None and list(request.information_fractions) != [1.0]:
            raise ToolError(
                "fractions_without_looks",
                "information_fractions were given for a fixed-horizon design (looks = 1).",
                "Set looks to the number of planned analyses, or leave information_fractions null.",
            )
        return None
    fractions = planned_fractions(request.looks, request.information_fractions)
    characteristics = group_sequential_design(
        fractions,
        request.spending,
        design.alpha,
        target if target is not None else 0.8,
        two_sided=design.alternative == "two-sided",
    )
    return SequentialPlan(request=request, design=design, characteristics=characteristics)
