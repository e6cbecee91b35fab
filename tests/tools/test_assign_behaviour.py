"""assign end to end: the registry's dispatcher, the command line with an attached file, and public unit lists
(causaldata's NSW sample as individuals; Thornton's (2008) Malawi sample with its villages as clusters)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assistant.cli import main
from tools.assign.models import AssignRequest, AssignResult
from tools.assign.tool import assign
from tools.data import Catalog
from tools.errors import ToolError
from tools.registry import dispatch, get_tool


def nsw() -> pd.DataFrame:
    causaldata = pytest.importorskip("causaldata")
    frame = causaldata.nsw_mixtape.load_pandas().data.drop(columns=["data_id", "treat", "re78"])
    return frame.assign(person=[f"p{i:03d}" for i in range(len(frame))])


def test_registered_and_offered_when_randomisation_is_mentioned() -> None:
    from assistant.agent.toolsets import offered
    from tools.registry import tool_names

    spec = get_tool("assign")
    assert spec.request is AssignRequest and spec.function is assign
    said = [{"role": "user", "content": "Here is our unit list: do a stratified randomization by country?"}]
    assert "assign" in offered(said, tool_names())
    # not in every scoping conversation: how units got the change is asked in all of them
    scoping = [{"role": "user", "content": "Users were randomized; each was assigned to an arm at sign-up."}]
    assert "assign" not in offered(scoping, tool_names())


def test_public_unit_list_stratified_with_rerandomisation() -> None:
    """NSW (Dehejia-Wahba sample, 445 people): pre-period earnings re74/re75, stratified on 'black' and 'nodegree'."""
    frame = nsw()
    request = AssignRequest(
        dataset="nsw", unit_column="person", salt="nsw-2026", strata=["black", "nodegree"],
        balance_covariates=["age", "educ", "re74", "re75"], rerandomize_acceptance=0.25,
    )  # fmt: skip
    result = assign(request, frame)
    assert result.n_units == 445 and result.method == "stratified"
    sizes = frame.groupby(["black", "nodegree"]).size().sort_values(ascending=False)
    assert sorted(s.n_units for s in result.strata_counts) == sorted(sizes.tolist())
    assert all(max(s.counts) - min(s.counts) <= 1 for s in result.strata_counts)
    assert result.mahalanobis is not None and result.threshold is not None
    assert result.mahalanobis <= result.threshold and result.mahalanobis_df == 4
    assert result.plan.strata == ["black", "nodegree"] and "Morgan & Rubin" in result.plan.text
    assert json.loads(result.model_dump_json())["plan"]["salt"] == "nsw-2026"


def test_public_unit_list_cluster_randomised_by_village() -> None:
    """Thornton (2008): 4,820 people in 124 villages (27 without one), randomised by village (unit ids: the rows)."""
    causaldata = pytest.importorskip("causaldata")
    frame = causaldata.thornton_hiv.load_pandas().data[["villnum", "age", "distvct"]]
    frame = frame.assign(person=range(len(frame)))
    request = AssignRequest(dataset="hiv", unit_column="person", salt="v", cluster_column="villnum")
    with pytest.raises(ToolError) as caught:  # 27 people have no village in the published file
        assign(request, frame)
    assert caught.value.code == "missing_ids" and "27 row(s)" in caught.value.message
    frame = frame.dropna(subset=["villnum"])
    result = assign(request, frame)
    assert result.n_clusters == 124 and [c.n_clusters for c in result.arm_counts] == [62, 62]
    assert sum(c.n_units for c in result.arm_counts) == 4793
    assert any("cluster_column" in w for w in result.warnings)
    assert result.balance and result.balance[0].n_missing >= 0


def test_dispatch_returns_errors_not_exceptions(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    nsw().to_csv(path, index=False)
    catalog = Catalog()
    catalog.add(path, name="nsw")
    outcome = dispatch("assign", {"dataset": "nsw", "unit_column": "persn", "salt": "s"}, catalog)
    assert isinstance(outcome, ToolError) and outcome.code == "unknown_column"
    ran = dispatch("assign", {"dataset": "nsw", "unit_column": "person", "salt": "s"}, catalog)
    assert isinstance(ran, AssignResult)


def test_command_line_runs_it_on_an_attached_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "units.csv"
    rng = np.random.default_rng(1)
    pd.DataFrame({"user_id": range(100), "spend": rng.gamma(2, 10, 100)}).to_csv(path, index=False)
    request = {"dataset": "units", "unit_column": "user_id", "salt": "cli", "arms": ["A", "B"], "shares": [0.3, 0.7]}
    code = main(["tool", "run", "assign", "--json", json.dumps(request), "--data", f"units={path}"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [c["n_units"] for c in out["arm_counts"]] == [30, 70]
    assert len(out["assignments"]) == 20 and out["plan"]["salt"] == "cli"
    code = main(["tool", "run", "assign", "--json", json.dumps({**request, "strata": ["spend"], "strata_bins": 60}),
                 "--data", f"units={path}"])  # fmt: skip
    assert code == 2 and "error" in json.loads(capsys.readouterr().out)


def test_every_number_in_the_summary_is_in_the_result() -> None:
    frame = nsw()
    result = assign(AssignRequest(dataset="nsw", unit_column="person", salt="x", balance_covariates=["age"]), frame)
    assert f"{result.mahalanobis:.3f}" in result.summary
    assert f"{max(abs(r.smd) for r in result.balance):.3f}" in result.summary
    assert f"{result.n_units:,}" in result.summary
