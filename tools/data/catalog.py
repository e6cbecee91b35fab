"""The catalog: the datasets attached to a conversation, by name."""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tools.data.loading import (
    COMPRESSED_SUFFIXES,
    MAX_FILE_BYTES,
    PARQUET_SUFFIXES,
    Format,
    _dictionary_text_columns,
    _hash_file,
    _identity,
    _parquet_error,
    _parquet_frame,
    _read_bytes,
    read_file,
)
from tools.data.names import NAME_RE, display_name, display_path, invalid_name, quote_name
from tools.engine.table import EngineTable, is_engine_source, open_table
from tools.errors import ToolError
from tools.readfile import resolve

__all__ = ["LAZY_MIN_ROWS", "Catalog", "Dataset", "ParquetSource"]

#: A Parquet file with at least this many rows is attached lazily (see :class:`ParquetSource`).
LAZY_MIN_ROWS = 1 << 20


class Content:
    """A dataset's frame, built on first use when a large Parquet file was attached lazily, and a memo of facts
    tools derive from it (pure functions of the frame, keyed by the tool: e.g. which ID columns repeat)."""

    def __init__(self, frame: pd.DataFrame | ParquetSource | EngineTable) -> None:
        self._frame = frame if isinstance(frame, pd.DataFrame) else None
        self._source = frame if isinstance(frame, ParquetSource) else None
        self.engine = frame if isinstance(frame, EngineTable) else None
        self._lock = threading.Lock()
        self.memo: dict[str, Any] = {}

    def frame(self) -> pd.DataFrame:
        with self._lock:
            if self._frame is None:
                if self.engine is not None:  # a tool that does not run in the engine: pulled, within a limit
                    return self.engine.load()
                assert self._source is not None
                self._frame = self._source.load()
            return self._frame

    @property
    def source(self) -> ParquetSource | None:
        """The file still to be read (None once the frame exists)."""
        return self._source if self._frame is None else None


class Digest:
    """A file's sha256: known already, or computed on a background thread and waited for on first use.

    Hashing a large Parquet file attached lazily takes tens of milliseconds that the first analysis of it can
    use (hashlib releases the GIL). Two digests are equal when their hashes are; a file that changed while it
    was hashed has no digest: reading it raises the ToolError ``dataset_changed``."""

    def __init__(self, value: str | None = None, compute: Callable[[], str] | None = None) -> None:
        self._value = value
        self._future: Future[str] = Future()
        if value is None:
            assert compute is not None

            def run() -> None:
                try:
                    self._future.set_result(compute())
                except BaseException as exc:  # handed to whoever reads the value
                    self._future.set_exception(exc)

            threading.Thread(target=run, name="whyscope-sha256", daemon=True).start()

    def value(self) -> str:
        if self._value is None:
            self._value = self._future.result()
        return self._value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Digest) and self.value() == other.value()

    def __hash__(self) -> int:
        return hash(self.value())

    def __repr__(self) -> str:
        return f"Digest({self._value!r})" if self._value is not None else "Digest(<computing>)"


@dataclass(frozen=True)
class Dataset:
    """One attached file: its name in the conversation, where it came from and what was loaded.

    ``frame`` is the full frame; for a large Parquet file it is read on first use (``source`` is the file
    until then, and a tool may read it directly, e.g. in a streaming pass). Equality and hashing ignore the
    content: two loads of the same bytes under the same name are equal.
    """

    name: str
    path: Path
    format: Format
    digest: Digest = field(repr=False)
    n_rows: int
    columns: tuple[str, ...]
    notes: tuple[str, ...]
    content: Content = field(compare=False, repr=False)
    #: The encoding it was attached with (None: detected), kept to read it again the same way.
    encoding: str | None = field(default=None, compare=False)
    #: Device, inode, size and modification time when it was read: what changes when the file does.
    identity: tuple[int, int, int, int] | None = field(default=None, compare=False, repr=False)

    @property
    def sha256(self) -> str:
        """The content hash of the file as attached (waits for it if it is still being computed)."""
        return self.digest.value()

    @property
    def frame(self) -> pd.DataFrame:
        """The dataset's frame (read from the file on first use if it was attached lazily)."""
        return self.content.frame()

    @property
    def source(self) -> ParquetSource | None:
        """The Parquet file not read yet, or None when the frame is in memory."""
        return self.content.source

    @property
    def memo(self) -> dict[str, Any]:
        """Facts tools derived from this dataset's frame, kept while it stays attached."""
        return self.content.memo

    @property
    def engine(self) -> EngineTable | None:
        """The engine table this dataset is (queried where it lives), or None for a file."""
        return self.content.engine


