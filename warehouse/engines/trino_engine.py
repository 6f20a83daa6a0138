"""Trino, the scale-out engine: the ``trino`` client against the ``lake`` catalog.

It connects as the read-only user (``causality_reader``: SELECT only, by Trino's file-based
access control, see ``warehouse.trino``) with one connection per query, whose client
``source`` is ``causality-<source>`` (``causality`` without one): Trino's resource groups pick a
query's group by it. Session limits of every query:

- ``query_max_run_time`` = the timeout + ``RUN_TIME_MARGIN_S``: queueing and planning included,
  so Trino stops the query on its own even if this process goes away;
- ``query_max_memory`` and ``query_max_total_memory`` = ``query_max_memory`` (a setting);
- ``query_max_scan_physical_bytes`` = ``max_scan_bytes``.

The timeout is also kept here: when it passes, the query is cancelled on the server (the client
sends DELETE for it) and the run raises ``QueryTimeout``, whatever state the query is in.
``cancel()`` kills the running queries on the server the same way, not just the client read.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa
import trino
from trino import exceptions as texc

from warehouse.engines._base import (
    DEFAULT_SAMPLE_VALUES,
    LOW_CARDINALITY_MAX,
    CatalogInfo,
    EngineError,
    EngineStatus,
    EngineUnavailable,
    Estimate,
    QueryCancelled,
    QueryResult,
    QueryTimeout,
)
from warehouse.trino.config import client_source

SAMPLED_COLUMNS = ("event_type", "category", "app_id")
CATALOG_TTL_S = 60.0
MAX_SCAN_BYTES = "100GB"
QUERY_MAX_MEMORY = "1GB"
#: Trino's own deadline trails ours by this much: ours cancels first, Trino's is the backstop.
RUN_TIME_MARGIN_S = 1.0
INTERNAL_TIMEOUT_S = 60.0  # catalog reads and estimates
CANCEL_RETRY_S = 0.1  # a cancel before Trino named the query has nothing to delete yet
_FETCH_ROWS = 4096
_INTERNAL_MAX_ROWS = 100_000
_MEMORY_ERRORS = ("EXCEEDED_GLOBAL_MEMORY_LIMIT", "EXCEEDED_LOCAL_MEMORY_LIMIT",
                  "EXCEEDED_FUNCTION_MEMORY_LIMIT", "CLUSTER_OUT_OF_MEMORY")

Stop = Literal["timeout", "cancel"]


@dataclass
class _Run:
    """One query in flight, and why it was stopped, if it was."""

    cursor: Any
    done: threading.Event = field(default_factory=threading.Event)
    stopped: Stop | None = None


class TrinoEngine:
    """The ``Engine`` over a running Trino with the ``lake`` catalog."""

    name = "trino"
    dialect = "trino"

    def __init__(self, host: str, port: int, user: str = "causality_reader",
                 catalog: str = "lake", schema: str = "analytics",
                 max_scan_bytes: str = MAX_SCAN_BYTES, http_scheme: str = "http",
                 query_max_memory: str = QUERY_MAX_MEMORY):
        self.host, self.port, self.user = host, port, user
        self.catalog_name, self.schema = catalog, schema
        self.max_scan_bytes = max_scan_bytes
        self.http_scheme = http_scheme
        self.query_max_memory = query_max_memory
        self._running: dict[int, _Run] = {}
        self._lock = threading.Lock()
        self._catalog: tuple[float, CatalogInfo] | None = None

    def fork(self) -> TrinoEngine:
        """An engine on the same server and limits whose ``cancel()`` stops only the queries
        started through it (the SQL page gives each browser session one)."""
        return TrinoEngine(self.host, self.port, user=self.user, catalog=self.catalog_name,
                           schema=self.schema, max_scan_bytes=self.max_scan_bytes,
                           http_scheme=self.http_scheme, query_max_memory=self.query_max_memory)

    def status(self) -> EngineStatus:
        reads = f"{self.http_scheme}://{self.host}:{self.port}, {self.catalog_name}.{self.schema}"
        return EngineStatus(name=self.name, dialect=self.dialect, reads=reads)

    def wait_cache(self, timeout_s: float) -> bool:
        """Trino keeps no cache of its own here: nothing to wait for."""
        return True

    def _connect(self, timeout_s: float, source: str | None) -> Any:
        return trino.dbapi.connect(
            host=self.host, port=self.port, user=self.user, catalog=self.catalog_name,
            schema=self.schema, http_scheme=self.http_scheme, source=client_source(source),
            request_timeout=max(10.0, timeout_s + 10.0),
            session_properties={
                "query_max_run_time": f"{timeout_s + RUN_TIME_MARGIN_S:.3f}s",
                "query_max_memory": self.query_max_memory,
                "query_max_total_memory": self.query_max_memory,
                "query_max_scan_physical_bytes": self.max_scan_bytes,
            },
        )

    def _query(self, sql: str, source: str | None = None) -> list[list[Any]]:
        rows, _names, _truncated, _id = self._fetch(sql, _INTERNAL_MAX_ROWS, INTERNAL_TIMEOUT_S,
                                                    source)
        return rows

    def _fetch(self, sql: str, max_rows: int, timeout_s: float,
               source: str | None) -> tuple[list[Any], list[str], bool, str | None]:
        """Rows (up to ``max_rows`` + 1), column names, whether there were more, query id."""
        conn = self._connect(timeout_s, source)
        run = _Run(conn.cursor())
        key = id(run)
        timer = threading.Timer(timeout_s, self._stop, (run, "timeout"))
        timer.daemon = True
        with self._lock:
            self._running[key] = run
        rows: list[Any] = []
        names: list[str] = []
        truncated = False
        failure: Exception | None = None
        timer.start()
        try:
            run.cursor.execute(sql)
            while len(rows) <= max_rows:
                chunk = run.cursor.fetchmany(_FETCH_ROWS)
                if not chunk:
                    break
                rows.extend(chunk)
            truncated = len(rows) > max_rows
            names = [d[0] for d in run.cursor.description or []]
            if truncated:
                run.cursor.cancel()  # stop the rest of the query on the server
        except Exception as err:
            failure = err
        finally:
            run.done.set()
            timer.cancel()
            with self._lock:
                self._running.pop(key, None)
            conn.close()
        # A query cancelled between two reads can end without an error and with part of its
        # rows: unless it had finished (or been cut at the row cap), the stop decides.
        complete = truncated or (run.cursor.stats or {}).get("state") == "FINISHED"
        if failure is not None or (run.stopped is not None and not complete):
            raise self._translate(failure, timeout_s, run.stopped) from None
        return rows, names, truncated, run.cursor.query_id

    @staticmethod
    def _stop(run: _Run, why: Stop, retry: bool = True) -> None:
        """Cancel ``run`` on the server; with ``retry``, again until it is done (a cancel sent
        before Trino answered the first request has no query to delete)."""
        if run.done.is_set():
            return
        if run.stopped is None:
            run.stopped = why
        while not run.done.is_set():
            with contextlib.suppress(Exception):  # the query may have finished meanwhile
                run.cursor.cancel()
            if not retry or run.done.wait(CANCEL_RETRY_S):
                return

    @staticmethod
    def _translate(err: BaseException | None, timeout_s: float,
                   stopped: Stop | None = None) -> EngineError:
        timeout = QueryTimeout(f"the query ran longer than {timeout_s:g} s and was stopped",
                               hint="filter by dt, aggregate more, or raise the timeout",
                               timeout_s=timeout_s)
        if stopped == "timeout":
            return timeout
        if stopped == "cancel":
            return QueryCancelled("the query was cancelled", hint="run it again if needed")
        if isinstance(err, EngineError):
            return err
        if isinstance(err, texc.TrinoQueryError):
            name, text = err.error_name or "", err.message or str(err)
            if name in ("EXCEEDED_TIME_LIMIT", "EXCEEDED_CPU_LIMIT"):
                return timeout
            if name == "USER_CANCELED":
                return QueryCancelled("the query was cancelled", hint="run it again if needed")
            if name == "EXCEEDED_SCAN_LIMIT":
                return EngineError(text, code="too_expensive",
                                   hint="filter by dt (the date partition) or by app_id")
            if name in _MEMORY_ERRORS:
                return EngineError(text, code="too_much_memory",
                                   hint="aggregate more, select fewer columns, or filter by dt")
            if name == "QUERY_QUEUE_FULL":
                return EngineError(text, code="busy",
                                   hint="too many queries of this kind are waiting; "
                                        "try again in a moment")
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

    def explain(self, sql: str, source: str | None = None) -> Estimate:
        rows = self._query("EXPLAIN (TYPE IO, FORMAT JSON) " + sql, source)
        try:
            plan = json.loads(rows[0][0])
        except (IndexError, TypeError, ValueError):
            return Estimate()
        est = plan.get("estimate") or {}
        scans = [t.get("estimate") or {} for t in plan.get("inputTableColumnInfos", [])]
        in_rows = [_num(s.get("outputRowCount")) for s in scans]
        in_bytes = [_num(s.get("outputSizeInBytes")) for s in scans]
        scans_known = bool(in_rows) and None not in in_rows
        rows_est = sum(r for r in in_rows if r is not None) if scans_known \
            else _num(est.get("outputRowCount"))
        bytes_est = sum(b for b in in_bytes if b is not None) if in_bytes and None not in in_bytes \
            else None
        products = self._cross_joins(sql, source) if scans else 0
        if products:
            # A cross or non-equi join handles the product of its inputs, not their sum; with
            # no statistics to size them, the estimate is unknown and the policy decides.
            if not scans_known:
                return Estimate()
            rows_est = max(r for r in in_rows if r is not None) ** (products + 1)
        return Estimate(rows=rows_est, bytes=bytes_est)

    def _cross_joins(self, sql: str, source: str | None) -> int:
        """How many joins the plan makes without an equality (Trino plans them as CrossJoin)."""
        rows = self._query("EXPLAIN (TYPE LOGICAL, FORMAT JSON) " + sql, source)
        try:
            stack = [json.loads(rows[0][0])]
        except (IndexError, TypeError, ValueError):
            return 1  # cannot tell: assume the worst
        found = 0
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                found += node.get("name") == "CrossJoin"
                stack.extend(node.get("children") or [])
        return found

    def run(self, sql: str, max_rows: int, timeout_s: float,
            source: str | None = None) -> QueryResult:
        started = time.perf_counter()
        rows, names, truncated, query_id = self._fetch(sql, max_rows, timeout_s, source)
        rows = rows[:max_rows]
        table = pa.Table.from_pydict({n: [r[i] for r in rows] for i, n in enumerate(names)})
        return QueryResult(table=table, truncated=truncated, engine=self.name, query_id=query_id,
                           duration_ms=(time.perf_counter() - started) * 1000)

    def cancel(self) -> None:
        """Kill every query this engine is running, on the server."""
        with self._lock:
            running = list(self._running.values())
        for run in running:
            self._stop(run, "cancel", retry=False)

    def close(self) -> None:
        self.cancel()


def _num(value: Any) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else int(number)
