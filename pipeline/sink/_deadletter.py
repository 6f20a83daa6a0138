"""Sending what can never be written to the dead-letter stream (:mod:`pipeline.sink._dlq`).

A message is copied to the DLQ *before* it is terminated, so a crash in between leaves it to be
redelivered (and dead-lettered once: the DLQ de-duplicates by stream sequence).
"""

from __future__ import annotations

import logging

import nats.errors
import nats.js.errors
import orjson
from nats.aio.msg import Msg

from pipeline.sink._config import SinkConfig
from pipeline.sink._dlq import dead_letter
from pipeline.sink._log import log
from pipeline.sink._metrics import Metrics
from pipeline.sink._session import NATS_TRANSIENT, Session


class Unavailable(Exception):
    """NATS did not answer now (a timeout, a leader election): try again later."""


class DeadLetterer:
    def __init__(self, config: SinkConfig, session: Session, metrics: Metrics):
        self.config = config
        self.opts = config.options
        self.session = session
        self.metrics = metrics

    async def message(self, msg: Msg, code: str, error: str) -> None:
        """A delivered message: copied to the DLQ, then terminated."""
        assert self.session.js is not None
        meta = msg.metadata
        await dead_letter(
            self.session.js, self.config.dead_letters, payload=msg.data, subject=msg.subject,
            stream=meta.stream, stream_seq=meta.sequence.stream, delivered=meta.num_delivered,
            consumer=meta.consumer or self.opts.durable, code=code, error=error,
            msg_id=(msg.headers or {}).get("Nats-Msg-Id"), max_payload=self.session.max_payload)
        await msg.term()
        self.metrics.dead_letters.labels(code).inc()
        log(logging.WARNING, "message dead-lettered", code=code, error=error,
            stream_seq=meta.sequence.stream, delivered=meta.num_delivered, subject=msg.subject)

    async def original(self, seq: int) -> bytes | None:
        """The payload of ``EVENTS`` message ``seq`` (the sink drops it once buffered); None
        when the stream no longer has it. Raises :class:`Unavailable` when NATS does not
        answer now."""
        assert self.session.js is not None
        try:
            raw = await self.session.js.get_msg(self.config.streams.events, seq)
        except nats.js.errors.NotFoundError:
            return None
        except (*NATS_TRANSIENT, nats.errors.ConnectionClosedError) as err:
            raise Unavailable(repr(err)) from None
        return raw.data or b""

    async def advisories(self) -> None:
        """A backstop: the sink's consumer never gives up (``max_deliver=-1``), but if something
        else gave it a finite ``max_deliver`` (an older sink during a rolling upgrade) and
        JetStream dropped a message, copy it from the stream. Runs until the session's advisory
        queue yields None."""
        session = self.session
        while (msg := await session.advisories.get()) is not None:
            assert session.js is not None
            advisory = orjson.loads(msg.data)
            seq, deliveries = int(advisory["stream_seq"]), int(advisory.get("deliveries", 0))
            stream = self.config.streams.events
            try:
                raw = await session.js.get_msg(stream, seq)
            except nats.js.errors.NotFoundError:
                log(logging.ERROR, "max-deliveries advisory for a message already gone",
                    stream_seq=seq)
                continue
            await dead_letter(
                session.js, self.config.dead_letters, payload=raw.data or b"",
                subject=raw.subject or "", stream=stream, stream_seq=seq, delivered=deliveries,
                consumer=self.opts.durable, code="max_deliver_exceeded",
                error=f"JetStream gave up after {deliveries} deliveries without an ACK",
                msg_id=(raw.headers or {}).get("Nats-Msg-Id"),
                max_payload=session.max_payload)
            self.metrics.dead_letters.labels("max_deliver_exceeded").inc()
            log(logging.WARNING, "message dead-lettered from advisory", stream_seq=seq,
                delivered=deliveries)
