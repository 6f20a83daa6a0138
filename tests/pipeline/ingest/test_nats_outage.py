"""NATS stopped, frozen, and back: 503 with Retry-After at once, never a hanging request, and
recovery without a restart of the edge."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable

import nats

from pipeline.natsd import NatsServer
from tests.fixtures.nats import restart

from .support import Ingest, error_shape, track


def test_nats_stopped_mid_test_then_back(start_ingest: Callable[..., Ingest],
                                         own_nats_server: NatsServer) -> None:
    ingest = start_ingest(nats_url=own_nats_server.url, publish_timeout_s=2, retry_after_s=3)
    key = ingest.key("shop")
    assert ingest.post("/v1/batch", {"batch": [track(1)]}, key).status_code == 200
    own_nats_server.stop()

    started = time.monotonic()
    resp = ingest.post("/v1/batch", {"batch": [track(2)]}, key)
    assert time.monotonic() - started < 2 + 1  # the publish deadline, not a hang
    assert resp.status_code == 503
    assert error_shape(resp)["code"] in ("nats_unavailable", "publish_timeout")
    assert resp.headers["Retry-After"] == "3"
    ready = ingest.http.get(ingest.url + "/readyz")
    assert ready.status_code == 503 and error_shape(ready)["code"] == "nats_unavailable"
    assert ready.json()["status"] == "unavailable" and ready.headers["Retry-After"] == "3"
    assert ingest.http.get(ingest.url + "/livez").status_code == 200

    again = restart(own_nats_server)
    try:
        ingest.wait_ready()
        assert ingest.post("/v1/batch", {"batch": [track(3)]}, key).status_code == 200
        assert [r["user_id"] for r in ingest.rows()] == ["u1", "u3"]
    finally:
        again.stop()


def test_no_puback_within_the_deadline_is_503_and_the_retry_is_stored_once(
        start_ingest: Callable[..., Ingest], own_nats_server: NatsServer) -> None:
    ingest = start_ingest(nats_url=own_nats_server.url, publish_timeout_s=1)
    key = ingest.key("shop")
    body = {"batch": [track(1), track(2)]}
    assert own_nats_server.proc is not None
    pid = own_nats_server.proc.pid
    os.kill(pid, signal.SIGSTOP)  # connected, but no PubAck will come
    try:
        started = time.monotonic()
        resp = ingest.post("/v1/batch", body, key)
        assert time.monotonic() - started < 1 + 1
        assert resp.status_code == 503 and error_shape(resp)["code"] == "publish_timeout"
        assert "Retry-After" in resp.headers
    finally:
        os.kill(pid, signal.SIGCONT)
    ingest.wait_ready()
    # The frozen server stored the batch when it woke up; the SDK's retry is a duplicate.
    retry = ingest.post("/v1/batch", body, key)
    assert retry.status_code == 200
    assert {r["status"] for r in retry.json()["results"]} <= {"accepted", "duplicate"}
    assert len(ingest.rows()) == 2


def test_edge_started_before_nats_becomes_ready_when_it_arrives(
        start_ingest: Callable[..., Ingest], own_nats_server: NatsServer) -> None:
    url = own_nats_server.url
    own_nats_server.stop()
    ingest = start_ingest(nats_url=url, wait_ready=False)
    key = ingest.key("shop")
    resp = ingest.post("/v1/batch", {"batch": [track(1)]}, key)
    assert resp.status_code == 503 and error_shape(resp)["code"] == "nats_unavailable"
    again = restart(own_nats_server)
    try:
        ingest.wait_ready()
        assert ingest.post("/v1/batch", {"batch": [track(1)]}, key).status_code == 200
    finally:
        again.stop()


async def _change_stream(url: str, stream: str, *, max_msgs: int | None = None,
                         delete: bool = False) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        if delete:
            await js.delete_stream(stream)
        else:
            config = (await js.stream_info(stream)).config
            config.max_msgs = max_msgs
            await js.update_stream(config)
    finally:
        await nc.close()


def test_a_full_stream_refuses_with_503_stream_full(ingest: Ingest,
                                                    nats_server: NatsServer) -> None:
    key = ingest.key("shop")
    assert ingest.post("/v1/batch", {"batch": [track(1)]}, key).status_code == 200
    asyncio.run(_change_stream(nats_server.url, ingest.streams.events, max_msgs=1))
    resp = ingest.post("/v1/batch", {"batch": [track(2)]}, key)
    assert resp.status_code == 503 and error_shape(resp)["code"] == "stream_full"
    assert "maximum" in error_shape(resp)["message"] and resp.headers["Retry-After"]
    assert len(ingest.rows()) == 1


def test_a_deleted_stream_is_recreated_within_the_request(ingest: Ingest,
                                                           nats_server: NatsServer) -> None:
    """No responders (the stream is gone) is not answered at once: the request waits, within
    its publish deadline, for the connection task to create the stream again, and lands."""
    key, event = ingest.key("shop"), track(1)
    asyncio.run(_change_stream(nats_server.url, ingest.streams.events, delete=True))
    assert ingest.post("/v1/batch", {"batch": [event]}, key).status_code == 200
    assert ingest.post("/v1/batch", {"batch": [event]}, key).status_code == 200  # a retry
    assert [row["event_id"] for row in ingest.rows()] == [event["messageId"]]
