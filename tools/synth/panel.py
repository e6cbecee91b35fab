"""From a request and its frame to the validated units x periods matrix the synthetic control estimators take.

Every problem with the input is a ToolError naming the column, the units, the periods and the fix; rows left out
are counted in ``notes``, never dropped silently. Columns are looked up and read as numbers by ``tools.data.columns``
and periods (integers, dates, quarters, months, weeks) by the diff_in_diff reader, so every tool reads them alike.

Who is treated: units with a 1 in the treatment column on some row; the others are donors. Every treated unit must
start in the same period (staggered starts belong to diff_in_diff) and stay treated (a 1 followed by a 0 is refused).
Values are matched by value: 0/1 integers, floats or booleans; rows with no treatment value are left out and counted.

Balancing (the policy the issue asks to state). The panel's periods are those in which the treated units have an
outcome, from the first such period to the last (periods in that span where no unit has an outcome do not exist for
this panel). Then:

- a treated unit with no outcome in one of those periods is refused, naming the unit and the periods: its
  counterfactual cannot be compared where it is not observed, and guessing its value would make up the answer;
- a donor missing any of them is left out, named in the notes (a synthetic unit is built from complete donors
  only); if no donor is left, ``no_donor`` says which periods they miss;
- rows outside the span (donor history before the treated units' first period, or after their last) are left out
  and counted.

``Y`` holds the donors first, then the treated units, each group in the unit column's sorted order (numbers
numerically, text alphabetically; in order of appearance when the values cannot be sorted), periods in calendar
order. With ``covariates`` each unit's predictor is the mean of its non-missing values over the pre-period (ADH);
a treated unit with none is refused, a donor with none is left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tools.data.columns import column, numeric
from tools.data.names import display_name
from tools.did.panel import adoption_indicator, period_text, read_periods
from tools.did.periods import PeriodKind, describe
from tools.errors import ToolError
from tools.synth.models import PeriodLabel, SyntheticControlRequest

__all__ = ["SERIES_UNIT", "SynthPanel", "prepare_synth_panel"]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: The unit label of a single series (``unit`` null, interrupted time series).
SERIES_UNIT = "series"
#: Units and periods an error message names before "and N more".
_SHOWN = 5


@dataclass(frozen=True)
class SynthPanel:
    """A balanced outcome matrix: donors first, then treated units; the first ``n_pre`` periods before the change."""

    y: FloatArray  # (n_units, n_periods), float64, finite
    units: list[str]  # row labels, as in the unit column
    periods: list[PeriodLabel]  # column labels, in calendar order
    period_keys: IntArray  # ordered keys of the periods (integers as given, nanoseconds for dates, text-kind keys)
    period_kind: PeriodKind
    n_treated: int
    n_pre: int
    predictors: FloatArray | None  # (k, n_units): covariates averaged over the pre-period, same unit order as y
    covariate_names: list[str]
    notes: list[str] = field(default_factory=list)
    period_note: str = ""  # how the time column was read, for the method text

    @property
    def n_units(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_periods(self) -> int:
        return int(self.y.shape[1])

    @property
    def n_donors(self) -> int:
        return self.n_units - self.n_treated

    @property
    def n_post(self) -> int:
        return self.n_periods - self.n_pre

    @property
    def donors(self) -> list[str]:
        return self.units[: self.n_donors]

    @property
    def treated_units(self) -> list[str]:
        return self.units[self.n_donors :]

    @property
    def start(self) -> PeriodLabel:
        """The first treated period."""
        return self.periods[self.n_pre]

    @property
    def n_obs(self) -> int:
        """Unit-period cells used."""
        return int(self.y.size)


# --- reading -------------------------------------------------------------------------------------------------------


def _unit_text(value: object) -> str:
    """A unit value as a label: 3.0 (an integer ID a CSV read as float) as '3'."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _units(series: pd.Series) -> tuple[IntArray, list[str]]:
    """Per row a unit code (-1 when missing) in the sorted order of the values, and the labels."""
    try:
        codes, uniques = pd.factorize(series, sort=True, use_na_sentinel=True)
    except TypeError:  # values of mixed types: order of appearance
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64), [_unit_text(v) for v in uniques]


