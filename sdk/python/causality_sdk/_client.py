"""The public Client: Segment-Spec calls that append to the durable queue and return."""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any, Optional

from . import _errors as E
from . import _message
from ._errors import Report
from ._options import DEFAULT_PRIORITY, Options, default_queue_dir, validate
from ._queue import Eviction, Store
from ._report import Counters, Reporter, Stats, logger
from ._transport import Transport
from ._uuid7 import uuid7
from ._worker import Worker

FLUSH_TIMEOUT_S = 30.0
Props = Optional[Mapping[str, Any]]

_CLIENTS: weakref.WeakSet[Client] = weakref.WeakSet()


class Client:
    """Thread-safe and fork-safe. Calls never raise and never wait on the network; problems
    go to the ``causality_sdk`` logger and to ``on_error``. Construction raises
    ``ConfigError`` for invalid settings."""

    def __init__(
        self, write_key: str, host: str, options: Options | None = None, **overrides: Any
    ) -> None:
        opts = (options or Options()).with_overrides(overrides)
        validate(write_key, host, opts)
        self.options = opts
        self._write_key = write_key
        self._host = host
        self._report = Reporter(opts.on_error)
        self._counters = Counters()
        self._priorities = opts.priority_table()
        self._closed = False
        self._unsent = 0
        self._store = self._open_store(write_key)
        self._transport = Transport(
            host, write_key, timeout_s=opts.request_timeout_s, gzip=opts.gzip
        )
        self._worker = self._new_worker()
        self._worker.start()
        atexit.register(self._at_exit)
        _CLIENTS.add(self)

    # -- Segment-Spec calls --------------------------------------------------------------

    def track(
        self,
        user_id: Any = None,
        event: str | None = None,
        properties: Props = None,
        *,
        context: Props = None,
        timestamp: Any = None,
        anonymous_id: Any = None,
        message_id: str | None = None,
        category: str | None = None,
    ) -> str | None:
        """Record an action. Returns the event's messageId, or None if it was dropped."""
        return self._enqueue(
            "track",
            event,
            user_id,
            anonymous_id,
            context,
            timestamp,
            message_id,
            category,
            event=event,
            properties=properties,
        )

    def identify(
        self,
        user_id: Any = None,
        traits: Props = None,
        *,
        context: Props = None,
        timestamp: Any = None,
        anonymous_id: Any = None,
        message_id: str | None = None,
        category: str | None = None,
    ) -> str | None:
        return self._enqueue(
            "identify",
            None,
            user_id,
            anonymous_id,
            context,
            timestamp,
            message_id,
            category,
            traits=traits,
        )

    def page(
        self,
        user_id: Any = None,
        category: str | None = None,
        name: str | None = None,
        properties: Props = None,
        *,
        context: Props = None,
        timestamp: Any = None,
        anonymous_id: Any = None,
        message_id: str | None = None,
    ) -> str | None:
        return self._enqueue(
            "page",
            None,
            user_id,
            anonymous_id,
            context,
            timestamp,
            message_id,
            category,
            name=name,
            properties=properties,
        )

    def screen(
        self,
        user_id: Any = None,
        category: str | None = None,
        name: str | None = None,
        properties: Props = None,
        *,
        context: Props = None,
        timestamp: Any = None,
        anonymous_id: Any = None,
        message_id: str | None = None,
    ) -> str | None:
        return self._enqueue(
            "screen",
            None,
            user_id,
            anonymous_id,
            context,
            timestamp,
            message_id,
            category,
            name=name,
            properties=properties,
        )

    def group(
        self,
        user_id: Any = None,
        group_id: Any = None,
        traits: Props = None,
        *,
        context: Props = None,
        timestamp: Any = None,
        anonymous_id: Any = None,
        message_id: str | None = None,
        category: str | None = None,
    ) -> str | None:
        return self._enqueue(
            "group",
            None,
            user_id,
            anonymous_id,
            context,
            timestamp,
            message_id,
            category,
            group_id=group_id,
            traits=traits,
        )

    def alias(
        self,
        previous_id: Any = None,
        user_id: Any = None,
        *,
        context: Props = None,
        timestamp: Any = None,
        message_id: str | None = None,
        category: str | None = None,
    ) -> str | None:
        return self._enqueue(
            "alias",
            None,
            user_id,
            None,
            context,
            timestamp,
            message_id,
            category,
            previous_id=previous_id,
        )

    # -- delivery control ----------------------------------------------------------------

    def flush(self, timeout: float = FLUSH_TIMEOUT_S) -> bool:
        """Wait until every event queued before this call has left the queue (delivered,
        or refused by the server). True if so within ``timeout`` seconds."""
        if self._closed:
            return False
        try:
            deadline = time.monotonic() + max(0.0, timeout)
            _, newest = self._store.id_range()
            if newest is None:
                return True
            self._ensure_worker()
            return self._worker.wait_until_gone(newest, deadline)
        except Exception as exc:
            self._internal(exc)
            return False

    def shutdown(self, timeout: float = FLUSH_TIMEOUT_S) -> bool:
        """Flush (up to ``timeout``), stop the sender and close the queue. Events that were
        not delivered stay on disk for the next Client with the same write key."""
        try:
            if self._closed:
                return True
            deadline = time.monotonic() + max(0.0, timeout)
            delivered = self.flush(timeout)
            self._closed = True
            self._worker.stop(deadline - time.monotonic())
            self._transport.close()
            self._store.close()
            atexit.unregister(self._at_exit)
            return delivered
        except Exception as exc:
            self._internal(exc)
            return False

    def stats(self) -> Stats:
        try:
            queued, size = self._store.totals() if not self._closed else (0, 0)
        except Exception:
            queued, size = 0, 0
        return self._counters.snapshot(queued, size)

    @property
    def queue_path(self) -> str | None:
        """The SQLite file, or None when the queue fell back to memory."""
        return self._store.path

    # -- internals -----------------------------------------------------------------------

    def _enqueue(
        self,
        kind: str,
        event_name: str | None,
        user_id: Any,
        anonymous_id: Any,
        context: Any,
        timestamp: Any,
        message_id: Any,
        category: Any,
        **fields: Any,
    ) -> str | None:
        try:
            if self._closed:
                self._drop(
                    Report(
                        E.CLOSED,
                        f"{kind}() after shutdown(); event dropped",
                        hint="create a new Client",
                        event_type=kind,
                    )
                )
                return None
            doc = _message.build(
                kind,
                user_id,
                anonymous_id,
                context,
                timestamp,
                message_id,
                category,
                _message.fields_for(kind, fields),
            )
            mid: str = doc.setdefault("messageId", uuid7())
            payload = _message.encode(doc)
            if len(payload) > self.options.max_event_bytes:
                self._drop(
                    Report(
                        E.TOO_LARGE,
                        f"{kind} event is {len(payload)} bytes, over the "
                        f"{self.options.max_event_bytes}-byte limit; dropped",
                        hint="send large blobs elsewhere and track a reference to them",
                        message_id=mid,
                        event_type=kind,
                    )
                )
                return None
            table = self._priorities
            priority = table.get(kind, DEFAULT_PRIORITY)
            if event_name is not None:
                priority = table.get(event_name, priority)
            eviction = self._store.append(priority, kind, mid, payload)
            if not self._worker.started:
                self._ensure_worker()
            self._unsent += 1
            if self._unsent >= self.options.batch_size:
                self._unsent = 0
                self._worker.wake()
            if eviction is not None:
                self._evicted(eviction, mid)
                if eviction.dropped_new:
                    return None
            return mid
        except _message.InvalidEvent as exc:
            self._drop(
                Report(
                    E.INVALID_ARGUMENT,
                    f"{kind}(): {exc}; event dropped",
                    hint=exc.hint,
                    event_type=kind,
                )
            )
        except (sqlite3.Error, OSError) as exc:
            self._drop(
                Report(
                    E.QUEUE_ERROR,
                    f"{kind}(): could not queue the event: {exc}",
                    hint=f"check free disk space and permissions on {self._store.path}",
                    event_type=kind,
                )
            )
        except Exception as exc:
            self._internal(exc)
        return None

    def _drop(self, report: Report) -> None:
        self._counters.add(dropped=1)
        self._report(report)

    def _evicted(self, eviction: Eviction, message_id: str) -> None:
        self._counters.add_evicted(eviction.by_kind)
        count = sum(eviction.by_kind.values())
        detail = ", ".join(f"{n} {kind}" for kind, n in sorted(eviction.by_kind.items()))
        what = "the new event" if eviction.dropped_new else f"{count} queued event(s)"
        self._report(
            Report(
                E.EVICTED,
                f"queue full: removed {what} ({detail})",
                hint="raise max_queue_events / max_queue_bytes, or check that delivery works",
                message_id=message_id if eviction.dropped_new else None,
                count=count,
            )
        )

    def _internal(self, exc: BaseException) -> None:
        with contextlib.suppress(Exception):  # never raise into the host app
            self._report(
                Report(
                    E.INTERNAL_ERROR,
                    f"unexpected {exc!r}",
                    hint="this is a bug in causality_sdk; please report it",
                )
            )

    def _open_store(self, write_key: str) -> Store:
        opts = self.options
        caps: dict[str, Any] = {
            "max_events": opts.max_queue_events,
            "max_bytes": opts.max_queue_bytes,
            "fsync": opts.fsync,
        }
        directory = os.fspath(opts.queue_dir) if opts.queue_dir else default_queue_dir()
        digest = hashlib.sha256(write_key.encode()).hexdigest()[:16]
        path = os.path.join(directory, f"queue-{digest}.sqlite3")
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            return Store(path, **caps)
        except (sqlite3.Error, OSError) as exc:
            self._report(
                Report(
                    E.NOT_DURABLE,
                    f"cannot open the queue at {path} ({exc}); queueing in memory",
                    hint=f"make {directory} writable or set queue_dir",
                )
            )
            return Store(None, **caps)

    def _new_worker(self) -> Worker:
        return Worker(self._store, self._transport, self.options, self._report, self._counters)

    def _ensure_worker(self) -> None:
        with _START_LOCK:
            if not self._worker.started and not self._closed:
                self._worker.start()

    def _at_exit(self) -> None:
        self.shutdown(self.options.shutdown_timeout_s)

    # -- fork ----------------------------------------------------------------------------

    def _before_fork(self) -> None:
        self._store.before_fork()

    def _after_fork_in_parent(self) -> None:
        self._store.after_fork_in_parent()

    def _after_fork_in_child(self) -> None:
        # Locks held by other threads at fork() time would never be released here, and the
        # sender thread does not exist: rebuild, and start a sender on first use.
        self._store.after_fork_in_child()
        self._transport.abandon()
        self._report.reset_after_fork()
        self._counters = Counters()
        self._unsent = 0
        self._worker = self._new_worker()


_START_LOCK = threading.Lock()


def _before_fork() -> None:
    for client in list(_CLIENTS):
        client._before_fork()


def _after_fork_in_parent() -> None:
    for client in list(_CLIENTS):
        client._after_fork_in_parent()


def _after_fork_in_child() -> None:
    global _START_LOCK
    _START_LOCK = threading.Lock()
    for client in list(_CLIENTS):
        try:
            client._after_fork_in_child()
        except Exception:
            logger.exception("causality_sdk: resetting a client after fork() failed")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
