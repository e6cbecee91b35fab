"""Loading attached CSV/Parquet files: every fault in RELIABILITY.md 7.1 ends in a ToolError or a note."""

from __future__ import annotations

import decimal
import gzip
import hashlib
import io
import os
import pickle
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tools.data import (
    MAX_FILE_BYTES,
    Catalog,
    Dataset,
    display_name,
    load_table,
    parse_data_argument,
)
from tools.errors import ToolError

GOOD_CSV = "user_id,arm,revenue,visits\n007,A,1.5,3\n012,B,2.25,4\n100,A,0,5\n"


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def error_of(path: Path, **kwargs: object) -> ToolError:
    with pytest.raises(ToolError) as info:
        load_table(path, **kwargs)  # type: ignore[arg-type]
    error = info.value
    assert error.hint, "every error says how to fix it"
    return error


def is_text(series: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(series.dtype) and not pd.api.types.is_numeric_dtype(series.dtype)


# ------------------------------------------------------------------------------------------------ round trips
def test_a_well_formed_csv_round_trips_with_numeric_dtypes_and_string_ids(tmp_path: Path) -> None:
    frame, fmt, notes = load_table(write(tmp_path, "exp.csv", GOOD_CSV))
    assert fmt == "csv"
    assert list(frame.columns) == ["user_id", "arm", "revenue", "visits"]
    assert is_text(frame["user_id"])
    assert frame["user_id"].tolist() == ["007", "012", "100"]
    assert frame["arm"].tolist() == ["A", "B", "A"]
    assert frame["revenue"].dtype == np.float64
    assert frame["revenue"].tolist() == [1.5, 2.25, 0.0]
    assert frame["visits"].dtype == np.int64
    assert frame["visits"].tolist() == [3, 4, 5]
    assert any("leading zeros" in note and "'user_id'" in note for note in notes)


def test_a_well_formed_parquet_round_trips_values_and_dtypes(tmp_path: Path) -> None:
    table = pa.table({"user_id": ["007", "012"], "revenue": [1.5, 2.0], "visits": pa.array([3, 4], pa.int64())})
    frame, fmt, notes = load_table(write(tmp_path, "exp.parquet", parquet_bytes(table)))
    assert fmt == "parquet"
    assert notes == []
    assert frame["user_id"].tolist() == ["007", "012"]
    assert is_text(frame["user_id"])
    assert frame["revenue"].dtype == np.float64
    assert frame["visits"].dtype == np.int64
    assert frame["visits"].tolist() == [3, 4]


# ------------------------------------------------------------------------------------------ paths and formats
def test_a_missing_file_and_a_directory_are_refused(tmp_path: Path) -> None:
    missing = error_of(tmp_path / "nope.csv")
    assert missing.code == "file_not_found"
    assert "nope.csv" in missing.message
    assert "does not exist" in missing.message
    directory = error_of(tmp_path)
    assert directory.code == "not_a_file"
    assert "directory" in directory.message


def test_an_unreadable_file_and_a_fifo_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "locked.csv", GOOD_CSV)

    real_open = os.open

    def denied(file: str, *args: Any, **kwargs: Any) -> int:
        if str(file).endswith("locked.csv"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(os, "open", denied)
        error = error_of(path)
    assert error.code == "not_readable"
    assert "locked.csv" in error.message and "permission denied" in error.message
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    refused = error_of(fifo)  # opened without blocking and refused before a byte is read
    assert refused.code == "not_a_file" and "named pipe (FIFO)" in refused.message


def test_parquet_named_csv_is_read_as_parquet_with_a_note(tmp_path: Path) -> None:
    path = write(tmp_path, "sneaky.csv", parquet_bytes(pa.table({"x": [1.0, 2.0]})))
    frame, fmt, notes = load_table(path)
    assert fmt == "parquet"
    assert frame["x"].tolist() == [1.0, 2.0]
    assert any("Parquet" in note and "sneaky.csv" in note for note in notes)


def test_text_named_parquet_is_read_as_csv_and_binary_junk_is_invalid_parquet(tmp_path: Path) -> None:
    frame, fmt, notes = load_table(write(tmp_path, "text.parquet", "a,b\n1,2\n"))
    assert fmt == "csv"
    assert frame["a"].tolist() == [1]
    assert any("not Parquet" in note for note in notes)
    junk = error_of(write(tmp_path, "junk.parquet", b"\x01\x02\x00\x00garbage"))
    assert junk.code == "invalid_parquet"
    assert "not valid Parquet" in junk.message
    assert "junk.parquet" in junk.message


@pytest.mark.parametrize("cut", [lambda b: b[: len(b) // 2], lambda b: b[:-1], lambda b: b[:4] + b"x" * 40 + b"PAR1"])
def test_truncated_or_corrupt_parquet_is_invalid_parquet_without_a_traceback(tmp_path: Path, cut: object) -> None:
    data = parquet_bytes(pa.table({"x": list(range(100))}))
    error = error_of(write(tmp_path, "broken.parquet", cut(data)))  # type: ignore[operator]
    assert error.code == "invalid_parquet"
    assert "broken.parquet" in error.message
    assert "not valid Parquet" in error.message


@pytest.mark.parametrize("name", ["model.pkl", "x.pickle", "m.joblib", "a.npy", "a.npz", "run.py", "lib.so"])
def test_pickles_code_and_binaries_are_refused_by_extension(tmp_path: Path, name: str) -> None:
    error = error_of(write(tmp_path, name, b"a,b\n1,2\n"))
    assert error.code == "unsupported_format"
    assert name in error.message


def test_a_pickle_disguised_as_csv_is_refused_by_magic_and_never_deserialised(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str, str]]:
            return (open, (str(marker), "w"))

    for protocol in (2, 5):
        error = error_of(write(tmp_path, "data.csv", pickle.dumps(Exploit(), protocol=protocol)))
        assert error.code == "unsupported_format"
        assert "pickle" in error.message
    gz = error_of(write(tmp_path, "data.csv.gz", gzip.compress(pickle.dumps(Exploit(), protocol=4))))
    assert gz.code == "unsupported_format"
    assert not marker.exists()


def test_a_file_above_the_size_limit_is_refused_before_loading(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "big.csv", "a\n" + "1\n" * 600), max_bytes=1024)
    assert error.code == "file_too_large"
    assert "big.csv" in error.message
    assert "1.2 KiB" in error.message and "1.0 KiB" in error.message
    assert MAX_FILE_BYTES >= 2**30


# ---------------------------------------------------------------------------------------------- compression
def test_gzip_and_zip_csvs_are_decompressed(tmp_path: Path) -> None:
    frame, fmt, notes = load_table(write(tmp_path, "exp.csv.gz", gzip.compress(GOOD_CSV.encode())))
    assert fmt == "csv"
    assert frame["revenue"].tolist() == [1.5, 2.25, 0.0]
    assert any("gzip" in note for note in notes)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("inner/exp.csv", GOOD_CSV)
    frame, _, notes = load_table(write(tmp_path, "exp.zip", buffer.getvalue()))
    assert frame["visits"].tolist() == [3, 4, 5]
    assert any("exp.csv" in note and "zip" in note for note in notes)


def test_compression_bombs_stop_at_the_cap(tmp_path: Path) -> None:
    bomb = gzip.compress(b"a\n" + b"1\n" * 5_000_000)  # ~10 MB of text in a few KB
    error = error_of(write(tmp_path, "bomb.csv.gz", bomb), max_bytes=100_000)
    assert error.code == "file_too_large"
    assert "decompresses" in error.message
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.csv", b"a\n" + b"1\n" * 5_000_000)
    error = error_of(write(tmp_path, "bomb.zip", buffer.getvalue()), max_bytes=100_000)
    assert error.code == "file_too_large"


def test_a_corrupt_gzip_and_a_multi_file_zip_are_refused(tmp_path: Path) -> None:
    corrupt = error_of(write(tmp_path, "bad.csv.gz", gzip.compress(GOOD_CSV.encode())[:20]))
    assert corrupt.code == "corrupt_archive"
    assert "bad.csv.gz" in corrupt.message
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.csv", "x\n1\n")
        archive.writestr("b.csv", "x\n2\n")
    many = error_of(write(tmp_path, "two.zip", buffer.getvalue()))
    assert many.code == "unsupported_format"
    assert "2 files" in many.message


# ------------------------------------------------------------------------------------------------ empty input
@pytest.mark.parametrize("content", ["", "a,b,c\n", "a,b,c", "\n\n", "a,b\n\n\n"])
def test_empty_or_header_only_files_have_no_data_rows(tmp_path: Path, content: str) -> None:
    error = error_of(write(tmp_path, "empty.csv", content))
    assert error.code == "no_data_rows"
    assert "no data rows" in error.message
    assert "empty.csv" in error.message


def test_parquet_without_rows_has_no_data_rows(tmp_path: Path) -> None:
    table = pa.table({"x": pa.array([], pa.float64())})
    error = error_of(write(tmp_path, "empty.parquet", parquet_bytes(table)))
    assert error.code == "no_data_rows"


# --------------------------------------------------------------------------------------------------- encoding
def test_a_utf8_bom_is_stripped_silently(tmp_path: Path) -> None:
    frame, _, notes = load_table(write(tmp_path, "bom.csv", "\ufeffid,x\na,1\n".encode()))
    assert list(frame.columns) == ["id", "x"]
    assert notes == []


def test_utf16_with_a_bom_is_decoded(tmp_path: Path) -> None:
    frame, _, notes = load_table(write(tmp_path, "u16.csv", "city,n\nZürich,1\nGenève,2\n".encode("utf-16")))
    assert frame["city"].tolist() == ["Zürich", "Genève"]
    assert frame["n"].tolist() == [1, 2]
    assert any("UTF-16" in note for note in notes)


def test_undecodable_bytes_name_the_encoding_and_offset_and_an_explicit_encoding_reads_them(tmp_path: Path) -> None:
    path = write(tmp_path, "excel.csv", "city,n\ncafé,1\n".encode("cp1252"))
    error = error_of(path)
    assert error.code == "bad_encoding"
    assert "utf-8" in error.message.lower()
    assert "offset 10" in error.message and "0xe9" in error.message
    assert "cp1252" in error.hint
    frame, _, _ = load_table(path, encoding="cp1252")
    assert frame["city"].tolist() == ["café"]
    unknown = error_of(path, encoding="no-such-codec")
    assert unknown.code == "bad_encoding"


def test_utf16_without_a_bom_is_not_read_as_garbage(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "u16le.csv", "a,b\n1,2\n".encode("utf-16-le")))
    assert error.code == "bad_encoding"
    assert "NUL" in error.message


# ------------------------------------------------------------------------------------ delimiters and numbers
def test_semicolon_delimiter_is_sniffed_and_decimal_commas_are_flagged(tmp_path: Path) -> None:
    content = "arm;revenue;n\nA;1,5;3\nB;12,75;4\n"
    frame, _, notes = load_table(write(tmp_path, "eu.csv", content))
    assert list(frame.columns) == ["arm", "revenue", "n"]
    assert is_text(frame["revenue"])
    assert frame["revenue"].tolist() == ["1,5", "12,75"]
    assert frame["n"].tolist() == [3, 4]
    assert any("'revenue'" in note and "decimal comma" in note for note in notes)


@pytest.mark.parametrize("delimiter", ["\t", "|", ","])
def test_tab_pipe_and_comma_delimiters_are_sniffed_respecting_quotes(tmp_path: Path, delimiter: str) -> None:
    rows = [["name", "note", "x"], ["a", '"hello, world; | yes"', "1"], ["b", "plain", "2"]]
    frame, _, _ = load_table(write(tmp_path, "d.csv", "\n".join(delimiter.join(r) for r in rows) + "\n"))
    assert list(frame.columns) == ["name", "note", "x"]
    assert frame["note"].tolist() == ["hello, world; | yes", "plain"]
    assert frame["x"].tolist() == [1, 2]


def test_blank_and_whitespace_only_lines_are_skipped_and_quoted_newlines_kept(tmp_path: Path) -> None:
    content = 'a,b\r\n\r\n1,"two\r\nlines"\r\n   \r\n3,x\r\n\r\n'
    frame, _, _ = load_table(str(write(tmp_path, "blank.csv", content)))
    assert frame["a"].tolist() == [1, 3]
    assert frame["b"].tolist() == ["two\r\nlines", "x"]


# -------------------------------------------------------------------------------------------- malformed input
def test_a_row_with_too_many_fields_is_malformed_with_its_line_number(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "ragged.csv", "a,b\n1,2\n3,4,5\n6,7\n"))
    assert error.code == "malformed_csv"
    assert "line 3" in error.message and "3 fields" in error.message
    assert "ragged.csv" in error.message


