"""The assign tool's words: checks, warnings, the summary sentence and the pre-registration's plan entry, each built
from the result's own numbers."""

from __future__ import annotations

from tools.assign.draw import variance_reduction
from tools.assign.models import ArmCount, AssignmentPlan, AssignRequest, BalanceRow, StratumCount
from tools.assign.units import Units
from tools.data.names import display_name
from tools.results import Check

__all__ = ["FEW_CLUSTERS_PER_ARM", "HASH_RULE", "SMD_LIMIT", "checks", "plan", "summary", "warnings"]

#: A standardised mean difference above this (in absolute value) is the usual mark of imbalance.
SMD_LIMIT = 0.1
#: Fewer clusters per arm than this leave cluster-robust inference unreliable.
FEW_CLUSTERS_PER_ARM = 10
HASH_RULE = (
    "u = first 53 bits of SHA-256('<draw_salt>:<id>') / 2^53 per randomised unit (unit or cluster id); within each "
    "stratum units sorted by u take the arms in order, floor(n share) each, the remainder by a generator seeded from "
    "SHA-256('<draw_salt>|stratum|<stratum>')"
)
RERANDOMISED = (
    "The assignment was rerandomised (Morgan & Rubin 2012): only draws with a small imbalance were kept, so the usual "
    "t-test and its interval are conservative. Analyse with randomisation inference that redraws under the same "
    "acceptance rule, or with a regression that adjusts for the balanced covariates ({covariates})."
)


def checks(
    request: AssignRequest,
    units: Units,
    arm_counts: list[ArmCount],
    strata: list[StratumCount],
    balance: list[BalanceRow],
    distance: float | None,
    df: int | None,
    p_value: float | None,
    draws: int,
) -> list[Check]:
    counts = ", ".join(f"'{c.arm}' {c.n_units:,} ({c.share:.1%}, target {c.target_share:.1%})" for c in arm_counts)
    found = [Check(name="arm_counts", status="pass", detail=f"Units per arm: {counts}.")]
    if request.strata:
        spread = max(max(s.counts) - min(s.counts) for s in strata)
        smallest = min(s.n_units for s in strata)
        found.append(
            Check(
                name="strata",
                status="pass",
                detail=f"{len(units.stratum_labels)} strata (smallest {smallest:,} units); within every stratum each "
                f"arm's count is floor or ceiling of its share (largest gap between arms in a stratum: {spread}).",
            )
        )
    if units.cluster_ids is not None:
        fewest = min(c.n_clusters or 0 for c in arm_counts)
        found.append(
            Check(
                name="clusters",
                status="warn" if fewest < FEW_CLUSTERS_PER_ARM else "pass",
                detail=f"{len(units.ids):,} clusters, at least {fewest} per arm"
                + (
                    f": fewer than {FEW_CLUSTERS_PER_ARM} per arm makes cluster-robust intervals unreliable "
                    "(use randomisation inference or small-sample corrections)."
                    if fewest < FEW_CLUSTERS_PER_ARM
                    else "."
                ),
            )
        )
    if balance:
        worst = max(balance, key=lambda r: abs(r.smd))
        found.append(
            Check(
                name="covariate_balance",
                status="pass" if abs(worst.smd) <= SMD_LIMIT else "warn",
                detail=f"Largest |standardised mean difference| {abs(worst.smd):.3f} ('{display_name(worst.covariate)}'"
                f", arm '{worst.arm}'); {SMD_LIMIT} is the usual limit.",
            )
        )
    if distance is not None and df:
        level = "cluster means" if units.cluster_ids is not None else "units"
        found.append(
            Check(
                name="omnibus_balance",
                status="pass" if p_value is None or p_value >= 0.05 else "warn",
                detail=f"Mahalanobis imbalance {distance:.3f} on {df} df over {level} (p = {p_value:.3g} against "
                "chi-square, the reference under complete randomisation; conservative after stratification).",
            )
        )
    else:
        found.append(
            Check(name="omnibus_balance", status="not_tested", detail="No numeric covariate to check balance on.")
        )
    if request.rerandomize_acceptance is not None:
        found.append(
            Check(
                name="rerandomisation",
                status="pass",
                detail=f"Accepted at draw {draws} of at most {request.max_draws} (p_a = "
                f"{request.rerandomize_acceptance:g}: about 1 draw in {1 / request.rerandomize_acceptance:.3g} is "
                "accepted).",
            )
        )
    return found


