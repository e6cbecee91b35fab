"""Every wait an app test does: on a condition, bounded, and failing with what never happened.

A test that sleeps a fixed interval asserts that the machine is fast enough; one that polls and then carries on
when its loop runs out fails later, on an assertion that does not say it was still waiting. These helpers poll a
condition while the app runs (the pattern of tconbeer/harlequin's ``tests/waiting.py``): a loaded runner makes a
test slower, never red, and a condition that never comes true fails with its description after ``TIMEOUT``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from assistant.tui.app import WhyscopeApp

T = TypeVar("T")

TIMEOUT = 30.0
"""Seconds any one wait may take before the test has failed: a passing test never waits this out, and it leaves a
loaded two-core runner time for the slowest thing an app test waits on (a refutation battery)."""

POLL_INTERVAL = 0.02
"""Seconds between two looks at the condition. Tools and model turns run on worker threads, which no amount of
pumping the app's messages brings closer, so each look hands the loop back for this long."""


async def wait_for(
    pilot: Pilot[Any],
    condition: Callable[[], object],
    description: str,
    *,
    timeout: float = TIMEOUT,
    state: Callable[[], object] | None = None,
) -> None:
    """Run the app until ``condition()`` is true, or fail with ``description`` (and ``state()``, what was seen)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            seen = "" if state is None else f"; saw {state()!r}"
            raise AssertionError(f"timed out after {timeout:g}s waiting for {description}{seen}")
        await pilot.pause(POLL_INTERVAL)


async def wait_for_value(
    pilot: Pilot[Any],
    get: Callable[[], T | None],
    description: str,
    *,
    timeout: float = TIMEOUT,
) -> T:
    """The value ``get()`` returns once it is not None, running the app until it is."""
    value: T | None = None

    def arrived() -> bool:
        nonlocal value
        value = get()
        return value is not None

    await wait_for(pilot, arrived, description, timeout=timeout)
    assert value is not None
    return value


def chat_log(app: WhyscopeApp) -> list[str]:
    """The widgets in the chat, by class name: what a failed wait reports it saw."""
    return [type(widget).__name__ for widget in app.query_one("#chat").children]


async def submit(pilot: Pilot[Any], app: WhyscopeApp, what: str) -> None:
    """Press Enter in the chat input and wait until the app has answered it.

    Answered means: the app is not busy, and the last widget the submission added to the chat is not the user's
    own message, so a model turn has ended (its reply or notice follows the message) and a slash command has shown
    its output (a notice, or the card of a tool it started). A message refused before it is sent (too long)
    leaves only its notice.
    """
    chat = app.query_one("#chat")
    before = len(chat.children)

    def answered() -> bool:
        from assistant.tui.widgets.messages import UserMessage

        added = chat.children[before:]
        return bool(added) and not isinstance(added[-1], UserMessage) and not app.busy

    await pilot.press("enter")
    await wait_for(pilot, answered, f"the app to answer {what!r}", state=lambda: (app.busy, chat_log(app)))
