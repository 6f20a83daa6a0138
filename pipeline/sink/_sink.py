"""The sink process: a durable pull consumer on ``EVENTS`` → atomic Parquet files → ACKs.

:class:`Sink` owns the lifecycle (start, drain on :meth:`Sink.stop`, release) and runs these
tasks in one :class:`asyncio.TaskGroup` (one failing stops them all, loudly):

``fetch``, ``ingest``  :mod:`pipeline.sink._intake`: pull, decode, route, dead-letter poison,
                       buffer (waiting while the buffer is over its caps).
``flush``              :mod:`pipeline.sink._flush`: write one file per partition, then ACK each
                       message whose partitions are all written. Never an ACK before that.
                       Through a storage outage (:mod:`pipeline.sink._health`) it holds the
                       messages and retries; a write failing on reachable storage is retried
                       message by message, and only the failing one is dead-lettered.
``heartbeat``          :mod:`pipeline.sink._inflight`: in-progress for every un-ACKed message.
``lag``                :mod:`pipeline.sink._session`: consumer info (lag and backlog gauges;
                       stalls).
``advisory``           :mod:`pipeline.sink._deadletter`: a backstop; JetStream never gives up on
                       the sink's messages, but if it did, the message is copied to the DLQ.

Redelivery is not failure: a message NAKed at a stop, held through a storage outage or
redelivered after a restart does not count toward dead-lettering (:mod:`pipeline.sink._intake`,
:mod:`pipeline.sink._attempts`).

The NATS connection, consumer and pull subscription (re-created after a reconnect) are the
:class:`~pipeline.sink._session.Session`'s; the probes are :mod:`pipeline.probes`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from pipeline.probes import NotReady, Probes, ProbeServer
from pipeline.sink._attempts import Attempts
from pipeline.sink._config import Outcome, SinkConfig, translate
from pipeline.sink._deadletter import DeadLetterer
from pipeline.sink._errors import SinkError
from pipeline.sink._flush import Flusher
from pipeline.sink._inflight import InFlight
from pipeline.sink._intake import Intake
from pipeline.sink._log import log
from pipeline.sink._metrics import Metrics
from pipeline.sink._session import RELEASE_S, Session


class Sink:
    def __init__(self, config: SinkConfig, metrics: Metrics | None = None):
        self.config = config
        self.opts = config.options
        self.metrics = metrics or Metrics()
        self.port = 0
        self.ready = asyncio.Event()  # set once consuming and serving probes
        self._stopping = asyncio.Event()
        self._done = asyncio.Event()  # the last flush finished
        self._inflight = InFlight(config, self.metrics)
        self._session = Session(config, self.metrics, self._stopping, self._done,
                                held=lambda: len(self._inflight.held))
        self._dead = DeadLetterer(config, self._session, self.metrics)
        attempts = Attempts(config, self._session)
        self._flusher = Flusher(config, self._inflight, self.metrics, self._dead, attempts,
                                self._stopping)
        self._intake = Intake(config, self._session, self._inflight, self._flusher, self._dead,
                              attempts, self.metrics, self._stopping, subscribed=self._subscribed)
        self._probe = ProbeServer(Probes(self.metrics, self._check_ready, self._detail))

    def stop(self) -> None:
        """Stop fetching, flush, ACK, exit (within ``shutdown_timeout_s``). Idempotent."""
        if not self._stopping.is_set():
            log(logging.INFO, "sink stopping", sink_id=self.config.sink_id,
                held=len(self._inflight.held), buffered_rows=self._inflight.buffer.rows)
        self._stopping.set()

    async def run(self) -> Outcome:
        """Consume until :meth:`stop`; raises :class:`SinkError` when anything fails."""
        try:
            if not await self._until_stopped(self._session.connect()):
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
                        held=len(self._inflight.held))
                    main.cancel()
                    await asyncio.wait({main}, timeout=RELEASE_S / 2)
                    return outcome
            main.result()
            if self._inflight.held:  # stopped during a storage outage
                outcome = Outcome.HANDED_BACK
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

    async def _main(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._intake.fetch(), name="fetch")
            tg.create_task(self._intake.ingest(), name="ingest")
            tg.create_task(self._flush(), name="flush")
            tg.create_task(self._inflight.heartbeat(self._done), name="heartbeat")
            tg.create_task(self._session.poll_lag(), name="lag")
            tg.create_task(self._dead.advisories(), name="advisory")

    async def _flush(self) -> None:
        await self._flusher.run()
        self._done.set()
        await self._session.advisories.put(None)

    def _subscribed(self) -> None:
        if not self.ready.is_set():
            self.ready.set()
            log(logging.INFO, "sink ready", sink_id=self.config.sink_id, port=self.port,
                durable=self.opts.durable, stream=self.config.streams.events)

    async def _release(self) -> None:
        """NAK what is still held (so other sinks get it now), send everything, disconnect."""
        self.ready.clear()
        self._intake.close()
        await self._flusher.hand_back()
        self._flusher.close()
        await self._session.release(self._inflight.unacked())
        if self.port:
            await self._probe.stop()
        log(logging.INFO, "sink stopped", sink_id=self.config.sink_id,
            unacked=len(self._inflight.held))

    def _detail(self) -> dict[str, Any]:
        backlog = self._session.backlog
        return {"backlog": backlog.detail()} if backlog is not None else {}

    async def _check_ready(self) -> None:
        """Ready while consuming. A backlog, however old, does not make the sink unready: a
        backed-up sink is the one that must keep working; it shows in ``/readyz``'s
        ``backlog`` and the ``causality_sink_oldest_unconsumed_age_seconds`` gauge."""
        if self._stopping.is_set():
            raise NotReady("the sink is draining", code="draining",
                           hint="another sink of the same consumer takes the messages")
        if not self._session.connected:
            raise NotReady("not connected to NATS", code="nats_unavailable",
                           hint="check that nats-server runs at nats.url")
        if not self.ready.is_set():
            raise NotReady("the pull consumer is not bound yet", code="not_ready",
                           hint="wait")
        if self._flusher.health.down:
            health = self._flusher.health
            raise NotReady(f"the warehouse storage is unreachable: {health.last_error}",
                           code="storage_unavailable",
                           hint="check the warehouse location (disk, S3 endpoint, credentials); "
                                "the sink holds its messages and retries")
