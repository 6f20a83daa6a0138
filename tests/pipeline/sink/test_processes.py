"""Sink processes (``python -m causality sink``): sharing, crashing, draining."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nats
import nats.errors

from pipeline.bus import STREAMS, ensure_streams, stream_configs
from pipeline.natsd import NatsServer
from pipeline.sink import DEAD_LETTERS
from tests.pipeline.sink._support import SinkProcess, publish, rows, wait_until, written_ids
from warehouse.storage import Storage


def _nats(url: str, work: Callable[[Any], Any]) -> Any:
    async def go() -> Any:
        nc = await nats.connect(url)
        try:
            return await work(nc.jetstream(timeout=10))
        finally:
            await nc.close()
    return asyncio.run(go())


def _consumer(url: str) -> tuple[int, int, int]:
    """(num_pending, num_ack_pending, ack floor stream seq) of the sinks' consumer."""
    async def info(js: Any) -> tuple[int, int, int]:
        try:
            i = await js.consumer_info(STREAMS.events, "sink")
        except nats.errors.Error:
            return -1, -1, -1
        return i.num_pending, i.num_ack_pending, i.ack_floor.stream_seq
    result: tuple[int, int, int] = _nats(url, info)
    return result


def _settled(url: str) -> bool:
    pending, ack_pending, _ = _consumer(url)
    return pending == 0 and ack_pending == 0


def _publish(url: str, batch: list[dict[str, Any]]) -> list[str]:
    ids: list[str] = _nats(url, lambda js: publish(js, STREAMS, batch))
    return ids


def _dlq_count(url: str) -> int:
    async def count(js: Any) -> int:
        try:
            return int((await js.stream_info(DEAD_LETTERS.stream)).state.messages)
        except nats.errors.Error:
            return 0
    n: int = _nats(url, count)
    return n


def _deliveries(url: str) -> int:
    """Deliveries so far, redeliveries included (the consumer sequence)."""
    async def info(js: Any) -> int:
        return int((await js.consumer_info(STREAMS.events, "sink")).delivered.consumer_seq)
    n: int = _nats(url, info)
    return n


def _sink_id(proc: SinkProcess) -> str:
    return next(str(x["sink_id"]) for x in proc.lines() if x.get("msg") == "sink ready")


def test_two_sink_processes_share_the_consumer(own_nats_server: NatsServer,
                                               tmp_path: Path) -> None:
    url, wh = own_nats_server.url, str(tmp_path / "wh")
    sinks = [SinkProcess(tmp_path, url, wh, name, CAUSALITY_SINK_FETCH_BATCH="16").start()
             for name in ("a", "b")]
    try:
        for s in sinks:
            s.wait_ready()
        ids = _publish(url, [*rows("shop", 4_000), *rows("news", 4_000)])
        wait_until(lambda: _settled(url), 60, "both sinks to write and ACK everything")
        assert [s.terminate() for s in sinks] == [0, 0]
    finally:
        for s in sinks:
            if s.proc and s.proc.poll() is None:
                s.kill()
    storage = Storage(wh)
    got = written_ids(storage)
    assert len(got) == len(ids) == 8_000
    assert set(got) == set(ids)
    names = [f.name for p in storage.partitions() for f in storage.files(p)]
    for s in sinks:  # both took part
        assert any(f"-{_sink_id(s)}-" in n for n in names), _sink_id(s)


def _steady_load(url: str, total: int, per_step: int, pause_s: float, out: list[str]) -> None:
    """Publish ``total`` events in steps, pacing the load (runs in a thread)."""
    async def go() -> None:
        nc = await nats.connect(url)
        js = nc.jetstream(timeout=10)
        try:
            for start in range(0, total, per_step):
                out.extend(await publish(js, STREAMS, rows("shop", per_step, start=start)))
                await asyncio.sleep(pause_s)
        finally:
            await nc.close()
    asyncio.run(go())


def test_kill_9_at_random_moments_loses_nothing(own_nats_server: NatsServer,
                                                tmp_path: Path) -> None:
    url, wh = own_nats_server.url, str(tmp_path / "wh")
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    env = {"CAUSALITY_SINK_MAX_DELIVER": "100", "CAUSALITY_SINK_ACK_WAIT_S": "2"}
    published: list[str] = []
    _nats(url, lambda js: ensure_streams(js, stream_configs(STREAMS)))  # as the ingest edge does
    load = threading.Thread(target=_steady_load, args=(url, 15_000, 250, 0.1, published))
    load.start()
    trials, started = 5, time.monotonic()
    try:
        for trial in range(trials):
            proc = SinkProcess(tmp_path, url, wh, f"crash{trial}", **env).start()
            try:
                proc.wait_ready()
                threading.Event().wait(rng.uniform(0.1, 0.8))  # a random moment, not a sync
            finally:
                proc.kill()
        load.join(60)
        final = SinkProcess(tmp_path, url, wh, "final", **env).start()
        try:
            final.wait_ready()
            wait_until(lambda: _settled(url), 30, "the redelivered messages to be written")
            assert final.terminate() == 0
        finally:
            if final.proc and final.proc.poll() is None:
                final.kill()
    finally:
        load.join(60)
    got = written_ids(Storage(wh))
    deliveries = _deliveries(url)
    print(f"kill -9 x{trials} (seed {seed}, {time.monotonic() - started:.1f} s): "
          f"{len(published)} published in {len(published) // 50} messages, {deliveries} "
          f"deliveries; {len(set(got))} distinct written, {len(got)} rows written "
          f"({len(got) - len(set(got))} duplicates for the compactor)")
    assert len(published) == 15_000
    assert deliveries > len(published) // 50, "no kill hit an un-ACKed message"
    assert set(got) == set(published)
    assert _dlq_count(url) == 0


def test_sigterm_flushes_acks_and_exits(own_nats_server: NatsServer, tmp_path: Path) -> None:
    url, wh = own_nats_server.url, str(tmp_path / "wh")
    proc = SinkProcess(tmp_path, url, wh, "term", CAUSALITY_SINK_FLUSH_INTERVAL_S="60",
                       CAUSALITY_SINK_ACK_WAIT_S="120").start()
    try:
        proc.wait_ready()
        ids = _publish(url, rows("shop", 5000))  # 100 messages
        # Everything delivered and held in the buffer, nothing written yet.
        wait_until(lambda: _consumer(url)[:2] == (0, 100), 20, "all messages held")
        assert written_ids(Storage(wh)) == []
        started = time.monotonic()
        assert proc.terminate(timeout=15) == 0
        assert time.monotonic() - started < 10
    finally:
        if proc.proc and proc.proc.poll() is None:
            proc.kill()
    wait_until(lambda: _consumer(url) == (0, 0, 100), 5, "all 100 messages ACKed")
    got = written_ids(Storage(wh))
    assert sorted(got) == sorted(ids)
    assert any(x.get("msg") == "flushed" and x.get("reason") == "shutdown" for x in proc.lines())
