"""JetStream publishing with a deadline: the only place the edge talks to NATS.

The connection is made in the background and kept (nats-py reconnects by itself); while it is
down, or the streams are not confirmed, :attr:`Publisher.ready` is false. A publish must get
its PubAck within ``publish_timeout_s`` (waits included: for a stream's leader, for one of
``max_in_flight`` slots) or it fails with 503: a request never hangs. Every nats error is
translated into :class:`Unavailable` here.

A stream without a leader (being re-created; in a cluster an election after its leader died,
or no quorum: fewer than a majority of its replicas up) answers no responders or nothing, and
the edge stops trusting it until the connection task confirms it again: a publish waits for
that within its deadline, so a short election costs latency, not a 503. In a cluster ``url``
lists the nodes and nats-py moves to another one when its node goes away; the publish waits for
that too. A single node that is down fails a publish at once (503), as does a full stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import nats
import nats.errors
import orjson
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StreamConfig

from pipeline.bus import (
    QuarantineBatch,
    QuarantinedEvent,
    Row,
    Streams,
    encode_batch,
    encode_quarantine,
    ensure_streams,
    server_list,
    split_rows,
)
from pipeline.errors import PipelineError
from pipeline.ingest._errors import Unavailable
from pipeline.ingest._metrics import Metrics

log = logging.getLogger("causality.ingest.nats")

RECONNECT_WAIT_S = 0.5
CHECK_STREAMS_EVERY_S = 1.0
# Unconfirmed streams are checked again this soon: in a cluster a stream leader is elected in
# a few seconds and every 503 until the edge notices is a batch the SDKs must re-send.
RECHECK_STREAMS_S = 0.2
HEADER_ROOM = 1024  # bytes left under max_payload for headers and protocol
EXPECTED_STREAM = "Nats-Expected-Stream"  # JetStream refuses a message its stream would not get
STATUS, NO_RESPONDERS = "Status", "503"  # the server's answer when no stream has the subject


class _Leaderless(Exception):
    """The stream cannot take a message now but may within the publish's deadline."""

    def __init__(self, unavailable: Unavailable):
        super().__init__(unavailable.message)
        self.unavailable = unavailable


class _ConnectionLost(Exception):
    """Set on a publish waiting for its PubAck when the connection drops."""


