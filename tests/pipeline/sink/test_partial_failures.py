"""Partial failures: a flush that wrote some partitions, an ACK that fails, a write that hangs,
a stop in the middle of it all. Nothing is written twice, nothing is held for ever, and an
orderly stop leaves no crash behind."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import nats.errors
import nats.js.errors
import pytest
from nats.aio.msg import Msg
from nats.js.api import KeyValueConfig

from pipeline.bus import ensure_streams, stream_configs
from pipeline.natsd import NatsServer
from pipeline.sink import Outcome, Sink
from pipeline.sink._attempts import bucket_name
from pipeline.sink._consumer import consumer_config, ensure_consumer
from tests.pipeline.sink._support import Bus, bus, config, options, publish, rows, running, until
from tests.pipeline.sink._support import written_ids as ids_in
from tests.pipeline.sink.test_redelivery import _break, _hold_deliveries, _metric, _no_markers
from warehouse.layout import Partition
from warehouse.storage import FileInfo, Storage, StorageError

HOUR_US = 3_600_000_000


async def _markers(b: Bus) -> list[str]:
    try:
        kv = await b.js.key_value(bucket_name(b.streams))
        return list(await kv.keys())
    except (nats.js.errors.NoKeysError, nats.js.errors.BucketNotFoundError):
        return []


class _FailOnce(Storage):
    """Healthy storage (the canary passes) whose first write of one hour fails."""

    def __init__(self, uri: str, hour: str):
        super().__init__(uri)
        self.hour, self.failed = hour, 0

    def write_parquet(self, partition: Partition, table: Any, name: str,
                      row_group_rows: int = 0) -> FileInfo:
        if partition.hour == self.hour and not self.failed:
            self.failed += 1
            raise StorageError(f"cannot write hour {self.hour}", code="write_failed")
        return super().write_parquet(partition, table, name)


def test_a_message_written_alone_skips_what_the_batch_wrote(nats_server: NatsServer,
                                                          tmp_path: Path) -> None:
    """The batch writes hour 16 and fails on hour 17: each message is then written alone, only
    its hour-17 rows, and only those the batch kept (not the ones it dropped as duplicates)."""
    async def scenario() -> None:
        storage = _FailOnce(str(tmp_path / "wh"), hour="17")
        async with bus(nats_server.url) as b:
            await ensure_streams(b.js, stream_configs(b.streams))
            spread = HOUR_US // 25  # rows 0-24 in hour 16, 25-49 in hour 17
            first = rows("shop", 50, spread_us=spread)
            second = [*rows("shop", 10, start=25, spread_us=spread),  # already in `first`
                      *rows("shop", 5, start=35, tag="n", spread_us=spread)]
            await publish(b.js, b.streams, first)
            await publish(b.js, b.streams, second)
            async with running(config(b, storage)) as (sink, _):
                await until(b.settled, 20, "both messages written and ACKed")
                assert storage.failed == 1
                assert _metric(sink, "causality_sink_isolated_writes_total") == 2
            got = ids_in(storage)
            assert sorted(got) == sorted({r["event_id"] for r in [*first, *second]})
            assert await b.dlq_count() == 0

    asyncio.run(scenario())


def test_a_message_whose_ack_fails_is_redelivered_not_held(
        nats_server: NatsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ACK can fail on the client side (a reconnect, a full buffer); the server is real."""
    real_ack = Msg.ack
    failed: list[int] = []

    async def ack_failing_once(msg: Msg) -> None:
        if not failed:
            failed.append(msg.metadata.sequence.stream)
            raise nats.errors.ConnectionReconnectingError
        await real_ack(msg)

    monkeypatch.setattr(Msg, "ack", ack_failing_once)

    async def scenario() -> None:
        storage = Storage(str(tmp_path / "wh"))
        async with bus(nats_server.url) as b:
            async with running(config(b, storage)) as (sink, _):
                ids = await publish(b.js, b.streams, rows("shop", 100))
                await until(b.settled, 20, "the message redelivered after its failed ACK")
                assert failed
                assert not sink._inflight.held
                assert _metric(sink, "causality_sink_redeliveries_total") >= 1
            assert sorted(ids_in(storage)) == sorted(ids)  # the redelivery wrote nothing

    asyncio.run(scenario())


