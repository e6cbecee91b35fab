"""The overall verdict and the summary a product manager reads."""

from __future__ import annotations

from collections.abc import Sequence

from tools.refute.models import RefuteCheck
from tools.results import Check, Estimate

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


def overall(checks: list[RefuteCheck], design_failures: Sequence[Check] = (), tool: str = "") -> tuple[str, list[str]]:
    """robust / fragile / failed, and what decided it.

    A failed falsification check: "failed". Otherwise "fragile" when any check failed, when the target analysis
    itself reports a failed design check (``design_failures``: a rejected pre-trend test, a single treated
    cluster, no overlap, ...; named ``tool:check`` in what decided it), or when no check could judge the estimate
    at all; "robust" only when at least one check passed, none failed and the target's design checks hold."""
    failed: list[str] = [c.name for c in checks if c.verdict == "fail"]
    falsified = [name for name in failed if name in FALSIFICATION]
    if falsified:
        return "failed", falsified
    capped = [f"{tool}:{c.name}" if tool else c.name for c in design_failures]
    if failed or capped:
        return "fragile", failed + capped
    passed: list[str] = [c.name for c in checks if c.verdict == "pass"]
    if not passed:
        return "fragile", [c.name for c in checks]
    return "robust", passed


def summary(
    headline: str,
    original: Estimate,
    checks: list[RefuteCheck],
    verdict: str,
    decided_by: list[str],
    design_failures: Sequence[Check] = (),
    tool: str = "",
) -> str:
    """The paragraph: the estimate, the verdict with the counts behind it (passed, failed, not judged), what
    decided it, and what it means for the decision. The words never contradict the counts."""
    passed = sum(c.verdict == "pass" for c in checks)
    failed = [c.name for c in checks if c.verdict == "fail"]
    unclear = [c.name for c in checks if c.verdict == "inconclusive"]
    # a design check the battery repeats and failed too (ab_test's sample_ratio) is named once
    capped = [c.name for c in design_failures if not (verdict == "failed" and c.name in decided_by)]
    level = f"{1 - original.alpha:.0%}"
    counts = f"{passed} of {len(checks)} checks passed, {len(failed)} failed"
    if unclear:
        counts += f", {len(unclear)} could not judge it ({', '.join(unclear)})"
    judged = (
        f" on the {passed} check{'s' if passed != 1 else ''} that could judge it"
        if verdict == "robust" and unclear
        else ""
    )
    head = (
        f"The {headline} estimate of {original.estimate:.4g} ({level} CI {original.ci_lower:.4g} to "
        f"{original.ci_upper:.4g}) is {verdict.upper()}{judged}: {counts}"
    )
    own = f"the {tool or 'target'} analysis's own design check(s) failed: {', '.join(capped)}"
    if verdict == "failed":
        head += f"; falsification check(s) failed: {', '.join(decided_by)}"
        if capped:
            head += f"; {own}"
        tail = "Do not base the decision on this estimate until those failures are explained."
    elif verdict == "fragile":
        if failed:
            head += f"; it depends on {', '.join(failed)}"
        if capped:
            head += f"; {own}"
            tail = (
                "Those failures cap the verdict, whatever the battery finds: the estimate cannot be called robust "
                "until they are addressed; treat the decision as provisional."
            )
        elif failed:
            tail = "The design holds up, but the size of the effect is not settled: treat the decision as provisional."
        else:
            tail = "No check could judge the estimate, so nothing supports calling it robust: treat it as unchecked."
    else:
        tail = "No check gives a reason to distrust it" + (
            "; the checks that could not judge it neither support nor weaken it." if unclear else "."
        )
    return f"{head}. {tail}"
