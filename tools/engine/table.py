"""A table that lives in an engine: attached like a file, queried where it lives.

``duckdb:PATH#TABLE`` names a table in a DuckDB database file, ``duckdb:PATH.parquet`` or a folder of Parquet
files a Parquet dataset DuckDB scans in place; ``spark:...`` the same in Apache Spark (:mod:`tools.engine.spark`).
An :class:`EngineTable` knows its columns and their types, its row count, and runs the SQL the pushdown modules
build (:mod:`tools.engine.sql`): identifiers always quoted, values always bound as parameters, so a column or table
name can never become SQL. Nothing here pulls rows, but :meth:`EngineTable.load`, which a tool that does not run in
the engine calls and which refuses tables above :data:`PULL_LIMIT` rows, saying so.

The layer is thin on purpose: the pushdown needs ANSI aggregates only (COUNT, SUM, AVG, VAR_POP, COVAR_POP, MIN,
MAX), so an engine is a way to run a query and quote a name (see ARCHITECTURE.md, "Where the data live").
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from tools.data.names import display_name
from tools.errors import ToolError

__all__ = ["ENGINE_PREFIXES", "PULL_LIMIT", "EngineTable", "is_engine_source", "open_table"]

#: Most rows a tool that does not run in the engine may pull into memory.
PULL_LIMIT = 5_000_000
#: Text that names an engine table instead of a file.
ENGINE_PREFIXES = ("duckdb:", "spark:")
_NUMERIC_TYPES = re.compile(
    r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|REAL|"
    r"DECIMAL(\(\d+,\s*\d+\))?|BOOLEAN|INT\d*)$",
    re.I,
)


def is_engine_source(text: str) -> bool:
    """Whether ``text`` names an engine table (``duckdb:...``, ``spark:...``) rather than a file."""
    return text.strip().lower().startswith(ENGINE_PREFIXES)


@dataclass
class EngineTable:
    """A table in an engine, DuckDB here: the database file (None: in memory) and the relation — a table name, or a
    Parquet file or folder scanned in place. Queries run on one connection, one at a time; :meth:`interrupt` stops
    the running one. Another engine (Spark: :mod:`tools.engine.spark`) subclasses it and overrides
    :meth:`quote`, :attr:`relation`, :meth:`execute`, :meth:`schema`, :meth:`interrupt` and :meth:`load`: the
    queries the pushdown modules build use nothing else."""

    #: The engine's name, as the catalog's note says it.
    ENGINE: ClassVar[str] = "DuckDB"

    spec: str
    database: Path | None
    table: str | None
    parquet: Path | None
    _connection: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _schema: dict[str, str] | None = field(default=None, repr=False)
    _rows: int | None = field(default=None, repr=False)

    # -- the relation ------------------------------------------------------------------------------------------

    def quote(self, identifier: str) -> str:
        """``identifier`` as a quoted name in this engine's SQL."""
        return quote(identifier)

    @property
    def relation(self) -> str:
        """The FROM clause: the quoted table, or the Parquet scan (its path bound as text, never interpolated
        beyond a quoted literal the engine parses)."""
        if self.table is not None:
            return self.quote(self.table)
        assert self.parquet is not None
        pattern = str(self.parquet / "**" / "*.parquet") if self.parquet.is_dir() else str(self.parquet)
        return f"read_parquet({literal(pattern)}, hive_partitioning = false)"

    @property
    def label(self) -> str:
        return display_name(self.spec, 120)

    def connection(self) -> Any:
        if self._connection is None:
            import duckdb

            try:
                if self.database is not None:
                    self._connection = duckdb.connect(str(self.database), read_only=True)
                else:
                    self._connection = duckdb.connect()
            except duckdb.Error as error:
                raise ToolError(
                    "engine_unreachable",
                    f"DuckDB could not open '{display_name(str(self.database))}': {_first_line(error)}",
                    "Check the path, that the file is a DuckDB database, and that no other process holds it for "
                    "writing.",
                ) from None
        return self._connection

    def execute(self, sql: str, parameters: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """The rows of ``sql`` (parameters bound); engine errors become ToolErrors naming the table."""
        with self._translated():
            return list(self.connection().execute(sql, parameters or []).fetchall())

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """One query at a time on the connection, DuckDB's errors as ToolErrors naming the table."""
        import duckdb

        with self._lock:
            try:
                yield
            except duckdb.InterruptException:
                raise ToolError(
                    "cancelled", f"The query on {self.label} was cancelled.", "Run it again to finish it."
                ) from None
            except duckdb.Error as error:
                raise ToolError(
                    "engine_error",
                    f"The engine could not run the query on {self.label}: {_first_line(error)}",
                    "Check that the table and its columns exist and hold the types the request expects.",
                ) from None

    def interrupt(self) -> None:
        """Stop the query that is running (a cancel from the app or the command line)."""
        if self._connection is not None:
            self._connection.interrupt()

    # -- what it holds -----------------------------------------------------------------------------------------

    def schema(self) -> dict[str, str]:
        """Column name -> the engine's type name, in table order."""
        if self._schema is None:
            rows = self.execute(f"DESCRIBE SELECT * FROM {self.relation}")
            self._schema = {str(row[0]): str(row[1]) for row in rows}
        return self._schema

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.schema())

    @property
    def n_rows(self) -> int:
        if self._rows is None:
            self._rows = int(self.execute(f"SELECT COUNT(*) FROM {self.relation}")[0][0])
        return self._rows

    def repeats(self, column: str) -> bool:
        """Whether any non-missing value of ``column`` appears in more than one row (counted in the engine)."""
        q = self.quote(column)
        rows, distinct = self.execute(f"SELECT COUNT({q}), COUNT(DISTINCT {q}) FROM {self.relation}")[0]
        return int(rows) > int(distinct)

    def is_numeric(self, column: str) -> bool:
        return bool(_NUMERIC_TYPES.match(self.schema()[column]))

    def require(self, column: str, role: str) -> None:
        """A ToolError (``unknown_column``, the closest names) when ``column`` is not in the table."""
        if column not in self.schema():
            from tools.data.columns import unknown_column

            raise unknown_column(column, role, list(self.schema()))

    def arrays(self, sql: str, parameters: list[Any] | None = None) -> dict[str, Any]:
        """The columns of ``sql``'s result as numpy arrays (for results of one row per unit, not per row)."""
        with self._translated():
            found: dict[str, Any] = self.connection().execute(sql, parameters or []).fetchnumpy()
        return found

    def load_columns(self, columns: list[str]) -> pd.DataFrame:
        """The named columns of every row, as a frame (refused above :data:`PULL_LIMIT` rows)."""
        for name in columns:
            self.require(name, "column")
        return self.pull(f"SELECT {', '.join(self.quote(c) for c in columns)} FROM {self.relation}")

    def load(self) -> pd.DataFrame:
        """The whole table as a frame, for a tool that does not run in the engine; refused above
        :data:`PULL_LIMIT` rows."""
        return self.pull(
            f"SELECT * FROM {self.relation}",
            doing="this tool runs in memory and pulls at most",
            hint="Run ab_test (it runs inside the engine), or attach a filtered or aggregated table.",
        )

    def pull(
        self,
        sql: str,
        rows: int | None = None,
        *,
        doing: str = "this analysis pulls them into memory, at most",
        hint: str = "Give the unit column (cluster_column) so that only units come back, or attach a filtered table.",
    ) -> pd.DataFrame:
        """The rows of ``sql`` as a frame, refused when they are more than PULL_LIMIT (``rows``: how many it
        returns, when known; else the table's rows), saying what pulls them and what to do instead."""
        limit = PULL_LIMIT  # the module's, read at the call (a test may lower it)
        count = self.n_rows if rows is None else rows
        if count > limit:
            raise ToolError("table_too_large", f"{self.label} has {count:,} rows; {doing} {limit:,}.", hint)
        return self._frame(sql)

    def _frame(self, sql: str) -> pd.DataFrame:
        """The rows of ``sql`` as a frame (no limit: :meth:`pull` checks it)."""
        with self._translated():
            frame: pd.DataFrame = self.connection().execute(sql).df()
        return frame


