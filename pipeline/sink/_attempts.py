"""Attempt markers: how the sink still catches a message that kills the process each time.

JetStream's delivery count also counts outages, shutdowns and restarts, so a message delivered
more than ``sink.max_deliver`` times is only a *suspect*. Before touching a suspect the sink
records a marker in a small KV bucket (key ``<durable>.<stream seq>``, value: attempts started)
and removes it once the message is ACKed, dead-lettered or handed back by a process that stops
alive (:meth:`pipeline.sink._flush.Flusher.hand_back`; kept only while a write of it still
hangs). A marker that survives means the process died while the message was being processed: a
suspect already marked is written alone, and one marked ``max_deliver`` times goes to the DLQ as
``crashed_sink``. Only suspects cost KV operations; a KV that does not answer leaves the
message unmarked (processed as usual) rather than stopping the sink. A bucket made with another
retention or replica count is updated to this sink's (or used as it is); one that cannot be
opened is tried again after ``BUCKET_RETRY_S``, not once per suspect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import nats.errors
import nats.js.errors
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from pipeline.bus import Streams
from pipeline.sink._config import SinkConfig
from pipeline.sink._log import log
from pipeline.sink._session import Session

_NATS_ERRORS = (nats.errors.Error, TimeoutError)
BUCKET_RETRY_S = 60.0  # after the bucket could not be opened, suspects go unmarked this long
_STREAM_IN_USE = 10058  # JetStream: stream name already in use with a different configuration


def bucket_name(streams: Streams) -> str:
    return f"{streams.events}_SINK_ATTEMPTS"


class Attempts:
    def __init__(self, config: SinkConfig, session: Session):
        self.config = config
        self.durable = config.options.durable
        self.session = session
        self._kv: KeyValue | None = None
        self._failed_at: float | None = None  # monotonic; the bucket could not be opened

    async def begin(self, seqs: list[int]) -> dict[int, int]:
        """Record one more attempt for each of ``seqs``; the attempts recorded before (0 for
        none), or None for a message whose marker could not be recorded."""
        found = await asyncio.gather(*(self._begin(seq) for seq in seqs))
        return {seq: n for seq, n in zip(seqs, found, strict=True) if n is not None}

    async def end(self, seqs: list[int]) -> None:
        """Remove the markers of ``seqs`` (ACKed, dead-lettered, or handed back at a stop)."""
        if not seqs:
            return
        try:
            kv = await self._bucket()
            await asyncio.gather(*(kv.delete(self._key(seq)) for seq in seqs))
        except _NATS_ERRORS as err:  # the bucket's max age removes them in the end
            log(logging.WARNING, "could not remove attempt markers", error=repr(err),
                messages=len(seqs))

    async def _begin(self, seq: int) -> int | None:
        try:
            kv = await self._bucket()
            with contextlib.suppress(nats.js.errors.KeyNotFoundError):
                entry = await kv.get(self._key(seq))
                before = int(entry.value or b"0")
                await kv.put(self._key(seq), str(before + 1).encode())
                return before
            await kv.put(self._key(seq), b"1")
            return 0
        except (*_NATS_ERRORS, ValueError) as err:
            log(logging.WARNING, "could not record an attempt marker; processing unmarked",
                error=repr(err), stream_seq=seq)
            return None

    def _key(self, seq: int) -> str:
        return f"{self.durable}.{seq}"

    async def _bucket(self) -> KeyValue:
        if self._kv is not None:
            return self._kv
        if self._failed_at is not None and time.monotonic() - self._failed_at < BUCKET_RETRY_S:
            raise nats.errors.Error("the attempts bucket could not be opened lately")
        try:
            self._kv = await self._open()
        except BaseException:
            self._failed_at = time.monotonic()
            raise
        self._failed_at = None
        return self._kv

    async def _open(self) -> KeyValue:
        js = self.session.js
        assert js is not None
        config = KeyValueConfig(
            bucket=bucket_name(self.config.streams), history=1, ttl=self.config.retention_s,
            storage=StorageType.FILE, replicas=self.config.streams.replicas,
            description="causality sink: attempts on suspect messages")
        try:
            return await js.create_key_value(config)
        except nats.js.errors.BadRequestError as err:
            if err.err_code != _STREAM_IN_USE:
                raise
        # Made with another retention or replica count: take this sink's, or use it as it is.
        stream = f"KV_{config.bucket}"
        try:
            info = await js.stream_info(stream)
            info.config.max_age = config.ttl
            info.config.num_replicas = config.replicas
            await js.update_stream(info.config)
        except nats.js.errors.APIError as err:
            log(logging.WARNING, "could not update the attempts bucket; using it as it is",
                bucket=config.bucket, error=repr(err))
        return await js.key_value(config.bucket)
