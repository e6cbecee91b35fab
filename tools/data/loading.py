"""Loading user-attached CSV/Parquet files safely into pandas.

Every bad input becomes a :class:`~tools.errors.ToolError` naming the file and the fix. The format is
detected from the file's bytes, never its extension; text is decoded strictly; rows are validated with the
csv module before pandas reads them; every CSV column is read as text and made numeric only when that
loses nothing (no leading zeros, no integers beyond 2**53, no non-numeric values).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import re
import zipfile
import zlib
from collections import Counter
from pathlib import Path
from typing import IO, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tools.data.inference import NA_VALUES, note_infinite, type_columns
from tools.data.names import display_name, quote_name
from tools.errors import ToolError
from tools.readfile import open_regular, os_error, read_regular, too_large

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_INFLATED_BYTES",
    "NA_VALUES",
    "Format",
    "encoding_hint",
    "load_table",
    "read_file",
    "with_encoding_option",
]

#: Largest file read into memory.
MAX_FILE_BYTES = 2 * 1024**3

#: Largest content decompressed from a gzip or zip file. Parsing CSV text takes several times its size in memory
#: (a 720 MiB inflated CSV took 6.8 GB), and a small archive that inflates this far is more likely a bomb than a
#: table; a larger table can still be attached uncompressed, where its size is visible before it is read.
MAX_INFLATED_BYTES = 256 * 1024**2


#: How much text the delimiter sniffer looks at.
SNIFF_CHARS = 64 * 1024


#: Block size for hashing a file that is not held in memory.
_HASH_BLOCK = 4 * 1024**2


#: Columns of a Parquet file read (in parallel) and converted to pandas at a time.
_READ_COLUMNS = 2
#: A text column whose dictionary page stays this small in every row group is read as a categorical.
_SMALL_DICTIONARY_BYTES = 1 << 16
_CATEGORICAL_MIN_ROWS = 1 << 16


Format = Literal["csv", "parquet", "table"]


_DELIMITERS = (",", ";", "\t", "|")


_REFUSED_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".npy", ".npz", ".py", ".pyc", ".so", ".exe"})


PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})


COMPRESSED_SUFFIXES = frozenset({".gz", ".zip"})


_OTHER_MAGIC = {b"\x93NUMPY": "a NumPy array file", b"\x7fELF": "an executable", b"BZh": "bzip2-compressed"}


_BOMS = {b"\xff\xfe\x00\x00": "utf-32", b"\x00\x00\xfe\xff": "utf-32", b"\xff\xfe": "utf-16", b"\xfe\xff": "utf-16"}


_HINTS = {
    "file_not_found": "Check the path and the file name (the path is relative to the working directory).",
    "not_readable": "Check that you have permission to read the file.",
    "not_a_file": "Attach a single CSV or Parquet file.",
    "unsupported_format": "Export the data as CSV or Parquet; pickles and code are never opened (they can run code).",
    "file_too_large": "Attach a smaller extract (fewer rows or columns), e.g. Parquet with only the needed columns.",
    "corrupt_archive": "Check that the download finished, or attach the uncompressed file.",
    "no_data_rows": "Attach a file with a header row followed by at least one row of data.",
    "malformed_csv": "Fix that line (an unquoted delimiter, a missing value or a stray quote) and attach it again.",
    "duplicate_columns": "Rename the columns so that every name is unique, then attach the file again.",
    "invalid_parquet": "The file may be truncated or corrupt: export or download it again.",
    # neutral: the loader cannot know which surface attached the file (see with_encoding_option)
    "bad_encoding": "Re-save the file as UTF-8; its encoding may be cp1252 (Excel on Windows), latin-1 or, "
    "for text full of NUL bytes, utf-16.",
    "long_field": "Shorten that value (or leave the column out), or attach the data as Parquet.",
}


def encoding_hint(option: str) -> str:
    """The fix for undecodable text on a surface whose encoding option is ``option`` (``{}`` marks the value,
    e.g. ``"--encoding {}"``)."""
    examples = f"{option.format('cp1252')} (Excel on Windows) or {option.format('latin-1')}"
    return f"Attach it again with its encoding, e.g. {examples}, or re-save the file as UTF-8."


def with_encoding_option(error: ToolError, option: str) -> ToolError:
    """``error`` with the neutral encoding hint replaced by the exact option of the caller's surface (the loader
    cannot know whether a command line, the app or a notebook attached the file)."""
    if error.code == "bad_encoding" and error.hint == _HINTS["bad_encoding"]:
        return ToolError(error.code, error.message, encoding_hint(option))
    return error


def _fail(code: str, message: str, hint: str | None = None) -> ToolError:
    return ToolError(code, message, _HINTS[code] if hint is None else hint)


def _read_bytes(path: Path, fname: str, max_bytes: int, limit: int | None = None) -> bytes:
    """The file's bytes through the one bounded reader (:mod:`tools.readfile`: a regular file, within the size
    limit), after refusing code and pickles by their extension without opening them.

    With ``limit``, only the first ``limit`` bytes are read (the checks are the same)."""
    suffixes = [s.lower() for s in path.suffixes[-2:] if s.lower() not in COMPRESSED_SUFFIXES]
    if suffixes and suffixes[-1] in _REFUSED_SUFFIXES:
        raise _unsupported(fname, f"a '{suffixes[-1]}' file")
    return read_regular(path, f"File '{fname}'", max_bytes, limit=limit, hints=_HINTS)


def _identity(path: Path) -> tuple[int, int, int, int]:
    """What changes when a file is replaced or written to: device, inode, size and modification time."""
    stat = path.stat()
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


def _hash_file(path: Path, fname: str, max_bytes: int) -> tuple[str, int, bytes]:
    """sha256 of the file read in blocks (no copy of the whole file), its length and its last 4 bytes."""
    digest, length, tail = hashlib.sha256(), 0, b""
    label = f"File '{fname}'"
    with open_regular(path, label, max_bytes, _HINTS) as handle:
        try:
            while block := handle.read(_HASH_BLOCK):
                digest.update(block)
                length += len(block)
                tail = (tail + block[-4:])[-4:]
                if length > max_bytes:
                    raise _too_large(fname, "is larger than the", max_bytes)
        except OSError as exc:
            raise os_error(label, exc, _HINTS) from None
    return digest.hexdigest(), length, tail


def _too_large(fname: str, clause: str, max_bytes: int) -> ToolError:
    return too_large(f"File '{fname}'", clause, max_bytes, _HINTS)


def _unsupported(fname: str, what: str) -> ToolError:
    return _fail("unsupported_format", f"File '{fname}' is {what}, not a data table; it was not opened.")


def _refuse_by_magic(data: bytes, fname: str) -> None:
    """Refuse pickles, arrays, executables and unsupported compression by their first bytes."""
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        raise _unsupported(fname, "a Python pickle")
    if data.startswith(b"MZ") and b"\x00" in data[:64]:
        raise _unsupported(fname, "an executable")
    for magic, what in _OTHER_MAGIC.items():
        if data.startswith(magic):
            raise _unsupported(fname, what)


def _inflate(handle: io.BufferedIOBase | IO[bytes], fname: str, max_bytes: int) -> bytes:
    """Read a decompressing stream in blocks, stopping as soon as it passes ``max_bytes``: a bomb is refused
    after inflating at most one block beyond the limit, never to its full size."""
    parts: list[bytes] = []
    total = 0
    while block := handle.read(_HASH_BLOCK):
        total += len(block)
        if total > max_bytes:
            raise _too_large(fname, "decompresses to more than the", max_bytes)
        parts.append(block)
    return b"".join(parts)


def _decompress(data: bytes, fname: str, max_bytes: int, notes: list[str]) -> bytes:
    """Decompress gzip or single-member zip content as a stream, within ``max_bytes`` (:func:`_inflate`)."""
    try:
        if data.startswith(b"\x1f\x8b"):
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as handle:
                out = _inflate(handle, fname, max_bytes)
            notes.append(f"'{fname}' was decompressed from gzip")
        else:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = [m for m in archive.infolist() if not m.is_dir() and "__MACOSX" not in m.filename]
                if len(members) != 1:
                    raise _fail(
                        "unsupported_format",
                        f"Zip archive '{fname}' holds {len(members)} files; it must hold exactly one table.",
                        "Put a single CSV or Parquet file in the archive, or extract the one you need.",
                    )
                inner = display_name(members[0].filename)
                if Path(members[0].filename).suffix.lower() in _REFUSED_SUFFIXES:
                    raise _unsupported(f"{fname}:{inner}", "not a data table")
                with archive.open(members[0]) as handle:
                    out = _inflate(handle, fname, max_bytes)
            notes.append(f"'{inner}' was read from the zip archive '{fname}'")
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, RuntimeError, NotImplementedError) as exc:
        raise _fail("corrupt_archive", f"'{fname}' could not be decompressed: {str(exc)[:200]}.") from None
    return out


def _no_rows(fname: str, why: str) -> ToolError:
    return _fail("no_data_rows", f"File '{fname}' {why}: the file has no data rows.")


def read_file(path: Path, encoding: str | None, max_bytes: int) -> tuple[pd.DataFrame, Format, list[str], str]:
    """Read, hash, detect and parse one file: ``(frame, format, notes, sha256 of the file's bytes)``.

    A Parquet file (by its first bytes) is hashed in blocks and parsed by Arrow from the file itself, so it is
    never held in memory twice; if the file changes meanwhile, it is read again the ordinary way, in one go.
    """
    fname = display_name(path.name)
    if _read_bytes(path, fname, max_bytes, limit=4) == b"PAR1":
        parsed = _read_parquet_file(path, fname, max_bytes)
        if parsed is not None:
            return parsed
    data = _read_bytes(path, fname, max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    notes: list[str] = []
    if not data:
        raise _no_rows(fname, "is empty (0 bytes)")
    _refuse_by_magic(data, fname)
    if data.startswith((b"\x1f\x8b", b"PK\x03\x04")):
        data = _decompress(data, fname, min(max_bytes, MAX_INFLATED_BYTES), notes)
        _refuse_by_magic(data, fname)
    parquet_name = path.suffix.lower() in PARQUET_SUFFIXES
    if data.startswith(b"PAR1"):
        if not parquet_name and not notes:
            notes.append(f"'{fname}' is a Parquet file (detected from its contents) and was read as Parquet")
        return _read_parquet(data, fname, notes), "parquet", notes, digest
    if parquet_name and not notes:
        if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise _invalid_parquet(fname, "it does not start with the Parquet magic bytes")
        notes.append(f"'{fname}' is text, not Parquet (detected from its contents); it was read as CSV")
    return _read_csv(data, fname, encoding, notes), "csv", notes, digest


def load_table(
    path: str | os.PathLike[str], *, encoding: str | None = None, max_bytes: int = MAX_FILE_BYTES
) -> tuple[pd.DataFrame, str, list[str]]:
    """Load a CSV or Parquet file. Returns ``(frame, format, notes)``; raises ToolError for bad input."""
    frame, fmt, notes, _ = read_file(Path(path).expanduser(), encoding, max_bytes)
    return frame, fmt, notes


def _decode(data: bytes, fname: str, encoding: str | None, notes: list[str]) -> str:
    """Strict decoding: ``encoding`` if given, else UTF-16/32 when a BOM says so, else UTF-8 (BOM dropped)."""
    codec, skip = encoding or "utf-8", 0
    if encoding is None:
        codec = next((name for bom, name in _BOMS.items() if data.startswith(bom)), "utf-8")
        skip = 3 if data.startswith(b"\xef\xbb\xbf") else 0  # the UTF-8 BOM is dropped silently
        if codec != "utf-8":
            notes.append(f"'{fname}' was decoded as {codec.upper()} (it starts with a byte-order mark)")
    label = display_name(codec, 40)
    try:
        text = data[skip:].decode(codec)
    except LookupError:
        raise _fail("bad_encoding", f"'{label}' (asked for '{fname}') is not a known text encoding.") from None
    except UnicodeDecodeError as exc:
        offset = skip + exc.start
        raise _fail(
            "bad_encoding",
            f"File '{fname}' is not valid {label}: byte 0x{data[offset]:02x} at byte offset {offset} "
            "cannot be decoded.",
            None if encoding is None else f"Check that {label} is the file's encoding, or re-save it as UTF-8.",
        ) from None
    if "\x00" in text:
        raise _fail(
            "bad_encoding",
            f"File '{fname}' read as {label} contains NUL characters: it is binary, or UTF-16 without a BOM.",
            None if encoding is None else "Give the right encoding (e.g. utf-16), or export the data as a UTF-8 CSV.",
        )
    return text.removeprefix("\ufeff")


def _sniff_delimiter(text: str) -> str:
    """The candidate giving the most consistent field count (more than one field) over the first ~64 KB."""
    sample = text[:SNIFF_CHARS]
    if len(text) > SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    best, best_key = ",", (0.0, 0)
    for delim in _DELIMITERS:
        try:
            rows = [row for row in csv.reader(io.StringIO(sample, newline=""), delimiter=delim) if row]
        except csv.Error:
            continue
        if rows and len(rows[0]) > 1:
            key = (sum(len(row) == len(rows[0]) for row in rows) / len(rows), len(rows[0]))
            if key > best_key:
                best, best_key = delim, key
    return best


def _scan_rows(text: str, delim: str, fname: str) -> tuple[list[str], int]:
    """Read every record with the csv module: the exact header, the row count, and ragged-row errors."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    header: list[str] = []
    n_rows, line = 0, 1  # ``line``: the physical line the current record starts on
    try:
        for row in reader:
            if not row or (len(row) == 1 and row[0] and not row[0].strip(" \t")):
                pass  # a blank or whitespace-only line, which pandas skips too
            elif not header:
                header = row
            elif len(row) != len(header):
                message = f"line {line} has {len(row)} fields but the header has {len(header)}"
                raise _fail("malformed_csv", f"File '{fname}' is malformed: {message}.")
            else:
                n_rows += 1
            line = reader.line_num + 1
    except csv.Error as exc:
        if "field limit" in str(exc):
            raise _long_field(fname, line, reader.line_num) from None
        reason = f"line {line}: {exc}"
        if "end of data" in str(exc):
            reason = f"the quoted field starting on line {line} is never closed"
        raise _fail("malformed_csv", f"File '{fname}' is malformed: {reason}.") from None
    if not header:
        raise _no_rows(fname, "holds only blank lines")
    if n_rows == 0:
        raise _no_rows(fname, "has a header but nothing below it")
    return header, n_rows


def _long_field(fname: str, line: int, reached: int) -> ToolError:
    """A field over the csv module's size limit: one very long value, or (when the field already spans many
    lines) a quote that is never closed, which makes the rest of the file one field."""
    limit = f"{csv.field_size_limit():,}-character"
    if reached - line >= 2:
        return _fail(
            "malformed_csv",
            f"File '{fname}' is malformed: the quoted field starting on line {line} runs past line {reached} and "
            f"over the {limit} field limit; its closing quote is probably missing.",
        )
    return _fail("long_field", f"File '{fname}' has a value on line {line} longer than the {limit} field limit.")


def _refuse_duplicates(names: list[str], fname: str) -> None:
    dupes = [name for name, count in Counter(names).items() if count > 1]
    if dupes:
        listed = ", ".join(quote_name(name) for name in dupes)
        raise _fail("duplicate_columns", f"File '{fname}' has duplicate column names: {listed}.")


def _read_csv(data: bytes, fname: str, encoding: str | None, notes: list[str]) -> pd.DataFrame:
    text = _decode(data, fname, encoding, notes)
    delim = _sniff_delimiter(text)
    header, n_rows = _scan_rows(text, delim, fname)
    _refuse_duplicates(header, fname)
    try:
        frame = pd.read_csv(
            io.StringIO(text, newline=""), sep=delim, header=0, names=header, dtype=str, keep_default_na=False,
            na_filter=False, on_bad_lines="error", engine="c",
        )  # fmt: skip
    except (pd.errors.ParserError, ValueError) as exc:  # the csv scan should have caught it first
        raise _fail("malformed_csv", f"File '{fname}' is malformed: {str(exc)[:200]}.") from None
    if len(frame) != n_rows or list(frame.columns) != header:
        message = f"File '{fname}' could not be read consistently ({n_rows} rows expected, {len(frame)} read)."
        raise _fail("malformed_csv", message, "Re-export the file from its source as a standard CSV.")
    return type_columns(frame, notes)


def _invalid_parquet(fname: str, why: str) -> ToolError:
    return _fail("invalid_parquet", f"File '{fname}' is not valid Parquet: {why}.")


def _read_parquet_file(path: Path, fname: str, max_bytes: int) -> tuple[pd.DataFrame, Format, list[str], str] | None:
    """:func:`read_file` for a file starting with the Parquet magic bytes, without holding its bytes; None when
    the file changed while it was read (the caller then reads it again in one go)."""
    notes: list[str] = []
    if path.suffix.lower() not in PARQUET_SUFFIXES:
        notes.append(f"'{fname}' is a Parquet file (detected from its contents) and was read as Parquet")
    try:
        before = _identity(path)
    except OSError:
        return None
    digest, length, tail = _hash_file(path, fname, max_bytes)
    frame: pd.DataFrame | ToolError
    if length < 12 or tail != b"PAR1":
        frame = _invalid_parquet(fname, "it is truncated (the Parquet footer is missing)")
    else:
        try:
            with pa.OSFile(str(path)) as source:
                frame = _parquet_frame(source, fname, notes)
        except ToolError as error:
            frame = error
        except (pa.ArrowException, OSError):
            return None
    try:
        if _identity(path) != before:
            return None  # what was parsed may not be what was hashed
    except OSError:
        return None
    if isinstance(frame, ToolError):
        raise frame
    return frame, "parquet", notes, digest


def _read_parquet(data: bytes, fname: str, notes: list[str]) -> pd.DataFrame:
    if len(data) < 12 or not data.endswith(b"PAR1"):
        raise _invalid_parquet(fname, "it is truncated (the Parquet footer is missing)")
    return _parquet_frame(pa.BufferReader(data), fname, notes)


def _parquet_frame(source: pa.NativeFile, fname: str, notes: list[str]) -> pd.DataFrame:
    """Parse Parquet from ``source``. A flat schema is read :data:`_READ_COLUMNS` columns at a time, each column
    converted to pandas before the next are read, so the Arrow copy of the whole table never exists; errors
    come in the same order as from one read of every column (a column that cannot be read, then one that
    cannot be converted)."""
    try:
        parquet = pq.ParquetFile(source)
        schema = parquet.schema_arrow
        _refuse_duplicates(list(schema.names), fname)
        flat = not any("." in field.name or pa.types.is_nested(field.type) for field in schema)
        whole = parquet.read() if not flat or parquet.metadata.num_rows == 0 or not schema.names else None
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _parquet_error(fname, exc) from None
    if whole is not None and (whole.num_rows == 0 or whole.num_columns == 0):
        raise _no_rows(fname, "holds a schema but no rows")
    names = list(schema.names)
    if dropped := [name for name in names if re.fullmatch(r"__index_level_\d+__", name)]:
        notes.append(f"the unnamed pandas index stored in '{fname}' was dropped ({', '.join(dropped)})")
    converted: dict[str, pd.Series] = {}
    failure: ToolError | None = None
    if whole is None and (categorical := _dictionary_text_columns(parquet)):
        try:
            parquet = pq.ParquetFile(source, read_dictionary=sorted(categorical))
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise _parquet_error(fname, exc) from None
    step = len(names) if whole is not None else _READ_COLUMNS
    for batch in [names[i : i + step] for i in range(0, len(names), step)]:
        if whole is not None:
            table, whole = whole, None
        else:
            try:
                table = parquet.read(columns=batch)
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise _parquet_error(fname, exc) from None
        columns = dict(zip(batch, table.columns, strict=True))
        del table
        for name in batch:
            column = columns.pop(name)
            if name not in dropped and failure is None:
                try:
                    converted[name] = _convert_arrow(column, name, fname, notes)
                except ToolError as error:
                    failure = error  # raised once every column has been read
            del column
    if failure is not None:
        raise failure
    return pd.DataFrame(converted, copy=False)  # no copy: the columns stay apart, as converted


def _dictionary_text_columns(parquet: pq.ParquetFile) -> set[str]:
    """Text columns with a small dictionary page in every row group: few distinct values (arms, countries,
    platforms). They are read as categoricals, which saves converting each row's text and gives the codes that
    grouping needs. A writer that meets many distinct values (IDs) fills its dictionary page to the limit
    (1 MiB in Arrow) and falls back to plain pages; such a column stays text."""
    metadata = parquet.metadata
    text = {
        field.name
        for field in parquet.schema_arrow
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type)
    }
    if not text or metadata.num_rows < _CATEGORICAL_MIN_ROWS:
        return set()  # small files gain nothing, and keep the same types as from CSV
    found = set()
    for j in range(metadata.num_columns):
        name = parquet.schema.column(j).path
        if name not in text:
            continue
        chunks = [metadata.row_group(group).column(j) for group in range(metadata.num_row_groups)]
        if all(
            chunk.has_dictionary_page
            and chunk.dictionary_page_offset is not None
            and 0 < chunk.data_page_offset - chunk.dictionary_page_offset <= _SMALL_DICTIONARY_BYTES
            for chunk in chunks
        ):
            found.add(name)
    return found