class Publisher:
    def __init__(self, url: str, streams: Streams, configs: Sequence[StreamConfig], *,
                 timeout_s: float, max_in_flight: int, retry_after_s: int, metrics: Metrics):
        self.url = url
        self.streams = streams
        self.configs = list(configs)
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self.metrics = metrics
        self.nc: NATS | None = None
        self.js: JetStreamContext | None = None
        self._nodes = len(server_list(url))
        self._confirmed = asyncio.Event()  # the streams are confirmed: see streams_ok
        self._slots = asyncio.Semaphore(max_in_flight)
        self._task: asyncio.Task[None] | None = None
        self._last_error_log = 0.0
        self._wake = asyncio.Event()
        self._closing = False
        # PubAcks come back to one inbox subscription of our own: a publish is a future in
        # _acks under a sequence number (no per-publish timer or random token, as
        # nc.request has; the publish's own deadline bounds the wait).
        self._inbox = ""
        self._acks: dict[str, asyncio.Future[Msg]] = {}
        self._seq = 0

    @property
    def streams_ok(self) -> bool:
        return self._confirmed.is_set()

    @streams_ok.setter
    def streams_ok(self, ok: bool) -> None:
        if ok:
            self._confirmed.set()
        else:
            self._confirmed.clear()

    @property
    def ready(self) -> bool:
        return self.nc is not None and self.nc.is_connected and self.streams_ok

    async def start(self) -> None:
        self._task = asyncio.create_task(self._keep_connected(), name="nats-connect")

    async def close(self, timeout_s: float = 2.0) -> None:
        """Stop, flushing what was published (the PubAcks were awaited by the requests)."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        nc, self.nc = self.nc, None
        self.metrics.nats_connected.set(0)
        if nc is None or nc.is_closed:
            return
        try:
            async with asyncio.timeout(timeout_s):
                await nc.drain()
        except (TimeoutError, nats.errors.Error, OSError):
            await nc.close()

    async def _keep_connected(self) -> None:
        # max_reconnect_attempts=-1: connect() itself retries until a server answers.
        self.nc = await nats.connect(
            server_list(self.url), name="causality-ingest", allow_reconnect=True,
            max_reconnect_attempts=-1, reconnect_time_wait=RECONNECT_WAIT_S, connect_timeout=2,
            error_cb=self._on_error, disconnected_cb=self._on_disconnect,
            reconnected_cb=self._on_reconnect)
        self.js = self.nc.jetstream(timeout=self.timeout_s)
        self._inbox = self.nc.new_inbox()
        await self.nc.subscribe(self._inbox + ".*", cb=self._on_ack)  # kept over reconnects
        log.info("connected to NATS", extra={"fields": {"url": self.url}})
        while True:  # confirm the streams now and after every reconnect
            if self.nc.is_connected and not self.streams_ok:
                try:
                    await ensure_streams(self.js, self.configs)
                    self.streams_ok = True
                    self.metrics.nats_connected.set(1)
                    log.info("streams ready", extra={"fields": {
                        "streams": [c.name for c in self.configs]}})
                except PipelineError as err:
                    log.error("streams rejected", extra={"fields": err.to_dict()})
                except (nats.errors.Error, OSError, TimeoutError) as err:
                    self._log_error("cannot check the streams", err)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), CHECK_STREAMS_EVERY_S
                                       if self.streams_ok else RECHECK_STREAMS_S)

    async def _on_ack(self, msg: Msg) -> None:
        future = self._acks.pop(msg.subject[len(self._inbox) + 1:], None)
        if future is not None and not future.done():
            future.set_result(msg)

    async def _on_error(self, err: Exception) -> None:
        self._log_error("NATS error", err)

    async def _on_disconnect(self) -> None:
        self.streams_ok = False
        for future in self._acks.values():  # their PubAcks went with the connection
            if not future.done():
                future.set_exception(_ConnectionLost())
        self.metrics.nats_connected.set(0)
        if not self._closing:
            log.warning("disconnected from NATS; reconnecting")

    async def _on_reconnect(self) -> None:
        log.info("reconnected to NATS")
        self._wake.set()

    def _log_error(self, what: str, err: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_error_log > 10:  # a down server repeats itself every 0.5 s
            self._last_error_log = now
            log.warning(what, extra={"fields": {"error": f"{type(err).__name__}: {err}"}})

    # -- publishing ---------------------------------------------------------------------

    async def publish_rows(self, app_id: str, batch_id: str, rows: Sequence[Row]) -> bool:
        """Publish a batch of rows; ``True`` when JetStream already had it (a duplicate)."""
        subject = self.streams.events_for(app_id)
        payload = encode_batch(app_id, batch_id, rows)
        limit = self._payload_limit()
        if len(payload) <= limit:
            return await self._publish(subject, payload, batch_id, self.streams.events)
        parts = math.ceil(len(payload) / limit)
        while True:
            encoded = [(part, encode_batch(app_id, part, chunk))
                       for part, chunk in split_rows(batch_id, rows, parts)]
            if all(len(data) <= limit for _, data in encoded) or parts >= len(rows):
                break
            parts *= 2
        acks = await asyncio.gather(*(self._publish(subject, data, part, self.streams.events)
                                      for part, data in encoded))
        return all(acks)

    async def publish_quarantine(self, app_id: str, received_at_us: int,
                                 events: Sequence[QuarantinedEvent]) -> None:
        digest = hashlib.sha256(app_id.encode())
        for q in events:
            raw = bytes(q.event)
            digest.update(b"\0%d:%d:" % (q.index, len(raw)) + raw)
        qid = "q" + digest.hexdigest()[:31]
        subject = self.streams.quarantine_for(app_id)
        limit = self._payload_limit()
        parts = 1
        while True:
            encoded = [(part, encode_quarantine(QuarantineBatch(
                v=1, app_id=app_id, batch_id=part, received_at=received_at_us,
                events=list(chunk)))) for part, chunk in split_rows(qid, events, parts)]
            if all(len(data) <= limit for _, data in encoded) or parts >= len(events):
                break
            parts *= 2
        await asyncio.gather(*(self._publish(subject, data, part, self.streams.quarantine)
                               for part, data in encoded))

    def _payload_limit(self) -> int:
        max_payload = self.nc.max_payload if self.nc is not None else 1024 * 1024
        return max(max_payload - HEADER_ROOM, 1024)

    async def _publish(self, subject: str, payload: bytes, msg_id: str, stream: str) -> bool:
        """Publish once JetStream can store it, within ``timeout_s``: a stream without a leader
        (an election after a node died, a stream being re-created), or in a cluster the move to
        another node, is waited for until the deadline rather than answered 503 at once; the
        same ``Nats-Msg-Id`` makes a publish retried after a lost PubAck one message. A single
        node that is down → 503 at once."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                return await self._publish_once(subject, payload, msg_id, stream, deadline)
            except _Leaderless as leaderless:
                if not await self._await_confirmed(deadline):
                    raise leaderless.unavailable from None

    async def _await_confirmed(self, deadline: float) -> bool:
        """Wait for the connection task to confirm the streams again (it re-checks every
        ``RECHECK_STREAMS_S`` while they are not); False at the deadline."""
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await self._confirmed.wait()
        except TimeoutError:
            return False
        return self.nc is not None and self.nc.is_connected

    async def _publish_once(self, subject: str, payload: bytes, msg_id: str, stream: str,
                            deadline: float) -> bool:
        nc = self.nc
        if nc is None or not nc.is_connected:
            down = self._unavailable("nats_unavailable", "NATS is not connected")
            if self._nodes == 1:
                raise down
            self.streams_ok = False  # confirmed again once connected to another node
            raise _Leaderless(down)
        if not self.streams_ok:
            raise _Leaderless(self._unavailable(
                "nats_unavailable", f"stream {stream} is not confirmed yet "
                "(being created, electing a leader, or without a quorum of its replicas)"))
        started = time.perf_counter()
        self.metrics.publishing += 1
        self._seq += 1
        token = str(self._seq)
        future: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())), self._slots:
                self._acks[token] = future  # from here on a dropped connection fails it
                await nc.publish(subject, payload, reply=f"{self._inbox}.{token}",
                                 headers={"Nats-Msg-Id": msg_id, EXPECTED_STREAM: stream})
                reply = await future
        except TimeoutError:
            raise self._unavailable(
                "publish_timeout", f"no PubAck from {stream} within {self.timeout_s:g} s") from None
        except _ConnectionLost:  # stored or not: sent again under the same Nats-Msg-Id
            raise _Leaderless(self._unavailable(
                "nats_unavailable", "the connection to NATS was lost before the PubAck")) from None
        except (nats.errors.Error, OSError) as err:
            raise self._unavailable("nats_unavailable",
                                    f"publish failed: {type(err).__name__}") from None
        finally:
            self._acks.pop(token, None)
            self.metrics.publishing -= 1
            self.metrics.observe(self.metrics.publish_seconds, (stream,),
                                 time.perf_counter() - started)
        return self._duplicate(reply, stream)

    def _duplicate(self, reply: Msg, stream: str) -> bool:
        """A PubAck → whether JetStream had the message already; its errors → 503."""
        if reply.headers and reply.headers.get(STATUS) == NO_RESPONDERS:
            self.streams_ok = False  # recreated by the connection task
            self._wake.set()
            raise _Leaderless(self._unavailable("nats_unavailable",
                                                f"stream {stream} is missing or has no leader"))
        try:
            ack = orjson.loads(reply.data)
        except orjson.JSONDecodeError:
            raise self._unavailable("nats_unavailable",
                                    f"{stream} answered something else than a PubAck") from None
        error = ack.get("error") if isinstance(ack, dict) else "not a JSON object"
        if error is not None:
            description = str(error.get("description", error) if isinstance(error, dict)
                              else error)
            code = "stream_full" if "maximum" in description else "nats_unavailable"
            raise self._unavailable(code, f"{stream} refused the batch: {description}")
        return ack.get("duplicate") is True

    def _unavailable(self, code: str, message: str, **facts: Any) -> Unavailable:
        return Unavailable(message, code=code, retry_after=self.retry_after_s,
                           hint="retry later; the batch was not acknowledged", **facts)
