"""The reactor end to end: real NATS, a real receiver verifying Standard Webhooks signatures,
the metadata store on SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy.engine import Engine as SqlEngine

from pipeline.natsd import NatsServer
from pipeline.reactor import webhook_id
from tests.fixtures.webhooks import Receiver
from tests.pipeline.reactor._support import Harness, reactor_running, row, rule_json
from tests.pipeline.sink._support import until

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver("whsec_" + "A" * 44) as rec:
        yield rec


def destination(h: Harness, receiver: Receiver) -> str:
    made = h.destinations.add("test receiver", receiver.url, "test")
    receiver.secret = made.secret
    return made.destination.destination_id


def test_matching_events_are_delivered_signed_and_only_those(
        nats_server: NatsServer, db: SqlEngine, receiver: Receiver) -> None:
    async def go() -> None:
        async with reactor_running(nats_server.url, db) as h:
            dest = destination(h, receiver)
            h.add_rule("big-fail", dest, event_type="purchase_*",
                       conditions={"gt": {"field": "properties.amount", "value": 100}})
            await h.wait_rules()
            rows = [row("shop", i, amount=50 + 10 * i) for i in range(10)]  # 110.. match: i>5
            rows += [row("shop", 20 + i, event_type="page", amount=500) for i in range(5)]
            rows += [row("news", 40 + i, amount=500) for i in range(5)]
            await h.send(rows, size=7)
            got = await asyncio.to_thread(receiver.wait_for, 4, 20)
            await until(lambda: h.outbox.counts().get("delivered") == 4, 10, "delivered rows")
            assert len(receiver.received) == 4
            assert all(r.verified for r in got)
            ids = {r.webhook_id for r in got}
            assert ids == {webhook_id("big-fail", "shop", f"e-shop-{i}") for i in range(6, 10)}
            body = got[0].json
            assert body["type"] == "rule.fired" and body["data"]["rule_id"] == "big-fail"
            assert body["data"]["event"]["properties"]["amount"] > 100
            metrics = h.reactor.metrics.render().decode()
            assert "causality_reactor_events_processed_total 20.0" in metrics

    asyncio.run(go())


def test_a_receiver_down_then_up_gets_every_firing(
        nats_server: NatsServer, db: SqlEngine, receiver: Receiver) -> None:
    async def go() -> None:
        async with reactor_running(nats_server.url, db, max_attempts=50) as h:
            dest = destination(h, receiver)
            h.add_rule("all", dest)
            await h.wait_rules()
            receiver.stop()
            await h.send([row("shop", i) for i in range(12)])
            await until(lambda: any(d.attempts >= 2 for d in h.outbox.deliveries()), 20,
                        "failed attempts while the receiver is down")
            assert h.outbox.counts().get("delivered", 0) == 0
            receiver.start()
            await until(lambda: h.outbox.counts().get("delivered") == 12, 30, "all delivered")
            ids = {r.webhook_id for r in receiver.verified()}
            assert ids == {webhook_id("all", "shop", f"e-shop-{i}") for i in range(12)}
            attempts = h.outbox.attempts(h.outbox.deliveries()[0].delivery_id)
            assert attempts[-1].outcome == "delivered"
            assert any(a.outcome == "connect_failed" for a in attempts)

    asyncio.run(go())


def test_a_receiver_failing_forever_sends_firings_to_the_dlq_and_replay_delivers(
        nats_server: NatsServer, db: SqlEngine, receiver: Receiver) -> None:
    async def go() -> None:
        async with reactor_running(nats_server.url, db, max_attempts=3) as h:
            dest = destination(h, receiver)
            h.add_rule("all", dest)
            await h.wait_rules()
            receiver.respond(500)
            await h.send([row("shop", i) for i in range(3)])
            await until(lambda: len(h.outbox.dead_letters()) == 3, 30, "three dead letters")
            letters = h.outbox.dead_letters()
            assert {x.code for x in letters} == {"retries_exhausted"}
            assert all(x.kind == "delivery" and x.rule_id == "all" for x in letters)
            assert all(len(h.outbox.attempts(x.delivery_id or "")) == 3 for x in letters)
            assert len(receiver.received) == 9
            receiver.respond(200)
            for letter in letters:
                h.outbox.requeue(letter.dead_id)
            await until(lambda: h.outbox.counts().get("delivered") == 3, 20, "replayed")
            delivered = [r for r in receiver.received if r.status_answered == 200]
            assert sorted(str(r.webhook_id) for r in delivered) == sorted(
                webhook_id("all", "shop", f"e-shop-{i}") for i in range(3))
            assert h.outbox.dead_letters() == []

    asyncio.run(go())


def test_throttle_holds_back_firings_per_rule_and_per_user(
        nats_server: NatsServer, db: SqlEngine, receiver: Receiver) -> None:
    async def go() -> None:
        async with reactor_running(nats_server.url, db) as h:
            dest = destination(h, receiver)
            h.add_rule("two", dest, throttle={"max_firings": 2, "window_s": 3600})
            h.add_rule("per-user", dest, event_type="signup",
                       throttle={"max_firings": 1, "window_s": 3600, "per_user": True})
            await h.wait_rules()
            await h.send([row("shop", i) for i in range(6)]
                         + [row("shop", 10 + i, event_type="signup") for i in range(14)])
            # 2 of "two" (every event matches it) + one per user of the 7 users for "per-user"
            await asyncio.to_thread(receiver.wait_for, 9, 20)
            await until(lambda: h.reactor.metrics.throttled._value.get() == 20 + 14 - 9, 10,
                        "every other match throttled")
            fired = [r.json["data"]["rule_id"] for r in receiver.received]
            assert fired.count("two") == 2 and fired.count("per-user") == 7
            users = {r.json["data"]["event"]["user_id"] for r in receiver.received
                     if r.json["data"]["rule_id"] == "per-user"}
            assert len(users) == 7

    asyncio.run(go())


def test_rule_changes_are_picked_up_while_running(
        nats_server: NatsServer, db: SqlEngine, receiver: Receiver) -> None:
    async def go() -> None:
        async with reactor_running(nats_server.url, db) as h:
            dest = destination(h, receiver)
            await h.send([row("shop", i) for i in range(3)])  # no rules yet: nothing fires
            await until(lambda: h.reactor.metrics.processed._value.get() == 3, 10, "processed")
            h.add_rule("late", dest)
            await h.wait_rules()
            await h.send([row("shop", 10 + i) for i in range(3)])
            await asyncio.to_thread(receiver.wait_for, 3, 20)
            h.rules.set_enabled("late", False)
            await h.wait_rules()
            await h.send([row("shop", 20 + i) for i in range(3)])
            await until(lambda: h.reactor.metrics.processed._value.get() == 9, 10, "processed")
            assert {r.json["data"]["event"]["event_id"] for r in receiver.received} == {
                f"e-shop-{10 + i}" for i in range(3)}

    asyncio.run(go())


def test_an_undecodable_message_is_dead_lettered_with_its_bytes(
        nats_server: NatsServer, db: SqlEngine, receiver: Receiver) -> None:
    async def go() -> None:
        async with reactor_running(nats_server.url, db) as h:
            dest = destination(h, receiver)
            h.add_rule("all", dest)
            await h.wait_rules()
            await h.js.publish(h.streams.events_for("shop"), b"\xff not json")
            await h.send([row("shop", 1)])
            await until(lambda: len(h.outbox.dead_letters(kind="event")) == 1, 10, "a letter")
            letter = h.outbox.dead_letters(kind="event")[0]
            assert letter.code == "bad_batch_message" and letter.payload == b"\xff not json"
            await asyncio.to_thread(receiver.wait_for, 1, 20)
            info = await h.js.consumer_info(h.streams.events, h.reactor.opts.durable)
            await until(lambda: h.outbox.counts().get("delivered") == 1, 10, "delivered")
            assert orjson.loads(receiver.received[0].body)["data"]["rule_id"] == "all"
            assert info.num_pending == 0

    asyncio.run(go())


def test_ten_thousand_rules_load_and_only_the_matching_ones_fire(
        nats_server: NatsServer, db: SqlEngine, receiver: Receiver) -> None:

    from metadata._db import reaction_rules, reaction_rules_version
    async def go() -> None:
        async with reactor_running(nats_server.url, db) as h:
            dest = destination(h, receiver)
            now = datetime.now(UTC)
            rows = [dict(rule_id=f"r{i}", app_id=f"app{i % 1000}", json=rule_json(
                f"r{i}", dest, app=f"app{i % 1000}", event_type=f"type{i % 7}",
                conditions={"gte": {"field": "properties.n", "value": i % 3}}),
                enabled=True, created_by="test", created_at=now, updated_at=now)
                for i in range(10_000)]
            with db.begin() as conn:
                conn.execute(reaction_rules.insert(), rows)
                conn.execute(reaction_rules_version.update().values(
                    version=reaction_rules_version.c.version + 1))
            await h.wait_rules()
            assert h.reactor.metrics.rules._value.get() == 10_000
            # app7 has the rules r7, r1007, …, r9007: event types type0 (1007, 8007), …
            await h.send([{**row("app7", 1, event_type="type0", n=1), "app_id": "app7"},
                          {**row("app7", 2, event_type="type6", n=2), "app_id": "app7"}])
            got = await asyncio.to_thread(receiver.wait_for, 1, 20)
            await until(lambda: h.reactor.metrics.processed._value.get() == 2, 10, "processed")
            expected = sorted(f"r{i}" for i in range(7, 10_000, 1000)
                              if (i % 7 == 0 and i % 3 <= 1) or (i % 7 == 6 and i % 3 <= 2))
            await until(lambda: len(receiver.received) == len(expected), 20, "all firings")
            fired = sorted(r.json["data"]["rule_id"] for r in receiver.received)
            assert got and fired == expected == ["r1007", "r7", "r8007"]

    asyncio.run(go())


def test_a_store_outage_naks_the_events_and_loses_no_firing(
        nats_server: NatsServer, db: SqlEngine, receiver: Receiver) -> None:
    """The metadata store locked by another writer (SQLite: BEGIN EXCLUSIVE) for a while."""
    async def go() -> None:
        async with reactor_running(nats_server.url, db) as h:
            dest = destination(h, receiver)
            h.add_rule("all", dest)
            await h.wait_rules()
            blocker = db.raw_connection()
            blocker.execute("BEGIN EXCLUSIVE")
            try:
                await h.send([row("shop", i) for i in range(5)])
                failed = h.reactor.metrics.failed.labels("store_unavailable")
                await until(lambda: failed._value.get() >= 5, 30, "a refused record")
                assert receiver.received == []
            finally:
                blocker.rollback()
                blocker.close()
            await until(lambda: h.outbox.counts().get("delivered") == 5, 30, "all delivered")
            assert sorted(str(r.webhook_id) for r in receiver.verified()) == sorted(
                webhook_id("all", "shop", f"e-shop-{i}") for i in range(5))
            assert h.outbox.dead_letters() == []

    asyncio.run(go())
