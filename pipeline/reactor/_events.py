"""The reactor's side of ``EVENTS``: its own durable pull consumer, shared by every reactor.

The durable (``reactor.durable``) is apart from the sink's, so either may lag or restart alone.
A new durable starts at the stream's next message: rules act on events that arrive after they
exist, not on the stream's backlog. ``max_deliver`` is unlimited: a message comes back only when
the reactor NAKed it (the metadata store was unreachable) or died holding it, and neither is the
message's fault; messages that are at fault are dead-lettered by the reactor itself.

nats.py reconnects by itself; a pull subscription may not survive a server restart (nats.py
#504), so after a reconnect or a refused pull :meth:`EventSource.fetch` binds again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from pipeline.backlog import Backlog, BacklogError, measure
from pipeline.bus import Streams, ensure_streams, server_list, stream_configs
from pipeline.config import ReactorSettings
from pipeline.reactor._errors import ReactorError
from pipeline.reactor._metrics import Metrics, log

RECONNECT_WAIT_S = 0.5
MAX_OUTAGE_S = 120.0
TRANSIENT = (TimeoutError, nats.errors.NoRespondersError,
             nats.errors.ConnectionReconnectingError, nats.js.errors.ServiceUnavailableError,
             nats.errors.ConnectionClosedError)


def consumer_config(options: ReactorSettings, streams: Streams) -> ConsumerConfig:
    return ConsumerConfig(
        name=options.durable, durable_name=options.durable,
        description="causality reactor: EVENTS -> rules -> webhook outbox",
        deliver_policy=DeliverPolicy.NEW, ack_policy=AckPolicy.EXPLICIT,
        ack_wait=options.ack_wait_s, max_deliver=-1, max_ack_pending=options.max_ack_pending,
        filter_subject=f"{streams.events_subject}.*")


class EventSource:
    """The NATS connection and the pull subscription of one reactor process."""

    def __init__(self, nats_url: str, streams: Streams, options: ReactorSettings,
                 metrics: Metrics, *, retention_s: float, duplicate_window_s: float,
                 name: str):
        self.nats_url = nats_url
        self.streams = streams
        self.opts = options
        self.metrics = metrics
        self.retention_s = retention_s
        self.duplicate_window_s = duplicate_window_s
        self.name = name
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self._sub: JetStreamContext.PullSubscription | None = None
        self._rebind = True
        self._bound_once = False

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    @property
    def bound(self) -> bool:
        """The durable consumer exists and this process pulls from it."""
        return self.connected and self._sub is not None and not self._rebind

    async def connect(self) -> None:
        attempts = max(1, math.ceil(MAX_OUTAGE_S / RECONNECT_WAIT_S))
        try:
            self.nc = await nats.connect(
                server_list(self.nats_url), name=self.name, reconnect_time_wait=RECONNECT_WAIT_S,
                max_reconnect_attempts=attempts, connect_timeout=5, allow_reconnect=True,
                disconnected_cb=self._disconnected, reconnected_cb=self._reconnected,
                error_cb=self._error)
        except (OSError, nats.errors.Error) as err:
            raise ReactorError(f"cannot connect to NATS at {self.nats_url}: {err!r}",
                               code="nats_unavailable",
                               hint="start it (`causality nats`) or set CAUSALITY_NATS_URL"
                               ) from None
        self.metrics.connected.set(1)
        self.js = self.nc.jetstream(timeout=10)

    async def _bind(self) -> None:
        assert self.js is not None
        old, self._sub = self._sub, None
        if old is not None:
            with contextlib.suppress(nats.errors.Error, ValueError):
                await old.unsubscribe()
        await ensure_streams(self.js, stream_configs(self.streams, self.retention_s,
                                                     self.duplicate_window_s))
        try:
            await self.js.consumer_info(self.streams.events, self.opts.durable)
        except nats.js.errors.NotFoundError:
            if self._bound_once:  # it existed: events since it was lost are not evaluated
                log(logging.ERROR, "the reactor's durable consumer was gone and is made anew; "
                    "events published while it was missing are not evaluated",
                    durable=self.opts.durable, stream=self.streams.events)
            else:
                log(logging.INFO, "durable consumer made; rules act on events from now on",
                    durable=self.opts.durable, stream=self.streams.events)
        await self.js.add_consumer(self.streams.events,
                                   consumer_config(self.opts, self.streams))
        self._bound_once = True
        self._sub = await self.js.pull_subscribe_bind(durable=self.opts.durable,
                                                      stream=self.streams.events)
        self._rebind = False

    async def fetch(self) -> list[Msg]:
        """The next messages (maybe none, after ``fetch_timeout_s``); a NATS problem is logged
        and answered with no messages after a short wait, so the caller just loops."""
        try:
            if self._rebind or self._sub is None:
                await self._bind()
            assert self._sub is not None
            return await self._sub.fetch(self.opts.fetch_batch, timeout=self.opts.fetch_timeout_s)
        except TimeoutError:
            return []
        except (*TRANSIENT, nats.errors.Error, nats.js.errors.Error) as err:
            log(logging.WARNING, "pull failed; binding the consumer again", error=repr(err))
            self._rebind = True
            await asyncio.sleep(RECONNECT_WAIT_S)  # pace a reconnecting client, not a sync
            return []

    async def backlog(self) -> Backlog | None:
        """The consumer's pending counts and backlog (:mod:`pipeline.backlog`); None when NATS
        does not answer."""
        if self.js is None:
            return None
        try:
            return await measure(self.js, self.streams.events, self.opts.durable)
        except BacklogError:
            return None

    async def close(self) -> None:
        nc = self.nc
        if nc is None or nc.is_closed:
            return
        with contextlib.suppress(TimeoutError, nats.errors.Error):
            async with asyncio.timeout(2.0):
                await nc.flush(timeout=1)
        with contextlib.suppress(TimeoutError, nats.errors.Error):
            async with asyncio.timeout(2.0):
                await nc.close()

    async def _disconnected(self) -> None:
        self.metrics.connected.set(0)

    async def _reconnected(self) -> None:
        self.metrics.connected.set(1)
        self._rebind = True

    async def _error(self, err: Exception) -> None:
        log(logging.DEBUG, "nats client error", error=repr(err))
