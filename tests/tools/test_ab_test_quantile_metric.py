"""Quantile metrics through ab_test (kind "quantile"): p95 latency as a guardrail, the decision it drives, clustered
rows, the guided mode's "p95" and the refusals. The module's own numbers (Woodruff standard errors against the
asymptotic closed form, clustered coverage) are pinned in test_ab_test_quantiles.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tools.aa_test.models import AaTestRequest
from tools.aa_test.tool import aa_test
from tools.ab_test.models import AbTestRequest, AbTestResult, MetricSpec
from tools.ab_test.quantiles import quantile_difference
from tools.ab_test.spec import guardrail_metric, guided_request
from tools.ab_test.tool import ab_test
from tools.data import Catalog
from tools.errors import ToolError
from tools.registry import dispatch

LATENCY_P95 = {"name": "latency", "kind": "quantile", "quantile": 0.95, "role": "guardrail", "direction": "decrease"}


def experiment(n: int = 3000, slowdown: float = 1.15, seed: int = 1) -> pd.DataFrame:
    """A conversion lift of 10% -> 13% and page latency (lognormal, median ~150 ms) slower by ``slowdown``."""
    rng = np.random.default_rng(seed)
    arm = np.repeat(["control", "treatment"], n)
    treated = arm == "treatment"
    return pd.DataFrame(
        {
            "arm": arm,
            "converted": rng.binomial(1, np.where(treated, 0.13, 0.10)),
            "latency": rng.lognormal(5, 0.5, 2 * n) * np.where(treated, slowdown, 1.0),
        }
    )


def run(frame: pd.DataFrame, metrics: list[dict[str, Any]], **fields: Any) -> AbTestResult:
    return ab_test(AbTestRequest(dataset="exp", arm_column="arm", metrics=metrics, **fields), frame)


def test_p95_latency_guardrail_breach_means_dont_ship() -> None:
    """The primary metric wins, p95 latency rises 15% with direction "decrease": the guardrail is breached and the
    decision is "don't ship". The arms' p95 are numpy's inverted-CDF quantiles (R type 1); the interval is the
    quantile module's on the same rows; the one-sided harm test rejects exactly when the relative interval's lower
    end is above 0 (two-sided 95% interval, so harm p < 0.025 there)."""
    frame = experiment()
    result = run(frame, [{"name": "converted", "kind": "binary"}, LATENCY_P95])
    latency = result.comparisons[1]
    control, treatment = (frame.loc[frame.arm == a, "latency"].to_numpy() for a in ("control", "treatment"))
    np.testing.assert_allclose(latency.control_mean, np.quantile(control, 0.95, method="inverted_cdf"), rtol=0)
    np.testing.assert_allclose(latency.treatment_mean, np.quantile(treatment, 0.95, method="inverted_cdf"), rtol=0)
    direct = quantile_difference(control, treatment, 0.95)
    assert latency.absolute == direct.absolute and latency.relative == direct.relative
    assert latency.kind == "quantile" and latency.quantile == 0.95
    assert latency.n_control == latency.n_treatment == 3000
    assert latency.relative is not None and latency.relative.ci_lower > 0
    assert latency.verdict == "breached"
    assert result.comparisons[0].verdict == "improvement"
    assert result.decision == "don't ship"
    assert any("p95 of 'latency' is breached" in reason for reason in result.decision_reasons)
    assert "Guardrail p95 of 'latency' in treatment is breached" in result.summary
    assert "quantile metrics (p95)" in result.method and "Woodruff" in result.method


def test_p95_guardrail_within_its_margin_is_non_inferior() -> None:
    """Same latency in both arms and a 10% margin: the non-inferiority p-value is the one-sided z-test of the
    relative difference at the margin, ndtr(-(margin - lift) / se) for a metric whose good direction is down
    (scipy's normal CDF as the reference), and the guardrail does not block shipping."""
    frame = experiment(slowdown=1.0, seed=4)
    margin = {**LATENCY_P95, "non_inferiority_margin": 0.10}
    result = run(frame, [{"name": "converted", "kind": "binary"}, margin])
    latency = result.comparisons[1]
    assert latency.relative is not None
    expected = stats.norm.cdf(-(0.10 - latency.relative.estimate) / latency.relative.std_error)
    assert latency.non_inferiority_p_value is not None
    np.testing.assert_allclose(latency.non_inferiority_p_value, expected, rtol=1e-12)
    assert latency.verdict == "non_inferior"
    assert result.decision == "ship"


def users_experiment(users: int = 400, seed: int = 5) -> pd.DataFrame:
    """Requests of users (1-9 each): log-latency = user effect + request noise; treatment 10% slower."""
    rng = np.random.default_rng(seed)
    frames = []
    for arm, shift, offset in (("control", 0.0, 0), ("treatment", np.log(1.1), 10_000)):
        rows = rng.integers(1, 10, users)
        user = np.repeat(np.arange(users), rows)
        log_latency = rng.normal(0, 0.7, users)[user] + rng.normal(0, 0.7, rows.sum()) + shift
        frames.append(pd.DataFrame({"arm": arm, "user": user + offset, "latency": np.exp(log_latency)}))
    return pd.concat(frames, ignore_index=True)


def test_clustered_quantile_through_dispatch(tmp_path: Path) -> None:
    """Rows finer than the randomized unit: through the registry's dispatcher (a CSV attached to a catalog), the
    comparison is the quantile module's with the users as clusters, counts users, and reports the design effect."""
    frame = users_experiment()
    path = tmp_path / "exp.csv"
    frame.to_csv(path, index=False)
    catalog = Catalog()
    catalog.add(path, name="exp")
    request = {
        "dataset": "exp",
        "arm_column": "arm",
        "cluster_column": "user",
        "metrics": [{"name": "latency", "kind": "quantile", "quantile": 0.9, "direction": "decrease"}],
    }
    result = dispatch("ab_test", request, catalog)
    assert isinstance(result, AbTestResult), result
    sides = [frame[frame.arm == a] for a in ("control", "treatment")]
    direct = quantile_difference(
        sides[0].latency,
        sides[1].latency,
        0.9,
        control_clusters=sides[0].user,
        treatment_clusters=sides[1].user,
    )
    found = result.comparisons[0]
    np.testing.assert_allclose(found.absolute.estimate, direct.absolute.estimate, rtol=1e-12)
    np.testing.assert_allclose(found.absolute.std_error, direct.absolute.std_error, rtol=1e-12)
    assert found.n_control == 400 and found.n_treatment == 400
    check = next(c for c in result.checks if c.name.startswith("quantile_clustering"))
    assert f"{direct.control.design_effect:.2f}" in check.detail
    assert direct.control.design_effect > 1.5  # rows of a user are alike: the clustering matters
    assert "p90 of 'latency' in treatment vs control" in result.summary


def test_p90_coverage_through_ab_test() -> None:
    """Seeded coverage: 1,000 experiments of 1,000 lognormal rows per arm, treatment 10% slower, so the true p90
    difference is 0.1 exp(z_0.9) (closed form). The analytic 95% interval covers it in 95% of runs, within
    binomial noise (sd 0.7% at 1,000 runs): asserted between 93% and 97%."""
    rng = np.random.default_rng(20261203)
    truth = 0.1 * np.exp(stats.norm.ppf(0.9))
    metric = [{"name": "latency", "kind": "quantile", "quantile": 0.9}]
    covered = 0
    runs = 1000
    for _ in range(runs):
        y = rng.lognormal(0, 1, 2000)
        y[1000:] *= 1.1
        frame = pd.DataFrame({"arm": np.repeat(["control", "treatment"], 1000), "latency": y})
        absolute = run(frame, metric).comparisons[0].absolute
        covered += absolute.ci_lower <= truth <= absolute.ci_upper
    assert 0.93 <= covered / runs <= 0.97, covered / runs


def test_guided_p95_guardrail_builds_a_quantile_request() -> None:
    """The guided mode's guardrail item with kind "p95" becomes kind quantile at 0.95; the name says latency, so
    its good direction is down; the request validates."""
    item = guardrail_metric({"column": "page_load_ms", "kind": "p95"})
    assert item == {
        "name": "page_load_ms",
        "kind": "quantile",
        "quantile": 0.95,
        "role": "guardrail",
        "direction": "decrease",
    }
    roles = {
        "arm": "arm",
        "metric": "converted",
        "kind": "binary",
        "guardrails": [{"column": "latency", "kind": "P99.9"}],
    }
    request = AbTestRequest.model_validate(guided_request("exp", roles))
    assert request.metrics[1].kind == "quantile" and request.metrics[1].quantile == 0.999


# --- refusals -------------------------------------------------------------------------------------------------


def refused(frame: pd.DataFrame | None, metrics: list[dict[str, Any]], **fields: Any) -> ToolError:
    with pytest.raises(ToolError) as caught:
        ab_test(AbTestRequest(metrics=metrics, **({"dataset": "exp", "arm_column": "arm"} | fields)), frame)
    return caught.value


def test_refusals() -> None:
    frame = experiment(n=500)
    summaries = [{"arm": a, "metric": "latency", "n": 100, "mean": 1.0, "std_dev": 1.0} for a in ("A", "B")]
    error = refused(None, [LATENCY_P95], dataset=None, arm_column=None, summaries=summaries)
    assert error.code == "quantile_needs_rows" and "row-level" in error.message
    assert refused(frame, [LATENCY_P95], strata_column="converted").code == "unsupported_combination"
    assert refused(frame, [LATENCY_P95], exposure_column="converted").code == "unsupported_combination"
    small = experiment(n=150)
    error = refused(small, [{**LATENCY_P95, "role": "primary"}])
    assert error.code == "too_few_rows_for_quantile"
    assert "'latency'" in error.message and "'treatment' vs control 'control'" in error.message
    assert "200" in error.message


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"kind": "quantile"}, "needs `quantile`"),
        ({"kind": "continuous", "quantile": 0.5}, "only for kind='quantile'"),
        ({"kind": "quantile", "quantile": 0.5, "covariate_column": "x"}, "do not apply"),
        ({"kind": "quantile", "quantile": 0.5, "denominator_column": "x"}, "no denominator_column"),
        ({"kind": "quantile", "quantile": 1.0}, "less than 1"),
    ],
)
def test_invalid_quantile_specs_are_refused_by_the_dispatcher(fields: dict[str, Any], words: str) -> None:
    error = dispatch("ab_test", {"summaries": [], "metrics": [{"name": "m", **fields}]})
    assert isinstance(error, ToolError) and words in error.message, error


