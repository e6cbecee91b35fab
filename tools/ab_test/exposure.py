"""Non-compliance: the complier average causal effect (CACE) of using the change, beside the ITT of offering it.

Assignment is randomised; use (``exposure_column``, 0/1 per unit) is not. Dropping the units who never used the
change ("triggered analysis" done by filtering) would compare self-selected groups. Instead the arm serves as the
instrument for exposure (Imbens & Angrist 1994; Angrist, Imbens & Rubin 1996): per treatment arm against control,

    CACE = ITT / take-up difference = (mean y_T - mean y_C) / (mean e_T - mean e_C),

the Wald estimator, which is exactly 2SLS of the metric on exposure with the arm indicator as instrument on the
control and that arm's units. Its standard error is 2SLS's heteroskedasticity-robust HC1 one, as
``instrumental_variables`` (and Stata, R's AER::ivreg with sandwich HC1, linearmodels with ``debiased=True``)
report it. With a binary instrument the 2SLS residual averages zero in each arm, so the sandwich reduces to arm
moments: with ``S_g = sum over arm g of ((y - mean y_g) - beta (e - mean e_g))^2``,

    var(CACE) = n / (n - 2) * (S_T / n_T^2 + S_C / n_C^2) / (take-up difference)^2,   n = n_T + n_C,

the unpooled delta-method variance of ITT / take-up with each arm's variances divided by n_g^2 instead of
n_g (n_g - 1), times HC1's n / (n - 2). The first stage's F is the take-up difference over its HC1 standard error,
squared. With CUPED the metric is the adjusted one (y - theta (x - mean x), theta as the ITT's) and with capping
the capped one: the CACE divides the very ITT the comparison reports.

Every number here comes from the per-arm moments of (metric, exposure, covariate) that ``inputs`` accumulates on
the metric's rows (``MetricData.exposure``).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tools.ab_test.models import AbTestRequest, CaceDetail, Comparison
from tools.ab_test.stats import Moments
from tools.data.columns import column as frame_column
from tools.data.names import display_name
from tools.errors import ToolError
from tools.results import Check, Estimate, require_inference

__all__ = [
    "NO_FIRST_STAGE",
    "WEAK_F",
    "complier_effect",
    "exposure_checks",
    "exposure_estimand",
    "exposure_method",
    "exposure_summary",
    "exposure_values",
]

#: Staiger & Stock's rule of thumb (Stock & Yogo's tables): a first-stage F below 10 is a weak instrument.
WEAK_F: Final = 10.0
#: A take-up difference whose partial R-squared (of exposure on the arm) is below this is no first stage at all, as
#: ``instrumental_variables`` decides it.
NO_FIRST_STAGE: Final = 1e-13

FloatArray = NDArray[np.float64]


def _q(name: str) -> str:
    return f"'{display_name(name, 40)}'"


# --- input ------------------------------------------------------------------------------------------------------


def exposure_values(request: AbTestRequest, frame: pd.DataFrame, keep: NDArray[np.bool_]) -> FloatArray:
    """The exposure column as 0.0/1.0 per row, refusing what leaves the CACE undefined or ill-posed: clustered rows,
    ratio metrics, the arm column itself, a missing column, values other than 0/1, missing values among the rows
    analysed (``keep``)."""
    name = request.exposure_column
    assert name is not None
    if request.cluster_column is not None:
        raise ToolError(
            "unsupported_combination",
            "exposure_column with cluster_column is not supported: the CACE is computed for one row per randomized "
            "unit.",
            "Aggregate the rows to one per randomized unit (exposure 1 if the unit ever used the change), or drop "
            "exposure_column; instrumental_variables with standard_errors 'cluster' handles clustered rows.",
        )
    ratio = [m.name for m in request.metrics if m.kind == "ratio"]
    if ratio:
        raise ToolError(
            "unsupported_combination",
            f"exposure_column is not supported with the ratio metric {_q(ratio[0])}: a per-unit exposure does not "
            "divide a ratio of sums into an effect per complier.",
            "Analyse the ratio metric in a separate request without exposure_column, or give it as a per-unit "
            "(continuous) metric.",
        )
    if name == request.arm_column:
        raise ToolError(
            "exposure_is_arm",
            f"exposure_column {_q(name)} is the arm column: exposure is who actually used (or saw) the change, "
            "which assignment does not decide alone.",
            "Name the column recording use (0/1 per unit), or drop exposure_column to read the ITT only.",
        )
    series = frame_column(frame, name, "exposure")
    values = _numbers(series, name)
    missing = keep & np.isnan(values)
    if missing.any():
        raise ToolError(
            "missing_exposure",
            f"The exposure column {_q(name)} is empty in {int(missing.sum()):,} row(s) with an arm: the CACE needs "
            "every unit's exposure.",
            f"If those units never saw the change, fill {_q(name)} with 0 for them; otherwise drop those rows or "
            "drop exposure_column.",
        )
    odd = keep & (values != 0) & (values != 1)
    if odd.any():
        bad = np.unique(values[odd])
        raise ToolError(
            "exposure_not_binary",
            f"The exposure column {_q(name)} must be 0/1 per unit but holds "
            + ", ".join(f"{v:g}" for v in bad[:5])
            + (" …" if len(bad) > 5 else "")
            + ".",
            "Recode it as 1 for units that used (or saw) the change and 0 for the others; for hours of use, "
            "instrumental_variables takes a non-binary treatment.",
        )
    return values


def _numbers(series: pd.Series, name: str) -> FloatArray:
    """The column as floats (NaN for missing); text that is not a number is refused with its values."""
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        return np.asarray(series.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    parsed = pd.to_numeric(series.astype("string"), errors="coerce")
    failed = series.notna().to_numpy() & parsed.isna().to_numpy()
    if failed.any():
        examples = ", ".join(f"'{display_name(str(v), 30)}'" for v in pd.unique(series[failed])[:5])
        raise ToolError(
            "exposure_not_binary",
            f"The exposure column {_q(name)} must be 0/1 per unit but holds text: {examples}.",
            "Recode it as 1 for units that used (or saw) the change and 0 for the others.",
        )
    return np.asarray(parsed.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


# --- the estimate -----------------------------------------------------------------------------------------------


def complier_effect(
    request: AbTestRequest,
    metric: str,
    arms: tuple[str, str],
    control: Moments,
    treatment: Moments,
    theta: float | None,
) -> CaceDetail | None:
    """The CACE of one treatment arm against control from the arms' exposure moments (the metric as y, exposure
    as d, the CUPED covariate as x); None when exposure equals assignment (no non-compliance: the ITT is the effect
    of using it). A take-up difference of (numerically) zero is refused: the CACE is then undefined."""
    exposure = request.exposure_column
    assert exposure is not None
    n0, n1 = control.n, treatment.n
    n = n0 + n1
    # exposure is 0/1: counts of exposed units are whole numbers, and the take-up shares and spreads exact
    ones0, ones1 = round(control.mean_d * n0), round(treatment.mean_d * n1)
    take0, take1 = ones0 / n0, ones1 / n1
    m2_d0, m2_d1 = ones0 * (n0 - ones0) / n0, ones1 * (n1 - ones1) / n1
    take_up = take1 - take0
    between = take_up * take_up * n0 * n1 / n
    partial_r2 = between / (between + m2_d0 + m2_d1) if ones1 * n0 != ones0 * n1 else 0.0
    if partial_r2 < NO_FIRST_STAGE:
        raise ToolError(
            "no_first_stage",
            f"{take1:.4%} of {_q(arms[1])} and {take0:.4%} of control {_q(arms[0])} have {_q(exposure)} = 1: "
            "being offered the change did not change who used it, so the effect of using it (CACE = ITT / "
            "take-up difference) is undefined and no number can be given for it.",
            f"Check that {_q(exposure)} records actual use or exposure (not users who would have seen it in either "
            "arm, as counterfactual triggering logs); drop exposure_column to read the ITT alone.",
        )
    if m2_d0 == 0 and m2_d1 == 0:
        return None  # exposure equals assignment: nobody failed to comply
    # the metric as the ITT used it: CUPED-adjusted within each arm (the pooled mean of x cancels in differences)
    t = theta or 0.0
    itt = (treatment.mean_y - control.mean_y) - t * (treatment.mean_x - control.mean_x)
    beta = itt / take_up

    def residual_ss(m: Moments, m2_d: float) -> float:
        m2_y = m.m2_y - 2 * t * m.c_xy + t * t * m.m2_x
        c_yd = m.c_yd - t * m.c_xd
        return max(m2_y - 2 * beta * c_yd + beta * beta * m2_d, 0.0)

    hc1 = n / (n - 2)
    spread = residual_ss(treatment, m2_d1) / n1 / n1 + residual_ss(control, m2_d0) / n0 / n0
    std_error = math.sqrt(hc1 * spread) / abs(take_up)
    y_scale = math.sqrt(max(control.m2_y + treatment.m2_y, 0.0) / max(m2_d0 + m2_d1, 1e-300))
    require_inference(
        std_error,
        beta,
        y_scale,
        what=f"the CACE of {_q(metric)} in {_q(arms[1])}",
        reason=f"the metric is an exact function of {_q(exposure)} within each arm",
        hint=f"Check that {_q(metric)} is not computed from {_q(exposure)}; drop exposure_column to read the ITT.",
    )
    take_up_se = math.sqrt(hc1 * (m2_d1 / n1 / n1 + m2_d0 / n0 / n0))
    return CaceDetail(
        exposure_column=exposure,
        estimand="ATT" if ones0 == 0 else "CACE",
        effect=Estimate.normal(beta, std_error, request.alpha),
        take_up_control=take0,
        take_up_treatment=take1,
        complier_share=Estimate.normal(take_up, take_up_se, request.alpha),
        first_stage_f=take_up * take_up / (take_up_se * take_up_se),
        one_sided=ones0 == 0,
    )


# --- words ------------------------------------------------------------------------------------------------------


def exposure_estimand(request: AbTestRequest, comparisons: list[Comparison]) -> str:
    """Which estimate answers which question, appended to the result's estimand."""
    exposure = _q(request.exposure_column or "")
    text = (
        f" With {exposure} (who used the change): the ITT (`absolute`) is the effect of being offered it, what "
        "shipping the offer to everyone does; the complier average causal effect (CACE, `cace.effect`) = ITT / "
        "take-up difference is the effect of using it, for those who use it because they were offered it (not "
        "for those who would use it anyway or never)."
    )
    one_sided = sorted({c.arm for c in comparisons if c.cace is not None and c.cace.one_sided})
    if one_sided:
        text += (
            f" Nobody in control used it (one-sided non-compliance; arm(s) {', '.join(map(_q, one_sided))}), so "
            "there every user is such a complier and the CACE is the effect on the treated (ATT)."
        )
    return text