def _listed(labels: list[str], limit: int = _SHOWN) -> str:
    shown = ", ".join(f"'{display_name(v, 40)}'" for v in labels[:limit])
    return shown + (f" and {len(labels) - limit:,} more" if len(labels) > limit else "")


def _plain(labels: list[str], limit: int = _SHOWN) -> str:
    shown = ", ".join(display_name(v, 40) for v in labels[:limit])
    return shown + (f" and {len(labels) - limit:,} more" if len(labels) > limit else "")


def _check_options(request: SyntheticControlRequest) -> None:
    its = request.estimator == "interrupted_time_series"
    if request.covariates and request.estimator != "synthetic_control":
        raise ToolError(
            "covariates_need_synthetic_control",
            f"Covariates are used by the synthetic control estimator only, not by '{request.estimator}'.",
            'Set estimator to "synthetic_control", or drop the covariates (the pre-period outcomes are then the '
            "predictors).",
        )
    if request.covariates and len(set(request.covariates)) != len(request.covariates):
        raise ToolError("duplicate_covariates", "A covariate is listed twice.", "List each covariate once.")
    if request.season_period is not None and not its:
        raise ToolError(
            "season_needs_its",
            "Seasonal terms (`season_period`) belong to the interrupted time series only.",
            'Drop season_period, or set estimator to "interrupted_time_series".',
        )
    if request.se_method != "ar1_gls" and not its:
        raise ToolError(
            "se_method_needs_its",
            f"`se_method` '{request.se_method}' belongs to the interrupted time series only; the "
            f"'{request.estimator}' estimator's interval comes from `inference`.",
            'Drop se_method, or set estimator to "interrupted_time_series".',
        )
    if request.unit is None and not its:
        raise ToolError(
            "unit_required",
            f"The '{request.estimator}' estimator compares the treated units with untreated ones, so it needs the "
            "column identifying the unit.",
            'Give `unit`, or, for one series with no comparison units, set estimator to "interrupted_time_series".',
        )


def _treatment(request: SyntheticControlRequest, frame: pd.DataFrame) -> FloatArray:
    """Per row, the treatment as a number: the treatment column's value, or 1.0 where the request's ``adoptions``
    make the row's unit treated in the row's period (0.0 elsewhere)."""
    given = [name for name in ("treatment", "adoptions") if getattr(request, name) is not None]
    if len(given) != 1:
        raise ToolError(
            "treatment_or_adoptions",
            "Say who got the change: give `treatment` (a 0/1 column) or `adoptions` (the treated units and their "
            "first treated period)."
            if not given
            else "Both `treatment` and `adoptions` were given; they say the same thing twice.",
            "Name the 0/1 treated-in-this-period column as treatment; when no column says it, list the treated "
            "units with their first treated period as adoptions.",
        )
    if request.treatment is not None:
        return numeric(column(frame, request.treatment, "treatment"), request.treatment, "treatment")
    if request.unit is None:
        raise ToolError(
            "unit_required",
            "`adoptions` name treated units, so the request needs the column identifying the unit.",
            "Give `unit`, or give a 0/1 `treatment` column for one series.",
        )
    return adoption_indicator(request, frame)


