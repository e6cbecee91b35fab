"""tools.validate: the calibration run behind ``whyscope validate``.

The quick run of ab_test (its twelve designs: the metric kinds, clustered sessions, the row-level adjustments, a
quantile and a bootstrap interval) takes about fifteen seconds and is checked for sane values: every well-specified
design within its Monte Carlo band, the deliberately mis-specified analysis (clustered sessions analysed per row)
reported as 'check', the recomputed references agreeing. The whole quick run (about a minute) is marked slow. The
rows of the covariate adjustments and of Callaway-Sant'Anna with covariates have their own tests in
test_validate_covariates.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from tools.errors import ToolError
from tools.validate import BAND, GROUPS, ValidationReport, ValidationRow, format_report, run_validation
from tools.validate.designs import (
    CONTROL_REVENUE,
    CONTROL_SPEND,
    PROPENSITY_COEFFICIENTS,
    PROPENSITY_INTERCEPT,
    att_of_propensity_design,
    experiment_columns,
    staggered_panel,
)
from tools.validate.models import Rate, build_row


def band(nominal: float, replications: int) -> float:
    return BAND * math.sqrt(nominal * (1 - nominal) / replications)


@pytest.fixture(scope="module")
def quick() -> ValidationReport:
    return run_validation("quick", only=["ab_test"])


def test_quick_rows_of_ab_test(quick: ValidationReport) -> None:
    assert quick.size == "quick"
    assert [row.estimator for row in quick.rows] == ["ab_test"] * 12
    assert all(row.failed == 0 and row.alpha == 0.05 for row in quick.rows)
    ab, clustered, later = quick.rows[:4], quick.rows[4:6], quick.rows[6:]
    assert [row.n for row in ab + later] == [800] * 10
    assert [row.replications for row in ab + clustered + later] == [240] * 12
    assert all(850 < row.n < 950 for row in clustered)  # 300 users, 1 + Poisson(2) sessions each
    firsts = ["Lin", "logistic", "ratio", "post-stratification", "90th", "bootstrap"]
    assert [row.what.split()[0].rstrip(",") for row in later] == firsts


def test_well_specified_designs_are_within_their_monte_carlo_band(quick: ValidationReport) -> None:
    for row in quick.rows:
        if row.misspecified:
            continue
        assert row.status == "ok", (row.what, row.note)
        assert row.note == ""
        if row.coverage is not None:
            assert abs(row.coverage - 0.95) <= band(0.95, row.replications), row
        assert row.fpr is not None
        assert abs(row.fpr - 0.05) <= band(0.05, row.replications), row
        assert row.fpr_mc_se is not None and 0 < row.fpr_mc_se < 0.05


def test_row_level_analysis_of_clustered_sessions_is_a_check(quick: ValidationReport) -> None:
    by_user, by_row = (row for row in quick.rows if "clustered" in row.what)
    assert not by_user.misspecified and by_user.status == "ok"
    assert by_row.misspecified and by_row.status == "check"
    # intra-user correlation 0.5 over about 3 sessions per user: a design effect near 2, so about 17% or more
    assert by_row.fpr is not None and by_row.fpr > 0.12
    assert "above 0.050" in by_row.note
    assert [row.misspecified for row in quick.rows].count(True) == 1


def test_recomputed_references_agree(quick: ValidationReport) -> None:
    binary, continuous = quick.rows[0], quick.rows[1]
    assert binary.reference is not None and binary.reference.startswith("statsmodels pooled z-test p ")
    assert continuous.reference is not None and continuous.reference.startswith("scipy Welch t-test p ")
    assert binary.reference_ok is True and continuous.reference_ok is True
    cuped = quick.rows[2]
    assert cuped.reference_ok is None  # its references are test-only: cited, not recomputed
    assert "test_ab_test_reference.py" in (cuped.reference or "")


def test_the_table_shows_every_row_and_explains_the_checks(quick: ValidationReport) -> None:
    text = format_report(quick)
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["estimator", "design", "reps", "n"]
    assert sum(line.startswith("ab_test ") for line in lines) == len(quick.rows)
    assert "check*" in text and "deliberately mis-specified" in text
    assert "Checks:\n  ab_test / clustered sessions analysed per row" in text
    assert "[agrees]" in text and "[pinned by the test suite]" in text
    assert f"{quick.rows[0].coverage:.3f} ±{quick.rows[0].coverage_mc_se:.3f}" in text


def test_same_seed_same_numbers_other_seed_other_numbers() -> None:
    first = run_validation("quick", only=["power"])
    assert first == run_validation("quick", only="power")  # one name, as a string
    other = run_validation("quick", only=["power"], seed=1)
    assert other.rows[0].power != first.rows[0].power
    row = first.rows[0]
    assert row.power is not None and row.power_planned is not None
    assert row.power_planned == pytest.approx(0.8, abs=0.01)
    assert abs(row.power - row.power_planned) <= band(row.power_planned, row.replications)
    assert row.reference_ok is True and "G*Power" in (row.reference or "")


def test_progress_counts_each_design_to_its_end() -> None:
    calls: list[tuple[int, int, str]] = []
    run_validation("quick", only=["power"], progress=lambda done, total, label: calls.append((done, total, label)))
    assert calls[0] == (0, 200, "power: formula vs simulation")
    assert calls[-1] == (200, 200, "power: formula vs simulation")
    assert [done for done, _, _ in calls] == sorted(done for done, _, _ in calls)


def test_unknown_or_empty_selection_is_a_tool_error() -> None:
    for only in (["rd"], []):
        with pytest.raises(ToolError) as caught:
            run_validation("quick", only=only)
        assert caught.value.code == "unknown_estimator"
        assert "rdd" in caught.value.hint


def test_groups_cover_every_estimating_tool() -> None:
    from tools.registry import estimators

    covered = {"ab_test" if name == "sequential" else name for name in GROUPS}
    assert {spec.name for spec in estimators()} | {"power"} == covered


def test_status_rules() -> None:
    def rate(hits: int, trials: int) -> Rate:
        return Rate(hits, trials)

    ok = build_row("t", "x", 10, coverage=rate(950, 1000), fpr=rate(50, 1000))
    assert (ok.status, ok.note, ok.replications) == ("ok", "", 1000)
    # 0.92 coverage over 1,000: 4.4 MC SEs below 0.95
    low = build_row("t", "x", 10, coverage=rate(920, 1000))
    assert low.status == "check" and "coverage 0.920 is 4.4 MC SEs below 0.950" in low.note
    # a conservative method may over-cover and under-reject, not the reverse
    assert build_row("t", "x", 10, coverage=rate(1000, 1000), fpr=rate(0, 1000), conservative=True).status == "ok"
    assert build_row("t", "x", 10, fpr=rate(90, 1000), conservative=True).status == "check"
    assert build_row("t", "x", 10, fpr=rate(0, 1000)).status == "check"
    # a disagreeing reference, failed replications, or nothing measured
    assert build_row("t", "x", 10, fpr=rate(50, 1000), reference="r", reference_ok=False).status == "check"
    assert "2 replication(s) failed" in build_row("t", "x", 10, fpr=rate(50, 1000), failed=2).note
    assert build_row("t", "x", 10, coverage=Rate()).note == "no coverage could be measured"
    # power against the formula's promise
    assert build_row("t", "x", 10, power=rate(800, 1000), power_planned=0.8).status == "ok"
    assert build_row("t", "x", 10, power=rate(700, 1000), power_planned=0.8).status == "check"


def test_monte_carlo_standard_error_is_never_zero() -> None:
    assert Rate(50, 1000).mc_se == pytest.approx(math.sqrt(51 / 1002 * (951 / 1002) / 1000))
    assert Rate(0, 25).mc_se > 0.03
    assert Rate(25, 25).mc_se == pytest.approx(Rate(0, 25).mc_se, rel=1e-12)


def test_the_designs_truths() -> None:
    """The true effects the coverage is measured against, checked on one large draw of each design."""
    rng = np.random.default_rng(0)
    n = 400_000
    treated = np.repeat(np.array([0, 1]), n // 2)
    columns = experiment_columns(rng, treated, lift=True)
    control, arm = treated == 0, treated == 1
    assert columns["signup"][control].mean() == pytest.approx(0.20, abs=0.003)
    assert columns["signup"][arm].mean() == pytest.approx(0.23, abs=0.003)
    assert columns["spend"][control].mean() == pytest.approx(CONTROL_SPEND, rel=0.01)
    assert columns["spend"][arm].mean() == pytest.approx(1.1 * CONTROL_SPEND, rel=0.01)
    revenue, sessions = columns["session_revenue"], columns["sessions"]
    assert revenue[control].sum() / sessions[control].sum() == pytest.approx(CONTROL_REVENUE, rel=0.01)
    assert revenue[arm].sum() / sessions[arm].sum() == pytest.approx(1.1 * CONTROL_REVENUE, rel=0.01)
    assert np.corrcoef(columns["spend"][control], columns["spend_pre"][control])[0, 1] == pytest.approx(0.70, abs=0.02)
    # the propensity design's ATT: quadrature against the treated units' mean effect in a large sample
    x = rng.normal(size=(n, 3))
    take_up = rng.random(n) < special.expit(PROPENSITY_INTERCEPT + x @ np.array(PROPENSITY_COEFFICIENTS))
    assert att_of_propensity_design() == pytest.approx(float(np.mean(1 + 0.5 * x[take_up, 0])), abs=0.005)
    assert att_of_propensity_design() > 1.1  # the treated are those with larger x1: ATT above the ATE of 1
    # a panel's truth is the effect averaged over treated unit-periods
    frame, truth = staggered_panel(rng, 50, 6, (2, 4, -1), effect=1.0, growth=0.5)
    first = frame["cohort"].where(frame["cohort"] > 0)
    since = (frame["period"] - first)[frame["period"] >= first]
    assert truth == pytest.approx(float((1.0 + 0.5 * since).mean()))


@pytest.mark.slow
def test_the_whole_quick_run_reads_as_expected() -> None:
    """About a minute: every well-specified design 'ok', every deliberately mis-specified one 'check'."""
    report = run_validation("quick")
    # refute's Rosenbaum bounds run in the propensity group (they read its matched pairs)
    assert {row.estimator for row in report.rows} == {"ab_test" if g == "sequential" else g for g in GROUPS} | {
        "refute"
    }
    unexpected: list[ValidationRow] = [row for row in report.rows if (row.status == "check") != row.misspecified]
    assert not unexpected, [(row.what, row.note) for row in unexpected]
    assert all(row.reference_ok is not False for row in report.rows)
