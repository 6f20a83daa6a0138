"""A JetStream cluster of three real nats-server processes: streams get three replicas, a
node's kill -9 under load loses no event answered 200, and without a quorum the edge answers
503 with Retry-After until a node comes back."""

from __future__ import annotations

import asyncio
import base64
import uuid
from pathlib import Path

import aiohttp
import nats
import pytest
from pydantic import ValidationError

from pipeline.bus import Streams, ensure_streams, server_list, stream_configs
from pipeline.config import NatsSettings
from pipeline.errors import NatsServerError
from pipeline.natsd import NatsConfig
from pipeline.sink import DeadLetters
from pipeline.sink._dlq import ensure_dead_letters
from tests.fixtures.nats_cluster import Edge, NatsCluster, kill_a_node, stream_leader
from tests.pipeline.sink._support import running, until

pytestmark = pytest.mark.timeout(180)


def test_settings_take_a_server_list_routes_and_odd_replicas(tmp_path: Path) -> None:
    nats_ = NatsSettings(url="nats://a:4222, nats://b:4222,", replicas=3,
                         routes="nats-route://a:6222,nats-route://b:6222")  # type: ignore[arg-type]
    assert nats_.servers == ["nats://a:4222", "nats://b:4222"]
    assert server_list(nats_.server_url) == nats_.servers
    assert nats_.routes == ("nats-route://a:6222", "nats-route://b:6222")
    for bad in ({"replicas": 2}, {"routes": ["a:6222"]}, {"url": " , "}):
        with pytest.raises(ValidationError):
            NatsSettings(**bad)  # type: ignore[arg-type]
    node = NatsConfig(store_dir=tmp_path, cluster_name="c", cluster_port=7000,
                      routes=("nats-route://127.0.0.1:7000",))
    conf = node.render(tmp_path)
    assert f'server_name: "{node.name}"' in conf and 'listen: "127.0.0.1:7000"' in conf
    assert node.name == NatsConfig(store_dir=tmp_path, cluster_name="c").name  # stable
    with pytest.raises(NatsServerError) as err:
        NatsConfig(store_dir=tmp_path, cluster_name="c").check()
    assert err.value.code == "nats_cluster_routes"
    assert "cluster" not in NatsConfig(store_dir=tmp_path).render(tmp_path)


async def _replicas(cluster: NatsCluster, streams: Streams) -> list[tuple[int, int]]:
    """ensure_streams, then (configured replicas, peers holding a copy, 0 without a leader)
    of EVENTS, QUARANTINE and the DLQ."""
    nc = await nats.connect(cluster.urls)
    try:
        js = nc.jetstream(timeout=5)
        await ensure_streams(js, stream_configs(streams))
        dead = DeadLetters.prefixed(streams.events.removesuffix("_EVENTS"), streams.replicas)
        await ensure_dead_letters(js, dead, 3600)
        out = []
        for name in (streams.events, streams.quarantine, dead.stream):
            info = await js.stream_info(name)
            led = info.cluster is not None and info.cluster.leader in ("n0", "n1", "n2")
            peers = (1 + len(info.cluster.replicas or [])) if led and info.cluster else 0
            out.append((info.config.num_replicas or 0, peers))
        return out
    finally:
        await nc.close()


@pytest.mark.slow
def test_streams_have_three_replicas_and_scale(nats_cluster: NatsCluster) -> None:
    streams = Streams.prefixed("r" + uuid.uuid4().hex[:8], replicas=3)
    assert [r for r, _ in asyncio.run(_replicas(nats_cluster, streams))] == [3, 3, 3]

    async def scaled(to: int) -> None:  # an update scales an existing stream's copies
        async def done() -> bool:
            return await _replicas(nats_cluster, streams.with_replicas(to)) == [(to, to)] * 3
        await until(done, 30, f"{to} copies")

    asyncio.run(scaled(3))
    asyncio.run(scaled(1))
    asyncio.run(scaled(3))


@pytest.mark.slow
def test_kill_9_of_the_stream_leader_under_load_loses_no_200(
        nats_cluster: NatsCluster, tmp_path: Path) -> None:
    trial = asyncio.run(kill_a_node(nats_cluster, tmp_path, before=1000, after=1000))
    assert trial.lost == 0 and trial.duplicates == 0, trial
    assert trial.acked >= 3000 and trial.gave_up == 0, trial
    assert trial.new_leader != trial.killed
    assert set(trial.unavailable) <= {"nats_unavailable", "publish_timeout"}, trial


class _Poster:
    """One-event batches through the edge; remembers the ids answered 200."""

    def __init__(self, http: aiohttp.ClientSession, edge: Edge, key: str):
        self.http, self.edge = http, edge
        self.auth = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
        self.acked: list[str] = []
        self.answers: list[tuple[int, str | None]] = []

    async def post(self) -> int:
        event_id = f"q-{uuid.uuid4().hex}"
        body = {"batch": [{"type": "track", "event": "E", "userId": "u", "messageId": event_id}]}
        async with self.http.post(self.edge.ingest.url + "/v1/batch", json=body,
                                  headers=self.auth) as resp:
            self.answers.append((resp.status, resp.headers.get("Retry-After")))
            if resp.status == 200:
                self.acked.append(event_id)
            return resp.status


async def _no_quorum(cluster: NatsCluster, tmp: Path) -> None:
    edge = Edge(cluster, tmp, publish_timeout_s=1)
    key = await edge.start()
    try:
        async with running(edge.sink_config), aiohttp.ClientSession() as http:
            poster = _Poster(http, edge, key)
            assert await poster.post() == 200
            leader = cluster.index(await stream_leader(cluster.url, edge.streams.events))
            gone = [leader, (leader + 1) % 3]
            for i in gone:
                await asyncio.to_thread(cluster.kill, i)
            for _ in range(3):
                assert await poster.post() == 503
            assert poster.answers[1:] == [(503, "1")] * 3

            await asyncio.to_thread(cluster.restart, gone[1], False)

            async def stored() -> bool:
                return await poster.post() == 200

            await until(stored, 60, "200 once a quorum is back")
            assert {status for status, _ in poster.answers} == {200, 503}
            assert len(poster.acked) == 2
            await until(edge.settled, 60, "the sink to consume everything")
    finally:
        edge.stop()
    landed = await asyncio.to_thread(edge.warehouse_ids)
    assert [landed[i] for i in poster.acked] == [1, 1], landed


@pytest.mark.slow
def test_no_quorum_is_503_with_retry_after_then_200_when_a_node_returns(
        nats_cluster: NatsCluster, tmp_path: Path) -> None:
    asyncio.run(_no_quorum(nats_cluster, tmp_path))
