"""Query engines behind one protocol: DuckDB (embedded default) and Trino (scale-out).

Build one with :func:`open_engine` (kinds in :data:`ENGINE_KINDS`); callers use only the
:class:`Engine` protocol, never an engine's class (each engine's module is imported only
when its kind is opened; tests and benchmarks may import a class from its module).
"""

from warehouse.engines._base import (
    DEFAULT_SAMPLE_VALUES,
    QUERY_SOURCES,
    CacheStatus,
    Catalog,
    CatalogInfo,
    Engine,
    EngineError,
    EngineStatus,
    EngineUnavailable,
    Estimate,
    QueryCancelled,
    QueryResult,
    QueryTimeout,
)
from warehouse.engines._open import ENGINE_KINDS, open_engine

__all__ = [
    "DEFAULT_SAMPLE_VALUES",
    "ENGINE_KINDS",
    "QUERY_SOURCES",
    "CacheStatus",
    "Catalog",
    "CatalogInfo",
    "Engine",
    "EngineError",
    "EngineStatus",
    "EngineUnavailable",
    "Estimate",
    "QueryCancelled",
    "QueryResult",
    "QueryTimeout",
    "open_engine",
]
