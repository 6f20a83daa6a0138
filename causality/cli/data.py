"""``causality demo-data`` (seeded events straight into the warehouse) and ``causality compact``."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path
from typing import Any

import click

from causality.cli._app import settings_of, signal_latch


@click.command("demo-data")
@click.option("--events", "n_events", type=click.IntRange(0, 1_000_000_000), default=100_000,
              show_default=True, help="How many events to generate.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Warehouse dir to write into (default: the storage.warehouse setting).")
@click.option("--seed", type=int, default=42, show_default=True, help="Random seed.")
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Last day (exclusive) of the 8 weeks of data; default today (UTC).")
@click.option("--files-per-partition", type=click.IntRange(1, 1000), default=1,
              show_default=True, help="Split each hourly partition into this many small files.")
@click.option("--summary", is_flag=True,
              help="Read the written files back with DuckDB and print events per app and type.")
@click.option("--send", is_flag=True,
              help="Send the events through the running ingest edge (ingest.host/port) as apps "
                   "would, with a new write key per app, instead of writing files: rules and "
                   "the sink see them as live events.")
@click.pass_context
def demo_data(ctx: click.Context, n_events: int, out: Path | None, seed: int,
              end: Any, files_per_partition: int, summary: bool, send: bool) -> None:
    """Write seeded demo events straight into the warehouse layout (tests, benchmarks), or
    send them through the ingest edge (--send)."""
    import time

    if send:
        from causality.demo_loader import send_demo

        if out is not None or end is not None or files_per_partition != 1 or summary:
            raise click.UsageError("--send goes through ingest: leave out --out, --end, "
                                   "--files-per-partition and --summary")
        started = time.perf_counter()
        sent = send_demo(settings_of(ctx), n_events, seed, label="causality demo-data --send")
        click.echo(f"sent {sent:,} events through ingest in {time.perf_counter() - started:.1f} s")
        return
    from warehouse.demo import generate_and_write

    target = out or Path(settings_of(ctx).warehouse_uri)
    end_day: date | None = end.date() if end is not None else None
    started = time.perf_counter()
    result = generate_and_write(n_events, target, seed=seed, end=end_day,
                                files_per_partition=files_per_partition)
    took = time.perf_counter() - started
    click.echo(f"wrote {result.events:,} events of {result.users:,} users in "
               f"{result.files:,} files under {target} in {took:.1f} s "
               f"({result.start:%Y-%m-%d} .. {result.end:%Y-%m-%d})")
    if summary:
        from warehouse.demo import read_back_summary

        click.echo(read_back_summary(target))


@click.command()
@click.option("--once", is_flag=True, help="Compact what is due now, then exit.")
@click.option("--grace-s", type=click.FloatRange(0), default=None,
              help="Override compactor.grace_s: how long after its hour a partition is closed.")
@click.pass_context
def compact(ctx: click.Context, once: bool, grace_s: float | None) -> None:
    """Merge closed partitions into large, sorted, de-duplicated Parquet files.

    Without --once it runs every compactor.interval_s seconds until SIGTERM or Ctrl-C.
    """
    from causality.wiring import storage, trino_partition_sync
    from pipeline.compactor import CompactionPolicy, run_forever, run_once

    s = settings_of(ctx)
    policy = CompactionPolicy(
        grace_s=s.compactor.grace_s if grace_s is None else grace_s,
        target_bytes=s.compactor.target_mb * 1024 * 1024,
    )
    store = storage(s)
    sync = trino_partition_sync(s)
    if once:
        result = run_once(store, policy)
        if sync is not None:
            sync()
        click.echo(f"compacted {len(result.partitions)} partitions: {result.files_removed} files "
                   f"-> {sum(p.files_out for p in result.partitions)}, {result.rows:,} rows, "
                   f"{sum(p.duplicates for p in result.partitions):,} duplicates removed, "
                   f"in {result.seconds:.1f} s")
        return
    from pipeline.compactor_http import CompactorMetrics, serve

    stop = signal_latch()
    metrics, ready = CompactorMetrics(s.compactor.interval_s), threading.Event()
    server = serve(metrics, s.compactor.http_host, s.compactor.http_port, ready)

    def observed(result: Any) -> None:
        metrics.observe(result)
        ready.set()

    host, port = server.server_address[:2]
    click.echo(f"compactor running every {s.compactor.interval_s:g} s over {store.uri}; "
               f"http://{host!s}:{port}/metrics")
    try:
        run_forever(store, policy, s.compactor.interval_s, stop, after_run=sync,
                    on_result=observed, on_failure=metrics.failed)
    finally:
        server.shutdown()


COMMANDS = (demo_data, compact)
