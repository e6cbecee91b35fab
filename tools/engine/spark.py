"""A table in Apache Spark: the same pushdown as DuckDB's, run by ``spark.sql``.

``spark:PATH.parquet`` and ``spark:FOLDER/`` name Parquet data Spark scans in place (``parquet.`PATH```);
``spark:NAME`` (or ``spark:DATABASE.NAME``) a table or view in the session's catalog. The session is one per
process, found or made on first use: a session already active in the process (a notebook's, a cluster's) is used
as it is; otherwise a local one (``local[2]``, no web UI, bound to the loopback address, two shuffle partitions)
is started and kept. Starting it takes seconds to a minute and needs a Java 17+ runtime; pyspark comes with the
``spark`` extra (``pip install 'whyscope[spark]'``).

Identifiers are quoted with backticks (doubled inside), values bound as ``spark.sql``'s positional parameters;
every query runs in a job group of its table, so :meth:`SparkTable.interrupt` cancels it from another thread.
Spark's errors become ToolErrors (``engine_error`` with the first line of Spark's message, ``cancelled``).
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import pandas as pd

from tools.data.names import display_name
from tools.engine.table import EngineTable
from tools.errors import ToolError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["SESSION_CONFIG", "SparkTable", "open_spark", "session"]

T = TypeVar("T")

#: The configuration of the local session whyscope starts when none is active: offline and small.
SESSION_CONFIG = {
    "spark.master": "local[2]",
    "spark.app.name": "whyscope",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.ansi.enabled": "true",
}
_SESSION_LOCK = threading.Lock()
#: pyspark's loggers that print every Spark SQL error as JSON when nothing handles them.
_ERROR_LOGGERS = ("SQLQueryContextLogger", "DataFrameQueryContextLogger")
#: pyspark warns, when its modules load, that it does not yet support pandas 3; whyscope does not use its pandas
#: layer (rows come back as tuples, or as Arrow converted by pyarrow), so the warning is not the user's to act on.
_PANDAS_WARNING = r"PySpark does not yet fully support pandas"
#: Spark's words for a job cancelled from outside whyscope (the Spark UI, the session stopped).
_CANCELLED = re.compile(r"\bjob \d+ cancelled\b|cancelled job group", re.I)
#: The thread-local properties ``setJobGroup`` sets.
_GROUP_PROPERTIES = ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel")
_FORMS = (
    "Give spark:PATH/TO/FILE.parquet, spark:PATH/TO/PARQUET_FOLDER/ (Parquet read by Spark in place), or "
    "spark:TABLE / spark:DATABASE.TABLE (a table in the Spark session's catalog)."
)


@contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_WARNING, category=FutureWarning)
        yield


def session() -> SparkSession:
    """The process's Spark session: the active one if there is one, else a local one started now (and kept)."""
    try:
        with _quiet():
            from pyspark.errors import PySparkException
            from pyspark.sql import SparkSession
    except ImportError:
        raise ToolError(
            "engine_unreachable",
            "Spark is not installed in whyscope's environment.",
            "Install it with pip install 'whyscope[spark]' (pyspark; Spark also needs a Java 17 or newer runtime).",
        ) from None
    with _SESSION_LOCK:
        try:
            return SparkSession.active()
        except PySparkException:
            pass  # none yet: start the local one
        builder = SparkSession.builder
        for key, value in SESSION_CONFIG.items():
            builder = builder.config(key, value)
        try:
            with _quiet():
                spark = builder.getOrCreate()
        except (PySparkException, OSError) as error:
            raise ToolError(
                "engine_unreachable",
                f"Spark could not start a local session: {_first_line(error)}",
                "Spark needs a Java 17 or newer runtime on PATH (or JAVA_HOME); install one (for example "
                "openjdk-17-jre-headless) and try again.",
            ) from None
        # Spark's errors come back as ToolErrors: its JVM log and pyspark's query-context loggers (which print
        # through logging's last resort when no handler is set) would repeat them on stderr.
        spark.sparkContext.setLogLevel("FATAL")
        from pyspark.logger import PySparkLogger

        for name in _ERROR_LOGGERS:
            logger = PySparkLogger.getLogger(name)  # pyspark's logger class: it logs with keywords of its own
            if not logger.handlers:
                logger.addHandler(logging.NullHandler())
        return spark


