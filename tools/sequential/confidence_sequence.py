"""Asymptotic confidence sequences for a difference in means: intervals that hold at every sample size at once, so
an experiment may be watched continuously and stopped at any time (Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas
2023, "Time-uniform central limit theory and asymptotic confidence sequences"; the normal-mixture boundary of Howard,
Ramdas, McAuliffe & Sekhon 2021).

For a mean of n units with standard deviation sigma, the two-sided sequence is

    estimate +- sigma * sqrt( 2 (n rho^2 + 1) / (n^2 rho^2) * log( sqrt(n rho^2 + 1) / alpha ) ),

Robbins's normal mixture of the exponential martingale with mixing variance rho^2 (Ville's inequality gives the time
uniform level alpha), made asymptotic by the strong Gaussian coupling of Waudby-Smith et al. For the difference of two
arms, sigma^2 = n * std_error^2 (n all units together) is the variance of the augmented IPW pseudo-outcome with the
arms' means plugged in, the paper's estimator for a randomized experiment; the same formula is GrowthBook's and
Eppo's. rho is fixed before the experiment from the planned size n*: rho^2 = (-2 log alpha + log(-2 log alpha + 1))
/ n* makes the sequence narrowest at n* (Waudby-Smith et al., eq. for the optimal rho). A one-sided bound mixes over
a half-normal instead, the exact one-sided normal mixture of Howard et al. (2021, Proposition 6).
"""

from __future__ import annotations

import math

from scipy import optimize, special

from tools.errors import ToolError
from tools.literals import Alternative
from tools.sequential.models import ConfidenceSequence

__all__ = ["boundary_multiplier", "confidence_sequence", "tuned_rho"]


def tuned_rho(target_n: float, alpha: float) -> float:
    """The mixing parameter that makes the two-sided sequence narrowest at ``target_n`` units."""
    log_term = -2.0 * math.log(alpha)
    return math.sqrt((log_term + math.log(log_term + 1.0)) / target_n)


def boundary_multiplier(n: float, rho: float, alpha: float, alternative: Alternative = "two-sided") -> float:
    """The sequence's half-width at ``n`` units in units of the standard error sigma / sqrt(n)."""
    v = n * rho * rho + 1.0  # n rho^2 + 1
    if alternative == "two-sided":
        # |S_n| / sigma <= sqrt(v / rho^2 * 2 log(sqrt(v) / alpha)), S_n the centred sum; over sqrt(n) for the mean
        return math.sqrt(v / (rho * rho) * 2.0 * math.log(math.sqrt(v) / alpha) / n)
    # one-sided: 2 / sqrt(v) * exp(rho^2 s^2 / (2 v)) * Phi(rho s / sqrt(v)) = 1 / alpha, solved for s = S_n / sigma
    log_target = -math.log(alpha) + 0.5 * math.log(v) - math.log(2.0)

    def excess(s: float) -> float:
        x = rho * s / math.sqrt(v)
        return 0.5 * x * x + float(special.log_ndtr(x)) - log_target

    high = math.sqrt(2.0 * v * (log_target + math.log(2.0))) / rho + 1.0  # Phi <= 1 bounds the root from above
    return float(optimize.brentq(excess, 0.0, high, xtol=1e-12)) / math.sqrt(n)


def confidence_sequence(
    estimate: float,
    std_error: float,
    n: int,
    *,
    target_n: int,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
) -> ConfidenceSequence:
    """The confidence sequence for a difference at ``n`` units (all arms), tuned for ``target_n`` planned units."""
    if n < 2 or target_n < 2:
        raise ToolError(
            "too_few_units",
            f"A confidence sequence needs at least 2 units now and planned; got n = {n}, target_n = {target_n}.",
            "Give the units observed so far in all arms (n) and the planned total (target_n).",
        )
    if not (std_error > 0 and math.isfinite(std_error) and math.isfinite(estimate)):
        raise ToolError(
            "no_standard_error",
            "A confidence sequence needs a finite estimate and a positive standard error.",
            "Check that both arms have data and the metric varies.",
        )
    if not 0 < alpha < 1:
        raise ToolError("alpha_out_of_range", f"alpha must be in (0, 1); got {alpha:g}.", "Use e.g. alpha = 0.05.")
    if alternative != "two-sided" and alpha >= 0.5:
        raise ToolError(
            "alpha_out_of_range",
            f"A one-sided alpha of {alpha:g} leaves the fixed-horizon interval no width to compare with.",
            "Use a one-sided alpha below 0.5 (e.g. 0.025), or a two-sided test.",
        )
    rho = tuned_rho(target_n, alpha)
    multiplier = boundary_multiplier(n, rho, alpha, alternative)
    half = multiplier * std_error
    tail = alpha / 2.0 if alternative == "two-sided" else alpha
    fixed_multiplier = float(special.ndtri(1.0 - tail))
    lower = None if alternative == "smaller" else estimate - half
    upper = None if alternative == "larger" else estimate + half
    crossed = (lower is not None and lower > 0) or (upper is not None and upper < 0)
    sided = "two-sided" if alternative == "two-sided" else "one-sided (half-normal mixture)"
    return ConfidenceSequence(
        estimate=estimate,
        std_error=std_error,
        n=n,
        target_n=target_n,
        rho=rho,
        alpha=alpha,
        alternative=alternative,
        ci_lower=lower,
        ci_upper=upper,
        half_width=half,
        fixed_half_width=fixed_multiplier * std_error,
        width_ratio=multiplier / fixed_multiplier,
        crossed=crossed,
        method=f"Asymptotic confidence sequence (Waudby-Smith et al. 2023), {sided} normal-mixture boundary "
        f"(Howard et al. 2021) with rho = {rho:.4g} tuned for {target_n:,} units: valid at every sample size, "
        f"{multiplier / fixed_multiplier:.3g} times as wide as the fixed-horizon interval at n = {n:,}.",
    )
