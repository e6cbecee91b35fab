"""Where the data live: tables in an engine (DuckDB today), attached like files and analysed where they are.

Modules: ``table`` (an :class:`~tools.engine.table.EngineTable`: the source forms, the connection, quoted
identifiers and bound parameters, the engine's errors as ToolErrors), ``ab_test`` (ab_test's moments per arm
computed in the engine).
"""

from tools.engine.table import ENGINE_PREFIXES, PULL_LIMIT, EngineTable, is_engine_source, open_table

__all__ = ["ENGINE_PREFIXES", "PULL_LIMIT", "EngineTable", "is_engine_source", "open_table"]
