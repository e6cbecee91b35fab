"""A seeded fuzz of ``tools.registry.dispatch`` over every registered tool: it never raises, never reports a bug
(``internal_error``), and every result it returns holds finite numbers only.

Requests come from each tool's own JSON schema (see ``fuzz_strategies``), so a tool added to ``TOOLS`` is fuzzed
without a change here. The default run is bounded for CI (about a minute); ``WHYSCOPE_FUZZ_EXAMPLES=1500``
explores six times as much per tool, for a local run before a release (about six minutes).
"""

from __future__ import annotations

import math
import os
from typing import Any

import pytest
from fuzz_strategies import RequestStrategies, build_catalog
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from tools.data import Catalog
from tools.errors import ToolError
from tools.registry import dispatch, tool_names
from tools.results import ToolResult

#: Examples per tool: 250 in CI (the whole file runs in about a minute on two cores), more when asked for.
EXAMPLES = int(os.environ.get("WHYSCOPE_FUZZ_EXAMPLES", "250"))

#: Codes that mean whyscope, not the input, is at fault.
BUG_CODES = {"internal_error"}
#: These tools bound their inputs and check what bounds cannot (issue 16, item 7): no input may reach the
#: registry's last-resort codes for a crash or a non-finite result either.
STRICT_TOOLS = {"power", "ab_test", "recommend_method"}
STRICT_CODES = BUG_CODES | {"numerical_failure", "too_deep", "out_of_memory"}

#: Hits in tools owned elsewhere (tools/did, propensity, rdd, refute), reported in /tmp/brief/fuzz_hits.md and
#: tolerated here until they are fixed: (tool, text in the error message). THE LEAD REMOVES THIS LIST.
KNOWN_HITS_OWNED_ELSEWHERE: list[tuple[str, str]] = []

REQUESTS = RequestStrategies()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    built: Catalog = build_catalog(tmp_path_factory.mktemp("fuzz"))
    return built


def non_finite(value: Any, path: str = "") -> list[str]:
    """Paths of every NaN or infinite float in a dumped result."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [path or "(result)"]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in non_finite(item, f"{path}.{key}")]
    if isinstance(value, list | tuple):
        return [p for i, item in enumerate(value) for p in non_finite(item, f"{path}[{i}]")]
    return []


def known(tool: str, error: ToolError) -> bool:
    return any(tool == name and text in error.message for name, text in KNOWN_HITS_OWNED_ELSEWHERE)


def check_dispatch(tool: str, arguments: Any, catalog: Catalog) -> None:
    try:
        outcome = dispatch(tool, arguments, catalog)
    except Exception as exc:  # pragma: no cover - the failure this test exists to find
        pytest.fail(f"dispatch({tool!r}) raised {type(exc).__name__}: {exc}")
    event(f"{tool}: {outcome.code if isinstance(outcome, ToolError) else 'result'}")  # --hypothesis-show-statistics
    if isinstance(outcome, ToolError):
        assert outcome.code and outcome.message, outcome
        forbidden = STRICT_CODES if tool in STRICT_TOOLS else BUG_CODES
        if outcome.code in forbidden and not known(tool, outcome):
            pytest.fail(f"{tool}: {outcome!r}")
        return
    assert isinstance(outcome, ToolResult)
    dumped = outcome.model_dump()
    assert not non_finite(dumped), f"{tool}: non-finite numbers at {non_finite(dumped)}"


def _fuzz(tool: str, catalog: Catalog, data: st.DataObject) -> None:
    check_dispatch(tool, data.draw(REQUESTS.arguments(tool), label="arguments"), catalog)


#: Derandomized (the same examples every run, no database); no shrinking: a failing example is printed as drawn
#: (readable: one request), and shrinking one through a statistics tool can take minutes.
FAST = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.parametrize("tool", tool_names())
@FAST
@given(data=st.data())
def test_dispatch_survives_generated_requests(tool: str, catalog: Catalog, data: st.DataObject) -> None:
    _fuzz(tool, catalog, data)
