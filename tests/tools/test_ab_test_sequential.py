"""ab_test at an interim look: a group-sequential plan (`sequential`) and always-valid confidence sequences.

References:
- the fixed-horizon analysis itself: at the final look of a one-look design the repeated confidence intervals must
  be the fixed-horizon intervals bit for bit (Welch t, the binary score intervals of the difference and the risk
  ratio, the delta-method z of a ratio metric and of the relative lift, CUPED);
- rpact 3.3.4's boundaries (tests/fixtures/sequential/rpact_designs.csv, made by make_reference.R beside it) for
  the boundary at each look, and tools.sequential.design.boundaries for a look at an unplanned information fraction;
- the confidence sequence's closed form (Howard et al. 2021's normal mixture; rho tuned as Waudby-Smith et al.
  2023), written out here;
- Armitage, McPherson & Rowe (1969): five looks at a fixed-horizon two-sided 5% test reject 14.2% of A/A
  experiments (the seeded simulation at the end, marked slow).
"""

from __future__ import annotations

import csv
import importlib.util
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tools.ab_test.models import AbTestRequest, AbTestResult, Comparison, SequentialPlan
from tools.ab_test.tool import ab_test
from tools.errors import ToolError
from tools.registry import dispatch
from tools.sequential.design import boundaries

ROOT = Path(__file__).resolve().parents[2]
RPACT = ROOT / "tests" / "fixtures" / "sequential" / "rpact_designs.csv"
RUNNING = ROOT / "examples" / "data" / "running_experiment.csv"


