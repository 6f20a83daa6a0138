"""Every message the sink fetched and has not ACKed, and the buffer holding their rows.

A message is *in transit* from its fetch until its rows are in the buffer, then *held* until
the flush that wrote all its partitions ACKs it. Both kinds get in-progress heartbeats, and
both are NAKed when the sink stops.
"""

from __future__ import annotations

import asyncio
import time

from nats.aio.msg import Msg

from pipeline.sink._buffer import Buffer, Held
from pipeline.sink._config import SinkConfig
from pipeline.sink._metrics import Metrics
from pipeline.sink._wait import set_within


class InFlight:
    def __init__(self, config: SinkConfig, metrics: Metrics):
        self.opts = config.options
        self.metrics = metrics
        self.buffer = Buffer()
        self.held: dict[int, Held] = {}  # every un-ACKed message, by stream sequence
        self.transit: list[list[Msg]] = []  # fetched, not yet ingested
        self.room = asyncio.Condition()  # notified when a flush empties the buffer
        self._pauses = 0  # flushes waiting for the storage: fetch nothing more meanwhile

    @property
    def paused(self) -> bool:
        return self._pauses > 0

    async def pause(self, paused: bool) -> None:
        """One more (or one fewer) wait for the storage; fetching resumes when none is left."""
        self._pauses += 1 if paused else -1
        async with self.room:
            self.room.notify_all()

    def has_room(self) -> bool:
        return (not self.paused and self.buffer.rows < self.opts.flush_rows
                and self.buffer.nbytes < self.opts.max_buffer_bytes)

    def unacked(self) -> list[Msg]:
        """Held and in transit; a message may be both (redelivered while buffered)."""
        return [*(h.msg for h in self.held.values()), *(m for msgs in self.transit for m in msgs)]

    def gauges(self) -> None:
        self.metrics.buffered_rows.set(self.buffer.rows)
        self.metrics.buffered_bytes.set(self.buffer.nbytes)
        self.metrics.held.set(len(self.held))

    async def heartbeat(self, done: asyncio.Event) -> None:
        """In-progress for every un-ACKed message each ``ack_wait_s / 4``, until ``done``."""
        period = self.opts.ack_wait_s / 4
        while not await set_within(done, period):
            now = time.monotonic()
            for held in list(self.held.values()):
                if now - held.touched >= period:
                    await held.msg.in_progress()
                    held.touched = now
            for msgs in list(self.transit):
                for msg in msgs:
                    await msg.in_progress()
