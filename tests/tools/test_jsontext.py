"""Bounded JSON reading: nesting, length and non-JSON numbers are refused with a ValueError, never a RecursionError."""

from __future__ import annotations

import json

import pytest

from tools.jsontext import MAX_DEPTH, JsonTextError, check_depth, loads, nesting_depth


def test_ordinary_json_reads_as_json_does() -> None:
    text = json.dumps({"a": [1, 2.5, {"b": "[[{{ not brackets }}]]", "c": None}], "d": 'quote " and \\ inside'})
    assert loads(text) == json.loads(text)
    assert nesting_depth(text) == 3


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 5_000, 100_000])
def test_deep_nesting_is_refused_before_parsing(levels: int) -> None:
    with pytest.raises(JsonTextError, match=f"nested more than {MAX_DEPTH} levels"):
        loads("[" * levels + "]" * levels)


def test_nesting_at_the_limit_is_read() -> None:
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None


def test_brackets_inside_strings_do_not_count() -> None:
    assert loads(json.dumps({"x": "[" * 10_000})) == {"x": "[" * 10_000}


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_are_refused(constant: str) -> None:
    with pytest.raises(JsonTextError, match="not a number JSON allows"):
        loads(f'{{"alpha": {constant}}}')


def test_length_limit_and_invalid_text() -> None:
    with pytest.raises(JsonTextError, match="11 characters, more than the 10 allowed"):
        loads('{"a": "bc"}', max_chars=10)
    with pytest.raises(JsonTextError, match="Expecting"):
        loads('{"a": ')
    with pytest.raises(JsonTextError, match="not UTF-8"):
        loads(b'{"a": "\xff"}')
    assert issubclass(JsonTextError, ValueError)


def test_check_depth_measures_objects_without_recursing() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(50_000):
        child: dict[str, object] = {}
        node["a"] = child
        node = child
    with pytest.raises(JsonTextError):
        check_depth(deep)
    check_depth({"a": [1, {"b": (2, 3)}]})