def exposure_method(request: AbTestRequest) -> str:
    """The CACE's method, for the result's method text."""
    return (
        f"CACE (exposure {_q(request.exposure_column or '')}): the ITT divided by the take-up difference, per "
        "treatment arm against control (the Wald estimator: 2SLS of the metric, CUPED-adjusted or capped as the "
        "ITT, on exposure with the arm as instrument, on control and that arm's units), heteroskedasticity-robust "
        "HC1 standard error (n/(n-2) times the sandwich, as instrumental_variables reports it) and a two-sided "
        "normal interval; first-stage F = (take-up difference / its HC1 standard error)^2, weak below "
        f"{WEAK_F:g}; the decision reads the ITT"
    )


def exposure_checks(request: AbTestRequest, comparisons: list[Comparison]) -> tuple[list[Check], list[str]]:
    """Per treatment arm, the take-up and the strength of the first stage; the untestable exclusion restriction
    and monotonicity; warnings for weak first stages and for arms where exposure equals assignment."""
    exposure = _q(request.exposure_column or "")
    checks: list[Check] = []
    warnings: list[str] = []
    arms = list(dict.fromkeys(c.arm for c in comparisons))
    for arm in arms:
        mine = [c for c in comparisons if c.arm == arm]
        details = [c.cace for c in mine if c.cace is not None]
        if not details:
            warnings.append(
                f"In {_q(arm)}, {exposure} equals assignment (every unit offered the change used it, none in "
                "control did): there is no non-compliance, so the ITT is already the effect of using it and no "
                "separate CACE is reported."
            )
            continue
        detail = details[0]  # the first metric's rows; metrics with missing values may differ slightly
        f_stat = min(d.first_stage_f for d in details)
        sided = (
            " Nobody in control used it (one-sided non-compliance): the CACE is the effect on the treated (ATT)."
            if detail.one_sided
            else ""
        )
        checks.append(
            Check(
                name=f"take_up:{arm}",
                status="pass" if f_stat >= WEAK_F else "warn",
                detail=f"{detail.take_up_treatment:.2%} of {_q(arm)} and {detail.take_up_control:.2%} of control "
                f"{_q(mine[0].control_arm)} have {exposure} = 1: {detail.complier_share.estimate:.2%} compliers, "
                f"first-stage F = {f_stat:.4g} (robust; weak below {WEAK_F:g}, Stock & Yogo)." + sided,
            )
        )
        if f_stat < WEAK_F:
            warnings.append(
                f"WEAK TAKE-UP DIFFERENCE in {_q(arm)} (first-stage F = {f_stat:.4g} < {WEAK_F:g}): the CACE and its "
                "interval are unreliable (biased towards the naive users-versus-non-users comparison, covering "
                "the truth less often than they claim). The ITT is unaffected; instrumental_variables (outcome the "
                f"metric, treatment {exposure}, instrument the arm) gives the Anderson-Rubin interval, valid however "
                "weak the take-up difference."
            )
        if detail.complier_share.estimate < 0:
            warnings.append(
                f"Fewer units used the change in {_q(arm)} than in control: the offer lowered use, so the CACE is "
                "the effect of using it for those the offer kept from it."
            )
    if not any(c.cace is not None for c in comparisons):
        return checks, warnings
    checks.append(
        Check(
            name="exclusion_restriction",
            status="not_tested",
            detail=f"Being offered the change must move the metrics only through {exposure} (the offer itself — an "
            "email, a banner — must not change behaviour): if it does, the CACE is biased; the ITT is not. No test "
            "on these data can show it.",
        )
    )
    if all(c.cace.one_sided for c in comparisons if c.cace is not None):
        checks.append(
            Check(
                name="monotonicity",
                status="pass",
                detail="Nobody in control used the change, so the offer cannot have pushed anybody away from it (no "
                "defiers): monotonicity holds by design.",
            )
        )
    else:
        checks.append(
            Check(
                name="monotonicity",
                status="not_tested",
                detail="Some control units used the change: the offer must move everybody's use in the same "
                "direction (nobody uses it only when not offered). Usually safe when the offer only adds access.",
            )
        )
    return checks, warnings


def exposure_summary(c: Comparison, level: str) -> str:
    """The comparison's CACE for the summary sentence (empty without one)."""
    if c.cace is None:
        return ""
    e = c.cace.effect
    return (
        f"; effect of using it ({c.cace.estimand}, {c.cace.complier_share.estimate:.1%} compliers) "
        f"{e.estimate:+.4g} ({level} CI {e.ci_lower:+.4g} to {e.ci_upper:+.4g})"
    )
