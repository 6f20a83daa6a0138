"""Redelivery is not failure: storage outages, stops and restarts park nothing in the DLQ; only a
message that fails for its own reasons (decode, write, or killing the sink) is dead-lettered."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import nats.js.errors
import orjson
import pytest
from moto.server import ThreadedMotoServer

from pipeline.bus import ensure_streams, stream_configs
from pipeline.natsd import NatsServer
from pipeline.sink import Outcome, Sink
from pipeline.sink._attempts import bucket_name
from pipeline.sink._consumer import consumer_config, ensure_consumer
from pipeline.sink._dlq import H_CODE, H_ERROR
from tests.fixtures.s3 import ACCESS_KEY, REGION, SECRET_KEY, S3Server
from tests.pipeline.sink._support import Bus, bus, config, options, publish, rows, running, until
from tests.pipeline.sink._support import written_ids as ids_in
from warehouse.layout import Partition
from warehouse.storage import FileInfo, S3Options, Storage, StorageError


def _metric(sink: Sink, name: str, **labels: str) -> float:
    return sink.metrics.registry.get_sample_value(name, labels) or 0.0


async def _readyz(sink: Sink) -> tuple[int, dict[str, Any]]:
    async with (aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{sink.port}/readyz") as resp):
        return resp.status, await resp.json()


async def _no_markers(b: Bus) -> bool:
    kv = await b.js.key_value(bucket_name(b.streams))
    try:
        return not await kv.keys()
    except nats.js.errors.NoKeysError:
        return True


class _S3:
    """A real S3-compatible server of the test's own that can go away and come back on the same
    port (moto keeps its buckets in the process)."""

    def __init__(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        self.host, self.port = self.server.get_host_and_port()

    def stop(self) -> None:
        self.server.stop()
        assert self.server._server is not None
        self.server._server.server_close()  # refuse connections, not just leave them hanging

    def start(self) -> None:
        self.server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self.server.start()

    def storage(self) -> Storage:
        bucket = S3Server(f"{self.host}:{self.port}").new_bucket()
        return Storage(f"s3://{bucket}/warehouse", S3Options(
            endpoint=f"http://{self.host}:{self.port}", region=REGION, access_key=ACCESS_KEY,
            secret_key=SECRET_KEY))


@pytest.fixture
def own_s3() -> Iterator[_S3]:
    s3 = _S3()
    try:
        yield s3
    finally:
        s3.server.stop()


def test_storage_outage_holds_everything_and_parks_nothing(nats_server: NatsServer,
                                                          own_s3: _S3) -> None:
    async def scenario() -> None:
        storage = own_s3.storage()
        async with bus(nats_server.url) as b:
            async with running(config(b, storage, max_deliver=1)) as (sink, _):
                first = await publish(b.js, b.streams, rows("shop", 500))
                await until(b.settled, 20, "the first events written")
                await asyncio.to_thread(own_s3.stop)
                during = await publish(b.js, b.streams, rows("shop", 1000, start=500))
                await until(lambda: _metric(sink, "causality_sink_storage_up") == 0, 30,
                            "the outage to be seen")
                status, body = await _readyz(sink)
                assert (status, body["code"]) == (503, "storage_unavailable")
                await asyncio.to_thread(own_s3.start)
                await until(b.settled, 60, "everything written once the storage is back")
                assert (await _readyz(sink))[0] == 200
                assert _metric(sink, "causality_sink_storage_outages_total") == 1
            got = ids_in(storage)
            assert sorted(got) == sorted(first + during)  # every event, exactly once
            assert await b.dlq_count() == 0

    asyncio.run(scenario())


def _break(root: Path) -> Path:
    """The warehouse directory goes away (as an unmounted volume would); a file takes its
    place, so even root cannot write under it."""
    away = root.with_name(root.name + ".away")
    os.rename(root, away)
    root.write_bytes(b"")
    return away


def test_outage_across_more_than_max_deliver_restarts_parks_nothing(
        nats_server: NatsServer, tmp_path: Path) -> None:
    max_deliver = 2

    async def scenario() -> None:
        root = tmp_path / "wh"
        storage = Storage(str(root))
        async with bus(nats_server.url) as b:
            away = _break(root)
            await ensure_streams(b.js, stream_configs(b.streams))
            ids = await publish(b.js, b.streams, [*rows("shop", 300), *rows("news", 200)])
            for _ in range(max_deliver + 2):  # each sink takes the messages, holds them, stops
                sink = Sink(config(b, storage, max_deliver=max_deliver))
                task = asyncio.create_task(sink.run())
                await until(lambda s=sink: _metric(s, "causality_sink_storage_up") == 0, 30,
                            "the sink to hold its messages through the outage")
                sink.stop()
                assert await asyncio.wait_for(task, 20) is Outcome.HANDED_BACK
            assert (await b.consumer()).num_redelivered > 0
            root.unlink()
            os.rename(away, root)
            async with running(config(b, storage, max_deliver=max_deliver)) as (sink, _):
                await until(b.settled, 30, "every message written")
                assert _metric(sink, "causality_sink_redeliveries_total") > 0
            assert sorted(ids_in(storage)) == sorted(ids)
            assert await b.dlq_count() == 0
            assert await _no_markers(b)

    asyncio.run(scenario())


class _BadAppStorage(Storage):
    """Healthy storage (its canary passes) that cannot write one app's rows."""

    def __init__(self, uri: str, bad: str, hang: threading.Event | None = None):
        super().__init__(uri)
        self.bad, self.hang = bad, hang
        self.entered = 0  # writes of the bad app begun

    def write_parquet(self, partition: Partition, table: Any, name: str,
                      row_group_rows: int = 0) -> FileInfo:
        if partition.app_id == self.bad:
            self.entered += 1
            if self.hang is not None:
                self.hang.wait(60)  # a write that never returns (the test releases it)
            raise StorageError(f"cannot write {self.bad} rows", code="write_failed")
        return super().write_parquet(partition, table, name)


