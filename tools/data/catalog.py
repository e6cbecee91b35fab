"""The catalog: the datasets attached to a conversation, by name."""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tools.data.loading import COMPRESSED_SUFFIXES, MAX_FILE_BYTES, PARQUET_SUFFIXES, Format, read_file
from tools.data.names import NAME_RE, display_name
from tools.errors import ToolError

__all__ = ["Catalog", "Dataset"]


@dataclass(frozen=True)
class Dataset:
    """One attached file: its name in the conversation, where it came from and what was loaded.

    Equality and hashing ignore ``frame``: two loads of the same bytes under the same name are equal.
    """

    name: str
    path: Path
    format: Format
    frame: pd.DataFrame = field(compare=False, repr=False)
    sha256: str
    n_rows: int
    columns: tuple[str, ...]
    notes: tuple[str, ...]


def default_name(path: Path) -> str:
    stem = path.name
    for _ in range(2):
        suffix = Path(stem).suffix.lower()
        if suffix in {*COMPRESSED_SUFFIXES, *PARQUET_SUFFIXES, ".csv", ".tsv", ".txt"}:
            stem = stem[: -len(suffix)]
    name = re.sub(r"[^A-Za-z0-9_]+", "_", stem).strip("_")[:64] or "data"
    return f"d_{name}" if name[0].isdigit() else name


def file_sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


class Catalog:
    """The datasets attached to a conversation, by name, in the order they were first attached."""

    def __init__(self) -> None:
        self._datasets: dict[str, Dataset] = {}

    def add(self, path: str | os.PathLike[str], name: str | None = None, *, encoding: str | None = None) -> Dataset:
        """Load ``path`` under ``name`` (default: the sanitised file stem); re-adding a name replaces it."""
        resolved = Path(path).expanduser().resolve()
        if name is None:
            name = default_name(resolved)
        elif not NAME_RE.fullmatch(name):
            raise ToolError(
                "invalid_dataset_name",
                f"'{display_name(name)}' cannot name a dataset.",
                "Use letters, digits and underscores, not starting with a digit (e.g. sales_2024).",
            )
        frame, fmt, notes, digest = read_file(resolved, encoding, MAX_FILE_BYTES)
        columns = tuple(str(column) for column in frame.columns)
        dataset = Dataset(name, resolved, fmt, frame, digest, len(frame), columns, tuple(notes))
        self._datasets[name] = dataset
        return dataset

    def get(self, name: str) -> Dataset:
        """The dataset called ``name``; an unknown name is a ToolError naming the closest attached one."""
        dataset = self._datasets.get(name)
        if dataset is None:
            close = difflib.get_close_matches(name, self.names(), n=1)
            hint = f"Did you mean '{close[0]}'? " if close else ""
            attached = ", ".join(self.names()) or "none yet (attach a CSV or Parquet file first)"
            raise ToolError(
                "unknown_dataset",
                f"No dataset named '{display_name(name)}' is attached.",
                f"{hint}Attached datasets: {attached}.",
            )
        return dataset

    def frame(self, name: str) -> pd.DataFrame:
        """The dataset's frame, as a shallow copy-on-write copy: changes to it never reach the catalog."""
        return self.get(name).frame.copy(deep=False)

    def names(self) -> list[str]:
        """The attached dataset names, in attachment order."""
        return list(self._datasets)

    def changed_on_disk(self, name: str) -> bool:
        """Whether the file's bytes differ from those loaded, or the file is gone: reload before analysing."""
        dataset = self.get(name)
        return file_sha256(dataset.path) != dataset.sha256

    def __len__(self) -> int:
        return len(self._datasets)

    def __contains__(self, name: object) -> bool:
        return name in self._datasets

    def __iter__(self) -> Iterator[Dataset]:
        return iter(list(self._datasets.values()))