class _Apps(Storage):
    """Healthy storage: writes of ``fail`` apps fail at once, writes of ``hang`` apps wait for
    ``release`` (then fail)."""

    def __init__(self, uri: str, fail: str = "", hang: str = ""):
        super().__init__(uri)
        self.fail, self.hang = fail, hang
        self.release = threading.Event()
        self.hanging = 0

    def write_parquet(self, partition: Partition, table: Any, name: str,
                      row_group_rows: int = 0) -> FileInfo:
        if partition.app_id == self.fail:
            raise StorageError(f"cannot write {self.fail} rows", code="write_failed")
        if partition.app_id == self.hang:
            self.hanging += 1
            self.release.wait(60)
            raise StorageError("released", code="write_failed")
        return super().write_parquet(partition, table, name)


def test_a_stop_at_the_deadline_leaves_no_marker_of_an_innocent_message(
        nats_server: NatsServer, tmp_path: Path) -> None:
    """A suspect held while another app's write hangs, the sink cut off at the deadline: the
    process lived, so its marker goes (a marker counts a crash, not a stop)."""
    storage = _Apps(str(tmp_path / "wh"), fail="fail", hang="boom")

    async def scenario() -> None:
        async with bus(nats_server.url) as b:
            opts = options(max_deliver=2, ack_wait_s=1.0)
            await ensure_streams(b.js, stream_configs(b.streams))
            await ensure_consumer(b.js, b.streams.events, consumer_config(opts, b.streams))
            await publish(b.js, b.streams, rows("fail", 10))
            await _hold_deliveries(b, 3, opts.ack_wait_s)  # a suspect from now on
            await publish(b.js, b.streams, rows("boom", 10))
            sink = Sink(config(b, storage, max_deliver=2, ack_wait_s=1.0,
                               shutdown_timeout_s=1.5))
            task = asyncio.create_task(sink.run())
            await until(lambda: storage.hanging >= 1, 20, "the boom write to hang")
            await until(lambda: _markers(b), 20, "the suspect to be marked")
            sink.stop()
            assert await asyncio.wait_for(task, 10) is Outcome.DEADLINE
            assert await _no_markers(b)
            assert await b.dlq_count() == 0

    try:
        asyncio.run(scenario())
    finally:
        storage.release.set()


def test_an_attempts_bucket_made_with_another_retention_is_used(nats_server: NatsServer,
                                                                tmp_path: Path) -> None:
    async def scenario() -> None:
        root = tmp_path / "wh"
        storage = Storage(str(root))
        async with bus(nats_server.url) as b:
            bucket = bucket_name(b.streams)
            await b.js.create_key_value(KeyValueConfig(bucket=bucket, history=1, ttl=60))
            opts = options(max_deliver=2, ack_wait_s=1.0)
            await ensure_streams(b.js, stream_configs(b.streams))
            await ensure_consumer(b.js, b.streams.events, consumer_config(opts, b.streams))
            await publish(b.js, b.streams, rows("shop", 10))
            await _hold_deliveries(b, 3, opts.ack_wait_s)  # a suspect from now on
            _break(root)  # held through an outage: the marker stays while it is
            cfg = config(b, storage, max_deliver=2, ack_wait_s=1.0)
            sink = Sink(cfg)
            task = asyncio.create_task(sink.run())
            await until(lambda: _metric(sink, "causality_sink_storage_up") == 0, 30,
                        "the sink to hold the suspect through the outage")
            await until(lambda: _markers(b), 10, "the suspect's marker")
            assert await _markers(b) == ["sink.1"]
            info = await b.js.stream_info(f"KV_{bucket}")
            assert info.config.max_age == cfg.retention_s  # the bucket took this sink's config
            sink.stop()
            assert await asyncio.wait_for(task, 20) is Outcome.HANDED_BACK
            assert await _no_markers(b)

    asyncio.run(scenario())


