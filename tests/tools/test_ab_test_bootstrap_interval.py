"""Bootstrap intervals through ab_test (interval="bootstrap"): every metric kind's comparison equals
``bootstrap_interval`` on the same rows with seed ``seed + k``, runs are reproducible, a p95 guardrail still blocks
shipping, and what the bootstrap cannot do is refused. The module's own numbers (against R ``boot``, coverage) are
pinned in test_ab_test_bootstrap.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tools.ab_test.bootstrap import bootstrap_interval
from tools.ab_test.models import AbTestRequest, AbTestResult
from tools.ab_test.tool import ab_test
from tools.data import Catalog
from tools.errors import ToolError
from tools.registry import dispatch


def experiment(n: int = 1500, seed: int = 2) -> pd.DataFrame:
    """Orders per user (ratio revenue / orders), a conversion flag, revenue per user and page latency."""
    rng = np.random.default_rng(seed)
    arm = np.repeat(["control", "treatment"], n)
    treated = arm == "treatment"
    orders = rng.poisson(2.0, 2 * n) + 1
    return pd.DataFrame(
        {
            "arm": arm,
            "user": np.arange(2 * n) // 3,  # three rows per user, users within one arm (n divisible by 3)
            "converted": rng.binomial(1, np.where(treated, 0.12, 0.10)),
            "revenue": rng.gamma(2.0, 10.0, 2 * n) * np.where(treated, 1.05, 1.0),
            "orders": orders,
            "latency": rng.lognormal(5, 0.5, 2 * n) * np.where(treated, 1.15, 1.0),
        }
    )


def run(frame: pd.DataFrame, metrics: list[dict[str, Any]], **fields: Any) -> AbTestResult:
    request = AbTestRequest(dataset="exp", arm_column="arm", metrics=metrics, interval="bootstrap", **fields)
    return ab_test(request, frame)


def arms(frame: pd.DataFrame, column: str) -> list[np.ndarray]:
    return [frame.loc[frame.arm == a, column].to_numpy(dtype=float) for a in ("control", "treatment")]


def test_each_comparison_is_the_modules_bootstrap_with_seed_plus_k() -> None:
    """Three metrics of three kinds: comparison k is ``bootstrap_interval`` on the same rows with seed 7 + k, as
    the method text states; the binary metric is the mean of its 0/1 rows."""
    frame = experiment()
    metrics = [
        {"name": "revenue"},
        {"name": "converted", "kind": "binary"},
        {"name": "rpo", "column": "revenue", "kind": "ratio", "denominator_column": "orders"},
    ]
    result = run(frame, metrics, seed=7, bootstrap_replicates=500)
    for k, (comparison, statistic) in enumerate(zip(result.comparisons, ("mean", "mean", "ratio"), strict=True)):
        column = "revenue" if k != 1 else "converted"
        denominators = arms(frame, "orders") if statistic == "ratio" else [None, None]
        direct = bootstrap_interval(
            *arms(frame, column),
            statistic=statistic,
            control_denominator=denominators[0],
            treatment_denominator=denominators[1],
            replicates=500,
            seed=7 + k,
        )
        assert comparison.absolute == direct.absolute.to_estimate()
        assert direct.relative is not None and comparison.relative == direct.relative.to_estimate()
        assert comparison.control_mean == direct.control_value and comparison.test == direct.method
    assert "seed 7 + k for the k-th comparison" in result.method and "BCa" in result.method
    assert "(bootstrap BCa, 500 resamples, seed 7)" in result.summary
    assert any("BCa end points" in w for w in result.warnings)


def test_bootstrap_standard_error_is_close_to_the_analytic_one() -> None:
    """The bootstrap standard error of a difference of means estimates sqrt(s_c^2 / n_c + s_t^2 / n_t) (closed form,
    numpy's sample variances): within 8% at 2,000 replicates (the replicates' sd is uncertain by about 1.6%)."""
    frame = experiment()
    comparison = run(frame, [{"name": "revenue"}]).comparisons[0]
    closed = np.sqrt(sum(np.var(v, ddof=1) / len(v) for v in arms(frame, "revenue")))
    np.testing.assert_allclose(comparison.absolute.std_error, closed, rtol=0.08)


def test_seeded_runs_are_identical_and_the_seed_matters() -> None:
    frame = experiment()
    metrics = [{"name": "latency", "kind": "quantile", "quantile": 0.9}]
    first, second = run(frame, metrics, seed=3), run(frame, metrics, seed=3)
    assert first.model_dump_json() == second.model_dump_json()
    other = run(frame, metrics, seed=4)
    assert other.comparisons[0].absolute.ci_lower != first.comparisons[0].absolute.ci_lower
    assert other.comparisons[0].absolute.estimate == first.comparisons[0].absolute.estimate


def test_clustered_bootstrap_resamples_users_through_dispatch(tmp_path: Path) -> None:
    """With cluster_column the whole user is resampled; through the dispatcher (CSV in a catalog) the result is
    the module's with the users as clusters, with the percentile method asked for."""
    frame = experiment()
    path = tmp_path / "exp.csv"
    frame.to_csv(path, index=False)
    catalog = Catalog()
    catalog.add(path, name="exp")
    request = {
        "dataset": "exp",
        "arm_column": "arm",
        "cluster_column": "user",
        "interval": "bootstrap",
        "bootstrap_method": "percentile",
        "metrics": [{"name": "revenue"}],
    }
    result = dispatch("ab_test", request, catalog)
    assert isinstance(result, AbTestResult), result
    users = arms(frame, "user")
    direct = bootstrap_interval(
        *arms(frame, "revenue"), control_clusters=users[0], treatment_clusters=users[1], method="percentile"
    )
    assert result.comparisons[0].absolute == direct.absolute.to_estimate()
    assert result.comparisons[0].n_control == 500 and "whole randomized units" in result.method


