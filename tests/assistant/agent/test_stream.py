"""The stream accumulator against the ways real servers split tool calls (RELIABILITY L8, L9, L10, L13)."""

from __future__ import annotations

from typing import Any

from assistant.agent.stream import StreamAccumulator


def chunk(
    *,
    content: str | None = None,
    calls: list[dict[str, Any]] | None = None,
    finish: str | None = None,
    choices: bool = True,
) -> dict[str, Any]:
    if not choices:
        return {"choices": [], "prompt_filter_results": [{"prompt_index": 0}]}
    delta: dict[str, Any] = {}
    if content is not None:
        delta["content"] = content
    if calls is not None:
        delta["tool_calls"] = calls
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def call(
    index: int | None = None, id: str | None = None, name: str | None = None, args: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"function": {}}
    if index is not None:
        out["index"] = index
    if id is not None:
        out["id"] = id
    if name is not None:
        out["function"]["name"] = name
    if args is not None:
        out["function"]["arguments"] = args
    return out


def assemble(chunks: list[dict[str, Any]]) -> StreamAccumulator:
    acc = StreamAccumulator()
    for c in chunks:
        acc.add(c)
    return acc


def test_text_and_a_split_tool_call() -> None:
    acc = assemble(
        [
            chunk(content="Let me "),
            chunk(content="compute that."),
            chunk(calls=[call(0, "call_a", "power", '{"metric": ')]),
            chunk(calls=[call(0, None, None, '"mean", "baseline": 1')]),
            chunk(calls=[call(0, "", None, "}")]),  # id="" later must not reset anything
            chunk(finish="tool_calls"),
        ]
    )
    assert acc.text == "Let me compute that."
    [only] = acc.finished_calls()
    assert (only.id, only.name, only.arguments) == ("call_a", "power", '{"metric": "mean", "baseline": 1}')
    assert acc.finish_reason == "tool_calls" and not acc.truncated


def test_two_parallel_calls_interleaved() -> None:
    acc = assemble(
        [
            chunk(calls=[call(0, "a", "power", '{"x"'), call(1, "b", "recommend_method", '{"y"')]),
            chunk(calls=[call(1, None, None, ": 2}")]),
            chunk(calls=[call(0, None, None, ": 1}")]),
        ]
    )
    assert [(c.id, c.name, c.arguments) for c in acc.finished_calls()] == [
        ("a", "power", '{"x": 1}'),
        ("b", "recommend_method", '{"y": 2}'),
    ]


def test_missing_index_follows_ids_or_the_current_call() -> None:
    acc = assemble(
        [
            chunk(calls=[call(None, "a", "power", '{"x"')]),
            chunk(calls=[call(None, None, None, ": 1}")]),
            chunk(calls=[call(None, "b", "ab_test", "{}")]),
        ]
    )
    assert [(c.id, c.arguments) for c in acc.finished_calls()] == [("a", '{"x": 1}'), ("b", "{}")]


def test_duplicate_index_with_different_ids_are_two_calls() -> None:
    acc = assemble([chunk(calls=[call(0, "a", "power", "{}"), call(0, "b", "ab_test", "{}")])])
    assert [(c.id, c.name) for c in acc.finished_calls()] == [("a", "power"), ("b", "ab_test")]


def test_calls_without_ids_get_stable_ones() -> None:
    acc = assemble([chunk(calls=[call(0, None, "power", "{}")]), chunk(calls=[call(1, None, "ab_test", "{}")])])
    assert [c.id for c in acc.finished_calls()] == ["call_0", "call_1"]


def test_empty_choices_chunks_are_skipped() -> None:
    acc = assemble([chunk(choices=False), chunk(content="hi"), {"choices": None}, {}])
    assert acc.text == "hi"


def test_length_and_content_filter_are_reported() -> None:
    cut = assemble([chunk(calls=[call(0, "a", "power", '{"metric": "me')]), chunk(finish="length")])
    assert cut.truncated
    filtered = assemble([chunk(content="…"), chunk(finish="content_filter")])
    assert filtered.filtered


def test_refusal_is_kept_apart_from_text() -> None:
    acc = StreamAccumulator()
    acc.add({"choices": [{"index": 0, "delta": {"refusal": "I can't help with that."}, "finish_reason": "stop"}]})
    assert acc.refusal == "I can't help with that." and acc.text == ""


def test_add_returns_the_new_text_for_live_display() -> None:
    acc = StreamAccumulator()
    assert acc.add(chunk(content="Hel")) == "Hel"
    assert acc.add(chunk(content="lo")) == "lo"
    assert acc.add(chunk(calls=[call(0, "a", "power", "{}")])) == ""


def test_one_id_reused_under_two_indexes_is_two_calls() -> None:
    """A server that gives two parallel calls the same id: two calls (the conversation renames one), not a merge."""
    acc = assemble(
        [
            chunk(calls=[call(0, "call_1_0", "power", '{"a": ')]),
            chunk(calls=[call(1, "call_1_0", "ab_test", '{"b": ')]),
            chunk(calls=[call(0, args="1}")]),
            chunk(calls=[call(1, args="2}")], finish="tool_calls"),
        ]
    )
    assert [(c.id, c.name, c.arguments) for c in acc.finished_calls()] == [
        ("call_1_0", "power", '{"a": 1}'),
        ("call_1_0", "ab_test", '{"b": 2}'),
    ]


def test_arguments_sent_as_an_object_are_serialised_and_odd_types_ignored() -> None:
    odd = {"index": 0, "id": 7, "function": {"name": ["power"], "arguments": {"metric": "mean", "n": [1, 2]}}}
    acc = assemble(
        [
            {"choices": [{"index": 0, "delta": {"content": [{"type": "text", "text": "Hi"}], "tool_calls": [odd]}}]},
            {"choices": "not a list"},
            {"choices": [None, {"index": 0, "delta": "text"}, {"index": 0, "delta": {"content": 5}}]},
            chunk(calls=[call(0, name="power")], finish="tool_calls"),
        ]
    )
    assert acc.text == "Hi"
    assert [(c.id, c.name, c.arguments) for c in acc.finished_calls()] == [
        ("7", "power", '{"metric": "mean", "n": [1, 2]}')
    ]
