"""The randomized design: the ab_test tool's primary metric in its first treatment arm."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from tools.ab_test.inputs import arm_labels
from tools.ab_test.models import AbTestRequest, Comparison
from tools.ab_test.tool import SRM_THRESHOLD, ab_test, headline_comparison
from tools.data.names import display_name
from tools.errors import ToolError
from tools.refute.designs.base import Design, Draw, Units, parse_target
from tools.refute.engine import Runner
from tools.refute.models import RefuteCheck

__all__ = ["AbTestDesign"]

MIN_UNITS = 20
BALANCE_THRESHOLD = 0.001


class AbTestDesign(Design):
    tool = "ab_test"
    placebo_how = "across randomized units (an A/A test: arm sizes kept)"

    def __init__(self, payload: dict[str, Any], frame: pd.DataFrame, alpha: float) -> None:
        super().__init__(frame, alpha)
        request: AbTestRequest = parse_target("ab_test", payload, AbTestRequest, "tools.ab_test.tool:ab_test")
        if request.dataset is None or request.arm_column is None:
            raise ToolError(
                "needs_rows",
                "refute re-randomizes and resamples units, so it needs the experiment's rows, not summaries.",
                "Give the ab_test request a dataset and arm_column.",
            )
        self.result = ab_test(request, frame)
        self.comparison: Comparison = headline_comparison(self.result.comparisons)
        spec = next(m for m in request.metrics if m.name == self.comparison.metric)
        self.spec = spec
        self.request = request
        self.lean = request.model_copy(update={"metrics": [spec], "correction": "none", "exposure_column": None})
        self.arm_column = request.arm_column
        self.outcome_column = spec.column or spec.name
        self.original = self.result.effect
        self.headline = (
            f"'{self.comparison.metric}' difference ({self.comparison.arm} minus {self.comparison.control_arm})"
        )
        self.estimand = self.result.estimand
        self.n_obs = self.result.n_obs
        self.warnings = [f"Target analysis: {w}" for w in self.result.warnings]
        self.unit_word = "randomized units" if request.cluster_column is None else f"'{request.cluster_column}' units"
        self._units = Units.of(frame, request.cluster_column)

    @property
    def units(self) -> Units:
        return self._units

    def estimate(self, frame: pd.DataFrame, request: Any | None = None) -> Draw:
        result = ab_test(request or self.lean, frame)
        comparison = next(c for c in result.comparisons if c.arm == self.comparison.arm)
        return comparison.absolute.estimate, comparison.p_value_raw

    def placebo(self, rng: np.random.Generator) -> Draw:
        arm = self.frame[self.arm_column].to_numpy()
        if self.request.cluster_column is None:
            shuffled = rng.permutation(arm)
        else:  # one label per cluster, shuffled across clusters
            codes, _ = pd.factorize(self.frame[self.request.cluster_column], use_na_sentinel=True)
            first = np.empty(codes.max() + 1, dtype=arm.dtype)
            valid = codes >= 0
            first[codes[valid][::-1]] = arm[valid][::-1]
            shuffled = arm.copy()
            shuffled[valid] = rng.permutation(first)[codes[valid]]
        return self.estimate(self.frame.assign(**{self.arm_column: shuffled}))

    def dummy_outcome(self, rng: np.random.Generator) -> Draw:
        column = self.outcome_column
        y = pd.to_numeric(self.frame[column], errors="coerce").to_numpy(dtype=float)
        present = np.isfinite(y)
        mean = float(np.nanmean(y))
        if self.spec.kind == "binary":
            noise = rng.binomial(1, min(max(mean, 0.0), 1.0), size=len(y)).astype(float)
        else:
            noise = rng.normal(mean, max(float(np.nanstd(y)), 1e-12), size=len(y))
        return self.estimate(self.frame.assign(**{column: np.where(present, noise, np.nan)}))

    def too_few_units(self) -> str | None:
        if self._units.n < MIN_UNITS:
            return f"Only {self._units.n} randomized units; re-randomizing or resampling needs at least {MIN_UNITS}."
        return None

    def diagnostic(self, name: str, runner: Runner, simulations: int) -> RefuteCheck:
        if name == "sample_ratio":
            return self._sample_ratio()
        return self._balance()

    def _sample_ratio(self) -> RefuteCheck:
        srm = self.result.srm
        counts = ", ".join(f"{c.arm}: {int(c.count):,}" for c in srm.observed)
        null = "Units reached the arms in the planned proportions (no sample-ratio mismatch)."
        procedure = "Chi-square goodness of fit of units per arm against the planned split (ab_test's check)."
        detail = f"Units per arm {counts}; chi-square {srm.chi2:.3g} on {srm.df} df, p = {srm.p_value:.3g}"
        if self.request.expected_split is None:
            if srm.status == "pass":
                detail += " against an equal split, assumed because no expected_split was given."
                explanation = "The arms have the sizes an equal split gives: assignment and logging look intact."
                verdict = "pass"
            else:
                # the design may have been unequal on purpose (185 treated, 260 controls): only the plan can tell
                detail += (
                    " against an equal split, assumed because no expected_split was given; the sizes differ from it "
                    f"(below {SRM_THRESHOLD})."
                )
                explanation = (
                    "The arms' sizes differ from an equal split, but no planned split was given: if the design was "
                    "unequal, give expected_split in the ab_test request to check it; if it planned equal arms, "
                    "assignment or logging is broken."
                )
                verdict = "inconclusive"
        else:
            ok = srm.status != "fail"
            detail += f" against the planned split (fails below {SRM_THRESHOLD})."
            verdict = "pass" if ok else "fail"
            explanation = (
                "Assignment and logging look intact."
                if ok
                else "The arms do not have the planned sizes, so assignment or logging is broken and no metric result "
                "can be trusted."
            )
        return RefuteCheck(
            name="sample_ratio",
            null=null,
            procedure=procedure,
            estimate=srm.chi2,
            distribution=None,
            p_value=srm.p_value,
            verdict=verdict,
            detail=detail,
            explanation=explanation,
        )

    def _balance(self) -> RefuteCheck:
        null = "Pre-treatment covariates have the same mean in both arms (randomization balanced them)."
        procedure = (
            "Compared each pre-period covariate (the metrics' covariate_column) between control and the arm: "
            "standardized mean difference and Welch t-test, Bonferroni over covariates."
        )
        covariates = sorted({m.covariate_column for m in self.request.metrics if m.covariate_column})
        if not covariates:
            return RefuteCheck(
                name="covariate_balance",
                null=null,
                procedure=procedure,
                estimate=None,
                distribution=None,
                p_value=None,
                verdict="inconclusive",
                detail="No pre-treatment covariate was given (a metric's covariate_column), so balance cannot be "
                "checked.",
                explanation="Give a pre-period covariate to test whether randomization balanced the arms.",
            )
        arm = arm_labels(self.frame[self.arm_column])  # labelled as ab_test labels the arms ('0', not '0.0')
        parts: list[str] = []
        worst_p, worst_smd = 1.0, 0.0
        for column in covariates:
            x = pd.to_numeric(self.frame[column], errors="coerce").to_numpy(dtype=float)
            groups = [
                x[(arm == label) & np.isfinite(x)] for label in (self.comparison.control_arm, self.comparison.arm)
            ]
            if self.request.cluster_column is not None:
                frame = pd.DataFrame({"u": self.frame[self.request.cluster_column], "x": x, "a": arm})
                sums = frame.groupby(["u", "a"], dropna=True)["x"].sum().reset_index()
                labels = (self.comparison.control_arm, self.comparison.arm)
                groups = [sums.loc[sums["a"] == label, "x"].to_numpy(dtype=float) for label in labels]
            if min(len(g) for g in groups) < 2:
                continue
            pooled = np.sqrt((groups[0].var(ddof=1) + groups[1].var(ddof=1)) / 2)
            smd = float((groups[1].mean() - groups[0].mean()) / pooled) if pooled > 0 else 0.0
            p = float(stats.ttest_ind(groups[1], groups[0], equal_var=False).pvalue) if pooled > 0 else 1.0
            p_adj = min(1.0, p * len(covariates))
            parts.append(f"'{display_name(column)}': SMD {smd:+.3f}, p = {p:.3g} (adjusted {p_adj:.3g})")
            if p_adj < worst_p:
                worst_p, worst_smd = p_adj, smd
        ok = worst_p >= BALANCE_THRESHOLD
        return RefuteCheck(
            name="covariate_balance",
            null=null,
            procedure=procedure,
            estimate=worst_smd,
            distribution=None,
            p_value=worst_p,
            verdict="pass" if ok else "fail",
            detail="; ".join(parts)
            + f" (fails when an adjusted p is below {BALANCE_THRESHOLD}, as the sample-ratio check: in a randomized "
            "experiment a failure means assignment is broken, not a chance imbalance).",
            explanation="The arms were comparable before treatment."
            if ok
            else "The arms differed before treatment, so randomization may be broken or the covariate was measured "
            "after assignment.",
        )
