"""``/livez``, ``/readyz`` and ``/metrics`` of every pipeline process, in one JSON shape.

``/livez`` answers 200 ``{"status": "ok"}`` while the process runs. ``/readyz`` answers the same
while the process should be sent work (with the fields of the process's :data:`Detail`, if it
has one, such as the sink's ``backlog``), else 503 ``{"status": "unavailable", "code", "message",
"hint"}`` (the one error shape, with the status) and a ``Retry-After`` header. ``/metrics`` is
the Prometheus text format.

The ingest edge adds the routes to its own app (:meth:`Probes.install`); the sink serves them
on a port of their own (:class:`ProbeServer`); the compactor, which is not async, from a
thread (:class:`ProbeThread`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson
from aiohttp import web

from pipeline.errors import PipelineError

OK = "ok"
UNAVAILABLE = "unavailable"
STOP_TIMEOUT_S = 5.0


class NotReady(PipelineError):
    """Why ``/readyz`` answers 503; ``retry_after`` (s) is sent as the Retry-After header."""

    code = "not_ready"

    def __init__(self, message: str, *, code: str | None = None, hint: str = "",
                 retry_after: int = 1, **facts: Any):
        super().__init__(message, code=code, hint=hint, **facts)
        self.retry_after = retry_after


class Exposition(Protocol):
    """A Prometheus registry's text, as each process's metrics class renders it."""

    content_type: str

    def render(self) -> bytes: ...


#: Returns when the process is ready; raises :class:`NotReady` otherwise.
ReadyCheck = Callable[[], Awaitable[None]]
#: Extra fields of a 200 ``/readyz`` body (not ``status``); must be cheap: no I/O.
Detail = Callable[[], dict[str, Any]]


def _json(body: dict[str, Any], status: int = 200,
          headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body),
                        content_type="application/json", headers=headers)


class Probes:
    """The three handlers of one process."""

    def __init__(self, metrics: Exposition, ready: ReadyCheck, detail: Detail | None = None):
        self._metrics = metrics
        self._ready = ready
        self._detail = detail

    def install(self, app: web.Application) -> None:
        app.router.add_get("/livez", self.livez)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics)

    async def livez(self, _request: web.Request) -> web.Response:
        return _json({"status": OK})

    async def readyz(self, _request: web.Request) -> web.Response:
        try:
            await self._ready()
        except NotReady as err:
            return _json({"status": UNAVAILABLE, **err.to_dict()}, 503,
                         {"Retry-After": str(err.retry_after)})
        return _json({"status": OK, **(self._detail() if self._detail else {})})

    async def metrics(self, _request: web.Request) -> web.Response:
        return web.Response(body=self._metrics.render(),
                            headers={"Content-Type": self._metrics.content_type})


@web.middleware
async def _json_errors(request: web.Request,
                       handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                       ) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = "not_found" if exc.status == 404 else f"http_{exc.status}"
        return _json({"code": code, "message": exc.reason,
                      "hint": "use /livez, /readyz or /metrics"}, exc.status)


class ProbeServer:
    """The probes on a port of their own; :attr:`port` is the bound one (useful with port 0)."""

    def __init__(self, probes: Probes):
        app = web.Application(middlewares=[_json_errors])
        probes.install(app)
        self._runner = web.AppRunner(app, access_log=None)
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, host, port).start()
        except BaseException:
            await self._runner.cleanup()
            raise
        self.port = int(self._runner.addresses[0][1])
        return self.port

    async def stop(self) -> None:
        await self._runner.cleanup()


class ProbeThread:
    """A :class:`ProbeServer` on an event loop of its own in a daemon thread, for a process
    that is not async; listening once the constructor returns."""

    def __init__(self, probes: Probes, host: str, port: int, name: str = "probes"):
        self._loop = asyncio.new_event_loop()
        self._server = ProbeServer(probes)
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()
        try:
            bound = asyncio.run_coroutine_threadsafe(
                self._server.start(host, port), self._loop).result()
        except BaseException:
            self._halt()
            raise
        self.server_address = (host, bound)

    def shutdown(self) -> None:
        asyncio.run_coroutine_threadsafe(self._server.stop(), self._loop).result(STOP_TIMEOUT_S)
        self._halt()

    def _halt(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(STOP_TIMEOUT_S)
        if not self._thread.is_alive():
            self._loop.close()
