"""Loading user-attached CSV/Parquet files safely into pandas, and the catalog of named datasets.

Every bad input becomes a :class:`~tools.errors.ToolError` naming the file and the fix. The format is
detected from the file's bytes, never its extension; text is decoded strictly; rows are validated before
pandas sees them; every column is read as text and converted to a number only when that loses nothing.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import hashlib
import io
import os
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from tools.errors import ToolError

__all__ = [
    "MAX_FILE_BYTES",
    "NA_VALUES",
    "Catalog",
    "Dataset",
    "display_name",
    "load_table",
    "parse_data_argument",
]

#: Largest file (and largest decompressed content) read into memory.
MAX_FILE_BYTES = 2 * 1024**3
#: The only strings read as missing, exactly as written (no stripping, no case folding).
NA_VALUES = ("", "NA", "N/A", "null", "NULL", "NaN", "nan", "None", "-")
SNIFF_CHARS = 64 * 1024

Format = Literal["csv", "parquet"]
_DELIMITERS = (",", ";", "\t", "|")
_REFUSED_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".npy", ".npz", ".py", ".pyc", ".so", ".exe"})
_PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
_COMPRESSED_SUFFIXES = frozenset({".gz", ".zip"})
_OTHER_COMPRESSION = {b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER_RE = r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[iI]nf(?:inity)?|INF)"
_INT_RE = r"[+-]?\d+"
_LEADING_ZERO_RE = r"[+-]?0\d"
_DECIMAL_COMMA_RE = r"[+-]?\d{1,3}(?:\.\d{3})*,\d+|[+-]?\d+,\d+"
_MAX_EXACT_INT = str(2**53)  # 16 digits: integers longer than this lose precision as float64
_BIDI = frozenset([*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C])
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def display_name(column: str, limit: int = 60) -> str:
    """A column name made safe to show: control, bidi and line-breaking characters escaped, then truncated.

    Newlines, carriage returns and tabs become ``\\n``, ``\\r``, ``\\t``; other control characters (so
    ANSI escape sequences lose their ESC), lone surrogates, line/paragraph separators and bidi overrides
    become ``\\uXXXX``. Past ``limit`` characters the name is cut (never inside an escape) and ends in
    ``…``. Markup such as ``[bold]`` is left as text: renderers must not parse markup. Lookups always use
    the original name.
    """
    parts: list[str] = []
    for ch in str(column):
        if ch in _NAMED_ESCAPES:
            parts.append(_NAMED_ESCAPES[ch])
        elif ord(ch) in _BIDI or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") or ch == "\ufeff":
            parts.append(f"\\u{ord(ch):04x}")
        else:
            parts.append(ch)
    if sum(map(len, parts)) <= limit:
        return "".join(parts)
    kept, size = [], 0
    for part in parts:
        if size + len(part) > max(limit - 1, 0):
            break
        kept.append(part)
        size += len(part)
    return "".join(kept) + "…"


def _quote(name: str) -> str:
    return f"'{display_name(name)}'"


def parse_data_argument(text: str) -> tuple[str | None, str]:
    """Split ``NAME=PATH`` into ``(NAME, PATH)``; text without a valid ``NAME=`` prefix is all path."""
    name, sep, path = text.partition("=")
    if sep and _NAME_RE.fullmatch(name) and path:
        return name, path
    return None, text


def _human(n_bytes: int) -> str:
    size = float(n_bytes)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n_bytes} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------------------------- reading
def _read_bytes(path: Path, fname: str, max_bytes: int) -> bytes:
    """The file's bytes, after the checks that need no content: existence, type, extension and size."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ToolError(
            "file_not_found", f"File '{fname}' does not exist.", f"Check the path '{display_name(str(path))}'."
        ) from None
    except OSError as exc:
        raise ToolError("not_readable", f"File '{fname}' cannot be read: {exc.strerror}.", _PERM) from None
    if not path.is_file():
        kind = "a directory" if path.is_dir() else "not a regular file"
        raise ToolError("not_a_file", f"'{fname}' is {kind}.", "Attach a single CSV or Parquet file.")
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if suffixes and suffixes[-1] in _COMPRESSED_SUFFIXES:
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _REFUSED_SUFFIXES:
        raise _unsupported(fname, f"a '{suffixes[-1]}' file")
    if info.st_size > max_bytes:
        raise _too_large(fname, f"is {_human(info.st_size)}", max_bytes)
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ToolError("not_readable", f"File '{fname}' cannot be read: {exc.strerror}.", _PERM) from None
    if len(data) > max_bytes:
        raise _too_large(fname, "grew while being read and is now", max_bytes)
    return data


_PERM = "Check that the file exists and that you have permission to read it."


