"""Brief files in, plan documents out: what ``whyscope prereg``, ``--plan`` and ``/prereg`` share.

Every problem becomes a ``ToolError`` (code, message, hint). Documents are written atomically and never over an
existing file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from assistant.agent.brief import Brief
from assistant.prereg.assemble import assemble
from assistant.prereg.freeze import Clock, freeze, verify
from assistant.prereg.models import PlanDocument, PreregSource
from assistant.prereg.render import FORMATS, Format
from tools.errors import ToolError
from tools.power.models import PowerResult

__all__ = ["build_document", "format_for", "load_plan", "load_source", "write_new"]

MAX_BYTES = 5_000_000


def _read(path: Path, what: str) -> object:
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ToolError(
                "file_too_large", f"The {what} '{path}' is over {MAX_BYTES:,} bytes.", "Give the JSON file."
            )
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ToolError("file_not_found", f"The {what} '{path}' does not exist.", "Check the path.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ToolError(
            "unreadable_file", f"The {what} '{path}' could not be read: {exc}.", "Save it as UTF-8 JSON."
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ToolError("invalid_json", f"The {what} '{path}' is not valid JSON: {exc}.", "Fix the JSON.") from None


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
    if not verify(document):
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
    """Write ``text`` to a new file atomically (temp file + hard link); never over an existing file."""
    target = Path(path).expanduser()
    if target.exists():
        raise ToolError("file_exists", f"{target} exists; it was not overwritten.", "Choose another name.")
    temporary: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=target.parent, prefix=f".{target.name}.", delete=False
        ) as handle:
            temporary = Path(handle.name)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, target)  # fails if the target appeared meanwhile
    except FileExistsError:
        raise ToolError("file_exists", f"{target} exists; it was not overwritten.", "Choose another name.") from None
    except OSError as exc:
        raise ToolError(
            "unwritable", f"Cannot write {target}: {exc.strerror or exc}.", "Choose a writable folder."
        ) from None
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
    return target