def test_a_short_row_is_malformed_rather_than_silently_padded(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "short.csv", 'a,b,c\n1,2,3\n"multi\nline",5,6\n\n7,8\n'))
    assert error.code == "malformed_csv"
    assert "line 6" in error.message and "2 fields" in error.message


def test_an_unclosed_quote_is_malformed_with_the_line_it_starts_on(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "quote.csv", 'a,b\n1,2\n3,"four\n5,6\n7,8\n'))
    assert error.code == "malformed_csv"
    assert "line 3" in error.message and "never closed" in error.message


def test_duplicate_csv_columns_are_listed_not_mangled(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "dupes.csv", "x,y,x,z,y\n1,2,3,4,5\n"))
    assert error.code == "duplicate_columns"
    assert "'x'" in error.message and "'y'" in error.message and "'z'" not in error.message
    assert "x.1" not in error.message


def test_duplicate_parquet_columns_are_refused(tmp_path: Path) -> None:
    table = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"])
    error = error_of(write(tmp_path, "dupes.parquet", parquet_bytes(table)))
    assert error.code == "duplicate_columns"
    assert "'a'" in error.message


# --------------------------------------------------------------------------------------------- column names
def test_hostile_column_names_are_kept_exactly_for_lookup(tmp_path: Path) -> None:
    names = ["line\nbreak", "[bold]x[/bold]", "emoji 🎉", "rtl\u202eevil", " spaced "]
    header = ",".join(f'"{name}"' for name in names)
    frame, _, _ = load_table(write(tmp_path, "names.csv", f"{header}\n1,2,3,4,5\n"))
    assert list(frame.columns) == names
    assert frame["line\nbreak"].tolist() == [1]
    assert frame["rtl\u202eevil"].tolist() == [4]


