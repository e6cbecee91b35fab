"""write_prereg in the conversation loop, the frozen plan in the session, and deviations attached to ab_test
results (mocked OpenAI-compatible server; no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import respx

from assistant.agent.backends import OpenAIBackend
from assistant.agent.brief import Brief
from assistant.agent.conversation import Conversation, Event, Notice, ToolFinished
from assistant.agent.session import SessionStore, load_session
from tests.assistant.agent.conftest import sse, text_stream, tool_call_stream
from tools.data import Catalog

ROOT = Path(__file__).resolve().parents[3]
SOURCE = json.loads((ROOT / "examples" / "briefs" / "ai_feature_ab.json").read_text(encoding="utf-8"))
PLAN = SOURCE["plan"]
POWER = {
    "std_dev": None, "n_per_arm": None, "allocation_ratio": 1.0, "arms": 2, "cluster_size": None, "icc": None,
    "variance_reduction": None, "mde_kind": "absolute", **SOURCE["power"],
}  # fmt: skip
TEXT_ITEMS = ("title", "hypothesis", "data_status", "assignment", "population_filter", "duration", "missing_data",
              "outliers", "quality_checks")  # fmt: skip
WRITE = {
    "answers": [{"item": key, "text": PLAN[key]} for key in TEXT_ITEMS],
    "stopping": "fixed_horizon",
    "robustness_checks": PLAN["robustness_checks"],
    "analysis_tool": "ab_test",
    "analysis_request": json.dumps(PLAN["analysis"]),
    "freeze": True,
}
AB_TEST = {k: v for k, v in PLAN["analysis"].items() if k != "method"} | {"summaries": None, "alpha": 0.1}


def conversation(backend: OpenAIBackend, store: SessionStore) -> Conversation:
    catalog = Catalog()
    catalog.add(ROOT / "examples" / "data" / "ai_feature_ab.csv", "ai_feature_ab")
    chat = Conversation(backend, catalog=catalog, store=store)
    chat.brief = Brief.model_validate(SOURCE["brief"])
    return chat


def test_freeze_then_a_deviating_ab_test_is_flagged_and_the_plan_survives_resume(
    llm: respx.Route, backend: OpenAIBackend, tmp_path: Path
) -> None:
    llm.side_effect = [
        sse(tool_call_stream(("c1", "power", POWER), ("c2", "write_prereg", WRITE))),
        sse(text_stream("The plan is frozen.")),
        sse(tool_call_stream(("c3", "ab_test", AB_TEST))),
        sse(text_stream("Done.")),
    ]
    store = SessionStore(tmp_path / "session.jsonl")
    chat = conversation(backend, store)
    events: list[Event] = []
    chat.send("Freeze the plan, please.", events.append)
    assert "write_prereg" in {t["function"]["name"] for t in json.loads(llm.calls[0].request.content)["tools"]}
    written = next(e for e in events if isinstance(e, ToolFinished) and e.name == "write_prereg")
    assert written.error is None and written.result is not None
    assert written.result["summary"] == "Frozen pre-registration: 21 of 21 items complete."
    assert chat.prereg.frozen is not None
    frozen_hash = written.result["content_hash"]
    assert chat.prereg.frozen.prereg.plan.dataset_sha256 == chat.catalog.get("ai_feature_ab").sha256

    events.clear()
    chat.send("Run the analysis.", events.append)
    finished = next(e for e in events if isinstance(e, ToolFinished) and e.name == "ab_test")
    assert finished.result is not None
    report: dict[str, Any] = finished.result["plan_check"]
    assert report["plan_hash"] == frozen_hash and report["status"] == "fail"
    assert [(d["field"], d["planned"], d["executed"]) for d in report["deviations"]] == [("alpha", "0.05", "0.1")]
    assert finished.result["checks"][-1]["name"] == "pre_registration"
    assert any(isinstance(e, Notice) and "frozen plan" in e.message for e in events)
    seen_by_model = json.loads(chat.messages[-2]["content"])
    assert seen_by_model["plan_check"]["analyses"][0]["label"] == "exploratory"

    loaded = load_session(store.path)
    assert loaded.prereg is not None and loaded.prereg.frozen is not None
    resumed = Conversation(backend, store=SessionStore(store.path))
    assert resumed.prereg.frozen is not None and resumed.prereg.frozen.freeze is not None
    assert resumed.prereg.frozen.freeze.content_hash == frozen_hash


def test_write_prereg_errors_go_back_to_the_model(llm: respx.Route, backend: OpenAIBackend, tmp_path: Path) -> None:
    llm.side_effect = [
        sse(tool_call_stream(("c1", "write_prereg", {**WRITE, "analysis_request": "{broken"}))),
        sse(text_stream("Let me fix that.")),
    ]
    chat = conversation(backend, SessionStore(tmp_path / "s.jsonl"))
    events: list[Event] = []
    done = chat.send("Freeze it.", events.append)
    finished = next(e for e in events if isinstance(e, ToolFinished))
    assert finished.error is not None and finished.error["code"] == "invalid_json"
    assert json.loads(chat.messages[-2]["content"])["error"]["code"] == "invalid_json"
    assert chat.prereg.frozen is None and done.complete


def test_a_conversation_without_a_frozen_plan_leaves_results_alone(
    llm: respx.Route, backend: OpenAIBackend, tmp_path: Path
) -> None:
    llm.side_effect = [sse(tool_call_stream(("c1", "ab_test", AB_TEST))), sse(text_stream("Done."))]
    chat = conversation(backend, SessionStore(tmp_path / "s.jsonl"))
    events: list[Event] = []
    chat.send("Analyse.", events.append)
    finished = next(e for e in events if isinstance(e, ToolFinished))
    assert finished.result is not None and "plan_check" not in finished.result


def test_a_frozen_plan_edited_in_the_session_file_is_not_restored(tmp_path: Path) -> None:
    from assistant.prereg.tool import PreregState
    from tests.assistant.test_prereg_golden import example

    store = SessionStore(tmp_path / "s.jsonl")
    store.prereg(PreregState(frozen=example("ai_feature_ab")))
    assert load_session(store.path).prereg is not None
    text = store.path.read_text(encoding="utf-8").replace('"alpha": 0.05', '"alpha": 0.1')
    store.path.write_text(text, encoding="utf-8")
    loaded = load_session(store.path)
    assert loaded.prereg is None and any("pre-registration" in w for w in loaded.warnings)
