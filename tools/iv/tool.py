"""The instrumental_variables tool: something else (an invite, a shard, a lottery) moved the treatment.

Pure function of the request and the frame: ``prepare`` validates and reads the columns, ``_design`` screens the
covariates, partials them out once and refuses instruments or treatments with nothing left to identify the effect;
then ``fit`` gives the first stage, reduced form, 2SLS, OLS and over-identification test, ``ar`` the
Anderson-Rubin set, ``plot`` the binned means, and ``report`` the checks, the method and the summary.
``headline`` is the 2SLS coefficient alone, for refute's refits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from tools.data.names import display_name
from tools.errors import ToolError
from tools.iv.ar import ar_set, ar_statistic
from tools.iv.fit import (
    COLLINEAR_TOLERANCE,
    CONSTANT_TOLERANCE,
    Partialled,
    first_stage_prediction,
    hansen_j,
    independent_columns,
    ols,
    partial_out,
    sargan,
    stages,
    two_sls,
)
from tools.iv.inputs import IVData, prepare, two_values
from tools.iv.models import (
    AndersonRubin,
    ARInterval,
    FirstStage,
    InstrumentalVariablesRequest,
    InstrumentalVariablesResult,
    InstrumentCoefficient,
    OverIdentification,
)
from tools.iv.plot import bins
from tools.iv.report import Compliance, checks_and_warnings, interpretation, method, summary
from tools.results import Estimate, require_inference

__all__ = ["headline", "instrumental_variables"]

FloatArray = NDArray[np.float64]

#: A first stage whose partial R-squared is below this is no first stage at all (the instruments are orthogonal
#: to the treatment to rounding): the 2SLS ratio would divide by zero.
NO_FIRST_STAGE = 1e-13
#: A first stage whose residual variance is below this share of the treatment's: the instruments predict the
#: treatment exactly.
PERFECT_FIRST_STAGE = 1e-12


@dataclass(frozen=True)
class _Design:
    partialled: Partialled
    covariates: list[str]
    notes: list[str]


def _q(name: str) -> str:
    return f"'{display_name(name)}'"


def _design(request: InstrumentalVariablesRequest, prepared: IVData) -> _Design:
    """Screen the covariates, partial them out, and refuse what leaves nothing to identify the effect."""
    notes = list(prepared.notes)
    data = partial_out(prepared.outcome, prepared.treatment, prepared.instruments, prepared.covariates)
    names = prepared.covariate_names
    if data.constant:
        notes.append(f"Constant covariate(s) dropped: {', '.join(_q(names[j]) for j in data.constant)}.")
    if data.collinear:
        notes.append(
            "Covariate(s) dropped as collinear with earlier ones: "
            + ", ".join(_q(names[j]) for j in data.collinear)
            + "."
        )
    n = len(data.y)
    magnitude = data.magnitude
    original = data.original_ss
    for index, role, column, code in (
        (0, "outcome", request.outcome, "constant_outcome"),
        (1, "treatment", request.treatment, "constant_treatment"),
    ):
        if not math.sqrt(original[index]) > CONSTANT_TOLERANCE * magnitude[index] * math.sqrt(n):
            raise ToolError(
                code,
                f"The {role} {_q(column)} takes the same value in every row used, so there is nothing to estimate.",
                f"Check that {_q(column)} is the {role} you meant.",
            )
    for j, name in enumerate(prepared.instrument_names):
        if not math.sqrt(original[2 + j]) > CONSTANT_TOLERANCE * magnitude[2 + j] * math.sqrt(n):
            raise ToolError(
                "constant_instrument",
                f"The instrument {_q(name)} takes the same value in every row used, so it cannot move the treatment.",
                f"Give a column that differs between units (who was invited, which shard got the rollout); "
                f"{_q(name)} is {float(prepared.instruments[0, j]):g} throughout.",
            )
    after = np.einsum("ij,ij->j", data.z, data.z)
    for j, name in enumerate(prepared.instrument_names):
        if after[j] < COLLINEAR_TOLERANCE * original[2 + j]:
            raise ToolError(
                "collinear_instrument",
                f"The instrument {_q(name)} is (almost) a combination of the covariates: after them it has "
                f"{after[j] / original[2 + j]:.2g} of its variance left, nothing to move the treatment with.",
                f"Drop the covariate(s) that determine {_q(name)}, or use another instrument.",
            )
    if data.z.shape[1] > 1:
        scale = np.sqrt(after)
        _, dependent = independent_columns((data.z / scale).T @ (data.z / scale))
        if dependent:
            raise ToolError(
                "collinear_instrument",
                f"The instrument {_q(prepared.instrument_names[dependent[0]])} is a combination of the other "
                "instruments (and covariates): it adds nothing.",
                f"Remove {_q(prepared.instrument_names[dependent[0]])} from instruments.",
            )
    d_after = float(data.d @ data.d)
    if d_after < COLLINEAR_TOLERANCE * original[1]:
        raise ToolError(
            "treatment_collinear",
            f"The treatment {_q(request.treatment)} is (almost) a combination of the covariates, so nothing is left "
            "for the instruments to move.",
            "Drop the covariate(s) that determine the treatment.",
        )
    return _Design(data, [names[j] for j in data.kept], notes)


def _first_stage_checks(request: InstrumentalVariablesRequest, data: Partialled, d_hat: FloatArray) -> float:
    """The partial R-squared, refusing a first stage that is zero or exact."""
    partial_r2 = float(d_hat @ d_hat) / float(data.d @ data.d)
    instruments = ", ".join(_q(n) for n in dict.fromkeys(request.instruments))
    if partial_r2 < NO_FIRST_STAGE:
        raise ToolError(
            "no_first_stage",
            f"The instrument(s) {instruments} do not move the treatment {_q(request.treatment)} at all (first-stage "
            f"partial R-squared {partial_r2:.2g}), so the effect cannot be identified from them.",
            "Check that the instrument is the assignment that changed the treatment (the invite, the shard's "
            "rollout), and that the treatment column is its take-up.",
        )
    if 1.0 - partial_r2 < PERFECT_FIRST_STAGE:
        raise ToolError(
            "perfect_first_stage",
            f"The instrument(s) {instruments} predict the treatment {_q(request.treatment)} exactly (everyone "
            "complied), so there is no self-selection for instrumental variables to correct.",
            "The treatment is then as good as assigned: compare the groups directly (ab_test).",
        )
    return partial_r2


def headline(request: InstrumentalVariablesRequest, data: pd.DataFrame | None) -> float:
    """The 2SLS coefficient of ``instrumental_variables(request, data)``, without standard errors or tests (for
    refute's refits): the same validation, the same arithmetic."""
    part = _design(request, prepare(request, data)).partialled
    d_hat = first_stage_prediction(part)
    _first_stage_checks(request, part, d_hat)
    return float(d_hat @ part.y) / float(d_hat @ part.d)


def instrumental_variables(
    request: InstrumentalVariablesRequest, data: pd.DataFrame | None
) -> InstrumentalVariablesResult:
    """Estimate the treatment's effect with instrumental variables (see the module docstring)."""
    prepared = prepare(request, data)
    design = _design(request, prepared)
    part = design.partialled
    kind = request.standard_errors
    clusters, n_clusters = prepared.clusters, prepared.n_clusters
    n, k_z = len(part.y), part.z.shape[1]
    stage = stages(part, kind, clusters, n_clusters)
    partial_r2 = _first_stage_checks(request, part, stage.d_hat)
    df_denom = (n_clusters - 1) if kind == "cluster" and n_clusters is not None else stage.df_resid
    alpha = request.alpha

    # --- 2SLS and OLS -----------------------------------------------------------------------------------------------
    iv = two_sls(part, stage, kind, clusters, n_clusters)
    spread = math.sqrt(float(part.y @ part.y) / max(float(part.d @ part.d), np.finfo(float).tiny))
    require_inference(
        iv.std_error,
        iv.estimate,
        spread,
        what="the 2SLS estimate",
        reason="the treatment explains the outcome exactly",
        hint="Check that the outcome is not computed from the treatment.",
    )
    effect = Estimate.normal(iv.estimate, iv.std_error, alpha)
    ols_beta, ols_se = ols(part, kind, clusters, n_clusters)
    ols_estimate = Estimate.normal(ols_beta, ols_se, alpha)

    # --- first stage -------------------------------------------------------------------------------------------------
    dd = stage.covariances.dd
    wald_first = (
        float(stage.pi_d @ np.linalg.solve(dd, stage.pi_d)) if k_z > 1 else float(stage.pi_d[0] ** 2 / dd[0, 0])
    )
    f_statistic = wald_first / k_z
    first_se = np.sqrt(np.maximum(np.diag(dd), 0.0))
    first_stage = FirstStage(
        f_statistic=f_statistic,
        df_num=k_z,
        df_denom=df_denom,
        p_value=float(stats.f.sf(f_statistic, k_z, df_denom)),
        partial_r2=min(max(partial_r2, 0.0), 1.0),
        coefficients=[
            InstrumentCoefficient(
                instrument=name,
                estimate=float(stage.pi_d[j]),
                std_error=float(first_se[j]),
                p_value=min(1.0, float(2 * stats.norm.sf(abs(stage.pi_d[j]) / first_se[j])))
                if first_se[j] > 0
                else 0.0,
            )
            for j, name in enumerate(prepared.instrument_names)
        ],
    )

    # --- Anderson-Rubin ---------------------------------------------------------------------------------------------
    critical = k_z * float(stats.f.isf(alpha, k_z, df_denom))
    found = ar_set(stage.pi_y, stage.pi_d, stage.covariances, critical)
    ar_at_zero = ar_statistic(0.0, stage.pi_y, stage.pi_d, stage.covariances) / k_z
    intervals = [ARInterval(lower=lo, upper=hi) for lo, hi in found.intervals]
    anderson_rubin = AndersonRubin(
        kind=found.kind,
        intervals=intervals,
        ci_lower=intervals[0].lower if intervals else None,
        ci_upper=intervals[-1].upper if intervals else None,
        statistic=ar_at_zero,
        df_num=k_z,
        df_denom=df_denom,
        p_value=float(stats.f.sf(ar_at_zero, k_z, df_denom)),
        alpha=alpha,
    )

    # --- over-identification ----------------------------------------------------------------------------------------
    overid: OverIdentification | None = None
    if k_z > 1:
        if kind == "classical":
            statistic, test = sargan(part, iv.residual), "sargan"
        else:
            statistic, test = hansen_j(part, iv.residual, clusters, n_clusters), "hansen_j"
        overid = OverIdentification(
            test="sargan" if test == "sargan" else "hansen_j",
            statistic=max(statistic, 0.0),
            df=k_z - 1,
            p_value=float(stats.chi2.sf(max(statistic, 0.0), k_z - 1)),
        )

    # --- binary instrument and treatment: LATE, compliers, ITT ------------------------------------------------------
    z_raw = prepared.instruments
    levels = two_values(z_raw[:, 0]) if k_z == 1 else None
    late = levels is not None and two_values(prepared.treatment) == (0.0, 1.0)
    span = levels[1] - levels[0] if levels is not None else 1.0
    rf_se = math.sqrt(max(float(stage.covariances.yy[0, 0]), 0.0)) if k_z == 1 else 0.0
    reduced_form = Estimate.normal(float(stage.pi_y[0]) * span, rf_se * span, alpha) if k_z == 1 else None
    compliance: Compliance | None = None
    complier_share: Estimate | None = None
    if late and levels is not None:
        high = z_raw[:, 0] == levels[1]
        takeup_high = float(prepared.treatment[high].mean())
        takeup_low = float(prepared.treatment[~high].mean())
        if takeup_high >= takeup_low:
            compliance = Compliance(levels[1], levels[0], takeup_high, takeup_low)
        else:
            compliance = Compliance(levels[0], levels[1], takeup_low, takeup_high)
        complier_share = Estimate.normal(float(stage.pi_d[0]) * span, float(first_se[0]) * span, alpha)

    # --- plot, checks, text -----------------------------------------------------------------------------------------
    combined = z_raw[:, 0] if k_z == 1 else z_raw @ stage.pi_d
    plot_bins = bins(combined, prepared.treatment, prepared.outcome, levels)
    bins_by = (
        f"the instrument {_q(prepared.instrument_names[0])}"
        if k_z == 1
        else "the combined instrument (the instruments weighted by their first-stage coefficients)"
    )
    checks, warnings = checks_and_warnings(
        request, first_stage, anderson_rubin, overid, compliance, n_clusters, design.notes
    )
    return InstrumentalVariablesResult(
        estimand="LATE" if late else "IV coefficient",
        interpretation=interpretation(request, late, compliance, len(design.covariates)),
        method=method(request, len(design.covariates), k_z, (k_z, df_denom), overid),
        dataset=request.dataset,
        outcome=request.outcome,
        treatment=request.treatment,
        instruments=prepared.instrument_names,
        covariates=design.covariates,
        standard_errors=kind,
        cluster=request.cluster,
        effect=effect,
        ols=ols_estimate,
        first_stage=first_stage,
        reduced_form=reduced_form,
        anderson_rubin=anderson_rubin,
        overidentification=overid,
        complier_share=complier_share,
        one_sided_noncompliance=compliance.one_sided if compliance is not None else None,
        bins=plot_bins,
        bins_by=bins_by,
        alpha=alpha,
        n_obs=n,
        n_dropped=prepared.n_dropped,
        n_clusters=n_clusters,
        checks=checks,
        warnings=warnings,
        summary=summary(request, late, effect, ols_estimate, first_stage, reduced_form, complier_share, anderson_rubin),
    )