def test_display_name_escapes_controls_newlines_ansi_and_bidi_but_keeps_markup_text() -> None:
    assert display_name("a\nb\r\tc") == "a\\nb\\r\\tc"
    assert display_name("rtl\u202eevil\u2066x") == "rtl\\u202eevil\\u2066x"
    assert display_name("\x1b[31mred\x1b[0m") == "\\u001b[31mred\\u001b[0m"
    assert display_name("[bold]x[/bold]") == "[bold]x[/bold]"
    assert display_name("emoji 🎉") == "emoji 🎉"
    long = display_name("n" * 5000)
    assert len(long) == 60 and long.endswith("…")
    assert len(display_name("n" * 5000, limit=10)) == 10
    cut = display_name("ab" + "\n" * 40, limit=7)
    assert cut == "ab\\n\\n…"  # never cut inside an escape
    assert display_name("short") == "short"


# ------------------------------------------------------------------------------------------ values and dtypes
def test_ids_with_leading_zeros_or_beyond_2_53_stay_strings(tmp_path: Path) -> None:
    content = "zip,big,edge,plain\n00501,9007199254740993,9007199254740992,1\n02134,12345678901234567890,-5,2\n"
    frame, _, notes = load_table(write(tmp_path, "ids.csv", content))
    assert frame["zip"].tolist() == ["00501", "02134"]
    assert frame["big"].tolist() == ["9007199254740993", "12345678901234567890"]
    assert is_text(frame["zip"]) and is_text(frame["big"])
    assert frame["edge"].dtype == np.int64
    assert frame["edge"].tolist() == [2**53, -5]
    assert frame["plain"].dtype == np.int64
    assert any("'big'" in note and "2**53" in note for note in notes)


