"""What every design adapter provides, and the frame surgery the simulation checks share."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tools.errors import ToolError
from tools.refute.engine import Runner
from tools.refute.models import RefuteCheck, Sensitivity
from tools.results import Check, Estimate, ToolRequest, ToolResult

__all__ = ["SIMULATED", "Design", "Units", "parse_target", "random_name"]

#: Checks whose draws run through the simulation engine; the others are computed once.
SIMULATED = ("placebo_treatment", "random_common_cause", "data_subset", "bootstrap", "dummy_outcome")

#: (estimate, p-value or NaN) of one re-estimate.
Draw = tuple[float, float]


def parse_target(tool: str, payload: Mapping[str, Any], request_model: type[ToolRequest], function: str) -> Any:
    """Validate the target request exactly as the target tool's dispatcher would: the same ToolError."""
    from tools import registry

    try:
        spec = registry.get_tool(tool)
    except ToolError:  # not registered yet: validate with an equivalent spec
        spec = registry.ToolSpec(name=tool, request=request_model, result=ToolResult, implementation=function)
    return registry.parse_request(spec, dict(payload))


def load(path: str) -> Callable[..., Any]:
    module, _, attribute = path.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module), attribute)
    return function


def random_name(frame: pd.DataFrame, stem: str) -> str:
    """A column name not already in the frame."""
    name = stem
    while name in frame.columns:
        name += "_"
    return name