def experiment(n: int = 3_000, seed: int = 7, lift: float = 0.0) -> pd.DataFrame:
    """Rows of a two-arm experiment: a binary, a skewed continuous, a ratio (clicks per session) metric and a
    pre-period covariate; each user belongs to one of n / 10 workspaces (for a clustered analysis)."""
    rng = np.random.default_rng(seed)
    treated = rng.permutation(np.arange(n) < n // 2)
    pre = rng.gamma(2.0, 5.0, n)
    sessions = rng.poisson(4.0, n) + 1
    return pd.DataFrame(
        {
            "arm": np.where(treated, "treatment", "control"),
            "workspace": rng.integers(0, n // 10, n),
            "converted": rng.binomial(1, np.where(treated, 0.12 * (1 + lift), 0.12)),
            "revenue": pre * 0.6 + rng.gamma(1.5, 4.0, n) * (1 + lift * treated),
            "pre_revenue": pre,
            "clicks": rng.binomial(sessions, np.where(treated, 0.3 * (1 + lift), 0.3)),
            "sessions": sessions,
        }
    )


def request(metrics: list[dict[str, Any]], **extra: Any) -> AbTestRequest:
    return AbTestRequest.model_validate({"dataset": "exp", "arm_column": "arm", "metrics": metrics, **extra})


def one_look(req: AbTestRequest) -> AbTestRequest:
    """The request with a one-look 'sequential' design (the request model asks for 2 looks or more)."""
    plan = SequentialPlan.model_construct(
        looks=1, look=1, spending="obrien_fleming", information_fraction=None, previous_fractions=None
    )
    return req.model_copy(update={"sequential": plan})


def primary(result: AbTestResult) -> Comparison:
    return next(c for c in result.comparisons if c.role == "primary")


# --- the final look of a one-look design is the fixed-horizon analysis -------------------------------------------


METRICS = {
    "binary": {"name": "converted", "kind": "binary"},
    "continuous": {"name": "revenue", "kind": "continuous"},
    "cuped": {"name": "revenue", "kind": "continuous", "covariate_column": "pre_revenue"},
    "ratio": {"name": "ctr", "column": "clicks", "kind": "ratio", "denominator_column": "sessions"},
}


@pytest.mark.parametrize("alternative", ["two-sided", "larger", "smaller"])
@pytest.mark.parametrize("metric", sorted(METRICS))
def test_one_look_repeated_intervals_are_the_fixed_intervals_exactly(metric: str, alternative: str) -> None:
    data = experiment(lift=0.08)
    fixed_request = request([METRICS[metric]], alternative=alternative, alpha=0.1)
    fixed = primary(ab_test(fixed_request, data))
    look = primary(ab_test(one_look(fixed_request), data)).sequential
    assert look is not None and fixed.relative is not None
    assert look.decision.startswith("final look") and look.stop
    # one-sided: the tested side only (the fixed interval reports the two-sided bound on the other side)
    if alternative != "smaller":
        assert look.ci_lower == fixed.absolute.ci_lower
        assert look.relative_ci_lower == fixed.relative.ci_lower
    else:
        assert look.ci_lower is None and look.relative_ci_lower is None
    if alternative != "larger":
        assert look.ci_upper == fixed.absolute.ci_upper
        assert look.relative_ci_upper == fixed.relative.ci_upper
    else:
        assert look.ci_upper is None and look.relative_ci_upper is None
    assert look.crossed == (fixed.p_value_raw < 0.1)


def test_interval_excludes_zero_exactly_when_the_boundary_is_crossed() -> None:
    for seed in range(12):
        data = experiment(n=2_000, seed=seed, lift=0.15)
        for metric in METRICS.values():
            look = primary(ab_test(request([metric], sequential={"looks": 4, "look": 2}), data)).sequential
            assert look is not None and look.ci_lower is not None and look.ci_upper is not None
            assert look.crossed == (look.ci_lower > 0 or look.ci_upper < 0)


# --- the boundary at a look -----------------------------------------------------------------------------------------


def rpact_designs() -> dict[int, list[dict[str, str]]]:
    rows: dict[int, list[dict[str, str]]] = defaultdict(list)
    with RPACT.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            rows[int(row["design"])].append(row)
    return rows


# rpact designs: 5 = K 5 O'Brien-Fleming two-sided 0.05; 9 = K 5 Pocock two-sided 0.05; 11 / 12 = the same
# one-sided at 0.025; 17 = K 3 O'Brien-Fleming two-sided 0.1 at unequal fractions (0.5, 0.75, 1)
@pytest.mark.parametrize("number", [5, 9, 11, 12, 17])
def test_each_looks_boundary_is_rpacts(number: int) -> None:
    rows = rpact_designs()[number]
    first = rows[0]
    looks, alpha = int(first["k"]), float(first["alpha"])
    alternative = "two-sided" if first["sided"] == "2" else "larger"
    data = experiment(n=1_000)
    rates = [float(r["information_rate"]) for r in rows]
    for k, row in enumerate(rows):
        plan = {
            "looks": looks,
            "look": k + 1,
            "spending": first["spending"],
            "information_fraction": rates[k],
            "previous_fractions": rates[:k],
        }
        req = request([METRICS["binary"]], sequential=plan, alpha=alpha, alternative=alternative)
        look = primary(ab_test(req, data)).sequential
        assert look is not None
        assert look.information_fraction == pytest.approx(float(row["information_rate"]), abs=1e-12)
        assert look.z_boundary == pytest.approx(float(row["critical_value"]), abs=1e-5)
        assert look.cumulative_alpha == pytest.approx(float(row["alpha_spent"]), abs=1e-7)
        stage = float(row["stage_level"]) * (2 if alternative == "two-sided" else 1)
        assert look.nominal_p == pytest.approx(stage, rel=1e-4)


def test_the_boundary_is_recomputed_at_the_actual_information_fraction() -> None:
    data = experiment(n=2_000)
    plan = {"looks": 5, "look": 3, "information_fraction": 0.55, "previous_fractions": [0.18, 0.41]}
    look = primary(ab_test(request([METRICS["continuous"]], sequential=plan), data)).sequential
    assert look is not None and look.recomputed
    reference = boundaries([0.18, 0.41, 0.55], "obrien_fleming", 0.05, two_sided=True, spend_all_at_last=False)
    assert look.z_boundary == reference.z[2]
    assert [b.z_boundary for b in look.boundaries] == list(reference.z)
    # from the planned total instead: 2,000 units of 5,000 planned is fraction 0.4
    look = primary(
        ab_test(
            request([METRICS["continuous"]], sequential={"looks": 5, "look": 2}, planned_n_total=5_000),
            data,
        )
    ).sequential
    assert look is not None and look.information_fraction == 0.4


def test_t_scale_boundary_and_z_scale_lift_for_a_welch_metric() -> None:
    data = experiment(n=400, lift=0.1)
    c = primary(ab_test(request([METRICS["continuous"]], sequential={"looks": 5, "look": 2}), data))
    look = c.sequential
    assert look is not None and c.relative is not None
    df = stats.ttest_ind(data.revenue[data.arm == "treatment"], data.revenue[data.arm == "control"], equal_var=False).df
    # the same nominal level on the t scale (Welch's df, scipy's) for the difference; the z scale for the lift
    nominal = look.nominal_p / 2
    assert look.critical_value == pytest.approx(stats.t.isf(nominal, df), rel=1e-9)
    half = stats.norm.isf(nominal) * c.relative.std_error
    assert look.relative_ci_lower == pytest.approx(c.relative.estimate - half, rel=1e-9)
    assert look.ci_lower == pytest.approx(c.absolute.estimate - look.critical_value * c.absolute.std_error, rel=1e-12)


# --- decisions --------------------------------------------------------------------------------------------------


def summaries(n: int, control: float, treatment: float, sd: float = 1.0) -> list[dict[str, Any]]:
    return [
        {"arm": "A", "metric": "m", "n": n, "mean": control, "std_dev": sd},
        {"arm": "B", "metric": "m", "n": n, "mean": treatment, "std_dev": sd},
    ]


def from_summaries(n: int, control: float, treatment: float, **extra: Any) -> AbTestResult:
    req = AbTestRequest.model_validate(
        {"summaries": summaries(n, control, treatment), "control": "A", "metrics": [{"name": "m"}], **extra}
    )
    return ab_test(req)


def test_decisions_at_interim_and_final_looks() -> None:
    # z = 0.1 / sqrt(2 / 1000) = 2.24: significant fixed-horizon, below look 2's boundary (3.357)
    interim = from_summaries(1_000, 1.0, 1.1, sequential={"looks": 5, "look": 2})
    c = primary(interim)
    assert c.p_value_raw < 0.05 and c.sequential is not None and not c.sequential.crossed
    assert interim.decision == "continue" and c.verdict == "no_detectable_change"
    assert c.sequential.decision == "continue to look 3 of 5"
    assert interim.summary.startswith("Decision: continue.") and "continue to look 3 of 5" in interim.summary
    assert "No ship before a boundary is crossed" in interim.summary
    assert any("Interim analysis" in w for w in interim.warnings)
    # the same data at the final look: the boundary is about 2.03 < 2.24
    final = from_summaries(1_000, 1.0, 1.1, sequential={"looks": 5, "look": 5})
    assert final.decision == "ship" and primary(final).sequential.decision == "final look: significant"  # type: ignore[union-attr]
    # crossing early: z = 0.2 / sqrt(0.002) = 4.47 > 3.357
    early = from_summaries(1_000, 1.0, 1.2, sequential={"looks": 5, "look": 2})
    assert early.decision == "ship" and primary(early).sequential.decision.startswith("stop for efficacy")  # type: ignore[union-attr]
    harm = from_summaries(1_000, 1.2, 1.0, sequential={"looks": 5, "look": 2})
    assert harm.decision == "don't ship" and primary(harm).verdict == "regression"
    assert primary(harm).sequential.decision.startswith("stop for harm")  # type: ignore[union-attr]
    nothing = from_summaries(1_000, 1.0, 1.01, sequential={"looks": 5, "look": 5})
    assert nothing.decision == "inconclusive"
    assert primary(nothing).sequential.decision == "final look: not significant"  # type: ignore[union-attr]


def test_the_decision_rule_reads_the_repeated_interval() -> None:
    # a 15% lift is ruled out by the fixed interval but not by the wider repeated one at look 2
    fixed = from_summaries(1_000, 1.0, 1.01, decision_rule=0.15)
    assert fixed.decision == "don't ship"
    interim = from_summaries(1_000, 1.0, 1.01, decision_rule=0.15, sequential={"looks": 5, "look": 2})
    look = primary(interim).sequential
    assert look is not None and look.relative_ci_upper is not None and look.relative_ci_upper > 0.15
    assert interim.decision == "continue"


def test_summaries_and_rows_give_the_same_look() -> None:
    data = experiment(n=3_000, lift=0.05)
    plan = {"looks": 4, "look": 2}
    from_rows = primary(ab_test(request([METRICS["continuous"]], sequential=plan), data)).sequential
    rows = [
        {"arm": arm, "metric": "revenue", "n": len(g), "mean": float(g.mean()), "std_dev": float(g.std())}
        for arm, g in data.groupby("arm").revenue
    ]
    req = AbTestRequest.model_validate(
        {"summaries": rows, "control": "control", "metrics": [METRICS["continuous"]], "sequential": plan}
    )
    from_dash = primary(ab_test(req)).sequential
    assert from_rows is not None and from_dash is not None
    assert from_dash.z_boundary == from_rows.z_boundary
    for name in ("ci_lower", "ci_upper", "statistic"):
        assert getattr(from_dash, name) == pytest.approx(getattr(from_rows, name), rel=1e-9), name


def clustered(n: int = 4_000, seed: int = 3) -> pd.DataFrame:
    """The experiment randomized by workspace (10 users each): every user takes the workspace's arm."""
    data = experiment(n=n, seed=seed, lift=0.1)
    rng = np.random.default_rng(seed + 1)
    workspace_arm = rng.permutation(np.arange(n // 10) < n // 20)
    return data.assign(arm=np.where(workspace_arm[data.workspace.to_numpy()], "treatment", "control"))


def test_ratio_and_cluster_designs_use_the_delta_method_z() -> None:
    plan = {"looks": 3, "look": 2}
    for data, extra in ((experiment(n=4_000, lift=0.1), {}), (clustered(), {"cluster_column": "workspace"})):
        result = ab_test(request([METRICS["ratio"]], sequential=plan, **extra), data)
        c = primary(result)
        look = c.sequential
        assert look is not None
        z = boundaries([1 / 3, 2 / 3], "obrien_fleming", 0.05, two_sided=True, spend_all_at_last=False).z[1]
        assert look.z_boundary == z and look.critical_value == pytest.approx(z, rel=1e-12)
        assert look.statistic == pytest.approx(c.absolute.estimate / c.absolute.std_error, rel=1e-12)
        assert look.ci_lower == pytest.approx(c.absolute.estimate - z * c.absolute.std_error, rel=1e-9)
    by_workspace = ab_test(
        request([METRICS["ratio"]], sequential=plan, cluster_column="workspace", planned_n_total=600), clustered()
    )
    assert by_workspace.n_obs <= 400  # workspaces, not users
    assert primary(by_workspace).sequential.information_fraction == by_workspace.n_obs / 600  # type: ignore[union-attr]


def test_several_primary_comparisons_split_alpha() -> None:
    data = experiment(n=2_000)
    metrics = [METRICS["binary"], METRICS["continuous"]]
    result = ab_test(request(metrics, sequential={"looks": 3, "look": 1}), data)
    reference = boundaries([1 / 3], "obrien_fleming", 0.025, two_sided=True, spend_all_at_last=False)
    for c in result.comparisons:
        assert c.sequential is not None and c.sequential.alpha_share == 0.025
        assert c.sequential.z_boundary == reference.z[0]
    assert "Bonferroni" in result.method
    alone = ab_test(request(metrics, sequential={"looks": 3, "look": 1}, correction="none"), data)
    assert all(c.sequential is not None and c.sequential.alpha_share == 0.05 for c in alone.comparisons)


def test_guardrails_and_secondary_metrics_stay_fixed_horizon() -> None:
    data = experiment(n=2_000)
    metrics = [
        METRICS["binary"],
        {"name": "revenue", "role": "secondary"},
        {"name": "ctr", "column": "clicks", "kind": "ratio", "denominator_column": "sessions", "role": "guardrail"},
    ]
    fixed = ab_test(request(metrics), data)
    interim = ab_test(request(metrics, sequential={"looks": 5, "look": 2}), data)
    for a, b in zip(fixed.comparisons[1:], interim.comparisons[1:], strict=True):
        assert b.sequential is None and b.always_valid is None
        assert (a.verdict, a.p_value_adjusted, a.non_inferiority_p_value) == (
            b.verdict,
            b.p_value_adjusted,
            b.non_inferiority_p_value,
        )
    assert "guardrails and secondary metrics keep fixed-horizon tests" in interim.method
    assert any(w.startswith("Guardrails are tested fixed-horizon") for w in interim.warnings)


def test_without_monitoring_nothing_changes() -> None:
    data = experiment(n=1_000)
    result = ab_test(request([METRICS["binary"]]), data)
    assert result.monitoring == "fixed" and result.planned_n_total is None
    assert all(c.sequential is None and c.always_valid is None for c in result.comparisons)
    assert "sequential" not in result.method and "always-valid" not in result.method


# --- always-valid confidence sequences -------------------------------------------------------------------------------


def normal_mixture_half_width(se: float, n: int, target: int, alpha: float) -> float:
    """Howard et al.'s two-sided normal-mixture boundary for a mean of n units with sigma = se sqrt(n), rho^2
    tuned for ``target`` units (Waudby-Smith et al. 2023)."""
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / target
    sigma = se * math.sqrt(n)
    return sigma * math.sqrt(2 * (n * rho2 + 1) / (n * n * rho2) * math.log(math.sqrt(n * rho2 + 1) / alpha))


def test_always_valid_sequences_have_the_closed_form() -> None:
    data = experiment(n=3_000, lift=0.1)
    for metric in METRICS.values():
        result = ab_test(request([metric], monitoring="always_valid", planned_n_total=10_000), data)
        c = primary(result)
        sequences = c.always_valid
        assert sequences is not None and sequences.relative is not None and c.relative is not None
        n = c.n_control + c.n_treatment
        half = normal_mixture_half_width(c.absolute.std_error, n, 10_000, 0.05)
        assert sequences.absolute.ci_lower == pytest.approx(c.absolute.estimate - half, rel=1e-9)
        assert sequences.absolute.width_ratio == pytest.approx(half / (1.959963984540054 * c.absolute.std_error))
        half = normal_mixture_half_width(c.relative.std_error, n, 10_000, 0.05)
        assert sequences.relative.ci_upper == pytest.approx(c.relative.estimate + half, rel=1e-9)
        assert sequences.absolute.target_n == 10_000 and sequences.absolute.rho > 0
        assert sequences.absolute.width_ratio > 1
        crossed = sequences.absolute.ci_lower > 0 or sequences.absolute.ci_upper < 0  # type: ignore[operator]
        assert c.verdict == ("improvement" if crossed else "no_detectable_change")
        assert result.decision == ("ship" if crossed else "continue")
        assert "times as wide as the fixed-horizon interval" in result.summary
        assert "tuned for 10,000 units" in result.summary and "rho = " in result.method


def test_always_valid_at_the_planned_size_ends_the_test() -> None:
    result = from_summaries(1_000, 1.0, 1.01, monitoring="always_valid", planned_n_total=2_000)
    sequences = primary(result).always_valid
    assert sequences is not None and sequences.stop and sequences.decision.startswith("planned size reached")
    assert result.decision == "inconclusive"


# --- refusals -------------------------------------------------------------------------------------------------------


def refused(arguments: dict[str, Any]) -> ToolError:
    base = {
        "summaries": summaries(1_000, 1.0, 1.1),
        "control": "A",
        "metrics": [{"name": "m"}],
    }
    error = dispatch("ab_test", {**base, **arguments})
    assert isinstance(error, ToolError), error
    assert error.message and error.hint
    return error


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"sequential": {"looks": 3, "look": 4}}, "look_out_of_range"),
        ({"sequential": {"looks": 5, "look": 3, "previous_fractions": [0.3, 0.2]}}, "fractions_not_increasing"),
        (
            {"sequential": {"looks": 5, "look": 2, "information_fraction": 0.1, "previous_fractions": [0.2]}},
            "fractions_not_increasing",
        ),
        ({"sequential": {"looks": 5, "look": 3, "previous_fractions": [0.2]}}, "fractions_mismatch"),
        ({"sequential": {"looks": 5, "look": 2}, "planned_n_total": 1_500}, "interim_at_full_information"),
        (
            {"sequential": {"looks": 5, "look": 2}, "monitoring": "always_valid", "planned_n_total": 5_000},
            "sequential_and_always_valid",
        ),
        ({"monitoring": "always_valid"}, "planned_n_needed"),
        ({"sequential": {"looks": 5, "look": 2}, "metrics": [{"name": "m", "role": "secondary"}]}, "no_primary_metric"),
    ],
)
def test_bad_monitoring_input_is_refused_with_a_hint(arguments: dict[str, Any], code: str) -> None:
    assert refused(arguments).code == code


