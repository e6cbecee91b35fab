"""The ab_test data paths agree: streamed from a lazily attached Parquet file, in memory on the fast path, and
the general path (``inputs._prepare_general``, the reference implementation every other test pins against
scipy/statsmodels).

- streamed and in-memory fast paths: byte-identical results (the same blocks reduced by the same code);
- fast versus general path: the same decision, arms, counts and warnings exactly, every float within 1e-12
  relative (they differ only in summation order) and p-values on the log scale (a tail p-value of 1e-72 moves
  by z^2 times the relative change of its z statistic), on ordinary data and on edge cases (missing values, arms
  without labels, three arms, ratio metrics, data with mean 1e9 and sd 1, sorted data, constant arms);
- input problems give the same ToolError on every path (the fast paths hand them to the general path);
- the repeated-ID check streamed from the file answers as the in-memory check does;
- the result is the same with the lanes run on threads or one after the other, and on every run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tools.ab_test.inputs as inputs_module
import tools.ab_test.rows as rows_module
import tools.data.catalog as catalog_module
from tools.ab_test.engine import BLOCK_ROWS, Unsupported
from tools.ab_test.ids import REPEAT_CHECK_ROWS, repeated_id_columns
from tools.ab_test.inputs import prepare_rows
from tools.ab_test.models import AbTestRequest, AbTestResult
from tools.ab_test.tool import ab_test
from tools.data import Catalog, Dataset
from tools.errors import ToolError
from tools.registry import dispatch

#: Fast and general paths sum in different orders: floats agree to this relative tolerance.
REL = 1e-12
#: p-values are compared as log p. For a two-sided normal (or chi-square) tail, log p is about -z^2/2 and a
#: relative change r in z moves log p by about z^2 r = 2 |log p| r: so z within REL means log p within 2 REL
#: relative (plus REL absolute, where p is near 1 and log p near 0). Compared directly, a p-value of 1e-72
#: (z of about 18) from standard errors that differ by 2e-15 already differs by 7e-13 relative.
P_VALUE_LOG_REL = 2 * REL
#: Rows in the generated files: several blocks, two lanes, row groups that do not line up with the blocks.
N = 3 * BLOCK_ROWS + 12_345
ROW_GROUP = 50_000

BASE_REQUEST: dict[str, Any] = {
    "dataset": "exp",
    "arm_column": "arm",
    "metrics": [
        {"name": "conversion", "column": "converted", "kind": "binary"},
        {"name": "revenue", "kind": "continuous", "covariate_column": "pre_revenue", "role": "secondary"},
    ],
}


@pytest.fixture(autouse=True)
def lazy_from_small_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test files are small: attach them lazily from 10,000 rows on."""
    monkeypatch.setattr(catalog_module, "LAZY_MIN_ROWS", 10_000)


def experiment(n: int = N, seed: int = 7, arms: tuple[str, ...] = ("control", "treatment")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.choice(np.array(arms), n)
    treated = arm != arms[0]
    pre = np.round(rng.gamma(0.4, 30.0, n) * (rng.random(n) < 0.35), 2)
    converted = (rng.random(n) < np.where(treated, 0.11, 0.10)).astype(np.int64)
    revenue = np.round(rng.lognormal(3.0, 1.2, n) * converted + 0.5 * pre * (rng.random(n) < 0.5), 2)
    return pd.DataFrame(
        {
            "user_id": rng.permutation(n).astype(np.int64) + 1_000,
            "arm": arm,
            "converted": converted,
            "revenue": revenue,
            "pre_revenue": pre,
            "sessions": rng.integers(1, 6, n),
        }
    )


def attach(tmp_path: Path, frame: pd.DataFrame | pa.Table, name: str = "exp.parquet") -> tuple[Catalog, Path]:
    path = tmp_path / name
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path, row_group_size=ROW_GROUP)
    catalog = Catalog()
    catalog.add(path, "exp")
    return catalog, path


def three_ways(tmp_path: Path, frame: pd.DataFrame | pa.Table, request: dict[str, Any]) -> list[AbTestResult]:
    """The result streamed from the file, then from the same dataset in memory, then on the general path."""
    catalog, _ = attach(tmp_path, frame)
    dataset = catalog.get("exp")
    assert dataset.source is not None, "the file is attached lazily"
    parsed = AbTestRequest.model_validate(request)
    streamed = run(parsed, dataset)
    assert dataset.source is not None, "the streaming path did not read the whole frame"
    in_memory = ab_test(parsed, catalog.get("exp").frame)  # reads the frame; a frame has no memo
    again = run(parsed, dataset)  # the dataset, now in memory
    general = general_result(parsed, dataset.frame)
    assert streamed.model_dump_json() == again.model_dump_json() == in_memory.model_dump_json()
    return [streamed, in_memory, general]


