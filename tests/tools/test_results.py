"""One vocabulary across the estimators, on real results of every estimator tool run on small data.

Every estimator's result carries its headline estimate as ``effect`` (an :class:`Estimate`); the names it had before
(``att``, ``headline``, ``robust``, ``original``, rdd's ``*_left``/``*_right``) stay readable as attributes and in the
JSON, and a dumped result validates back. Every ``status`` field speaks :data:`tools.literals.Status`; every model with
an interval is an :class:`Estimate`.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel, ValidationError
from scipy import special

from tools import literals
from tools.ab_test.models import AbTestRequest, AbTestResult
from tools.ab_test.tool import ab_test
from tools.did.models import DiffInDiffRequest, DiffInDiffResult, EventTimeEstimate, GroupTimeEstimate
from tools.did.tool import diff_in_diff
from tools.propensity.models import PropensityRequest, PropensityResult
from tools.propensity.tool import propensity
from tools.rdd.models import RddRequest, RddResult
from tools.rdd.tool import rdd
from tools.refute.models import RefuteRequest, RefuteResult
from tools.refute.tool import refute
from tools.registry import TOOLS
from tools.results import Estimate, ToolResult

MPDTA = Path(__file__).resolve().parents[1] / "fixtures" / "did" / "mpdta.csv"


# --- small data, as the behaviour tests generate it --------------------------------------------------------------


def experiment(n: int = 2_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.choice(["control", "b", "c"], size=n)
    pre = rng.gamma(2.0, 10.0, size=n)
    return pd.DataFrame(
        {
            "arm": arm,
            "converted": rng.binomial(1, np.where(arm == "control", 0.10, 0.13)),
            "revenue": 0.8 * pre + rng.normal(0, 10, size=n) + np.where(arm == "control", 0.0, 2.0),
            "pre_revenue": pre,
        }
    )


def staggered(units: int = 45, seed: int = 3) -> pd.DataFrame:
    """Three cohorts: never treated (0), adopting in period 4, adopting in period 6; effect 1."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(units), 8)
    period = np.tile(np.arange(1, 9), units)
    first = np.array([0, 4, 6])[unit % 3]
    post = (first > 0) & (period >= first)
    y = rng.normal(size=units)[unit] + 0.2 * period + 1.0 * post + rng.normal(scale=0.5, size=len(unit))
    return pd.DataFrame({"unit": unit, "period": period, "first": first, "y": y})


