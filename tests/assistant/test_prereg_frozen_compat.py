"""A plan frozen by an earlier whyscope still verifies after a tool's request gained a field: the hash is checked
on the content the file stored, not on the content re-serialised by today's models (which add the new field, empty).
A changed value still fails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assistant.prereg.files import load_plan
from assistant.prereg.freeze import content_hash
from tools.errors import ToolError

ROOT = Path(__file__).resolve().parents[2]
FROZEN = ROOT / "examples" / "prereg" / "ai_feature_ab.json"


def older_version(payload: dict[str, Any]) -> dict[str, Any]:
    """The same plan as a version before ab_test's request had the ``alpha`` field would have frozen it."""
    prereg = json.loads(json.dumps(payload["prereg"]))
    analysis = prereg["plan"]["analysis"]
    assert "alpha" in analysis
    del analysis["alpha"]
    freeze = {**payload["freeze"], "content_hash": content_hash(prereg)}
    return {**payload, "prereg": prereg, "freeze": freeze}


def test_a_plan_frozen_before_a_field_existed_still_loads(tmp_path: Path) -> None:
    payload = json.loads(FROZEN.read_text(encoding="utf-8"))
    path = tmp_path / "old.json"
    path.write_text(json.dumps(older_version(payload)), encoding="utf-8")
    document = load_plan(path)  # today's model adds "alpha": null to the analysis; the stored content verifies
    assert document.freeze is not None and document.prereg.plan.analysis is not None


def test_a_changed_value_in_a_frozen_plan_is_still_refused(tmp_path: Path) -> None:
    payload = older_version(json.loads(FROZEN.read_text(encoding="utf-8")))
    payload["prereg"]["plan"]["analysis"]["arm_column"] = "someone_else"
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    with pytest.raises(ToolError) as caught:
        load_plan(path)
    assert caught.value.code == "plan_modified"
