"""Reading the app's tool commands: ``/power key=value …`` and ``/run TOOL {json}`` (pure text parsing; the
app runs what they ask through the conversation)."""

from __future__ import annotations

import json
import shlex
from typing import Any

__all__ = ["tool_request"]


def tool_request(name: str, rest: str) -> tuple[str, dict[str, Any]] | str:
    """``(tool, arguments)`` for the command ``name`` (``/power`` or ``/run``) with its text ``rest``, or a message
    saying what is wrong with it."""
    if name == "/run":
        tool, _, payload = rest.partition(" ")
        if not tool:
            return "Usage: /run TOOL {json}"
        try:
            arguments = json.loads(payload or "{}")
        except json.JSONDecodeError as exc:
            return f"That JSON is not valid: {exc}."
        return (tool, arguments) if isinstance(arguments, dict) else "The request must be a JSON object."
    arguments = {}
    try:
        parts = shlex.split(rest)
    except ValueError as exc:
        return f"Could not read the arguments: {exc}."
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep:
            return f"'{part}' is not key=value (e.g. baseline=0.1)."
        arguments[key] = _value(value)
    return "power", arguments


def _value(text: str) -> Any:
    """A /power value: a number when it reads as one, null for 'null'/'none', otherwise the text."""
    if text.lower() in ("null", "none"):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text