def test_request_bounds() -> None:
    for plan in ({"looks": 1, "look": 1}, {"looks": 21, "look": 1}, {"looks": 5, "look": 0}):
        error = dispatch(
            "ab_test", {"summaries": summaries(100, 1, 1.1), "metrics": [{"name": "m"}], "sequential": plan}
        )
        assert isinstance(error, ToolError)


# --- the bundled running experiment ---------------------------------------------------------------------------------


def test_the_running_example_says_continue_where_a_naive_test_would_ship() -> None:
    spec = importlib.util.spec_from_file_location(
        "whyscope_generate_running", ROOT / "examples" / "generate_running.py"
    )
    assert spec is not None and spec.loader is not None
    generate_running = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate_running)
    data = pd.read_csv(RUNNING)
    assert data.equals(generate_running.running_experiment())  # the file is the generator's, byte for value
    metrics = [
        {"name": "replied", "kind": "binary"},
        {"name": "complaint", "kind": "binary", "role": "guardrail", "direction": "decrease"},
    ]
    plan = {"looks": 5, "look": 2}
    result = ab_test(request(metrics, sequential=plan, planned_n_total=generate_running.PLANNED_N_TOTAL), data)
    c = primary(result)
    assert c.sequential is not None
    assert result.decision == "continue" and c.sequential.decision == "continue to look 3 of 5"
    assert c.sequential.information_fraction == pytest.approx(0.4, abs=1e-3)
    assert c.sequential.z_boundary == pytest.approx(3.357, abs=1e-3)  # rpact's K = 5 O'Brien-Fleming look 2
    assert result.srm.status == "pass"
    # the naive fixed-horizon analysis of the same data would have shipped; statsmodels' score test agrees
    naive = ab_test(request(metrics), data)
    assert naive.decision == "ship" and primary(naive).p_value_raw < 0.05
    from statsmodels.stats.proportion import test_proportions_2indep

    t, k = data.replied[data.arm == "treatment"], data.replied[data.arm == "control"]
    score = test_proportions_2indep(t.sum(), len(t), k.sum(), len(k), method="score", correction=False)
    assert primary(naive).p_value_raw == pytest.approx(score.pvalue, rel=1e-9)
    assert c.sequential.statistic == pytest.approx(score.statistic, rel=1e-9)
    # the plan's default fraction (look / looks) gives the same answer
    assert ab_test(request(metrics, sequential=plan), data).decision == "continue"


