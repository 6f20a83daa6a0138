"""Reporting problems (logging plus a guarded ``on_error``) and counting what happened."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from ._errors import (
    CLOSED,
    DELIVERY_RETRY,
    EVICTED,
    INVALID_ARGUMENT,
    TOO_LARGE,
    Report,
)

logger = logging.getLogger("causality_sdk")

LOG_EVERY_S = 10.0  # high-volume codes are logged at most this often, with a tally
_HIGH_VOLUME = frozenset({EVICTED, DELIVERY_RETRY, INVALID_ARGUMENT, TOO_LARGE, CLOSED})
_WARNING = frozenset({EVICTED, DELIVERY_RETRY})


@dataclass(frozen=True)
class Stats:
    """Counters since this Client started (per process), plus the queue's current size."""

    queued: int = 0  # events on disk now, from every process sharing the queue
    queued_bytes: int = 0
    delivered: int = 0  # accepted by the server
    duplicates: int = 0  # the server had them already (a retried batch)
    rejected: int = 0  # refused by the server and removed
    dropped: int = 0  # refused by this client (bad arguments, too large, closed)
    evicted: int = 0  # removed to respect the caps
    evicted_by_type: dict[str, int] = field(default_factory=dict)
    failed_attempts: int = 0  # requests that will be retried


class Reporter:
    def __init__(self, on_error: Callable[[Report], None] | None) -> None:
        self._on_error = on_error
        self._lock = threading.Lock()
        self._last_logged: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def __call__(self, report: Report) -> None:
        with contextlib.suppress(Exception):  # logging must never break the host app
            self._log(report)
        if self._on_error is None:
            return
        try:
            self._on_error(report)
        except Exception:
            logger.exception("causality_sdk: the on_error callback raised; ignored")

    def _log(self, report: Report) -> None:
        level = logging.WARNING if report.code in _WARNING else logging.ERROR
        if not logger.isEnabledFor(level):
            return
        tally = ""
        if report.code in _HIGH_VOLUME:
            now = time.monotonic()
            with self._lock:
                if now - self._last_logged.get(report.code, -LOG_EVERY_S) < LOG_EVERY_S:
                    self._suppressed[report.code] = self._suppressed.get(report.code, 0) + 1
                    return
                self._last_logged[report.code] = now
                skipped = self._suppressed.pop(report.code, 0)
            if skipped:
                tally = f" ({skipped} similar reports in the last {LOG_EVERY_S:g} s not logged)"
        hint = f" Hint: {report.hint}" if report.hint else ""
        logger.log(level, "causality_sdk %s: %s.%s%s", report.code, report.message, hint, tally)

    def reset_after_fork(self) -> None:
        self._lock = threading.Lock()


class Counters:
    """The mutable side of Stats, shared by the calling threads and the sender."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.delivered = self.duplicates = self.rejected = 0
        self.dropped = self.failed_attempts = 0
        self.evicted_by_type: dict[str, int] = {}

    def add(self, **amounts: int) -> None:
        with self.lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def add_evicted(self, by_type: dict[str, int]) -> None:
        with self.lock:
            for kind, amount in by_type.items():
                self.evicted_by_type[kind] = self.evicted_by_type.get(kind, 0) + amount

    def snapshot(self, queued: int, queued_bytes: int) -> Stats:
        with self.lock:
            return Stats(
                queued=queued,
                queued_bytes=queued_bytes,
                delivered=self.delivered,
                duplicates=self.duplicates,
                rejected=self.rejected,
                dropped=self.dropped,
                evicted=sum(self.evicted_by_type.values()),
                evicted_by_type=dict(self.evicted_by_type),
                failed_attempts=self.failed_attempts,
            )
