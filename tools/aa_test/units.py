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

import re

from tools.ab_test.ids import ID_COLUMN

__all__ = ["ID_COLUMN", "UNIT_WORDS", "named_unit"]

#: Nouns that name a unit an experiment assigns (in the singular).
UNIT_WORDS = frozenset(
    {
        "workspace", "team", "account", "store", "shop", "market", "member", "user", "customer", "household",
        "school", "classroom", "company", "organization", "organisation", "org", "tenant", "merchant", "seller",
        "restaurant", "clinic", "hospital", "branch", "office", "client", "subscriber", "patient", "student",
        "player", "driver", "device", "visitor", "person", "venue", "hotel", "property", "publisher", "advertiser",
    }
)  # fmt: skip
#: Words of a column name that say it identifies something rather than what ("workspace_id", "Team Name").
_KEY_WORDS = frozenset({"id", "uuid", "key", "name", "code", "number", "num", "no"})


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and not word.endswith("ss") and len(word) > 3 else word


def named_unit(name: str) -> bool:
    """Whether a column's name is a unit-like noun (its last word besides key words): "Workspace", "team_name",
    "StoreID"; not "store_sales" or "account_type"."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    words = [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w and w not in _KEY_WORDS]
    return bool(words) and _singular(words[-1]) in UNIT_WORDS