def default_name(path: Path) -> str:
    stem = path.name
    for _ in range(2):
        suffix = Path(stem).suffix.lower()
        if suffix in {*COMPRESSED_SUFFIXES, *PARQUET_SUFFIXES, ".csv", ".tsv", ".txt"}:
            stem = stem[: -len(suffix)]
    name = re.sub(r"[^A-Za-z0-9_]+", "_", stem).strip("_")[:64] or "data"
    return f"d_{name}" if name[0].isdigit() else name


def file_sha256(path: Path) -> str | None:
    """The sha256 of the file's bytes, or None when it cannot be read."""
    try:
        return _hash_file(path, display_name(path.name), MAX_FILE_BYTES)[0]
    except ToolError:
        return None


def _current_identity(path: Path) -> tuple[int, int, int, int] | None:
    try:
        return _identity(path)
    except OSError:
        return None


class Catalog:
    """The datasets attached to a conversation, by name, in the order they were first attached.

    Every use (:meth:`get`, :meth:`frame`) checks the file on disk first: a ``stat`` (device, inode, size,
    modification time) against what was read; only when that differs is the file hashed, and when its content
    changed it is read again, with a note (:meth:`take_notes`) that the tool's result carries. A file that is
    gone or unreadable is refused (``dataset_changed``): no analysis runs on data that no longer exists as loaded.
    """

    def __init__(self) -> None:
        self._datasets: dict[str, Dataset] = {}
        self._lock = threading.RLock()
        self._notes: list[str] = []

    def add(self, path: str | os.PathLike[str], name: str | None = None, *, encoding: str | None = None) -> Dataset:
        """Load ``path`` under ``name`` (default: the sanitised file stem); re-adding a name replaces it.

        Every problem — an invalid name, a path that cannot be followed (a symbolic-link loop, no permission), a
        file that is not a regular file or not a table — is a ToolError naming the file and the cause."""
        if name is not None and not NAME_RE.fullmatch(name):
            raise invalid_name(name)
        if isinstance(path, str) and is_engine_source(path):  # duckdb:FILE#TABLE: a table, queried where it lives
            return self.add_table(path, name or table_name(path))
        folder = Path(path).expanduser()
        if folder.is_dir() and next(folder.rglob("*.parquet"), None) is not None:  # Parquet files: scanned in place
            spec = f"duckdb:{folder}/"
            return self.add_table(spec, name or table_name(spec))
        label = f"File '{display_path(path)}'"
        resolved = resolve(path, label)
        dataset = self._load(resolved, name or default_name(resolved), encoding)
        with self._lock:
            self._datasets[dataset.name] = dataset
        return dataset

    @staticmethod
    def _load(resolved: Path, name: str, encoding: str | None) -> Dataset:
        before = _current_identity(resolved)  # taken first: a change while reading is seen at the next use
        lazy = lazy_parquet(resolved, MAX_FILE_BYTES)
        fmt: Format = "parquet"
        if lazy is not None:
            source, notes, digest = lazy
            content, n_rows, columns = Content(source), source.n_rows, source.columns
            before = source.identity  # the digest may still be computing
        else:
            frame, fmt, notes, sha256 = read_file(resolved, encoding, MAX_FILE_BYTES)
            columns = tuple(str(column) for column in frame.columns)
            content, digest, n_rows = Content(frame), Digest(sha256), len(frame)
        return Dataset(name, resolved, fmt, digest, n_rows, columns, tuple(notes), content, encoding, before)

    def add_table(self, spec: str, name: str, base: Path | None = None) -> Dataset:
        """Attach the engine table ``spec`` names (``duckdb:FILE#TABLE``, a Parquet file or folder) under ``name``:
        its columns and row count are read from the engine, no row is pulled."""
        if not NAME_RE.fullmatch(name):
            raise invalid_name(name)
        table = open_table(spec, base)
        where = table.database or table.parquet or Path(table.table or table.spec)
        digest = Digest(f"engine:{table.spec}")
        note = (
            f"A table in {table.ENGINE} ({table.label}): ab_test, aa_test and metric_history run inside the engine; "
            "other tools pull its rows."
        )
        dataset = Dataset(name, where, "table", digest, table.n_rows, table.columns, (note,), Content(table))
        with self._lock:
            self._datasets[name] = dataset
        return dataset

    def get(self, name: str, *, check_disk: bool = True) -> Dataset:
        """The dataset called ``name``, read again first if its file changed on disk (see the class); an unknown
        name is a ToolError naming the closest attached one. ``check_disk=False`` gives the dataset as last read
        (e.g. the one an analysis just used)."""
        dataset = self._attached(name)
        return self._refresh(dataset) if check_disk else dataset

    def note(self, text: str) -> None:
        """A note for the next result (how a table in an engine was read for it), handed out by take_notes."""
        with self._lock:
            self._notes.append(text)

    def take_notes(self) -> list[str]:
        """The notes of datasets read again because their file changed, since the last call (then forgotten)."""
        with self._lock:
            notes, self._notes = self._notes, []
        return notes

    def _refresh(self, dataset: Dataset) -> Dataset:
        """``dataset`` if its file is unchanged; else the file read again (or a ToolError if it cannot be). A table
        in an engine is the engine's to keep current: each query reads it as it is."""
        if dataset.engine is not None:
            return dataset
        if dataset.identity is not None and _current_identity(dataset.path) == dataset.identity:
            return dataset
        with self._lock:
            current = self._datasets.get(dataset.name, dataset)
            if current is not dataset:  # another thread read it again meanwhile
                return self._refresh(current)
            identity = _current_identity(dataset.path)
            if identity is None or (sha256 := file_sha256(dataset.path)) is None:
                raise self._gone(dataset)
            attached = _attached_sha256(dataset)
            if sha256 == attached and dataset.source is None:  # touched, not changed: remember the new stat
                fresh = dataclasses.replace(dataset, identity=identity)
            else:  # (a lazy file not read yet is attached again even if only touched: its source checks the stat)
                try:
                    fresh = self._load(dataset.path, dataset.name, dataset.encoding)
                except ToolError as error:
                    raise self._gone(dataset, error) from None
                if sha256 != attached:
                    self._notes.append(
                        f"{quote_name(dataset.name)} changed on disk since it was attached; it was read again "
                        f"(sha256 {attached[:12]}… → {sha256[:12]}…, {fresh.n_rows:,} rows)."
                    )
            self._datasets[dataset.name] = fresh
            return fresh

    @staticmethod
    def _gone(dataset: Dataset, error: ToolError | None = None) -> ToolError:
        cause = f": {error.message}" if error is not None else " (it is missing or cannot be read)"
        return ToolError(
            "dataset_changed",
            f"The file of dataset {quote_name(dataset.name)}, '{display_name(dataset.path.name)}', changed or "
            f"disappeared after it was attached (sha256 {_attached_sha256(dataset)[:12]}…){cause}",
            "Restore the file, or attach its current version again, then run the analysis again.",
        )

    def _attached(self, name: str) -> Dataset:
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
        """The dataset's frame (checked against the file as :meth:`get` does), as a shallow copy-on-write copy:
        changes to it never reach the catalog. A large Parquet file attached lazily is read now if it was not yet
        (a ToolError if it changed meanwhile)."""
        return self.get(name).frame.copy(deep=False)

    def names(self) -> list[str]:
        """The attached dataset names, in attachment order."""
        return list(self._datasets)

    def changed_on_disk(self, name: str) -> bool:
        """Whether the file's bytes differ from those loaded, or the file is gone (nothing is read again)."""
        dataset = self._attached(name)
        if dataset.identity is not None and _current_identity(dataset.path) == dataset.identity:
            return False
        sha256 = file_sha256(dataset.path)
        return sha256 is None or sha256 != _attached_sha256(dataset)

    def __len__(self) -> int:
        return len(self._datasets)

    def __contains__(self, name: object) -> bool:
        return name in self._datasets

    def __iter__(self) -> Iterator[Dataset]:
        return iter(list(self._datasets.values()))


