"""The DuckDB rendering of a checked query: one implementation, in ``warehouse.engines``."""

from warehouse.engines.dialect import duckdb_sql

__all__ = ["duckdb_sql"]
