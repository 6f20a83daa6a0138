"""``causality sink`` and ``causality dlq list|show|replay``.

``python -m causality sink`` runs the same command as ``causality sink``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

import click

from causality.cli._app import connect_nats, hard_exit, settings_of, with_payload
from causality.settings import Settings

T = TypeVar("T")
EXIT_FAILED = 1  # the sink stopped on an error; nothing unwritten was ACKed
EXIT_DEADLINE = 3  # SIGTERM, but the drain did not finish in sink.shutdown_timeout_s


def sink_config(settings: Settings, http_port: int | None = None) -> Any:
    """The sink's configuration from the settings (returns :class:`pipeline.sink.SinkConfig`)."""
    from causality.wiring import storage
    from pipeline.bus import STREAMS
    from pipeline.sink import DEAD_LETTERS, SinkConfig, new_sink_id

    options = settings.sink
    if http_port is not None:
        options = options.model_copy(update={"http_port": http_port})
    return SinkConfig(
        nats_url=settings.nats.server_url, storage=storage(settings),
        options=options,
        streams=STREAMS.with_replicas(settings.nats.replicas),
        dead_letters=replace(DEAD_LETTERS, replicas=settings.nats.replicas),
        retention_s=settings.nats.retention_s,
        duplicate_window_s=settings.nats.duplicate_window_s,
        sink_id=options.sink_id or new_sink_id())


@click.command("sink")
@click.option("--http-port", type=click.IntRange(0, 65535), default=None,
              help="Port of /livez /readyz /metrics (default: sink.http_port; 0 picks one).")
@click.pass_context
def sink(ctx: click.Context, http_port: int | None) -> None:
    """Consume JetStream EVENTS into Parquet files (app_id/dt/hour) in the warehouse.

    Several sink processes share one durable consumer. SIGTERM or Ctrl-C stops fetching,
    flushes and ACKs, within sink.shutdown_timeout_s. Exit codes: 0 drained, 1 failed,
    3 the shutdown deadline passed (unwritten messages were not ACKed; they are redelivered).
    """
    from pipeline.sink import Outcome, Sink, SinkError, configure_logging

    settings = settings_of(ctx)
    configure_logging(settings.log_level)
    config = sink_config(settings, http_port)

    async def run() -> Outcome:
        worker = Sink(config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        return await worker.run()

    try:
        outcome = asyncio.run(run())
    except SinkError:
        hard_exit(EXIT_FAILED)  # already logged; a stuck write thread must not hold the exit
    except Exception:
        logging.getLogger("causality.sink").exception("sink crashed")
        hard_exit(EXIT_FAILED)
    if outcome is Outcome.DEADLINE:
        hard_exit(EXIT_DEADLINE)



@click.group("dlq")
def dlq() -> None:
    """Inspect and replay dead letters: messages the sink could not write."""


@dlq.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Show at most this many.")
@click.pass_context
def dlq_list(ctx: click.Context, as_json: bool, limit: int | None) -> None:
    """List dead letters, oldest first: sequence, time, error code, deliveries, error."""
    from pipeline.sink import DEAD_LETTERS, dead_letters

    async def collect(js: Any) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        async for letter in dead_letters(js, DEAD_LETTERS):
            out.append(letter.summary())
            if limit is not None and len(out) >= limit:
                break
        return out

    rows = _with_js(settings_of(ctx), collect)
    for row in rows:
        if as_json:
            click.echo(json.dumps(row))
        else:
            click.echo(f"{row['seq']:>8}  {row['time']}  {row['code']:<24} "
                       f"delivered={row['delivered']}  {row['subject']}#{row['stream_seq']}  "
                       f"{row['error']}")
    if not rows and not as_json:
        click.echo("no dead letters")


@dlq.command("show")
@click.argument("seq", type=click.IntRange(1))
@click.option("--payload-only", is_flag=True, help="Write only the original payload bytes.")
@click.pass_context
def dlq_show(ctx: click.Context, seq: int, payload_only: bool) -> None:
    """Show one dead letter: where it came from, the error, and its payload."""
    from pipeline.sink import DEAD_LETTERS, get_dead_letter

    letter = _with_js(settings_of(ctx), lambda js: get_dead_letter(js, DEAD_LETTERS, seq))
    if payload_only:
        click.echo(letter.payload, nl=False)  # bytes go to the binary stdout as they are
        return
    doc: dict[str, object] = letter.summary()
    click.echo(json.dumps(with_payload(doc, letter.payload), indent=2, ensure_ascii=False))


@dlq.command("replay")
@click.argument("seq", type=click.IntRange(1), required=False)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter.")
@click.pass_context
def dlq_replay(ctx: click.Context, seq: int | None, replay_all: bool) -> None:
    """Publish dead letters to their original subject again, then delete them.

    Each gets a new Nats-Msg-Id (<original>.replay-<seq>), so the stream's duplicate window
    does not swallow it. A replayed message that still fails comes back as a new dead letter.
    """
    from pipeline.sink import DEAD_LETTERS, dead_letters, replay

    if (seq is None) == (not replay_all):
        raise click.UsageError("give one SEQ or --all")

    async def run(js: Any) -> list[tuple[int, str, int]]:
        seqs = [seq] if seq is not None else [x.seq async for x in dead_letters(js, DEAD_LETTERS)]
        done = []
        for s in seqs:
            ack = await replay(js, DEAD_LETTERS, s)
            done.append((s, ack.stream, ack.seq))
        return done

    done = _with_js(settings_of(ctx), run)
    for s, stream, new_seq in done:
        click.echo(f"replayed {s} -> {stream}#{new_seq}")
    click.echo(f"{len(done)} dead letter(s) replayed")


def _with_js(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(jetstream)`` on a fresh connection, NATS errors shown as ours."""
    import nats.errors

    from pipeline.sink import SinkError

    async def go() -> T:
        nc = await connect_nats(settings)
        try:
            return await work(nc.jetstream(timeout=10))
        except nats.errors.Error as err:
            raise SinkError(f"NATS request failed: {err!r}", code="nats_failed",
                            hint="check the NATS server and the DLQ stream") from None
        finally:
            await nc.close()

    return asyncio.run(go())


COMMANDS = (sink, dlq)