class _Slow(Storage):
    """The first write of ``app`` waits for ``release``, then succeeds."""

    def __init__(self, uri: str, app: str):
        super().__init__(uri)
        self.app = app
        self.release = threading.Event()
        self.started = self.finished = 0

    def write_parquet(self, partition: Partition, table: Any, name: str,
                      row_group_rows: int = 0) -> FileInfo:
        self.started += 1
        try:
            if partition.app_id == self.app and self.started == 1:
                self.release.wait(60)
            return super().write_parquet(partition, table, name)
        finally:
            self.finished += 1


def test_a_write_past_flush_timeout_is_waited_for_not_written_again(
        nats_server: NatsServer, tmp_path: Path) -> None:
    storage = _Slow(str(tmp_path / "wh"), app="shop")

    async def scenario() -> None:
        async with bus(nats_server.url) as b:
            async with running(config(b, storage, flush_timeout_s=0.5, max_deliver=1)) as (
                    sink, _):
                ids = await publish(b.js, b.streams, rows("shop", 50))
                await until(lambda: _metric(sink, "causality_sink_storage_up") == 0, 20,
                            "the timeout to count as an outage")
                storage.release.set()
                await until(b.settled, 20, "the late write to count")
                await until(lambda: storage.finished == storage.started, 10, "all writes done")
                assert storage.started == 1  # never written again
                assert _metric(sink, "causality_sink_storage_up") == 1
            assert sorted(ids_in(storage)) == sorted(ids)
            assert await b.dlq_count() == 0

    try:
        asyncio.run(scenario())
    finally:
        storage.release.set()


class _Hanging(Storage):
    """Storage that hangs while ``up`` is clear: writes and canaries wait for it, then fail."""

    def __init__(self, uri: str):
        super().__init__(uri)
        self.up = threading.Event()
        self.up.set()
        self.blocked = 0  # writes begun while down

    def write_parquet(self, partition: Partition, table: Any, name: str,
                      row_group_rows: int = 0) -> FileInfo:
        if not self.up.is_set():
            self.blocked += 1
            self.up.wait(60)
            raise StorageError("the storage hung", code="write_failed")
        return super().write_parquet(partition, table, name)

    def probe(self, name: str) -> None:
        if not self.up.is_set():
            self.up.wait(60)
            raise StorageError("the storage hung", code="storage_unavailable")
        super().probe(name)


def test_a_stop_during_a_hanging_outage_hands_back_at_once(nats_server: NatsServer,
                                                          tmp_path: Path) -> None:
    storage = _Hanging(str(tmp_path / "wh"))

    async def scenario() -> None:
        async with bus(nats_server.url) as b:
            cfg = config(b, storage, flush_timeout_s=0.5, shutdown_timeout_s=5.0)
            sink = Sink(cfg)
            task = asyncio.create_task(sink.run())
            await until(sink.ready.is_set, 20, "ready")
            ids = await publish(b.js, b.streams, rows("shop", 100))
            await until(b.settled, 20, "the first events written")
            storage.up.clear()
            ids += await publish(b.js, b.streams, rows("shop", 200, start=100))
            await until(lambda: _metric(sink, "causality_sink_storage_up") == 0, 20,
                        "the hanging writes to count as an outage")
            blocked = storage.blocked
            ids += await publish(b.js, b.streams, rows("shop", 100, start=300))
            sink.stop()
            assert await asyncio.wait_for(task, 20) is Outcome.HANDED_BACK
            assert storage.blocked == blocked  # nothing more written once down and stopping
            storage.up.set()
            async with running(cfg):
                await until(b.settled, 20, "everything written by the next sink")
            assert sorted(ids_in(storage)) == sorted(ids)
            assert await b.dlq_count() == 0

    try:
        asyncio.run(scenario())
    finally:
        storage.up.set()
