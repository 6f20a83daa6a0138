"""The reactor reports its consumer's backlog: a gauge, a ``/readyz`` detail and a warning."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import aiohttp
import pytest
from nats.aio.msg import Msg
from sqlalchemy.engine import Engine as SqlEngine

from pipeline.natsd import NatsServer
from tests.pipeline.reactor._support import reactor_running, row
from tests.pipeline.sink._support import until

pytestmark = pytest.mark.timeout(120)
AGE = "causality_reactor_oldest_unconsumed_age_seconds"


def test_a_held_back_batch_shows_as_backlog_and_the_reactor_stays_ready(
        nats_server: NatsServer, db: SqlEngine, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="causality.reactor")

    async def go() -> None:
        async with reactor_running(nats_server.url, db, backlog_warn_fraction=1e-9) as h:
            reactor = h.reactor
            release, entered = asyncio.Event(), asyncio.Event()
            handle = reactor.handle

            async def held(msgs: Sequence[Msg]) -> None:  # un-ACKed until released
                entered.set()
                await release.wait()
                await handle(msgs)

            reactor.handle = held  # type: ignore[method-assign]
            await h.send([row("shop", i) for i in range(5)])
            await entered.wait()

            def gauge(name: str) -> float:
                return reactor.metrics.registry.get_sample_value(name) or 0.0

            await until(lambda: gauge(AGE) > 0, 10, "a backlog age")
            assert gauge("causality_reactor_stream_max_age_seconds") == 3600.0
            async with (aiohttp.ClientSession() as http,
                        http.get(f"http://127.0.0.1:{reactor.http_port}/readyz") as resp):
                assert resp.status == 200
                body = await resp.json()
            assert body["status"] == "ok" and body["backlog"]["stream_max_age_s"] == 3600.0
            assert 0 < body["backlog"]["oldest_unconsumed_age_s"] < 60
            warned = [r for r in caplog.records
                      if r.levelno == logging.WARNING and "unread" in r.getMessage()]
            assert warned and vars(warned[0])["fields"]["durable"] == reactor.opts.durable

            release.set()
            await until(lambda: gauge(AGE) == 0, 10, "the backlog ACKed")
            assert reactor.backlog is not None and reactor.backlog.detail()["fraction"] == 0
            assert any("back under" in r.getMessage() for r in caplog.records)

    asyncio.run(go())
