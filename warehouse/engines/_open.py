"""`open_engine`: the one way to build an engine by its kind ("duckdb", "trino").

Adding an engine is one entry in `_KINDS` (and its settings). Each engine's module is imported
only when that kind is opened, so DuckDB never loads the Trino client.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from warehouse.engines._base import Engine, EngineError


def _duckdb() -> Callable[..., Engine]:
    from warehouse.engines.duckdb_engine import DuckDBEngine

    return DuckDBEngine


def _trino() -> Callable[..., Engine]:
    from warehouse.engines.trino_engine import TrinoEngine

    return TrinoEngine


#: kind -> the engine's class (imported on first use)
_KINDS: dict[str, Callable[[], Callable[..., Engine]]] = {"duckdb": _duckdb, "trino": _trino}
ENGINE_KINDS: tuple[str, ...] = tuple(_KINDS)


def open_engine(kind: str, **options: Any) -> Engine:
    """The engine of ``kind``, built with ``options``: the keywords its constructor takes
    (DuckDB: ``warehouse``, ``memory_limit``, ``s3``, ``cache_mb`` …; Trino: ``host``,
    ``port``, ``user``, ``catalog``, ``schema``, ``query_max_memory`` …).

    An unknown kind, a missing driver or an unknown option raises :class:`EngineError`
    (``unknown_engine``, ``engine_missing``, ``engine_config``)."""
    known = _KINDS.get(kind)
    if known is None:
        raise EngineError(f"there is no query engine {kind!r}", code="unknown_engine",
                          hint=f"set query.engine to one of: {', '.join(ENGINE_KINDS)}",
                          kind=kind)
    try:
        cls = known()
    except ImportError as err:
        raise EngineError(f"the {kind} engine is not installed: {err}", code="engine_missing",
                          hint=f"pip install 'causality[{kind}]'", kind=kind) from None
    try:
        inspect.signature(cls).bind(**options)
    except TypeError as err:
        raise EngineError(f"the {kind} engine cannot take these options: {err}",
                          code="engine_config", hint="check the engine's settings",
                          kind=kind) from None
    return cls(**options)
