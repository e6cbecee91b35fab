"""Behaviour of the heterogeneity tool on small seeded data: determinism, the bundled example against its known
effects, labels, dropped rows, warnings, the observational path, progress, targeting and the summary's numbers."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tools.heterogeneity import HeterogeneityRequest, HeterogeneityResult, heterogeneity
from tools.heterogeneity.models import GATES_GROUPS, TARGET_SHARES

ROOT = Path(__file__).resolve().parents[2]


def frame(n: int = 600, seed: int = 0, slope: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    d = (rng.random(n) < 0.5).astype(int)
    plan = rng.choice(np.array(["free", "pro"]), size=n)
    y = x[:, 1] + d * (1 + slope * x[:, 0]) + rng.normal(size=n)
    return pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "plan": plan, "d": d, "y": y})


def request(**fields: Any) -> HeterogeneityRequest:
    base: dict[str, Any] = {
        "dataset": "ab",
        "outcome": "y",
        "treatment": "d",
        "effect_modifiers": ["x0", "x1", "plan"],
        "repetitions": 3,
    }
    return HeterogeneityRequest.model_validate({**base, **fields})


def test_deterministic_and_round_trips() -> None:
    data = frame()
    first = heterogeneity(request(seed=3), data)
    again = heterogeneity(request(seed=3), data)
    assert first.model_dump_json() == again.model_dump_json()
    assert HeterogeneityResult.model_validate(first.model_dump(mode="json")) == first
    other = heterogeneity(request(seed=4), data)
    assert other.blp.heterogeneity.estimate != first.blp.heterogeneity.estimate


def test_shape_of_the_result() -> None:
    result = heterogeneity(request(subgroups=["plan"]), frame())
    assert [g.group for g in result.gates] == list(range(1, GATES_GROUPS + 1))
    assert [row.share for row in result.targeting] == list(TARGET_SHARES)
    assert [c.modifier for c in result.clan] == ["x0", "x1", "plan=free", "plan=pro"]
    assert [(s.column, s.level) for s in result.subgroups] == [("plan", "free"), ("plan", "pro")]
    assert [t.column for t in result.interactions] == ["plan"]
    assert result.qini_curve[0].share == 0 and result.qini_curve[-1].share == 1
    assert result.ate == result.effect
    assert (
        "ate" not in result.model_dump(mode="json")
        or result.model_dump(mode="json")["ate"] == (result.model_dump(mode="json")["effect"])
    )
    assert result.n_obs == 600 and result.n_treated + result.n_control == 600
    assert result.propensity == pytest.approx(result.n_treated / 600)
    assert {c.name for c in result.checks} >= {"assignment", "outcome_models", "group_size", "split_stability"}


def test_request_docstring_is_short() -> None:
    assert len((HeterogeneityRequest.__doc__ or "").strip().splitlines()) <= 4
    schema = HeterogeneityRequest.model_json_schema()
    assert all("description" in field for field in schema["properties"].values())


def test_bundled_example_recovers_its_known_effects() -> None:
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from generate_uplift import onboarding_uplift
    finally:
        sys.path.remove(str(ROOT / "examples"))
    data, effect = onboarding_uplift()
    bundled = pd.read_csv(ROOT / "examples" / "data" / "onboarding_uplift.csv")
    pd.testing.assert_frame_equal(bundled, data, check_dtype=False)
    result = heterogeneity(
        HeterogeneityRequest(
            dataset="onboarding_uplift",
            outcome="minutes_active_28d",
            treatment="tour",
            effect_modifiers=["tenure_months", "plan", "weekly_sessions_pre", "region"],
            subgroups=["plan"],
            propensity=0.5,
        ),
        data,
    )
    assert result.effect.ci_lower <= effect.mean() <= result.effect.ci_upper
    assert result.heterogeneity_found
    assert result.gates[-1].estimate > result.gates[0].estimate
    tenure = next(c for c in result.clan if c.modifier == "tenure_months")
    assert tenure.difference.ci_upper < 0  # the most affected are the newer users
    free = next(c for c in result.clan if c.modifier == "plan=free")
    assert free.difference.ci_lower > 0  # and more often on the free plan
    plans = {s.level: s for s in result.subgroups}
    truth = {plan: effect[data["plan"] == plan].mean() for plan in plans}
    for plan, level in plans.items():
        assert level.ci_lower <= truth[plan] <= level.ci_upper, plan
    assert result.checks[0].name == "assignment" and result.checks[0].status == "pass"


def test_labels_by_value() -> None:
    data = frame()
    text = data.assign(d=np.where(data["d"] == 1, "variant", "control"))
    labelled = heterogeneity(request(treated_value="variant"), text)
    numeric = heterogeneity(request(), data)
    assert labelled.treated_value == "variant"
    assert labelled.effect == numeric.effect
    floats = data.assign(d=data["d"].astype(float))
    assert heterogeneity(request(treated_value=1), floats).effect == numeric.effect
    control = heterogeneity(request(treated_value="control"), text)
    assert control.effect.estimate == pytest.approx(-numeric.effect.estimate, rel=0.2)


def test_missing_rows_are_dropped_and_counted() -> None:
    data = frame(n=700)
    data.loc[:49, "x0"] = np.nan
    data.loc[40:59, "y"] = np.nan
    result = heterogeneity(request(), data)
    assert result.n_dropped == 60 and result.n_obs == 640
    assert any("60 of 700" in w for w in result.warnings)


def test_post_treatment_names_warn() -> None:
    data = frame().rename(columns={"x1": "sessions_after"})
    result = heterogeneity(request(effect_modifiers=["x0", "sessions_after"]), data)
    assert "'sessions_after'" in result.warnings[0]
    check = next(c for c in result.checks if c.name == "pre_treatment_modifiers")
    assert check.status == "warn"


def test_sample_ratio_mismatch_fails_the_assignment_check() -> None:
    result = heterogeneity(request(propensity=0.7), frame())
    check = next(c for c in result.checks if c.name == "assignment")
    assert check.status == "fail"
    assert result.warnings[0].startswith("SAMPLE RATIO MISMATCH")
    assert result.propensity == 0.7


def test_observational_path() -> None:
    rng = np.random.default_rng(2)
    n = 800
    x = rng.normal(size=(n, 2))
    d = (rng.random(n) < 1 / (1 + np.exp(-x[:, 0]))).astype(int)
    data = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "d": d, "y": 2 * x[:, 0] + d + rng.normal(size=n)})
    result = heterogeneity(request(effect_modifiers=["x1"], covariates=["x0"], randomized=False), data)
    assert result.overlap is not None and result.propensity is None
    assert result.nuisance.propensity_auc is not None and result.nuisance.propensity_auc > 0.6
    names = {c.name for c in result.checks}
    assert {"overlap", "no_unmeasured_confounding"} <= names and "assignment" not in names
    assert result.covariates == ["x0"]
    assert result.naive.estimate > result.effect.estimate + 1  # confounded by x0; the DR estimate is near 1
    assert result.effect.ci_lower < 1 < result.effect.ci_upper


def test_progress_is_reported_per_fit() -> None:
    calls: list[tuple[int, int, str]] = []
    heterogeneity(request(folds=3, repetitions=2), frame(), progress=lambda d, t, label: calls.append((d, t, label)))
    assert [c[0] for c in calls] == [1, 2, 3, 4, 5] and {c[1] for c in calls} == {5}


def test_targeting_is_recommended_only_when_some_units_are_harmed() -> None:
    rng = np.random.default_rng(12)
    n = 3000
    x = rng.normal(size=(n, 2))
    d = (rng.random(n) < 0.5).astype(int)
    tau = np.where(x[:, 0] > 0, 2.0, -1.0)
    data = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "d": d, "y": x[:, 1] + tau * d + rng.normal(size=n)})
    result = heterogeneity(request(effect_modifiers=["x0", "x1"], repetitions=5), data)
    assert result.heterogeneity_found
    assert result.recommended_share is not None and 0.2 <= result.recommended_share <= 0.6
    chosen = next(r for r in result.targeting if r.share == result.recommended_share)
    assert chosen.gain_vs_all.ci_lower > 0
    assert result.qini.ci_lower > 0
    assert "instead of everyone" in result.summary
    flat = heterogeneity(request(effect_modifiers=["x1"], repetitions=5), frame(slope=0.0))
    assert flat.recommended_share is None


def _numbers(value: Any) -> list[float]:
    if isinstance(value, dict):
        return [v for item in value.values() for v in _numbers(item)]
    if isinstance(value, list):
        return [v for item in value for v in _numbers(item)]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [float(value)]
    return []


@pytest.mark.parametrize("slope", [0.0, 1.0])
def test_summary_quotes_only_the_results_numbers(slope: float) -> None:
    result = heterogeneity(request(), frame(slope=slope))
    fields = _numbers(result.model_dump(mode="json", exclude={"summary", "method", "estimand", "checks"}))
    fields += [1 - result.alpha]
    for text in re.findall(r"[-+]?\d*\.?\d+(?:e[-+]?\d+)?%?", result.summary):
        number = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
        assert any(abs(number - f) <= 5e-4 * max(1.0, abs(f)) for f in fields), (text, result.summary)
