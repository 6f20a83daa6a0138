"""The ``causality`` command line. Every registered command works; each has ``--help``."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import click

from causality import __version__
from causality.errors import CausalityError, ConfigError
from causality.settings import Settings, load_settings, masked

F = TypeVar("F", bound=Callable[..., Any])


class _Group(click.Group):
    """Turns our errors into a short message with a hint and exit code 2, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CausalityError as err:
            click.echo(f"error [{err.code}]: {err.message}", err=True)
            if err.hint:
                click.echo(f"hint: {err.hint}", err=True)
            sys.exit(2)


def settings_of(ctx: click.Context) -> Settings:
    """The validated settings, loaded once per invocation from env and ``--config``."""
    root = ctx.find_root()
    if "settings" not in root.meta:
        root.meta["settings"] = load_settings(root.params.get("config"))
    settings: Settings = root.meta["settings"]
    return settings


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", type=click.Path(path_type=Path), envvar="CAUSALITY_CONFIG",
              help="TOML settings file (sections like [nats]); env CAUSALITY_* wins over it.")
@click.pass_context
def main(ctx: click.Context, config: Path | None) -> None:
    """Causality: self-hosted behavioral analytics with an AI analyst workspace.

    Settings come from CAUSALITY_* environment variables and an optional TOML file;
    `causality config show` prints them all.
    """
    if ctx.invoked_subcommand not in (None, "version"):
        settings_of(ctx)  # validate at start: a wrong setting stops every command here


@main.command()
def version() -> None:
    """Print the Causality version."""
    click.echo(f"causality {__version__}")


@main.group()
def config() -> None:
    """Inspect the effective settings."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML-like text.")
@click.pass_context
def config_show(ctx: click.Context, as_json: bool) -> None:
    """Print every setting with its effective value; secrets are masked."""
    data = masked(settings_of(ctx))
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for section, value in data.items():
        if not isinstance(value, dict):
            click.echo(f"{section} = {json.dumps(value)}")
    for section, value in data.items():
        if isinstance(value, dict):
            click.echo(f"\n[{section}]")
            for key, item in value.items():
                click.echo(f"{key} = {json.dumps(item)}")


@main.command()
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Client port (default: nats.port setting; 0 picks a free one).")
@click.pass_context
def nats(ctx: click.Context, port: int | None) -> None:
    """Run the embedded NATS server with JetStream, storing under the data dir.

    Runs in the foreground until interrupted (Ctrl-C or SIGTERM).
    """
    from pipeline.natsd import NatsConfig, NatsServer

    s = settings_of(ctx)
    stop = _signal_latch()
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


def _signal_latch() -> threading.Event:
    """An event set by SIGINT or SIGTERM; installed before anything is announced as ready."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _signum, _frame: stop.set())
    return stop


@main.command("demo-data")
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
@click.pass_context
def demo_data(ctx: click.Context, n_events: int, out: Path | None, seed: int,
              end: Any, files_per_partition: int, summary: bool) -> None:
    """Write seeded demo events straight into the warehouse layout (tests, benchmarks)."""
    import time

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


@main.command()
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

    stop = _signal_latch()
    metrics, ready = CompactorMetrics(), threading.Event()
    server = serve(metrics, s.compactor.http_host, s.compactor.http_port, ready)

    def observed(result: Any) -> None:
        metrics.observe(result)
        ready.set()

    host, port = server.server_address[:2]
    click.echo(f"compactor running every {s.compactor.interval_s:g} s over {store.uri}; "
               f"http://{host!s}:{port}/metrics")
    try:
        run_forever(store, policy, s.compactor.interval_s, stop, after_run=sync,
                    on_result=observed)
    finally:
        server.shutdown()


@main.group()
def trino() -> None:
    """The scale-out engine: a local Trino 476 over the same warehouse."""


