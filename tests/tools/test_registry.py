"""The registry's dispatcher: untrusted arguments in, a result or a ToolError out, never an exception."""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

import pandas as pd
import pytest
from pydantic import Field

from tools import registry
from tools.errors import ToolError
from tools.power import PowerRequest, PowerResult
from tools.registry import TOOLS, ToolSpec, dispatch, get_tool, tool_names
from tools.results import Check, Estimate, ToolRequest, ToolResult

GOOD = {"metric": "mean", "baseline": 10.0, "std_dev": 2.0, "mde": 1.0}


def test_registry_lists_each_tool_once_with_documented_models() -> None:
    assert tool_names() == [spec.name for spec in TOOLS]
    assert len(set(tool_names())) == len(TOOLS)
    assert "power" in tool_names()
    for spec in TOOLS:
        assert spec.description, f"{spec.name}'s request model needs a docstring: it is what the model reads"
        assert spec.request.model_config.get("extra") == "forbid"
        assert spec.request.model_config.get("frozen") is True
        assert spec.result.model_config.get("extra") == "forbid"
        for model in (spec.request, spec.result):
            for name, field in model.model_fields.items():
                assert field.description, f"{model.__name__}.{name} has no description"


def test_dispatch_runs_a_tool_from_json_text_and_from_a_mapping() -> None:
    from_text = dispatch("power", json.dumps(GOOD))
    from_mapping = dispatch("power", GOOD)
    assert isinstance(from_text, PowerResult)
    assert from_text.n_per_arm == 64
    assert from_text.model_dump_json() == from_mapping.model_dump_json()


def test_unknown_tool_lists_valid_names_and_suggests_one() -> None:
    outcome = dispatch("pwoer", GOOD)
    assert isinstance(outcome, ToolError)
    assert outcome.code == "unknown_tool"
    assert "Did you mean 'power'?" in outcome.hint
    assert "power" in outcome.hint
    with pytest.raises(ToolError):
        get_tool("")


@pytest.mark.parametrize(
    "text",
    ['{"metric": "mean", "baseline": 1', "", "not json", '{"metric": "mean",}', '{"a": Infinity}'],
)
def test_invalid_json_is_a_tool_error(text: str) -> None:
    outcome = dispatch("power", text)
    assert isinstance(outcome, ToolError)
    assert outcome.code in {"invalid_json", "invalid_arguments"}  # "" parses as {} and then misses fields
    if text not in ("",):
        assert outcome.code == "invalid_json"


@pytest.mark.parametrize("text", ["[1, 2]", '"power"', "42", "null"])
def test_json_that_is_not_an_object(text: str) -> None:
    outcome = dispatch("power", text)
    assert isinstance(outcome, ToolError)
    assert outcome.code == "invalid_json"
    assert "JSON object" in outcome.message


def test_oversized_arguments_are_refused_unparsed() -> None:
    outcome = dispatch("power", '{"metric": "' + "x" * 200_000 + '"}')
    assert isinstance(outcome, ToolError)
    assert outcome.code == "invalid_json"
    assert "characters" in outcome.message


def test_schema_errors_name_every_field() -> None:
    outcome = dispatch("power", {"metric": "mean", "baselin": 10.0, "std_dev": "2", "mde": 1.0})
    assert isinstance(outcome, ToolError)
    assert outcome.code == "invalid_arguments"
    assert "unknown field 'baselin'" in outcome.message
    assert "missing required field 'baseline'" in outcome.message
    assert "'std_dev'" in outcome.message  # a string is not a number in strict mode
    assert "Did you mean 'baseline'?" in outcome.hint
    assert "Valid fields:" in outcome.hint


def test_integer_fields_refuse_floats_and_floats_accept_integers() -> None:
    outcome = dispatch("power", {**GOOD, "mde": None, "solve_for": "mde", "n_per_arm": 100.5})
    assert isinstance(outcome, ToolError)
    assert "'n_per_arm'" in outcome.message
    assert isinstance(dispatch("power", {"metric": "mean", "baseline": 10, "std_dev": 2, "mde": 1}), PowerResult)


# --- failure containment, with throwaway tools registered for the test ----------------------------------


class EchoRequest(ToolRequest):
    """A test tool."""

    value: float = Field(description="A number.")


class EchoResult(ToolResult):
    """A test result."""

    value: float = Field(description="The number.")
    warnings: list[str] = Field(default_factory=list, description="Warnings.")


