"""Issue 18, the statistics side of items 1, 2 and 9, on the public research data a user would bring (causaldata
exports written to CSV by ``tests.public_data``), with the requests the guided mode builds (each spec's guide).

1. An unequal design is not a broken one: with no planned split the sample-ratio check says it ASSUMED an equal
   split and warns; only a mismatch with a planned split (``expected_split``) fails and blocks the decision, and
   refute's battery follows the same rule.
2. A 0/1 arm stored as floats (a column with blanks) has the arms '0' and '1': labels match by value ('0', '0.0',
   0), 0 is control by default, and every data path agrees.
9. A design check the target tool itself fails (a rejected pre-trend test, a single treated cluster) caps
   refute's verdict: never ROBUST; the verdict, its counts and its summary agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from tests.public_data import write_public
from tools.ab_test.inputs import _prepare_general, arm_labels, find_label, label_text, prepare_rows
from tools.ab_test.models import AbTestRequest, AbTestResult
from tools.ab_test.spec import guided_request as ab_request
from tools.data import Catalog
from tools.did.spec import guided_request as did_request
from tools.errors import ToolError
from tools.propensity.spec import guided_request as propensity_request
from tools.refute.models import RefuteCheck, RefuteResult
from tools.refute.verdict import overall, summary
from tools.registry import dispatch
from tools.results import Check, Estimate

pytest.importorskip("causaldata")


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread() -> Iterator[None]:
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The public sets as CSV exports, attached as a user attaches them. organ_donations has no treatment flag:
    the user's export adds it (California from 2011 Q3, Quarter_Num 4)."""
    folder = tmp_path_factory.mktemp("public")
    catalog = Catalog()
    for name in ("nsw_mixtape", "thornton_hiv", "castle"):
        catalog.add(write_public(name, folder), name)
    organ = pd.read_csv(write_public("organ_donations", folder))
    organ["Treated"] = ((organ["State"] == "California") & (organ["Quarter_Num"] >= 4)).astype(int)
    organ.to_csv(folder / "organ_donations.csv", index=False)
    catalog.add(folder / "organ_donations.csv", "organ_donations")
    return catalog


def ab(catalog: Catalog, request: dict[str, Any]) -> AbTestResult:
    result = dispatch("ab_test", request, catalog)
    assert isinstance(result, AbTestResult), result
    return result


def refuted(catalog: Catalog, tool: str, request: dict[str, Any], **fields: Any) -> RefuteResult:
    result = dispatch("refute", {"target": {"tool": tool, "request": request}, "simulations": 30, **fields}, catalog)
    assert isinstance(result, RefuteResult), result
    return result


def by_name(result: RefuteResult) -> dict[str, RefuteCheck]:
    return {c.name: c for c in result.checks}


def assert_summary_agrees(result: RefuteResult) -> None:
    """The verdict word, the counts and the checks listed in the summary are the checks' own."""
    passed = sum(c.verdict == "pass" for c in result.checks)
    failed = sum(c.verdict == "fail" for c in result.checks)
    unclear = [c.name for c in result.checks if c.verdict == "inconclusive"]
    assert f"is {result.verdict.upper()}" in result.summary
    assert f"{passed} of {len(result.checks)} checks passed, {failed} failed" in result.summary
    if unclear:
        assert f"{len(unclear)} could not judge it ({', '.join(unclear)})" in result.summary
    for check in result.design_failures:
        assert check.name in result.summary and check.status == "fail"
    if result.verdict == "robust":
        assert passed and not failed and not result.design_failures
    if result.verdict != "robust":
        assert not any("'robust' then means" in w for w in result.warnings)


# --- item 1: unequal designs are not broken ones ---------------------------------------------------------------

NSW = ab_request("nsw_mixtape", {"arm": "treat", "metric": "re78"})


