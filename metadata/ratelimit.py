"""Sliding windows of hits per key, kept in the metadata store so that every workspace process
sharing the store shares the limits: queries per person per minute, failed sign-ins per
username and per client address.

A key's row holds the times of its recent hits. Each change reads, decides and writes in one
transaction that holds the write lock from its start (SQLite: ``BEGIN IMMEDIATE``; other
databases: the key's row ``FOR UPDATE``), so two processes never both take the last place.
Times are Unix times (`time.time`): every process reads the same clock.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from guardrails import Rejected
from guardrails.execute import RateLimiter
from metadata._db import rate_windows
from metadata.errors import MetadataError

QUERY_WINDOW_S = 60.0
MAX_HITS_KEPT = 10_000  # per key; a limit above it counts as this many
INSERT_RETRIES = 3  # two first hits on one key at once: the second insert fails, then updates

Clock = Callable[[], float]
T = TypeVar("T")
Change = Callable[[Connection, float, list[float] | None], T]


@dataclass(frozen=True)
class Window:
    """A key's hits in its window after a `SlidingWindows.take`, and the seconds until one
    more would fit (0 when this one was taken)."""

    hits: int
    wait_s: float = 0.0

    @property
    def taken(self) -> bool:
        return self.wait_s <= 0.0


class SlidingWindows:
    """At most ``limit`` hits per key within any ``window_s`` seconds."""

    def __init__(self, db: Engine, clock: Clock = time.time):
        self.db, self.clock = db, clock

    def take(self, key: str, limit: int, window_s: float) -> Window:
        """Count a hit for ``key`` unless it already has ``limit`` within the window."""
        limit = min(limit, MAX_HITS_KEPT)

        def change(conn: Connection, now: float, stored: list[float] | None) -> Window:
            recent = [t for t in stored or () if now - t < window_s]
            if len(recent) >= limit:
                return Window(len(recent), max(recent[-limit] + window_s - now, 1e-6))
            recent.append(now)
            _write(conn, key, recent[-limit:], window_s, new=stored is None)
            return Window(len(recent))

        return self._locked(key, change)

    def give_back(self, key: str) -> None:
        """Undo the latest hit of ``key`` (an attempt that turned out not to count)."""

        def change(conn: Connection, now: float, stored: list[float] | None) -> None:
            if stored:
                conn.execute(rate_windows.update().where(rate_windows.c.key == key)
                             .values(hits=json.dumps(stored[:-1])))

        self._locked(key, change)

    def clear(self, key: str) -> None:
        def change(conn: Connection, now: float, stored: list[float] | None) -> None:
            if stored is not None:
                conn.execute(rate_windows.delete().where(rate_windows.c.key == key))

        self._locked(key, change)

    def _locked(self, key: str, change: Change[T]) -> T:
        """``change(connection, now, the key's stored hits or None)`` in one transaction that
        holds the write lock on ``key`` from its start."""
        for _ in range(INSERT_RETRIES):
            try:
                with self.db.connect() as conn:
                    if conn.dialect.name == "sqlite":
                        conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock, before reading
                    row = conn.execute(sa.select(rate_windows.c.hits)
                                       .where(rate_windows.c.key == key)
                                       .with_for_update()).first()
                    outcome = change(conn, self.clock(),
                                     None if row is None else json.loads(row.hits))
                    conn.commit()
                    return outcome
            except sa.exc.IntegrityError:
                continue  # another process added the key's row first: now it is there
            except sa.exc.SQLAlchemyError as err:
                raise _unavailable(key, err) from None
        raise _unavailable(key)


def _write(conn: Connection, key: str, hits: list[float], window_s: float, *,
           new: bool) -> None:
    values = {"hits": json.dumps(hits), "expires_at": hits[-1] + window_s}
    if not new:
        conn.execute(rate_windows.update().where(rate_windows.c.key == key).values(**values))
        return
    # Rows appear only here, so this is where the table is kept to the keys still counting.
    conn.execute(rate_windows.delete().where(rate_windows.c.expires_at < hits[-1]))
    conn.execute(rate_windows.insert().values(key=key, **values))


def _unavailable(key: str, err: sa.exc.SQLAlchemyError | None = None) -> MetadataError:
    """The store's failure, in a line that names neither the key's person nor the SQL."""
    cause = str(getattr(err, "orig", None) or err or "it kept changing").splitlines()[0][:200]
    return MetadataError(f"cannot count {key.split(':', 1)[0]} in the metadata store: {cause}",
                         code="metadata_unavailable",
                         hint="check that the metadata store (metadata_url) is reachable")


class SharedRateLimiter(RateLimiter):
    """`guardrails.execute.RateLimiter`'s sliding minute of queries per person, in the
    metadata store: every workspace process sharing the store shares each person's limit.

    A subclass so that it goes wherever the guardrails take a ``limiter=``; it keeps none of
    the in-process state of its parent.
    """

    def __init__(self, windows: SlidingWindows):
        super().__init__()
        self.windows = windows

    def admit(self, actor: str, per_minute: int | None) -> None:
        if per_minute is None:
            return
        try:
            window = self.windows.take(f"query:{actor}", per_minute, QUERY_WINDOW_S)
        except MetadataError as err:  # fail closed: no count, no query
            raise Rejected("rate_limit_unavailable", f"the query rate limit cannot be checked "
                           f"({err.message})", hint=err.hint) from None
        if not window.taken:
            raise Rejected("rate_limited",
                           f"{actor} ran {window.hits} queries in the last minute",
                           hint=f"wait {math.ceil(window.wait_s)} s; the limit is {per_minute} "
                                "per minute")
