"""Helpers for the reactor tests: a reactor in this process on streams of the test's own, rows
and rules, and waiting on conditions with deadlines."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import nats
import nats.errors
import orjson
from sqlalchemy.engine import Engine as SqlEngine

from metadata import Destinations, Outbox, RuleStore
from pipeline.bus import Streams
from pipeline.config import ReactorSettings
from pipeline.reactor import MonitorTick, Reactor, ReactorConfig
from tests.pipeline.sink._support import T0_US, publish, until

KEY = bytes(range(32))
#: Short intervals so tests finish in seconds.
FAST = {"fetch_timeout_s": 0.2, "rules_poll_s": 0.2, "delivery_poll_s": 0.05,
        "backoff_base_s": 0.1, "backoff_cap_s": 0.4, "breaker_cooldown_s": 0.3,
        "breaker_failures": 50, "lag_poll_s": 0.3, "http_port": 0, "shutdown_timeout_s": 10.0,
        "delivery_timeout_s": 2.0, "lease_s": 9.0, "max_attempts": 4, "retry_delay_s": 0.3}


def options(**overrides: Any) -> ReactorSettings:
    return ReactorSettings(**{**FAST, **overrides})


def row(app: str, i: int, event_type: str = "purchase_failed", tag: str = "e",
        **props: Any) -> dict[str, Any]:
    return {
        "event_id": f"{tag}-{app}-{i}", "event_type": event_type, "category": "track",
        "user_id": f"u{i % 7}", "anonymous_id": None, "session_id": None,
        "event_time": T0_US + i * 1_000_000, "received_at": T0_US + i * 1_000_000 + 5,
        "properties": orjson.dumps(props).decode() if props else None, "context": None,
        "app_id": app,
    }


def rule_json(rule_id: str, destination_id: str, app: str = "shop", **fields: Any) -> str:
    return orjson.dumps({"id": rule_id, "app_id": app,
                         "actions": [{"type": "webhook", "destination_id": destination_id}],
                         **fields}).decode()


@dataclass
class Harness:
    reactor: Reactor
    rules: RuleStore
    outbox: Outbox
    destinations: Destinations
    streams: Streams
    js: Any

    async def send(self, rows: list[dict[str, Any]], size: int = 50) -> None:
        await publish(self.js, self.streams, rows, size)

    def add_rule(self, rule_id: str, destination_id: str, **fields: Any) -> None:
        self.rules.add(rule_id, fields.get("app", "shop"),
                       rule_json(rule_id, destination_id, **fields), "test")

    async def wait_rules(self) -> None:
        """Until the reactor runs on the stored rules' current version."""
        version = self.rules.version()
        await until(lambda: (self.reactor.rules_version or -1) >= version, 10,
                    "the reactor to read the rules")


@asynccontextmanager
async def reactor_running(nats_url: str, db: SqlEngine, *, monitors: MonitorTick | None = None,
                          **overrides: Any) -> AsyncIterator[Harness]:
    """A reactor on streams of its own, consuming once its durable exists."""
    tag = f"r{uuid.uuid4().hex[:8]}"
    streams = Streams.prefixed(tag)
    opts = options(durable=f"reactor-{tag}", **overrides)
    config = ReactorConfig(nats_url=nats_url, options=opts, retention_s=3600.0,
                           duplicate_window_s=60.0, streams=streams, reactor_id=tag)
    rules, outbox, destinations = RuleStore(db), Outbox(db), Destinations(db, KEY)
    reactor = Reactor(config, rules, outbox, destinations, monitors=monitors)
    nc = await nats.connect(nats_url)
    task = asyncio.create_task(reactor.run())
    js = nc.jetstream()

    async def bound() -> bool:
        try:
            await js.consumer_info(streams.events, opts.durable)
        except nats.errors.Error:
            return False
        return True

    try:
        await until(bound, 20, "the reactor's durable consumer")
        yield Harness(reactor, rules, outbox, destinations, streams, js)
    finally:
        reactor.stop()
        await asyncio.wait_for(task, 30)
        await nc.close()
