"""Dataset and column names: safe display, the ``NAME=PATH`` form of an attached file, and the noun a column's name
is about (to match it to the unit a user names: "users" -> ``user_id``, "whole workspaces" -> ``Workspace``)."""

from __future__ import annotations

import bisect
import itertools
import os
import re
import unicodedata
from collections.abc import Callable

from tools.errors import ToolError

__all__ = [
    "KEY_WORDS",
    "NAME_RE",
    "NAME_RULE",
    "display_name",
    "display_path",
    "head_word",
    "invalid_name",
    "parse_data_argument",
    "quote_name",
    "singular",
]

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


_BIDI = frozenset([*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C])


_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def display_name(column: str, limit: int = 60) -> str:
    """A column name made safe to show: control, bidi and line-breaking characters escaped, then truncated.

    Newlines, carriage returns and tabs become ``\\n``, ``\\r``, ``\\t``; other control characters (so an
    ANSI escape sequence loses its ESC), lone surrogates, line/paragraph separators, the BOM and the bidi
    controls U+202A-U+202E, U+2066-U+2069 become ``\\uXXXX``. Past ``limit`` characters the name is cut
    (never inside an escape) and ends in ``…``. Markup such as ``[bold]`` stays as text: renderers must
    not parse markup. Lookups always use the original name.
    """
    parts: list[str] = []
    for ch in str(column):
        if ch in _NAMED_ESCAPES:
            parts.append(_NAMED_ESCAPES[ch])
        elif ord(ch) in _BIDI or ch == "\ufeff" or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
            parts.append(f"\\u{ord(ch):04x}")
        else:
            parts.append(ch)
    ends = list(itertools.accumulate(map(len, parts)))
    if not ends or ends[-1] <= limit:
        return "".join(parts)
    return "".join(parts[: bisect.bisect_right(ends, limit - 1)]) + "…"


def display_path(path: str | os.PathLike[str], limit: int = 120) -> str:
    """A path made safe to show as :func:`display_name` does, but cut at the start so the file name stays."""
    text = display_name(os.fspath(path), limit=len(os.fspath(path)) * 6 + 1)
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def quote_name(name: str) -> str:
    return f"'{display_name(name)}'"


#: What a dataset name may hold, said once for every error about one.
NAME_RULE = "letters, digits and underscores, not starting with a digit (e.g. sales_2024)"


def invalid_name(name: str) -> ToolError:
    """``invalid_dataset_name`` for ``name``, saying what a name may hold."""
    return ToolError(
        "invalid_dataset_name",
        f"'{display_name(name)}' cannot name a dataset: a name holds only {NAME_RULE}.",
        "Rename it, e.g. --data sales_2024=PATH on the command line or /load PATH sales_2024 in the app.",
    )


def parse_data_argument(text: str, exists: Callable[[str], bool] = os.path.exists) -> tuple[str | None, str]:
    """Split ``NAME=PATH`` into ``(NAME, PATH)``; text without a ``NAME=`` prefix is all path.

    A prefix that is not a valid name still counts as one when the text after ``=`` is an existing file and the
    whole text is not (``a b=ok.csv``, ``../evil=ok.csv``), so that attaching it says the name is invalid rather
    than that ``a b=ok.csv`` does not exist; a path that merely contains ``=`` (``runs/a=b/x.csv``) stays a path.
    """
    name, sep, path = text.partition("=")
    if sep and path and NAME_RE.fullmatch(name):
        return name, path
    if sep and name and path and not exists(text) and exists(path):
        return name, path
    return None, text


#: Words of a column name that say it identifies something rather than what ("workspace_id", "Team Name").
KEY_WORDS = frozenset({"id", "uuid", "key", "name", "code", "number", "num", "no"})


def singular(word: str) -> str:
    """A lower-case word's singular, roughly: "workspaces" -> "workspace", "companies" -> "company", "branches" ->
    "branch"; enough to match a unit's words to a column's."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") and not word.endswith("ss") and len(word) > 3 else word


def head_word(column: str) -> str | None:
    """The noun a column's name is about, in the singular: its last word besides :data:`KEY_WORDS` ("user_id" ->
    "user", "Workspace" -> "workspace", "WorkspaceName" -> "workspace"; "user_segment" -> "segment"), or None."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", column)
    words = [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w and w not in KEY_WORDS]
    return singular(words[-1]) if words else None