def warnings(request: AssignRequest, units: Units, threshold: float | None) -> list[str]:
    found = list(units.notes)
    if request.strata:
        found.append(
            "The assignment is stratified: analyse within strata (stratum-weighted difference or strata fixed "
            "effects), which is what makes blocking pay off."
        )
    if units.cluster_ids is not None:
        found.append(
            f"Whole clusters of '{display_name(request.cluster_column or '')}' were randomised: analyse with "
            "cluster_column set to it (the clusters, not the units, are the independent draws)."
        )
    if threshold is not None:
        found.append(RERANDOMISED.format(covariates=", ".join(f"'{display_name(c)}'" for c in units.covariates)))
    found.append(
        "Exact counts per arm depend on the whole list: units added later need their own run (another list, same "
        "salt) rather than a rerun of this one."
    )
    return found


def summary(
    request: AssignRequest,
    units: Units,
    arm_counts: list[ArmCount],
    balance: list[BalanceRow],
    distance: float | None,
    df: int | None,
    p_value: float | None,
    draws: int,
) -> str:
    counts = ", ".join(f"'{c.arm}' {c.n_units:,}" for c in arm_counts)
    how = {
        "complete": "complete randomisation",
        "stratified": f"stratified randomisation in {len(units.stratum_labels)} strata",
        "cluster": f"cluster randomisation of {len(units.ids):,} clusters",
    }[units.method]
    text = f"Assigned {len(units.unit_ids):,} units ({counts}) by {how} with salt '{request.salt}'"
    if balance and distance is not None and df and p_value is not None:
        worst = max(abs(r.smd) for r in balance)
        text += (
            f"; largest |SMD| {worst:.3f} over {len(units.covariates)} covariate(s), Mahalanobis imbalance "
            f"{distance:.3f} on {df} df (p = {p_value:.3g})"
        )
    if request.rerandomize_acceptance is not None:
        text += (
            f"; rerandomised with acceptance probability {request.rerandomize_acceptance:g}, accepted at draw {draws}"
            " — analyse by randomisation inference or regression on the balanced covariates"
        )
    return text + "."


def plan(
    request: AssignRequest, units: Units, draw_salt: str, threshold: float | None, n_units: int, digest: str
) -> AssignmentPlan:
    shares = ", ".join(f"'{a}' {s:.3g}" for a, s in zip(request.arms, units.shares, strict=True))
    parts = [
        f"{units.method.capitalize()} randomisation of {n_units:,} units (id '{request.unit_column}')"
        + (f" in whole clusters of '{request.cluster_column}'" if request.cluster_column else "")
        + (f", stratified on {', '.join(repr(s) for s in request.strata)}" if request.strata else "")
        + f" into {shares}.",
        f"Reproducible from salt '{request.salt}' (accepted draw salt '{draw_salt}'): {HASH_RULE}.",
    ]
    if threshold is not None and request.rerandomize_acceptance is not None:
        df = len(units.covariates) * (len(request.arms) - 1)
        parts.append(
            f"Rerandomised (Morgan & Rubin 2012) until the Mahalanobis imbalance over {', '.join(units.covariates)} "
            f"was at most {threshold:.4g} (acceptance probability {request.rerandomize_acceptance:g}; variance "
            f"reduction factor {variance_reduction(threshold, df):.3g}); the analysis uses randomisation inference "
            "or regression on these covariates."
        )
    parts.append(f"Assignment file SHA-256 {digest}.")
    return AssignmentPlan(
        method=units.method,
        unit_column=request.unit_column,
        arms=list(request.arms),
        shares=units.shares,
        salt=request.salt,
        draw_salt=draw_salt,
        hash_rule=HASH_RULE,
        strata=list(request.strata or []),
        strata_bins=request.strata_bins if request.strata else None,
        cluster_column=request.cluster_column,
        balance_covariates=units.covariates,
        rerandomize_acceptance=request.rerandomize_acceptance,
        threshold=threshold,
        n_units=n_units,
        assignment_digest=digest,
        text=" ".join(parts),
    )
