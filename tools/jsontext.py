"""JSON read from untrusted text (a model's tool arguments, a session line, a file a user names) within bounds.

Python's ``json`` recurses once per nesting level, so 5,000 nested brackets raise ``RecursionError`` — not a
``ValueError`` — from deep inside whatever parsed them. :func:`loads` measures the nesting first (one linear scan
that skips string contents) and refuses text nested deeper than any request or record of ours, or longer than the
caller's limit, with a ``ValueError`` that says which; ``NaN``/``Infinity`` are refused as JSON itself does.
:func:`check_depth` applies the same bound to an object already in memory (a mapping handed to ``dispatch``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_DEPTH", "JsonTextError", "check_depth", "loads", "nesting_depth"]

#: Deeper than any tool request, session record or pre-registration (their deepest is under 10 levels).
MAX_DEPTH = 64

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class JsonTextError(ValueError):
    """The text is too long, nested too deeply, or not JSON; the message says which."""


def nesting_depth(text: str, *, stop_above: int | None = None) -> int:
    """The deepest bracket nesting in ``text``, brackets inside strings not counted (stops past ``stop_above``)."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    return deepest
        else:
            depth = max(depth - 1, 0)
    return deepest


def loads(text: str | bytes, *, max_chars: int | None = None, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that never recurses without bound and refuses ``NaN``/``Infinity``.

    Raises :class:`JsonTextError` (a ``ValueError``) for text longer than ``max_chars``, nested deeper than
    ``max_depth``, or not valid JSON."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonTextError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if max_chars is not None and len(text) > max_chars:
        raise JsonTextError(f"{len(text):,} characters, more than the {max_chars:,} allowed")
    if nesting_depth(text, stop_above=max_depth) > max_depth:
        raise JsonTextError(f"nested more than {max_depth} levels deep")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:  # pragma: no cover - the depth check above prevents it
        raise JsonTextError(f"nested more than {max_depth} levels deep") from None
    except JsonTextError:
        raise
    except ValueError as exc:
        raise JsonTextError(str(exc)) from None


def check_depth(value: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Raise :class:`JsonTextError` if a parsed value (dicts, lists, tuples) nests deeper than ``max_depth``.

    Iterative, so a pathologically deep object cannot exhaust the stack while being measured."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth + 1 > max_depth:
            raise JsonTextError(f"nested more than {max_depth} levels deep")
        stack.extend((child, depth + 1) for child in children)


def _reject_constant(token: str) -> float:
    raise JsonTextError(f"{token} is not a number JSON allows")
