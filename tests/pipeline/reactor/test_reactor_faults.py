"""The reactor when things go wrong around it: a part of it dies, two reactors share the work,
the NATS server restarts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import nats
import pytest
from sqlalchemy.engine import Engine as SqlEngine

from metadata import Destinations, Outbox, RuleStore
from pipeline.bus import Streams
from pipeline.natsd import NatsServer
from pipeline.reactor import Reactor, ReactorConfig, RunResult, webhook_id
from tests.fixtures.nats import restart
from tests.fixtures.webhooks import Receiver
from tests.pipeline.reactor._support import KEY, options, reactor_running, row
from tests.pipeline.sink._support import publish, until

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver("whsec_" + "A" * 44) as rec:
        yield rec


def test_a_part_that_dies_stops_the_reactor_with_failed(nats_server: NatsServer,
                                                        db: SqlEngine) -> None:
    async def go() -> RunResult:
        config = ReactorConfig(nats_url=nats_server.url, options=options(durable="dies"),
                               retention_s=3600, duplicate_window_s=60,
                               streams=Streams.prefixed("dies"), reactor_id="dies")
        reactor = Reactor(config, RuleStore(db), Outbox(db), Destinations(db, KEY))

        async def broken() -> None:
            raise RuntimeError("a defect in delivery")

        reactor.deliverer.run = broken  # type: ignore[method-assign]
        return await asyncio.wait_for(reactor.run(), 30)

    assert asyncio.run(go()) is RunResult.FAILED


def test_two_reactors_share_the_consumer_and_the_outbox(
        nats_server: NatsServer, db: SqlEngine, receiver: Receiver) -> None:
    async def go() -> None:
        async with reactor_running(nats_server.url, db) as one:
            made = one.destinations.add("r", receiver.url, "t")
            receiver.secret = made.secret
            one.add_rule("all", made.destination.destination_id)
            await one.wait_rules()
            config = ReactorConfig(nats_url=nats_server.url, options=one.reactor.opts,
                                   retention_s=3600, duplicate_window_s=60,
                                   streams=one.streams, reactor_id="second")
            two = Reactor(config, RuleStore(db), Outbox(db), Destinations(db, KEY))
            task = asyncio.create_task(two.run())
            try:
                await until(lambda: two.rules_version is not None, 20, "the second reactor")
                await publish(one.js, one.streams, [row("shop", i) for i in range(400)], 5)
                await until(lambda: one.outbox.counts().get("delivered") == 400, 60,
                            "every firing delivered")
                processed = [r.metrics.processed._value.get() for r in (one.reactor, two)]
                assert sum(processed) >= 400
                want = {webhook_id("all", "shop", f"e-shop-{i}") for i in range(400)}
                assert {r.webhook_id for r in receiver.verified()} == want
            finally:
                two.stop()
                await asyncio.wait_for(task, 30)

    asyncio.run(go())


def test_a_nats_restart_is_survived(own_nats_server: NatsServer, db: SqlEngine,
                                    receiver: Receiver) -> None:
    server = own_nats_server

    async def go() -> None:
        nonlocal server
        async with reactor_running(server.url, db) as h:
            made = h.destinations.add("r", receiver.url, "t")
            receiver.secret = made.secret
            h.add_rule("all", made.destination.destination_id)
            await h.wait_rules()
            await h.send([row("shop", i) for i in range(5)])
            await until(lambda: h.outbox.counts().get("delivered") == 5, 20, "first five")
            await asyncio.to_thread(server.kill)
            server = await asyncio.to_thread(restart, server)
            await until(lambda: h.reactor.source.connected, 30, "the reactor to reconnect")
            nc = await nats.connect(server.url)
            probe_sent = False

            async def probe() -> bool:
                """Publish one probe event; True once JetStream took it."""
                nonlocal probe_sent
                if not probe_sent:
                    try:
                        await publish(nc.jetstream(), h.streams, [row("shop", 99)])
                    except Exception:
                        return False
                    probe_sent = True
                return True

            try:
                await until(probe, 30, "a publish to succeed")
                await until(lambda: h.outbox.counts().get("delivered") == 6, 30, "the probe")
                await publish(nc.jetstream(), h.streams, [row("shop", 10 + i) for i in range(5)])
                await until(lambda: h.outbox.counts().get("delivered") == 11, 30, "after")
            finally:
                await nc.close()

    try:
        asyncio.run(go())
    finally:
        with contextlib.suppress(Exception):
            server.stop()


def test_delivery_never_waits_for_the_poll_while_work_is_due(
        db: SqlEngine, receiver: Receiver) -> None:
    """With the outbox poll set to a minute, 600 firings to one destination (many rounds of its
    concurrency) are all delivered within the test's deadline: every claim after the first is
    woken by finished attempts, none waits for the poll."""
    from metadata import FiringDraft
    from pipeline.reactor._deliver import Deliverer, TargetCache
    from pipeline.reactor._metrics import Metrics

    made = Destinations(db, KEY).add("r", receiver.url, "t")
    receiver.secret = made.secret
    dest = made.destination.destination_id
    box = Outbox(db)
    box.record([FiringDraft(f"msg_{i}", "rule", "r", "shop", '{"n": 1}', (dest,), f"e{i}")
                for i in range(600)])

    async def go() -> None:
        stopping, wake = asyncio.Event(), asyncio.Event()
        deliverer = Deliverer(box, TargetCache(Destinations(db, KEY)),
                              options(delivery_poll_s=60, destination_concurrency=4),
                              Metrics(), "w", wake, stopping)
        task = asyncio.create_task(deliverer.run())
        try:
            await until(lambda: box.counts().get("delivered") == 600, 30, "every delivery")
        finally:
            stopping.set()
            await asyncio.wait_for(task, 30)

    asyncio.run(go())
    assert len({r.webhook_id for r in receiver.verified()}) == 600