def test_item1_unequal_design_without_a_planned_split_is_an_assumption_not_a_breakage(public: Catalog) -> None:
    result = ab(public, NSW)  # 185 treated, 260 controls, by design
    assert [(c.arm, c.count) for c in result.srm.observed] == [("0", 260.0), ("1", 185.0)]
    assert result.srm.p_value == pytest.approx(0.000377, abs=1e-6) and result.srm.status == "warn"
    # not "broken", but no decision on an unconfirmed split either: most tests are planned 50/50, and a mismatch
    # against a planned equal split is the classic sign of broken assignment; the user confirms the split first
    assert result.decision == "investigate"
    assert result.effect.estimate == pytest.approx(1794.34, abs=0.01)  # the published NSW difference
    check = next(c for c in result.checks if c.name == "sample_ratio")
    assert check.status == "warn" and "assumed because no expected_split was given" in check.detail
    assert not any("SAMPLE RATIO MISMATCH" in w for w in result.warnings)
    assert result.warnings[0].startswith("UNCONFIRMED SPLIT") and "give expected_split" in result.warnings[0]
    assert "equal split it assumed" in result.summary and "FAILED" not in result.summary
    assert any("confirm the planned split" in r for r in result.decision_reasons)
    assert "assumed because no expected_split was given" in result.method


def test_item1_a_planned_split_confirms_the_design_or_keeps_the_strong_alarm(public: Catalog) -> None:
    as_designed = ab(public, {**NSW, "expected_split": [{"arm": "1", "share": 185}, {"arm": "0", "share": 260}]})
    assert as_designed.srm.status == "pass" and as_designed.srm.p_value == pytest.approx(1.0)
    assert as_designed.decision == "ship" and "SRM check passed" in as_designed.summary
    assert not any("SPLIT" in w or "SAMPLE RATIO" in w for w in as_designed.warnings)
    equal = ab(public, {**NSW, "expected_split": [{"arm": "0", "share": 1}, {"arm": "1", "share": 1}]})
    assert equal.srm.status == "fail" and equal.decision == "investigate"
    assert equal.warnings[0].startswith("SAMPLE RATIO MISMATCH") and "SRM check FAILED" in equal.summary
    # the metric's numbers do not depend on the check
    assert as_designed.effect == equal.effect == ab(public, NSW).effect


def test_item1_refute_passes_the_planned_split_through_and_does_not_fail_an_assumed_one(public: Catalog) -> None:
    assumed = refuted(public, "ab_test", NSW)
    srm = by_name(assumed)["sample_ratio"]
    assert srm.verdict == "inconclusive" and "assumed because no expected_split was given" in srm.detail
    assert assumed.verdict != "failed" and "sample_ratio" not in assumed.decided_by
    assert_summary_agrees(assumed)
    planned = [{"arm": "0", "share": 260}, {"arm": "1", "share": 185}]
    as_designed = refuted(public, "ab_test", {**NSW, "expected_split": planned})
    assert by_name(as_designed)["sample_ratio"].verdict == "pass"
    assert "against the planned split" in by_name(as_designed)["sample_ratio"].detail
    broken = refuted(public, "ab_test", {**NSW, "expected_split": [{"arm": 0, "share": 1}, {"arm": 1, "share": 1}]})
    assert by_name(broken)["sample_ratio"].verdict == "fail" and broken.verdict == "failed"
    assert broken.decided_by == ["sample_ratio"] and [c.name for c in broken.design_failures] == ["sample_ratio"]
    assert broken.summary.count("sample_ratio") == 1  # named once, not again as the target's own check
    assert_summary_agrees(broken)


def test_item1_thornton_randomised_incentive_is_not_called_broken(public: Catalog) -> None:
    request = ab_request("thornton_hiv", {"arm": "any", "metric": "got", "kind": "binary"})
    result = ab(public, request)
    assert result.arms == ["0", "1"] and result.srm.status == "warn" and result.decision == "investigate"
    assert result.effect.estimate == pytest.approx(0.4506, abs=1e-4)  # Thornton (2008): +45 points
    battery = refuted(public, "ab_test", request)
    assert by_name(battery)["sample_ratio"].verdict == "inconclusive" and battery.verdict != "failed"
    assert_summary_agrees(battery)