@dataclass
class SparkTable(EngineTable):
    """A table in Spark: a catalog table (``table``) or a Parquet file or folder (``parquet``) read in place. Its
    queries run in the process's session (:func:`session`), one at a time per table, in a job group of its own."""

    ENGINE: ClassVar[str] = "Spark"

    _group: str = field(default_factory=lambda: f"whyscope-{uuid.uuid4().hex}", repr=False)
    _cancelled: threading.Event = field(default_factory=threading.Event, repr=False)

    def quote(self, identifier: str) -> str:
        """``identifier`` as a Spark SQL name in backticks (backticks in it doubled): nothing in it can end it."""
        return "`" + identifier.replace("`", "``") + "`"

    @property
    def relation(self) -> str:
        """The FROM clause: the catalog table (each dot-separated part quoted), or ``parquet.`PATH```."""
        if self.table is not None:
            return ".".join(self.quote(part) for part in self.table.split("."))
        assert self.parquet is not None
        return f"parquet.{self.quote(str(self.parquet))}"

    def connection(self) -> SparkSession:
        return session()

    def execute(self, sql: str, parameters: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """The rows of ``sql`` as tuples (``parameters`` bound to its ``?`` markers); Spark's errors become
        ToolErrors naming the table."""
        return self._run(lambda spark: [tuple(row) for row in spark.sql(sql, args=parameters or None).collect()])

    def interrupt(self) -> None:
        """Cancel the jobs of the query that is running (from another thread: the app's or the CLI's cancel)."""
        self._cancelled.set()
        with _quiet():
            from pyspark import SparkContext
        context = SparkContext._active_spark_context
        if context is not None:
            context.cancelJobGroup(self._group)

    def schema(self) -> dict[str, str]:
        """Column name -> Spark's type name (``bigint``, ``double``, ``string``, ``decimal(10,2)``…), in order."""
        if self._schema is None:
            fields = self._run(lambda spark: spark.sql(f"SELECT * FROM {self.relation}").schema.fields)
            self._schema = {f.name: f.dataType.simpleString() for f in fields}
        return self._schema

    def arrays(self, sql: str, parameters: list[Any] | None = None) -> dict[str, Any]:
        """The columns of ``sql``'s result as numpy arrays (one row per unit: Arrow batches, no Python rows)."""
        arrow = self._run(lambda spark: spark.sql(sql, args=parameters or None).toArrow())
        return {name: arrow.column(name).to_numpy() for name in arrow.column_names}

    def _frame(self, sql: str) -> pd.DataFrame:
        """The rows of ``sql`` as a frame: Spark's Arrow batches converted by pyarrow (as for a Parquet file)."""
        arrow = self._run(lambda spark: spark.sql(sql).toArrow())
        frame: pd.DataFrame = arrow.to_pandas()  # pyarrow's conversion, as for a Parquet file
        return frame

    def _run(self, work: Callable[[SparkSession], T]) -> T:
        """``work`` in this table's job group, one at a time; Spark's errors as ToolErrors."""
        from py4j.protocol import Py4JError  # type: ignore[import-untyped]
        from pyspark.errors import PySparkException

        spark = self.connection()
        context = spark.sparkContext
        with self._lock, _quiet():
            self._cancelled.clear()
            context.setJobGroup(self._group, f"whyscope: {self.label}", interruptOnCancel=True)
            try:
                return work(spark)
            except (PySparkException, Py4JError) as error:
                message = _first_line(error)
                if self._cancelled.is_set() or _CANCELLED.search(message):
                    raise ToolError(
                        "cancelled", f"The query on {self.label} was cancelled.", "Run it again to finish it."
                    ) from None
                raise ToolError(
                    "engine_error",
                    f"Spark could not run the query on {self.label}: {message}",
                    "Check that the table and its columns exist and hold the types the request expects.",
                ) from None
            finally:  # the thread's jobs are no longer this table's (a notebook's thread goes on using the session)
                for key in _GROUP_PROPERTIES:
                    context.setLocalProperty(key, None)  # type: ignore[arg-type]  # None unsets it


def _first_line(error: BaseException) -> str:
    """The first line of Spark's message: for an error py4j passes through, the Java exception's own message."""
    text = str(error)
    java = getattr(error, "java_exception", None)
    if java is not None:
        try:
            text = str(java.getMessage() or java.toString())
        except Exception:  # the gateway is gone: py4j's own words are all there is
            text = str(error)
    text = text.strip()
    return display_name(text.splitlines()[0] if text else type(error).__name__, 300)


def open_spark(spec: str, base: Path | None = None) -> SparkTable:
    """The Spark table ``spec`` names (``spark:PATH.parquet``, ``spark:FOLDER/``, ``spark:TABLE``), checked to
    exist (its columns are read, which starts the session)."""
    text = spec.strip()
    body = text.split(":", 1)[1].strip() if ":" in text else ""
    if not body:
        raise ToolError("engine_source", f"'{display_name(text)}' names no Parquet path or table.", _FORMS)
    if "/" in body or "\\" in body or body.lower().endswith(".parquet"):  # a path; else a name in the catalog
        path = Path(body).expanduser()
        if base is not None and not path.is_absolute():
            path = base / path
        if not path.exists():
            raise ToolError("file_not_found", f"'{display_name(str(path))}' does not exist.", _FORMS)
        engine = SparkTable(text, None, None, path.resolve())
    else:
        if any(not part.strip() for part in body.split(".")):
            raise ToolError("engine_source", f"'{display_name(body)}' is not a table name.", _FORMS)
        engine = SparkTable(text, None, body, None)
    engine.schema()  # the table exists and can be read: or Spark's words now
    return engine
