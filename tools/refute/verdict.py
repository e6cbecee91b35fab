"""The overall verdict and the summary a product manager reads."""

from __future__ import annotations

from tools.refute.models import RefuteCheck
from tools.results import Estimate

__all__ = ["FALSIFICATION", "overall", "summary"]

#: A failure here means the design's assumptions are contradicted by the data: the estimate "failed".
#: A failure of any other check (stability, sensitivity) makes it "fragile".
FALSIFICATION = frozenset(
    {
        "placebo_treatment",
        "dummy_outcome",
        "placebo_time",
        "placebo_cutoff",
        "sample_ratio",
        "pre_trends",
        "density_test",
        "covariate_balance",
        "covariate_continuity",
        "overlap",
    }
)


def overall(checks: list[RefuteCheck]) -> tuple[str, list[str]]:
    """robust / fragile / failed, and the checks that decided it."""
    failed: list[str] = [c.name for c in checks if c.verdict == "fail"]
    falsified = [name for name in failed if name in FALSIFICATION]
    if falsified:
        return "failed", falsified
    if failed:
        return "fragile", failed
    passed: list[str] = [c.name for c in checks if c.verdict == "pass"]
    return "robust", passed


def summary(headline: str, original: Estimate, checks: list[RefuteCheck], verdict: str, decided_by: list[str]) -> str:
    passed = sum(c.verdict == "pass" for c in checks)
    unclear = [c.name for c in checks if c.verdict == "inconclusive"]
    level = f"{1 - original.alpha:.0%}"
    head = (
        f"The {headline} estimate of {original.estimate:.4g} ({level} CI {original.ci_lower:.4g} to "
        f"{original.ci_upper:.4g}) is {verdict.upper()}: {passed} of {len(checks)} checks passed"
    )
    if verdict == "failed":
        head += f"; falsification check(s) failed: {', '.join(decided_by)}"
        tail = "Do not base the decision on this estimate until those failures are explained."
    elif verdict == "fragile":
        head += f"; it depends on {', '.join(decided_by)}"
        tail = "The design holds up, but the size of the effect is not settled: treat the decision as provisional."
    else:
        tail = "No check gives a reason to distrust it."
    if unclear:
        head += f"; inconclusive: {', '.join(unclear)}"
    return f"{head}. {tail}"
