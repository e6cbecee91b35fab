"""A tool call in the chat: name, key inputs, headline, status; expands to the full result, checks and warnings."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.widgets import Collapsible, Static

from assistant.tui.widgets.messages import safe
from assistant.tui.widgets.plot import plot_result

PROGRESS_WIDTH = 20


class ToolCard(Collapsible):
    """One tool call; its title shows the state, its body the details once it finished.

    ``outcome`` is the typed result or error (a mapping for the conversation-state tools); ``result`` and ``error``
    are their JSON forms. The plot is the figure the result's class declares; the details list what the model reads
    (a result's legacy field names are left out)."""

    def __init__(self, call_id: str, name: str, arguments: str) -> None:
        details = Static(Text(f"inputs: {safe(_short(arguments))}"), classes="tool-inputs")
        super().__init__(details, title=f"⚙ {name} — running…", collapsed=True, classes="tool-card")
        self.call_id = call_id
        self.tool_name = name
        self.arguments = arguments
        self.outcome: Any = None
        self.result: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None

    def progress(self, done: int, total: int, label: str) -> None:
        """Show how far a long tool (refute) has got: a bar, the count and the current step."""
        if self.outcome is not None or total <= 0:
            return
        filled = round(PROGRESS_WIDTH * min(done, total) / total)
        bar = "█" * filled + "░" * (PROGRESS_WIDTH - filled)
        self.title = f"⚙ {self.tool_name} — {bar} {done}/{total} {safe(label)}"

    def finish(self, outcome: Any, plan_check: Any = None) -> None:
        """Show the outcome of the run: a ``ToolResult``, a ``ToolError``, or a mapping (conversation-state tools),
        with the deviations from a frozen plan when the run was checked against one."""
        from assistant.agent.condense import model_view
        from assistant.agent.events import full_result
        from assistant.prereg.tool import attach_report
        from tools.errors import ToolError
        from tools.results import ToolResult

        self.outcome = outcome
        if isinstance(outcome, ToolError):
            self.error = outcome.to_dict()["error"]
            self.title = f"✗ {self.tool_name} — {safe(outcome.message or 'error')}"
            self.add_class("failed")
            self.query_one(".tool-inputs", Static).update(Text(f"hint: {safe(outcome.hint)}"))
            return
        self.result = full_result(outcome, plan_check)
        shown = model_view(outcome) if isinstance(outcome, ToolResult) else dict(outcome)
        if plan_check is not None:
            shown = attach_report(shown, plan_check)
        headline = shown.get("summary") or ("brief updated" if self.tool_name == "update_brief" else "done")
        self.title = f"✓ {self.tool_name} — {safe(str(headline))}"
        self.add_class("done")
        lines = [*(plot_result(outcome) if isinstance(outcome, ToolResult) else []), *details(shown)]
        self.query_one(".tool-inputs", Static).update(Text("\n".join(lines)))


def _short(arguments: str, limit: int = 300) -> str:
    """The inputs as the card shows them: the JSON object without its nulls, or the raw text when it is not one
    (too long, nested too deeply, not JSON: the model's arguments are untrusted)."""
    from tools.jsontext import loads

    try:
        value = loads(arguments or "{}", max_chars=100 * limit)
        shown = json.dumps({k: v for k, v in value.items() if v is not None}, ensure_ascii=False)
    except (ValueError, AttributeError):
        shown = arguments
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def details(result: dict[str, Any]) -> list[str]:
    """The card's body for a result as the model reads it: the headline ``effect`` (every estimator has one), the
    checks with their status (refute's with their verdict), warnings, the method and the single values."""
    lines = []
    if isinstance(effect := result.get("effect"), dict):
        lines.append(effect_line(effect))
    for check in result.get("checks", []):
        if "verdict" in check:  # refute: a verdict, what it means for the decision, then the numbers
            text = f"{check.get('explanation')} {check.get('detail')}"
            lines.append(f"[{check.get('verdict')}] {check.get('name')}: {text}")
        else:
            lines.append(f"[{check.get('status')}] {check.get('name')}: {check.get('detail')}")
    lines += adjustment_lines(result) + simulation_lines(result)
    lines += [f"warning: {w}" for w in result.get("warnings", [])]
    if result.get("method"):
        lines.append(f"method: {result['method']}")
    scalars = {k: v for k, v in result.items() if isinstance(v, int | float | str) and k not in ("summary", "method")}
    lines += [f"{k}: {v}" for k, v in scalars.items()]
    return [safe(line) for line in lines]


def adjustment_lines(result: dict[str, Any]) -> list[str]:
    """ab_test's adjusted comparisons: the adjustment and, beside it, the unadjusted difference on the same rows."""
    lines = []
    for comparison in result.get("comparisons") or []:
        adjustment = comparison.get("adjustment") if isinstance(comparison, dict) else None
        if not isinstance(adjustment, dict) or not isinstance(adjustment.get("unadjusted"), dict):
            continue
        unadjusted = effect_line(adjustment["unadjusted"]).removeprefix("effect: ")
        lines.append(
            f"{comparison.get('metric')} ({comparison.get('arm')}): {adjustment.get('description')}; "
            f"unadjusted {unadjusted}"
        )
    return lines


def simulation_lines(result: dict[str, Any]) -> list[str]:
    """A simulated power (a quasi-experiment's): the power with its Monte Carlo error, the simulations and seed,
    the closed form beside it, and what the simulation assumes."""
    quasi = result.get("quasi")
    if not isinstance(quasi, dict) or not isinstance(result.get("power"), int | float):
        return []
    closed = quasi.get("analytic_power")
    lines = [
        f"simulated power {result['power']:.3g} ± {quasi.get('power_mc_se', 0):.2g} "
        f"({quasi.get('simulations', 0):,} simulations, seed {quasi.get('seed')})"
        + (f"; closed form {closed:.3g}" if isinstance(closed, int | float) else "")
    ]
    return lines + [f"assumes: {text}" for text in quasi.get("assumptions") or []]


def effect_line(effect: dict[str, Any]) -> str:
    """``effect: 0.0412 (95% CI 0.0101 to 0.0723), p = 0.0095`` — the tool's own numbers, shortened for the card."""
    level = 100 * (1 - float(effect.get("alpha", 0.05)))
    return (
        f"effect: {effect['estimate']:.4g} ({level:g}% CI {effect['ci_lower']:.4g} to {effect['ci_upper']:.4g}), "
        f"p = {effect['p_value']:.2g}"
    )
