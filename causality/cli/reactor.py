"""``causality reactor``: event rules → signed webhooks, and monitors → alerts.

``python -m causality reactor`` runs the same command.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import click

from causality.cli._app import hard_exit, settings_of
from causality.settings import Settings

EXIT_FAILED = 1
EXIT_DEADLINE = 3


def build_reactor(settings: Settings, http_port: int | None = None) -> Any:
    """The reactor from the settings (returns :class:`pipeline.reactor.Reactor`)."""
    from causality.wiring import metadata, monitor_tick, reactor_key
    from metadata import Destinations, Outbox, RuleStore
    from pipeline.bus import STREAMS
    from pipeline.reactor import Reactor, ReactorConfig

    options = settings.reactor
    if http_port is not None:
        options = options.model_copy(update={"http_port": http_port})
    db = metadata(settings)
    config = ReactorConfig(nats_url=settings.nats.server_url, options=options,
                           retention_s=settings.nats.retention_s,
                           duplicate_window_s=settings.nats.duplicate_window_s,
                           streams=STREAMS.with_replicas(settings.nats.replicas))
    return Reactor(config, RuleStore(db), Outbox(db), Destinations(db, reactor_key(settings)),
                   monitors=monitor_tick(settings, db) if options.monitors else None)


@click.command("reactor")
@click.option("--http-port", type=click.IntRange(0, 65535), default=None,
              help="Port of /livez /readyz /metrics (default: reactor.http_port; 0 picks one).")
@click.pass_context
def reactor(ctx: click.Context, http_port: int | None) -> None:
    """Evaluate event rules on JetStream EVENTS and deliver signed webhooks; evaluate monitors.

    Several reactor processes share one durable consumer (apart from the sink's) and one
    outbox in the metadata store. An event is ACKed only after its firings are recorded; every
    firing is delivered at least once, with the same webhook-id on every attempt. SIGTERM or
    Ctrl-C stops fetching and finishes in-flight deliveries within reactor.shutdown_timeout_s.
    Exit codes: 0 drained, 1 failed, 3 the shutdown deadline passed.
    """
    from pipeline.reactor import ReactorError, RunResult, configure_logging

    settings = settings_of(ctx)
    configure_logging(settings.log_level)
    worker = build_reactor(settings, http_port)

    async def run() -> Any:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        return await worker.run()

    try:
        result = asyncio.run(run())
    except ReactorError as exc:
        logging.getLogger("causality.reactor").error("reactor failed: %s (%s) %s", exc.message,
                                                     exc.code, exc.hint)
        hard_exit(EXIT_FAILED)
    except Exception:
        logging.getLogger("causality.reactor").exception("reactor crashed")
        hard_exit(EXIT_FAILED)
    if result is RunResult.FAILED:
        hard_exit(EXIT_FAILED)
    if result is RunResult.DEADLINE:
        hard_exit(EXIT_DEADLINE)



COMMANDS = (reactor,)
