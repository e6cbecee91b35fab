"""The app's launch path when the session to resume is open in another whyscope (issue 16 item 2, RELIABILITY.md
F7): the window stays up and says which session, why and what to do; nothing is appended to the session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from assistant.agent.session import SessionStore, sessions_dir
from assistant.config import load_settings
from assistant.launch import prepare
from assistant.tui.app import WhyscopeApp
from assistant.tui.widgets.messages import NoticeMessage
from tests.waiting import wait_for

HOLD = (
    "import fcntl, sys, time\n"
    "handle = open(sys.argv[1], 'ab')\n"
    "fcntl.flock(handle.fileno(), fcntl.LOCK_EX)\n"
    "print('locked', flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.mark.skipif(sys.platform == "win32", reason="advisory locks are POSIX")
async def test_resuming_a_session_open_elsewhere_says_so_in_the_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHYSCOPE_HOME", str(tmp_path))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    store = SessionStore(sessions_dir() / "open.jsonl")
    store.message({"role": "user", "content": "hello"})
    store.close()
    before = store.path.read_bytes()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(store.path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        app = WhyscopeApp(launcher=lambda say: prepare(load_settings(offline=True), [], True, say, with_example=True))
        async with app.run_test() as pilot:
            await wait_for(pilot, lambda: bool(app.query(NoticeMessage)), "a notice saying why the app cannot start")
            shown = str(app.query(NoticeMessage).last().render())
            assert "The session open.jsonl is open in another whyscope. Close that one first" in shown
            assert "Traceback" not in shown and app.query_one("#chat-input").disabled
        assert store.path.read_bytes() == before
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