def test_p95_guardrail_with_bootstrap_blocks_shipping() -> None:
    """A 15% slower p95 with direction "decrease": the bootstrap interval of the difference lies above 0 and the
    guardrail is breached (its harm p-value inverts the same bootstrap interval, one-sided); don't ship."""
    frame = experiment()
    metrics = [
        {"name": "revenue"},
        {"name": "latency", "kind": "quantile", "quantile": 0.95, "role": "guardrail", "direction": "decrease"},
    ]
    result = run(frame, metrics)
    latency = result.comparisons[1]
    assert latency.absolute.ci_lower > 0 and latency.verdict == "breached"
    assert result.decision == "don't ship"
    assert "Guardrail p95 of 'latency' in treatment is breached" in result.summary


def test_bootstrap_guardrail_without_harm_is_not_breached() -> None:
    """No latency change: the bootstrap harm test does not reject; with a 20% margin the guardrail is shown
    non-inferior (z-test at the margin with the bootstrap standard error of the relative difference)."""
    frame = experiment().assign(latency=lambda f: np.random.default_rng(9).lognormal(5, 0.5, len(f)))
    metrics = [
        {"name": "revenue"},
        {"name": "latency", "kind": "quantile", "quantile": 0.95, "role": "guardrail", "direction": "decrease"},
        {"name": "slow", "column": "latency", "role": "guardrail", "direction": "decrease",
         "non_inferiority_margin": 0.2},
    ]  # fmt: skip
    result = run(frame, metrics)
    assert result.comparisons[1].verdict == "no_detectable_change"
    assert result.comparisons[2].verdict == "non_inferior"


# --- refusals -------------------------------------------------------------------------------------------------


def refused(frame: pd.DataFrame | None, metrics: list[dict[str, Any]], **fields: Any) -> ToolError:
    base = {"dataset": "exp", "arm_column": "arm", "interval": "bootstrap"}
    with pytest.raises(ToolError) as caught:
        ab_test(AbTestRequest(metrics=metrics, **(base | fields)), frame)
    return caught.value


def test_refusals() -> None:
    frame = experiment(n=300)
    summaries = [{"arm": a, "metric": "m", "n": 100, "mean": 1.0, "std_dev": 1.0} for a in ("A", "B")]
    assert refused(None, [{"name": "m"}], dataset=None, arm_column=None, summaries=summaries).code == (
        "bootstrap_needs_rows"
    )
    sequential = {"looks": 3, "look": 1}
    assert refused(frame, [{"name": "revenue"}], sequential=sequential).code == "bootstrap_not_sequential"
    assert refused(frame, [{"name": "revenue"}], monitoring="always_valid").code == "bootstrap_not_sequential"
    cuped = refused(frame, [{"name": "revenue", "covariate_column": "orders"}])
    assert cuped.code == "unsupported_combination" and "CUPED" in cuped.message
    assert refused(frame, [{"name": "revenue", "covariates": ["orders"]}]).code == "unsupported_combination"
    assert refused(frame, [{"name": "revenue"}], strata_column="orders").code == "unsupported_combination"
    few = refused(frame.groupby("arm").head(6), [{"name": "revenue"}])
    assert few.code == "too_few_units" and "'revenue' ('treatment' vs control 'control')" in few.message
