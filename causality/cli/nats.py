"""``causality nats``: the embedded NATS server with JetStream, in the foreground."""

from __future__ import annotations

import click

from causality.cli._app import settings_of, signal_latch


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Client port (default: nats.port setting; 0 picks a free one).")
@click.pass_context
def nats(ctx: click.Context, port: int | None) -> None:
    """Run the embedded NATS server with JetStream, storing under the data dir.

    Runs in the foreground until interrupted (Ctrl-C or SIGTERM).
    """
    from pipeline.natsd import NatsConfig, NatsServer

    s = settings_of(ctx)
    stop = signal_latch()
    server = NatsServer(NatsConfig(
        store_dir=s.nats_store_dir.resolve(), host=s.nats.host,
        port=s.nats.port if port is None else port, sync_interval=s.nats.sync_interval,
    )).start()
    click.echo(f"nats-server ready at {server.url} (JetStream store {s.nats_store_dir}, "
               f"monitoring {server.monitor_url})")
    try:
        stop.wait()
    finally:
        server.stop()


COMMANDS = (nats,)
