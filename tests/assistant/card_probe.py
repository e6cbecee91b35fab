"""A finished tool card in the real app, at a given terminal size with the side panel open or folded: the rows its
body shows, as the terminal draws them (the figure tests check that the card's plot lines fit unwrapped)."""

from __future__ import annotations

from tools.results import ToolResult

__all__ = ["NARROW_CARD", "assert_plot_unwrapped", "card_rows"]

#: The narrowest card body: 80 columns with the side panel open.
NARROW_CARD = 41


async def card_rows(
    result: ToolResult, tool_name: str, size: tuple[int, int], panel_open: bool
) -> tuple[int, list[str]]:
    """The width of the card's body and the rows it shows (right-stripped) for ``result`` in an expanded card."""
    from textual.widgets import Static

    from assistant.tui.app import WhyscopeApp
    from assistant.tui.widgets.tool_card import ToolCard
    from tests.assistant.test_app_issue18 import Silent
    from tests.waiting import wait_for

    app = WhyscopeApp(Silent())
    async with app.run_test(size=size) as pilot:
        side = app.query_one("#side")
        if panel_open:
            await pilot.press("f2")
            await wait_for(pilot, lambda: bool(side.display) and side.region.width > 0, "F2 to open the side panel")
        card = ToolCard("probe", tool_name, "{}")
        await app.query_one("#chat").mount(card)
        card.finish(result)
        card.collapsed = False
        body = card.query_one(".tool-inputs", Static)
        await wait_for(pilot, lambda: body.content_region.width > 0, "the card's body laid out")
        shown = [strip.text.rstrip() for strip in body.render_lines(body.content_region.reset_offset)]
        return body.content_region.width, shown


async def assert_plot_unwrapped(result: ToolResult, tool_name: str, size: tuple[int, int], panel_open: bool) -> None:
    """Every line of the card's plot shows on one row of the real app's card, none wrapped, and the body is as wide
    as the layout promises (41 columns with the side panel open at 80, 70 with it folded)."""
    from assistant.tui.widgets.plot import plot_result

    width, shown = await card_rows(result, tool_name, size, panel_open)
    assert width >= (NARROW_CARD if panel_open else 70)
    plot = plot_result(result)
    assert shown[: len(plot)] == [line.rstrip() for line in plot]  # every plot line on one row, none wrapped