@trino.command("fetch")
@click.pass_context
def trino_fetch(ctx: click.Context) -> None:
    """Fetch Trino 476 and its Hive plugin through Maven into the cache dir (once)."""
    import time

    from warehouse.trino_server import fetch

    s = settings_of(ctx)
    started = time.perf_counter()
    install = fetch(s.trino.cache_dir)
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
    from warehouse.trino_server import TrinoServer, fetch

    s = settings_of(ctx)
    if s.warehouse_uri.startswith("s3://"):
        raise ConfigError("causality trino run serves a local warehouse only",
                          code="trino_local_only",
                          hint="point storage.warehouse at a directory, or run your own Trino")
    stop = _signal_latch()
    server = TrinoServer(Path(s.warehouse_uri), (s.data_dir / "trino").resolve(),
                         port=s.trino.port if port is None else port,
                         install=fetch(s.trino.cache_dir)).start()
    try:
        server.register_events_table()
        click.echo(f"trino ready at {server.url} in {server.startup_s:.1f} s "
                   f"(catalog lake, schema analytics; users causality_reader, causality_admin)")
        while not stop.wait(s.trino.sync_interval_s):
            server.register_events_table()  # partitions the sink created since
    finally:
        server.stop()


@main.command()
@click.option("--demo-events", type=click.IntRange(0), default=200_000, show_default=True,
              help="Demo events sent through the pipeline when the warehouse is empty.")
@click.option("--exit-after-demo", is_flag=True,
              help="Stop everything once the demo data is loaded and compacted (for tests).")
@click.pass_context
def up(ctx: click.Context, demo_events: int, exit_after_demo: bool) -> None:
    """Run the whole product: NATS, ingest, sink, compactor and the workspace, with demo data.

    Logs go to <data_dir>/logs. Stops on Ctrl-C or SIGTERM; a part that dies stops everything.
    """
    import os
    import time

    from causality.supervisor import Supervisor, SupervisorError, load_demo
    from pipeline.compactor import CompactionPolicy, run_once
    from warehouse.engines import DuckDBEngine

    s = settings_of(ctx)
    stop = _signal_latch()
    sup = Supervisor(s)
    try:
        nats_server = sup.start_nats()
        click.echo(f"nats     {nats_server.url}")
        ing = s.ingest
        sup.spawn("ingest", "ingest", ready_url=f"http://{ing.host}:{ing.port}/readyz")
        click.echo(f"ingest   http://{ing.host}:{ing.port}  (POST /v1/batch, /openapi.json)")
        flush = {} if "CAUSALITY_SINK_FLUSH_INTERVAL_S" in os.environ else {
            "CAUSALITY_SINK_FLUSH_INTERVAL_S": "2"}
        sup.spawn("sink", "sink", ready_url=f"http://{s.sink.http_host}:{s.sink.http_port}/readyz",
                  env=flush)
        click.echo(f"sink     http://{s.sink.http_host}:{s.sink.http_port}/metrics")
        engine = DuckDBEngine(s.warehouse_uri)
        existing = _count(engine)
        if existing == 0 and demo_events:
            started = time.perf_counter()
            sent = load_demo(sup, demo_events)
            click.echo(f"demo     {sent:,} events sent through ingest in "
                       f"{time.perf_counter() - started:.1f} s; waiting for the sink ...")
            deadline = time.monotonic() + 300
            while (landed := _count(engine)) < sent and time.monotonic() < deadline:
                if (dead := sup.failed()) is not None:
                    raise SupervisorError(f"{dead.name} stopped", hint=f"see {dead.log}")
                stop.wait(1.0)
            from causality.wiring import storage

            result = run_once(storage(s), CompactionPolicy(grace_s=0))
            click.echo(f"demo     {landed:,} rows landed; compacted {len(result.partitions)} "
                       f"partitions, {result.files_removed} files")
            if landed != sent:
                raise SupervisorError(f"only {landed:,} of {sent:,} demo events landed",
                                      code="demo_incomplete", hint="see the logs in data_dir")
        sup.spawn("compactor", "compact")
        from causality.cli_workspace import ensure_admin

        password = ensure_admin(s)
        click.echo(f"workspace {sup.start_workspace()}")
        if password is not None:
            click.echo(f"admin    sign in as admin / {password}  (shown once; change it with "
                       "`causality users passwd admin`)")
        from warehouse.demo import read_back_summary

        if not s.warehouse_uri.startswith("s3://"):
            click.echo(read_back_summary(Path(s.warehouse_uri)))
        click.echo(f"ready    data in {s.data_dir.resolve()}; Ctrl-C stops")
        while not exit_after_demo and not stop.is_set():
            if (dead := sup.failed()) is not None:
                raise SupervisorError(f"{dead.name} exited with {dead.proc.returncode}",
                                      code="child_failed", hint=f"see {dead.log}")
            stop.wait(1.0)
    finally:
        sup.stop()


