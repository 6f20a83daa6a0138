"""Trino, the scale-out engine: the ``trino`` client against the ``lake`` catalog.

It connects as the read-only user (``causality_reader``: SELECT only, by Trino's file-based
access control, see ``warehouse.trino_server``), sets ``query_max_execution_time`` and
``query_max_scan_physical_bytes`` per query, and ``cancel()`` kills the query on the server
(the client sends DELETE for it), not just the client read.
"""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Any

import pyarrow as pa
import trino
from trino import exceptions as texc

from warehouse.engines._base import (
    DEFAULT_SAMPLE_VALUES,
    LOW_CARDINALITY_MAX,
    CatalogInfo,
    EngineError,
    EngineUnavailable,
    Estimate,
    QueryCancelled,
    QueryResult,
    QueryTimeout,
)

SAMPLED_COLUMNS = ("event_type", "category", "app_id")
CATALOG_TTL_S = 60.0
MAX_SCAN_BYTES = "100GB"
_FETCH_ROWS = 4096


class TrinoEngine:
    """The ``Engine`` over a running Trino with the ``lake`` catalog."""

    name = "trino"

    def __init__(self, host: str, port: int, user: str = "causality_reader",
                 catalog: str = "lake", schema: str = "analytics",
                 max_scan_bytes: str = MAX_SCAN_BYTES, http_scheme: str = "http"):
        self.host, self.port, self.user = host, port, user
        self.catalog_name, self.schema = catalog, schema
        self.max_scan_bytes = max_scan_bytes
        self.http_scheme = http_scheme
        self._running: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._catalog: tuple[float, CatalogInfo] | None = None

    def _connect(self, timeout_s: float = 60.0) -> Any:
        return trino.dbapi.connect(
            host=self.host, port=self.port, user=self.user, catalog=self.catalog_name,
            schema=self.schema, http_scheme=self.http_scheme, source="causality",
            request_timeout=max(10.0, timeout_s + 10.0),
            session_properties={
                "query_max_execution_time": f"{max(1, math.ceil(timeout_s))}s",
                "query_max_scan_physical_bytes": self.max_scan_bytes,
            },
        )

    def _query(self, sql: str, timeout_s: float = 60.0) -> list[list[Any]]:
        conn = self._connect(timeout_s)
        try:
            cur = conn.cursor()
            cur.execute(sql)
            return list(cur.fetchall())
        except Exception as err:  # translated: no raw trino/requests error leaves here
            raise self._translate(err, timeout_s) from None
        finally:
            conn.close()

    @staticmethod
    def _translate(err: BaseException, timeout_s: float) -> EngineError:
        if isinstance(err, EngineError):
            return err
        if isinstance(err, texc.TrinoQueryError):
            name, text = err.error_name or "", err.message or str(err)
            if name in ("EXCEEDED_TIME_LIMIT", "EXCEEDED_CPU_LIMIT"):
                return QueryTimeout(f"the query ran longer than {timeout_s:g} s and was stopped",
                                    hint="filter by dt, aggregate more, or raise the timeout")
            if name == "USER_CANCELED":
                return QueryCancelled("the query was cancelled", hint="run it again if needed")
            if name == "EXCEEDED_SCAN_LIMIT":
                return EngineError(text, code="too_expensive",
                                   hint="filter by dt (the date partition) or by app_id")
            if name in ("COLUMN_NOT_FOUND", "TABLE_NOT_FOUND", "FUNCTION_NOT_FOUND"):
                return EngineError(text, code="bad_reference",
                                   hint="check table and column names")
            if name == "PERMISSION_DENIED" or "Access Denied" in text:
                return EngineError(text, code="forbidden", hint="only reads of lake are allowed")
            if name == "SYNTAX_ERROR":
                return EngineError(text, code="bad_sql", hint="check the SQL syntax")
            return EngineError(f"{name}: {text}", code="query_failed",
                               hint="check the query; see the message")
        return EngineUnavailable(f"cannot reach Trino: {err}",
                                 hint="check trino.host / trino.port and that Trino is running")

    # -- Engine protocol ---------------------------------------------------------------------
    def catalog(self, samples: bool = True) -> CatalogInfo:
        cached = self._catalog
        if cached and time.monotonic() - cached[0] < CATALOG_TTL_S:
            return cached[1]
        rows = self._query(
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = '{self.schema}' AND table_name = 'events' "
            "ORDER BY ordinal_position")
        columns = {str(name): str(kind) for name, kind in rows}
        values: dict[str, list[str]] = {}
        for col in SAMPLED_COLUMNS if samples else ():
            got = self._query(f"SELECT {col} FROM events WHERE {col} IS NOT NULL GROUP BY 1 "
                              f"ORDER BY count(*) DESC LIMIT {LOW_CARDINALITY_MAX + 1}")
            if len(got) <= LOW_CARDINALITY_MAX:
                values[col] = [str(r[0]) for r in got[:DEFAULT_SAMPLE_VALUES]]
        info = CatalogInfo(tables={"events": columns}, samples={"events": values})
        if samples:
            self._catalog = (time.monotonic(), info)
        return info

    def explain(self, sql: str) -> Estimate:
        rows = self._query("EXPLAIN (TYPE IO, FORMAT JSON) " + sql)
        try:
            plan = json.loads(rows[0][0])
        except (IndexError, TypeError, ValueError):
            return Estimate()
        est = plan.get("estimate") or {}
        scans = [t.get("estimate") or {} for t in plan.get("inputTableColumnInfos", [])]
        in_rows = [_num(s.get("outputRowCount")) for s in scans]
        in_bytes = [_num(s.get("outputSizeInBytes")) for s in scans]
        rows_est = sum(r for r in in_rows if r is not None) if in_rows and None not in in_rows \
            else _num(est.get("outputRowCount"))
        bytes_est = sum(b for b in in_bytes if b is not None) if in_bytes and None not in in_bytes \
            else None
        return Estimate(rows=rows_est, bytes=bytes_est)

    def run(self, sql: str, max_rows: int, timeout_s: float) -> QueryResult:
        started = time.perf_counter()
        conn = self._connect(timeout_s)
        cur = conn.cursor()
        key = id(cur)
        with self._lock:
            self._running[key] = cur
        try:
            cur.execute(sql)
            rows: list[Any] = []
            while len(rows) <= max_rows:
                chunk = cur.fetchmany(_FETCH_ROWS)
                if not chunk:
                    break
                rows.extend(chunk)
            truncated = len(rows) > max_rows
            names = [d[0] for d in cur.description or []]
            if truncated:
                cur.cancel()  # stop the rest of the query on the server
            query_id = cur.query_id
        except Exception as err:
            raise self._translate(err, timeout_s) from None
        finally:
            with self._lock:
                self._running.pop(key, None)
            conn.close()
        rows = rows[:max_rows]
        table = pa.Table.from_pydict({n: [r[i] for r in rows] for i, n in enumerate(names)})
        return QueryResult(table=table, truncated=truncated, engine=self.name, query_id=query_id,
                           duration_ms=(time.perf_counter() - started) * 1000)

    def cancel(self) -> None:
        """Kill every query this engine is running, on the server."""
        with self._lock:
            running = list(self._running.values())
        for cur in running:
            try:
                cur.cancel()
            except Exception:  # noqa: S112 - the query may have finished meanwhile
                continue

    def close(self) -> None:
        self.cancel()


def _num(value: Any) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else int(number)
