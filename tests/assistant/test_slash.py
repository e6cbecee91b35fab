"""The app's tool commands are read into a tool name and arguments, or a message saying what is wrong."""

from __future__ import annotations

from assistant.tui.slash import tool_request


def test_power_reads_key_value_pairs_as_numbers_text_and_null() -> None:
    assert tool_request("/power", "metric=proportion baseline=0.1 arms=2 std_dev=none") == (
        "power",
        {"metric": "proportion", "baseline": 0.1, "arms": 2, "std_dev": None},
    )


def test_run_reads_a_tool_and_a_json_object() -> None:
    assert tool_request("/run", 'rdd {"cutoff": 10}') == ("rdd", {"cutoff": 10})
    assert tool_request("/run", "power") == ("power", {})


def test_bad_commands_say_what_is_wrong() -> None:
    assert tool_request("/run", "") == "Usage: /run TOOL {json}"
    assert str(tool_request("/run", "rdd {cutoff")).startswith("That JSON is not valid")
    assert tool_request("/run", "rdd [1, 2]") == "The request must be a JSON object."
    assert tool_request("/power", "baseline") == "'baseline' is not key=value (e.g. baseline=0.1)."
    assert str(tool_request("/power", "metric='open")).startswith("Could not read the arguments")


def test_item16_load_takes_replace_and_says_so_in_its_usage() -> None:
    from assistant.tui.slash import LOAD_USAGE, LoadCommand, load_arguments

    assert load_arguments("castle.csv checkout") == LoadCommand("castle.csv", "checkout", None, replace=False)
    assert load_arguments("castle.csv checkout --replace") == LoadCommand("castle.csv", "checkout", None, replace=True)
    assert load_arguments('"my file.csv" --replace encoding=cp1252') == LoadCommand(
        "my file.csv", None, "cp1252", replace=True
    )
    assert "--replace" in LOAD_USAGE and load_arguments("a b c --replace") == f"Usage: {LOAD_USAGE}"