def _too_large(fname: str, what: str, max_bytes: int) -> ToolError:
    return ToolError(
        "file_too_large",
        f"File '{fname}' {what} larger than the {_human(max_bytes)} limit."
        if what.startswith("grew") or what.startswith("decompresses")
        else f"File '{fname}' {what}, above the {_human(max_bytes)} limit.",
        "Attach a smaller extract (fewer rows or columns), e.g. saved as Parquet with only the needed columns.",
    )


def _unsupported(fname: str, what: str) -> ToolError:
    return ToolError(
        "unsupported_format",
        f"File '{fname}' is {what}, not a data table; it was not opened.",
        "Export the data as CSV or Parquet (pickles and code are never loaded: they can run code).",
    )


def _refuse_by_magic(data: bytes, fname: str) -> None:
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        raise _unsupported(fname, "a Python pickle")
    if data.startswith(b"\x93NUMPY"):
        raise _unsupported(fname, "a NumPy array file")
    if data.startswith(b"\x7fELF") or (data.startswith(b"MZ") and b"\x00" in data[:64]):
        raise _unsupported(fname, "an executable")
    for magic, kind in _OTHER_COMPRESSION.items():
        if data.startswith(magic):
            raise _unsupported(fname, f"{kind}-compressed (only gzip and zip are read)")


def _decompress(data: bytes, fname: str, max_bytes: int, notes: list[str]) -> bytes:
    """Decompress gzip or single-member zip content with a bounded read (a bomb stops at ``max_bytes``)."""
    try:
        if data.startswith(b"\x1f\x8b"):
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as handle:
                out = handle.read(max_bytes + 1)
            notes.append(f"'{fname}' was decompressed from gzip")
        else:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = [
                    i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")
                ]
                if len(members) != 1:
                    raise ToolError(
                        "unsupported_format",
                        f"Zip archive '{fname}' holds {len(members)} files; expected exactly one table.",
                        "Put a single CSV or Parquet file in the archive, or extract the one you need.",
                    )
                member = members[0]
                inner = display_name(member.filename)
                if Path(member.filename).suffix.lower() in _REFUSED_SUFFIXES:
                    raise _unsupported(f"{fname}:{inner}", "not a data table")
                if member.file_size > max_bytes:
                    raise _too_large(fname, "decompresses to", max_bytes)
                with archive.open(member) as handle:
                    out = handle.read(max_bytes + 1)
            notes.append(f"read '{inner}' from the zip archive '{fname}'")
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, RuntimeError, NotImplementedError) as exc:
        raise ToolError(
            "corrupt_archive",
            f"Compressed file '{fname}' could not be decompressed: {str(exc)[:200]}.",
            "Check that the download finished, or attach the uncompressed file.",
        ) from None
    if len(out) > max_bytes:
        raise _too_large(fname, "decompresses to", max_bytes)
    return out


def _load(
    path: Path, encoding: str | None, max_bytes: int
) -> tuple[pd.DataFrame, Format, list[str], str]:
    """Read, hash, detect and parse one file: ``(frame, format, notes, sha256 of the file's bytes)``."""
    fname = display_name(path.name)
    data = _read_bytes(path, fname, max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    notes: list[str] = []
    if not data:
        raise _no_rows(fname, "is empty (0 bytes)")
    _refuse_by_magic(data, fname)
    if data.startswith((b"\x1f\x8b", b"PK\x03\x04")):
        data = _decompress(data, fname, max_bytes, notes)
        if not data:
            raise _no_rows(fname, "decompresses to nothing")
        _refuse_by_magic(data, fname)
    is_parquet_name = path.suffix.lower() in _PARQUET_SUFFIXES
    if data.startswith(b"PAR1"):
        if not is_parquet_name and not notes:
            notes.append(f"'{fname}' is a Parquet file (detected from its contents) and was read as Parquet")
        return _read_parquet(data, fname, notes), "parquet", notes, digest
    if is_parquet_name:
        if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise _invalid_parquet(fname, "it does not start with the Parquet magic bytes")
        notes.append(f"'{fname}' is text, not Parquet (detected from its contents); it was read as CSV")
    return _read_csv(data, fname, encoding, notes), "csv", notes, digest


def _no_rows(fname: str, why: str) -> ToolError:
    return ToolError(
        "no_data_rows",
        f"File '{fname}' {why}: the file has no data rows.",
        "Attach a file with a header row followed by at least one row of data.",
    )


def load_table(
    path: str | os.PathLike[str], *, encoding: str | None = None, max_bytes: int = MAX_FILE_BYTES
) -> tuple[pd.DataFrame, str, list[str]]:
    """Load a CSV or Parquet file. Returns ``(frame, format, notes)``; raises ToolError for bad input."""
    frame, fmt, notes, _ = _load(Path(path).expanduser(), encoding, max_bytes)
    return frame, fmt, notes
