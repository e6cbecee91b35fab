"""Strict OpenAI function schemas for the registered tools.

Lives in ``assistant`` because it needs ``openai``, which ``tools`` never imports.
"""

from __future__ import annotations

from typing import Any

from openai import pydantic_function_tool

from tools.registry import TOOLS, ToolSpec, get_tool

__all__ = ["all_tool_schemas", "tool_schema"]


def tool_schema(spec: ToolSpec | str) -> dict[str, Any]:
    """The strict Chat Completions tool definition of one tool (a spec or a registered name)."""
    if isinstance(spec, str):
        spec = get_tool(spec)
    return dict(pydantic_function_tool(spec.request, name=spec.name, description=spec.description))


def all_tool_schemas() -> list[dict[str, Any]]:
    """Every registered tool's strict definition, in registry order."""
    return [tool_schema(spec) for spec in TOOLS]