# --- item 2: a 0/1 arm stored as floats --------------------------------------------------------------------------

THORNTON = ab_request("thornton_hiv", {"arm": "any", "metric": "got", "kind": "binary"})


def test_item2_float_arm_labels_match_by_value(public: Catalog) -> None:
    assert public.get("thornton_hiv").frame["any"].dtype == np.float64  # blanks: the 0/1 column loads as floats
    default = ab(public, THORNTON)
    assert default.arms == ["0", "1"] and default.control_arm == "0"
    assert [(c.arm, c.control_arm) for c in default.comparisons] == [("1", "0")]
    control = next(c for c in default.checks if c.name == "control_arm")
    assert "0/1 values, so 0 is taken as control and 1 as treatment" in control.detail
    assert "0/1 arm column (0 is control" in default.method
    assert "1,919 row(s) with no arm label were left out." in default.warnings
    for given in ("0", "0.0", 0, 0.0, " 0 "):
        named = ab(public, {**THORNTON, "control": given})
        assert (named.srm, named.comparisons, named.decisions) == (default.srm, default.comparisons, default.decisions)
        assert named.arms == ["0", "1"] and not any(c.name == "control_arm" for c in named.checks)
    reversed_arms = ab(public, {**THORNTON, "control": 1})
    assert reversed_arms.arms == ["1", "0"]
    assert reversed_arms.effect.estimate == pytest.approx(-default.effect.estimate)
    split = ab(public, {**THORNTON, "expected_split": [{"arm": 1.0, "share": 3}, {"arm": "0.0", "share": 1}]})
    assert [c.arm for c in split.srm.expected] == ["0", "1"]
    assert [c.count for c in split.srm.expected] == pytest.approx([2901 / 4, 2901 * 3 / 4])
    unknown = dispatch("ab_test", {**THORNTON, "control": "2"}, public)
    assert isinstance(unknown, ToolError) and unknown.code == "unknown_control"
    assert "'0'" in unknown.message and "'1'" in unknown.message and "by value" in unknown.hint


def test_item2_labels_are_read_as_the_user_writes_them() -> None:
    assert [label_text(v) for v in (0.0, 1.0, -2.0, 0.5, np.float32(0.1), "a", True)] == [
        "0",
        "1",
        "-2",
        "0.5",
        "0.1",
        "a",
        "True",
    ]
    assert find_label("0.0", ["0", "1"]) == "0" and find_label("1", ["False", "True"]) == "True"
    assert find_label("1.50", ["1.5", "2"]) == "1.5" and find_label("x", ["0", "1"]) is None
    assert find_label("1", ["1", "1.0"]) == "1"  # the same text first
    assert find_label("1e0", ["1", "1.0"]) is None  # two labels with that value: ambiguous, not a guess
    rows = arm_labels(pd.Series([0.0, np.nan, 1.0, 0.0]))
    assert rows.tolist() == ["0", None, "1", "0"]
    # dashboard numbers with numeric arm names: the same labels, 0 the control
    summaries = [
        {"arm": 0, "metric": "c", "n": 1000, "conversions": 100},
        {"arm": 1.0, "metric": "c", "n": 1000, "conversions": 130},
    ]
    request = AbTestRequest.model_validate({"metrics": [{"name": "c", "kind": "binary"}], "summaries": summaries})
    assert ab_test_result(request, None).arms == ["0", "1"]


def _float_arm_frame(n: int = 3_000) -> pd.DataFrame:
    rng = np.random.default_rng(18)
    arm = rng.choice([0.0, 1.0], size=n).astype(float)
    arm[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "arm": arm,
            "converted": rng.binomial(1, np.where(arm == 1.0, 0.14, 0.10)).astype(np.int64),
            "revenue": rng.gamma(2.0, 5.0, n),
        }
    )


