"""The durable queue: one SQLite file per write key, in WAL mode.

Why ``synchronous=NORMAL`` is durable against a killed process: in WAL mode a commit
``write()``s its frames to the ``-wal`` file before ``execute`` returns. From then on the
bytes belong to the kernel's page cache, which outlives the process, so SIGKILL, a crash
or ``os._exit`` cannot lose them; the next opener replays the WAL. Only a power cut or an
OS crash can drop the last commits (never corrupting the file), because NORMAL fsyncs at
checkpoints rather than at each commit. ``Options(fsync=True)`` selects ``FULL`` for that.

Caps are enforced inside SQLite: a per-connection trigger aborts an INSERT that would
exceed them, and the slow path then evicts (lowest priority first, then oldest) and
inserts in one transaction. Counts live in ``totals``, kept exact by triggers, so several
processes sharing the file (fork, pre-forking servers) see the same numbers.

Rows being sent carry a lease (owner, expiry) so two processes never send the same rows;
a process that died holding leases loses them when its lease expires, or at once when
the next opener finds no live process holding the sidecar ``.lock`` file.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass

try:
    import fcntl
except ImportError:  # Windows: leases simply expire
    fcntl = None  # type: ignore[assignment]

SCHEMA_VERSION = 1
PAGE_SIZE = 2048  # measured: fewer WAL bytes per event than 4096, less CPU than 1024
BUSY_TIMEOUT_S = 5.0  # only other processes can make us wait; threads share one lock
WAL_RESTART_BYTES = 16 * 1024 * 1024  # over this, checkpoint with writers held off briefly
ENVELOPE_BYTES = 64  # '{"batch":[...],"sentAt":"..."}' around the events
QUEUE_FULL = "causality_queue_full"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    priority INTEGER NOT NULL,
    size INTEGER NOT NULL,
    kind TEXT NOT NULL,
    message_id TEXT NOT NULL,
    lease_until REAL NOT NULL DEFAULT 0,
    lease_owner TEXT,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_eviction ON events (priority, id);
CREATE TABLE IF NOT EXISTS totals (
    k INTEGER PRIMARY KEY CHECK (k = 0),
    n INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
INSERT OR IGNORE INTO totals VALUES (0, 0, 0);
CREATE TRIGGER IF NOT EXISTS events_count_insert AFTER INSERT ON events BEGIN
    UPDATE totals SET n = n + 1, bytes = bytes + NEW.size WHERE k = 0;
END;
CREATE TRIGGER IF NOT EXISTS events_count_delete AFTER DELETE ON events BEGIN
    UPDATE totals SET n = n - 1, bytes = bytes - OLD.size WHERE k = 0;
END;
"""
_CAP_TRIGGER = (
    """
CREATE TEMP TRIGGER IF NOT EXISTS events_cap BEFORE INSERT ON main.events
WHEN (SELECT n >= {max_events} OR bytes + NEW.size > {max_bytes} FROM main.totals WHERE k = 0)
BEGIN SELECT RAISE(ABORT, '"""
    + QUEUE_FULL
    + """'); END
"""
)
_INSERT = "INSERT INTO events (priority, size, kind, message_id, payload) VALUES (?, ?, ?, ?, ?)"
_CLAIMABLE = (
    "SELECT id, message_id, kind, payload FROM events WHERE lease_until <= ? ORDER BY id LIMIT ?"
)
_LEASE = (
    "UPDATE events SET lease_until = ?, lease_owner = ? "
    "WHERE id BETWEEN ? AND ? AND lease_until <= ?"
)
_REMOVE = "DELETE FROM events WHERE id BETWEEN ? AND ? AND lease_owner = ?"
_RELEASE = (
    "UPDATE events SET lease_until = 0, lease_owner = NULL "
    "WHERE id BETWEEN ? AND ? AND lease_owner = ?"
)
_VICTIMS = (
    "SELECT id, size, kind FROM events WHERE priority <= ? AND lease_until <= ? "
    "ORDER BY priority, id"
)

_InsertArgs = tuple[int, int, str, str, bytes]  # priority, size, kind, message_id, payload

# Connections inherited across fork() must never be used or closed by the child: closing
# would run SQLite's unlock logic on the parent's behalf. They are parked here instead.
_ABANDONED: list[object] = []


