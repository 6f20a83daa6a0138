"""DuckDB, the embedded default engine: an ``events`` view over the Parquet layout.

Read-only by construction: an in-memory database whose only table is a view over the warehouse
files; external access is switched off except for the warehouse directory, extensions cannot
be installed or loaded, and the configuration is locked. S3 warehouses are read through
``pyarrow.fs`` datasets (DuckDB extensions such as httpfs cannot be downloaded here).
Timestamps are exposed as UTC ``timestamp`` (no zone), as Trino's Hive connector shows them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
import weakref
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
from pyarrow import fs as pafs

from warehouse.engines._base import (
    DEFAULT_SAMPLE_VALUES,
    LOW_CARDINALITY_MAX,
    CacheStatus,
    CatalogInfo,
    EngineError,
    EngineStatus,
    Estimate,
    QueryCancelled,
    QueryResult,
    QueryTimeout,
)
from warehouse.engines._duckdb_plan import UNKNOWN, Gate, card, plan_rows, walk
from warehouse.engines.dialect import to_duckdb
from warehouse.engines.duckdb_cache import CACHE_TABLE, HIVE_TYPES, DayCache
from warehouse.schema import EVENTS_SCHEMA, PARTITION_SCHEMA, TRINO_TYPES
from warehouse.storage import Storage

SAMPLED_COLUMNS = ("event_type", "category", "app_id")
CATALOG_TTL_S = 60.0
CANCEL_WAIT_S = 5.0
INTERRUPT_EVERY_S = 0.05  # an interrupt that lands before DuckDB starts executing is lost
MAX_SPILL = "8GiB"  # temporary files of one engine; DuckDB's default is 90% of the free disk
MAX_RESULT_BYTES = 64 * 1024**2  # what one result may hold in this process
VANISHED_FILE_RETRIES = 3
DISABLED_OPTIMIZERS = "window_self_join"
_BATCH_ROWS = 2048  # DuckDB's vector size: a result is cut at most one vector past a cap
_TS = {"event_time", "received_at"}


def _view_columns() -> str:
    cols = []
    for name in EVENTS_SCHEMA.names:
        cols.append(f"timezone('UTC', {name}) AS {name}" if name in _TS else name)
    return ", ".join(cols)


SIZE_TTL_S = 10.0  # the warehouse's size, for cost estimates, is walked at most this often


class DuckDBEngine:
    """The ``Engine`` over a local directory or an ``s3://bucket/prefix`` warehouse."""

    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, warehouse: str | Path, memory_limit: str = "4GB",
                 threads: int | None = None, s3: pafs.S3FileSystem | None = None,
                 cache_mb: int = 0, max_spill: str = MAX_SPILL,
                 max_result_bytes: int = MAX_RESULT_BYTES):
        """``cache_mb`` > 0 keeps closed days of a local warehouse in DuckDB's own storage
        (see :mod:`warehouse.engines.duckdb_cache`), up to that many MB of their Parquet.

        ``memory_limit`` bounds what DuckDB counts (sorts, hash tables, aggregates, the day
        cache), shared by every query; the values a row's expressions build are not counted,
        which is why the guardrails bound them (``guardrails._rules.bounded``).
        ``max_spill`` bounds the temporary files, ``max_result_bytes`` one result held
        here (a larger one is truncated, as at the row cap)."""
        self.warehouse = str(warehouse)
        self._s3 = s3
        self._storage = None if self.warehouse.startswith("s3://") else Storage(self.warehouse)
        self._con = duckdb.connect(":memory:", config={
            "autoinstall_known_extensions": False, "autoload_known_extensions": False,
        })
        self._owner = True  # False for a fork(): the connection and cache are borrowed
        self._max_result_bytes = max_result_bytes
        self._running: dict[str, tuple[duckdb.DuckDBPyConnection, threading.Event]] = {}
        # Every query on the connection, forks included, and how many have started.
        self._started: dict[str, float] = {}
        self._starts = [0]
        self._rerun_lock = threading.Lock()  # see _run_yielding
        self._gate = Gate()
        self._lock = threading.Lock()
        self._ended = threading.Condition(self._lock)  # notified as each query ends
        self._catalogs: dict[bool, tuple[float, CatalogInfo]] = {}
        self._size: tuple[float, int] | None = None  # (when, bytes under events/)
        self._cache: DayCache | None = None
        # Spills (and the day cache's blocks under memory pressure) go to a private directory,
        # never to DuckDB's default `.tmp` in the working directory; removed on close or exit.
        self._spill = tempfile.mkdtemp(prefix="causality-duckdb-")
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._spill, True)
        if self._storage is not None and cache_mb > 0:
            self._cache = DayCache(self._con, self._storage, _view_columns(), cache_mb << 20)
        try:
            if self._cache is not None:
                self._con.register("_events_empty", EVENTS_SCHEMA.empty_table())
                self._cache.create(f"SELECT {_view_columns()} FROM _events_empty")
                self._con.unregister("_events_empty")
            self._con.execute(f"SET memory_limit = '{memory_limit}'")
            self._con.execute("SET temp_directory = $dir", {"dir": self._spill})
            self._con.execute(f"SET max_temp_directory_size = '{max_spill}'")
            self._con.execute("SET TimeZone = 'UTC'")
            self._con.execute("SET integer_division = true")  # 5 / 2 = 2, as in Trino
            # Footers of thousands of hourly files are read again by every query otherwise;
            # entries are checked against the file's modification time, and compaction writes
            # new files rather than changing old ones.
            self._con.execute("SET parquet_metadata_cache = true")
            # DuckDB 2.0's window_self_join rewrite lets a window over a grouped, filtered
            # Parquet scan see rows the filter removed (a tenant leak in aggregate form);
            # tests/warehouse/test_duckdb_engine.py pins this.
            self._con.execute(f"SET disabled_optimizers = '{DISABLED_OPTIMIZERS}'")
            if threads:
                self._con.execute(f"SET threads = {int(threads)}")
            if self._is_s3:
                self._con.execute("SET enable_external_access = false")
            else:
                root = Path(self.warehouse).resolve()
                (root / "events").mkdir(parents=True, exist_ok=True)
                self._con.execute("SET allowed_directories = $dirs", {"dirs": [f"{root}/"]})
                self._con.execute("SET enable_external_access = false")
            self._con.execute("SET lock_configuration = true")
        except duckdb.Error as err:
            raise EngineError(f"cannot configure DuckDB: {err}", code="engine_config",
                              hint="check query.duckdb_memory_limit") from None
        if self._cache is not None:
            self._cache.start()

    def fork(self) -> DuckDBEngine:
        """An engine on the same connection and day cache whose ``cancel()`` stops only the
        queries started through it (the SQL page gives each browser session one)."""
        twin = object.__new__(DuckDBEngine)
        twin.__dict__.update(self.__dict__)
        twin._owner = False
        twin._running = {}
        twin._catalogs = {}
        return twin

    def cache_status(self) -> CacheStatus | None:
        """What the day cache holds, or None when it is off (S3, or ``cache_mb`` = 0)."""
        return None if self._cache is None else self._cache.status()

    def status(self) -> EngineStatus:
        return EngineStatus(name=self.name, dialect=self.dialect, reads=self.warehouse,
                            day_cache=self.cache_status())

    def wait_cache(self, timeout_s: float) -> bool:
        """Wait until the day cache holds the warehouse as it is now (benchmarks, tests)."""
        return True if self._cache is None else self._cache.wait_settled(timeout_s)

    @property
    def _is_s3(self) -> bool:
        return self.warehouse.startswith("s3://")

    # -- the events view -------------------------------------------------------------------
    def _files_glob(self) -> str:
        return str(Path(self.warehouse).resolve() / "events" / "*" / "*" / "*" / "*.parquet")

    def _has_files(self) -> bool:
        root = Path(self.warehouse) / "events"
        return any(root.glob("app_id=*/dt=*/hour=*/*.parquet"))

    def _bind_events(self, con: duckdb.DuckDBPyConnection) -> None:
        """(Re)define ``events`` on this cursor so files written since last time are seen."""
        if self._is_s3:
            con.register("_events_src", self._s3_dataset())
            src = "_events_src"
        elif self._cache is not None:
            con.execute(f"CREATE OR REPLACE TEMP VIEW events AS {self._cached_select(con)}")
            return
        elif self._has_files():
            src = (f"read_parquet('{self._files_glob()}', hive_partitioning = true, "
                   f"hive_types = {HIVE_TYPES})")
        else:
            con.register("_events_src", EVENTS_SCHEMA.empty_table())
            src = "_events_src"
        con.execute(f"CREATE OR REPLACE TEMP VIEW events AS SELECT {_view_columns()} FROM {src}")

    def _cached_select(self, con: duckdb.DuckDBPyConnection) -> str:
        """The cached days from the table, every other day from its files (on a snapshot)."""
        assert self._cache is not None
        cached, stale = self._cache.pin(con)
        table = f"SELECT * FROM {CACHE_TABLE}"
        if stale:
            table += " WHERE dt NOT IN (" + ", ".join(f"'{d}'" for d in sorted(stale)) + ")"
        files = self._cache.files_outside(cached)
        if not files:
            return table
        listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        return (f"{table} UNION ALL SELECT {_view_columns()} FROM read_parquet([{listed}], "
                f"hive_partitioning = true, hive_types = {HIVE_TYPES})")

    def _s3_dataset(self) -> ds.Dataset:
        assert self._s3 is not None, "an s3:// warehouse needs an S3FileSystem"
        base = self.warehouse.removeprefix("s3://").rstrip("/") + "/events"
        part = ds.partitioning(PARTITION_SCHEMA, flavor="hive")
        try:
            return ds.dataset(base, filesystem=self._s3, format="parquet", partitioning=part,
                              schema=EVENTS_SCHEMA)
        except (OSError, pa.ArrowException) as err:
            raise EngineError(f"cannot list the S3 warehouse: {err}", code="storage_unavailable",
                              hint="check storage.s3_endpoint and credentials") from None

    @staticmethod
    def _translate(err: duckdb.Error) -> EngineError:
        text = str(err).split("\n")[0]
        if isinstance(err, duckdb.InterruptException):
            return QueryCancelled("the query was interrupted", hint="run it again if needed")
        if isinstance(err, (duckdb.CatalogException, duckdb.BinderException)):
            return EngineError(text, code="bad_reference", hint="check table and column names")
        if isinstance(err, duckdb.ParserException):
            return EngineError(text, code="bad_sql", hint="check the SQL syntax")
        if isinstance(err, duckdb.OutOfMemoryException):
            return EngineError(text, code="out_of_memory",
                               hint="aggregate more, select fewer columns, or filter by dt")
        if isinstance(err, duckdb.PermissionException):
            return EngineError(text, code="forbidden", hint="only the events table is readable")
        return EngineError(text, code="query_failed", hint="check the query; see the message")

    def _read_lock(self) -> contextlib.AbstractContextManager[None]:
        """Held shared per query so a compaction swap is never seen half done."""
        if self._storage is None:  # S3: no swap lock, see pipeline.compactor
            return contextlib.nullcontext()
        return self._storage.read_lock()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:  # the parent connection refuses concurrent calls
            cur = self._con.cursor()
        self._bind_events(cur)
        return cur

    # -- Engine protocol ---------------------------------------------------------------------
    def catalog(self, samples: bool = True) -> CatalogInfo:
        """Tables, columns, Trino types; with ``samples`` also a few values of text columns."""
        cached = self._catalogs.get(samples)
        if cached and time.monotonic() - cached[0] < CATALOG_TTL_S:
            return cached[1]
        with self._read_lock():
            info = self._read_catalog(samples)
        self._catalogs[samples] = (time.monotonic(), info)
        return info

    def _read_catalog(self, with_samples: bool) -> CatalogInfo:
        try:
            cur = self._cursor()
        except duckdb.Error as err:
            raise self._translate(err) from None
        try:
            names = [r[0] for r in cur.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'events' ORDER BY ordinal_position").fetchall()]
            columns = {n: TRINO_TYPES.get(n, "varchar") for n in names}
            samples: dict[str, list[str]] = {}
            for col in SAMPLED_COLUMNS if with_samples else ():
                rows = cur.execute(
                    f"SELECT {col} FROM events WHERE {col} IS NOT NULL GROUP BY 1 "
                    f"ORDER BY count(*) DESC LIMIT {LOW_CARDINALITY_MAX + 1}").fetchall()
                if len(rows) <= LOW_CARDINALITY_MAX:
                    samples[col] = [str(r[0]) for r in rows[:DEFAULT_SAMPLE_VALUES]]
        except duckdb.Error as err:
            raise self._translate(err) from None
        finally:
            cur.close()
        return CatalogInfo(tables={"events": columns}, samples={"events": samples})

    def explain(self, sql: str, source: str | None = None) -> Estimate:
        """Rows: the most rows one operator of the plan handles, a cross or non-equi join
        counting the product of its inputs; all unknown when such a join has an input
        DuckDB cannot size (UNNEST). Bytes: the Parquet (and cached days) the scans read.

        ``source`` is accepted for the ``Engine`` protocol and not used here."""
        duck_sql = _one_select(to_duckdb(sql))
        with self._read_lock():
            try:
                cur = self._cursor()
                try:
                    rows = cur.execute("EXPLAIN (FORMAT json) " + duck_sql).fetchall()
                finally:
                    cur.close()
            except duckdb.Error as err:
                raise self._translate(err) from None
        try:
            plan = json.loads(rows[0][1])
        except (IndexError, ValueError):
            return Estimate()
        scans = [n for n in walk(plan) if "PARQUET" in n.get("name", "")
                 or "ARROW" in n.get("name", "")]
        tables = [n for n in walk(plan) if "SEQ_SCAN" in n.get("name", "")
                  or "TABLE_SCAN" in n.get("name", "")]
        est_rows = plan_rows(plan) if scans or tables else None
        if est_rows == UNKNOWN:
            return Estimate()  # a product of an input of unknown size: the policy decides
        scanned = self._scan_bytes(scans) if scans else None
        cached = self._table_bytes(tables)
        if scanned is None and cached is None:
            return Estimate(rows=est_rows)
        return Estimate(rows=est_rows, bytes=(scanned or 0) + (cached or 0))

    def _table_bytes(self, tables: list[dict[str, Any]]) -> int | None:
        """The cached days' Parquet bytes in proportion to the rows the plan reads of them."""
        if self._cache is None or not tables:
            return None
        rows, parquet_bytes = self._cache.totals()
        if rows == 0:
            return None
        return int(sum(min(card(n), rows) for n in tables) * parquet_bytes / rows)

    def _scan_bytes(self, scans: list[dict[str, Any]]) -> int | None:
        """Bytes of the files the plan scans, from 'Scanning Files: k/n' and the files' sizes."""
        if self._is_s3 or not scans:
            return None
        total = self._warehouse_bytes()
        out = 0
        for node in scans:
            ratio = node.get("extra_info", {}).get("Scanning Files")
            if not ratio or "/" not in str(ratio):
                return total
            k, n = (int(x) for x in str(ratio).split("/"))
            out += total * k // max(n, 1)
        return out

    def _warehouse_bytes(self) -> int:
        """The size of the events files, walked at most every `SIZE_TTL_S` (an estimate)."""
        now = time.monotonic()
        if self._size is None or now - self._size[0] > SIZE_TTL_S:
            self._size = (now, _dir_bytes(Path(self.warehouse) / "events"))
        return self._size[1]

    def run(self, sql: str, max_rows: int, timeout_s: float,
            source: str | None = None) -> QueryResult:
        """``source`` is accepted for the ``Engine`` protocol and not used here."""
        duck_sql = _one_select(to_duckdb(sql))
        started = time.perf_counter()
        deadline = time.monotonic() + timeout_s
        for attempt in range(VANISHED_FILE_RETRIES + 1):
            try:
                table, truncated, query_id = self._run_yielding(duck_sql, max_rows, timeout_s,
                                                                deadline)
                break
            except duckdb.IOException:
                # S3 only (local swaps happen under the read lock): a file listed when the
                # query was bound was removed after its replacement became visible. Rebind.
                if attempt == VANISHED_FILE_RETRIES:
                    raise EngineError("the warehouse changed under the query several times",
                                      code="warehouse_changed",
                                      hint="compaction is running; run the query again") from None
        return QueryResult(table=table, truncated=truncated, engine=self.name, query_id=query_id,
                           duration_ms=(time.perf_counter() - started) * 1000)

    def _run_yielding(self, duck_sql: str, max_rows: int, timeout_s: float,
                      deadline: float) -> tuple[pa.Table, bool, str]:
        """Run; out of memory while other queries ran (DuckDB's memory limit is shared, and
        one of them may have held it), run once more with the memory to itself: new queries
        wait at the gate while the running ones end and this one reruns, all before its
        deadline. One such rerun at a time."""
        if not self._gate.enter(deadline):
            raise QueryTimeout(f"the query waited for memory longer than {timeout_s:g} s",
                               hint="run it again; another query needed the engine's memory",
                               timeout_s=timeout_s)
        try:
            with self._read_lock():
                return self._run_once(duck_sql, max_rows, timeout_s, deadline)
        except _OutOfMemory as oom:
            error, shared = oom.error, oom.shared
        if not shared or not self._rerun_lock.acquire(
                timeout=max(deadline - time.monotonic(), 0.0)):
            raise error
        try:
            with self._gate.closed():
                with self._lock:
                    running = frozenset(self._started)
                if not self._outlive(running, deadline):
                    raise error
                with self._read_lock():
                    return self._run_once(duck_sql, max_rows, timeout_s, deadline)
        except _OutOfMemory as oom:
            raise oom.error from None
        finally:
            self._rerun_lock.release()

    def _outlive(self, queries: frozenset[str], deadline: float) -> bool:
        """Wait until none of ``queries`` runs; False if time ran out."""
        with self._ended:
            return self._ended.wait_for(lambda: not queries & self._started.keys(),
                                        timeout=max(deadline - time.monotonic(), 0.0))

    def _run_once(self, duck_sql: str, max_rows: int, timeout_s: float,
                  deadline: float) -> tuple[pa.Table, bool, str]:
        query_id = uuid.uuid4().hex
        timed_out = threading.Event()
        cancelled = threading.Event()
        try:
            cur = self._cursor()
        except duckdb.IOException:
            raise
        except duckdb.OutOfMemoryException as err:  # binding the view needs memory too
            with self._lock:
                others = frozenset(self._started)
            raise _OutOfMemory(self._translate(err), others, bool(others)) from None
        except duckdb.Error as err:
            raise self._translate(err) from None
        with self._lock:
            self._running[query_id] = (cur, cancelled)
            peers = frozenset(self._started)
            self._started[query_id] = time.monotonic()
            self._starts[0] += 1
            starts = self._starts[0]

        finished = threading.Event()

        def on_timeout() -> None:
            timed_out.set()
            # DuckDB sees an interrupt between chunks of rows, and loses one that lands
            # before execution starts: repeat it until the query has ended.
            while not finished.is_set():
                with contextlib.suppress(duckdb.Error):
                    cur.interrupt()
                finished.wait(INTERRUPT_EVERY_S)

        timer = threading.Timer(max(deadline - time.monotonic(), 0.0), on_timeout)
        timer.daemon = True
        timer.start()
        try:
            table, truncated = self._fetch(cur, duck_sql, max_rows, self._max_result_bytes,
                                           cancelled)
        except duckdb.IOException:
            if self._is_s3:
                raise
            raise self._translate_io() from None
        except duckdb.Error as err:
            if timed_out.is_set():
                raise QueryTimeout(f"the query ran longer than {timeout_s:g} s and was stopped",
                                   hint="filter by dt, aggregate more, or raise the timeout",
                                   timeout_s=timeout_s) from None
            if isinstance(err, duckdb.OutOfMemoryException):
                with self._lock:  # the queries that ran alongside, and those still running
                    others = peers | (self._started.keys() - {query_id})
                    shared = bool(others) or self._starts[0] != starts
                raise _OutOfMemory(self._translate(err), frozenset(others), shared) from None
            raise self._translate(err) from None
        except (pa.ArrowException, MemoryError):
            raise EngineError("the result is too large to hold", code="result_too_large",
                              hint="select fewer or smaller columns, or aggregate") from None
        finally:
            finished.set()
            timer.cancel()
            with self._ended:
                self._running.pop(query_id, None)
                self._started.pop(query_id, None)
                self._ended.notify_all()
            cur.close()
        return table, truncated, query_id

    @staticmethod
    def _translate_io() -> EngineError:
        return EngineError("a warehouse file could not be read", code="storage_unavailable",
                           hint="check the warehouse directory and its permissions")

    @staticmethod
    def _fetch(cur: duckdb.DuckDBPyConnection, sql: str, max_rows: int, max_bytes: int,
               cancelled: threading.Event) -> tuple[pa.Table, bool]:
        """At most ``max_rows`` rows and about ``max_bytes``; truncated if there were more."""
        if cancelled.is_set():
            raise QueryCancelled("the query was cancelled before it started")
        reader = cur.sql(sql).to_arrow_reader(_BATCH_ROWS)
        batches: list[pa.RecordBatch] = []
        count = size = 0
        for batch in reader:
            if cancelled.is_set():
                raise QueryCancelled("the query was cancelled")
            if size + batch.nbytes > max_bytes:
                fits = batch.num_rows * (max_bytes - size) // max(batch.nbytes, 1)
                batches.append(batch.slice(0, fits))
                count = max_rows + 1  # truncated, whatever the row cap
                break
            batches.append(batch)
            size += batch.nbytes
            count += batch.num_rows
            if count > max_rows:
                break
        table = _as_trino_types(pa.Table.from_batches(batches, schema=reader.schema))
        return table.slice(0, max_rows), count > max_rows

    def cancel(self) -> None:
        """Interrupt every query running on this engine, and wait until they have stopped.

        An interrupt that lands just before DuckDB starts executing is lost, so it is
        repeated until the query is gone (at most :data:`CANCEL_WAIT_S`).
        """
        with self._lock:
            targets = dict(self._running)
        for _cur, flag in targets.values():
            flag.set()
        deadline = time.monotonic() + CANCEL_WAIT_S
        while targets and time.monotonic() < deadline:
            for cur, _flag in targets.values():
                cur.interrupt()
            time.sleep(0.02)
            with self._lock:
                targets = {k: v for k, v in targets.items() if k in self._running}

    def close(self) -> None:
        self.cancel()
        if not self._owner:
            return
        if self._cache is not None:
            self._cache.close()
        self._con.close()
        self._cleanup()


def _one_select(duck_sql: str) -> str:
    """Refuse anything but one SELECT, whatever the guardrails let through: the connection
    also holds the day cache's writable table (see duckdb_cache)."""
    try:
        statements = duckdb.extract_statements(duck_sql)
    except duckdb.Error as err:
        raise EngineError(str(err).split("\n")[0], code="bad_sql",
                          hint="check the SQL syntax") from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise EngineError("only a single SELECT statement can run", code="forbidden",
                          hint="the engine is read-only; write one SELECT query")
    return duck_sql


def _as_trino_types(table: pa.Table) -> pa.Table:
    """DuckDB sums integers into HUGEINT (decimal(38,0) in Arrow); Trino answers bigint."""
    for i, fld in enumerate(table.schema):
        if pa.types.is_decimal(fld.type) and fld.type.scale == 0:
            try:
                table = table.set_column(i, fld.name, table.column(i).cast(pa.int64()))
            except pa.ArrowInvalid:
                continue  # does not fit in 64 bits: keep the decimal
    return table


class _OutOfMemory(Exception):
    """Out of memory, and the other queries running on the connection at the time."""

    def __init__(self, error: EngineError, others: frozenset[str], shared: bool) -> None:
        super().__init__(error.message)
        self.error = error
        self.others = others
        self.shared = shared  # another query ran at some time during this one


def _dir_bytes(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith(".parquet"):
                try:
                    total += os.stat(os.path.join(dirpath, name)).st_size
                except OSError:
                    continue
    return total


__all__ = ["DuckDBEngine", "to_duckdb"]