def general_result(request: AbTestRequest, frame: pd.DataFrame) -> AbTestResult:
    """ab_test with the fast path switched off."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise Unsupported("off")

    with mock.patch.object(inputs_module, "prepare_fast", refuse):
        return ab_test(request, frame)


def run(request: AbTestRequest, data: Any) -> AbTestResult:
    """ab_test on a frame or on a Dataset (as the registry hands it over)."""
    return ab_test(request, data)


def assert_close(fast: Any, general: Any, where: str = "") -> None:
    """Same structure, same strings, ints and bools; floats within REL (absolute 1e-300 for zeros)."""
    if isinstance(fast, dict):
        assert fast.keys() == general.keys(), where
        for key in fast:
            assert_close(fast[key], general[key], f"{where}.{key}")
    elif isinstance(fast, list):
        assert len(fast) == len(general), where
        for i, (a, b) in enumerate(zip(fast, general, strict=True)):
            assert_close(a, b, f"{where}[{i}]")
    elif isinstance(fast, float) and "p_value" in where.rpartition(".")[2]:
        assert _p_values_close(fast, general), f"{where}: {fast!r} != {general!r} (compared as log p)"
    elif isinstance(fast, float) and not isinstance(fast, bool):
        # 1 - se_adjusted^2 / se^2 cancels when CUPED barely helps: compared on its own (0..1) scale
        absolute = 1e-12 if where.endswith("variance_reduction") else 1e-300
        assert math.isclose(fast, general, rel_tol=REL, abs_tol=absolute), f"{where}: {fast!r} != {general!r}"
    elif isinstance(fast, str) and isinstance(general, str) and fast != general:
        # a number formatted into a sentence may differ in its last printed digit only when floats differ
        assert _numbers_close(fast, general), f"{where}: {fast!r} != {general!r}"
    else:
        assert fast == general, f"{where}: {fast!r} != {general!r}"


def _p_values_close(a: float, b: float) -> bool:
    """Two p-values agree on the log scale (P_VALUE_LOG_REL); a p-value that underflows to 0 must on both paths."""
    if a == b:
        return True
    if min(a, b) <= 0.0:
        return False
    return math.isclose(math.log(a), math.log(b), rel_tol=P_VALUE_LOG_REL, abs_tol=REL)


def _numbers_close(a: str, b: str) -> bool:
    import re

    pattern = r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
    if re.sub(pattern, "#", a) != re.sub(pattern, "#", b):
        return False
    pairs = zip(re.findall(pattern, a), re.findall(pattern, b), strict=True)
    return all(math.isclose(float(x), float(y), rel_tol=1e-3) for x, y in pairs)


def check_parity(tmp_path: Path, frame: pd.DataFrame | pa.Table, request: dict[str, Any]) -> AbTestResult:
    streamed, _, general = three_ways(tmp_path, frame, request)
    assert streamed.decision == general.decision
    assert [c.n_control for c in streamed.comparisons] == [c.n_control for c in general.comparisons]
    assert [c.n_treatment for c in streamed.comparisons] == [c.n_treatment for c in general.comparisons]
    assert streamed.warnings == general.warnings
    assert_close(json.loads(streamed.model_dump_json()), json.loads(general.model_dump_json()))
    return streamed


# ------------------------------------------------------------------------------------------------ parity


def test_the_benchmark_request(tmp_path: Path) -> None:
    result = check_parity(tmp_path, experiment(), BASE_REQUEST)
    assert result.n_obs == N
    assert result.comparisons[1].cuped is not None


def test_missing_values_and_rows_without_an_arm(tmp_path: Path) -> None:
    frame = experiment()
    rng = np.random.default_rng(3)
    revenue = frame["revenue"].to_numpy().copy()
    revenue[rng.random(N) < 0.01] = np.nan
    arm = frame["arm"].astype(object).to_numpy().copy()
    arm[rng.random(N) < 0.003] = None
    converted = pa.array(frame["converted"], mask=rng.random(N) < 0.002)  # integers with nulls: float64
    table = pa.table(
        {
            "user_id": frame["user_id"],
            "arm": pa.array(arm, type=pa.string()),
            "converted": converted,
            "revenue": revenue,
            "pre_revenue": frame["pre_revenue"],
        }
    )
    result = check_parity(tmp_path, table, BASE_REQUEST)
    assert any("no arm label" in w for w in result.warnings)
    assert any("missing values" in w for w in result.warnings)


def test_three_arms_ratio_metric_explicit_control_and_split(tmp_path: Path) -> None:
    frame = experiment(arms=("A", "B", "C"))
    request = {
        "dataset": "exp",
        "arm_column": "arm",
        "control": "B",
        "expected_split": [{"arm": "A", "share": 1}, {"arm": "B", "share": 1}, {"arm": "C", "share": 1}],
        "alternative": "larger",
        "metrics": [
            {"name": "rps", "column": "revenue", "kind": "ratio", "denominator_column": "sessions"},
            {"name": "revenue", "kind": "continuous", "role": "guardrail", "non_inferiority_margin": 0.05},
            {"name": "conversion", "column": "converted", "kind": "binary", "covariate_column": "pre_revenue"},
        ],
    }
    result = check_parity(tmp_path, frame, request)
    assert [c.arm for c in result.comparisons[:2]] == ["A", "C"]


def test_a_large_offset_loses_no_digits(tmp_path: Path) -> None:
    """Mean 1e9, sd 1: the centred sums stay exact. Means and standard errors match a two-pass reference in
    long double to 1e-12 (the general path, which pools block means stored near 1e9, is within 1e-9 here); a
    difference of two means near 1e9 is itself only known to about one ulp of 1e9 (1.2e-7), so estimates are
    compared to that absolute tolerance."""
    rng = np.random.default_rng(11)
    frame = pd.DataFrame(
        {
            "arm": rng.choice(np.array(["control", "treatment"]), N),
            "y": 1e9 + rng.standard_normal(N),
            "x": -1e9 + rng.standard_normal(N),
        }
    )
    frame["y"] += 0.3 * (frame["x"] + 1e9)
    request = {"dataset": "exp", "arm_column": "arm", "metrics": [{"name": "y", "covariate_column": "x"}]}
    for result, rel in zip(three_ways(tmp_path, frame, request)[1:], (1e-12, 1e-9), strict=True):
        [c] = result.comparisons
        assert c.cuped is not None
        by_arm = {a: frame.loc[frame["arm"] == a].to_numpy() for a in ("control", "treatment")}
        ys = {a: v[:, 1].astype(np.longdouble) for a, v in by_arm.items()}
        xs = {a: v[:, 2].astype(np.longdouble) for a, v in by_arm.items()}
        variance = sum(np.var(y, ddof=1) / len(y) for y in ys.values())
        assert math.isclose(c.cuped.unadjusted.std_error, float(np.sqrt(variance)), rel_tol=rel)
        assert math.isclose(c.cuped.unadjusted.estimate, float(ys["treatment"].mean() - ys["control"].mean()),
                            abs_tol=3e-7)  # fmt: skip
        y, x = np.concatenate(list(ys.values())), np.concatenate(list(xs.values()))
        theta = np.sum((x - x.mean()) * (y - y.mean())) / np.sum((x - x.mean()) ** 2)
        # theta pools the arms: their means, stored as floats near 1e9, carry ~1e-7 absolute rounding each,
        # which the between-arm part of the pooled covariance inherits (the same on every path)
        assert math.isclose(c.cuped.theta, float(theta), rel_tol=1e-8)
        assert math.isclose(c.control_mean, float(ys["control"].mean()) - float(theta) * float(
            xs["control"].mean() - x.mean()), rel_tol=1e-12)  # fmt: skip


def test_sorted_data_and_an_arm_without_spread(tmp_path: Path) -> None:
    """A file sorted by the metric (every block far from the running mean) and a constant control arm: the
    guard sends such blocks to the exact per-arm computation."""
    rng = np.random.default_rng(5)
    y = np.sort(rng.lognormal(2.0, 1.0, N))
    arm = np.where(rng.random(N) < 0.5, "control", "treatment")
    y[arm == "control"] = 3.25
    frame = pd.DataFrame({"arm": arm, "y": y})
    request = {"dataset": "exp", "arm_column": "arm", "metrics": [{"name": "y"}]}
    result = check_parity(tmp_path, frame, request)
    assert result.comparisons[0].control_mean == 3.25


def test_one_unit_dominating_a_metric_is_flagged_alike(tmp_path: Path) -> None:
    frame = experiment()
    frame.loc[N // 2, "revenue"] = 1e7  # one whale: most of the metric's total
    frame.loc[N // 3, "pre_revenue"] = -5.0  # a negative value elsewhere changes nothing
    result = check_parity(tmp_path, frame, BASE_REQUEST)
    assert any("single unit contributes" in w for w in result.warnings)
    assert result.comparisons[1].relative is not None
    assert result.comparisons[1].relative.p_value < 1e-60  # the tail p-value assert_close compares as log p


def test_p_values_are_compared_on_the_log_scale() -> None:
    from scipy import special

    z = 18.0
    p = float(2 * special.ndtr(-z))  # about 2e-72
    nearby = float(2 * special.ndtr(-z * (1 + 1e-14)))  # z moved by 1e-14 relative, as summation order can
    assert not math.isclose(p, nearby, rel_tol=REL)  # compared directly, it would fail
    assert _p_values_close(p, nearby)
    assert not _p_values_close(p, float(2 * special.ndtr(-z * (1 + 1e-10))))  # a real difference still fails
    assert _p_values_close(0.3192797684641250, 0.3192797684641259)
    assert not _p_values_close(0.31927976, 0.31927977)
    assert _p_values_close(0.0, 0.0) and not _p_values_close(0.0, 1e-300)


def test_small_data_in_memory_takes_the_fast_path_with_the_same_answer() -> None:
    frame = experiment(n=5_000)
    frame["arm"] = frame["arm"].astype("category").cat.add_categories(["unused"])
    frame["flag"] = frame["converted"].astype(bool)
    request = AbTestRequest.model_validate(
        {**BASE_REQUEST, "metrics": [*BASE_REQUEST["metrics"], {"name": "flag", "kind": "binary"}]}
    )
    fast = ab_test(request, frame)
    general = general_result(request, frame)
    assert_close(json.loads(fast.model_dump_json()), json.loads(general.model_dump_json()))


# ------------------------------------------------------------------------------------------------ same errors


def _bad(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    frame = frame.copy()
    if kind == "not_binary":
        frame.loc[N - 5, "converted"] = 2
    elif kind == "non_finite_values":
        frame.loc[N - 7, "revenue"] = np.inf
    elif kind == "non_numeric_metric":
        frame["revenue"] = frame["revenue"].astype(str)
        frame.loc[N - 3, "revenue"] = "n/a"
    return frame


@pytest.mark.parametrize(
    ("kind", "request_update"),
    [
        ("not_binary", {}),
        ("non_finite_values", {}),
        ("non_numeric_metric", {}),
        ("negative_denominator", {"metrics": [{"name": "r", "column": "revenue", "kind": "ratio",
                                               "denominator_column": "pre_revenue"}]}),
        ("unknown_column", {"metrics": [{"name": "revenu"}]}),
        ("unknown_control", {"control": "contrl"}),
        ("split_mismatch", {"expected_split": [{"arm": "control", "share": 1}, {"arm": "B", "share": 1}]}),
    ],
)  # fmt: skip
def test_input_problems_are_reported_alike(tmp_path: Path, kind: str, request_update: dict[str, Any]) -> None:
    frame = _bad(experiment(), kind)
    if kind == "negative_denominator":
        frame.loc[N - 2, "pre_revenue"] = -1.0
    catalog, _ = attach(tmp_path, frame)
    request = {**BASE_REQUEST, **request_update}
    streamed = dispatch("ab_test", request, catalog)
    assert isinstance(streamed, ToolError)
    assert streamed.code == kind
    in_memory = dispatch("ab_test", request, catalog)
    assert in_memory == streamed
    with pytest.raises(ToolError) as info:
        general_result(AbTestRequest.model_validate(request), catalog.frame("exp"))
    assert info.value == streamed


def test_clusters_and_capping_read_the_frame_and_agree(tmp_path: Path) -> None:
    frame = experiment()
    frame["user_id"] = frame["user_id"] // 3  # three rows per user
    frame["arm"] = np.where(frame["user_id"] % 2 == 0, "control", "treatment")
    request = {"dataset": "exp", "arm_column": "arm", "cluster_column": "user_id", "winsorize": 0.99,
               "metrics": [{"name": "revenue"}]}  # fmt: skip
    catalog, _ = attach(tmp_path, frame)
    result = dispatch("ab_test", request, catalog)
    assert isinstance(result, AbTestResult)
    assert catalog.get("exp").source is None
    assert result == general_result(AbTestRequest.model_validate(request), frame)


# ------------------------------------------------------------------------------------------------ repeats


#: Rows in the repeat-check files: above REPEAT_CHECK_ROWS, where the check looks at the first rows only
#: unless the column holds integers that are sorted or densely numbered.
N_IDS = REPEAT_CHECK_ROWS + 20_000


def _ids(kind: str) -> pa.Array:
    rng = np.random.default_rng(1)
    dense = rng.permutation(N_IDS).astype(np.int64) + 10
    if kind == "dense":
        return pa.array(dense)
    if kind == "dense_one_repeat_at_the_end":
        dense[-1] = dense[0]
        return pa.array(dense)
    sparse = rng.choice(10**15, N_IDS, replace=False).astype(np.int64)
    if kind == "sparse_repeat_after_the_head":
        sparse[-1] = sparse[REPEAT_CHECK_ROWS + 10]
        return pa.array(sparse)
    if kind == "sparse_repeat_in_the_head":
        sparse[5] = sparse[6]
        return pa.array(sparse)
    if kind == "more_rows_than_values":
        return pa.array(rng.integers(0, N_IDS - 1, N_IDS))
    if kind == "text":
        return pa.array([f"u{v}" for v in dense])
    return pa.array(dense, mask=np.arange(N_IDS) == 3)  # integers with a missing value: float64


@pytest.mark.parametrize(
    "kind",
    [
        "dense",
        "dense_one_repeat_at_the_end",
        "sparse_repeat_after_the_head",
        "sparse_repeat_in_the_head",
        "more_rows_than_values",
        "text",
        "with_null",
    ],
)
def test_the_repeat_check_streamed_answers_as_in_memory(tmp_path: Path, kind: str) -> None:
    frame = experiment(n=N_IDS)
    table = pa.Table.from_pandas(frame.drop(columns="user_id"), preserve_index=False)
    table = table.append_column("user_id", _ids(kind))
    catalog, path = attach(tmp_path, table)
    request = AbTestRequest.model_validate(BASE_REQUEST)
    lazy = catalog.get("exp")
    prepare_rows(request, lazy)
    assert lazy.source is not None
    streamed = repeated_id_columns(lazy, request)
    assert lazy.source is not None, "answered from the memo, without reading the frame"
    eager = Catalog()
    eager.add(path, "exp")
    expected = repeated_id_columns(eager.frame("exp"), request)
    assert streamed == expected
    assert streamed == (["user_id"] if kind in {"dense_one_repeat_at_the_end", "sparse_repeat_in_the_head",
                                                  "more_rows_than_values"} else [])  # fmt: skip


# ------------------------------------------------------------------------------------------------ determinism


def test_threads_or_not_and_every_run_give_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog, _ = attach(tmp_path, experiment())
    request = AbTestRequest.model_validate(BASE_REQUEST)
    first = run(request, catalog.get("exp")).model_dump_json()
    monkeypatch.setattr(rows_module, "_THREAD_MIN_ROWS", 0)
    threaded = run(request, catalog.get("exp")).model_dump_json()
    frame = catalog.frame("exp")
    runs = {ab_test(request, frame).model_dump_json() for _ in range(3)}
    assert runs == {first} == {threaded}


def test_arm_labels_met_in_another_order_in_the_second_half(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The arm column is read in two halves on two threads: labels first seen in another order (or only) in
    the second half are renumbered into one order."""
    monkeypatch.setattr(rows_module, "_THREAD_MIN_ROWS", 0)
    frame = experiment(arms=("A", "B", "C"))
    half = len(frame) // 2
    arm = frame["arm"].to_numpy().copy()
    arm[:half] = np.where(arm[:half] == "C", "B", arm[:half])  # C appears only in the second half
    arm[half] = "C"
    frame["arm"] = arm
    request = {**BASE_REQUEST, "control": "A"}
    check_parity(tmp_path, frame, request)


def test_a_dataset_is_handed_to_the_tool_and_its_frame_read_only_when_needed(tmp_path: Path) -> None:
    catalog, _ = attach(tmp_path, experiment())
    assert isinstance(catalog.get("exp"), Dataset)
    result = dispatch("ab_test", BASE_REQUEST, catalog)
    assert isinstance(result, AbTestResult)
    assert catalog.get("exp").source is not None