def _parquet_error(fname: str, exc: Exception) -> ToolError:
    return _invalid_parquet(fname, (str(exc).splitlines() or [type(exc).__name__])[0][:200].rstrip("."))


def _convert_arrow(column: pa.ChunkedArray, name: str, fname: str, notes: list[str]) -> pd.Series:
    """One Arrow column as a pandas Series, with every lossy or unusual type converted explicitly."""
    label, kind = quote_name(name), column.type
    series: pd.Series
    try:
        if pa.types.is_dictionary(kind) and not pa.types.is_string(kind.value_type):
            column = column.cast(kind.value_type)
            kind = column.type
        if pa.types.is_dictionary(kind):
            series = column.to_pandas().astype("category")
        elif pa.types.is_nested(kind):
            notes.append(f"column {label} is nested (struct/list) and cannot be analysed")
            series = column.to_pandas()
        elif pa.types.is_decimal(kind):
            notes.append(f"column {label} is {kind}; converted to float64 (about 15 significant digits)")
            series = column.cast(pa.float64()).to_pandas()
        elif pa.types.is_integer(kind) and column.null_count:
            wide = any(v is not None and abs(v) > 2**53 for v in pc.min_max(column).as_py().values())
            if wide:
                notes.append(f"column {label} was kept as text: it has integers beyond 2**53 and missing values")
            series = column.cast(pa.string() if wide else pa.float64()).to_pandas()
        elif pa.types.is_boolean(kind) and column.null_count:
            series = column.to_pandas().astype("boolean")
        elif pa.types.is_timestamp(kind) and kind.tz is not None:
            notes.append(f"column {label} has time zone {kind.tz}; its timestamps were converted to UTC")
            series = column.to_pandas().dt.tz_convert("UTC")
        else:
            series = column.to_pandas(date_as_object=False)
    except (pa.ArrowException, ValueError, TypeError, OverflowError) as exc:
        message = f"Column {label} of '{fname}' has type {kind}, which cannot be loaded: {str(exc)[:120]}."
        raise _fail("unsupported_format", message, "Cast or drop that column before exporting.") from None
    if pd.api.types.is_float_dtype(series.dtype):
        note_infinite(series, label, notes)
    return series
