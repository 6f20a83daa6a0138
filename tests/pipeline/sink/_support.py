"""Helpers for the sink tests: conditions with deadlines, publishing, reading the warehouse."""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import orjson
import pyarrow as pa
from nats.js import JetStreamContext

from pipeline.bus import STREAMS, Streams, batch_id, encode_batch
from pipeline.config import SinkSettings
from pipeline.sink import DEAD_LETTERS, DeadLetters, Sink, SinkConfig
from warehouse.storage import Storage

T0_US = 1_764_000_000_000_000  # 2025-11-24T16:00:00Z
REPO = Path(__file__).resolve().parents[3]

#: Short intervals so tests finish in seconds; ack_wait stays above the flush interval.
FAST = {"flush_interval_s": 0.3, "ack_wait_s": 3.0, "fetch_timeout_s": 0.3, "lag_poll_s": 0.3,
        "http_port": 0, "shutdown_timeout_s": 10.0, "fetch_batch": 64, "max_outage_s": 30.0}


def options(**overrides: Any) -> SinkSettings:
    return SinkSettings(**{**FAST, **overrides})


def wait_until(predicate: Callable[[], bool], timeout: float, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


async def until(predicate: Callable[[], Any], timeout: float, what: str = "condition") -> None:
    """Poll a sync or async predicate until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


def rows(app: str, n: int, start: int = 0, tag: str = "e", spread_us: int = 1_000_000
         ) -> list[dict[str, Any]]:
    """``n`` rows of ``app`` with ids ``<tag>-<app>-<i>``; ``spread_us`` apart in event time."""
    return [{
        "event_id": f"{tag}-{app}-{i}", "event_type": "page", "category": "page",
        "user_id": f"u{i % 7}", "anonymous_id": None, "session_id": None,
        "event_time": T0_US + i * spread_us, "received_at": T0_US + i * spread_us + 5,
        "properties": orjson.dumps({"path": f"/p{i % 5}"}).decode(), "context": None,
        "app_id": app,
    } for i in range(start, start + n)]


async def publish(js: JetStreamContext, streams: Streams, batch: list[dict[str, Any]],
                  size: int = 50) -> list[str]:
    """Publish ``batch`` as messages of ``size`` rows per app, as the ingest edge would."""
    ids: list[str] = []
    pending = []
    for i in range(0, len(batch), size):
        chunk = batch[i:i + size]
        app = chunk[0]["app_id"]
        bid = batch_id(app, [r["event_id"] for r in chunk])
        pending.append(js.publish(streams.events_for(app), encode_batch(app, bid, chunk),
                                  headers={"Nats-Msg-Id": bid}))
        ids.extend(r["event_id"] for r in chunk)
        if len(pending) >= 64:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)
    return ids


def written_ids(storage: Storage) -> list[str]:
    """Every event_id in the warehouse's files (duplicates included)."""
    out: list[str] = []
    for part in storage.partitions():
        table = storage.read(storage.files(part))
        out.extend(table["event_id"].to_pylist())
    return out


def read_all(storage: Storage) -> pa.Table:
    tables = [storage.read(storage.files(p)) for p in storage.partitions()]
    return pa.concat_tables(tables) if tables else pa.table({})


@dataclass
class Bus:
    """A stream set of the test's own on a shared server, with a client connection."""

    url: str
    streams: Streams
    dead_letters: DeadLetters
    nc: Any
    js: JetStreamContext

    async def consumer(self, durable: str = "sink") -> Any:
        return await self.js.consumer_info(self.streams.events, durable)

    async def settled(self, durable: str = "sink") -> bool:
        """Nothing waits for delivery and nothing awaits an ACK."""
        try:
            info = await self.consumer(durable)
        except nats.errors.Error:
            return False
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)

    async def dlq_count(self) -> int:
        try:
            info = await self.js.stream_info(self.dead_letters.stream)
        except nats.errors.Error:
            return 0
        return int(info.state.messages)


@asynccontextmanager
async def bus(url: str, prefix: bool = True) -> AsyncIterator[Bus]:
    tag = f"t{uuid.uuid4().hex[:8]}"
    streams = Streams.prefixed(tag) if prefix else STREAMS
    dead = DeadLetters.prefixed(tag) if prefix else DEAD_LETTERS
    nc = await nats.connect(url)
    try:
        yield Bus(url, streams, dead, nc, nc.jetstream(timeout=10))
    finally:
        await nc.close()


def config(b: Bus, storage: Storage, **overrides: Any) -> SinkConfig:
    return SinkConfig(nats_url=b.url, storage=storage, options=options(**overrides),
                      streams=b.streams, dead_letters=b.dead_letters)


@asynccontextmanager
async def running(cfg: SinkConfig) -> AsyncIterator[tuple[Sink, asyncio.Task[Any]]]:
    """A sink in this event loop; stopped (drained) on exit unless the test already did."""
    sink = Sink(cfg)
    task = asyncio.create_task(sink.run())
    ready = asyncio.create_task(sink.ready.wait())
    await asyncio.wait({task, ready}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # raises what stopped it
    assert ready.done(), "sink did not become ready"
    try:
        yield sink, task
    finally:
        sink.stop()
        await asyncio.wait({task}, timeout=30)
    assert task.done(), "the sink did not stop"
    task.result()  # a failure of the sink fails the test


async def awaiting(aw: Awaitable[Any], timeout: float) -> Any:
    return await asyncio.wait_for(aw, timeout)


# -- subprocess sinks ----------------------------------------------------------------------
class SinkProcess:
    """``python -m causality sink`` with CAUSALITY_* env; logs go to a file."""

    def __init__(self, tmp: Path, nats_url: str, warehouse: str, name: str, **env: str):
        self.log = tmp / f"{name}.log"
        self.env = {**os.environ, "CAUSALITY_DATA_DIR": str(tmp / "data"),
                    "CAUSALITY_NATS_URL": nats_url, "CAUSALITY_STORAGE_WAREHOUSE": warehouse,
                    "CAUSALITY_LOG_LEVEL": "info",
                    **{f"CAUSALITY_SINK_{k.upper()}": str(v) for k, v in FAST.items()},
                    **env}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SinkProcess:
        fh = self.log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "causality", "sink"],
                                     cwd=REPO, env=self.env, stdout=fh, stderr=fh)
        fh.close()
        return self

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                out.append({"msg": line})
        return out

    def ready_count(self) -> int:
        return sum(1 for x in self.lines() if x.get("msg") == "sink ready")

    def wait_ready(self, count: int = 1, timeout: float = 30) -> None:
        def ok() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"sink exited {self.proc.returncode}: {self.tail()}")
            return self.ready_count() >= count
        wait_until(ok, timeout, "the sink process to be ready")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def terminate(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.terminate()
        return self.proc.wait(timeout)

    def tail(self, n: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