def test_a_message_whose_own_write_fails_is_the_only_dead_letter(
        nats_server: NatsServer, tmp_path: Path) -> None:
    async def scenario() -> None:
        storage = _BadAppStorage(str(tmp_path / "wh"), bad="bad")
        async with bus(nats_server.url) as b:
            async with running(config(b, storage, max_deliver=2)) as (sink, _):
                good = await publish(b.js, b.streams, [*rows("shop", 100), *rows("bad", 50),
                                                      *rows("news", 100)])
                await until(b.settled, 30, "every message ACKed or dead-lettered")
                assert _metric(sink, "causality_sink_dead_letters_total",
                               code="write_failed") == 1
                assert _metric(sink, "causality_sink_storage_outages_total") == 0
            assert await b.dlq_count() == 1
            letter = await b.js.get_msg(b.dead_letters.stream, 1)
            assert (letter.headers or {})[H_CODE] == "write_failed"
            assert "cannot write bad rows" in (letter.headers or {})[H_ERROR]
            assert orjson.loads(letter.data or b"")["app_id"] == "bad"  # the original payload
            assert sorted(ids_in(storage)) == sorted(i for i in good if "-bad-" not in i)

    asyncio.run(scenario())


async def _hold_deliveries(b: Bus, n: int, ack_wait_s: float) -> None:
    """Take the next message ``n`` times without ACKing it, as a sink dying on it would."""
    sub = await b.js.pull_subscribe_bind(durable="sink", stream=b.streams.events)
    for _ in range(n):
        msgs: list[Any] = []

        async def got_one(box: list[Any] = msgs) -> bool:
            try:
                box.extend(await sub.fetch(1, timeout=0.5))
            except TimeoutError:
                return False
            return True

        await until(got_one, ack_wait_s + 5, "a (re)delivery")
    await sub.unsubscribe()