def _attached_sha256(dataset: Dataset) -> str:
    """The hash of the file as attached; ``"changed"`` when a lazily attached file changed while it was hashed."""
    try:
        return dataset.sha256
    except ToolError:
        return "changed"


# --- large Parquet files, attached before they are read ------------------------------------------------


@dataclass(frozen=True)
class ParquetSource:
    """A large Parquet file attached without being parsed: everything the load would report (rows, columns,
    notes, errors) was read from its footer, and the frame is built on first use (:meth:`load`). Only files
    whose column types cannot fail to convert and whose statistics settle every note qualify.

    The file must not change in between: :meth:`load` and :meth:`parquet` check its identity (device, inode,
    size, modification time) and refuse a changed file with the ToolError ``dataset_changed``.
    """

    path: Path
    fname: str
    identity: tuple[int, int, int, int]
    n_rows: int
    columns: tuple[str, ...]
    categorical: frozenset[str]

    def check(self) -> None:
        """Refuse a file that changed since it was attached."""
        try:
            same = _identity(self.path) == self.identity
        except OSError:
            same = False
        if not same:
            raise ToolError(
                "dataset_changed",
                f"File '{self.fname}' changed on disk (or disappeared) after it was attached.",
                "Attach the file again to analyse its current content.",
            )

    def parquet(self) -> pq.ParquetFile:
        """The open file, for reading columns directly (text columns with a small dictionary as dictionaries)."""
        self.check()
        try:
            return pq.ParquetFile(str(self.path), read_dictionary=sorted(self.categorical) or None, memory_map=True)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise _parquet_error(self.fname, exc) from None

    def load(self) -> pd.DataFrame:
        """The frame an eager load would have built."""
        self.check()
        try:
            with pa.OSFile(str(self.path)) as source:
                frame = _parquet_frame(source, self.fname, [])
        except (pa.ArrowException, OSError) as exc:
            raise _parquet_error(self.fname, exc) from None
        self.check()
        return frame


