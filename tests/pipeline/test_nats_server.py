"""The real nats-server starts, JetStream stores and delivers, and a restart keeps the data."""

import asyncio
from pathlib import Path

import nats

from pipeline.natsd import NatsConfig, NatsServer
from tests.fixtures.nats import restart


async def _roundtrip(url: str, stream: str) -> list[bytes]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(name=stream, subjects=[f"{stream}.>"])
    for i in range(3):
        ack = await js.publish(f"{stream}.x", f"m{i}".encode())
        assert ack.stream == stream
    sub = await js.pull_subscribe(f"{stream}.>", durable="d")
    msgs = await sub.fetch(3, timeout=5)
    for m in msgs:
        await m.ack()
    await nc.close()
    return [m.data for m in msgs]


def test_jetstream_publish_and_pull(nats_server: NatsServer) -> None:
    assert asyncio.run(_roundtrip(nats_server.url, "FOUNDATION")) == [b"m0", b"m1", b"m2"]


async def _count(url: str, stream: str) -> int:
    nc = await nats.connect(url)
    info = await nc.jetstream().stream_info(stream)
    await nc.close()
    return int(info.state.messages)


def test_restart_on_same_port_keeps_stream(own_nats_server: NatsServer) -> None:
    asyncio.run(_roundtrip(own_nats_server.url, "KEEP"))
    own_nats_server.stop()
    again = restart(own_nats_server)
    try:
        assert again.url == own_nats_server.url
        assert asyncio.run(_count(again.url, "KEEP")) == 3
    finally:
        again.stop()


def test_the_storage_cap_is_rendered_and_the_log_may_be_inherited(tmp_path: Path) -> None:
    assert 'max_file_store: "10G"' in NatsConfig(store_dir=tmp_path).render(tmp_path)
    capped = NatsConfig(store_dir=tmp_path, max_file_store="850M")
    assert 'max_file_store: "850M"' in capped.render(tmp_path)
    assert NatsServer(capped).log_file == tmp_path / "nats-server.log"
    inherited = NatsServer(capped, log_file=None)
    assert inherited.log_file is None
    assert "output" in inherited._log_tail()