class DataRequest(ToolRequest):
    """A test tool that reads a dataset."""

    dataset: str = Field(description="Dataset name.")


@pytest.fixture
def register(monkeypatch: pytest.MonkeyPatch) -> Any:
    def add(name: str, function: Any, request: type[ToolRequest] = EchoRequest) -> None:
        spec = ToolSpec(name=name, request=request, result=EchoResult, implementation=function)
        monkeypatch.setitem(registry._BY_NAME, name, spec)

    return add


def test_a_crashing_tool_becomes_an_internal_error(register: Any) -> None:
    def crash(request: EchoRequest, data: object) -> EchoResult:
        raise ZeroDivisionError("division by zero")

    register("crash", crash)
    outcome = dispatch("crash", {"value": 1.0})
    assert isinstance(outcome, ToolError)
    assert outcome.code == "internal_error"
    assert "ZeroDivisionError" in outcome.message
    assert "Traceback" not in outcome.message


@pytest.mark.parametrize(
    ("exception", "code", "words"),
    [
        (RecursionError("maximum recursion depth exceeded"), "too_deep", "nested or chained too deeply"),
        (MemoryError(), "out_of_memory", "ran out of memory"),
        (OverflowError("(34, 'Numerical result out of range')"), "numerical_failure", "beyond what floating point"),
    ],
)
def test_crashes_of_a_known_kind_get_a_code_that_says_which(
    register: Any, exception: BaseException, code: str, words: str
) -> None:
    """Issue 16, item 5: "a tool never raises" -- and the code tells the input's fault from a bug."""

    def crash(request: EchoRequest, data: object) -> EchoResult:
        raise exception

    register("crash", crash)
    outcome = dispatch("crash", {"value": 1.0})
    assert isinstance(outcome, ToolError)
    assert outcome.code == code and words in outcome.message and outcome.hint


DEEP = 5_000


@pytest.mark.parametrize("name", tool_names())
def test_deeply_nested_json_text_is_refused_for_every_tool(name: str) -> None:
    """Issue 16, item 5: 5,000 nested brackets raised RecursionError out of dispatch, for every tool."""
    for text in ("[" * DEEP + "]" * DEEP, '{"dataset": ' + "[" * DEEP + "1" + "]" * DEEP + "}"):
        outcome = dispatch(name, text)
        assert isinstance(outcome, ToolError)
        assert outcome.code == "invalid_json"
        assert "nested more than 64 levels deep" in outcome.message


@pytest.mark.parametrize("name", tool_names())
def test_a_deeply_nested_mapping_is_refused_for_every_tool(name: str) -> None:
    value: Any = 1
    for _ in range(DEEP):
        value = [value]
    first = next(iter(get_tool(name).request.model_fields))
    outcome = dispatch(name, {first: value})
    assert isinstance(outcome, ToolError)
    assert outcome.code == "invalid_arguments"
    assert "nested more than 64 levels deep" in outcome.message


@pytest.mark.parametrize("arguments", [[("metric", "mean")], 42, None])
def test_arguments_that_are_no_mapping_at_all_are_refused(arguments: Any) -> None:
    outcome = dispatch("power", arguments)
    assert isinstance(outcome, ToolError) and outcome.code == "invalid_json"
    assert "must be a JSON object" in outcome.message


@pytest.mark.parametrize("name", [None, 42, ["power"]])
def test_a_tool_name_that_is_not_text_is_an_unknown_tool(name: Any) -> None:
    outcome = dispatch(name, GOOD)
    assert isinstance(outcome, ToolError) and outcome.code == "unknown_tool"


def test_a_nan_result_is_refused_not_shown(register: Any) -> None:
    register("nan", lambda request, data: EchoResult(value=math.nan))
    outcome = dispatch("nan", {"value": 1.0})
    assert isinstance(outcome, ToolError)
    assert outcome.code == "numerical_failure"
    assert "no number was reported" in outcome.hint


def test_library_warnings_become_visible_caveats(register: Any) -> None:
    def noisy(request: EchoRequest, data: object) -> EchoResult:
        warnings.warn("Maximum Likelihood optimization failed to converge", RuntimeWarning, stacklevel=1)
        return EchoResult(value=request.value)

    register("noisy", noisy)
    outcome = dispatch("noisy", {"value": 2.0})
    assert isinstance(outcome, EchoResult)
    assert outcome.value == 2.0
    assert outcome.warnings == [
        "Library warning during noisy: RuntimeWarning: Maximum Likelihood optimization failed to converge"
    ]


