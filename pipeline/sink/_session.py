"""The sink's NATS session: the connection, the streams, the durable consumer and its pull
subscription; outage tracking; lag polling.

nats.py reconnects by itself, for up to ``max_outage_s``. A pull subscription may not survive a
server restart (nats.py #504), so after a reconnect, a refused pull, or a stall seen in the
consumer info, the fetch loop calls :meth:`Session.subscribe` again, which re-creates the
consumer and the subscription.

The lag poll also measures the backlog (:mod:`pipeline.backlog`): the age of the oldest event
no sink has ACKed, against the stream's max age, logged past ``backlog_warn_fraction``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo

from pipeline.backlog import Backlog, BacklogAlarm, BacklogError, measure
from pipeline.bus import ensure_streams, server_list, stream_configs
from pipeline.sink._config import SinkConfig
from pipeline.sink._consumer import consumer_config, ensure_consumer, max_deliveries_subject
from pipeline.sink._dlq import ensure_dead_letters
from pipeline.sink._errors import SinkError
from pipeline.sink._log import log
from pipeline.sink._metrics import Metrics
from pipeline.sink._wait import set_within

RECONNECT_WAIT_S = 0.5
RELEASE_S = 2.0  # of the shutdown deadline, kept for NAKs and closing the connection
ERROR_LOG_EVERY_S = 10.0
NATS_TRANSIENT = (TimeoutError, nats.errors.NoRespondersError,
                  nats.errors.ConnectionReconnectingError, nats.js.errors.ServiceUnavailableError)


class Session:
    """One sink's connection to NATS. ``held()`` counts the un-ACKed messages (for log lines);
    ``stopping`` and ``done`` are the sink's."""

    def __init__(self, config: SinkConfig, metrics: Metrics, stopping: asyncio.Event,
                 done: asyncio.Event, held: Callable[[], int]):
        self.config = config
        self.opts = config.options
        self.metrics = metrics
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.resubscribe = True
        self.advisories: asyncio.Queue[Msg | None] = asyncio.Queue()  # max-deliveries events
        self._sub: JetStreamContext.PullSubscription | None = None
        self._stopping = stopping
        self._done = done
        self._held = held
        self._empty_since: float | None = None
        self._last_saturation_check = 0.0
        self._error_logged_at = -ERROR_LOG_EVERY_S
        self._errors_unlogged = 0
        self.backlog: Backlog | None = None  # the last measured; None until the first poll
        self._alarm = BacklogAlarm(log, self.opts.backlog_warn_fraction,
                                   self.opts.backlog_error_fraction)

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    @property
    def max_payload(self) -> int:
        return int(self.nc.max_payload) if self.nc is not None else 1 << 20

    async def connect(self) -> None:
        """Connect (waiting up to ``max_outage_s`` for NATS), create the streams, listen for
        max-deliveries advisories."""
        attempts = max(1, math.ceil(self.opts.max_outage_s / RECONNECT_WAIT_S))
        try:
            self.nc = await nats.connect(
                server_list(self.config.nats_url), name=f"causality-sink-{self.config.sink_id}",
                reconnect_time_wait=RECONNECT_WAIT_S, max_reconnect_attempts=attempts,
                connect_timeout=5, allow_reconnect=True,
                disconnected_cb=self._disconnected, reconnected_cb=self._reconnected,
                error_cb=self._nats_error, closed_cb=self._closed)
        except (OSError, nats.errors.Error) as err:
            raise SinkError(f"cannot connect to NATS at {self.config.nats_url}: {err!r}",
                            code="nats_unavailable",
                            hint="start it (`causality nats`) or set CAUSALITY_NATS_URL") from None
        self.metrics.connected.set(1)
        self.js = self.nc.jetstream(timeout=10)
        try:
            await ensure_streams(self.js, stream_configs(
                self.config.streams, self.config.retention_s, self.config.duplicate_window_s))
            await ensure_dead_letters(self.js, self.config.dead_letters,
                                      self.opts.dlq_retention_s)
        except nats.errors.Error as err:
            raise SinkError(f"cannot set up the streams: {err!r}", code="nats_setup_failed",
                            hint="check JetStream is enabled on the server") from None
        await self.nc.subscribe(
            max_deliveries_subject(self.config.streams.events, self.opts.durable),
            cb=self.advisories.put)

    async def subscribe(self) -> bool:
        """(Re)create the consumer and the pull subscription; retried up to ``max_outage_s``.
        False when the sink stopped first."""
        assert self.nc is not None and self.js is not None
        old, self._sub = self._sub, None
        if old is not None:
            self.metrics.resubscribes.inc()
            with contextlib.suppress(nats.errors.Error, ValueError):
                await old.unsubscribe()
        deadline = time.monotonic() + self.opts.max_outage_s
        while not self._stopping.is_set():
            try:
                await ensure_streams(self.js, stream_configs(
                    self.config.streams, self.config.retention_s,
                    self.config.duplicate_window_s))
                await ensure_consumer(self.js, self.config.streams.events,
                                      consumer_config(self.opts, self.config.streams))
                self._sub = await self.js.pull_subscribe_bind(
                    durable=self.opts.durable, stream=self.config.streams.events)
                self.resubscribe = False
                return True
            except NATS_TRANSIENT as err:
                if time.monotonic() > deadline:
                    raise SinkError(f"cannot bind the pull consumer for {self.opts.max_outage_s:g}"
                                    f" s: {err!r}", code="nats_unavailable",
                                    hint="check the NATS server and JetStream") from None
                await set_within(self._stopping, RECONNECT_WAIT_S)
        return False

    async def fetch(self) -> list[Msg]:
        """Up to ``fetch_batch`` messages. Raises TimeoutError when there are none now (nats.py
        raises its own or asyncio's) and APIError when the pull is refused (see
        :meth:`refused`)."""
        assert self._sub is not None
        msgs = await self._sub.fetch(self.opts.fetch_batch, timeout=self.opts.fetch_timeout_s)
        self._empty_since = None
        return msgs

    def not_idle(self) -> None:
        """The sink chose not to pull (its buffer is full, or the storage is down): time spent
        so is no sign of a stalled subscription."""
        self._empty_since = None

    async def refused(self, err: nats.js.errors.APIError) -> None:
        """A pull was refused (e.g. the consumer was deleted): re-subscribe after a pause."""
        log(logging.WARNING, "pull request refused; re-subscribing", error=repr(err))
        self.resubscribe = True
        await set_within(self._stopping, RECONNECT_WAIT_S)

    async def idle(self, holding: bool) -> bool:
        """After an empty pull: note it (stall detection). True when the consumer is saturated
        (JetStream sends nothing more until the sink ACKs); checked while ``holding``, at most
        once per ``fetch_timeout_s``."""
        now = time.monotonic()
        self._empty_since = self._empty_since or now
        if (not holding or now - self._last_saturation_check < self.opts.fetch_timeout_s
                or self.js is None):
            return False
        self._last_saturation_check = now
        try:
            info = await self.js.consumer_info(self.config.streams.events, self.opts.durable)
        except NATS_TRANSIENT:
            return False
        return (info.num_ack_pending or 0) >= self.opts.max_ack_pending

    async def poll_lag(self) -> None:
        """Until the sink is done: the lag and backlog gauges from consumer info, and stall
        detection."""
        while not await set_within(self._done, self.opts.lag_poll_s):
            if self.js is None:
                continue
            try:
                info = await self.js.consumer_info(self.config.streams.events, self.opts.durable)
            except (*NATS_TRANSIENT, nats.js.errors.NotFoundError):
                continue
            pending, ack_pending = info.num_pending or 0, info.num_ack_pending or 0
            self.metrics.lag.set(pending)
            self.metrics.ack_pending.set(ack_pending)
            await self._measure_backlog(info)
            stalled_for = time.monotonic() - (self._empty_since or time.monotonic())
            if (pending and ack_pending < self.opts.max_ack_pending
                    and stalled_for > 2 * self.opts.lag_poll_s + self.opts.fetch_timeout_s):
                log(logging.WARNING, "pull subscription stalled; re-creating it",
                    pending=pending, empty_for_s=round(stalled_for, 1))
                self.resubscribe = True
                self._empty_since = None

    async def _measure_backlog(self, info: ConsumerInfo) -> None:
        assert self.js is not None
        try:
            backlog = await measure(self.js, self.config.streams.events, self.opts.durable,
                                    info=info)
        except BacklogError:
            return  # NATS trouble: the connection's own logs and gauges say so
        self.backlog = backlog
        self.metrics.oldest_age.set(backlog.age_s)
        self.metrics.stream_max_age.set(backlog.max_age_s)
        self._alarm.check(backlog)

    async def release(self, unacked: list[Msg]) -> None:
        """NAK ``unacked`` (so other sinks get them now), send everything, disconnect."""
        nc = self.nc
        try:
            async with asyncio.timeout(RELEASE_S):
                if nc is not None and nc.is_connected:
                    for msg in unacked:
                        with contextlib.suppress(nats.errors.MsgAlreadyAckdError):
                            await msg.nak()  # a message may be both held and in transit
                    await nc.flush(timeout=1)
        except (TimeoutError, nats.errors.Error) as err:
            log(logging.WARNING, "could not NAK held messages; they return after ack_wait",
                error=repr(err), held=self._held())
        try:
            async with asyncio.timeout(RELEASE_S):
                if nc is not None and not nc.is_closed:
                    await nc.close()
        except (TimeoutError, nats.errors.Error):
            pass

    # -- nats.py callbacks -------------------------------------------------------------------
    async def _disconnected(self) -> None:
        self.metrics.connected.set(0)
        if not self._done.is_set():
            log(logging.WARNING, "disconnected from NATS", held=self._held())

    async def _reconnected(self) -> None:
        self.metrics.connected.set(1)
        self.resubscribe = True  # nats.py #504: a pull subscription may not survive a restart
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
