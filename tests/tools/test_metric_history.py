"""metric_history: power's figures measured on past rows — the same in memory and inside DuckDB (1e-9), the ICC
against an independent one-way ANOVA computation and against a simulation with a known ICC, CUPED's variance
reduction against numpy, and a result that is a power request power accepts."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from tools.data import Catalog
from tools.errors import ToolError
from tools.registry import dispatch


def sessions(users: int = 2000, seed: int = 8, sd_user: float = 2.0, sd_row: float = 3.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    count = rng.integers(1, 9, users)
    user = np.repeat(np.arange(users), count)
    level = rng.normal(0, sd_user, users)
    pre = level + rng.normal(0, 1.5, users)
    minutes = 20 + level[user] + rng.normal(0, sd_row, len(user))
    return pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in user],
            "minutes": minutes,
            "pre_minutes": pre[user],
            "converted": (rng.random(len(user)) < 0.15).astype(int),
        }
    )


def anova_icc(frame: pd.DataFrame, unit: str, metric: str) -> float:
    """The one-way ANOVA ICC for unequal group sizes, written out here from the textbook formula (Donner 1986)."""
    groups = frame.groupby(unit)[metric]
    n_i, means = groups.size().to_numpy(float), groups.mean().to_numpy()
    k, n = len(n_i), n_i.sum()
    grand = frame[metric].mean()
    msb = (n_i * (means - grand) ** 2).sum() / (k - 1)
    msw = groups.apply(lambda g: ((g - g.mean()) ** 2).sum()).sum() / (n - k)
    n0 = (n - (n_i**2).sum() / n) / (k - 1)
    return float(max((msb - msw) / (msb + (n0 - 1) * msw), 0.0))


def catalogs(frame: pd.DataFrame, tmp_path: Path) -> tuple[Catalog, Catalog]:
    csv = tmp_path / "history.csv"
    frame.to_csv(csv, index=False)
    database = tmp_path / "history.duckdb"
    con = duckdb.connect(str(database))
    con.register("incoming", frame)
    con.execute("CREATE TABLE history AS SELECT * FROM incoming")
    con.close()
    memory, engine = Catalog(), Catalog()
    memory.add(csv, "h")
    engine.add(f"duckdb:{database}#history", "h")
    return memory, engine


def run(catalog: Catalog, **request: Any) -> Any:
    result = dispatch("metric_history", {"dataset": "h", **request}, catalog)
    assert not isinstance(result, ToolError), result
    return result


def test_in_memory_and_in_the_engine_agree_and_match_independent_figures(tmp_path: Path) -> None:
    frame = sessions()
    memory, engine = catalogs(frame, tmp_path)
    request = {"metric": "minutes", "unit_column": "user_id", "covariate_column": "pre_minutes"}
    a, b = run(memory, **request), run(engine, **request)
    assert not a.engine and b.engine
    for field in ("baseline", "std_dev", "icc", "rows_per_unit", "design_effect", "variance_reduction"):
        assert math.isclose(getattr(a, field), getattr(b, field), rel_tol=1e-9), field
    assert a.n_rows == b.n_rows == len(frame) and a.n_units == b.n_units == frame["user_id"].nunique()
    assert math.isclose(a.baseline, frame["minutes"].mean(), rel_tol=1e-12)
    assert math.isclose(a.std_dev, frame["minutes"].std(ddof=1), rel_tol=1e-12)
    assert math.isclose(a.icc, anova_icc(frame, "user_id", "minutes"), rel_tol=1e-9)
    rho = np.corrcoef(frame["pre_minutes"], frame["minutes"])[0, 1]
    assert math.isclose(a.variance_reduction, rho**2, rel_tol=1e-9)
    assert a.design_effect == pytest.approx(1 + (a.rows_per_unit - 1) * a.icc)


def test_the_icc_recovers_a_known_one() -> None:
    from tools.history.models import MetricHistoryRequest
    from tools.history.tool import metric_history

    frame = sessions(users=6000, seed=9, sd_user=2.0, sd_row=3.0)  # true ICC 4 / (4 + 9) = 0.3077
    found = metric_history(MetricHistoryRequest(dataset="h", metric="minutes", unit_column="user_id"), frame)
    assert abs(found.icc - 4 / 13) < 0.02
    assert found.warnings and "cluster_column" in found.warnings[0]


def test_the_result_is_a_power_request(tmp_path: Path) -> None:
    frame = sessions()
    memory, _ = catalogs(frame, tmp_path)
    binary = run(memory, metric="converted", kind="binary")
    assert binary.power_request == {"metric": "proportion", "baseline": binary.baseline}
    sized = dispatch("power", {**binary.power_request, "mde": 0.1, "mde_kind": "relative"}, None)
    assert not isinstance(sized, ToolError) and sized.baseline == binary.baseline
    clustered = run(memory, metric="minutes", unit_column="user_id")
    request = clustered.power_request
    assert request["cluster_size"] == clustered.rows_per_unit and request["icc"] == clustered.icc
    assert not isinstance(dispatch("power", {**request, "mde": 0.05, "mde_kind": "relative"}, None), ToolError)


def test_bad_input(tmp_path: Path) -> None:
    frame = sessions(300).assign(plan=lambda f: np.where(f["converted"] == 1, "pro", "free"))
    memory, engine = catalogs(frame, tmp_path)
    for catalog in (memory, engine):
        for request, code in (
            ({"metric": "minutez"}, "unknown_column"),
            ({"metric": "minutes", "kind": "binary"}, "not_binary"),
            ({"metric": "plan"}, "non_numeric_column"),
            ({"metric": "minutes", "unit_column": "account"}, "unknown_column"),
        ):
            outcome = dispatch("metric_history", {"dataset": "h", **request}, catalog)
            assert isinstance(outcome, ToolError) and outcome.code == code, (request, outcome)
    missing = dispatch("metric_history", {"dataset": "h", "metric": "minutes"}, None)
    assert isinstance(missing, ToolError) and missing.code == "no_data"
    constant = dispatch("metric_history", {"dataset": "h", "metric": "converted", "kind": "binary"},
                        _one(frame.assign(converted=0), tmp_path))  # fmt: skip
    assert isinstance(constant, ToolError) and constant.code == "constant_metric"


def _one(frame: pd.DataFrame, tmp_path: Path) -> Catalog:
    path = tmp_path / "constant.csv"
    frame.to_csv(path, index=False)
    catalog = Catalog()
    catalog.add(path, "h")
    return catalog
