"""Every registered tool's strict function schema, pinned.

A change to a request model changes what the model reads; it must be deliberate. Regenerate the pinned files
after such a change with:  WHYSCOPE_UPDATE_SCHEMAS=1 python3 dev.py test tests/assistant/test_schemas.py
and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from assistant.schemas import all_tool_schemas, tool_schema
from tools.registry import TOOLS, tool_names

PINNED = Path(__file__).resolve().parents[1] / "fixtures" / "schemas"


def _objects(schema: Any) -> list[dict[str, Any]]:
    """Every JSON-schema object node (with properties) inside ``schema``."""
    found: list[dict[str, Any]] = []
    if isinstance(schema, dict):
        if schema.get("type") == "object" and "properties" in schema:
            found.append(schema)
        for value in schema.values():
            found.extend(_objects(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(_objects(value))
    return found


@pytest.mark.parametrize("name", tool_names())
def test_schema_is_strict_and_documented(name: str) -> None:
    schema = tool_schema(name)
    function = schema["function"]
    assert schema["type"] == "function"
    assert function["name"] == name
    assert function["strict"] is True
    assert function["description"].strip()
    for node in _objects(function["parameters"]):
        assert node["additionalProperties"] is False
        assert sorted(node["required"]) == sorted(node["properties"])  # strict: every field is required
        for field, spec in node["properties"].items():
            assert spec.get("description"), f"{name}.{field} has no description"


@pytest.mark.parametrize("name", tool_names())
def test_schema_matches_pinned_file(name: str) -> None:
    current = json.dumps(tool_schema(name), indent=2, sort_keys=True) + "\n"
    pinned = PINNED / f"{name}.json"
    if os.environ.get("WHYSCOPE_UPDATE_SCHEMAS") == "1":
        pinned.parent.mkdir(parents=True, exist_ok=True)
        pinned.write_text(current, encoding="utf-8")
    assert pinned.exists(), f"no pinned schema for {name}; regenerate (see this module's docstring)"
    assert current == pinned.read_text(encoding="utf-8"), f"{name}'s schema changed; regenerate and review"


def test_every_pinned_schema_belongs_to_a_registered_tool() -> None:
    assert sorted(p.stem for p in PINNED.glob("*.json")) == sorted(tool_names())


def test_all_tool_schemas_follows_the_registry() -> None:
    assert [s["function"]["name"] for s in all_tool_schemas()] == [spec.name for spec in TOOLS]


def test_sanity_bounds_are_enforced_but_not_shown_and_meaningful_bounds_are_shown() -> None:
    from tools.errors import ToolError
    from tools.registry import dispatch

    recommend = tool_schema("recommend_method")["function"]["parameters"]["properties"]
    treated = recommend["treated_units"]["anyOf"][0]
    assert "maximum" not in treated and treated["minimum"] == 0  # 10^12: a sanity limit, not guidance
    refused = dispatch("recommend_method", {"treated_units": 10**13})
    assert isinstance(refused, ToolError) and "treated_units" in refused.message
    alpha = tool_schema("ab_test")["function"]["parameters"]["properties"]["alpha"]
    assert alpha["maximum"] == 0.5 and alpha["minimum"] == 1e-10  # what the model should know stays
