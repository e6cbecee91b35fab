"""/prereg in the app: show the draft, answer its open items, freeze it (asking first when items are open), write
it (never over an existing file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from assistant.agent.brief import Brief
from assistant.agent.session import SessionStore, load_session
from assistant.tui.app import WhyscopeApp
from assistant.tui.widgets.messages import NoticeMessage
from tests.assistant.test_app import Scripted, last_notice, send
from tests.assistant.test_prereg_golden import ROOT

BRIEF = Brief.model_validate(
    json.loads((ROOT / "examples" / "briefs" / "ai_feature_ab.json").read_text(encoding="utf-8"))["brief"]
)


async def command(pilot: Pilot[Any], app: WhyscopeApp, text: str) -> str:
    """Send a slash command and return the note it answers with (``send`` waits for it): a notice, or the
    document rendered as Markdown."""
    await send(pilot, app, text)
    notes = list(app.query("#chat > .notice"))  # NoticeMessage, or the Markdown note the document is shown in
    if not notes or isinstance(notes[-1], NoticeMessage):
        return last_notice(app)
    return str(getattr(notes[-1], "text", ""))


async def test_prereg_shows_freezes_and_writes(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "session.jsonl")
    app = WhyscopeApp(Scripted([]), brief=BRIEF, store=store)
    async with app.run_test() as pilot:
        shown = await command(pilot, app, "/prereg")
        assert "Draft: not frozen" in shown and "8 of 21 items complete (13 missing)" in shown
        target = tmp_path / "plan.html"
        written = await command(pilot, app, f"/prereg {target}")
        assert f"written to {target} (html, draft" in written and target.read_text(encoding="utf-8").startswith(
            "<!DOCTYPE html>"
        )
        again = await command(pilot, app, f"/prereg {target}")
        assert "exists" in again
        refused = await command(pilot, app, "/prereg freeze")  # 13 items open: it asks first
        assert refused.startswith("Not frozen: 13 items are still open.") and "/prereg freeze anyway" in refused
        assert app.session.prereg.frozen is None
        answered = await command(pilot, app, "/prereg answer data_status Nothing collected yet.")
        assert answered.startswith("Recorded for 'Existing data' (complete). 12 items still open")
        frozen = await command(pilot, app, "/prereg freeze anyway")
        assert frozen.startswith("Plan frozen at ") and "sha256:" in frozen and "with 12 items open" in frozen
        assert app.session.prereg.frozen is not None
        json_target = tmp_path / "plan.json"
        assert "frozen plan" in await command(pilot, app, f"/prereg {json_target}")
        assert json.loads(json_target.read_text(encoding="utf-8"))["freeze"]["content_hash"].startswith("sha256:")
    loaded = load_session(store.path)
    assert loaded.prereg is not None and loaded.prereg.frozen is not None
    stamp = loaded.prereg.frozen.freeze
    assert stamp is not None and len(stamp.missing_items) + len(stamp.unconfirmed_items) == 12
    assert loaded.prereg.frozen.prereg.item("data_status").value == "Nothing collected yet."