@pytest.mark.parametrize(
    "metric",
    [
        {"name": "latency", "kind": "quantile", "quantile": 0.95},
        {"name": "latency", "covariates": ["converted"]},
        {"name": "latency", "kind": "ratio", "denominator_column": "converted", "covariate_column": "latency",
         "covariate_denominator_column": "converted"},
    ],
)  # fmt: skip
def test_aa_test_refuses_the_fields_it_does_not_simulate(metric: dict[str, Any]) -> None:
    """aa_test shares MetricSpec with ab_test but simulates only its plain and CUPED analyses."""
    request = AaTestRequest(dataset="exp", metrics=[MetricSpec.model_validate(metric)], simulations=100)
    with pytest.raises(ToolError) as caught:
        aa_test(request, experiment(n=200))
    assert caught.value.code == "unsupported_metric" and "aa_test does not" in caught.value.message


def test_engine_tables_are_refused_with_rows_needed(tmp_path: Path) -> None:
    """A table queried in its database engine has no rows in memory: quantiles and bootstraps say so."""
    duckdb = pytest.importorskip("duckdb")
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.register("incoming", experiment(n=300))
    con.execute("CREATE TABLE events AS SELECT * FROM incoming")
    con.close()
    catalog = Catalog()
    catalog.add(f"duckdb:{path}#events", "exp")
    for request in (
        {"metrics": [LATENCY_P95]},
        {"metrics": [{"name": "latency"}], "interval": "bootstrap"},
    ):
        outcome = dispatch("ab_test", {"dataset": "exp", "arm_column": "arm", **request}, catalog)
        assert isinstance(outcome, ToolError) and outcome.code == "rows_needed", outcome
