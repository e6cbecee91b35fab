"""The choices the tools share, each spelled once: requests, results and the plans derived from them import them
from here, so that one value cannot drift between a request, its result and a pre-registration.

Plain ``Literal`` aliases (not ``type`` statements): a field typed with one gets the same inline ``enum`` in its JSON
schema as a ``Literal`` written in place, so the pinned request schemas do not depend on where a choice is defined.
Light: typing only.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "Alternative",
    "BandwidthRule",
    "BandwidthSelector",
    "BasePeriod",
    "BootstrapMethod",
    "CheckVerdict",
    "ControlGroup",
    "Correction",
    "CurveKind",
    "Decision",
    "Direction",
    "Estimand",
    "Estimator",
    "EstimatorChoice",
    "EventSource",
    "IVStandardErrors",
    "Interval",
    "ItsErrors",
    "Kernel",
    "MdeKind",
    "MetricKind",
    "MetricRole",
    "Monitoring",
    "PowerMetric",
    "PropensityMethod",
    "RefuteVerdict",
    "Side",
    "SolveFor",
    "SpendingFunction",
    "Status",
    "SynthEstimator",
    "SynthInference",
    "TargetTool",
]

# --- verdicts -------------------------------------------------------------------------------------------------------

#: Every ``status`` of a check or a diagnostic: "pass", "warn", "fail", or "not_tested" (an assumption the data
#: cannot test, or a diagnostic that could not run). A field may never produce some of them (a pre-trend test only
#: passes or fails).
Status = Literal["pass", "warn", "fail", "not_tested"]
#: One refutation check's verdict: its null held ("pass"), was rejected ("fail"), or could not be judged.
CheckVerdict = Literal["pass", "fail", "inconclusive"]
#: The refute tool's overall verdict on an estimate: at least one check passed, none failed, and the target
#: analysis's own design checks hold ("robust"); a stability or sensitivity check failed, a design check of the
#: target analysis itself failed, or no check could judge it ("fragile"); a falsification check failed ("failed").
RefuteVerdict = Literal["robust", "fragile", "failed"]

# --- tests and experiments (power, ab_test) ---------------------------------------------------------------------

#: Direction of a test of treatment minus control.
Alternative = Literal["two-sided", "larger", "smaller"]
#: Multiple-testing correction.
Correction = Literal["none", "holm", "benjamini-hochberg"]
#: What the power tool computes.
SolveFor = Literal["sample_size", "mde", "power"]
#: The power tool's metric: a rate of 0/1 outcomes or a mean.
PowerMetric = Literal["proportion", "mean"]
#: Units of a minimum detectable effect.
MdeKind = Literal["absolute", "relative"]
#: What a power curve plots against control-arm size.
CurveKind = Literal["power_vs_n", "mde_vs_n"]
#: An A/B test metric's kind.
MetricKind = Literal["binary", "continuous", "ratio", "quantile"]
#: How ab_test computes intervals: analytic (z, t, score) or by resampling (rows needed).
Interval = Literal["analytic", "bootstrap"]
#: A bootstrap interval: bias-corrected and accelerated, or plain percentile.
BootstrapMethod = Literal["bca", "percentile"]
#: An A/B test metric's role in the decision.
MetricRole = Literal["primary", "secondary", "guardrail"]
#: Which change of a metric is good.
Direction = Literal["increase", "decrease"]
#: An A/B test's decision ("continue": an interim look of a sequential or always-valid analysis crossed no
#: boundary, so the experiment keeps running).
Decision = Literal["ship", "don't ship", "inconclusive", "investigate", "continue"]

# --- diff_in_diff ----------------------------------------------------------------------------------------------------

#: The estimator a request asks for.
EstimatorChoice = Literal["auto", "twfe", "event_study", "callaway_santanna"]
#: The estimator that ran.
Estimator = Literal["twfe", "event_study", "callaway_santanna"]
#: Callaway-Sant'Anna comparison units.
ControlGroup = Literal["never_treated", "not_yet_treated"]
#: Callaway-Sant'Anna pre-period comparisons.
BasePeriod = Literal["varying", "universal"]
#: The estimator behind an event study.
EventSource = Literal["twfe_event_study", "callaway_santanna"]

# --- propensity ------------------------------------------------------------------------------------------------------

#: A propensity-score estimator.
PropensityMethod = Literal["ipw", "matching", "aipw"]
#: The population a propensity analysis speaks for.
Estimand = Literal["ATT", "ATE"]

# --- rdd -------------------------------------------------------------------------------------------------------------

#: Kernel weighting observations by distance to the cutoff.
Kernel = Literal["triangular", "uniform", "epanechnikov"]
#: A data-driven bandwidth rule.
BandwidthSelector = Literal["mserd", "msetwo"]
#: How the bandwidths were chosen: a data-driven rule, or given.
BandwidthRule = Literal["mserd", "msetwo", "manual"]
#: A side of the cutoff, in the running variable's order.
Side = Literal["above", "below"]

# --- synthetic_control ----------------------------------------------------------------------------------------------

#: The estimator of a few treated units against donors (or, with no donors, one series against its own past).
SynthEstimator = Literal["synthetic_did", "synthetic_control", "did", "interrupted_time_series"]
#: How synthetic control's uncertainty is measured.
SynthInference = Literal["placebo", "jackknife", "bootstrap"]
#: How the interrupted time series gets its standard errors.
ItsErrors = Literal["ar1_gls", "newey_west"]

# --- refute ----------------------------------------------------------------------------------------------------------

#: The estimation tools whose estimate can be challenged (and that a pre-registration plans).
TargetTool = Literal["ab_test", "diff_in_diff", "synthetic_control", "propensity", "rdd", "instrumental_variables"]

# --- instrumental_variables -----------------------------------------------------------------------------------------

#: How instrumental-variables standard errors are computed: heteroskedasticity-robust (HC1), classical, or clustered.
IVStandardErrors = Literal["robust", "classical", "cluster"]

# --- sequential designs (power, ab_test) -----------------------------------------------------------------------------

#: A Lan-DeMets alpha-spending function: O'Brien-Fleming-type (little alpha early) or Pocock-type (evenly spread).
SpendingFunction = Literal["obrien_fleming", "pocock"]
#: How an A/B test may be watched: one analysis at the planned size ("fixed", or planned looks via a sequential
#: plan), or confidence sequences valid at every sample size ("always_valid").
Monitoring = Literal["fixed", "always_valid"]
