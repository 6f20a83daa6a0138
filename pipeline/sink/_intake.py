"""The sink's intake: pulled batches → decoded, routed rows in the buffer.

``fetch`` pulls up to ``fetch_batch`` messages at a time into a queue of two, and no more while
the buffer is over its caps. ``ingest`` decodes and routes a batch in a worker thread,
dead-letters poison, drops event ids seen recently, and buffers the rows; it asks for a flush
when the buffer reaches its row or byte cap, then waits until there is room again.

A message delivered more than ``max_deliver`` times is only a suspect: JetStream's count also
counts storage outages, shutdowns and restarts. It is marked (:mod:`pipeline.sink._attempts`)
and processed as usual; one whose marker survived an earlier attempt (the process died on it)
is written alone; one that killed ``max_deliver`` attempts is dead-lettered (``crashed_sink``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import nats.js.errors
from nats.aio.msg import Msg

from pipeline.sink._attempts import Attempts
from pipeline.sink._buffer import Held
from pipeline.sink._config import SinkConfig
from pipeline.sink._deadletter import DeadLetterer
from pipeline.sink._decode import Decoded, decode
from pipeline.sink._flush import Flusher
from pipeline.sink._inflight import InFlight
from pipeline.sink._metrics import Metrics
from pipeline.sink._route import RecentIds, Routed, route
from pipeline.sink._session import Session


class Intake:
    """``subscribed()`` is called after each successful (re)subscription."""

    def __init__(self, config: SinkConfig, session: Session, inflight: InFlight,
                 flusher: Flusher, dead: DeadLetterer, attempts: Attempts, metrics: Metrics,
                 stopping: asyncio.Event, subscribed: Callable[[], None]):
        self.opts = config.options
        self.session = session
        self.inflight = inflight
        self.flusher = flusher
        self.dead = dead
        self.attempts = attempts
        self.metrics = metrics
        self._stopping = stopping
        self._subscribed = subscribed
        self._queue: asyncio.Queue[list[Msg] | None] = asyncio.Queue(maxsize=2)
        self._recent = RecentIds(self.opts.dedup_window)
        self._cpu = ThreadPoolExecutor(1, thread_name_prefix="sink-decode")

    def close(self) -> None:
        self._cpu.shutdown(wait=False, cancel_futures=True)

    async def fetch(self) -> None:
        session, inflight = self.session, self.inflight
        while not self._stopping.is_set():
            if session.resubscribe:
                if not await session.subscribe():
                    continue
                self._subscribed()
            if not inflight.has_room():  # waiting for room (or the storage) is not a stall
                session.not_idle()
            async with inflight.room:  # no pulling while the buffer is over its caps
                await inflight.room.wait_for(inflight.has_room)
            if self._stopping.is_set():  # stopped while waiting (for the storage, say)
                break
            try:
                msgs = await session.fetch()
            except TimeoutError:  # nothing now
                if await session.idle(holding=bool(inflight.held)):
                    self.flusher.request("saturated")  # JetStream sends nothing until we ACK
                continue
            except nats.js.errors.APIError as err:
                await session.refused(err)
                continue
            inflight.transit.append(msgs)
            await self._queue.put(msgs)
        await self._queue.put(None)

    async def ingest(self) -> None:
        inflight = self.inflight
        while (msgs := await self._queue.get()) is not None:
            await self._ingest(msgs)
            inflight.transit.pop(0)
            if inflight.buffer.rows >= self.opts.flush_rows:
                self.flusher.request("rows")
            elif inflight.buffer.nbytes >= self.opts.max_buffer_bytes:
                self.flusher.request("bytes")
            async with inflight.room:  # backpressure: never grow past the caps
                await inflight.room.wait_for(inflight.has_room)
        self.flusher.intake_done()

    async def _ingest(self, msgs: list[Msg]) -> None:
        inflight = self.inflight
        now = time.monotonic()
        fresh: list[Msg] = []
        seqs: list[int] = []
        suspects: list[int] = []
        self.metrics.messages.inc(len(msgs))
        for msg in msgs:
            meta = msg.metadata
            if meta.num_delivered > 1:
                self.metrics.redeliveries.inc()
            seq = meta.sequence.stream
            held = inflight.held.get(seq)
            if held is not None:  # redelivered while buffered: ACK the newest delivery later
                msg.data = b""
                held.msg, held.touched = msg, now
                continue
            if seq in seqs:
                continue
            fresh.append(msg)
            seqs.append(seq)
            if meta.num_delivered > self.opts.max_deliver:
                suspects.append(seq)
        marked: set[int] = set()
        if suspects:
            fresh, seqs, marked = await self._suspects(fresh, seqs, suspects, now)
        if not fresh:
            return
        loop = asyncio.get_running_loop()
        decoded, routed = await loop.run_in_executor(
            self._cpu, self._decode_route, [m.data for m in fresh], seqs)
        for i, err in decoded.poison.items():
            await self.dead.message(fresh[i], err.code, err.message)
        await self.attempts.end([seqs[i] for i in decoded.poison if seqs[i] in marked])
        held_now = [Held(m, seqs[i], frozenset(routed.keys.get(i, ())), now, seqs[i] in marked)
                    for i, m in enumerate(fresh) if i not in decoded.poison]
        for h in held_now:
            h.msg.data = b""  # its rows are in the buffer now; keep memory to the byte cap
        inflight.buffer.add(routed.parts, held_now, now)
        inflight.held.update((h.seq, h) for h in held_now)
        for app, n in routed.duplicates.items():
            self.metrics.duplicates.labels(app).inc(n)
        inflight.gauges()
        self.flusher.wake()

    async def _suspects(self, fresh: list[Msg], seqs: list[int], suspects: list[int],
                        now: float) -> tuple[list[Msg], list[int], set[int]]:
        """Mark the suspects; dead-letter those that killed ``max_deliver`` attempts, write
        those that killed one alone. The rest is returned, with the marked ones."""
        tried = await self.attempts.begin(suspects)
        keep: list[tuple[Msg, int]] = []
        for msg, seq in zip(fresh, seqs, strict=True):
            n = tried.get(seq)
            if not n:  # not a suspect, its first attempt, or no marker could be recorded
                keep.append((msg, seq))
            elif n >= self.opts.max_deliver:
                await self.dead.message(msg, "crashed_sink",
                                        f"{n} attempts on it never finished (delivered "
                                        f"{msg.metadata.num_delivered} times): the sink died "
                                        "while processing it each time")
                await self.attempts.end([seq])
            else:
                await self._alone(msg, seq, now)
        marked = {seq for seq, n in tried.items() if n == 0}
        return [m for m, _ in keep], [s for _, s in keep], marked

    async def _alone(self, msg: Msg, seq: int, now: float) -> None:
        """A suspect an earlier attempt died on: written (or dead-lettered) on its own."""
        loop = asyncio.get_running_loop()
        decoded, routed = await loop.run_in_executor(self._cpu, self._decode_route,
                                                     [msg.data], [seq])
        if decoded.poison:
            await self.dead.message(msg, decoded.poison[0].code, decoded.poison[0].message)
            await self.attempts.end([seq])
            return
        payload, msg.data = msg.data, b""
        await self.flusher.alone(Held(msg, seq, frozenset(), now, marked=True), routed.parts,
                                 payload)

    def _decode_route(self, payloads: list[bytes], seqs: list[int]) -> tuple[Decoded, Routed]:
        decoded = decode(payloads)
        return decoded, route(decoded.rows, self._recent, seqs)
