"""``causality trino fetch|run``: a local Trino 476 over the same warehouse."""

from __future__ import annotations

from pathlib import Path

import click

from causality.cli._app import settings_of, signal_latch
from causality.errors import ConfigError


@click.group()
def trino() -> None:
    """The scale-out engine: a local Trino 476 over the same warehouse."""


@trino.command("fetch")
@click.pass_context
def trino_fetch(ctx: click.Context) -> None:
    """Fetch Trino 476 and its Hive plugin through Maven into the cache dir (once)."""
    import time

    from warehouse.trino import install_trino

    s = settings_of(ctx)
    started = time.perf_counter()
    install = install_trino(s.trino.cache_dir)
    click.echo(f"trino 476 ready in {install} ({time.perf_counter() - started:.1f} s)")


@trino.command("run")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="HTTP port (default: trino.port; 0 picks a free one).")
@click.pass_context
def trino_run(ctx: click.Context, port: int | None) -> None:
    """Run Trino over the local warehouse with the `lake` catalog, until interrupted.

    Registers the external table lake.analytics.events and its partitions at start, and
    registers new partitions every trino.sync_interval_s seconds. Queries run in resource
    groups by source: dashboard and embed keep capacity of their own while sql, chat and
    notebook share a smaller part, so an analyst's heavy scan queues instead of starving
    dashboards. Regular expressions run on RE2J, in linear time.
    """
    from warehouse.trino import TrinoServer, install_trino

    s = settings_of(ctx)
    if s.warehouse_uri.startswith("s3://"):
        raise ConfigError("causality trino run serves a local warehouse only",
                          code="trino_local_only",
                          hint="point storage.warehouse at a directory, or run your own Trino")
    stop = signal_latch()
    server = TrinoServer(Path(s.warehouse_uri), (s.data_dir / "trino").resolve(),
                         port=s.trino.port if port is None else port,
                         install=install_trino(s.trino.cache_dir)).start()
    try:
        server.register_events_table()
        click.echo(f"trino ready at {server.url} in {server.startup_s:.1f} s "
                   f"(catalog lake, schema analytics; users causality_reader, causality_admin)")
        while not stop.wait(s.trino.sync_interval_s):
            server.register_events_table()  # partitions the sink created since
    finally:
        server.stop()


COMMANDS = (trino,)
