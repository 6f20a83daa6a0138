"""Run the edge: one process, or N worker processes sharing one port through SO_REUSEPORT.

Shutdown (SIGTERM or SIGINT): ``/readyz`` turns 503 at once while requests are still served for
``ingest.drain_delay_s``; then the listener closes, requests in flight finish (their PubAcks are
awaited), NATS is drained, and the process exits, all within ``ingest.shutdown_timeout_s``.
With workers, the supervisor forwards the signal and kills a worker that outlives the deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web

from pipeline.bus import STREAMS, Streams
from pipeline.config import IngestConfig, IngestProcessSettings
from pipeline.errors import PipelineError
from pipeline.ingest._app import STATE, create_app
from pipeline.ingest._metrics import MULTIPROC_ENV
from pipeline.logs import configure_logging

log = logging.getLogger("causality.ingest")

NATS_DRAIN_S = 2.0  # of the shutdown deadline, kept for draining NATS after the requests
EXIT_MARGIN_S = 0.5  # of the shutdown deadline, kept for the process to exit
WORKER_START_S = 30.0
ORPHAN_CHECK_S = 0.5
BACKLOG = 1024


async def _collect_garbage(interval_s: float) -> None:
    """The cyclic garbage collector, run every ``interval_s`` while automatic runs are off."""
    while True:
        await asyncio.sleep(interval_s)
        gc.collect()


def run(settings: IngestProcessSettings, streams: Streams = STREAMS,
        announce: Callable[[str], None] = print) -> None:
    """Serve until SIGTERM/SIGINT; ``announce(url)`` once every process listens."""
    if settings.ingest.workers == 1:
        _run_loop(serve(settings, streams, announce=announce))
    else:
        _supervise(settings, streams, announce)


async def serve(settings: IngestProcessSettings, streams: Streams = STREAMS, *,
                port: int | None = None, reuse_port: bool = False,
                announce: Callable[[str], None] = print,
                stop: asyncio.Event | None = None, install_signals: bool = True,
                parent_pid: int | None = None) -> None:
    """One server process (or thread, for tests: pass ``stop`` and ``install_signals=False``).

    ``parent_pid``: a worker stops by itself when its supervisor is gone (even SIGKILLed).
    """
    cfg = settings.ingest
    app = create_app(settings, streams)
    runner = web.AppRunner(
        app, handle_signals=False, access_log=None, auto_decompress=False,
        shutdown_timeout=max(
            cfg.shutdown_timeout_s - cfg.drain_delay_s - NATS_DRAIN_S - EXIT_MARGIN_S, 0.1))
    await runner.setup()
    site = web.TCPSite(runner, cfg.host, cfg.port if port is None else port,
                       reuse_port=reuse_port or None, backlog=BACKLOG)
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        raise PipelineError(f"cannot listen on {cfg.host}:{cfg.port}: {err.strerror}",
                            code="ingest_port_busy",
                            hint="pick another ingest.port (CAUSALITY_INGEST_PORT)") from None
    stop = stop or asyncio.Event()
    if install_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    orphan_watch = asyncio.create_task(_watch_parent(parent_pid, stop)) if parent_pid else None
    collector = None
    if install_signals:  # a process of its own: what exists now lives as long as it does, so
        gc.collect()  # keep the collector's full passes off it (shorter pauses, better p99)
        gc.freeze()
        # Requests allocate a lot and leave few cycles: collecting on a timer instead of
        # every 700 allocations gave 52.8k vs 44.5k events/s (median of 4 interleaved runs).
        gc.disable()
        collector = asyncio.create_task(_collect_garbage(cfg.gc_interval_s))
    host, bound = runner.addresses[0][:2]
    log.info("ingest listening", extra={"fields": {"url": f"http://{host}:{bound}"}})
    announce(f"http://{host}:{bound}")
    await stop.wait()
    if orphan_watch is not None:
        orphan_watch.cancel()
    if collector is not None:
        collector.cancel()
        gc.enable()
    log.info("draining", extra={"fields": {"deadline_s": cfg.shutdown_timeout_s,
                                           "delay_s": cfg.drain_delay_s}})
    if install_signals:  # a process of its own: the deadline holds even if cleanup hangs
        watchdog = threading.Timer(cfg.shutdown_timeout_s, _hard_exit)
        watchdog.daemon = True
        watchdog.start()
    state = app[STATE]
    state.draining = True
    try:
        async with asyncio.timeout(max(cfg.shutdown_timeout_s - EXIT_MARGIN_S, 0.1)):
            await asyncio.sleep(cfg.drain_delay_s)
            state.closing = True
            await runner.cleanup()
    except TimeoutError:
        log.error("shutdown deadline passed with work in flight")
    log.info("stopped")


async def _watch_parent(parent_pid: int, stop: asyncio.Event) -> None:
    while os.getppid() == parent_pid:
        await asyncio.sleep(ORPHAN_CHECK_S)
    log.error("the supervisor is gone; stopping")
    stop.set()


def _hard_exit() -> None:
    log.error("shutdown deadline passed; exiting now")
    logging.shutdown()
    os._exit(3)


# -- several workers ----------------------------------------------------------------------


def _worker(settings_data: dict[str, Any], streams: Streams, port: int, ready: Any,
            parent_pid: int) -> None:  # ready: a multiprocessing.Queue
    settings = IngestConfig(**settings_data)
    configure_logging(settings.log_level)
    _run_loop(serve(settings, streams, port=port, reuse_port=True, announce=ready.put,
                    parent_pid=parent_pid))


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run`` on uvloop, which the pipeline extra installs where it exists (not on
    Windows): about 15 % less CPU per request than the default loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def _supervise(settings: IngestProcessSettings, streams: Streams,
               announce: Callable[[str], None]) -> None:
    cfg = settings.ingest
    # Hold the port (bound, not listening) so port 0 means one port for every worker.
    holder = socket.socket(socket.AF_INET6 if ":" in cfg.host else socket.AF_INET)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        holder.bind((cfg.host, cfg.port))
    except OSError as err:
        holder.close()
        raise PipelineError(f"cannot bind {cfg.host}:{cfg.port}: {err.strerror}",
                            code="ingest_port_busy",
                            hint="pick another ingest.port (CAUSALITY_INGEST_PORT)") from None
    port = holder.getsockname()[1]
    metrics_dir = tempfile.mkdtemp(prefix="causality-ingest-metrics-")
    os.environ[MULTIPROC_ENV] = metrics_dir
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda _s, _f: stop.set())
                for sig in (signal.SIGTERM, signal.SIGINT)}
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Queue()
    data = IngestConfig.of(settings).model_dump()
    procs = [ctx.Process(target=_worker, args=(data, streams, port, ready, os.getpid()),
                         name=f"ingest-{i}")
             for i in range(cfg.workers)]
    try:
        for proc in procs:
            proc.start()
        urls = [_await_ready(ready, procs) for _ in procs]
        holder.close()
        announce(f"{urls[0]} ({cfg.workers} workers)")
        while not stop.wait(0.2):
            if any(not p.is_alive() for p in procs):
                log.error("a worker exited; stopping the others")
                break
    finally:
        holder.close()
        for proc in procs:
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.join(cfg.shutdown_timeout_s + 1)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _await_ready(ready: Any, procs: list[Any]) -> str:
    for _ in range(int(WORKER_START_S / 0.2)):
        with contextlib.suppress(Exception):  # queue.Empty
            url: str = ready.get(timeout=0.2)
            return url
        if any(not p.is_alive() for p in procs):
            break
    raise PipelineError("an ingest worker did not start", code="ingest_worker_failed",
                        hint="see the worker's log lines above")
