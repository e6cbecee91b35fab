"""Request and result models of the power tool's quasi-experimental designs: DiD, RDD and synthetic control.

The request side is one optional field of :class:`~tools.power.models.PowerRequest`, ``design``: one flat model
whose ``kind`` says which fields apply (the first request's prompt is at its character budget: three models of
their own cost half as much again in schema characters; descriptions stay terse). The
effect, the outcome's standard deviation, alpha, the target power and the unknown come from the request's own
fields (``mde``, ``std_dev``, ``alpha``, ``power``, ``solve_for``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tools.results import ToolRequest, ToolResult

__all__ = [
    "DEFAULT_SIMULATIONS",
    "MAX_SIMULATIONS",
    "QUASI_DESIGNS",
    "EchoedDesign",
    "QuasiDesign",
    "QuasiKind",
    "QuasiPower",
]

DEFAULT_SIMULATIONS = 2000
MAX_SIMULATIONS = 100_000
MAX_COUNT = 10**12  # units, periods or donors: a sanity bound (not shown in the schema)
MAX_COHORTS = 100

QuasiKind = Literal["did", "rdd", "synth"]
#: recommend_method's design that each kind sizes (its name in sentences: ``tools.recommend.METHOD_NAMES``).
QUASI_DESIGNS: dict[QuasiKind, str] = {"did": "diff_in_diff", "rdd": "rdd", "synth": "synthetic_control"}
MAX_SEED = 2**32 - 1


class QuasiDesign(ToolRequest):
    """Sized by simulation. did: TWFE, unit-clustered; rdd: local-linear, robust bias-corrected; synth: placebo test
    (std_dev = pre-period RMSPE)."""

    kind: QuasiKind = Field(description="'did', 'rdd' or 'synth'.")
    treated: int = Field(ge=1, le=MAX_COUNT, description="Treated units (rdd: in the bandwidth above; synth: 1).")
    control: int = Field(ge=1, le=MAX_COUNT, description="Control units (rdd: below; synth: donors).")
    pre: int | None = Field(default=None, ge=1, le=MAX_COUNT, description="Pre periods (did, synth).")
    post: int | None = Field(default=None, ge=1, le=MAX_COUNT, description="Post periods (did, synth).")
    icc: float | None = Field(default=None, ge=0, lt=1, description="did: share of variance in unit levels.")
    ar1: float | None = Field(default=None, gt=-1, lt=1, description="did: AR(1) correlation of shocks.")
    adoption: list[float] | None = Field(
        default=None,
        max_length=MAX_COHORTS,
        description="did, staggered: share of treated units starting in each post period; null = all in the first.",
    )
    simulations: int | None = Field(default=None, ge=100, le=MAX_SIMULATIONS, description="Null = 2000.")
    seed: int = Field(default=0, ge=0, le=MAX_SEED, description="Random seed.")


class EchoedDesign(ToolResult):
    """The quasi-experimental design a power result was computed for, as given (the request's ``design``)."""

    kind: QuasiKind = Field(description="'did', 'rdd' or 'synth'.")
    treated: int = Field(description="Treated units (rdd: within the bandwidth above the cutoff; synth: 1).")
    control: int = Field(description="Comparison units (rdd: below the cutoff; synth: donors).")
    pre: int | None = Field(description="Periods before the change (did, synth).")
    post: int | None = Field(description="Periods after it (did, synth).")
    icc: float | None = Field(description="did: share of the outcome's variance in unit levels.")
    ar1: float | None = Field(description="did: AR(1) correlation of the shocks.")
    adoption: list[float] | None = Field(description="did: share of treated units starting in each post period.")
    simulations: int | None = Field(description="Simulations asked for (null: the default).")
    seed: int = Field(description="Random seed.")

    @classmethod
    def of(cls, design: QuasiDesign) -> EchoedDesign:
        return cls.model_validate(design.model_dump())


class QuasiPower(ToolResult):
    """The simulation behind a quasi-experimental power result."""

    design: EchoedDesign = Field(description="The design, as given.")
    simulations: int = Field(description="Simulated data sets.")
    seed: int = Field(description="Random seed used.")
    power_mc_se: float = Field(description="Monte Carlo standard error of the simulated power.")
    analytic_power: float | None = Field(description="Closed-form power at the same effect (null if none).")
    std_error: float | None = Field(description="The estimator's standard error from the closed form.")
    min_p_value: float | None = Field(description="Smallest attainable placebo p-value (synthetic control).")
    assumptions: list[str] = Field(description="What the simulation assumes.")