@dataclass
class Units:
    """Rows grouped by a unit (cluster) column, for unit-level subsets and the cluster bootstrap."""

    codes: NDArray[np.intp] | None  # each row's unit; None when every row is its own unit
    order: NDArray[np.intp]
    starts: NDArray[np.intp]
    counts: NDArray[np.intp]
    column: str | None

    @classmethod
    def of(cls, frame: pd.DataFrame, column: str | None) -> Units:
        n = len(frame)
        if column is None:
            return cls(None, np.arange(n), np.arange(n), np.ones(n, dtype=np.intp), None)
        codes, _ = pd.factorize(frame[column], use_na_sentinel=False)
        order = np.argsort(codes, kind="stable")
        counts = np.bincount(codes).astype(np.intp)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.intp)
        return cls(codes.astype(np.intp), order, starts, counts, column)

    @property
    def n(self) -> int:
        return len(self.counts)

    def rows(self, chosen: NDArray[np.intp]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """Row positions of the chosen units (repeats allowed) and, for each row, the draw slot it came from."""
        lengths = self.counts[chosen]
        total = int(lengths.sum())
        offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        positions = np.repeat(self.starts[chosen], lengths) + offsets
        return self.order[positions], np.repeat(np.arange(len(chosen)), lengths)

    def subset(self, frame: pd.DataFrame, rng: np.random.Generator, fraction: float) -> pd.DataFrame:
        """The rows of a random ``fraction`` of the units (without replacement), in their original order."""
        keep = np.zeros(self.n, dtype=bool)
        keep[rng.choice(self.n, size=max(2, round(self.n * fraction)), replace=False)] = True
        rows = keep if self.codes is None else keep[self.codes]
        return frame.loc[rows].reset_index(drop=True)

    def bootstrap(self, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        chosen = rng.integers(0, self.n, size=self.n)
        if self.codes is None:
            return frame.take(chosen).reset_index(drop=True)
        rows, slot = self.rows(chosen)
        sample = frame.take(rows).reset_index(drop=True)
        sample[self.column] = slot  # a unit drawn twice becomes two units
        return sample


class Design(ABC):
    """One target analysis: its original estimate, its re-estimates and its design-specific checks."""

    tool: ClassVar[str]
    #: The target tool's refute battery, from its spec (set for each subclass from ``tool``).
    applicable: ClassVar[tuple[str, ...]]
    auto: ClassVar[tuple[str, ...]]

    #: What a unit is here ("users", "units (whole panels)") and how the placebo re-assigns treatment.
    unit_word: str = "rows"
    placebo_how: ClassVar[str] = "across rows"
    #: Simulation checks (of ``SIMULATED``) this design computes itself, exactly, through ``diagnostic`` (synthetic
    #: control enumerates its donors as in-space placebos instead of drawing random re-assignments).
    exact_checks: ClassVar[tuple[str, ...]] = ()

    original: Estimate
    headline: str
    estimand: str
    n_obs: int
    warnings: list[str]
    outcome_column: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A design's checks are its tool's battery, declared once in the tool's spec."""
        super().__init_subclass__(**kwargs)
        from tools.registry import get_tool  # here: the registry is loaded before any design is

        battery = get_tool(cls.tool).battery
        if battery is None:  # pragma: no cover - guards the specs
            raise TypeError(f"{cls.tool} has a refute design but no battery in its spec")
        cls.applicable, cls.auto = battery.applicable, battery.auto

    def __init__(self, frame: pd.DataFrame, alpha: float) -> None:
        self.frame = frame
        self.alpha = alpha
        self.test_alpha = alpha  # set by the tool: alpha over the battery's falsification tests (Bonferroni)
        self.test_note = ""
        self.warnings = []

    # --- re-estimates ------------------------------------------------------------------------------------

    @abstractmethod
    def estimate(self, frame: pd.DataFrame, request: Any | None = None) -> Draw:
        """Refit the whole analysis on ``frame`` (and an altered request) and return its headline."""

    def placebo(self, rng: np.random.Generator) -> Draw:
        raise NotImplementedError

    def random_common_cause(self, rng: np.random.Generator) -> Draw:
        raise NotImplementedError

    @property
    def units(self) -> Units:
        return Units.of(self.frame, None)

    def data_subset(self, rng: np.random.Generator, fraction: float) -> Draw:
        return self.estimate(self.units.subset(self.frame, rng, fraction))

    def bootstrap(self, rng: np.random.Generator) -> Draw:
        return self.estimate(self.units.bootstrap(self.frame, rng))

    def dummy_outcome(self, rng: np.random.Generator) -> Draw:
        y = pd.to_numeric(self.frame[self.outcome_column], errors="coerce").to_numpy(dtype=float)
        present = np.isfinite(y)
        noise = np.where(present, rng.normal(np.nanmean(y), max(float(np.nanstd(y)), 1e-12), size=len(y)), np.nan)
        return self.estimate(self.frame.assign(**{self.outcome_column: noise}))

    def procedure(self, name: str, fraction: float) -> str:
        """What a simulation check does to this design, in words."""
        return {
            "placebo_treatment": f"Re-assigned the treatment at random {self.placebo_how} and refitted the "
            f"{self.tool} analysis each time.",
            "random_common_cause": "Added an independent standard-normal covariate and refitted the whole analysis "
            "each time.",
            "data_subset": f"Kept a random {fraction:.0%} of the {self.unit_word} and refitted each time.",
            "bootstrap": f"Resampled the {self.unit_word} with replacement and refitted each time.",
            "dummy_outcome": "Replaced the outcome by independent normal noise with its mean and standard deviation "
            "and refitted each time.",
        }[name]

    # --- checks computed once ------------------------------------------------------------------------------

    def diagnostic(self, name: str, runner: Runner, simulations: int) -> RefuteCheck:
        """A check that is not a simulation of the generic kind (design diagnostics, sensitivity analyses)."""
        raise NotImplementedError(name)

    def steps(self, name: str, simulations: int) -> int:
        """Progress steps of a check that is not a generic simulation (re-estimates it runs, else 1)."""
        return 1

    def sensitivity(self) -> Sensitivity:
        """The sensitivity figures gathered while the checks ran."""
        return Sensitivity(e_value=None, omitted_variable_bounds=None, parallel_trends=None, breakdown_mbar=None)

    def too_few_units(self) -> str | None:
        """Why the simulation checks cannot say anything, if the data have too few units; else None."""
        return None

    def failed_design_checks(self) -> list[Check]:
        """The target analysis's own design checks that failed (its ``checks`` with status 'fail'): they cap the
        battery's verdict, whatever the battery finds."""
        result = getattr(self, "result", None)
        checks: list[Check] = list(getattr(result, "checks", None) or [])
        return [c for c in checks if c.status == "fail"]