def test_missing_value_policy_is_explicit_and_counted_per_column(tmp_path: Path) -> None:
    content = "city,score,label\nNA,1,n/a\nnull,,x\nParis,NaN,-\nN/A,4,None\n"
    frame, _, notes = load_table(write(tmp_path, "na.csv", content))
    assert frame["city"].isna().tolist() == [True, True, False, True]
    assert frame["score"].dtype == np.float64
    assert frame["score"].isna().tolist() == [False, True, True, False]
    assert frame["label"].tolist()[0] == "n/a"  # not in the policy: kept as text
    assert "3 values in column 'city' read as missing ('N/A', 'NA', 'null')" in notes
    assert "2 values in column 'score' read as missing ('', 'NaN')" in notes
    assert "2 values in column 'label' read as missing ('-', 'None')" in notes


def test_infinite_values_keep_the_column_numeric_with_a_note(tmp_path: Path) -> None:
    frame, _, notes = load_table(write(tmp_path, "inf.csv", "m,ok\n1.5,1\ninf,2\n-inf,3\n1e400,4\n2,5\n"))
    assert frame["m"].dtype == np.float64
    assert np.isinf(frame["m"]).sum() == 3
    assert any("'m'" in note and "3 infinite values" in note for note in notes)
    assert not any("'ok'" in note for note in notes)


