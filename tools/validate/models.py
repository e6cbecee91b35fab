"""The calibration table's rows, and the rates they are built from."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BAND", "Rate", "ValidationReport", "ValidationRow", "build_row"]

#: A figure is "check" when it lies more than this many Monte Carlo standard errors from its nominal value.
BAND = 3.5

Size = Literal["quick", "default"]


@dataclass
class Rate:
    """A proportion estimated from independent replications: how often an interval covered, or a test rejected."""

    hits: int = 0
    trials: int = 0

    def add(self, hit: bool) -> None:
        self.hits += int(hit)
        self.trials += 1

    @property
    def value(self) -> float:
        return self.hits / self.trials if self.trials else math.nan

    @property
    def mc_se(self) -> float:
        """The Monte Carlo standard error of the rate, sqrt(p (1 - p) / R), with p the observed rate after one more
        hit and one more miss ((hits + 1) / (R + 2)): about the observed rate's, and never 0 at a rate of 0 or 1."""
        if not self.trials:
            return math.nan
        p = (self.hits + 1) / (self.trials + 2)
        return math.sqrt(p * (1 - p) / self.trials)


class ValidationRow(BaseModel):
    """One line of the calibration table: one estimator in one simulated design."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    estimator: str = Field(description="The registered tool that was run (through the registry's dispatcher).")
    what: str = Field(description="The design and the figure's target, in words.")
    replications: int = Field(description="Simulated data sets analysed.")
    n: int = Field(description="Rows per simulated data set (units, or unit-periods for a panel).")
    alpha: float = Field(description="Significance level of the analyses: nominal coverage is 1 - alpha.")
    coverage: float | None = Field(description="Share of the (1 - alpha) intervals that covered the true effect.")
    coverage_mc_se: float | None = Field(description="Monte Carlo standard error of the coverage.")
    fpr: float | None = Field(description="A/A (no effect) false-positive rate: share of tests rejecting at alpha.")
    fpr_mc_se: float | None = Field(description="Monte Carlo standard error of the false-positive rate.")
    power: float | None = Field(default=None, description="Share of simulated experiments with an effect rejected.")
    power_mc_se: float | None = Field(default=None, description="Monte Carlo standard error of the power.")
    power_planned: float | None = Field(default=None, description="The power the power tool's formula promised.")
    conservative: bool = Field(
        description="The method is conservative by design: only coverage below 1 - alpha (or rejections above "
        "alpha) count against it."
    )
    misspecified: bool = Field(
        description="A deliberately wrong analysis, included to show that the table detects it: it should read 'check'."
    )
    failed: int = Field(description="Replications the tool refused or could not analyse (left out of the rates).")
    reference: str | None = Field(description="Reference parity: the published or reference figures and whyscope's.")
    reference_ok: bool | None = Field(
        description="True/false when the reference figure was recomputed in this run and agrees/disagrees; null when "
        "it is pinned by the test suite and not recomputed here."
    )
    status: Literal["ok", "check"] = Field(
        description=f"'check' when a figure lies more than {BAND} Monte Carlo standard errors (at the nominal rate) "
        "from its nominal value, a recomputed reference disagrees, or replications failed; else 'ok'."
    )
    note: str = Field(description="Why the status is 'check' (empty when ok).")


class ValidationReport(BaseModel):
    """The whole calibration run: its size and seed, and the rows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: Size = Field(description="'quick' (about a minute) or 'default' (several minutes).")
    seed: int = Field(description="The base seed; each design draws from its own stream derived from it.")
    band: float = Field(default=BAND, description="Monte Carlo standard errors allowed before a figure reads 'check'.")
    rows: list[ValidationRow] = Field(description="One row per estimator and design.")


def _off(rate: Rate, nominal: float, conservative: bool, name: str, low_is_bad: bool) -> str | None:
    """Why ``rate`` is off its nominal value by more than BAND standard errors at the nominal rate, or None."""
    if rate.trials == 0:
        return f"no {name} could be measured"
    se = math.sqrt(nominal * (1 - nominal) / rate.trials)
    z = (rate.value - nominal) / se
    too_low, too_high = z < -BAND, z > BAND
    if conservative:
        too_low, too_high = (too_low, False) if low_is_bad else (False, too_high)
    if not (too_low or too_high):
        return None
    return f"{name} {rate.value:.3f} is {abs(z):.1f} MC SEs {'below' if z < 0 else 'above'} {nominal:.3f}"


def build_row(
    estimator: str,
    what: str,
    n: int,
    *,
    alpha: float = 0.05,
    coverage: Rate | None = None,
    fpr: Rate | None = None,
    power: Rate | None = None,
    power_planned: float | None = None,
    conservative: bool = False,
    misspecified: bool = False,
    failed: int = 0,
    reference: str | None = None,
    reference_ok: bool | None = None,
) -> ValidationRow:
    """A row with its status: each figure against its nominal value (coverage 1 - alpha, FPR alpha, power the
    formula's) within BAND Monte Carlo standard errors, a recomputed reference, and failed replications."""
    figures = [r for r in (coverage, fpr, power) if r is not None]
    replications = max((r.trials for r in figures), default=0)
    problems = [
        problem
        for problem in (
            _off(coverage, 1 - alpha, conservative, "coverage", True) if coverage is not None else None,
            _off(fpr, alpha, conservative, "false-positive rate", False) if fpr is not None else None,
            _off(power, power_planned, False, "power", True)
            if power is not None and power_planned is not None
            else None,
        )
        if problem is not None
    ]
    if reference_ok is False:
        problems.append("the reference figure disagrees")
    if failed:
        problems.append(f"{failed} replication(s) failed")

    def value(rate: Rate | None) -> float | None:
        return None if rate is None or rate.trials == 0 else rate.value

    def mc_se(rate: Rate | None) -> float | None:
        return None if rate is None or rate.trials == 0 else rate.mc_se

    return ValidationRow(
        estimator=estimator,
        what=what,
        replications=replications,
        n=n,
        alpha=alpha,
        coverage=value(coverage),
        coverage_mc_se=mc_se(coverage),
        fpr=value(fpr),
        fpr_mc_se=mc_se(fpr),
        power=value(power),
        power_mc_se=mc_se(power),
        power_planned=power_planned,
        conservative=conservative,
        misspecified=misspecified,
        failed=failed,
        reference=reference,
        reference_ok=reference_ok,
        status="check" if problems else "ok",
        note="; ".join(problems),
    )