def _count(engine: Any) -> int:
    result = engine.run("SELECT count(*) FROM events", 1, 60)
    return int(result.table.column(0)[0].as_py())


def _policy(ctx: click.Context, app: str | None) -> Any:
    from guardrails import Policy

    s = settings_of(ctx)
    return Policy(engine=s.query.engine, max_rows=s.query.max_rows, timeout_s=s.query.timeout_s,
                  tenant_app_id=app)


@main.command()
@click.argument("query")
@click.option("--app", default=None, help="Restrict the query to this app (tenant filter).")
@click.option("--actor", default="cli", show_default=True, help="Who runs it, for the audit log.")
@click.option("--max-rows", type=click.IntRange(1), default=None,
              help="Row cap (default: query.max_rows).")
@click.pass_context
def sql(ctx: click.Context, query: str, app: str | None, actor: str,
        max_rows: int | None) -> None:
    """Run a Trino-dialect QUERY through the guardrails and print the table and audit id.

    The query is audited, and runs on Trino, with source `sql`, as SQL typed in the workspace.
    """
    from causality.wiring import engine, metadata
    from guardrails.execute import execute
    from metadata.audit import AuditLog

    s = settings_of(ctx)
    policy = _policy(ctx, app)
    if max_rows is not None:
        policy = policy.model_copy(update={"max_rows": max_rows})
    eng = engine(s)
    try:
        done = execute(query, engine=eng, policy=policy, actor=actor, source="sql",
                       audit=AuditLog(metadata(s)))
    finally:
        eng.close()
    click.echo(f"-- ran: {done.checked.sql}")
    if done.checked.changes:
        click.echo(f"-- changed: {', '.join(done.checked.changes)}")
    click.echo(_text_table(done.table))
    flags = f", flags: {', '.join(done.flags)}" if done.flags else ""
    click.echo(f"-- {done.table.num_rows} rows in {done.result.duration_ms:.0f} ms on "
               f"{done.result.engine}; audit id {done.audit_id}{flags}")


def _text_table(table: Any, max_width: int = 40) -> str:
    names = list(table.column_names)
    rows = [["" if v is None else str(v)[:max_width] for v in row.values()]
            for row in table.to_pylist()]
    widths = [max([len(n)] + [len(r[i]) for r in rows]) for i, n in enumerate(names)]
    line = "  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True))
    body = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


@main.group()
def audit() -> None:
    """Inspect the audit log of every query attempt."""


@audit.command("tail")
@click.option("-n", "count", type=click.IntRange(1, 10_000), default=20, show_default=True,
              help="How many recent records.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def audit_tail(ctx: click.Context, count: int, as_json: bool) -> None:
    """Show the most recent audit records, oldest first."""
    from causality.wiring import metadata
    from metadata.audit import AuditLog

    for rec in AuditLog(metadata(settings_of(ctx))).tail(count):
        if as_json:
            click.echo(json.dumps(rec, default=str))
            continue
        outcome = rec["verdict"] if not rec["code"] else f"{rec['verdict']}:{rec['code']}"
        shown = str(rec["sql_run"] or rec["sql_in"])[:120]
        click.echo(f"#{rec['audit_id']} {rec['at']:%Y-%m-%d %H:%M:%S} {rec['actor']} "
                   f"({rec['source']}) {outcome} rows={rec['rows']} {shown!r}")


def _register() -> None:
    """Commands that live next to the parts they run."""
    from causality.cli_ai import ask_command, eval_command, verified_group
    from causality.cli_ingest import ingest, keys
    from causality.cli_sink import dlq, sink

    for command in (ingest, keys, sink, dlq, ask_command, eval_command, verified_group):
        main.add_command(command)
    from causality.cli_notebook import notebook_group

    main.add_command(notebook_group)
    from causality.cli_workspace import users_group, workspace_command

    for command in (workspace_command, users_group):
        main.add_command(command)


_register()