def test_mixed_type_columns_stay_strings_with_the_first_bad_value_and_row(tmp_path: Path) -> None:
    content = "metric,words\n12,a\n1e3,b\n$5,c\n7,d\n"
    frame, _, notes = load_table(write(tmp_path, "mixed.csv", content))
    assert is_text(frame["metric"])
    assert frame["metric"].tolist() == ["12", "1e3", "$5", "7"]
    assert any("'metric' is mostly numeric" in note and "'$5'" in note and "(row 3)" in note for note in notes), notes
    assert not any("'words'" in note for note in notes)


def test_dates_are_left_as_strings(tmp_path: Path) -> None:
    frame, _, _ = load_table(write(tmp_path, "dates.csv", "day,n\n2024-01-01,1\n01/02/2024,2\n"))
    assert frame["day"].tolist() == ["2024-01-01", "01/02/2024"]
    assert is_text(frame["day"])


def test_parquet_types_are_converted_explicitly(tmp_path: Path) -> None:
    table = pa.table(
        {
            "nullable_int": pa.array([1, None, 3], pa.int64()),
            "wide_int": pa.array([2**60, None, 1], pa.int64()),
            "empty_int": pa.array([None, None, None], pa.int32()),
            "category": pa.array(["a", "b", "a"]).dictionary_encode(),
            "amount": pa.array([decimal.Decimal("1.10"), None, decimal.Decimal("3.25")], pa.decimal128(10, 2)),
            "seen": pa.array([datetime(2024, 1, 1, tzinfo=UTC)] * 3, pa.timestamp("us", tz="Europe/Paris")),
            "nested": pa.array([{"x": 1}, {"x": 2}, None], pa.struct([("x", pa.int64())])),
            "tags": pa.array([[1], [2, 3], None]),
            "flag": pa.array([True, None, False]),
            "ratio": pa.array([1.0, float("inf"), None]),
        }
    )
    frame, _, notes = load_table(write(tmp_path, "types.parquet", parquet_bytes(table)))
    assert frame["nullable_int"].dtype == np.float64
    assert frame["nullable_int"].isna().tolist() == [False, True, False]
    assert frame["wide_int"].tolist()[0] == str(2**60)
    assert frame["empty_int"].isna().all()
    assert isinstance(frame["category"].dtype, pd.CategoricalDtype)
    assert frame["amount"].dtype == np.float64
    assert frame["amount"].iloc[2] == 3.25
    assert str(frame["seen"].dt.tz) == "UTC"
    assert frame["seen"].iloc[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert frame["flag"].dtype == "boolean"
    assert any("'amount'" in note and "float64" in note for note in notes)
    assert any("'seen'" in note and "UTC" in note for note in notes)
    assert "column 'nested' is nested (struct/list) and cannot be analysed" in notes
    assert "column 'tags' is nested (struct/list) and cannot be analysed" in notes
    assert any("'ratio'" in note and "1 infinite value" in note for note in notes)


def test_an_unnamed_pandas_index_in_parquet_is_dropped_with_a_note(tmp_path: Path) -> None:
    table = pa.Table.from_pandas(pd.DataFrame({"x": [1.0, 2.0]}, index=[10, 20]))
    assert "__index_level_0__" in table.column_names
    frame, _, notes = load_table(write(tmp_path, "indexed.parquet", parquet_bytes(table)))
    assert list(frame.columns) == ["x"]
    assert any("index" in note and "dropped" in note for note in notes)


# ---------------------------------------------------------------------------------------------------- catalog
def test_catalog_adds_gets_and_lists_datasets(tmp_path: Path) -> None:
    catalog = Catalog()
    assert len(catalog) == 0
    dataset = catalog.add(write(tmp_path, "my-exp 2024.csv.gz", gzip.compress(GOOD_CSV.encode())))
    assert isinstance(dataset, Dataset)
    assert dataset.name == "my_exp_2024"
    assert dataset.path == (tmp_path / "my-exp 2024.csv.gz").resolve()
    assert dataset.format == "csv"
    assert dataset.n_rows == 3
    assert dataset.columns == ("user_id", "arm", "revenue", "visits")
    assert len(dataset.sha256) == 64
    other = catalog.add(write(tmp_path, "2024.parquet", parquet_bytes(pa.table({"x": [1]}))))
    assert other.name == "d_2024"
    assert catalog.names() == ["my_exp_2024", "d_2024"]
    assert len(catalog) == 2
    assert "d_2024" in catalog and "nope" not in catalog
    assert [d.name for d in catalog] == ["my_exp_2024", "d_2024"]
    assert catalog.get("d_2024") is other
    assert catalog.frame("my_exp_2024")["visits"].tolist() == [3, 4, 5]


def test_catalog_frames_are_protected_from_callers(tmp_path: Path) -> None:
    catalog = Catalog()
    catalog.add(write(tmp_path, "exp.csv", GOOD_CSV), name="exp")
    frame = catalog.frame("exp")
    frame["visits"] = 0
    frame["new"] = 1
    assert catalog.frame("exp")["visits"].tolist() == [3, 4, 5]
    assert "new" not in catalog.frame("exp").columns


def test_unknown_dataset_names_the_closest_attached_one(tmp_path: Path) -> None:
    catalog = Catalog()
    with pytest.raises(ToolError) as empty:
        catalog.get("sales")
    assert empty.value.code == "unknown_dataset"
    catalog.add(write(tmp_path, "a.csv", GOOD_CSV), name="sales_2024")
    catalog.add(write(tmp_path, "b.csv", GOOD_CSV), name="traffic")
    with pytest.raises(ToolError) as info:
        catalog.frame("sales2024")
    assert info.value.code == "unknown_dataset"
    assert "sales2024" in info.value.message
    assert "Did you mean 'sales_2024'?" in info.value.hint
    assert "sales_2024, traffic" in info.value.hint


def test_catalog_refuses_an_invalid_explicit_name(tmp_path: Path) -> None:
    with pytest.raises(ToolError) as info:
        Catalog().add(write(tmp_path, "a.csv", GOOD_CSV), name="1 bad name")
    assert info.value.code == "invalid_dataset_name"


def test_re_adding_a_name_replaces_the_dataset(tmp_path: Path) -> None:
    catalog = Catalog()
    first = catalog.add(write(tmp_path, "a.csv", GOOD_CSV), name="exp")
    second = catalog.add(write(tmp_path, "b.csv", "x\n1\n2\n"), name="exp")
    assert len(catalog) == 1
    assert catalog.get("exp") is second
    assert second != first
    assert catalog.frame("exp").columns.tolist() == ["x"]


def test_changed_on_disk_detects_rewrites_and_deletion(tmp_path: Path) -> None:
    path = write(tmp_path, "exp.csv", GOOD_CSV)
    catalog = Catalog()
    catalog.add(path)
    assert catalog.changed_on_disk("exp") is False
    path.write_text(GOOD_CSV.replace("2.25", "9.99"), encoding="utf-8")
    assert catalog.changed_on_disk("exp") is True
    catalog.add(path)
    assert catalog.changed_on_disk("exp") is False
    path.unlink()
    assert catalog.changed_on_disk("exp") is True


def test_datasets_compare_and_hash_without_touching_the_frame(tmp_path: Path) -> None:
    path = write(tmp_path, "exp.csv", GOOD_CSV)
    one, two = Catalog().add(path), Catalog().add(path)
    assert one == two
    assert hash(one) == hash(two)
    assert "frame" not in repr(one)


# -------------------------------------------------------------------------------------------- data argument
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sales=data/sales.csv", ("sales", "data/sales.csv")),
        ("_x1=a.parquet", ("_x1", "a.parquet")),
        ("data/sales.csv", (None, "data/sales.csv")),
        ("runs/a=b/x.csv", (None, "runs/a=b/x.csv")),
        ("sales=runs/a=b/x.csv", ("sales", "runs/a=b/x.csv")),
        ("1x=a.csv", (None, "1x=a.csv")),
        ("my-data=a.csv", (None, "my-data=a.csv")),
        ("=a.csv", (None, "=a.csv")),
        ("name=", (None, "name=")),
    ],
)
def test_parse_data_argument(text: str, expected: tuple[str | None, str]) -> None:
    assert parse_data_argument(text) == expected