def test_item2_every_data_path_names_float_arms_alike(tmp_path: Path) -> None:
    frame = _float_arm_frame()
    request = AbTestRequest.model_validate(
        {
            "arm_column": "arm",
            "control": "0.0",
            "metrics": [{"name": "converted", "kind": "binary"}, {"name": "revenue", "role": "secondary"}],
        }
    )
    fast = prepare_rows(request, frame)
    general = _prepare_general(request, frame)
    as_category = prepare_rows(request, frame.assign(arm=frame["arm"].astype("category")))
    for prepared in (fast, general, as_category):
        assert prepared.arms == ["0", "1"] and prepared.units == fast.units
        assert prepared.notes == fast.notes
        for a, b in zip(prepared.metrics, fast.metrics, strict=True):
            assert [m.n for m in a.moments] == [m.n for m in b.moments]
            assert [m.mean_y for m in a.moments] == pytest.approx([m.mean_y for m in b.moments], rel=1e-12)
    # from a Parquet file (a float arm column is read from the frame) and from a CSV export with blanks
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "exp.parquet")
    frame.to_csv(tmp_path / "exp.csv", index=False)
    catalog = Catalog()
    catalog.add(tmp_path / "exp.parquet", "pq")
    catalog.add(tmp_path / "exp.csv", "csv")
    results = [ab(catalog, {**request.model_dump(exclude_none=True), "dataset": name}) for name in ("pq", "csv")]
    in_memory = ab_test_result(request, frame)
    for result in results:
        assert result.arms == ["0", "1"] and result.srm == in_memory.srm
        assert result.effect.estimate == pytest.approx(in_memory.effect.estimate, rel=1e-12)


def ab_test_result(request: AbTestRequest, frame: pd.DataFrame | None) -> AbTestResult:
    from tools.ab_test.tool import ab_test

    return ab_test(request, frame)


def test_item2_a_text_arm_column_of_numbers_is_matched_by_value_too() -> None:
    frame = _float_arm_frame(800).dropna().assign(arm=lambda f: f["arm"].map({0.0: "0.0", 1.0: "1.0"}))
    result = ab_test_result(
        AbTestRequest.model_validate({"arm_column": "arm", "metrics": [{"name": "converted", "kind": "binary"}]}), frame
    )
    assert result.arms == ["0.0", "1.0"]  # the labels as the data spell them; 0 is control by value
    named = ab_test_result(
        AbTestRequest.model_validate(
            {"arm_column": "arm", "control": "0", "metrics": [{"name": "converted", "kind": "binary"}]}
        ),
        frame,
    )
    assert named.arms == ["0.0", "1.0"]


def test_item2_propensity_with_a_float_treatment_drops_the_blank_rows_and_matches_by_value(public: Catalog) -> None:
    request = propensity_request("thornton_hiv", {"outcome": "got", "treatment": "any", "covariates": ["age"]})
    result = dispatch("propensity", request, public)
    assert not isinstance(result, ToolError), result
    assert result.treated_value == "1"  # type: ignore[attr-defined]
    dropped = next(w for w in result.warnings if "row(s) with missing values were dropped" in w)  # type: ignore[attr-defined]
    assert "missing value in 'any': 1,919" in dropped
    for given in ("1", "1.0", " 1 "):
        again = dispatch("propensity", {**request, "treated_value": given}, public)
        assert not isinstance(again, ToolError) and again.effect == result.effect  # type: ignore[attr-defined]


# --- item 9: the verdict never contradicts the target's own design checks ----------------------------------------

ORGAN = did_request(
    "organ_donations", {"outcome": "Rate", "unit": "State", "time": "Quarter_Num", "treatment": "Treated"}
)
CASTLE = did_request("castle", {"outcome": "l_homicide", "unit": "sid", "time": "year", "treatment": "post"})


