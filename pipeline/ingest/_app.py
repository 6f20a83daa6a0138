"""The aiohttp application: routes, the error middleware, and the ingest steps in order.

A request to ``/v1/batch`` or ``/v1/<type>`` runs :data:`STEPS` one after another: refuse while
draining, authenticate, read the body, decode, check the app, rate-limit, validate, publish.
Any step raises an :class:`IngestError`; the middleware turns it (and aiohttp's own 404/405,
and anything unexpected as a logged 500) into the one JSON error shape.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from metadata import ApiKey, KeyStore, open_db
from pipeline.bus import STREAMS, Streams, batch_id, stream_configs
from pipeline.config import IngestProcessSettings, IngestSettings
from pipeline.ingest._auth import KeyCache, header_key
from pipeline.ingest._body import read_body
from pipeline.ingest._errors import (
    BadRequest,
    Forbidden,
    IngestError,
    Internal,
    TooLarge,
    Unavailable,
)
from pipeline.ingest._events import (
    INVALID,
    Events,
    Fields,
    Outcome,
    decode_batch,
    decode_single,
    parse_sent_at,
    validate,
)
from pipeline.ingest._metrics import Metrics
from pipeline.ingest._openapi import SINGLE_TYPES, openapi_document
from pipeline.ingest._publish import Publisher
from pipeline.ingest._ratelimit import RateLimiter
from pipeline.probes import NotReady, Probes

log = logging.getLogger("causality.ingest")

APP_HEADER = "X-Causality-App"
READY_CHECK_TTL_S = 0.5
_CORS = {"Access-Control-Allow-Origin": "*"}
_PREFLIGHT = {
    **_CORS,
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Content-Encoding, "
                                    + APP_HEADER,
    "Access-Control-Max-Age": "86400",
}


@dataclass
class IngestState:
    settings: IngestSettings
    streams: Streams
    keys: KeyCache
    limiter: RateLimiter
    publisher: Publisher
    metrics: Metrics
    draining: bool = False  # /readyz answers 503
    closing: bool = False  # ingest requests answer 503
    openapi: bytes = b""
    _ready_at: float = field(default=0.0)
    _metrics_task: asyncio.Task[None] | None = None


STATE = web.AppKey("ingest_state", IngestState)


@dataclass
class Request:
    """What the steps learn about one ingest request, in order."""

    http: web.Request
    kind: str | None  # None for /v1/batch, else the single call's type
    received_at_us: int
    key: ApiKey | None = None
    events: Events = field(default_factory=lambda: Events(b""))
    fields: Fields = field(default_factory=Fields)
    outcome: Outcome = field(default_factory=Outcome)


def create_app(settings: IngestProcessSettings, streams: Streams = STREAMS,
               key_store: KeyStore | None = None) -> web.Application:
    """The edge as an aiohttp app; NATS is connected on startup, drained on cleanup."""
    cfg = settings.ingest
    metrics = Metrics()
    streams = streams.with_replicas(settings.nats.replicas)
    publisher = Publisher(
        settings.nats.server_url, streams,
        stream_configs(streams, settings.nats.retention_s, settings.nats.duplicate_window_s),
        timeout_s=cfg.publish_timeout_s, max_in_flight=cfg.max_in_flight,
        retry_after_s=cfg.retry_after_s, metrics=metrics)
    store = key_store or KeyStore(open_db(settings.metadata_db_url))
    state = IngestState(
        settings=cfg, streams=streams, metrics=metrics, publisher=publisher,
        keys=KeyCache(store, cfg.key_cache_ttl_s, cfg.key_negative_ttl_s,
                      retry_after_s=cfg.retry_after_s),
        limiter=RateLimiter(cfg.rate_limit_events_per_s, cfg.rate_limit_burst),
        openapi=orjson.dumps(openapi_document()),
    )
    app = web.Application(middlewares=[_edge])
    app[STATE] = state
    app.router.add_post("/v1/batch", _batch)
    app.router.add_route("OPTIONS", "/v1/batch", _preflight)
    for kind in SINGLE_TYPES:
        app.router.add_post(f"/v1/{kind}", _single)
        app.router.add_route("OPTIONS", f"/v1/{kind}", _preflight)
    Probes(metrics, functools.partial(_check_ready, state)).install(app)
    app.router.add_get("/openapi.json", _openapi)
    app.on_startup.append(_startup)
    app.on_shutdown.append(_shutdown)
    app.on_cleanup.append(_cleanup)
    return app


async def _startup(app: web.Application) -> None:
    state = app[STATE]
    state._metrics_task = asyncio.create_task(state.metrics.flush_every(), name="metrics")
    await state.publisher.start()


async def _shutdown(app: web.Application) -> None:
    app[STATE].draining = app[STATE].closing = True


async def _cleanup(app: web.Application) -> None:
    state = app[STATE]
    await state.publisher.close()
    if state._metrics_task is not None:
        state._metrics_task.cancel()
        await asyncio.gather(state._metrics_task, return_exceptions=True)


# -- the ingest steps ---------------------------------------------------------------------


async def refuse_when_closing(state: IngestState, req: Request) -> None:
    if state.closing:
        raise Unavailable("the server is shutting down", code="draining", retry_after=1,
                          hint="retry; another instance or the restarted one will answer")


async def authenticate_header(state: IngestState, req: Request) -> None:
    """A key in the Authorization header is checked before the body is read."""
    plain = header_key(req.http)
    if plain is not None:
        req.key = await state.keys.verify(plain)


async def read(state: IngestState, req: Request) -> None:
    cfg = state.settings
    body = await read_body(req.http, cfg.max_batch_bytes, cfg.body_timeout_s)
    req.events, req.fields = decode_batch(body) if req.kind is None else decode_single(body)


async def authenticate_body(state: IngestState, req: Request) -> None:
    if req.key is None:
        req.key = await state.keys.verify(req.fields.write_key)


async def check_app(state: IngestState, req: Request) -> None:
    assert req.key is not None
    claimed = req.http.headers.get(APP_HEADER) or req.fields.app_id
    if claimed is not None and claimed != req.key.app_id:
        raise Forbidden(f"the write key belongs to app {req.key.app_id!r}, not {claimed!r}",
                        code="wrong_app", hint="use the write key of the app the events are for")


async def rate_limit(state: IngestState, req: Request) -> None:
    assert req.key is not None
    state.limiter.take(req.key.key_id, len(req.events))


async def validate_events(state: IngestState, req: Request) -> None:
    assert req.key is not None
    sent_at = req.fields.sent_at
    sent_at_us = parse_sent_at(sent_at) if sent_at is not None else None
    req.outcome = validate(req.events, req.key.app_id, req.received_at_us, sent_at_us,
                           state.settings.max_event_bytes, req.kind)
    rejected = req.outcome.quarantined
    if req.kind is not None and rejected and rejected[0].code == "event_too_large":
        raise TooLarge(rejected[0].message, code="event_too_large", hint=rejected[0].hint,
                       limit=state.settings.max_event_bytes)


async def publish(state: IngestState, req: Request) -> None:
    """Rows to EVENTS and rejections to QUARANTINE, concurrently; both PubAcks awaited."""
    assert req.key is not None
    app_id, outcome = req.key.app_id, req.outcome
    publishing: list[Coroutine[Any, Any, bool | None]] = []
    if outcome.rows:
        bid = batch_id(app_id, (row["event_id"] for row in outcome.rows))
        publishing.append(state.publisher.publish_rows(app_id, bid, outcome.rows))
    if outcome.quarantined:
        publishing.append(state.publisher.publish_quarantine(app_id, req.received_at_us,
                                                             outcome.quarantined))
    # One publish is the usual case: awaited as it is (gather would make a task of it).
    acks = [await publishing[0]] if len(publishing) == 1 else await asyncio.gather(*publishing)
    if outcome.rows and acks[0]:
        outcome.mark_all_duplicate()


STEPS = (refuse_when_closing, authenticate_header, read, authenticate_body, check_app,
         rate_limit, validate_events, publish)


async def _run(http: web.Request, kind: str | None) -> web.Response:
    state = http.app[STATE]
    req = Request(http, kind, time.time_ns() // 1000)
    for step in STEPS:
        await step(state, req)
    assert req.key is not None
    outcome = req.outcome
    _count(state.metrics, req.key.app_id, outcome)
    if kind is not None and outcome.quarantined:
        rejected = outcome.quarantined[0]
        raise BadRequest(f"the event is invalid: {rejected.message}", code="invalid_event",
                         hint=rejected.hint, reason=rejected.code)
    body = orjson.dumps({"success": True, "results": outcome.results})
    return web.Response(body=body, content_type="application/json", headers=_CORS)


def _count(metrics: Metrics, app_id: str, outcome: Outcome) -> None:
    invalid = len(outcome.quarantined)
    accepted = len(outcome.results) - invalid - outcome.duplicates
    for status, n in (("accepted", accepted), ("duplicate", outcome.duplicates),
                      (INVALID, invalid)):
        if n:
            metrics.count(metrics.events, (app_id, status), n)


async def _batch(request: web.Request) -> web.Response:
    return await _run(request, None)


async def _single(request: web.Request) -> web.Response:
    return await _run(request, request.path.rsplit("/", 1)[1])


async def _preflight(request: web.Request) -> web.Response:
    return web.Response(status=204, headers=_PREFLIGHT)


# -- operations ---------------------------------------------------------------------------


async def _check_ready(state: IngestState) -> None:
    """``/readyz``: not draining, connected, the stream reachable (see :mod:`pipeline.probes`)."""
    if state.draining:
        raise NotReady("the server is shutting down", code="draining", retry_after=1,
                       hint="send to another instance")
    publisher = state.publisher
    if not publisher.ready or publisher.js is None:
        raise NotReady("not connected to NATS, or the streams are not confirmed",
                       code="nats_unavailable", retry_after=state.settings.retry_after_s,
                       hint="check that nats-server runs at nats.url")
    if time.monotonic() > state._ready_at:  # a live look at the stream, at most twice a second
        try:
            async with asyncio.timeout(1.0):
                await publisher.js.stream_info(state.streams.events)
        except Exception:  # any nats failure means: not ready
            raise NotReady(f"stream {state.streams.events} is not reachable",
                           code="nats_unavailable", retry_after=state.settings.retry_after_s,
                           hint="check the JetStream server and its storage") from None
        state._ready_at = time.monotonic() + READY_CHECK_TTL_S


async def _openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[STATE].openapi, content_type="application/json")


# -- errors -------------------------------------------------------------------------------

_AIOHTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "batch_too_large"}


def error_response(err: IngestError, status: int,
                   headers: dict[str, str] | None = None) -> web.Response:
    out = {**_CORS, **(headers or {})}
    if err.retry_after is not None:
        out["Retry-After"] = str(err.retry_after)
    return web.Response(status=status, body=orjson.dumps(err.to_dict(), default=str),
                        content_type="application/json", headers=out)


def _from_aiohttp(exc: web.HTTPException) -> web.Response:
    code = _AIOHTTP_CODES.get(exc.status, f"http_{exc.status}")
    err = IngestError(exc.reason, code=code, hint={
        404: "see /openapi.json for the endpoints",
        405: "see /openapi.json for the methods of each endpoint",
    }.get(exc.status, ""))
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    return error_response(err, exc.status, headers)


@web.middleware
async def _edge(request: web.Request,
                handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                ) -> web.StreamResponse:
    state = request.app[STATE]
    metrics = state.metrics
    started = time.perf_counter()
    metrics.in_flight += 1
    try:
        response = await handler(request)
    except IngestError as err:
        response = error_response(err, err.status)
        if err.status >= 500 and request.path.startswith("/v1/"):
            log.warning("request refused", extra={"fields": {**err.to_dict(),
                                                             "path": request.path}})
    except web.HTTPException as exc:
        response = _from_aiohttp(exc)
    except Exception:
        log.exception("unexpected error", extra={"fields": {"path": request.path}})
        response = error_response(Internal("an unexpected error occurred; it was logged",
                                           code="internal_error",
                                           hint="retry later; report it if it persists"), 500)
    finally:
        metrics.in_flight -= 1
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    metrics.count(metrics.requests, (route, str(response.status)))
    metrics.observe(metrics.request_seconds, (route,), time.perf_counter() - started)
    return response