def test_large_parquet_text_with_few_values_loads_as_categorical_and_ids_stay_text(tmp_path: Path) -> None:
    n = 100_000
    table = pa.table(
        {
            "user_id": [f"u{i:08d}" for i in range(n)],
            "arm": np.where(np.arange(n) % 3 == 0, "control", "treatment"),
            "country": pa.array(["DE", "FR", None, "US"] * (n // 4)),
        }
    )
    frame, fmt, _notes = load_table(write(tmp_path, "big.parquet", parquet_bytes(table)))
    assert fmt == "parquet"
    assert isinstance(frame["arm"].dtype, pd.CategoricalDtype)
    assert isinstance(frame["country"].dtype, pd.CategoricalDtype)
    assert is_text(frame["user_id"])
    assert frame["arm"].astype(str).tolist() == table["arm"].to_pylist()
    assert int(frame["country"].isna().sum()) == n // 4
    assert frame["country"].iloc[:4].tolist()[:2] == ["DE", "FR"]


# ------------------------------------------------------------------------------------------ lazy Parquet files
def _lazy_table(n: int = 2_000) -> pa.Table:
    rng = np.random.default_rng(0)
    return pa.table(
        {
            "__index_level_0__": pa.array(np.arange(n)),
            "user_id": pa.array(np.arange(n, dtype=np.int64)),
            "arm": pa.array(np.where(rng.random(n) < 0.5, "A", "B")),
            "wide": pa.array([2**60 + i if i % 7 else None for i in range(n)], type=pa.int64()),
            "small": pa.array(rng.integers(0, 9, n).astype(np.int8)),
            "nullable": pa.array(rng.random(n), mask=rng.random(n) < 0.1),
            "flag": pa.array(rng.random(n) < 0.5),
            "when": pa.array(np.arange(n).astype("datetime64[s]")),
        }
    )


@pytest.mark.parametrize("suffix", [".parquet", ".data"])
def test_a_large_parquet_file_is_attached_lazily_with_the_eager_notes_and_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    path = tmp_path / f"big{suffix}"
    pq.write_table(_lazy_table(), path, row_group_size=500)
    eager = Catalog().add(path, "big")
    assert eager.source is None
    monkeypatch.setattr("tools.data.catalog.LAZY_MIN_ROWS", 1_000)
    lazy = Catalog().add(path, "big")
    assert lazy.source is not None, "nothing read but the footer (and the bytes, for the hash)"
    assert lazy == eager
    assert (lazy.n_rows, lazy.columns, lazy.notes, lazy.sha256) == (eager.n_rows, eager.columns, eager.notes,
                                                                     eager.sha256)  # fmt: skip
    assert any("2**53" in note for note in lazy.notes) and any("index" in note for note in lazy.notes)
    pd.testing.assert_frame_equal(lazy.frame, eager.frame)
    assert lazy.source is None and lazy.frame is lazy.frame  # read once, then kept


def test_files_whose_footer_cannot_settle_every_note_are_read_eagerly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tools.data.catalog.LAZY_MIN_ROWS", 10)
    values = np.arange(100, dtype=np.float64)
    zoned = pa.array(np.arange(100).astype("datetime64[s]")).cast(pa.timestamp("s", "UTC"))
    cases = {
        "infinite.parquet": pa.table({"x": np.where(values == 5, np.inf, values)}),  # infinities must be counted
        "decimal.parquet": pa.table({"x": pa.array([decimal.Decimal("1.5")] * 100)}),
        "zoned.parquet": pa.table({"t": zoned}),
        "small.parquet": pa.table({"x": values[:5]}),
    }  # fmt: skip
    for name, table in cases.items():
        path = tmp_path / name
        pq.write_table(table, path)
        assert Catalog().add(path).source is None, name


def test_a_lazily_attached_file_that_changes_is_refused_not_misread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tools.data.catalog.LAZY_MIN_ROWS", 1_000)
    path = tmp_path / "big.parquet"
    pq.write_table(_lazy_table(), path)
    catalog = Catalog()
    held = catalog.add(path, "big")
    pq.write_table(_lazy_table(3_000), path)
    with pytest.raises(ToolError) as info:
        held.frame  # noqa: B018 - the dataset as attached refuses the changed file
    assert info.value.code == "dataset_changed"
    assert info.value.hint
    assert len(catalog.frame("big")) == 3_000  # the catalog reads the new file, and says so
    assert catalog.get("big").n_rows == 3_000
    assert any("changed on disk" in note for note in catalog.take_notes())
    path.unlink()
    with pytest.raises(ToolError) as gone:
        catalog.get("big")
    assert gone.value.code == "dataset_changed" and "big.parquet" in gone.value.message


def test_each_dataset_has_its_own_memo(tmp_path: Path) -> None:
    catalog = Catalog()
    first = catalog.add(write(tmp_path, "a.csv", GOOD_CSV), name="a")
    second = catalog.add(write(tmp_path, "b.csv", GOOD_CSV), name="b")
    first.memo["k"] = 1
    assert "k" not in second.memo
    assert catalog.add(write(tmp_path, "a.csv", GOOD_CSV), name="a").memo == {}  # a new load forgets


def test_a_lazy_files_hash_is_computed_in_the_background_and_refused_if_the_file_changed_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from tools.data import loading

    path = tmp_path / "big.parquet"
    pq.write_table(_lazy_table(), path, row_group_size=500)
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr("tools.data.catalog.LAZY_MIN_ROWS", 1_000)
    release = threading.Event()
    real_hash = loading._hash_file

    def slow_hash(*args: Any) -> tuple[str, int, bytes]:
        release.wait(5)  # the analysis could run now: the hash is not on its path
        return real_hash(*args)

    monkeypatch.setattr("tools.data.catalog._hash_file", slow_hash)
    attached = Catalog().add(path, "big")
    assert repr(attached.digest) == "Digest(<computing>)"
    release.set()
    assert attached.sha256 == expected and repr(attached.digest) == f"Digest('{expected}')"
    # a file rewritten while it is hashed has no digest: reading it says so, and the catalog sees the change
    release.clear()
    catalog = Catalog()
    changed = catalog.add(path, "big")
    path.write_bytes(path.read_bytes() + b"")
    os.utime(path, ns=(1, 1))
    release.set()
    with pytest.raises(ToolError) as info:
        changed.sha256  # noqa: B018 - the property waits for the hash
    assert info.value.code == "dataset_changed"
    assert catalog.changed_on_disk("big")
