"""Strict OpenAI function schemas for the registered tools.

Lives in ``assistant`` because it needs ``openai``, which ``tools`` never imports.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterable
from typing import Any

from openai import pydantic_function_tool
from pydantic import BaseModel

from tools.registry import TOOLS, ToolSpec, get_tool

__all__ = ["all_tool_schemas", "scoping_schema", "tool_schema", "update_brief_schema", "write_prereg_schema"]


def update_brief_schema() -> dict[str, Any]:
    """The conversation's own tool that fills the brief (not a statistics tool, so not in the registry)."""
    from assistant.agent.brief import UpdateBriefRequest

    paragraphs = inspect.cleandoc(UpdateBriefRequest.__doc__ or "").split("\n\n")
    return _strict("update_brief", UpdateBriefRequest, "\n\n".join(" ".join(p.split()) for p in paragraphs))


def write_prereg_schema() -> dict[str, Any]:
    """The conversation's tool that drafts and freezes the pre-registration (conversation state, like update_brief)."""
    from assistant.prereg.tool import WritePreregRequest

    paragraphs = inspect.cleandoc(WritePreregRequest.__doc__ or "").split("\n\n")
    return _strict("write_prereg", WritePreregRequest, "\n\n".join(" ".join(p.split()) for p in paragraphs))


def tool_schema(spec: ToolSpec | str) -> dict[str, Any]:
    """The strict Chat Completions tool definition of one tool (a spec or a registered name).

    Built by ``openai.pydantic_function_tool``, then trimmed of what costs tokens and tells the model nothing:
    the ``title`` of every node, the copy of the tool description inside ``parameters``, and the sanity bounds of
    numbers (|bound| >= :data:`SANITY_BOUND`, such as a count below 10^12): the request model still enforces them,
    and a call beyond one gets the validation error back, while a meaningful bound (alpha <= 0.5) stays visible.
    """
    if isinstance(spec, str):
        spec = get_tool(spec)
    return _strict(spec.name, spec.request, spec.description)


def scoping_schema(spec: ToolSpec | str, offered: Iterable[str]) -> dict[str, Any]:
    """The tool's schema for a request offering ``offered``: without the ``later_fields`` whose design tools are
    not offered yet (power's ``design`` before a DiD, RDD or synthetic control is in the conversation)."""
    if isinstance(spec, str):
        spec = get_tool(spec)
    names = set(offered)
    later = [field for field, tools in spec.later_fields.items() if not names & set(tools)]
    schema = tool_schema(spec)
    if not later:
        return schema
    function = {**schema["function"]}
    parameters = {**function["parameters"]}
    parameters["properties"] = {k: v for k, v in parameters["properties"].items() if k not in later}
    parameters["required"] = [k for k in parameters.get("required", []) if k not in later]
    parameters = _without_unused_definitions(parameters)
    function["parameters"] = parameters
    return {**schema, "function": function}


def _without_unused_definitions(parameters: dict[str, Any]) -> dict[str, Any]:
    """The schema without the ``$defs`` no property refers to any more (directly or through another definition)."""
    definitions = parameters.get("$defs")
    if not definitions:
        return parameters
    used: set[str] = set()
    pending = [json.dumps(parameters["properties"])]
    while pending:
        for name in re.findall(r'"#/\$defs/([^"]+)"', pending.pop()):
            if name not in used and name in definitions:
                used.add(name)
                pending.append(json.dumps(definitions[name]))
    kept = {name: definitions[name] for name in definitions if name in used}
    result = {k: v for k, v in parameters.items() if k != "$defs"}
    return {**result, "$defs": kept} if kept else result


def _strict(name: str, model: type[BaseModel], description: str) -> dict[str, Any]:
    built = pydantic_function_tool(model, name=name, description=description)
    function: dict[str, Any] = {**built["function"]}
    parameters: dict[str, Any] = _without_titles(function["parameters"])
    parameters.pop("description", None)
    function["parameters"] = parameters
    return {"type": built["type"], "function": function}


#: Number bounds at least this large (in absolute value) are sanity limits, not guidance: not shown to the model.
SANITY_BOUND = 1e9


def _without_titles(node: Any) -> Any:
    """A copy of a JSON schema without ``title`` keywords (field names called "title" are kept) and without the
    sanity bounds of numbers (see :func:`tool_schema`)."""
    if isinstance(node, list):
        return [_without_titles(item) for item in node]
    if not isinstance(node, dict):
        return node
    copy: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in ("maximum", "minimum") and isinstance(value, int | float) and abs(value) >= SANITY_BOUND:
            continue
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            copy[key] = {name: _without_titles(sub) for name, sub in value.items()}
        else:
            copy[key] = _without_titles(value)
    return copy


def all_tool_schemas() -> list[dict[str, Any]]:
    """Every registered tool's strict definition, in registry order."""
    return [tool_schema(spec) for spec in TOOLS]
