"""The sink in this process against a real nats-server and real files (and a real S3 server)."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import threading
from pathlib import Path
from typing import Any

import aiohttp
import nats.errors
import pyarrow.parquet as pq
import pytest

from pipeline.natsd import NatsServer
from pipeline.sink import Outcome, Sink, SinkError, get_dead_letter, replay
from pipeline.sink._dlq import (
    H_CODE,
    H_DELIVERED,
    H_ERROR,
    H_SEQ,
    H_SUBJECT,
    dead_letter,
    ensure_dead_letters,
)
from tests.fixtures.nats import restart
from tests.fixtures.s3 import S3Server
from tests.pipeline.sink._support import (
    bus,
    config,
    publish,
    read_all,
    rows,
    running,
    until,
    written_ids,
)
from warehouse.layout import Partition
from warehouse.storage import FileInfo, S3Options, Storage, StorageError

HOUR_US = 3_600_000_000
FILE_NAME = re.compile(r"^s-\d{8}T\d{12}Z-[a-z0-9-]+-\d{6}\.parquet$")


def _metric(sink: Sink, name: str, **labels: str) -> float:
    return sink.metrics.registry.get_sample_value(name, labels) or 0.0


def test_n_events_become_exactly_n_rows(nats_server: NatsServer, tmp_path: Path) -> None:
    async def scenario() -> None:
        storage = Storage(str(tmp_path / "wh"))
        async with bus(nats_server.url) as b, running(config(b, storage)) as (sink, _):
            # Three apps, events spread over three hours: nine partitions.
            batch = [*rows("shop", 3000, spread_us=HOUR_US // 1000),
                     *rows("news", 1500, spread_us=HOUR_US // 500),
                     *rows("fit", 500, spread_us=HOUR_US // 167)]
            ids = await publish(b.js, b.streams, batch)
            await until(lambda: len(written_ids(storage)) >= len(ids), 30, "all rows written")
            await until(b.settled, 10, "every message ACKed")
            async with aiohttp.ClientSession() as http:
                base = f"http://127.0.0.1:{sink.port}"
                async with http.get(base + "/livez") as resp:
                    assert (resp.status, await resp.json()) == (200, {"status": "ok"})
                async with http.get(base + "/readyz") as resp:  # and maybe its backlog
                    assert (resp.status, (await resp.json())["status"]) == (200, "ok")
                async with http.get(base + "/metrics") as resp:
                    text = await resp.text()
            assert 'causality_sink_events_written_total{app_id="shop"} 3000.0' in text
            assert "causality_sink_flush_seconds_bucket" in text

        got = written_ids(storage)
        assert len(got) == len(ids) == 5000
        assert set(got) == set(ids)
        assert len(storage.partitions()) == 9
        for part in storage.partitions():
            for f in storage.files(part):
                assert FILE_NAME.match(f.name), f.name
                meta = pq.ParquetFile(storage.abs(f.path)).metadata
                assert meta.row_group(0).column(0).compression == "ZSTD"
            table = storage.read(storage.files(part))
            hours = {Partition.of(part.app_id, t).hour for t in table["event_time"].to_pylist()}
            assert hours == {part.hour}

    asyncio.run(scenario())


def test_redelivered_event_ids_are_written_once(nats_server: NatsServer, tmp_path: Path) -> None:
    async def scenario() -> None:
        storage = Storage(str(tmp_path / "wh"))
        async with bus(nats_server.url) as b, running(config(b, storage)) as (sink, _):
            first = await publish(b.js, b.streams, rows("shop", 500))
            # The same events again, cut into other messages (other batch ids): the bus does
            # not de-duplicate them, the sink's recent-id window does.
            await publish(b.js, b.streams, rows("shop", 600), size=40)
            await until(b.settled, 20, "every message ACKed")
            assert _metric(sink, "causality_sink_duplicates_dropped_total", app_id="shop") == 500
        got = written_ids(storage)
        assert sorted(got) == sorted({*first, *(f"e-shop-{i}" for i in range(500, 600))})

    asyncio.run(scenario())


def test_poison_goes_to_the_dlq_and_the_stream_keeps_flowing(
        nats_server: NatsServer, tmp_path: Path) -> None:
    async def scenario() -> None:
        storage = Storage(str(tmp_path / "wh"))
        async with bus(nats_server.url) as b, running(config(b, storage)) as (sink, _):
            before = await publish(b.js, b.streams, rows("shop", 100))
            await b.js.publish(b.streams.events_for("shop"), b"\x00not json at all")
            after = await publish(b.js, b.streams, rows("shop", 100, start=100))
            await until(b.settled, 20, "every message ACKed or terminated")
            await until(lambda: b.dlq_count(), 5, "a dead letter")
            letter = await b.js.get_msg(b.dead_letters.stream, 1)
            assert letter.data == b"\x00not json at all"
            headers = letter.headers or {}
            assert headers[H_CODE] == "bad_batch_message"
            assert "malformed" in headers[H_ERROR]
            assert headers[H_DELIVERED] == "1"
            assert headers[H_SUBJECT] == b.streams.events_for("shop")
            assert headers[H_SEQ] == "3"
            assert _metric(sink, "causality_sink_dead_letters_total",
                           code="bad_batch_message") == 1
        assert sorted(written_ids(storage)) == sorted(before + after)

    asyncio.run(scenario())


def test_buffer_cap_flushes_early(nats_server: NatsServer, tmp_path: Path,
                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="causality.sink")
    cap, fetch = 1024 * 1024, 16

    async def scenario() -> None:
        storage = Storage(str(tmp_path / "wh"))
        async with bus(nats_server.url) as b:
            cfg = config(b, storage, max_buffer_bytes=cap, flush_interval_s=60.0,
                         ack_wait_s=120.0, fetch_batch=fetch)
            async with running(cfg) as (sink, task):
                ids = await publish(b.js, b.streams, rows("shop", 30_000))
                # Long before the 60 s interval: flushed because the buffer was full.
                await until(lambda: _metric(sink, "causality_sink_flushes_total",
                                            reason="bytes") >= 2, 20, "flushes on bytes")
                await until(lambda: _no_pending(b), 20, "every message delivered")
                assert _metric(sink, "causality_sink_flushes_total", reason="interval") == 0
                sink.stop()
                assert await task is Outcome.DRAINED
            # The last ACKs reach the server just after the drain returns.
            await until(b.settled, 10, "every message ACKed")
        assert sorted(written_ids(storage)) == sorted(ids)
        flushed = [r.fields for r in caplog.records if r.msg == "flushed"]  # type: ignore[attr-defined]
        one_fetch = fetch * 50 * 200  # a fetch of 50-row messages, < 200 Arrow bytes a row
        assert all(f["arrow_bytes"] <= cap + one_fetch for f in flushed), flushed

    asyncio.run(scenario())


async def _no_pending(b: Any) -> bool:
    return bool((await b.consumer()).num_pending == 0)


class _BlockingStorage(Storage):
    """A disk that hangs: writes wait until released, then fail."""

    def __init__(self, uri: str):
        super().__init__(uri)
        self.release = threading.Event()
        self.entered = threading.Event()

    def write_parquet(self, partition: Partition, table: Any, name: str,
                      row_group_rows: int = 0) -> FileInfo:
        self.entered.set()
        self.release.wait(30)
        raise StorageError("released", code="write_failed")


def test_deadline_passes_without_acking_unwritten(nats_server: NatsServer,
                                                  tmp_path: Path) -> None:
    async def scenario() -> None:
        blocking = _BlockingStorage(str(tmp_path / "wh"))
        async with bus(nats_server.url) as b:
            cfg = config(b, blocking, shutdown_timeout_s=1.5)
            sink = Sink(cfg)
            task = asyncio.create_task(sink.run())
            await until(sink.ready.is_set, 20, "ready")
            await publish(b.js, b.streams, rows("shop", 500))
            await until(blocking.entered.is_set, 10, "a flush to start")
            sink.stop()
            started = asyncio.get_running_loop().time()
            async with (aiohttp.ClientSession() as http,  # draining: not ready any more
                        http.get(f"http://127.0.0.1:{sink.port}/readyz") as resp):
                assert resp.status == 503
                assert (await resp.json())["code"] == "draining"
            assert await asyncio.wait_for(task, 10) is Outcome.DEADLINE
            assert asyncio.get_running_loop().time() - started < 3.0
            info = await b.consumer()
            assert info.ack_floor.stream_seq == 0  # nothing was ACKed
            blocking.release.set()
            # What was not written comes back: a healthy sink writes all of it.
            storage = Storage(str(tmp_path / "wh"))
            async with running(config(b, storage)):
                await until(b.settled, 20, "the redelivered messages to be written")
            assert len(set(written_ids(storage))) == 500

    asyncio.run(scenario())


async def _publish_steadily(b: Any, batch: list[dict[str, Any]], pause_s: float) -> list[str]:
    """One message at a time, retried through a server outage (same Nats-Msg-Id: stored once)."""
    ids: list[str] = []
    for i in range(0, len(batch), 50):
        chunk = batch[i:i + 50]
        await until(functools.partial(_try_publish, b, chunk), 30, "a publish to succeed")
        ids.extend(r["event_id"] for r in chunk)
        await asyncio.sleep(pause_s)  # pacing the load, not synchronisation
    return ids


async def _try_publish(b: Any, chunk: list[dict[str, Any]]) -> bool:
    try:
        await publish(b.js, b.streams, chunk)
    except (nats.errors.Error, TimeoutError):
        return False
    return True


def test_nats_restart_during_load(own_nats_server: NatsServer, tmp_path: Path) -> None:
    restarted: list[NatsServer] = []

    async def scenario() -> None:
        storage = Storage(str(tmp_path / "wh"))
        async with bus(own_nats_server.url) as b, running(config(b, storage)) as (sink, _):
            load = asyncio.create_task(_publish_steadily(b, rows("shop", 5000), 0.03))
            await until(lambda: len(written_ids(storage)) > 0, 20, "some rows written")
            await asyncio.to_thread(own_nats_server.stop)
            restarted.append(await asyncio.to_thread(restart, own_nats_server))
            await until(lambda: _metric(sink, "causality_sink_resubscribes_total") >= 1, 20,
                        "the pull subscription to be re-created")
            ids = await asyncio.wait_for(load, 60)
            await until(lambda: len(set(written_ids(storage))) >= len(ids), 30, "all rows")
            await until(b.settled, 20, "every message ACKed")
        got = written_ids(storage)
        assert set(got) == set(ids)
        assert len(got) == len(ids) == 5000  # redeliveries after the restart were dropped

    try:
        asyncio.run(scenario())
    finally:
        for server in restarted:
            server.stop()


def test_s3_storage(nats_server: NatsServer, s3_server: S3Server) -> None:
    async def scenario() -> None:
        bucket = s3_server.new_bucket()
        storage = Storage(f"s3://{bucket}/warehouse", S3Options(
            endpoint=f"http://{s3_server.endpoint}", region=s3_server.region,
            access_key=s3_server.access_key, secret_key=s3_server.secret_key))
        async with bus(nats_server.url) as b, running(config(b, storage)):
            ids = await publish(b.js, b.streams, [*rows("shop", 1500), *rows("news", 500)])
            await until(b.settled, 30, "every message ACKed")
        table = read_all(storage)
        assert sorted(table["event_id"].to_pylist()) == sorted(ids)
        assert all(FILE_NAME.match(f.name) for p in storage.partitions()
                   for f in storage.files(p))

    asyncio.run(scenario())


def test_oversized_dead_letter_is_cut_and_not_replayed(nats_server: NatsServer) -> None:
    async def scenario() -> None:
        async with bus(nats_server.url) as b:
            await ensure_dead_letters(b.js, b.dead_letters, 60.0)
            await dead_letter(b.js, b.dead_letters, payload=b"x" * 20_000,
                              subject=b.streams.events_for("shop"), stream=b.streams.events,
                              stream_seq=7, delivered=1, consumer="sink", code="bad_batch_message",
                              error="no", msg_id=None, max_payload=10_000)
            letter = await get_dead_letter(b.js, b.dead_letters, 1)
            assert letter.truncated == 20_000 and len(letter.payload) == 10_000 - 8192
            with pytest.raises(SinkError) as caught:
                await replay(b.js, b.dead_letters, 1)
            assert caught.value.code == "dead_letter_truncated"

    asyncio.run(scenario())


def test_backlog_age_is_a_gauge_a_readyz_detail_and_a_warning(
        nats_server: NatsServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="causality.sink")

    async def scenario() -> None:
        storage = Storage(str(tmp_path / "wh"))
        async with bus(nats_server.url) as b:
            # 50 rows stay buffered, un-ACKed, until 50 more make flush_rows; any age warns.
            cfg = config(b, storage, flush_rows=100, flush_interval_s=60.0, ack_wait_s=120.0,
                         backlog_warn_fraction=1e-9)
            async with running(cfg) as (sink, _), aiohttp.ClientSession() as http:
                readyz = f"http://127.0.0.1:{sink.port}/readyz"
                await publish(b.js, b.streams, rows("shop", 50))
                age = "causality_sink_oldest_unconsumed_age_seconds"
                await until(lambda: _metric(sink, age) > 0, 10, "a backlog age")
                assert _metric(sink, "causality_sink_stream_max_age_seconds") == cfg.retention_s
                async with http.get(readyz) as resp:  # backed up, and still ready
                    assert resp.status == 200
                    body = await resp.json()
                assert body["status"] == "ok"
                assert body["backlog"]["stream_max_age_s"] == cfg.retention_s
                assert 0 < body["backlog"]["oldest_unconsumed_age_s"] < 60
                warned = [r for r in caplog.records if r.levelno == logging.WARNING
                          and "unread" in r.getMessage()]
                assert warned and vars(warned[0])["fields"]["durable"] == cfg.options.durable

                await publish(b.js, b.streams, rows("shop", 50, start=50))
                await until(b.settled, 20, "the backlog to be written and ACKed")
                await until(lambda: _metric(sink, age) == 0, 10, "the age gauge back at 0")
                async with http.get(readyz) as resp:
                    assert (await resp.json())["backlog"]["fraction"] == 0
                assert any("back under" in r.getMessage() for r in caplog.records)

    asyncio.run(scenario())
