"""Flushing: the buffer becomes one Parquet file per partition, then its messages are ACKed.

A flush is asked for by rows, bytes, a saturated consumer, or comes by itself after
``flush_interval_s`` and at shutdown. Files are written in ``write_threads`` threads; a message
is ACKed once every partition it has rows in is written, never before.

When a write fails or times out, the messages whose partitions were all written are still ACKed
and the storage is probed (:mod:`pipeline.sink._health`):

- unreachable: an outage, nobody's fault. The rest is held (nothing more is fetched, nothing
  dead-lettered) and written once the storage is back; a stop in between NAKs it.
- reachable: the data's own fault. Each remaining message's rows (the batch's rows carry their
  message's stream sequence) are written alone (:meth:`Flusher.alone`), skipping the partitions
  the batch did write; one whose own write fails ``max_deliver`` times, the storage reachable
  each time, is dead-lettered as ``write_failed``, the others are ACKed.

A write that times out is an outage too: its thread cannot be stopped, so nothing more is
fetched and its partitions are not written again until it has returned (a late success counts).
A message whose ACK fails is let go: JetStream redelivers it after ``ack_wait``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import nats.errors
import numpy as np
import pyarrow as pa

from pipeline.sink._attempts import Attempts
from pipeline.sink._buffer import Batch, Held
from pipeline.sink._config import SinkConfig
from pipeline.sink._deadletter import DeadLetterer, Unavailable
from pipeline.sink._errors import SinkError
from pipeline.sink._health import RETRY_MIN_S, StorageHealth
from pipeline.sink._inflight import InFlight
from pipeline.sink._log import log
from pipeline.sink._metrics import Metrics
from pipeline.sink._route import SEQ_COLUMN, runs
from pipeline.sink._wait import set_within
from warehouse.layout import Partition
from warehouse.storage import FileInfo

MARKERS_RELEASE_S = 1.0  # at a stop, for removing attempt markers, at most
_Written = tuple[Partition, FileInfo, int]


class Flusher:
    def __init__(self, config: SinkConfig, inflight: InFlight, metrics: Metrics,
                 dead: DeadLetterer, attempts: Attempts, stopping: asyncio.Event):
        self.config = config
        self.opts = config.options
        self.inflight = inflight
        self.metrics = metrics
        self.dead = dead
        self.attempts = attempts
        self.health = StorageHealth(config, metrics)
        self._stopping = stopping
        self._wake = asyncio.Event()
        self._want: str | None = None
        self._intake_done = asyncio.Event()
        self._file_seq = itertools.count(1)
        self._io = ThreadPoolExecutor(self.opts.write_threads, thread_name_prefix="sink-write")
        self._running: dict[Partition, asyncio.Future[_Written]] = {}  # a write per partition

    def request(self, reason: str) -> None:
        self._want = self._want or reason
        self._wake.set()

    def wake(self) -> None:
        """The buffer changed: look at the interval again."""
        self._wake.set()

    def intake_done(self) -> None:
        """Nothing more comes into the buffer: flush what is in it, then :meth:`run` returns."""
        self._intake_done.set()
        self._wake.set()

    def close(self) -> None:
        self._io.shutdown(wait=False, cancel_futures=True)
        self.health.close()

    async def run(self) -> None:
        while (reason := await self._next()) is not None:
            await self._flush(reason)

    async def hand_back(self) -> None:
        """The process stops alive (drained, handed back, past the deadline or failed): the
        held messages are NAKed, no crash to remember, so their attempt markers go. Except
        where a write of one of its partitions still runs: that attempt never finished."""
        stuck = {p for p, f in self._running.items() if not f.done()}
        seqs = [h.seq for h in self.inflight.held.values() if h.marked and not h.keys & stuck]
        if not seqs:
            return
        try:
            async with asyncio.timeout(MARKERS_RELEASE_S):
                await self.attempts.end(seqs)
        except TimeoutError:
            log(logging.WARNING, "could not remove attempt markers at the stop",
                messages=len(seqs))

    async def _next(self) -> str | None:
        buffer = self.inflight.buffer
        while True:
            self._wake.clear()
            if self._want is not None:
                reason, self._want = self._want, None
                return reason
            if self._intake_done.is_set():
                return "shutdown" if buffer.messages else None
            timeout = None
            if buffer.since is not None:
                timeout = buffer.since + self.opts.flush_interval_s - time.monotonic()
                if timeout <= 0:
                    return "interval"
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def _flush(self, reason: str) -> None:
        inflight = self.inflight
        batch = inflight.buffer.take()
        async with inflight.room:
            inflight.room.notify_all()
        inflight.gauges()
        if not batch.held:
            return
        started = time.monotonic()
        written: set[Partition] = set()
        pending, err = await self._commit(batch, written)
        if err is not None:
            log(logging.WARNING, "a write failed while the storage is reachable: writing each "
                "message alone", error=f"{err}", messages=len(pending))
            left = {p: t for p, t in batch.parts.items()
                    if p not in written and any(p in h.keys for h in pending)}
            own = await asyncio.get_running_loop().run_in_executor(None, _by_message, left)
            for held in pending:
                if self._stopping.is_set():
                    return
                await self.alone(held, own.get(held.seq, {}))
        elif pending:
            return  # stopped during a storage outage: the rest is NAKed
        took = time.monotonic() - started
        self.metrics.flush_seconds.observe(took)
        self.metrics.flushes.labels(reason).inc()
        self._log_flush(reason, batch, took)

    async def alone(self, held: Held, parts: dict[Partition, pa.Table],
                    payload: bytes | None = None) -> None:
        """Write one message's rows (``parts``: only the partitions not written yet) in files
        of their own, then ACK it. It is dead-lettered when its write fails ``max_deliver``
        times while the storage is reachable; a storage outage or a stop counts for nothing.
        ``payload``, for the dead letter, is read from the stream when not given."""
        self.metrics.isolated_writes.inc()
        self.inflight.held[held.seq] = held  # heartbeats, and a NAK at a stop
        held.keys = frozenset(parts)
        batch = Batch(dict(parts), [held], sum(t.num_rows for t in parts.values()),
                      sum(t.nbytes for t in parts.values()))
        written: set[Partition] = set()
        pause = RETRY_MIN_S
        for failures in itertools.count(1):
            _, err = await self._commit(batch, written)
            if err is None:
                return  # ACKed, or stopped during an outage
            if failures >= self.opts.max_deliver:
                await self._give_up(held, payload, f"{err} (written alone {failures} times, the "
                                    "storage reachable each time)")
                return
            if await set_within(self._stopping, pause):
                return
            pause = min(2 * pause, self.opts.storage_retry_max_s)

    async def _commit(self, batch: Batch, written: set[Partition]
                      ) -> tuple[list[Held], Exception | None]:
        """Write the partitions not yet ``written`` and ACK each message whose partitions all
        are, retrying through storage outages. Returns the messages not ACKed and, when the
        storage is reachable but a write failed, its error; ``([...], None)`` means stopped."""
        pending = batch.held
        while True:
            if self._stopping.is_set() and self.health.down:
                return pending, None  # no write gets through now: hand the rest back at once
            try:
                err, stuck = await self._write(batch, written)
            except asyncio.CancelledError:  # past the shutdown deadline
                await self._ack([h for h in pending if h.keys <= written])
                raise
            await self._ack([h for h in pending if h.keys <= written])
            pending = [h for h in pending if not h.keys <= written]
            if err is None:
                self.health.back()
                return pending, None
            if stuck:  # a write hangs: an outage; its partitions wait until it has returned
                self.health.lost(err)
                async with self._paused():
                    settled = await self._collect(stuck, written, self._stopping)
                if settled:
                    continue
                return pending, None
            if await self.health.reachable(self._stopping):
                self.health.back()
                return pending, err
            self.health.lost(err)
            async with self._paused():
                back = await self.health.wait_back(self._stopping)
            if not back:
                return pending, None

    async def _write(self, batch: Batch, written: set[Partition]
                     ) -> tuple[Exception | None, dict[asyncio.Future[_Written], Partition | None]]:
        """Write the partitions not yet ``written`` (all of them, also after one failed: a
        file in place is not written twice). Returns the first error, if any, and the writes
        still running when ``flush_timeout_s`` passed (then the error is the timeout)."""
        todo = {p: t for p, t in batch.parts.items() if p not in written}
        timeout = SinkError(f"a write took longer than {self.opts.flush_timeout_s:g} s",
                            code="flush_timeout", hint="check the storage; raise "
                            "sink.flush_timeout_s if it is only slow")
        busy: dict[asyncio.Future[_Written], Partition | None] = {
            self._running[p]: None for p in todo if p in self._running}
        if busy:  # an earlier write of a partition still runs: never two at once
            return timeout, busy
        loop = asyncio.get_running_loop()
        waiting: dict[asyncio.Future[_Written], Partition | None] = {}
        for part, table in todo.items():
            future = loop.run_in_executor(self._io, self._write_one, part, table,
                                          self._file_name())
            self._running[part] = future
            future.add_done_callback(functools.partial(self._finished, part))
            waiting[future] = part
        first: list[Exception] = []
        try:
            async with asyncio.timeout(self.opts.flush_timeout_s):
                await self._collect(waiting, written, None, first)
        except TimeoutError:
            return timeout, waiting
        return (first[0] if first else None), {}

    async def _collect(self, waiting: dict[asyncio.Future[_Written], Partition | None],
                       written: set[Partition], stopping: asyncio.Event | None,
                       errors: list[Exception] | None = None) -> bool:
        """Wait for the writes in ``waiting`` (removing each as it returns; a partition it
        wrote joins ``written``), or until ``stopping``. True when all have returned."""
        stop: asyncio.Future[Any] = asyncio.ensure_future((stopping or asyncio.Event()).wait())
        try:
            while waiting:
                futures: set[asyncio.Future[Any]] = {*waiting, stop}
                done, _ = await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
                for future in done:
                    if future is stop:
                        continue
                    part = waiting.pop(future)
                    if future.cancelled() or part is None:
                        continue
                    if (err := future.exception()) is not None:
                        if errors is not None and isinstance(err, Exception):
                            errors.append(err)
                        continue
                    _, info, rows = future.result()
                    written.add(part)
                    self.metrics.events.labels(part.app_id).inc(rows)
                    self.metrics.files.labels(part.app_id).inc()
                    self.metrics.bytes.labels(part.app_id).inc(info.size)
                if stop.done():
                    return not waiting
            return True
        finally:
            stop.cancel()

    def _finished(self, part: Partition, future: asyncio.Future[_Written]) -> None:
        if self._running.get(part) is future:
            del self._running[part]
        if not future.cancelled():
            future.exception()  # seen here, whether or not a flush still waits for it

    @contextlib.asynccontextmanager
    async def _paused(self) -> AsyncIterator[None]:
        """No fetching while the storage is unreachable (and fetching again after)."""
        await self.inflight.pause(True)
        try:
            yield
        finally:
            await self.inflight.pause(False)

    def _write_one(self, part: Partition, table: pa.Table, name: str) -> _Written:
        if SEQ_COLUMN in table.column_names:
            table = table.drop_columns([SEQ_COLUMN])
        return part, self.config.storage.write_parquet(part, table, name), table.num_rows

    def _file_name(self) -> str:
        """Unique across processes (sink id) and within one (sequence); never ``.``/``_``."""
        now = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        return f"s-{now}-{self.config.sink_id}-{next(self._file_seq):06d}"

    async def _give_up(self, held: Held, payload: bytes | None, error: str) -> None:
        """Dead-letter ``held`` as ``write_failed``, with its payload read from the stream."""
        try:
            if payload is None:
                payload = await self.dead.original(held.seq)
        except Unavailable as err:
            log(logging.WARNING, "could not read a message to dead-letter it; NAKed, it comes "
                "back", error=f"{err}", stream_seq=held.seq)
            with contextlib.suppress(nats.errors.Error, OSError):
                await held.msg.nak()
            await self._forget(held)
            return
        if payload is None:
            log(logging.ERROR, "message left the stream before it was written",
                stream_seq=held.seq)
            await self._forget(held)
            return
        held.msg.data = payload
        await self.dead.message(held.msg, "write_failed", error)
        held.msg.data = b""
        await self._forget(held)

    async def _forget(self, held: Held) -> None:
        self.inflight.held.pop(held.seq, None)
        self.inflight.gauges()
        if held.marked:
            await self.attempts.end([held.seq])

    async def _ack(self, held: list[Held]) -> None:
        """ACK ``held`` (all written). One whose ACK fails is let go all the same: JetStream
        redelivers it after ``ack_wait`` (a duplicate file at worst, which the compactor
        removes); held, it would be kept in progress for ever."""
        failed: list[BaseException] = []
        for h in held:
            try:
                await h.msg.ack()
            except (nats.errors.Error, OSError) as err:
                failed.append(err)
            self.inflight.held.pop(h.seq, None)
        self.metrics.acked.inc(len(held) - len(failed))
        self.inflight.gauges()
        if failed:
            log(logging.WARNING, "could not ACK written messages; they will be redelivered",
                error=repr(failed[0]), messages=len(failed))
        await self.attempts.end([h.seq for h in held if h.marked])

    def _log_flush(self, reason: str, batch: Batch, took: float) -> None:
        log(logging.INFO, "flushed", reason=reason, files=len(batch.parts), rows=batch.rows,
            messages=len(batch.held), arrow_bytes=batch.nbytes, seconds=round(took, 3))


def _by_message(parts: dict[Partition, pa.Table]) -> dict[int, dict[Partition, pa.Table]]:
    """The buffered rows of each message (by stream sequence), per partition."""
    out: dict[int, dict[Partition, pa.Table]] = {}
    for part, table in parts.items():
        seqs = table[SEQ_COLUMN].to_numpy()
        order = np.argsort(seqs, kind="stable")
        seqs, table = seqs[order], table.take(pa.array(order))
        for start, end in runs(seqs):
            out.setdefault(int(seqs[start]), {})[part] = table.slice(start, end - start)
    return out