@dataclass(frozen=True)
class Row:
    id: int
    message_id: str
    kind: str
    payload: bytes


@dataclass(frozen=True)
class Eviction:
    by_kind: dict[str, int]  # evicted events per message type
    dropped_new: bool  # the event being added was itself the lowest priority


class Store:
    """All SQLite access goes through ``self.lock`` (one connection), so in-process
    callers never meet SQLITE_BUSY and fork() never lands inside SQLite."""

    def __init__(self, path: str | None, *, max_events: int, max_bytes: int, fsync: bool) -> None:
        self.path = path
        self.durable = path is not None
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._sync = "FULL" if fsync else "NORMAL"
        self.lock = threading.Lock()
        self.ckpt_lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._cur: sqlite3.Cursor | None = None
        self._ckpt_conn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._closed = False
        with self.lock:
            self._open()

    # -- opening -------------------------------------------------------------------------

    def _open(self) -> None:
        if self.path is None:
            self._conn = self._connect(":memory:")
        else:
            # A forked child shares the parent's flock through the inherited descriptor.
            alone = self._take_sidecar_lock() if self._lock_fd is None else False
            try:
                self._conn = self._connect(self.path)
            except sqlite3.DatabaseError as exc:
                if "not a database" not in str(exc) and "malformed" not in str(exc):
                    raise
                # Keep the damaged file for inspection, start a fresh queue.
                os.replace(self.path, f"{self.path}.corrupt-{int(time.time())}")
                self._conn = self._connect(self.path)
            if alone:  # no live process holds leases: any left are from the dead
                self._conn.execute("UPDATE events SET lease_until = 0 WHERE lease_until > 0")
        self._cur = self._conn.cursor()

    def _connect(self, target: str) -> sqlite3.Connection:
        conn = sqlite3.connect(
            target, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        conn.execute("PRAGMA journal_mode = WAL").fetchall()
        conn.execute(f"PRAGMA synchronous = {self._sync}")
        conn.execute("PRAGMA wal_autocheckpoint = 0")  # the worker checkpoints, not track()
        conn.execute(f"PRAGMA journal_size_limit = {WAL_RESTART_BYTES}").fetchall()
        version = conn.execute("PRAGMA user_version").fetchall()[0][0]
        if version != SCHEMA_VERSION:
            conn.executescript(_SCHEMA)  # idempotent, so racing openers are harmless
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute(
            _CAP_TRIGGER.format(max_events=int(self._max_events), max_bytes=int(self._max_bytes))
        )
        return conn

    def _take_sidecar_lock(self) -> bool:
        """Hold a shared flock for our lifetime; True if we were the only holder."""
        if fcntl is None or self.path is None:
            return False
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        self._lock_fd = fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fcntl.flock(fd, fcntl.LOCK_SH)
            return False
        fcntl.flock(fd, fcntl.LOCK_SH)  # downgrade: others may share the queue from now on
        return True

    def _ready(self) -> sqlite3.Cursor:
        if self._cur is None:
            if self._closed:
                raise sqlite3.ProgrammingError("queue is closed")
            self._open()  # first use in a forked child
        assert self._cur is not None
        return self._cur

    # -- producer side -------------------------------------------------------------------

    def append(self, priority: int, kind: str, message_id: str, payload: bytes) -> Eviction | None:
        args: _InsertArgs = (priority, len(payload), kind, message_id, payload)
        with self.lock:
            cur = self._ready()
            try:
                cur.execute(_INSERT, args)
                return None
            except sqlite3.IntegrityError as exc:
                if QUEUE_FULL not in str(exc):
                    raise
                return self._evict_and_insert(cur, args)

    def _evict_and_insert(self, cur: sqlite3.Cursor, args: _InsertArgs) -> Eviction:
        priority, size, kind = args[0], args[1], args[2]
        cur.execute("BEGIN IMMEDIATE")
        try:
            n, total = cur.execute("SELECT n, bytes FROM totals WHERE k = 0").fetchall()[0]
            need_n, need_b = n + 1 - self._max_events, total + size - self._max_bytes
            victims: list[tuple[int, str]] = []
            freed_n = freed_b = 0
            if size <= self._max_bytes:
                scan = self._conn.execute(_VICTIMS, (priority, time.time()))  # type: ignore[union-attr]
                for row_id, row_size, row_kind in scan:
                    if freed_n >= need_n and freed_b >= need_b:
                        break
                    victims.append((row_id, row_kind))
                    freed_n += 1
                    freed_b += row_size
                scan.close()
            if freed_n >= need_n and freed_b >= need_b:
                cur.executemany("DELETE FROM events WHERE id = ?", [(v[0],) for v in victims])
                cur.execute(_INSERT, args)
                eviction = Eviction(dict(Counter(v[1] for v in victims)), dropped_new=False)
            else:  # everything older is as important or more: the newcomer goes
                eviction = Eviction({kind: 1}, dropped_new=True)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return eviction

    # -- sender side ---------------------------------------------------------------------

    def claim(self, owner: str, lease_s: float, max_events: int, max_bytes: int) -> list[Row]:
        """Lease the oldest unleased events that fit one batch."""
        now = time.time()
        with self.lock:
            cur = self._ready()
            cur.execute("BEGIN IMMEDIATE")
            try:
                rows = cur.execute(_CLAIMABLE, (now, max_events)).fetchall()
                taken: list[Row] = []
                used = ENVELOPE_BYTES
                for row_id, message_id, kind, payload in rows:
                    used += len(payload) + 1
                    if taken and used > max_bytes:
                        break
                    taken.append(Row(row_id, message_id, kind, payload))
                if taken:
                    cur.execute(_LEASE, (now + lease_s, owner, taken[0].id, taken[-1].id, now))
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        return taken

    def remove(self, rows: list[Row], owner: str) -> None:
        """Delete rows this owner leased. ``rows`` is a contiguous slice of one claim, so the
        owner's rows in its id range are exactly these: one statement, a short lock."""
        self._in_range(_REMOVE, rows, owner)

    def release(self, rows: list[Row], owner: str) -> None:
        """Hand leased rows back (a contiguous slice of one claim, as for ``remove``)."""
        self._in_range(_RELEASE, rows, owner)

    def _in_range(self, sql: str, rows: list[Row], owner: str) -> None:
        if not rows:
            return
        with self.lock:
            self._ready().execute(sql, (rows[0].id, rows[-1].id, owner))

    # -- inspection ----------------------------------------------------------------------

    def totals(self) -> tuple[int, int]:
        with self.lock:
            n, size = self._ready().execute("SELECT n, bytes FROM totals WHERE k = 0").fetchall()[0]
        return int(n), int(size)

    def id_range(self) -> tuple[int | None, int | None]:
        with self.lock:
            lo, hi = self._ready().execute("SELECT min(id), max(id) FROM events").fetchall()[0]
        return lo, hi

    # -- WAL upkeep ----------------------------------------------------------------------

    def wal_bytes(self) -> int:
        if self.path is None:
            return 0
        try:
            return os.path.getsize(f"{self.path}-wal")
        except OSError:
            return 0

    def checkpoint(self, force: bool = False) -> None:
        """Copy WAL frames into the database without holding up track(); ``force`` then
        finishes the job with writers held off, so the next commit restarts the WAL."""
        if self.path is None:
            return
        with self.ckpt_lock:
            if self._ckpt_conn is None:
                conn = sqlite3.connect(
                    self.path,
                    timeout=BUSY_TIMEOUT_S,
                    isolation_level=None,
                    check_same_thread=False,
                )
                conn.execute(f"PRAGMA synchronous = {self._sync}")
                self._ckpt_conn = conn
            self._ckpt_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            if force:
                with self.lock:
                    self._ckpt_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    # -- lifecycle -----------------------------------------------------------------------

    def before_fork(self) -> None:
        self.ckpt_lock.acquire()
        self.lock.acquire()

    def after_fork_in_parent(self) -> None:
        self.lock.release()
        self.ckpt_lock.release()

    def after_fork_in_child(self) -> None:
        _ABANDONED.extend(c for c in (self._conn, self._ckpt_conn) if c is not None)
        self._conn = self._cur = self._ckpt_conn = None
        self.lock = threading.Lock()
        self.ckpt_lock = threading.Lock()

    def close(self) -> None:
        with self.ckpt_lock, self.lock:
            if self._closed:
                return
            self._closed = True
            for conn in (self._ckpt_conn, self._conn):
                if conn is not None:
                    conn.close()
            self._conn = self._cur = self._ckpt_conn = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None
