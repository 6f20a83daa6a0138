"""The one probe shape of every pipeline process (pipeline.probes), pinned."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import aiohttp
import pytest
from prometheus_client import CONTENT_TYPE_LATEST

from pipeline.probes import NotReady, Probes, ProbeServer, ProbeThread


class _Metrics:
    content_type = CONTENT_TYPE_LATEST

    def render(self) -> bytes:
        return b"# a registry\nprobe_test_total 1.0\n"


class _Ready:
    def __init__(self) -> None:
        self.why: NotReady | None = NotReady("not yet", code="not_ready", hint="wait",
                                             retry_after=7)

    async def __call__(self) -> None:
        if self.why is not None:
            raise self.why


def test_livez_readyz_metrics_and_errors_in_one_shape() -> None:
    async def scenario() -> None:
        ready = _Ready()
        server = ProbeServer(Probes(_Metrics(), ready))
        port = await server.start("127.0.0.1", 0)
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(base + "/livez") as resp:
                    assert (resp.status, await resp.json()) == (200, {"status": "ok"})
                async with http.get(base + "/readyz") as resp:
                    assert resp.status == 503
                    assert resp.headers["Retry-After"] == "7"
                    assert await resp.json() == {"status": "unavailable", "code": "not_ready",
                                                 "message": "not yet", "hint": "wait"}
                ready.why = None
                async with http.get(base + "/readyz") as resp:
                    assert (resp.status, await resp.json()) == (200, {"status": "ok"})
                async with http.get(base + "/metrics") as resp:
                    assert resp.headers["Content-Type"] == CONTENT_TYPE_LATEST
                    assert "probe_test_total 1.0" in await resp.text()
                async with http.get(base + "/nope") as resp:
                    assert resp.status == 404
                    body = await resp.json()
                    assert body["code"] == "not_found" and body["message"] and body["hint"]
        finally:
            await server.stop()

    asyncio.run(scenario())


def test_probe_thread_serves_a_process_that_is_not_async() -> None:
    ready = _Ready()
    server = ProbeThread(Probes(_Metrics(), ready), "127.0.0.1", 0)
    host, port = server.server_address
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://{host}:{port}/readyz", timeout=5)
        assert refused.value.code == 503
        assert json.loads(refused.value.read())["status"] == "unavailable"
        ready.why = None
        with urllib.request.urlopen(f"http://{host}:{port}/readyz", timeout=5) as resp:
            assert json.loads(resp.read()) == {"status": "ok"}
    finally:
        server.shutdown()
    with pytest.raises(urllib.error.URLError):  # no longer listening
        urllib.request.urlopen(f"http://{host}:{port}/livez", timeout=2)


def test_a_ready_answer_carries_the_process_detail_and_a_refusal_does_not() -> None:
    async def scenario() -> None:
        ready = _Ready()
        detail = {"backlog": {"oldest_unconsumed_age_s": 12.5, "stream_max_age_s": 60.0,
                              "fraction": 0.2083}}
        server = ProbeServer(Probes(_Metrics(), ready, lambda: detail))
        port = await server.start("127.0.0.1", 0)
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    assert resp.status == 503 and "backlog" not in await resp.json()
                ready.why = None
                async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    assert (resp.status, await resp.json()) == (200, {"status": "ok", **detail})
        finally:
            await server.stop()

    asyncio.run(scenario())