def observational(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    d = rng.random(n) < special.expit(0.5 * x1 - 0.5 * x2)
    y = x1 + x2 + 1.5 * d + rng.normal(size=n)
    return pd.DataFrame({"y": y, "d": d.astype(int), "x1": x1, "x2": x2})


def discontinuity(n: int = 1_200, seed: int = 5, fuzzy: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    above = x >= 0
    took = rng.random(n) < np.where(above, 0.8, 0.2) if fuzzy else above
    return pd.DataFrame(
        {
            "x": x,
            "y": 1 + x + 1.0 * took + rng.normal(0, 0.5, n),
            "took": took.astype(int),
            "age": 30 + 5 * x + rng.normal(0, 3, n),
        }
    )


AB = {"dataset": "exp", "arm_column": "arm", "metrics": [{"name": "converted", "kind": "binary"}]}
PS = {"dataset": "obs", "outcome": "y", "treatment": "d", "covariates": ["x1", "x2"]}
RD = {"dataset": "rd", "outcome": "y", "running": "x", "covariates": ["age"]}
DID = {"dataset": "p", "outcome": "y", "unit": "unit", "time": "period", "cohort": "first"}


def _ab(**fields: Any) -> AbTestResult:
    return ab_test(AbTestRequest.model_validate({**AB, **fields}), experiment())


def _did(frame: pd.DataFrame | None = None, **fields: Any) -> DiffInDiffResult:
    return diff_in_diff(DiffInDiffRequest.model_validate({**DID, **fields}), staggered() if frame is None else frame)


def _rdd(**fields: Any) -> RddResult:
    return rdd(RddRequest.model_validate({**RD, **fields}), discontinuity(fuzzy="fuzzy" in fields))


def _refute(tool: str, target: dict[str, Any], frame: pd.DataFrame, checks: list[str]) -> RefuteResult:
    request = RefuteRequest.model_validate(
        {"target": {"tool": tool, "request": target}, "checks": checks, "simulations": 10}
    )
    return refute(request, frame, workers=1)


#: (case, how to run it): every estimator tool, and each of its paths that builds `effect` differently.
RUNS: dict[str, Callable[[], ToolResult]] = {
    "ab_test": lambda: _ab(),
    "ab_test_secondary_first": lambda: _ab(
        metrics=[
            {"name": "revenue", "role": "secondary", "covariate_column": "pre_revenue"},
            {"name": "converted", "kind": "binary"},
        ]
    ),
    "ab_test_no_primary": lambda: _ab(metrics=[{"name": "converted", "kind": "binary", "role": "guardrail"}]),
    "ab_test_summaries": lambda: ab_test(
        AbTestRequest.model_validate(
            {
                "metrics": [{"name": "converted", "kind": "binary"}],
                "summaries": [
                    {"arm": "control", "metric": "converted", "n": 1000, "conversions": 100},
                    {"arm": "treatment", "metric": "converted", "n": 1000, "conversions": 120},
                ],
            }
        ),
        None,
    ),
    "diff_in_diff_callaway_santanna": lambda: _did(),
    "diff_in_diff_event_study": lambda: _did(estimator="event_study"),
    "diff_in_diff_twfe": lambda: _did(
        pd.read_csv(MPDTA).query("`first.treat` in (0, 2006)"),
        outcome="lemp",
        unit="countyreal",
        time="year",
        cohort="first.treat",
    ),
    "propensity": lambda: propensity(PropensityRequest.model_validate(PS), observational()),
    "propensity_ipw_first": lambda: propensity(
        PropensityRequest.model_validate({**PS, "methods": ["matching", "ipw"]}), observational()
    ),
    "rdd_sharp": lambda: _rdd(),
    "rdd_fuzzy_msetwo": lambda: _rdd(fuzzy="took", bandwidth_selector="msetwo", treatment_side="above"),
    "refute_ab_test": lambda: _refute("ab_test", AB, experiment(), ["sample_ratio", "placebo_treatment"]),
    "refute_propensity": lambda: _refute("propensity", PS, observational(), ["overlap", "e_value"]),
    "refute_diff_in_diff": lambda: _refute("diff_in_diff", DID, staggered(), ["pre_trends"]),
    "refute_rdd": lambda: _refute("rdd", RD, discontinuity(), ["density_test"]),
}


@pytest.fixture(scope="module", params=sorted(RUNS))
def result(request: pytest.FixtureRequest) -> Iterator[ToolResult]:
    yield RUNS[request.param]()


def _legacy(result: ToolResult) -> dict[str, Any]:
    """The old public name -> the value it must still show, per tool."""
    if isinstance(result, DiffInDiffResult):
        return {"att": result.effect}
    if isinstance(result, PropensityResult):
        return {"headline": result.effect}
    if isinstance(result, RddResult):
        return {
            "robust": result.effect,
            "n_effective_left": result.n_effective_below,
            "n_effective_right": result.n_effective_above,
            "n_left": result.n_below,
            "n_right": result.n_above,
        }
    if isinstance(result, RefuteResult):
        return {"original": result.effect, "headline": result.effect_label}
    return {}


def test_effect_is_the_one_headline_estimate(result: ToolResult) -> None:
    effect = getattr(result, "effect", None)
    assert isinstance(effect, Estimate)
    if isinstance(result, AbTestResult):
        primary = [c for c in result.comparisons if c.role == "primary"] or result.comparisons
        assert effect == primary[0].absolute
        assert primary[0].arm == result.arms[1]
    elif isinstance(result, PropensityResult):
        first = "aipw" if "aipw" in [e.method for e in result.estimates] else result.estimates[0].method
        assert result.effect.method == first and result.effect in result.estimates
    elif isinstance(result, RddResult):
        assert f"{result.effect.estimate:+.4g} (robust" in result.summary  # the number the summary leads with
    elif isinstance(result, DiffInDiffResult):
        assert result.estimator != "twfe" or result.effect == result.twfe


def test_old_names_stay_readable_as_attributes_and_in_the_json(result: ToolResult) -> None:
    dumped = result.model_dump(mode="json")
    for name, value in _legacy(result).items():
        assert name in type(result).legacy_fields
        assert getattr(result, name) == value
        assert dumped[name] == (value.model_dump(mode="json") if isinstance(value, BaseModel) else value)
    assert dumped["effect"] == result.effect.model_dump(mode="json")  # type: ignore[attr-defined]


def test_a_dumped_result_validates_back(result: ToolResult) -> None:
    model = type(result)
    assert model.model_validate(result.model_dump(mode="json")) == result
    assert model.model_validate_json(result.model_dump_json()) == result
    assert model.model_validate(result.model_dump()) == result
    copy = result.model_copy(update={"warnings": [*result.warnings, "note"]})  # type: ignore[attr-defined]
    assert model.model_validate(copy.model_dump(mode="json")) == copy


def test_a_refute_result_challenges_the_target_tools_own_effect() -> None:
    frame = observational()
    target = propensity(PropensityRequest.model_validate(PS), frame)
    challenged = _refute("propensity", PS, frame, ["overlap"])
    assert challenged.effect == Estimate(**target.effect.model_dump(include=set(Estimate.model_fields)))
    assert challenged.effect_label.startswith("AIPW")


def test_rdd_names_every_side_below_and_above() -> None:
    result = _rdd(bandwidth_selector="msetwo")
    sides = [name for name in _all_field_names(RddResult) if "left" in name or "right" in name]
    assert sides == [], sides
    b = result.bandwidth
    assert (b.h_left, b.h_right, b.b_left, b.b_right) == (b.h_below, b.h_above, b.b_below, b.b_above)
    assert b.h_below != b.h_above
    row = result.bandwidth_sensitivity[0]
    assert (row.h_left, row.h_right) == (row.h_below, row.h_above)
    dumped = result.model_dump(mode="json")
    assert dumped["bandwidth"]["h_left"] == b.h_below and dumped["bandwidth_sensitivity"][0]["h_right"] == row.h_above


# --- the vocabulary, over every result model -----------------------------------------------------------------------


def _models(root: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[type[BaseModel]]:
    """``root`` and every model reachable through its fields."""
    seen = set() if seen is None else seen
    if root in seen:
        return seen
    seen.add(root)
    for field in root.model_fields.values():
        for arg in _leaves(field.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                _models(arg, seen)
    return seen


def _leaves(annotation: Any) -> Iterator[Any]:
    yield annotation
    for arg in typing.get_args(annotation):
        yield from _leaves(arg)


def _all_field_names(root: type[BaseModel]) -> list[str]:
    return [name for model in _models(root) for name in model.model_fields]


RESULT_MODELS = sorted({m for spec in TOOLS for m in _models(spec.result)}, key=lambda m: m.__name__)


@pytest.mark.parametrize("model", RESULT_MODELS, ids=lambda m: m.__name__)
def test_every_status_speaks_one_vocabulary(model: type[BaseModel]) -> None:
    for name, field in model.model_fields.items():
        if name == "status":
            assert typing.get_args(field.annotation) == typing.get_args(literals.Status), f"{model.__name__}.status"


@pytest.mark.parametrize("model", RESULT_MODELS, ids=lambda m: m.__name__)
def test_every_interval_belongs_to_an_estimate(model: type[BaseModel]) -> None:
    fields = set(model.model_fields)
    if {"estimate", "std_error", "ci_lower", "ci_upper"} <= fields:
        assert issubclass(model, Estimate), model.__name__


@pytest.mark.parametrize("model", RESULT_MODELS, ids=lambda m: m.__name__)
def test_legacy_fields_are_exactly_the_computed_ones(model: type[BaseModel]) -> None:
    assert issubclass(model, ToolResult)
    assert sorted(model.legacy_fields) == sorted(model.model_computed_fields)
    for name in model.legacy_fields:
        assert name not in model.model_fields
        assert model.model_computed_fields[name].description


@pytest.mark.parametrize("spec", [s for s in TOOLS if "effect" in s.result.model_fields], ids=lambda s: s.name)
def test_effect_is_described_for_its_tool(spec: Any) -> None:
    description = spec.result.model_fields["effect"].description
    assert description.startswith("The headline estimate")


def test_every_estimator_has_an_effect() -> None:
    with_effect = {s.name for s in TOOLS if "effect" in s.result.model_fields}
    estimating = {s.name for s in TOOLS if s.estimates}
    assert {"ab_test", "diff_in_diff", "synthetic_control", "propensity", "rdd"} <= estimating <= with_effect
    assert with_effect - estimating == {"refute"}  # refute restates the estimate it challenges
    assert set(typing.get_args(literals.TargetTool)) <= with_effect


def test_event_study_rows_are_estimates_and_the_reference_has_no_interval() -> None:
    result = _did(estimator="event_study")
    reference = [e for e in result.event_study if e.reference]
    assert len(reference) == 1
    row = reference[0]
    assert (row.estimate, row.std_error, row.ci_lower, row.ci_upper, row.p_value) == (0.0, 0.0, 0.0, 0.0, 1.0)
    assert all(e.alpha == result.alpha for e in result.event_study)
    cs = _did()
    assert cs.group_time and all(isinstance(g, Estimate) and g.alpha == cs.alpha for g in cs.group_time)
    with pytest.raises(ValidationError, match="ci_lower must not exceed ci_upper"):
        EventTimeEstimate(
            estimate=0.0, std_error=0.1, ci_lower=1.0, ci_upper=-1.0, p_value=1.0, relative_period=0, n_obs=1,
            reference=False,
        )  # fmt: skip
    with pytest.raises(ValidationError, match="ci_lower must not exceed ci_upper"):
        GroupTimeEstimate(
            estimate=0.0, std_error=0.1, ci_lower=1.0, ci_upper=-1.0, p_value=1.0, cohort=4, period=5,
            relative_period=1, post=True,
        )  # fmt: skip
