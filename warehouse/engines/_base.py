"""The one ``Engine`` protocol both engines implement (DESIGN.md decision 4).

Every SQL string an engine takes is in the canonical Trino dialect (decision 3); the DuckDB
engine transpiles it itself. Errors from the drivers are translated into :class:`EngineError`
subclasses here, so no raw ``duckdb`` or ``trino`` exception reaches a user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import pyarrow as pa

from warehouse.errors import WarehouseError

#: table -> column -> Trino type
Catalog = Mapping[str, Mapping[str, str]]
#: table -> column -> a few distinct values of a low-cardinality text column
Samples = Mapping[str, Mapping[str, list[str]]]

DEFAULT_SAMPLE_VALUES = 25
LOW_CARDINALITY_MAX = 200

#: Where a query comes from. Engines may use it to share capacity: Trino runs each source in
#: its own resource group, so one analyst's scan cannot starve dashboards and embeds.
QUERY_SOURCES = ("dashboard", "embed", "chat", "sql", "notebook")


class EngineError(WarehouseError):
    code = "engine_error"


class QueryTimeout(EngineError):
    code = "query_timeout"


class QueryCancelled(EngineError):
    code = "query_cancelled"


class EngineUnavailable(EngineError):
    code = "engine_unavailable"


@dataclass(frozen=True)
class CatalogInfo:
    """What an analyst (or the model) may query: tables, columns, types and sample values."""

    tables: Catalog
    samples: Samples = field(default_factory=dict)


@dataclass(frozen=True)
class Estimate:
    """An engine's guess of a query's size; ``None`` means unknown."""

    rows: int | None = None
    bytes: int | None = None

    @property
    def known(self) -> bool:
        return self.rows is not None or self.bytes is not None


@dataclass(frozen=True)
class CacheStatus:
    """What an engine's day cache holds (see :mod:`warehouse.engines.duckdb_cache`)."""

    days: int
    rows: int
    parquet_bytes: int
    memory_bytes: int
    budget_bytes: int
    loading: bool


@dataclass(frozen=True)
class EngineStatus:
    """What an engine says about itself on the Settings page; cheap, reads no data."""

    name: str
    dialect: str
    #: what it reads: the warehouse directory or URI, or the server and catalog
    reads: str
    #: the day cache, when the engine keeps one and it is on
    day_cache: CacheStatus | None = None


@dataclass(frozen=True)
class QueryResult:
    table: pa.Table
    truncated: bool
    duration_ms: float
    engine: str
    query_id: str | None = None


@runtime_checkable
class Engine(Protocol):
    """catalog, explain, run (row cap, timeout), cancel; fork, status.

    ``source`` (one of :data:`QUERY_SOURCES`, or None for the engine's own queries) says who
    asked; an engine may ignore it. ``dialect`` is the sqlglot dialect the engine runs (the
    guardrails check for it); the SQL it takes is Trino's either way.
    """

    name: str
    dialect: str

    def catalog(self, samples: bool = True) -> CatalogInfo: ...

    def explain(self, sql: str, source: str | None = None) -> Estimate: ...

    def run(self, sql: str, max_rows: int, timeout_s: float,
            source: str | None = None) -> QueryResult: ...

    def cancel(self) -> None: ...

    def close(self) -> None: ...

    def fork(self) -> Engine:
        """An engine over the same data and limits for a second, concurrent caller, whose
        ``cancel()`` stops only the queries started through it."""
        ...

    def status(self) -> EngineStatus: ...

    def wait_cache(self, timeout_s: float) -> bool:
        """Wait until the engine's caches hold the warehouse as it is now; True at once for
        an engine without one (benchmarks, tests)."""
        ...
