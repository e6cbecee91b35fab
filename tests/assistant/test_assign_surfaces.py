"""assign on the surfaces outside the tool: the command line's full export (``--assignments``), the app card's text
plot and the PNG love plot, drawn from a real assign result on a unit list the test writes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assistant.cli import main
from assistant.figures import has_figure, save_figure
from assistant.tui.widgets.plot import plot_result
from tools.assign.models import AssignRequest
from tools.assign.tool import assign


def units(path: Path) -> Path:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "user_id": [f"u{i:04d}" for i in range(400)],
            "country": rng.choice(["DE", "FR", "US"], 400),
            "spend": rng.gamma(2, 10, 400),
            "tenure_days": rng.integers(1, 900, 400),
        }
    )
    frame.to_csv(path, index=False)
    return path


REQUEST = {"dataset": "units", "unit_column": "user_id", "salt": "checkout-2026", "strata": ["country"]}


def test_the_command_line_saves_the_full_assignment_it_summarised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = units(tmp_path / "units.csv")
    out_csv = tmp_path / "assignments.csv"
    code = main(
        ["tool", "run", "assign", "--json", json.dumps(REQUEST), "--data", f"units={path}",
         "--assignments", str(out_csv)]
    )  # fmt: skip
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert code == 0 and f"[assignments] saved {out_csv}" in captured.err
    written = out_csv.read_bytes()
    # the file is the one the result's digest (and the plan's) stands for: a reviewer can verify it
    assert hashlib.sha256(written).hexdigest() == result["assignment_digest"] == result["plan"]["assignment_digest"]
    table = pd.read_csv(out_csv)
    assert len(table) == 400 and set(table["arm"]) == {"control", "treatment"}
    assert table["arm"].value_counts().to_dict() == {a["arm"]: a["n_units"] for a in result["arm_counts"]}
    # never over an existing file: the run's JSON still prints, the file is left as it was
    code = main(
        ["tool", "run", "assign", "--json", json.dumps(REQUEST), "--data", f"units={path}",
         "--assignments", str(out_csv)]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 2 and "error" in json.loads(captured.out)
    assert out_csv.read_bytes() == written


def test_assignments_is_refused_for_another_tool(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    request = {"metric": "proportion", "baseline": 0.1, "mde": 0.1}
    code = main(["tool", "run", "power", "--json", json.dumps(request), "--assignments", str(tmp_path / "a.csv")])
    error = json.loads(capsys.readouterr().out)["error"]
    assert code == 2 and error["code"] == "invalid_option" and "assign" in error["message"]
    assert not (tmp_path / "a.csv").exists()


def test_the_card_and_the_png_show_the_balance(tmp_path: Path) -> None:
    frame = pd.read_csv(units(tmp_path / "units.csv"))
    result = assign(AssignRequest.model_validate(REQUEST), frame)
    lines = plot_result(result)
    assert lines[0].startswith("stratified assignment: control 200 · treatment 200")
    assert any(line.startswith("balance: standardized mean difference vs control") for line in lines)
    assert sum("spend" in line or "tenure_days" in line for line in lines) == 2
    assert any(line.startswith("imbalance M = ") and f"df {result.mahalanobis_df}" in line for line in lines)
    assert has_figure(result)
    saved = save_figure(result, tmp_path / "balance.png")
    assert saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_pre_registration_states_the_randomisation_exactly(tmp_path: Path) -> None:
    from assistant.agent.conversation import Conversation
    from assistant.agent.guided import GuidedBackend
    from assistant.prereg import session_facts
    from tools.data import Catalog

    data = Catalog()
    data.add(units(tmp_path / "units.csv"), "units")
    chat = Conversation(GuidedBackend(catalog=data), catalog=data)
    run = chat.run_tool("assign", {**REQUEST, "rerandomize_acceptance": 0.2}, lambda event: None)
    assert run is not None and run.ok
    facts = session_facts(chat.runs, chat.catalog)
    words = facts.fields["assignment"]
    plan = run.outcome.plan
    # the salt of the accepted draw, the strata, the threshold and the file's hash: enough to redraw and verify it
    assert plan.text in words and plan.draw_salt in words and plan.assignment_digest in words
    assert "'country'" in words and "Morgan & Rubin" in words
    assert "assign run" in facts.origins["assignment"]