def prepare_synth_panel(request: SyntheticControlRequest, frame: pd.DataFrame) -> SynthPanel:
    """Validate ``frame`` against ``request`` and build the balanced matrix (see the module docstring)."""
    _check_options(request)
    its = request.estimator == "interrupted_time_series"
    notes: list[str] = []
    y_all = numeric(column(frame, request.outcome, "outcome"), request.outcome, "outcome")
    time_raw = column(frame, request.time, "time")
    treat_all = _treatment(request, frame)
    treat_name = display_name(request.treatment or "adoptions")
    if request.unit is not None:
        unit_codes, labels = _units(column(frame, request.unit, "unit"))
    else:
        unit_codes, labels = np.zeros(len(frame), dtype=np.int64), [SERIES_UNIT]
    covariate_names = list(request.covariates or [])
    cov_all = [numeric(column(frame, name, "covariate"), name, "covariate") for name in covariate_names]
    read = read_periods(time_raw, request.time)
    kind = read.kind

    has_time = time_raw.notna().to_numpy()
    keep = (unit_codes >= 0) & has_time
    for what, missing in (("unit", unit_codes < 0), ("period", ~has_time)):
        if missing.any():
            notes.append(f"{int(missing.sum()):,} row(s) with no {what} were left out.")
    present = ~np.isnan(treat_all)
    odd = keep & present & (treat_all != 0) & (treat_all != 1)
    if odd.any():
        bad = np.unique(treat_all[odd])
        raise ToolError(
            "treatment_not_binary",
            f"The treatment column '{treat_name}' must be 0/1 but holds "
            f"{', '.join(f'{v:g}' for v in bad[:_SHOWN])}" + (" …" if len(bad) > _SHOWN else "") + ".",
            "Code treatment as 1 in the treated units' periods from the change on and 0 everywhere else.",
        )
    if (keep & ~present).any():
        notes.append(f"{int((keep & ~present).sum()):,} row(s) with no treatment value were left out.")
        keep &= present
    if not keep.any():
        raise ToolError(
            "no_data_rows",
            "No row has a unit, a period and a treatment value.",
            "Check the unit, time and treatment columns for missing values.",
        )
    rows = np.flatnonzero(keep)
    unit = unit_codes[rows]
    period_keys, inverse = np.unique(read.keys[rows], return_inverse=True)
    time = np.asarray(inverse, dtype=np.int64).reshape(-1)
    n_all, p_all = len(labels), len(period_keys)

    def period(t: int) -> PeriodLabel:
        return int(period_keys[t]) if kind == "integer" else period_text(int(period_keys[t]), kind)

    def periods_text(ts: NDArray[np.integer]) -> str:
        return _plain([str(period(int(t))) for t in ts])

    _refuse_duplicates(unit, time, p_all, labels, period, request)

    # --- who is treated, from when -------------------------------------------------------------------------------
    treated_row = treat_all[rows] == 1
    first = np.full(n_all, p_all, dtype=np.int64)
    np.minimum.at(first, unit[treated_row], time[treated_row])
    treated_units = np.flatnonzero(first < p_all)
    if not len(treated_units):
        raise ToolError(
            "no_treated",
            f"No row of the treatment column '{treat_name}' is 1: no unit got the change.",
            "Mark the treated units' rows from the change on with 1.",
        )
    starts = first[treated_units]
    distinct = np.unique(starts)
    if len(distinct) > 1:
        cohorts = "; ".join(
            f"from {period(int(s))}: {_listed([labels[u] for u in treated_units[starts == s].tolist()], 3)}"
            for s in distinct[:_SHOWN]
        )
        raise ToolError(
            "staggered_adoption",
            f"The treated units start in {len(distinct)} different periods ({cohorts}"
            + (f"; and {len(distinct) - _SHOWN:,} more periods" if len(distinct) > _SHOWN else "")
            + "); synthetic control needs one common start.",
            "Use diff_in_diff (Callaway-Sant'Anna handles staggered starts), or analyse the units that share one "
            "start on their own.",
        )
    start = int(starts[0])
    reverted = ~treated_row & (time >= first[unit])
    if reverted.any():
        bad_units = np.unique(unit[reverted])
        row = int(np.flatnonzero(reverted)[0])
        raise ToolError(
            "treatment_reverts",
            f"Treatment goes back to 0 after it started for {len(bad_units):,} unit(s), e.g. "
            f"'{display_name(labels[int(unit[row])], 40)}' in {period(int(time[row]))}.",
            "Code treatment as 1 in every period from the change on; if the change was switched off, analyse the "
            "periods before it was.",
        )

    # --- the periods: the treated units' span ----------------------------------------------------------------------
    y = y_all[rows]
    has_y = ~np.isnan(y)
    if not has_y.all():
        notes.append(f"{int((~has_y).sum()):,} row(s) with a missing outcome were left out.")
    is_treated = np.zeros(n_all, dtype=bool)
    is_treated[treated_units] = True
    treated_obs = is_treated[unit] & has_y
    if not treated_obs.any():
        raise ToolError(
            "missing_outcome",
            f"The treated unit(s) {_listed([labels[u] for u in treated_units])} have no value of the outcome "
            f"'{display_name(request.outcome)}'.",
            "Check the outcome column: the treated units need values before and after the change.",
        )
    low, high = int(time[treated_obs].min()), int(time[treated_obs].max())
    observed = np.zeros((n_all, p_all), dtype=bool)
    observed[unit[has_y], time[has_y]] = True
    in_span = np.zeros(p_all, dtype=bool)
    in_span[low : high + 1] = observed[:, low : high + 1].any(axis=0)
    span = np.flatnonzero(in_span)
    incomplete = [u for u in treated_units.tolist() if not observed[u, span].all()]
    if incomplete:
        gaps = "; ".join(
            f"'{display_name(labels[u], 40)}' in {periods_text(span[~observed[u, span]])}" for u in incomplete[:_SHOWN]
        )
        raise ToolError(
            "treated_unit_incomplete",
            f"{len(incomplete):,} treated unit(s) have no outcome in periods that other units have: {gaps}"
            + (f"; and {len(incomplete) - _SHOWN:,} more units" if len(incomplete) > _SHOWN else "")
            + ". A treated unit must be observed in every period of the comparison.",
            "Fill in the missing outcomes, or drop those periods for every unit.",
        )
    if start > high:
        raise ToolError(
            "no_post_period",
            f"The change starts in {period(start)}, but the treated units have no outcome from then on (their last "
            f"is {period(high)}): there is nothing after the change to compare yet.",
            "Add the periods after the change (with their outcomes), or check the treatment column.",
        )
    n_pre = int((span < start).sum())
    if n_pre == 0:
        raise ToolError(
            "no_pre_period",
            f"The treated units are treated from their first observed period ({period(low)}) on: there is no "
            "period before the change to build the comparison on.",
            "Include the periods before the change, with treatment 0 in them.",
        )
    outside = has_y & ~in_span[time]
    if outside.any():
        notes.append(
            f"{int(outside.sum()):,} row(s) outside the treated units' periods ({period(low)} to {period(high)}) "
            "were left out."
        )

    # --- donors: complete over the span ----------------------------------------------------------------------------
    appears = np.bincount(unit, minlength=n_all) > 0
    untreated = np.flatnonzero(appears & ~is_treated)
    complete: BoolArray = np.asarray(observed[:, span].all(axis=1), dtype=bool)
    donors = [u for u in untreated.tolist() if complete[u]]
    dropped = [u for u in untreated.tolist() if not complete[u]]
    predictors: FloatArray | None = None
    if cov_all:
        pre_row = has_y & in_span[time] & (time < start)
        means = np.full((len(cov_all), n_all), np.nan)
        for j, values in enumerate(cov_all):
            values_kept = values[rows]
            use = pre_row & ~np.isnan(values_kept)
            counts = np.bincount(unit[use], minlength=n_all)
            sums = np.bincount(unit[use], weights=values_kept[use], minlength=n_all)
            with np.errstate(invalid="ignore", divide="ignore"):
                means[j] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        lacking = np.isnan(means).any(axis=0)
        lacking_treated = [u for u in treated_units.tolist() if lacking[u]]
        if lacking_treated:
            names = [covariate_names[j] for j in range(len(cov_all)) if np.isnan(means[j, lacking_treated]).any()]
            raise ToolError(
                "missing_covariate",
                f"The treated unit(s) {_listed([labels[u] for u in lacking_treated])} have no value of "
                f"{_listed(names)} before the change.",
                "Give those covariates a value in at least one pre-period, or leave them out.",
            )
        no_cov = [u for u in donors if lacking[u]]
        if no_cov:
            notes.append(
                f"{len(no_cov):,} donor(s) with no pre-period value of a covariate were left out: "
                f"{_plain([labels[u] for u in no_cov])}."
            )
            donors = [u for u in donors if not lacking[u]]
    if dropped:
        notes.append(
            f"{len(dropped):,} donor(s) missing some of the treated units' periods were left out (a synthetic unit "
            f"is built from complete donors only): {_plain([labels[u] for u in dropped])}."
        )
    if not donors and not its:
        raise _no_donor(labels, treated_units, untreated.tolist(), observed, span, periods_text)

    order = np.array(donors + treated_units.tolist(), dtype=np.int64)
    matrix = np.full((n_all, p_all), np.nan)
    matrix[unit[has_y], time[has_y]] = y[has_y]
    y_panel = np.ascontiguousarray(matrix[np.ix_(order, span)], dtype=np.float64)
    if float(np.ptp(y_panel)) == 0.0:
        raise ToolError(
            "constant_outcome",
            f"The outcome '{display_name(request.outcome)}' has the same value ({y_panel.flat[0]:g}) in every unit "
            "and period used.",
            "Check that the outcome column is the metric you meant; a constant shows no effect to estimate.",
        )
    if cov_all:
        predictors = np.ascontiguousarray(means[:, order], dtype=np.float64)
    return SynthPanel(
        y=y_panel,
        units=[labels[u] for u in order.tolist()],
        periods=[period(int(t)) for t in span],
        period_keys=period_keys[span].astype(np.int64),
        period_kind=kind,
        n_treated=len(treated_units),
        n_pre=n_pre,
        predictors=predictors,
        covariate_names=covariate_names,
        notes=notes,
        period_note=describe(kind, request.time, read.example),
    )


