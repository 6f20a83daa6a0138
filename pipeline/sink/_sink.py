"""The sink process: a durable pull consumer on ``EVENTS`` → atomic Parquet files → ACKs.

Tasks, all in one :class:`asyncio.TaskGroup` (one failing stops them all, loudly):

``fetch``      pulls up to ``fetch_batch`` messages at a time into a queue of two; re-creates its
               pull subscription after a reconnect or when it looks stalled (nats.py #504).
``ingest``     decodes and routes a fetched batch in a worker thread, dead-letters poison, adds
               the rows to the buffer; waits (backpressure) while the buffer is over its caps.
``flush``      on rows, bytes, interval, a saturated consumer, or shutdown: writes one file per
               partition (in ``write_threads`` threads), then ACKs each message whose partitions
               are all written. A message is never ACKed before its rows are durable.
``heartbeat``  sends in-progress for every held message each ``ack_wait_s / 4``.
``lag``        polls consumer info (lag gauges; stall detection).
``advisory``   copies messages JetStream gave up on (max deliveries) into the DLQ.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import nats
import nats.errors
import nats.js.errors
import orjson
import pyarrow as pa
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from pipeline.bus import ensure_streams, stream_configs
from pipeline.sink._buffer import Batch, Buffer, Held
from pipeline.sink._config import Outcome, SinkConfig, translate
from pipeline.sink._consumer import consumer_config, ensure_consumer, max_deliveries_subject
from pipeline.sink._decode import Decoded, decode
from pipeline.sink._dlq import dead_letter, ensure_dead_letters
from pipeline.sink._errors import SinkError
from pipeline.sink._http import Probe
from pipeline.sink._log import log
from pipeline.sink._metrics import Metrics
from pipeline.sink._route import RecentIds, Routed, route
from warehouse.layout import Partition
from warehouse.storage import FileInfo

RECONNECT_WAIT_S = 0.5
RELEASE_S = 2.0  # of the shutdown deadline, kept for NAKs and closing the connection
ERROR_LOG_EVERY_S = 10.0
_NATS_TRANSIENT = (TimeoutError, nats.errors.NoRespondersError,
                   nats.errors.ConnectionReconnectingError, nats.js.errors.ServiceUnavailableError)


class Sink:
    def __init__(self, config: SinkConfig, metrics: Metrics | None = None):
        self.config = config
        self.opts = config.options
        self.metrics = metrics or Metrics()
        self.port = 0
        self.ready = asyncio.Event()  # set once consuming and serving probes
        self._stopping = asyncio.Event()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._sub: JetStreamContext.PullSubscription | None = None
        self._resubscribe = True
        self._queue: asyncio.Queue[list[Msg] | None] = asyncio.Queue(maxsize=2)
        self._transit: list[list[Msg]] = []  # fetched, not yet ingested (heartbeats reach them)
        self._advisories: asyncio.Queue[Msg | None] = asyncio.Queue()
        self._buffer = Buffer()
        self._held: dict[int, Held] = {}  # every un-ACKed message, by stream sequence
        self._recent = RecentIds(self.opts.dedup_window)
        self._room = asyncio.Condition()
        self._wake = asyncio.Event()
        self._want: str | None = None
        self._ingest_done = asyncio.Event()
        self._done = asyncio.Event()
        self._empty_since: float | None = None
        self._last_saturation_check = 0.0
        self._error_logged_at = -ERROR_LOG_EVERY_S
        self._errors_unlogged = 0
        self._file_seq = itertools.count(1)
        self._cpu = ThreadPoolExecutor(1, thread_name_prefix="sink-decode")
        self._io = ThreadPoolExecutor(self.opts.write_threads, thread_name_prefix="sink-write")
        self._probe = Probe(self.metrics, self._is_ready)

    # -- lifecycle ---------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop fetching, flush, ACK, exit (within ``shutdown_timeout_s``). Idempotent."""
        if not self._stopping.is_set():
            log(logging.INFO, "sink stopping", sink_id=self.config.sink_id,
                held=len(self._held), buffered_rows=self._buffer.rows)
        self._stopping.set()

    async def run(self) -> Outcome:
        """Consume until :meth:`stop`; raises :class:`SinkError` when anything fails."""
        try:
            if not await self._until_stopped(self._connect()):
                return Outcome.DRAINED  # stopped while waiting for NATS: nothing was fetched
            self.port = await self._probe.start(self.opts.http_host, self.opts.http_port)
            main = asyncio.create_task(self._main(), name="sink-main")
            stopping = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({main, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            outcome = Outcome.DRAINED
            if not main.done():
                drain_s = self.opts.shutdown_timeout_s - min(RELEASE_S,
                                                             self.opts.shutdown_timeout_s / 4)
                await asyncio.wait({main}, timeout=drain_s)
                if not main.done():
                    outcome = Outcome.DEADLINE
                    log(logging.ERROR, "shutdown deadline passed: what is not written is not "
                        "ACKed and will be redelivered", deadline_s=self.opts.shutdown_timeout_s,
                        held=len(self._held))
                    main.cancel()
                    await asyncio.wait({main}, timeout=RELEASE_S / 2)
                    return outcome
            main.result()
            return outcome
        except BaseExceptionGroup as group:
            err = translate(group)
            log(logging.ERROR, "sink failed", exc=group, code=err.code, error=err.message,
                hint=err.hint)
            raise err from group
        except SinkError as err:
            log(logging.ERROR, "sink failed", code=err.code, error=err.message, hint=err.hint)
            raise
        finally:
            await self._release()

    async def _until_stopped(self, work: Coroutine[Any, Any, None]) -> bool:
        """Run ``work`` unless :meth:`stop` comes first (then cancel it and return False)."""
        task = asyncio.create_task(work)
        stopping = asyncio.create_task(self._stopping.wait())
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
            return False
        task.result()
        return True

    async def _connect(self) -> None:
        """Connect (waiting up to ``max_outage_s`` for NATS), create the streams, listen for
        max-deliveries advisories."""
        attempts = max(1, math.ceil(self.opts.max_outage_s / RECONNECT_WAIT_S))
        try:
            self._nc = await nats.connect(
                self.config.nats_url, name=f"causality-sink-{self.config.sink_id}",
                reconnect_time_wait=RECONNECT_WAIT_S, max_reconnect_attempts=attempts,
                connect_timeout=5, allow_reconnect=True,
                disconnected_cb=self._disconnected, reconnected_cb=self._reconnected,
                error_cb=self._nats_error, closed_cb=self._closed)
        except (OSError, nats.errors.Error) as err:
            raise SinkError(f"cannot connect to NATS at {self.config.nats_url}: {err!r}",
                            code="nats_unavailable",
                            hint="start it (`causality nats`) or set CAUSALITY_NATS_URL") from None
        self.metrics.connected.set(1)
        self._js = self._nc.jetstream(timeout=10)
        try:
            await ensure_streams(self._js, stream_configs(
                self.config.streams, self.config.retention_s, self.config.duplicate_window_s))
            await ensure_dead_letters(self._js, self.config.dead_letters,
                                      self.opts.dlq_retention_s)
        except nats.errors.Error as err:
            raise SinkError(f"cannot set up the streams: {err!r}", code="nats_setup_failed",
                            hint="check JetStream is enabled on the server") from None
        await self._nc.subscribe(
            max_deliveries_subject(self.config.streams.events, self.opts.durable),
            cb=self._advisories.put)

    async def _release(self) -> None:
        """NAK what is still held (so other sinks get it now), send everything, disconnect."""
        self.ready.clear()
        self._cpu.shutdown(wait=False, cancel_futures=True)
        self._io.shutdown(wait=False, cancel_futures=True)
        nc = self._nc
        try:
            async with asyncio.timeout(RELEASE_S):
                if nc is not None and nc.is_connected:
                    unacked = [h.msg for h in self._held.values()]
                    for msg in [*unacked, *(m for msgs in self._transit for m in msgs)]:
                        with contextlib.suppress(nats.errors.MsgAlreadyAckdError):
                            await msg.nak()  # a message may be both held and in transit
                    await nc.flush(timeout=1)
        except (TimeoutError, nats.errors.Error) as err:
            log(logging.WARNING, "could not NAK held messages; they return after ack_wait",
                error=repr(err), held=len(self._held))
        try:
            async with asyncio.timeout(RELEASE_S):
                if nc is not None and not nc.is_closed:
                    await nc.close()
        except (TimeoutError, nats.errors.Error):
            pass
        if self.port:
            await self._probe.stop()
        log(logging.INFO, "sink stopped", sink_id=self.config.sink_id, unacked=len(self._held))

    def _is_ready(self) -> bool:
        nc = self._nc
        return (self.ready.is_set() and not self._stopping.is_set() and nc is not None
                and nc.is_connected)

    # -- tasks -------------------------------------------------------------------------------
    async def _main(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._fetcher(), name="fetch")
            tg.create_task(self._ingester(), name="ingest")
            tg.create_task(self._flusher(), name="flush")
            tg.create_task(self._heartbeat(), name="heartbeat")
            tg.create_task(self._poller(), name="lag")
            tg.create_task(self._advisor(), name="advisory")

    async def _fetcher(self) -> None:
        while not self._stopping.is_set():
            if self._resubscribe:
                await self._subscribe()
                if self._sub is None:
                    continue
            assert self._sub is not None
            async with self._room:  # no pulling while the buffer is over its caps
                await self._room.wait_for(self._has_room)
            try:
                msgs = await self._sub.fetch(self.opts.fetch_batch,
                                             timeout=self.opts.fetch_timeout_s)
            except TimeoutError:  # "nothing now": nats.py raises (its own or asyncio's) on empty
                await self._idle()
                continue
            except nats.js.errors.APIError as err:  # e.g. the consumer was deleted
                log(logging.WARNING, "pull request refused; re-subscribing", error=repr(err))
                self._resubscribe = True
                await self._pause(RECONNECT_WAIT_S)
                continue
            self._empty_since = None
            self._transit.append(msgs)
            await self._queue.put(msgs)
        await self._queue.put(None)

    async def _subscribe(self) -> None:
        """(Re)create the consumer and the pull subscription; retried up to ``max_outage_s``."""
        assert self._nc is not None and self._js is not None
        old, self._sub = self._sub, None
        if old is not None:
            self.metrics.resubscribes.inc()
            with contextlib.suppress(nats.errors.Error, ValueError):
                await old.unsubscribe()
        deadline = time.monotonic() + self.opts.max_outage_s
        while not self._stopping.is_set():
            try:
                await ensure_streams(self._js, stream_configs(
                    self.config.streams, self.config.retention_s,
                    self.config.duplicate_window_s))
                await ensure_consumer(self._js, self.config.streams.events,
                                      consumer_config(self.opts, self.config.streams))
                self._sub = await self._js.pull_subscribe_bind(
                    durable=self.opts.durable, stream=self.config.streams.events)
                self._resubscribe = False
                if not self.ready.is_set():
                    self.ready.set()
                    log(logging.INFO, "sink ready", sink_id=self.config.sink_id,
                        port=self.port, durable=self.opts.durable,
                        stream=self.config.streams.events)
                return
            except _NATS_TRANSIENT as err:
                if time.monotonic() > deadline:
                    raise SinkError(f"cannot bind the pull consumer for {self.opts.max_outage_s:g}"
                                    f" s: {err!r}", code="nats_unavailable",
                                    hint="check the NATS server and JetStream") from None
                await self._pause(RECONNECT_WAIT_S)

    async def _idle(self) -> None:
        """After an empty pull: note it (stall detection) and check for a saturated consumer."""
        now = time.monotonic()
        self._empty_since = self._empty_since or now
        if (not self._held or now - self._last_saturation_check < self.opts.fetch_timeout_s
                or self._js is None):
            return
        self._last_saturation_check = now
        try:
            info = await self._js.consumer_info(self.config.streams.events, self.opts.durable)
        except _NATS_TRANSIENT:
            return
        if (info.num_ack_pending or 0) >= self.opts.max_ack_pending:
            self._request_flush("saturated")  # JetStream sends nothing until we ACK

    async def _ingester(self) -> None:
        while (msgs := await self._queue.get()) is not None:
            await self._ingest(msgs)
            self._transit.pop(0)
            if self._buffer.rows >= self.opts.flush_rows:
                self._request_flush("rows")
            elif self._buffer.nbytes >= self.opts.max_buffer_bytes:
                self._request_flush("bytes")
            async with self._room:  # backpressure: never grow past the caps
                await self._room.wait_for(self._has_room)
        self._ingest_done.set()
        self._wake.set()

    def _has_room(self) -> bool:
        return (self._buffer.rows < self.opts.flush_rows
                and self._buffer.nbytes < self.opts.max_buffer_bytes)

    async def _ingest(self, msgs: list[Msg]) -> None:
        now = time.monotonic()
        fresh: list[Msg] = []
        seqs: list[int] = []
        self.metrics.messages.inc(len(msgs))
        for msg in msgs:
            meta = msg.metadata
            if meta.num_delivered > 1:
                self.metrics.redeliveries.inc()
            seq = meta.sequence.stream
            held = self._held.get(seq)
            if held is not None:  # redelivered while buffered: ACK the newest delivery later
                msg.data = b""
                held.msg, held.touched = msg, now
                continue
            if meta.num_delivered > self.opts.max_deliver:
                await self._dead_letter(msg, "max_deliver_exceeded",
                                        f"delivered {meta.num_delivered} times without an ACK "
                                        f"(max_deliver {self.opts.max_deliver}): a sink crashed "
                                        "or timed out on it each time")
                continue
            if seq in seqs:
                continue
            fresh.append(msg)
            seqs.append(seq)
        if not fresh:
            return
        loop = asyncio.get_running_loop()
        decoded, routed = await loop.run_in_executor(
            self._cpu, self._decode_route, [m.data for m in fresh])
        for i, err in decoded.poison.items():
            await self._dead_letter(fresh[i], err.code, err.message)
        held_now = [Held(m, seqs[i], frozenset(routed.keys.get(i, ())), now)
                    for i, m in enumerate(fresh) if i not in decoded.poison]
        for h in held_now:
            h.msg.data = b""  # its rows are in the buffer now; keep memory to the byte cap
        self._buffer.add(routed.parts, held_now, now)
        self._held.update((h.seq, h) for h in held_now)
        for app, n in routed.duplicates.items():
            self.metrics.duplicates.labels(app).inc(n)
        self._gauges()
        self._wake.set()

    def _decode_route(self, payloads: list[bytes]) -> tuple[Decoded, Routed]:
        decoded = decode(payloads)
        return decoded, route(decoded.rows, self._recent)

    async def _dead_letter(self, msg: Msg, code: str, error: str) -> None:
        assert self._js is not None
        meta = msg.metadata
        await dead_letter(
            self._js, self.config.dead_letters, payload=msg.data, subject=msg.subject,
            stream=meta.stream, stream_seq=meta.sequence.stream, delivered=meta.num_delivered,
            consumer=meta.consumer or self.opts.durable, code=code, error=error,
            msg_id=(msg.headers or {}).get("Nats-Msg-Id"), max_payload=self._max_payload())
        await msg.term()
        self.metrics.dead_letters.labels(code).inc()
        log(logging.WARNING, "message dead-lettered", code=code, error=error,
            stream_seq=meta.sequence.stream, delivered=meta.num_delivered, subject=msg.subject)

    def _request_flush(self, reason: str) -> None:
        self._want = self._want or reason
        self._wake.set()

    async def _flusher(self) -> None:
        while (reason := await self._next_flush()) is not None:
            await self._flush(reason)
        self._done.set()
        await self._advisories.put(None)

    async def _next_flush(self) -> str | None:
        while True:
            self._wake.clear()
            if self._want is not None:
                reason, self._want = self._want, None
                return reason
            if self._ingest_done.is_set():
                return "shutdown" if self._buffer.messages else None
            timeout = None
            if self._buffer.since is not None:
                timeout = self._buffer.since + self.opts.flush_interval_s - time.monotonic()
                if timeout <= 0:
                    return "interval"
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def _flush(self, reason: str) -> None:
        batch = self._buffer.take()
        async with self._room:
            self._room.notify_all()
        self._gauges()
        if not batch.held:
            return
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        futures = [loop.run_in_executor(self._io, self._write, part, table, self._file_name())
                   for part, table in batch.parts.items()]
        written: set[Partition] = set()
        try:
            async with asyncio.timeout(self.opts.flush_timeout_s):
                for next_done in asyncio.as_completed(futures):
                    part, info, rows = await next_done
                    written.add(part)
                    self.metrics.events.labels(part.app_id).inc(rows)
                    self.metrics.files.labels(part.app_id).inc()
                    self.metrics.bytes.labels(part.app_id).inc(info.size)
        except BaseException as err:
            for f in futures:
                f.cancel()
            await self._ack_safely([h for h in batch.held if h.keys <= written])
            if isinstance(err, TimeoutError):
                raise SinkError(f"a flush took longer than {self.opts.flush_timeout_s:g} s",
                                code="flush_timeout",
                                hint="check the storage; raise sink.flush_timeout_s") from None
            raise
        await self._ack(batch.held)
        took = time.monotonic() - started
        self.metrics.flush_seconds.observe(took)
        self.metrics.flushes.labels(reason).inc()
        self._log_flush(reason, batch, took)

    def _write(self, part: Partition, table: pa.Table, name: str
               ) -> tuple[Partition, FileInfo, int]:
        return part, self.config.storage.write_parquet(part, table, name), table.num_rows

    def _file_name(self) -> str:
        """Unique across processes (sink id) and within one (sequence); never ``.``/``_``."""
        now = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        return f"s-{now}-{self.config.sink_id}-{next(self._file_seq):06d}"

    async def _ack(self, held: list[Held]) -> None:
        for h in held:
            await h.msg.ack()
            self._held.pop(h.seq, None)
        self.metrics.acked.inc(len(held))
        self._gauges()

    async def _ack_safely(self, held: list[Held]) -> None:
        try:
            await self._ack(held)
        except (nats.errors.Error, OSError) as err:
            log(logging.WARNING, "could not ACK written messages; they will be redelivered",
                error=repr(err), messages=len(held))

    def _log_flush(self, reason: str, batch: Batch, took: float) -> None:
        log(logging.INFO, "flushed", reason=reason, files=len(batch.parts), rows=batch.rows,
            messages=len(batch.held), arrow_bytes=batch.nbytes, seconds=round(took, 3))

    async def _heartbeat(self) -> None:
        period = self.opts.ack_wait_s / 4
        while not await self._wait_done(period):
            now = time.monotonic()
            for held in list(self._held.values()):
                if now - held.touched >= period:
                    await held.msg.in_progress()
                    held.touched = now
            for msgs in list(self._transit):
                for msg in msgs:
                    await msg.in_progress()

    async def _poller(self) -> None:
        while not await self._wait_done(self.opts.lag_poll_s):
            if self._js is None:
                continue
            try:
                info = await self._js.consumer_info(self.config.streams.events, self.opts.durable)
            except (*_NATS_TRANSIENT, nats.js.errors.NotFoundError):
                continue
            pending, ack_pending = info.num_pending or 0, info.num_ack_pending or 0
            self.metrics.lag.set(pending)
            self.metrics.ack_pending.set(ack_pending)
            stalled_for = time.monotonic() - (self._empty_since or time.monotonic())
            if (pending and ack_pending < self.opts.max_ack_pending
                    and stalled_for > 2 * self.opts.lag_poll_s + self.opts.fetch_timeout_s):
                log(logging.WARNING, "pull subscription stalled; re-creating it",
                    pending=pending, empty_for_s=round(stalled_for, 1))
                self._resubscribe = True
                self._empty_since = None

    async def _advisor(self) -> None:
        """JetStream stopped redelivering a message (the sink died on its last delivery)."""
        while (msg := await self._advisories.get()) is not None:
            assert self._js is not None
            advisory = orjson.loads(msg.data)
            seq, deliveries = int(advisory["stream_seq"]), int(advisory.get("deliveries", 0))
            stream = self.config.streams.events
            try:
                raw = await self._js.get_msg(stream, seq)
            except nats.js.errors.NotFoundError:
                log(logging.ERROR, "max-deliveries advisory for a message already gone",
                    stream_seq=seq)
                continue
            await dead_letter(
                self._js, self.config.dead_letters, payload=raw.data or b"",
                subject=raw.subject or "", stream=stream, stream_seq=seq, delivered=deliveries,
                consumer=self.opts.durable, code="max_deliver_exceeded",
                error=f"JetStream gave up after {deliveries} deliveries without an ACK",
                msg_id=(raw.headers or {}).get("Nats-Msg-Id"), max_payload=self._max_payload())
            self.metrics.dead_letters.labels("max_deliver_exceeded").inc()
            log(logging.WARNING, "message dead-lettered from advisory", stream_seq=seq,
                delivered=deliveries)

    # -- helpers -----------------------------------------------------------------------------
    async def _wait_done(self, seconds: float) -> bool:
        try:
            async with asyncio.timeout(seconds):
                await self._done.wait()
        except TimeoutError:
            return False
        return True

    async def _pause(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        except TimeoutError:
            pass

    def _max_payload(self) -> int:
        return int(self._nc.max_payload) if self._nc is not None else 1 << 20

    def _gauges(self) -> None:
        self.metrics.buffered_rows.set(self._buffer.rows)
        self.metrics.buffered_bytes.set(self._buffer.nbytes)
        self.metrics.held.set(len(self._held))

    async def _disconnected(self) -> None:
        self.metrics.connected.set(0)
        if not self._done.is_set():
            log(logging.WARNING, "disconnected from NATS", held=len(self._held))

    async def _reconnected(self) -> None:
        self.metrics.connected.set(1)
        self._resubscribe = True  # nats.py #504: a pull subscription may not survive a restart
        log(logging.INFO, "reconnected to NATS; re-creating the pull subscription")

    async def _nats_error(self, err: Exception) -> None:
        """Log client errors, at most one line per ``ERROR_LOG_EVERY_S`` (reconnect attempts
        would otherwise log twice a second)."""
        self._errors_unlogged += 1
        now = time.monotonic()
        if now - self._error_logged_at >= ERROR_LOG_EVERY_S:
            log(logging.WARNING, "nats client error", error=repr(err),
                since_last_line=self._errors_unlogged)
            self._error_logged_at, self._errors_unlogged = now, 0

    async def _closed(self) -> None:
        self.metrics.connected.set(0)
        if not self._stopping.is_set():
            log(logging.ERROR, "NATS connection closed", max_outage_s=self.opts.max_outage_s)