def test_a_tool_error_raised_inside_a_tool_is_returned(register: Any) -> None:
    def refuse(request: EchoRequest, data: object) -> EchoResult:
        raise ToolError("bad_value", "The value is bad.", "Use a good one.")

    register("refuse", refuse)
    assert dispatch("refuse", {"value": 1.0}) == ToolError("bad_value", "The value is bad.", "Use a good one.")


def test_a_data_tool_without_attached_data(register: Any) -> None:
    register("needs_data", lambda request, data: EchoResult(value=1.0), DataRequest)
    outcome = dispatch("needs_data", {"dataset": "sales"})
    assert isinstance(outcome, ToolError)
    assert outcome.code == "no_data"
    assert "--data" in outcome.hint


def test_a_tool_gets_a_frame_copy_or_the_dataset_as_it_asks(register: Any, tmp_path: Any) -> None:
    from tools.data import Catalog, Dataset

    path = tmp_path / "d.csv"
    path.write_text("x\n1\n2\n")
    catalog = Catalog()
    catalog.add(path, "sales")
    seen: list[object] = []

    def keep(request: DataRequest, data: object) -> EchoResult:
        seen.append(data)
        return EchoResult(value=1.0)

    register("frame_tool", keep, DataRequest)
    spec = ToolSpec(
        name="dataset_tool", request=DataRequest, result=EchoResult, implementation=keep, takes_dataset=True
    )
    registry._BY_NAME["dataset_tool"] = spec
    try:
        dispatch("frame_tool", {"dataset": "sales"}, catalog)
        dispatch("dataset_tool", {"dataset": "sales"}, catalog)
    finally:
        del registry._BY_NAME["dataset_tool"]
    assert isinstance(seen[0], pd.DataFrame) and seen[0] is not catalog.get("sales").frame
    assert isinstance(seen[1], Dataset) and seen[1] is catalog.get("sales")
    assert get_tool("ab_test").takes_dataset


def test_a_lazily_attached_file_gone_before_the_analysis_is_a_tool_error(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tools.data import Catalog

    monkeypatch.setattr("tools.data.catalog.LAZY_MIN_ROWS", 100)
    path = tmp_path / "exp.parquet"
    pq.write_table(pa.table({"arm": ["A", "B"] * 100, "y": np.arange(200.0)}), path)
    catalog = Catalog()
    catalog.add(path, "exp")
    path.unlink()
    request = {"dataset": "exp", "arm_column": "arm", "control": "A", "metrics": [{"name": "y"}]}
    outcome = dispatch("ab_test", request, catalog)
    assert isinstance(outcome, ToolError)
    assert outcome.code == "dataset_changed"


def test_tool_error_wire_form() -> None:
    error = ToolError("code_x", "What is wrong.", "How to fix it.")
    assert error.to_dict() == {"error": {"code": "code_x", "message": "What is wrong.", "hint": "How to fix it."}}
    assert str(error) == "What is wrong."


def test_shared_result_pieces_refuse_garbage() -> None:
    estimate = Estimate(estimate=1.0, std_error=0.5, ci_lower=0.02, ci_upper=1.98, p_value=0.045)
    assert estimate.alpha == 0.05
    with pytest.raises(ValueError, match="ci_lower"):
        Estimate(estimate=1.0, std_error=0.5, ci_lower=2.0, ci_upper=1.0, p_value=0.5)
    with pytest.raises(ValueError):
        Estimate(estimate=math.inf, std_error=0.5, ci_lower=0.0, ci_upper=1.0, p_value=0.5)
    with pytest.raises(ValueError):
        Check(name="x", status="maybe", detail="")  # type: ignore[arg-type]


def test_power_request_docstring_is_the_tool_description() -> None:
    spec = get_tool("power")
    assert spec.request is PowerRequest
    assert spec.description.startswith("Power and sample size")
    assert "Never compute these numbers yourself" in spec.description


def test_dispatch_runs_a_validated_request_without_parsing_it_again(monkeypatch: pytest.MonkeyPatch) -> None:
    import tools.registry as registry

    spec = get_tool("power")
    request = registry.parse_request(
        spec, {"metric": "proportion", "baseline": 0.1, "mde": 0.1, "mde_kind": "relative"}
    )
    expected = dispatch("power", request.model_dump(mode="json"))
    calls: list[object] = []
    monkeypatch.setattr(registry, "parse_request", lambda *a: calls.append(a))
    assert dispatch("power", request) == expected
    assert calls == []