def test_item9_organ_donations_single_treated_state_and_pre_trend_is_never_robust(public: Catalog) -> None:
    target = dispatch("diff_in_diff", ORGAN, public)
    assert not isinstance(target, ToolError), target
    own = {c.name: c.status for c in getattr(target, "checks", [])}
    assert own["parallel_trends"] == "fail" and own["clusters"] == "fail"  # p = 0.032; one treated cluster
    result = refuted(public, "diff_in_diff", ORGAN)
    assert result.verdict == "fragile"
    assert [c.name for c in result.design_failures] == ["parallel_trends", "clusters"]
    assert result.decided_by == ["diff_in_diff:parallel_trends", "diff_in_diff:clusters"]
    assert "the diff_in_diff analysis's own design check(s) failed: parallel_trends, clusters" in result.summary
    assert "cannot be called robust until they are addressed" in result.summary
    assert "one treated cluster: inference invalid" in result.design_failures[1].detail
    assert_summary_agrees(result)


def test_item9_castle_pre_trend_failure_caps_the_verdict_and_the_words_agree(public: Catalog) -> None:
    result = refuted(public, "diff_in_diff", CASTLE)
    assert result.verdict == "fragile" and [c.name for c in result.design_failures] == ["parallel_trends"]
    assert not (result.effect.ci_lower > 0 or result.effect.ci_upper < 0)  # not significant either
    assert "The estimate itself is not significant at this alpha either" in " ".join(result.warnings)
    assert_summary_agrees(result)


def _check(name: str, verdict: str) -> RefuteCheck:
    return RefuteCheck.model_validate(
        {
            "name": name,
            "null": "-",
            "procedure": "-",
            "estimate": None,
            "distribution": None,
            "p_value": None,
            "verdict": verdict,
            "detail": "-",
            "explanation": "-",
        }
    )


ESTIMATE = Estimate(estimate=1.0, std_error=0.4, ci_lower=0.2, ci_upper=1.8, p_value=0.01, alpha=0.05)


@pytest.mark.parametrize(
    ("verdicts", "design", "expected"),
    [
        ({"bootstrap": "pass", "placebo_treatment": "inconclusive"}, [], ("robust", ["bootstrap"])),
        ({"bootstrap": "pass", "pre_trends": "pass"}, ["parallel_trends"], ("fragile", ["did:parallel_trends"])),
        ({"bootstrap": "fail", "pre_trends": "pass"}, ["clusters"], ("fragile", ["bootstrap", "did:clusters"])),
        ({"pre_trends": "fail", "bootstrap": "pass"}, ["parallel_trends"], ("failed", ["pre_trends"])),
        ({"bootstrap": "inconclusive", "placebo_treatment": "inconclusive"}, [],
         ("fragile", ["bootstrap", "placebo_treatment"])),
    ],
)  # fmt: skip
def test_item9_verdict_rules(verdicts: dict[str, str], design: list[str], expected: tuple[str, list[str]]) -> None:
    checks = [_check(name, verdict) for name, verdict in verdicts.items()]
    failures = [Check(name=name, status="fail", detail="-") for name in design]
    verdict, decided_by = overall(checks, failures, "did")
    assert (verdict, decided_by) == expected
    text = summary("x", ESTIMATE, checks, verdict, decided_by, failures, "did")
    passed = sum(v == "pass" for v in verdicts.values())
    failed = sum(v == "fail" for v in verdicts.values())
    assert f"is {verdict.upper()}" in text and f"{passed} of {len(checks)} checks passed, {failed} failed" in text
    if verdict == "robust" and "inconclusive" in verdicts.values():
        assert re.search(r"ROBUST on the 1 check that could judge it: ", text)
    if design:
        assert "own design check(s) failed" in text
