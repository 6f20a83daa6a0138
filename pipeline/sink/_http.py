"""``/livez``, ``/readyz`` and ``/metrics`` of one sink process."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from pipeline.sink._metrics import Metrics


class Probe:
    """A small aiohttp server; :attr:`port` is the bound one (useful with port 0)."""

    def __init__(self, metrics: Metrics, ready: Callable[[], bool]):
        app = web.Application()
        app.router.add_get("/livez", self._livez)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        self._metrics_src = metrics
        self._ready = ready
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.port = int(self._runner.addresses[0][1])
        return self.port

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _livez(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, _request: web.Request) -> web.Response:
        ok = self._ready()
        return web.json_response({"status": "ready" if ok else "not_ready"},
                                 status=200 if ok else 503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(body=self._metrics_src.render(),
                            headers={"Content-Type": self._metrics_src.content_type})
