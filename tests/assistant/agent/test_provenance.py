"""Provenance: numbers in the assistant's text must come from tool results or the user's words."""

from __future__ import annotations

import pytest

from assistant.agent.provenance import find_numbers, unverified_numbers
from tools.power import PowerRequest, power


@pytest.fixture(scope="module")
def sized() -> object:
    return power(PowerRequest(metric="proportion", baseline=0.042, mde=0.05, mde_kind="relative", daily_units=12_000.0))


def flagged(text: str, *sources: object) -> list[str]:
    return [m.text.strip() for m in unverified_numbers(text, sources)]


def test_a_tools_own_summary_is_fully_supported(sized: object) -> None:
    assert flagged(sized.summary, sized) == []  # type: ignore[attr-defined]


def test_rounded_and_reformatted_numbers_are_accepted(sized: object) -> None:
    text = "You need 146,642 users per arm (293,284 in total) for 80% power, about 25 days; the lift is 5%."
    assert flagged(text, sized) == []
    assert flagged("Power is 0.8 and the rate 4.2%.", sized) == []


def test_invented_numbers_are_flagged(sized: object) -> None:
    text = "You need 150,000 users per arm; expect a 7% lift within 3 weeks and 12.5% more revenue."
    assert flagged(text, sized) == ["150,000", "7%", "12.5%"]


def test_user_words_count_as_a_source(sized: object) -> None:
    user = "We get about 12000 visitors a day and conversion is 4.2%; finance wants 0.25 dollars per user."
    assert flagged("At 12,000 visitors a day and $0.25 per user…", sized, user) == []


def test_confidence_level_follows_from_alpha() -> None:
    result = {"alpha": 0.05, "estimate": 0.3}
    assert flagged("A 95% confidence interval.", result) == []
    assert flagged("A 90% confidence interval.", result) == ["90%"]


def test_a_point_read_off_a_curve_is_supported(sized: object) -> None:
    point = sized.curve[40]  # type: ignore[attr-defined]
    assert flagged(f"With {point.n_per_arm:,} users per arm, power would be {point.power:.0%}.", sized) == []


def test_sign_matters_when_written() -> None:
    source = {"relative": 0.0435}
    assert flagged("a lift of +4.35%", source) == []
    assert flagged("a change of -4.35%", source) == ["-4.35%"]
    assert flagged("a drop of 3%", {"estimate": -0.03}) == []


def test_counting_words_list_markers_and_names_are_not_quantities() -> None:
    text = "1. Run the test with 2 arms for H1 in v2 (A/B), started 2026-11-25.\n2. Check SRM."
    assert [m.text for m in find_numbers(text)] == ["2"]
    assert flagged(text, {}) == []


def test_precision_is_the_written_one() -> None:
    source = {"power": 0.80146}
    assert flagged("power 80.1%", source) == []
    assert flagged("power 80.15%", source) == []
    assert flagged("power 80.2%", source) == ["80.2%"]
    assert flagged("power 80%", source) == []


def test_item11_numbers_in_a_tools_own_error_and_hint_count_as_the_tools() -> None:
    from tools.errors import ToolError

    error = ToolError(
        "invalid_arguments",
        "Invalid update_brief arguments: value: String should have at most 2000 characters",
        "Keep the value within 2000 characters, or 1 slot per call.",
    )
    text = f"{error.message} {error.hint}"
    assert flagged(text) == ["2000", "2000"]  # with nothing behind it, the number is unverified
    assert flagged(text, error) == []  # the error itself backs it
    assert flagged(text, error.to_dict()) == []  # and so does its wire form, as the model reads it
    assert flagged("Use at most 3000 characters.", error) == ["3000"]  # but only its own numbers