def quote(identifier: str) -> str:
    """An identifier as a quoted SQL name (double quotes doubled): nothing in it can end the name."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A text as a quoted SQL literal (single quotes doubled), for the few places a parameter cannot go."""
    return "'" + text.replace("'", "''") + "'"


def _first_line(error: BaseException) -> str:
    return display_name(str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__, 300)


def open_table(spec: str, base: Path | None = None) -> EngineTable:
    """The engine table ``spec`` names: ``duckdb:FILE.duckdb#TABLE``, ``duckdb:FILE.parquet`` or
    ``duckdb:FOLDER/`` (Parquet files in it), or in Spark ``spark:FILE.parquet``, ``spark:FOLDER/`` or
    ``spark:TABLE`` (see :func:`tools.engine.spark.open_spark`). The table is checked to exist (its columns are
    read)."""
    text = spec.strip()
    if not is_engine_source(text):
        raise ToolError("engine_source", f"'{display_name(text)}' does not name an engine table.", _FORMS)
    if text.lower().startswith("spark:"):
        from tools.engine.spark import open_spark  # pyspark is optional: imported only for a Spark source

        return open_spark(text, base)
    body = text.split(":", 1)[1]
    location, _, table = body.partition("#")
    if not location:
        raise ToolError("engine_source", f"'{display_name(text)}' names no database or Parquet path.", _FORMS)
    path = Path(location).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    if not path.exists():
        raise ToolError("file_not_found", f"'{display_name(str(path))}' does not exist.", _FORMS)
    if path.is_dir() or path.suffix.lower() == ".parquet":
        if table:
            raise ToolError("engine_source", "A Parquet path takes no '#TABLE' part.", _FORMS)
        engine = EngineTable(text, None, None, path)
    else:
        if not table:
            raise ToolError(
                "engine_source", f"'{display_name(text)}' names a database but no table ('#TABLE').", _FORMS
            )
        engine = EngineTable(text, path, table, None)
    engine.schema()  # the table exists and can be read: or the engine's words now
    return engine


_FORMS = (
    "Give duckdb:PATH/TO/FILE.duckdb#TABLE, duckdb:PATH/TO/FILE.parquet, or duckdb:PATH/TO/PARQUET_FOLDER/ "
    "(for example --data exp=duckdb:warehouse.duckdb#events); in Spark spark:PATH.parquet, spark:FOLDER/ or "
    "spark:TABLE."
)
