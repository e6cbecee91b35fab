"""Reading the app's tool commands: ``/power key=value …`` and ``/run TOOL {json}`` (pure text parsing; the
app runs what they ask through the conversation)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

__all__ = ["LOAD_ENCODING_OPTION", "LOAD_USAGE", "LoadCommand", "load_arguments", "tool_request"]

#: The longest request ``/run`` reads (every real request is a few hundred characters).
MAX_JSON_CHARS = 100_000

LOAD_USAGE = "/load PATH [NAME] [encoding=CODEC] [--replace]"
#: How ``/load`` takes a file's encoding (``{}`` marks the value), for the hint of a file that is not UTF-8.
LOAD_ENCODING_OPTION = "/load PATH encoding={}"


@dataclass(frozen=True)
class LoadCommand:
    """What ``/load`` asks: the file, the dataset name (None: from the file name), its text encoding (None:
    detected, UTF-8 unless a byte-order mark says otherwise) and whether it may replace a dataset already attached
    under that name (``--replace``; without it such a load is refused)."""

    path: str
    name: str | None = None
    encoding: str | None = None
    replace: bool = False


def load_arguments(rest: str) -> LoadCommand | str:
    """``/load PATH [NAME] [encoding=CODEC]`` read from its text ``rest`` (shell quoting for paths with spaces), or
    a message saying what is wrong with it."""
    try:
        parts = shlex.split(rest)
    except ValueError as exc:
        return f"Could not read the path: {exc}. Usage: {LOAD_USAGE}"
    encoding: str | None = None
    replace = False
    positional: list[str] = []
    for part in parts:
        key, sep, value = part.partition("=")
        if part.lower() in ("--replace", "-r"):
            replace = True
        elif sep and key.lower() == "encoding":
            if not value:
                return f"encoding= needs a codec, e.g. encoding=cp1252. Usage: {LOAD_USAGE}"
            encoding = value
        else:
            positional.append(part)
    if not positional or len(positional) > 2:
        return f"Usage: {LOAD_USAGE}"
    return LoadCommand(positional[0], positional[1] if len(positional) > 1 else None, encoding, replace)


def tool_request(name: str, rest: str) -> tuple[str, dict[str, Any]] | str:
    """``(tool, arguments)`` for the command ``name`` (``/power`` or ``/run``) with its text ``rest``, or a message
    saying what is wrong with it."""
    if name == "/run":
        from tools.jsontext import JsonTextError, loads  # here: the app's window comes before any of `tools`

        tool, _, payload = rest.partition(" ")
        if not tool:
            return "Usage: /run TOOL {json}"
        try:
            arguments = loads(payload or "{}", max_chars=MAX_JSON_CHARS)
        except JsonTextError as exc:
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
