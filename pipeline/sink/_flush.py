"""Flushing: the buffer becomes one Parquet file per partition, then its messages are ACKed.

A flush is asked for by rows, bytes, a saturated consumer, or comes by itself after
``flush_interval_s`` and at shutdown. Files are written in ``write_threads`` threads; a message
is ACKed once every partition it has rows in is written, never before. When a write fails or
the flush times out, the messages whose partitions were all written are still ACKed and the
sink stops; the rest is redelivered.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import nats.errors
import pyarrow as pa

from pipeline.sink._buffer import Batch, Held
from pipeline.sink._config import SinkConfig
from pipeline.sink._errors import SinkError
from pipeline.sink._inflight import InFlight
from pipeline.sink._log import log
from pipeline.sink._metrics import Metrics
from warehouse.layout import Partition
from warehouse.storage import FileInfo


class Flusher:
    def __init__(self, config: SinkConfig, inflight: InFlight, metrics: Metrics):
        self.config = config
        self.opts = config.options
        self.inflight = inflight
        self.metrics = metrics
        self._wake = asyncio.Event()
        self._want: str | None = None
        self._intake_done = asyncio.Event()
        self._file_seq = itertools.count(1)
        self._io = ThreadPoolExecutor(self.opts.write_threads, thread_name_prefix="sink-write")

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

    async def run(self) -> None:
        while (reason := await self._next()) is not None:
            await self._flush(reason)

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
            self.inflight.held.pop(h.seq, None)
        self.metrics.acked.inc(len(held))
        self.inflight.gauges()

    async def _ack_safely(self, held: list[Held]) -> None:
        try:
            await self._ack(held)
        except (nats.errors.Error, OSError) as err:
            log(logging.WARNING, "could not ACK written messages; they will be redelivered",
                error=repr(err), messages=len(held))

    def _log_flush(self, reason: str, batch: Batch, took: float) -> None:
        log(logging.INFO, "flushed", reason=reason, files=len(batch.parts), rows=batch.rows,
            messages=len(batch.held), arrow_bytes=batch.nbytes, seconds=round(took, 3))