def _no_donor(
    labels: list[str],
    treated_units: IntArray,
    untreated: list[int],
    observed: BoolArray,
    span: IntArray,
    periods_text: Callable[[NDArray[np.integer]], str],
) -> ToolError:
    """``no_donor``: every unit is treated, or every untreated unit was left out (incomplete, or no covariate)."""
    hint_its = 'or, with nothing comparable, set estimator to "interrupted_time_series".'
    if not untreated:
        return ToolError(
            "no_donor",
            f"Every unit is treated ({_listed([labels[u] for u in treated_units.tolist()])}): there is no untreated "
            "unit to build the comparison from.",
            "Include units that never got the change (their treatment 0 in every period), " + hint_its,
        )
    incomplete = [u for u in untreated if not observed[u, span].all()]
    where = ""
    if incomplete:
        missing = span[~observed[incomplete[0], span]]
        where = f" ('{display_name(labels[incomplete[0]], 40)}' has no outcome in {periods_text(missing)})"
    return ToolError(
        "no_donor",
        f"No complete donor is left: the {len(untreated):,} untreated unit(s) all miss some of the treated units' "
        f"periods ({len(incomplete):,}) or a covariate before the change ({len(untreated) - len(incomplete):,})"
        f"{where}.",
        "Fill in the donors' missing values, or drop the periods or covariates they miss, " + hint_its,
    )


def _refuse_duplicates(
    unit: IntArray,
    time: IntArray,
    n_periods: int,
    labels: list[str],
    period: Callable[[int], PeriodLabel],
    request: SyntheticControlRequest,
) -> None:
    """``duplicate_rows``: a unit observed twice in one period."""
    cells, counts = np.unique(unit * n_periods + time, return_counts=True)
    repeated = cells[counts > 1]
    if not len(repeated):
        return
    shown = ", ".join(
        (f"'{display_name(labels[int(c) // n_periods], 40)}' in " if request.unit is not None else "")
        + f"{period(int(c) % n_periods)}"
        for c in repeated[:3]
    )
    what = "unit-period pair(s)" if request.unit is not None else "period(s)"
    raise ToolError(
        "duplicate_rows",
        f"{len(repeated):,} {what} appear more than once: {shown}" + (" …" if len(repeated) > 3 else "") + ".",
        "Aggregate to one row per unit and period first (sum or average the outcome), or check that the unit and "
        "time columns are the right ones."
        if request.unit is not None
        else "One series has one row per period: give the `unit` column if the data hold several units, or "
        "aggregate to one row per period.",
    )
