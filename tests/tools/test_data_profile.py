"""The column profile (tools/data/profile.py): what each column holds, read from the values, on small hand-built
frames and on the public data sets as their CSV exports load."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tools.data import Catalog
from tools.data.profile import (
    SAMPLE_ROWS,
    constant_within,
    profile_column,
    profile_dataset,
    profile_frame,
    turns_on,
    unit_period_unique,
)


def kinds(frame: pd.DataFrame) -> dict[str, str]:
    return {name: column.kind for name, column in profile_frame(frame).columns.items()}


def test_kinds_are_read_from_the_values_not_the_names() -> None:
    n = 40
    frame = pd.DataFrame(
        {
            "a": [0, 1] * (n // 2),  # 0/1 integers
            "b": [0.0, 1.0, np.nan, 1.0] * (n // 4),  # 0/1 floats with blanks (an export with empty cells)
            "c": [True, False] * (n // 2),
            "d": ["yes", "no"] * (n // 2),
            "e": list(range(1000, 1000 + n)),  # a different integer on every row
            "f": [f"u{i:03d}" for i in range(n)],  # a different text on every row
            "g": ["control", "treatment", "control", "control"] * (n // 4),
            "h": [2019, 2020, 2021, 2022] * (n // 4),
            "i": ["Q42010", "Q12011", "Q22011", "Q32011"] * (n // 4),
            "j": ["2010-04", "2010-05", "2010-06", "2010-07"] * (n // 4),
            "k": ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04"] * (n // 4),
            "l": np.linspace(-1, 1, n),
            "m": [7] * n,
            "n": [np.nan] * n,
            "o": [1.0, 2.0, 3.0, 4.0] * (n // 4),  # whole numbers stored as floats
        }
    )
    assert kinds(frame) == {
        "a": "binary",
        "b": "binary",
        "c": "binary",
        "d": "binary",
        "e": "id",
        "f": "id",
        "g": "category",
        "h": "integer",
        "i": "period",
        "j": "period",
        "k": "date",
        "l": "float",
        "m": "constant",
        "n": "empty",
        "o": "integer",
    }
    profile = profile_frame(frame)
    assert profile["h"].year_like and not profile["o"].year_like
    assert profile["g"].two_levels and profile["g"].levels == ("control", "treatment")
    assert profile["d"].levels == ("no", "yes") and profile["d"].counts == (20, 20)
    assert profile["c"].levels == ("False", "True")


def test_a_binary_column_with_blanks_counts_each_level_and_the_blanks() -> None:
    column = profile_column(pd.Series([1.0, 0.0, np.nan, 1.0, 1.0, np.nan]), "any")
    assert (column.kind, column.levels, column.counts, column.missing) == ("binary", ("0", "1"), (1, 3), 2)
    assert column.describe() == "0/1, 3 of 4 are 1, 2 blank"
    assert column.facts()["total"] == 4 and column.missing_share == pytest.approx(1 / 3)


def test_descriptions_show_ranges_without_scientific_notation() -> None:
    assert profile_column(pd.Series([0.0, 60307.93, 10.5]), "re78").describe() == "numbers from 0 to 60,308"
    assert profile_column(pd.Series([2000, 2005, 2010]), "year").describe() == "numbers from 2000 to 2010"
    assert profile_column(pd.Series([-0.0199912, 0.5, 0.0198]), "x").describe() == "numbers from -0.01999 to 0.5"


def test_a_panel_is_unit_by_period_unique_and_a_treatment_turns_on_and_stays_on() -> None:
    frame = pd.DataFrame(
        {
            "unit": np.repeat(["a", "b", "c"], 4),
            "t": np.tile([1, 2, 3, 4], 3),
            "on": [0, 0, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0],  # a from 3, b from 2, c never
            "blip": [0, 1, 0, 0] * 3,  # on and off again: a lead dummy, not a treatment
            "first": [3, 3, 3, 3, 2, 2, 2, 2, 0, 0, 0, 0],
        }
    )
    assert unit_period_unique(frame, "unit", "t")
    assert not unit_period_unique(frame, "on", "t")  # two rows of (0, 1)
    assert not unit_period_unique(frame, "t", "t")
    assert turns_on(frame, "unit", "t", "on") == 2
    assert turns_on(frame, "unit", "t", "blip") == 0
    assert constant_within(frame, "unit", "first") and not constant_within(frame, "unit", "on")
    shuffled = frame.sample(frac=1.0, random_state=0)  # the order of the rows does not matter
    assert turns_on(shuffled, "unit", "t", "on") == 2


@pytest.mark.slow
def test_a_ten_million_row_frame_is_profiled_on_a_sample_in_seconds() -> None:
    rows = 10_000_000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "user_id": np.arange(rows),
            "arm": rng.integers(0, 2, rows),
            "revenue": rng.exponential(10.0, rows),
            "country": rng.choice(np.array(["de", "fr", "us"], dtype=object), rows),
        }
    )
    start = time.perf_counter()
    profile = profile_frame(frame)
    elapsed = time.perf_counter() - start
    assert profile.sampled and profile["user_id"].rows == SAMPLE_ROWS
    assert {c: p.kind for c, p in profile.columns.items()} == {
        "user_id": "id",
        "arm": "binary",
        "revenue": "float",
        "country": "category",
    }
    assert elapsed < 5.0, f"profiling 10M rows took {elapsed:.1f} s"


def test_the_public_data_sets_profile_as_a_reader_would_describe_them(tmp_path: Path) -> None:
    pytest.importorskip("causaldata")
    from tests.public_data import write_public

    catalog = Catalog()
    for name in ("nsw_mixtape", "thornton_hiv", "castle", "organ_donations", "close_elections_lmb"):
        catalog.add(write_public(name, tmp_path))
    nsw = profile_dataset(catalog.get("nsw_mixtape"))
    assert nsw["treat"].describe() == "0/1, 185 of 445 are 1"
    assert nsw["data_id"].kind == "constant" and nsw["re78"].kind == "float" and nsw["age"].kind == "integer"
    thornton = profile_dataset(catalog.get("thornton_hiv"))
    assert thornton["any"].kind == "binary" and thornton["any"].missing == 1919  # floats with blanks
    organ = profile_dataset(catalog.get("organ_donations"))
    assert (organ["Quarter"].kind, organ["Quarter_Num"].kind, organ["State"].kind) == ("period", "integer", "category")
    frame = catalog.get("organ_donations").frame
    assert unit_period_unique(frame, "State", "Quarter") and unit_period_unique(frame, "State", "Quarter_Num")
    castle = catalog.get("castle")
    assert turns_on(castle.frame, "sid", "year", "post") == 21
    assert turns_on(castle.frame, "sid", "year", "lead1") == 0
    assert profile_dataset(castle) is profile_dataset(castle)  # kept in the dataset's memo
    lmb = profile_dataset(catalog.get("close_elections_lmb"))
    assert lmb["id"].kind == "id" and lmb["year"].year_like and lmb["lagdemvoteshare"].kind == "float"
