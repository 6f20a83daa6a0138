"""Closed days of a local warehouse, copied into DuckDB's own compressed in-memory storage.

Why: the layout keeps one partition per app and hour, so eight weeks of three apps are 4,032
small Parquet files, and DuckDB opens every one of them per query (a six-tile dashboard over
10M demo events took 17 s on 2 cores; the same queries on a native table take about 2 s).
Closed days change rarely, so the engine keeps them as a DuckDB table and reads only the
other days from Parquet.

What is cached: whole days (every app and hour of one ``dt``) that ended more than
``closed_after_s`` ago, newest first, until the days' Parquet bytes reach ``budget_bytes``.
A background thread loads them (a day at a time) and checks the warehouse every
``interval_s``; queries never wait for it.

Freshness: every query stats a marker that :class:`warehouse.storage.Storage` (and the demo
writer) touches on each commit and delete. When it has moved, the cached days are listed again
(names, sizes and mtimes of their files and hour directories); a day that changed is read from
Parquet by that query and reloaded in the background. Files changed by other means are
noticed by the background pass.

Consistency: a load commits and is recorded under one lock, and a query pins its DuckDB
snapshot and reads the set of cached days under the same lock, so every day is seen exactly
once, from the table or from the files.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from warehouse.engines._base import CacheStatus
from warehouse.layout import CHANGES_MARKER, EVENTS_DIR, is_data_file
from warehouse.storage import Storage

CACHE_CATALOG = "daycache"
CACHE_TABLE = f"{CACHE_CATALOG}.events"
CLOSED_AFTER_S = 2 * 3600.0  # a day is cached once it ended this long ago (compaction first)
SETTLED_S = 2.0  # a day changed this recently waits for the next pass (coarse mtime ticks)
INTERVAL_S = 30.0
HIVE_TYPES = "{'app_id': VARCHAR, 'dt': VARCHAR, 'hour': VARCHAR}"

log = logging.getLogger("causality.duckdb")

Mark = tuple[str, str, int, int]  # (app dir, hour dir or file, mtime ns, size)
Fingerprint = tuple[Mark, ...]  # sorted


@dataclass
class DayFiles:
    """One day of the warehouse as listed: its files, their bytes, and its fingerprint."""

    files: list[str] = field(default_factory=list)
    bytes: int = 0
    marks: list[Mark] = field(default_factory=list)

    @property
    def fingerprint(self) -> Fingerprint:
        return tuple(sorted(self.marks))


def _day_dirs(events: Path, only: set[str] | None = None) -> list[tuple[str, str, str]]:
    """(app dir name, dt, path) of every ``app_id=*/dt=*`` directory (optionally some days)."""
    out: list[tuple[str, str, str]] = []
    try:
        apps = [e for e in os.scandir(events) if e.is_dir() and e.name.startswith("app_id=")]
    except FileNotFoundError:
        return []
    for app in apps:
        try:
            days = list(os.scandir(app.path))
        except FileNotFoundError:
            continue
        for day in days:
            if not day.name.startswith("dt="):
                continue
            dt = day.name[3:]
            if only is None or dt in only:
                out.append((app.name, dt, day.path))
    return out


def _hours(day_path: str) -> list[os.DirEntry[str]]:
    try:
        return [h for h in os.scandir(day_path) if h.is_dir() and h.name.startswith("hour=")]
    except FileNotFoundError:
        return []


def _data_files(hour_path: str) -> list[os.DirEntry[str]]:
    try:
        return [f for f in os.scandir(hour_path) if is_data_file(f.name)]
    except FileNotFoundError:
        return []


def _mtime(entry: os.DirEntry[str]) -> int:
    try:
        return entry.stat().st_mtime_ns
    except FileNotFoundError:
        return -1


def fingerprints(events: Path, days: set[str]) -> dict[str, Fingerprint]:
    """The fingerprint of each of ``days`` that still exists."""
    return {dt: day.fingerprint for dt, day in inventory(events, days).items()}


def inventory(events: Path, only: set[str] | None = None) -> dict[str, DayFiles]:
    """Every day's data files (or only some days'), with sizes and fingerprints."""
    out: dict[str, DayFiles] = {}
    for app, dt, path in _day_dirs(events, only):
        day = out.setdefault(dt, DayFiles())
        for hour in _hours(path):
            day.marks.append((app, hour.name, _mtime(hour), 0))  # before listing: conservative
            for f in _data_files(hour.path):
                try:
                    st = f.stat()
                except FileNotFoundError:
                    continue
                day.bytes += st.st_size
                day.files.append(f.path)
                day.marks.append((app, f"{hour.name}/{f.name}", st.st_mtime_ns, st.st_size))
    return out


def _settled(day: DayFiles, settled_s: float) -> bool:
    """Nothing changed in the last ``settled_s``, so a later change moves an mtime."""
    recent = time.time_ns() - int(settled_s * 1e9)
    return all(mark[2] < recent for mark in day.marks)


def files_outside(events: Path, days: frozenset[str]) -> list[str]:
    """The data files of every day not in ``days``."""
    out: list[str] = []
    for _app, dt, path in _day_dirs(events):
        if dt in days:
            continue
        for hour in _hours(path):
            out.extend(f.path for f in _data_files(hour.path))
    return sorted(out)


def is_closed(dt: str, now: datetime, closed_after_s: float) -> bool:
    try:
        start = datetime.strptime(dt, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return False
    return start + timedelta(days=1, seconds=closed_after_s) <= now


@dataclass(frozen=True)
class _Loaded:
    fingerprint: Fingerprint
    bytes: int
    rows: int


class DayCache:
    """The cached days of one engine: a table in an attached in-memory DuckDB catalog."""

    def __init__(self, con: duckdb.DuckDBPyConnection, storage: Storage, columns: str,
                 budget_bytes: int, *, closed_after_s: float = CLOSED_AFTER_S,
                 interval_s: float = INTERVAL_S, settled_s: float = SETTLED_S):
        self._con = con
        self._storage = storage
        self._columns = columns  # the SELECT list that turns file columns into view columns
        self._events = Path(storage.root) / EVENTS_DIR
        self._marker = self._events / CHANGES_MARKER
        self.budget_bytes = budget_bytes
        self.closed_after_s = closed_after_s
        self.interval_s = interval_s
        self.settled_s = settled_s
        self._lock = threading.Lock()  # a load's commit + record vs a query's pin + read
        self._loaded: dict[str, _Loaded] = {}
        self._stale: set[str] = set()
        self._marker_seen: int | None = None
        self._loading = False
        self._settled_since = -1.0  # when the last pass that left nothing for later began
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._passed = threading.Condition()
        self._thread: threading.Thread | None = None

    def create(self, empty_select: str) -> None:
        """Attach the catalog and create the (empty) table with the view's columns."""
        self._con.execute(f"ATTACH ':memory:' AS {CACHE_CATALOG} (COMPRESS)")
        self._con.execute(f"CREATE TABLE {CACHE_TABLE} AS {empty_select} LIMIT 0")

    # -- the query side ------------------------------------------------------------------
    def pin(self, cur: duckdb.DuckDBPyConnection) -> tuple[frozenset[str], frozenset[str]]:
        """Begin ``cur``'s transaction on a snapshot; (days it reads from the table, days
        whose table rows it must skip). Every other day is read from the files."""
        self._verify()
        with self._lock:
            cur.execute("BEGIN TRANSACTION")
            cur.execute(f"SELECT 1 FROM {CACHE_TABLE} LIMIT 1").fetchall()  # pins the snapshot
            stale = frozenset(self._stale & self._loaded.keys())
            return frozenset(self._loaded.keys() - stale), stale

    def _verify(self) -> None:
        """If the warehouse changed since the last check, mark changed cached days stale."""
        marker = self._marker_ns()
        if marker == self._marker_seen:
            return
        with self._lock:
            loaded = dict(self._loaded)
        now_fps = fingerprints(self._events, set(loaded))
        changed = {dt for dt, day in loaded.items() if now_fps.get(dt) != day.fingerprint}
        with self._lock:
            fresh = {dt for dt in changed if dt in self._loaded
                     and self._loaded[dt].fingerprint == loaded[dt].fingerprint}
            self._stale |= fresh
            self._marker_seen = marker
        if fresh:
            self._wake.set()

    def files_outside(self, days: frozenset[str]) -> list[str]:
        """The data files of every day not in ``days`` (those a pinned query reads)."""
        return files_outside(self._events, days)

    def _marker_ns(self) -> int:
        try:
            return self._marker.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    # -- the loading side ----------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="duckdb-day-cache", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def wait_settled(self, timeout_s: float) -> bool:
        """Wait for a background pass that began after this call and left no day for later:
        the cache then holds every closed day within budget as it was at the call."""
        called = time.monotonic()
        deadline = called + timeout_s
        self._wake.set()
        with self._passed:
            while self._settled_since < called:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._passed.wait(left)
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            self._wake.clear()
            deferred = failed = False
            try:
                deferred = self.refresh()
            except (duckdb.Error, OSError) as err:  # keep serving from Parquet; retry later
                failed = True
                log.warning("day cache pass failed: %s", str(err).split("\n")[0])
            with self._passed:
                if not (deferred or failed or self._stale):
                    self._settled_since = began
                self._passed.notify_all()
            self._wake.wait(self.settled_s if deferred and not failed else self.interval_s)

    def refresh(self, now: datetime | None = None) -> bool:
        """One pass: load new or changed closed days, newest first, and drop the rest.
        True if a day was left for a later pass because it changed a moment ago."""
        self._loading = True
        try:
            return self._refresh(now or datetime.now(UTC))
        finally:
            self._loading = False

    def _refresh(self, now: datetime) -> bool:
        days = inventory(self._events)
        target: dict[str, DayFiles] = {}
        used = 0
        for dt in sorted(days, reverse=True):
            day = days[dt]
            if not day.files or not is_closed(dt, now, self.closed_after_s):
                continue
            if used + day.bytes > self.budget_bytes:
                break
            used += day.bytes
            target[dt] = day
        changed = deferred = False
        for dt in set(self._loaded) - set(target):
            self._replace(dt, None)
            changed = True
        for dt, day in target.items():
            if self._stop.is_set():
                break
            known = self._loaded.get(dt)
            if known is None or known.fingerprint != day.fingerprint or dt in self._stale:
                if self._replace(dt, day):
                    changed = True
                else:
                    deferred = True
        if changed:
            self._con.cursor().execute(f"CHECKPOINT {CACHE_CATALOG}")  # compresses new rows
        return deferred

    def _replace(self, dt: str, day: DayFiles | None) -> bool:
        """Swap one day's rows for its current files (``None``: drop it) in one transaction;
        False if the day changed too recently to load now."""
        cur = self._con.cursor()
        try:
            with self._storage.read_lock():  # no compaction swap while the files are read
                if day is not None:  # listed again under the lock: a swap may have happened
                    day = inventory(self._events, {dt}).get(dt)
                    if day is not None and not _settled(day, self.settled_s):
                        return False
                cur.execute("BEGIN TRANSACTION")
                cur.execute(f"DELETE FROM {CACHE_TABLE} WHERE dt = ?", [dt])
                rows = 0
                if day is not None and day.files:
                    # Per user within an app: user-level aggregates (retention, funnels,
                    # distinct users) find their groups together; app_id first for tenants.
                    cur.execute(
                        f"INSERT INTO {CACHE_TABLE} SELECT {self._columns} FROM read_parquet("
                        f"$files, hive_partitioning = true, hive_types = {HIVE_TYPES}) "
                        "ORDER BY app_id, user_id, event_time", {"files": day.files})
                    fetched = cur.fetchone()
                    rows = int(fetched[0]) if fetched else 0
            with self._lock:
                cur.execute("COMMIT")
                if day is not None and day.files:
                    self._loaded[dt] = _Loaded(day.fingerprint, day.bytes, rows)
                else:
                    self._loaded.pop(dt, None)
                self._stale.discard(dt)
                self._marker_seen = None  # a change during the load is checked on next query
        finally:
            cur.close()
        return True

    def totals(self) -> tuple[int, int]:
        """(rows, Parquet bytes) of the cached days."""
        with self._lock:
            loaded = list(self._loaded.values())
        return sum(d.rows for d in loaded), sum(d.bytes for d in loaded)

    def status(self) -> CacheStatus:
        with self._lock:
            days = len(self._loaded)
        rows, parquet_bytes = self.totals()
        memory = 0
        try:
            cur = self._con.cursor()
            try:
                got = cur.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory() "
                                  "WHERE tag = 'IN_MEMORY_TABLE'").fetchone()
                memory = int(got[0] or 0) if got else 0
            finally:
                cur.close()
        except duckdb.Error:
            memory = 0
        return CacheStatus(days=days, rows=rows, parquet_bytes=parquet_bytes, memory_bytes=memory,
                           budget_bytes=self.budget_bytes, loading=self._loading)
