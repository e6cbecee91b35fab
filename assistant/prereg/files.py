"""Brief files in, plan documents out: what ``whyscope prereg``, ``--plan`` and ``/prereg`` share.

Every problem becomes a ``ToolError`` (code, message, hint). Documents are written atomically and never over an
existing file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from assistant.agent.brief import Brief
from assistant.prereg.assemble import assemble
from assistant.prereg.freeze import Clock, freeze, verify
from assistant.prereg.models import PlanDocument, PreregSource
from assistant.prereg.render import FORMATS, Format
from assistant.writing import write_new as write_file
from tools.errors import ToolError
from tools.jsontext import JsonTextError, loads
from tools.power.models import PowerResult
from tools.readfile import MAX_TEXT_BYTES, read_text

__all__ = ["build_document", "format_for", "load_plan", "load_source", "write_new"]

MAX_BYTES = MAX_TEXT_BYTES


def _read(path: Path, what: str) -> object:
    """The JSON in a file the user named, read by the one bounded reader (a regular file within
    :data:`MAX_BYTES`, never a FIFO or a device) and parsed within bounds (no unbounded nesting)."""
    label = f"The {what} '{path}'"
    text = read_text(path, label, MAX_BYTES, hint="Save it as UTF-8 JSON.")
    try:
        return loads(text)
    except JsonTextError as exc:
        raise ToolError("invalid_json", f"{label} is not valid JSON: {exc}.", "Fix the JSON.") from None


def _invalid(exc: ValidationError, what: str, path: Path) -> ToolError:
    detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in exc.errors()[:8])
    return ToolError("invalid_file", f"The {what} '{path}' is not valid: {detail}.", "See examples/briefs/.")


def load_source(path: str | os.PathLike[str]) -> PreregSource:
    """A brief file: ``{"brief", "plan", "power" | "power_result"}``, or a bare brief as sessions store it."""
    file = Path(path).expanduser()
    payload = _read(file, "brief file")
    if not isinstance(payload, Mapping):
        raise ToolError("invalid_file", f"The brief file '{file}' must hold a JSON object.", "See examples/briefs/.")
    try:
        if "brief" not in payload and set(payload) <= set(Brief.model_fields):
            return PreregSource(brief=Brief.model_validate_json(json.dumps(payload)))
        source = PreregSource.model_validate_json(json.dumps(payload))
    except ValidationError as exc:
        raise _invalid(exc, "brief file", file) from None
    if source.power is not None and source.power_result is not None:
        raise ToolError(
            "invalid_file", f"The brief file '{file}' has both 'power' and 'power_result'.", "Keep one of them."
        )
    return source


def _power(source: PreregSource) -> PowerResult | None:
    if source.power_result is not None or source.power is None:
        return source.power_result
    from tools.registry import dispatch

    outcome = dispatch("power", source.power.model_dump(mode="json"))
    if isinstance(outcome, ToolError):
        raise ToolError(outcome.code, f"The brief file's power request failed: {outcome.message}", outcome.hint)
    assert isinstance(outcome, PowerResult)
    return outcome


def build_document(
    source: PreregSource, *, frozen: bool = True, clock: Clock | None = None, software: Mapping[str, str] | None = None
) -> PlanDocument:
    """The document of a brief file; frozen (hash and UTC time) unless ``frozen`` is False."""
    prereg = assemble(source.brief, source.plan, _power(source))
    if not frozen:
        return PlanDocument(prereg=prereg)
    kwargs: dict[str, object] = {}
    if clock is not None:
        kwargs["clock"] = clock
    return freeze(prereg, software=software, **kwargs)  # type: ignore[arg-type]


def load_plan(path: str | os.PathLike[str]) -> PlanDocument:
    """A frozen plan (the JSON rendering), checked against its content hash."""
    file = Path(path).expanduser()
    payload = _read(file, "plan file")
    try:
        document = PlanDocument.model_validate_json(json.dumps(payload))
    except ValidationError as exc:
        raise _invalid(exc, "plan file", file) from None
    if document.freeze is None:
        raise ToolError(
            "plan_not_frozen",
            f"The plan '{file}' is a draft (not frozen).",
            "Freeze it: whyscope prereg BRIEF.json --format json.",
        )
    stored = payload.get("prereg") if isinstance(payload, dict) else None
    if not verify(document, stored if isinstance(stored, dict) else None):
        raise ToolError(
            "plan_modified",
            f"The plan '{file}' was changed after it was frozen (its content no longer matches its hash).",
            "Use the file as frozen, or freeze a new version and say why the plan changed.",
        )
    return document


def format_for(path: str | os.PathLike[str], default: Format = "md") -> Format:
    suffix = Path(path).suffix.lower().lstrip(".")
    suffix = {"markdown": "md", "htm": "html"}.get(suffix, suffix)
    return suffix if suffix in FORMATS else default


def write_new(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to a new file by the one rule for files written for the user
    (:func:`assistant.writing.write_new`: never over a file or a link, in an existing folder, atomically)."""
    return write_file(path, lambda handle: handle.write(text.encode("utf-8")))
