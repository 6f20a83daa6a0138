"""The sender thread: claims batches from the queue, posts them, removes them on success.

It sleeps on a Condition until a batch is due (enough events, the flush interval, a flush
request) and never before a backoff or ``Retry-After`` has passed. Events leave the queue
only after a 200 (accepted, duplicate or invalid per event) or when a single event is
refused on its own (400/413/422 after bisection).
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from typing import Callable

from . import _errors as E
from ._errors import Report
from ._message import now_iso
from ._options import Options
from ._queue import WAL_RESTART_BYTES, Row, Store
from ._report import Counters
from ._transport import NETWORK_ERROR, Response, Transport, batch_body

CHECKPOINT_INTERVAL_S = 1.0
MIN_LEASE_S = 60.0
_SPLIT = frozenset({400, 413, 422})  # isolate the offending event by halving the batch
_AUTH = frozenset({401, 403})


class Worker:
    def __init__(
        self,
        store: Store,
        transport: Transport,
        options: Options,
        report: Callable[[Report], None],
        counters: Counters,
    ) -> None:
        self._store = store
        self._transport = transport
        self._options = options
        self._report = report
        self._counters = counters
        self._cond = threading.Condition()
        self._wake = False
        self._stopping = False
        self._unauthorized = False
        self._failures = 0
        self._backoff_until = 0.0
        self._last_cycle = 0.0
        self._last_checkpoint = 0.0
        self._lease_s = max(MIN_LEASE_S, 4 * options.request_timeout_s)
        self._owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._thread: threading.Thread | None = None

    # -- called from other threads -------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="causality-sdk-sender", daemon=True)
        self._thread.start()

    @property
    def started(self) -> bool:
        return self._thread is not None

    def wake(self) -> None:
        with self._cond:
            self._wake = True
            self._cond.notify_all()

    def wait_until_gone(self, target_id: int, deadline: float) -> bool:
        """Wait until no queued event has an id <= target_id, or the deadline passes."""
        self.wake()
        with self._cond:
            while True:
                lowest, _ = self._store.id_range()
                if lowest is None or lowest > target_id:
                    return True
                now = time.monotonic()
                if now >= deadline or not self._can_send() or not self._alive():
                    return False
                if self._backoff_until >= deadline:  # no attempt is due before the deadline
                    return False
                remaining = deadline - now
                self._cond.wait(remaining)

    def stop(self, timeout_s: float) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(max(0.0, timeout_s))

    def _can_send(self) -> bool:
        return self._options.send and not self._unauthorized

    def _alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the thread ----------------------------------------------------------------------

    def _run(self) -> None:
        while self._wait_until_due():
            try:
                if self._can_send():
                    self._deliver()
                self._maintain_wal()
            except Exception as exc:  # a queue or programming error: report, back off, go on
                if self._stopping:
                    return
                self._report(
                    Report(
                        E.QUEUE_ERROR,
                        f"sender cycle failed: {exc!r}",
                        hint="events stay queued; check disk space and permissions",
                    )
                )
                self._back_off(None)
            with self._cond:
                self._cond.notify_all()  # flush() waiters re-check

    def _wait_until_due(self) -> bool:
        interval = self._options.flush_interval_s
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                due = self._backoff_until
                if not self._wake:
                    due = max(due, self._last_cycle + interval)
                if now >= due:
                    self._wake = False
                    self._last_cycle = now
                    return True
                self._cond.wait(due - now)
        return False

    def _deliver(self) -> None:
        opts = self._options
        while not self._stopping:
            rows = self._store.claim(self._owner, self._lease_s, opts.batch_size, opts.batch_bytes)
            if not rows or not self._send(rows):
                return
            with self._cond:
                self._cond.notify_all()
            self._maintain_wal()  # a long drain must not let the WAL grow unchecked

    def _send(self, rows: list[Row]) -> bool:
        """Post rows, bisecting on per-event refusals. False: stopped for now, rows kept."""
        pending = [rows]
        while pending:
            part = pending.pop()
            response = self._transport.post(batch_body([row.payload for row in part], now_iso()))
            if response.status == 200:
                self._accepted(part, response)
            elif response.status in _SPLIT and len(part) > 1:
                half = len(part) // 2
                pending += [part[half:], part[:half]]
            elif response.status in _SPLIT:
                self._refused(part[0], response)
            else:
                unsent = sorted((row for p in [part, *pending] for row in p), key=_by_id)
                self._store.release(unsent, self._owner)
                if response.status in _AUTH:
                    self._stop_unauthorized(response)
                else:
                    self._back_off(response, len(unsent))
                return False
        self._failures = 0
        return True

    def _accepted(self, part: list[Row], response: Response) -> None:
        outcome = {result.message_id: result for result in response.results}
        duplicates = 0
        invalid = []
        for row in part:
            result = outcome.get(row.message_id)
            if result is None or result.status == "accepted":
                continue
            if result.status == "duplicate":
                duplicates += 1
            elif result.status == "invalid":
                invalid.append((row, result.reason))
        self._store.remove(part, self._owner)
        self._counters.add(
            delivered=len(part) - duplicates - len(invalid),
            duplicates=duplicates,
            rejected=len(invalid),
        )
        for row, reason in invalid:
            self._report(
                Report(
                    E.REJECTED,
                    f"the server refused {row.kind} event {row.message_id}: {reason}",
                    hint="the server quarantined it; fix the call that produced it",
                    message_id=row.message_id,
                    event_type=row.kind,
                    status=200,
                    reason=reason,
                )
            )

    def _refused(self, row: Row, response: Response) -> None:
        self._store.remove([row], self._owner)
        self._counters.add(rejected=1)
        reason = response.message or response.code or f"HTTP {response.status}"
        self._report(
            Report(
                E.REJECTED,
                f"the server refused {row.kind} event {row.message_id} "
                f"(HTTP {response.status}): {reason}",
                hint=response.hint or "the event was removed so it cannot block the queue",
                message_id=row.message_id,
                event_type=row.kind,
                status=response.status,
                reason=reason,
            )
        )

    def _stop_unauthorized(self, response: Response) -> None:
        first = not self._unauthorized
        self._unauthorized = True
        if first:
            self._report(
                Report(
                    E.UNAUTHORIZED,
                    f"the server refused the write key (HTTP {response.status}): "
                    f"{response.message or response.code}",
                    hint="sending stopped and events stay queued; fix the write key and restart",
                    status=response.status,
                )
            )

    def _back_off(self, response: Response | None, count: int = 0) -> None:
        opts = self._options
        self._failures += 1
        retry_after = response.retry_after_s if response is not None else None
        if retry_after:
            delay = min(retry_after, opts.retry_after_max_s)
        else:
            ceiling = min(opts.retry_max_s, opts.retry_base_s * 2 ** min(self._failures - 1, 30))
            delay = ceiling * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not crypto
        self._backoff_until = time.monotonic() + delay
        if response is None:
            return
        self._counters.add(failed_attempts=1)
        what = "network error" if response.status == NETWORK_ERROR else f"HTTP {response.status}"
        self._report(
            Report(
                E.DELIVERY_RETRY,
                f"sending {count} events failed ({what}: {response.message or response.code}); "
                f"retrying in {delay:.1f} s",
                hint=response.hint or "events stay queued until the server accepts them",
                status=response.status or None,
                count=count,
            )
        )

    def _maintain_wal(self) -> None:
        if not self._store.durable:
            return
        now = time.monotonic()
        if self._store.wal_bytes() > WAL_RESTART_BYTES:
            self._store.checkpoint(force=True)
        elif now - self._last_checkpoint >= CHECKPOINT_INTERVAL_S:
            self._store.checkpoint()
        else:
            return
        self._last_checkpoint = now


def _by_id(row: Row) -> int:
    return row.id
