"""``kill -9`` of ``causality reactor`` processes at random moments under load: every matching
event's firing reaches the receiver at least once, and every copy of one firing carries the
same ``webhook-id``."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import nats
import pytest

from metadata import Destinations, RuleStore, open_db
from pipeline.bus import STREAMS, ensure_streams, stream_configs
from pipeline.natsd import NatsServer
from pipeline.reactor import webhook_id
from tests.fixtures.ports import free_port
from tests.fixtures.webhooks import Receiver
from tests.pipeline.reactor._support import row, rule_json
from tests.pipeline.sink._support import REPO, publish, wait_until

pytestmark = pytest.mark.timeout(300)
TRIALS = 5
TOTAL, STEP = 6_000, 60  # events, per publish step; one in three matches the rule


class ReactorProcess:
    def __init__(self, tmp: Path, nats_url: str, name: str, http_port: int):
        self.log = tmp / f"{name}.log"
        self.http_port = http_port
        self.env = {**os.environ, "CAUSALITY_DATA_DIR": str(tmp / "data"),
                    "CAUSALITY_NATS_URL": nats_url, "CAUSALITY_LOG_LEVEL": "info",
                    "CAUSALITY_REACTOR_MONITORS": "false",
                    "CAUSALITY_REACTOR_HTTP_PORT": str(http_port),
                    "CAUSALITY_REACTOR_FETCH_TIMEOUT_S": "0.2",
                    "CAUSALITY_REACTOR_DELIVERY_POLL_S": "0.05",
                    "CAUSALITY_REACTOR_LEASE_S": "9",
                    "CAUSALITY_REACTOR_DELIVERY_TIMEOUT_S": "2",
                    "CAUSALITY_REACTOR_MAX_ATTEMPTS": "100",
                    "CAUSALITY_REACTOR_ACK_WAIT_S": "3",
                    "CAUSALITY_REACTOR_BACKOFF_BASE_S": "0.1",
                    "CAUSALITY_REACTOR_BACKOFF_CAP_S": "0.5"}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ReactorProcess:
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen([sys.executable, "-m", "causality", "reactor"],
                                         cwd=REPO, env=self.env, stdout=fh, stderr=fh)
        return self

    def ready(self) -> bool:
        import urllib.error
        import urllib.request

        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"reactor exited {self.proc.returncode}: "
                                 f"{self.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/readyz",
                                        timeout=1) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def terminate(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.terminate()
        return self.proc.wait(timeout)


def _nats(url: str, work: Any) -> Any:
    async def go() -> Any:
        nc = await nats.connect(url)
        try:
            return await work(nc.jetstream(timeout=10))
        finally:
            await nc.close()
    return asyncio.run(go())


def _load(url: str, out: list[str]) -> None:
    async def go() -> None:
        nc = await nats.connect(url)
        js = nc.jetstream(timeout=10)
        try:
            for start in range(0, TOTAL, STEP):
                batch = [row("shop", i, event_type="purchase_failed" if i % 3 == 0 else "page")
                         for i in range(start, start + STEP)]
                await publish(js, STREAMS, batch, size=20)
                out.extend(r["event_id"] for r in batch if r["event_type"] == "purchase_failed")
                await asyncio.sleep(0.05)  # paces the load
        finally:
            await nc.close()
    asyncio.run(go())


def test_kill_9_at_random_moments_delivers_every_firing(own_nats_server: NatsServer,
                                                        tmp_path: Path) -> None:
    url = own_nats_server.url
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    db = open_db(f"sqlite:///{(tmp_path / 'data' / 'meta.db').resolve()}")
    from causality.settings import load_settings
    from causality.wiring import reactor_key

    key = reactor_key(load_settings(data_dir=tmp_path / "data"))
    port = free_port()
    with Receiver("whsec_" + "A" * 44) as receiver:
        made = Destinations(db, key).add("crash receiver", receiver.url, "test")
        receiver.secret = made.secret
        RuleStore(db).add("failed", "shop", rule_json(
            "failed", made.destination.destination_id, event_type="purchase_failed"), "test")
        _nats(url, lambda js: ensure_streams(js, stream_configs(STREAMS)))
        first = ReactorProcess(tmp_path, url, "first", port).start()
        try:
            wait_until(first.ready, 60, "the first reactor to be ready")  # its durable exists
        finally:
            first.kill()
        expected: list[str] = []
        load = threading.Thread(target=_load, args=(url, expected))
        load.start()
        started = time.monotonic()
        try:
            for trial in range(TRIALS):
                proc = ReactorProcess(tmp_path, url, f"crash{trial}", port).start()
                try:
                    wait_until(proc.ready, 60, "the reactor to be ready")
                    threading.Event().wait(rng.uniform(0.2, 1.2))  # a random moment, not a sync
                finally:
                    proc.kill()
        finally:
            load.join(120)
        final = ReactorProcess(tmp_path, url, "final", port).start()
        try:
            wait_until(final.ready, 60, "the final reactor to be ready")
            want = {webhook_id("failed", "shop", e) for e in expected}
            wait_until(lambda: want <= {r.webhook_id for r in receiver.verified()}, 120,
                       "every firing to be delivered")
            assert final.terminate() == 0
        finally:
            if final.proc is not None and final.proc.poll() is None:
                final.kill()
        got = receiver.verified()
    ids_per_event: dict[str, set[str | None]] = defaultdict(set)
    for r in got:
        ids_per_event[r.json["data"]["event"]["event_id"]].add(r.webhook_id)
    print(f"kill -9 x{TRIALS} (seed {seed}, {time.monotonic() - started:.1f} s): "
          f"{len(expected)} matching events, {len(got)} requests received "
          f"({len(got) - len(ids_per_event)} duplicates)")
    assert len(expected) == TOTAL // 3
    assert set(ids_per_event) == set(expected)  # nothing missing, nothing that did not match
    assert all(ids == {webhook_id("failed", "shop", e)} for e, ids in ids_per_event.items())
    assert len([r for r in receiver.received if not r.verified]) == 0
