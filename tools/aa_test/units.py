"""Which column of the rows is the unit an experiment would assign, when no cluster_column is given.

An ID-like name (``user_id``, ``member``: :data:`tools.ab_test.ids.ID_COLUMN`) is read as the unit as before. A column
named by a unit-like noun ("Workspace", "team_name", "store_id") is one too — exported data seldom name it ``*_id`` —
but only when nothing else it holds says otherwise: the noun is the last word of its name besides key words
("store_sales" is a measurement, "account_type" a trait), its values are not measurements (floats), and it has enough
distinct values to be randomised (with fewer it is a segment, such as a plan, not a unit). Geographic names (country,
city) are left out: on rows of users they are usually a trait, and a trait read as the unit would fail a sound
analysis.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from tools.ab_test.ids import ID_COLUMN
from tools.data.names import head_word

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ID_COLUMN", "MIN_UNITS", "UNIT_WORDS", "named_unit", "repeated_unit"]

#: The fewest randomised units an A/A simulation runs on (and the fewest distinct values a unit-like column needs to
#: be read as a unit: with fewer it is a segment).
MIN_UNITS = 20

#: Nouns that name a unit an experiment assigns (in the singular).
UNIT_WORDS = frozenset(
    {
        "workspace", "team", "account", "store", "shop", "market", "member", "user", "customer", "household",
        "school", "classroom", "company", "organization", "organisation", "org", "tenant", "merchant", "seller",
        "restaurant", "clinic", "hospital", "branch", "office", "client", "subscriber", "patient", "student",
        "player", "driver", "device", "visitor", "person", "venue", "hotel", "property", "publisher", "advertiser",
    }
)  # fmt: skip


def named_unit(name: str) -> bool:
    """Whether a column's name is a unit-like noun (its last word besides key words): "Workspace", "team_name",
    "StoreID"; not "store_sales" or "account_type"."""
    return head_word(name) in UNIT_WORDS


def repeated_unit(frame: pd.DataFrame, used: Collection[str] = ()) -> str | None:
    """The column of ``frame`` that is the unit an experiment would assign when rows repeat it: an ID-like column
    whose values repeat; else a column named by a unit-like noun (:func:`named_unit`) that is none of ``used`` (the
    analysis's own columns), holds no measurement (floats) and has at least :data:`MIN_UNITS` distinct values, some
    repeated. None when every row is its own unit."""
    import pandas as pd

    columns = [str(c) for c in frame.columns]
    for name in columns:
        if ID_COLUMN.search(name) and frame[name].notna().any() and frame[name].duplicated().any():
            return name
    for name in columns:
        if name in used or not named_unit(name) or pd.api.types.is_float_dtype(frame[name]):
            continue
        values = frame[name].dropna()
        if values.nunique() >= MIN_UNITS and values.duplicated().any():
            return name
    return None