def lazy_parquet(path: Path, max_bytes: int) -> tuple[ParquetSource, list[str], Digest] | None:
    """``(source, notes, digest)`` for a large, simple Parquet file, from its footer, exactly as an eager load
    would report them, with its sha256 computing in the background; None for any other file (it is then read
    eagerly)."""
    fname = display_name(path.name)
    if _read_bytes(path, fname, max_bytes, limit=4) != b"PAR1":
        return None
    try:
        before = _identity(path)
        parquet = pq.ParquetFile(str(path))
        metadata, schema = parquet.metadata, parquet.schema_arrow
    except (pa.ArrowException, OSError, ValueError):
        return None  # the eager path reports it
    names = list(schema.names)
    if metadata.num_rows < LAZY_MIN_ROWS or not names or len(set(names)) != len(names) or before[2] > max_bytes:
        return None  # (a file over the size limit is refused by the eager path, with its message)
    notes: list[str] = []
    if path.suffix.lower() not in PARQUET_SUFFIXES:
        notes.append(f"'{fname}' is a Parquet file (detected from its contents) and was read as Parquet")
    dropped = [name for name in names if re.fullmatch(r"__index_level_\d+__", name)]
    if dropped:
        notes.append(f"the unnamed pandas index stored in '{fname}' was dropped ({', '.join(dropped)})")
    for j, column in enumerate(schema):
        if "." in column.name or metadata.num_columns != len(names):
            return None
        note = footer_note(column, j, metadata) if column.name not in dropped else ""
        if note is None:
            return None
        if note:
            notes.append(note)
    categorical = frozenset(_dictionary_text_columns(parquet))
    columns = tuple(name for name in names if name not in dropped)
    source = ParquetSource(path, fname, before, metadata.num_rows, columns, categorical)

    def sha256() -> str:
        digest, _length, _tail = _hash_file(path, fname, max_bytes)
        source.check()  # the bytes hashed are the file attached, or the file changed: dataset_changed
        return digest

    return source, notes, Digest(compute=sha256)


def footer_note(field: pa.Field, j: int, metadata: pq.FileMetaData) -> str | None:
    """The note the load would make for one column ("" for none), from the footer; None when the footer cannot
    tell (then the file is read eagerly)."""
    kind = field.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_boolean(kind):
        return ""
    if pa.types.is_dictionary(kind) and pa.types.is_string(kind.value_type):
        return ""
    if (pa.types.is_timestamp(kind) and kind.tz is None) or pa.types.is_date32(kind):
        return ""
    floating = pa.types.is_float32(kind) or pa.types.is_float64(kind)
    if not (floating or pa.types.is_integer(kind)):
        return None
    nulls, low, high = 0, None, None
    for group in range(metadata.num_row_groups):
        chunk = metadata.row_group(group).column(j)
        stats = chunk.statistics
        if stats is None or not stats.has_null_count:
            return None
        nulls += stats.null_count
        if chunk.num_values - stats.null_count > 0:
            if not stats.has_min_max:
                return None
            low = stats.min if low is None else min(low, stats.min)
            high = stats.max if high is None else max(high, stats.max)
    if low is None or high is None:
        return ""  # every value missing
    if floating:
        # infinities would need counting; NaN never reaches the statistics
        return "" if np.isfinite(low) and np.isfinite(high) else None
    if nulls and max(abs(low), abs(high)) > 2**53:
        return f"column {quote_name(field.name)} was kept as text: it has integers beyond 2**53 and missing values"
    return ""


def table_name(spec: str) -> str:
    """The default name of an engine table: its table name, else its Parquet file's or folder's stem."""
    body = spec.split(":", 1)[1]
    location, _, table = body.partition("#")
    stem = table or Path(location.rstrip("/")).stem or "table"
    cleaned = re.sub(r"[^A-Za-z0-9_]+", "_", stem).strip("_") or "table"
    return cleaned if NAME_RE.fullmatch(cleaned) else "table"
