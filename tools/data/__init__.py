"""User data: safe CSV/Parquet loading (``loading``), names fit to show (``names``) and the catalog of
attached datasets (``catalog``). Tools receive frames from the catalog, never paths chosen by the model.

The names are imported on first use (PEP 562), so a module that needs only :mod:`tools.data.names` (the
conversation's condensing, for one) does not load pandas and pyarrow with the catalog.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.data.catalog import Catalog, Dataset
    from tools.data.loading import MAX_FILE_BYTES, NA_VALUES, encoding_hint, load_table, with_encoding_option
    from tools.data.names import display_name, parse_data_argument

__all__ = [
    "MAX_FILE_BYTES",
    "NA_VALUES",
    "Catalog",
    "Dataset",
    "display_name",
    "encoding_hint",
    "load_table",
    "parse_data_argument",
    "with_encoding_option",
]

_HOMES = {
    "Catalog": "catalog",
    "Dataset": "catalog",
    "MAX_FILE_BYTES": "loading",
    "NA_VALUES": "loading",
    "encoding_hint": "loading",
    "load_table": "loading",
    "with_encoding_option": "loading",
    "display_name": "names",
    "parse_data_argument": "names",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'tools.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tools.data.{home}"), name)
