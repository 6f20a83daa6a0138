"""One reactor process: rules kept current, events evaluated and recorded, deliveries made,
monitors evaluated on a schedule, probes served.

The order that makes "never lose a firing" hold: a fetched batch is evaluated, its firings and
dead letters are committed to the metadata store in one transaction, and only then are its
messages ACKed. When the store cannot be reached the messages are NAKed with
``retry_delay_s`` and come back. No event is evaluated before the rules were read once.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import nats.errors
import sqlalchemy.exc
from nats.aio.msg import Msg

from metadata.outbox import DeadDraft, Outbox, Recorded
from metadata.reactions import Destinations, RuleStore
from pipeline.backlog import Backlog, BacklogAlarm
from pipeline.bus import STREAMS, BusError, Streams, decode_batch
from pipeline.config import ReactorSettings
from pipeline.probes import NotReady, Probes, ProbeServer
from pipeline.reactor._deliver import Deliverer, TargetCache
from pipeline.reactor._events import EventSource
from pipeline.reactor._firing import Evaluator, Outcome, live_rules
from pipeline.reactor._index import IndexHolder, RuleIndex
from pipeline.reactor._metrics import Metrics, log

PRUNE_EVERY_S = 600.0
#: The store refuses the data itself (not its availability): retrying the same batch won't help.
_REFUSED = (sqlalchemy.exc.DataError, sqlalchemy.exc.IntegrityError)

#: Monitors, as the composition root wires them: evaluate what is due at ``now``, record each
#: alert's notification in the outbox before the monitor's state moves on, and return how many
#: were recorded. Runs in a worker thread.
MonitorTick = Callable[[datetime], int]


class RunResult(enum.Enum):
    DRAINED = "drained"  # stopped on request, in-flight work finished
    DEADLINE = "deadline"  # stopped on request, the shutdown deadline passed first
    FAILED = "failed"  # a part of the reactor ended on its own


@dataclass
class ReactorConfig:
    nats_url: str
    options: ReactorSettings
    retention_s: float
    duplicate_window_s: float
    streams: Streams = STREAMS
    reactor_id: str = ""


def new_reactor_id() -> str:
    return f"{socket.gethostname()[:24]}-{os.getpid()}-{secrets.token_hex(3)}"


class Reactor:
    """Run with :meth:`run`; :meth:`stop` (from a signal handler) drains and returns."""

    def __init__(self, config: ReactorConfig, rules: RuleStore, outbox: Outbox,
                 destinations: Destinations, monitors: MonitorTick | None = None):
        self.config = config
        self.opts = config.options
        self.rules = rules
        self.outbox = outbox
        self.monitors = monitors
        self.metrics = Metrics()
        self.reactor_id = config.reactor_id or new_reactor_id()
        self.holder = IndexHolder()
        self.evaluator = Evaluator(self.holder)
        self.rules_version: int | None = None
        self.stopping = asyncio.Event()
        self.wake = asyncio.Event()
        self.source = EventSource(config.nats_url, config.streams, self.opts, self.metrics,
                                  retention_s=config.retention_s,
                                  duplicate_window_s=config.duplicate_window_s,
                                  name=f"causality-reactor-{self.reactor_id}")
        self.deliverer = Deliverer(outbox, TargetCache(destinations), self.opts, self.metrics,
                                   self.reactor_id, self.wake, self.stopping)
        self.store_ok = False
        self.http_port = 0
        self.backlog: Backlog | None = None  # the last measured; None until the first poll
        self._alarm = BacklogAlarm(log, self.opts.backlog_warn_fraction,
                                   self.opts.backlog_error_fraction)

    def stop(self) -> None:
        self.stopping.set()

    async def ready(self) -> None:
        """Ready to evaluate events. A backlog, however old, does not make the reactor unready
        (a backed-up reactor must keep working): it shows in :meth:`detail` and the
        ``causality_reactor_oldest_unconsumed_age_seconds`` gauge."""
        if self.rules_version is None:
            raise NotReady("the rules have not been read yet", code="rules_not_loaded",
                           hint="check the metadata store")
        if not self.source.connected:
            raise NotReady("not connected to NATS", code="nats_unavailable",
                           hint="check the NATS server", retry_after=2)
        if not self.source.bound:  # until then, events published are not evaluated
            raise NotReady("the durable consumer is not bound yet", code="not_ready",
                           hint="wait; it binds within seconds of connecting", retry_after=1)
        if not (self.store_ok and self.deliverer.healthy):
            raise NotReady("the metadata store does not answer", code="store_unavailable",
                           hint="check metadata_url", retry_after=2)

    def detail(self) -> dict[str, Any]:
        """The extra fields of a 200 ``/readyz``: the last measured ``backlog``."""
        return {"backlog": self.backlog.detail()} if self.backlog is not None else {}

    async def run(self) -> RunResult:
        probes = ProbeServer(Probes(self.metrics, self.ready, self.detail))
        self.http_port = await probes.start(self.opts.http_host, self.opts.http_port)
        log(logging.INFO, "reactor starting", reactor_id=self.reactor_id,
            http_port=self.http_port, durable=self.opts.durable)
        tasks: list[asyncio.Task[None]] = []
        try:
            await self.source.connect()
            while self.rules_version is None and not self.stopping.is_set():
                if not await self.refresh_rules():
                    await self._wait(self.opts.rules_poll_s)
            tasks = [asyncio.create_task(self._consume(), name="consume"),
                     asyncio.create_task(self.deliverer.run(), name="deliver"),
                     asyncio.create_task(self._poll_rules(), name="rules"),
                     asyncio.create_task(self._poll_state(), name="state")]
            if self.monitors is not None and self.opts.monitors:
                tasks.append(asyncio.create_task(self._run_monitors(), name="monitors"))
            stop = asyncio.create_task(self.stopping.wait())
            done, _ = await asyncio.wait([stop, *tasks], return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            # a part that ended before it was asked to (a crash, or a return) fails the run
            broken = [t for t in done if t is not stop and (
                not self.stopping.is_set() or (not t.cancelled() and t.exception()))]
            for task in broken:
                log(logging.ERROR, "reactor part stopped unexpectedly; stopping",
                    part=task.get_name(), exc=None if task.cancelled() else task.exception())
            self.stopping.set()
            async with asyncio.timeout(self.opts.shutdown_timeout_s):
                await asyncio.gather(*tasks, return_exceptions=True)
            return RunResult.FAILED if broken else RunResult.DRAINED
        except TimeoutError:
            log(logging.WARNING, "shutdown deadline passed; held messages return after ack_wait")
            return RunResult.DEADLINE
        finally:
            for task in tasks:
                task.cancel()
            await self.source.close()
            await probes.stop()
            log(logging.INFO, "reactor stopped", reactor_id=self.reactor_id)

    async def _wait(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self.stopping.wait()
        except TimeoutError:
            pass

    # -- rules ---------------------------------------------------------------------------
    async def refresh_rules(self) -> bool:
        """Rebuild the index when the stored rules changed; False when the store failed."""
        try:
            version = await asyncio.to_thread(self.rules.version)
            if version == self.rules_version:
                self.store_ok = True
                return True
            version, stored = await asyncio.to_thread(self.rules.snapshot)
        except sqlalchemy.exc.SQLAlchemyError as exc:
            self.store_ok = False
            self.metrics.failed.labels("store_unavailable").inc()
            log(logging.WARNING, "cannot read the rules; keeping the current ones",
                error=repr(exc))
            return False
        live, problems = live_rules((r.rule_id, r.rule_json, r.enabled) for r in stored)
        for problem in problems:
            log(logging.ERROR, "stored rule cannot be evaluated; skipped",
                rule_id=problem.rule_id, code=problem.code, error=problem.message)
        self.holder.swap(RuleIndex.build(live))
        self.rules_version = version
        self.store_ok = True
        self.metrics.rules.set(len(live))
        self.metrics.rules_invalid.set(len(problems))
        log(logging.INFO, "rules loaded", version=version, live=len(live),
            invalid=len(problems))
        return True

    async def _poll_rules(self) -> None:
        while not self.stopping.is_set():
            await self._wait(self.opts.rules_poll_s)
            if not self.stopping.is_set():
                await self.refresh_rules()

    # -- events --------------------------------------------------------------------------
    async def _consume(self) -> None:
        while not self.stopping.is_set():
            msgs = await self.source.fetch()
            if msgs:
                await self.handle(msgs)

    def _evaluate(self, msgs: Sequence[Msg]) -> Outcome:
        out = Outcome()
        for msg in msgs:
            try:
                batch = decode_batch(msg.data)
            except BusError as exc:
                out.dead.append(DeadDraft(exc.code, exc.message, msg.data,
                                          app_id=msg.subject.rsplit(".", 1)[-1][:63]))
                continue
            self.evaluator.evaluate(batch.rows, out)  # type: ignore[arg-type]
        return out

    async def handle(self, msgs: Sequence[Msg]) -> None:
        """Evaluate, record, then ACK; NAK with a delay when the store fails.

        A batch the store refuses for its data (a value too long for a column, say) is retried
        message by message, and a message still refused is kept as a dead letter with its
        bytes: one bad message must not hold the stream back for ever."""
        self.metrics.messages.inc(len(msgs))
        await self._handle(msgs)

    async def _handle(self, msgs: Sequence[Msg]) -> None:
        def work() -> tuple[Outcome, Recorded]:
            out = self._evaluate(msgs)
            return out, self.outbox.record(out.drafts, out.dead)

        try:
            out, recorded = await asyncio.to_thread(work)
        except _REFUSED as exc:
            if len(msgs) > 1:
                for msg in msgs:
                    await self._handle([msg])
                return
            await self._bury(msgs[0], exc)
            return
        except sqlalchemy.exc.SQLAlchemyError as exc:
            await self._retry_later(msgs, "store_unavailable", exc)
            return
        except Exception as exc:  # a defect: keep the events, say so loudly
            log(logging.ERROR, "evaluating a batch failed", exc=exc)
            await self._retry_later(msgs, "internal_error", exc)
            return
        self.store_ok = True
        for msg in msgs:
            await _settle(msg.ack())
        m = self.metrics
        m.processed.inc(out.events)
        m.matched.inc(out.matched)
        m.fired.labels("rule").inc(recorded.fired)
        m.throttled.inc(recorded.throttled)
        for dead in out.dead:
            m.dead_letters.labels("event", dead.code).inc()
            log(logging.WARNING, "event dead-lettered", code=dead.code, error=dead.reason,
                rule_id=dead.rule_id, app_id=dead.app_id)
        if recorded.deliveries:
            self.wake.set()

    async def _retry_later(self, msgs: Sequence[Msg], reason: str, exc: Exception) -> None:
        if reason == "store_unavailable":
            self.store_ok = False
        self.metrics.failed.labels(reason).inc(len(msgs))
        log(logging.WARNING, "cannot record firings; events NAKed for a retry", reason=reason,
            error=repr(exc), messages=len(msgs))
        for msg in msgs:
            await _settle(msg.nak(delay=self.opts.retry_delay_s))

    async def _bury(self, msg: Msg, exc: Exception) -> None:
        """One message whose firings the store refuses: kept as a dead letter, then ACKed."""
        letter = DeadDraft("unrecordable", f"the metadata store refused its firings: {exc}",
                           msg.data, app_id=msg.subject.rsplit(".", 1)[-1][:63])
        try:
            await asyncio.to_thread(self.outbox.record, [], [letter])
        except sqlalchemy.exc.SQLAlchemyError as again:
            await self._retry_later([msg], "store_unavailable", again)
            return
        self.metrics.dead_letters.labels("event", "unrecordable").inc()
        log(logging.ERROR, "message dead-lettered: the store refuses its firings",
            error=repr(exc), subject=msg.subject)
        await _settle(msg.ack())

    # -- monitors, gauges, housekeeping ---------------------------------------------------
    async def _run_monitors(self) -> None:
        assert self.monitors is not None
        tick = self.monitors
        while not self.stopping.is_set():
            try:
                fired = await asyncio.to_thread(tick, datetime.now(UTC))
                if fired:
                    self.metrics.fired.labels("monitor").inc(fired)
                    self.wake.set()
                self.metrics.monitor_runs.labels("ok").inc()
            except Exception as exc:
                self.metrics.monitor_runs.labels("failed").inc()
                log(logging.ERROR, "monitor evaluation failed", exc=exc)
            await self._wait(self.opts.monitor_interval_s)

    async def _poll_state(self) -> None:
        last_prune = 0.0
        while not self.stopping.is_set():
            backlog = await self.source.backlog()
            if backlog is not None:
                self.backlog = backlog
                self.metrics.lag.set(backlog.pending)
                self.metrics.ack_pending.set(backlog.ack_pending)
                self.metrics.oldest_age.set(backlog.age_s)
                self.metrics.stream_max_age.set(backlog.max_age_s)
                self._alarm.check(backlog)
            try:
                self.metrics.outbox_pending.set(await asyncio.to_thread(self.outbox.pending))
                if time.monotonic() - last_prune > PRUNE_EVERY_S:
                    last_prune = time.monotonic()
                    await asyncio.to_thread(self.outbox.prune, self.opts.keep_log_s)
            except sqlalchemy.exc.SQLAlchemyError:
                pass  # the consumer and the deliverer report the store's state
            await self._wait(self.opts.lag_poll_s)


async def _settle(ack: Awaitable[None]) -> None:
    """Send an ACK or NAK; one lost on a broken connection is redelivered, which is safe."""
    with contextlib.suppress(nats.errors.Error):
        await ack