def test_a_message_delivered_past_max_deliver_is_written(nats_server: NatsServer,
                                                        tmp_path: Path) -> None:
    async def scenario() -> None:
        storage = Storage(str(tmp_path / "wh"))
        async with bus(nats_server.url) as b:
            opts = options(max_deliver=2, ack_wait_s=1.0)
            await ensure_streams(b.js, stream_configs(b.streams))
            await ensure_consumer(b.js, b.streams.events, consumer_config(opts, b.streams))
            ids = await publish(b.js, b.streams, rows("shop", 10))
            await _hold_deliveries(b, 3, opts.ack_wait_s)  # three deliveries, never ACKed
            async with running(config(b, storage, max_deliver=2, ack_wait_s=1.0)):
                await until(b.settled, 10, "the message written")
            assert sorted(ids_in(storage)) == sorted(ids)
            assert await b.dlq_count() == 0
            assert await _no_markers(b)

    asyncio.run(scenario())


def test_a_message_the_sink_dies_on_is_dead_lettered_as_crashed_sink(
        nats_server: NatsServer, tmp_path: Path) -> None:
    """Its write never returns, so each sink is cut off at the shutdown deadline: an attempt
    that never finished, like a crash. After ``max_deliver`` of them it goes to the DLQ."""
    hang = threading.Event()

    async def scenario() -> None:
        storage = _BadAppStorage(str(tmp_path / "wh"), bad="boom", hang=hang)
        async with bus(nats_server.url) as b:
            opts = options(max_deliver=2, ack_wait_s=1.0)
            await ensure_streams(b.js, stream_configs(b.streams))
            await ensure_consumer(b.js, b.streams.events, consumer_config(opts, b.streams))
            await publish(b.js, b.streams, rows("boom", 10))
            await _hold_deliveries(b, 2, opts.ack_wait_s)  # a suspect from now on
            cfg = config(b, storage, max_deliver=2, ack_wait_s=1.0, shutdown_timeout_s=1.0,
                         flush_interval_s=0.1)
            for attempt in (1, 2):  # batched with others, then alone
                sink = Sink(cfg)
                task = asyncio.create_task(sink.run())
                await until(lambda n=attempt: storage.entered == n, 20, "its write to start")
                sink.stop()
                assert await asyncio.wait_for(task, 10) is Outcome.DEADLINE
            ids = await publish(b.js, b.streams, rows("shop", 10))
            async with running(cfg):
                await until(b.settled, 20, "the dead letter, and the next message written")
            letter = await b.js.get_msg(b.dead_letters.stream, 1)
            assert (letter.headers or {})[H_CODE] == "crashed_sink"
            assert sorted(ids_in(storage)) == sorted(ids)

    try:
        asyncio.run(scenario())
    finally:
        hang.set()


def test_jetstream_advisory_backstop(nats_server: NatsServer, tmp_path: Path) -> None:
    """Should JetStream ever give up on a message (a consumer given a finite max_deliver by
    something else), the advisory it sends gets the message copied to the DLQ."""
    async def scenario() -> None:
        storage = Storage(str(tmp_path / "wh"))
        async with bus(nats_server.url) as b:
            async with running(config(b, storage)) as (sink, _):
                await publish(b.js, b.streams, rows("shop", 10))
                await until(b.settled, 10, "the message written")
                subject = (f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{b.streams.events}."
                           f"{sink.opts.durable}")
                await b.nc.publish(subject, orjson.dumps({"stream_seq": 1, "deliveries": 11}))
                await until(lambda: b.dlq_count(), 10, "the dead letter from the advisory")
            letter = await b.js.get_msg(b.dead_letters.stream, 1)
            assert (letter.headers or {})[H_CODE] == "max_deliver_exceeded"
            assert "JetStream gave up" in (letter.headers or {})[H_ERROR]
            assert letter.data and b'"rows"' in letter.data

    asyncio.run(scenario())