# --- seeded simulation: A/A experiments watched at 5 looks ----------------------------------------------------------


AA_EXPERIMENTS = 2_000
LOOK_SIZE = 200  # units per arm added between looks


@pytest.mark.slow
def test_aa_watched_five_times() -> None:
    """Naive fixed-horizon tests at each of 5 looks reject about 14.2% (Armitage, McPherson & Rowe 1969); the
    O'Brien-Fleming schedule rejects 5%; the always-valid confidence sequence at most 5%."""
    rng = np.random.default_rng(20_260_021)
    rejected = {"naive": 0, "sequential": 0, "always_valid": 0}
    for _ in range(AA_EXPERIMENTS):
        values = rng.normal(10.0, 3.0, size=(2, 5 * LOOK_SIZE))
        stopped = dict.fromkeys(rejected, False)
        for look in range(1, 6):
            part = values[:, : look * LOOK_SIZE]
            rows = [
                {
                    "arm": arm,
                    "metric": "m",
                    "n": part.shape[1],
                    "mean": float(v.mean()),
                    "std_dev": float(v.std(ddof=1)),
                }
                for arm, v in zip(("A", "B"), part, strict=True)
            ]
            base = {"summaries": rows, "control": "A", "metrics": [{"name": "m"}]}
            runs = {
                "naive": base,
                "sequential": {**base, "sequential": {"looks": 5, "look": look}},
                "always_valid": {**base, "monitoring": "always_valid", "planned_n_total": 10 * LOOK_SIZE},
            }
            for mode, arguments in runs.items():
                if stopped[mode]:
                    continue
                verdict = primary(ab_test(AbTestRequest.model_validate(arguments))).verdict
                stopped[mode] = verdict in ("improvement", "regression")
        for mode, hit in stopped.items():
            rejected[mode] += hit
    rate = {mode: hits / AA_EXPERIMENTS for mode, hits in rejected.items()}
    se = math.sqrt(0.05 * 0.95 / AA_EXPERIMENTS)  # 0.49 points
    assert abs(rate["naive"] - 0.142) < 3 * math.sqrt(0.142 * 0.858 / AA_EXPERIMENTS), rate
    assert abs(rate["sequential"] - 0.05) < 3 * se, rate
    assert rate["always_valid"] <= 0.05 + 2 * se, rate
