"""Query engines behind one protocol: DuckDB (embedded default) and Trino (scale-out)."""

from warehouse.engines._base import (
    QUERY_SOURCES,
    Catalog,
    CatalogInfo,
    Engine,
    EngineError,
    EngineUnavailable,
    Estimate,
    QueryCancelled,
    QueryResult,
    QueryTimeout,
)
from warehouse.engines.duckdb_engine import DuckDBEngine, to_duckdb

__all__ = [
    "QUERY_SOURCES",
    "Catalog",
    "CatalogInfo",
    "DuckDBEngine",
    "Engine",
    "EngineError",
    "EngineUnavailable",
    "Estimate",
    "QueryCancelled",
    "QueryResult",
    "QueryTimeout",
    "to_duckdb",
]
