"""``causality backlog``: how far behind every durable consumer of ``EVENTS`` is, in time.

The compactor reads the warehouse's files, not the bus, so it has no backlog of its own; this
command covers every consumer there is (sink, reactor, any other) from one place, for a cron job
or an operator.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import click

from causality.cli._app import connect_nats, settings_of
from causality.settings import Settings

EXIT_BEHIND = 1  # a consumer passed its warning fraction of the stream's max age


def _duration(seconds: float) -> str:
    """``3d 4h``, ``5h 12m``, ``7m 3s``, ``12s``."""
    s = int(seconds)
    for unit, size, sub, sub_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60),
                                      ("m", 60, "s", 1)):
        if s >= size:
            return f"{s // size}{unit} {s % size // sub_size}{sub}"
    return f"{s}s"


def _warn_fraction(settings: Settings, durable: str, override: float | None) -> float:
    """The fraction of the process owning ``durable`` (sink, reactor), else the default."""
    from pipeline.backlog import WARN_FRACTION

    if override is not None:
        return override
    owners = {settings.sink.durable: settings.sink.backlog_warn_fraction,
              settings.reactor.durable: settings.reactor.backlog_warn_fraction}
    return owners.get(durable, WARN_FRACTION)


async def _survey(settings: Settings, stream: str) -> list[Any]:
    from pipeline.backlog import survey

    nc = await connect_nats(settings)
    try:
        return await survey(nc.jetstream(timeout=10), stream)
    finally:
        await nc.close()


@click.command("backlog")
@click.option("--stream", default="EVENTS", show_default=True, help="The stream to look at.")
@click.option("--warn-fraction", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Warn past this fraction of the stream's max age (default: the owning "
                   "process's backlog_warn_fraction, sink.* or reactor.*; else 0.5).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
@click.pass_context
def backlog(ctx: click.Context, stream: str, warn_fraction: float | None, as_json: bool) -> None:
    """Show each durable consumer's backlog: pending, ACK-pending, the age of its oldest
    unconsumed event, and that age as a share of the stream's max age (nats.retention_s).

    JetStream deletes an event at the max age whether or not it was consumed. Exit codes:
    0 all under their warning fraction, 1 one or more past it (a warning line each, on
    stderr), 2 NATS unreachable or no such stream.
    """
    settings = settings_of(ctx)
    found = asyncio.run(_survey(settings, stream))
    rows = []
    for b in found:
        limit = _warn_fraction(settings, b.durable, warn_fraction)
        rows.append((b, limit, b.fraction is not None and b.fraction >= limit))
    if as_json:
        click.echo(json.dumps({"stream": stream, "consumers": [
            {**b.to_dict(), "warn_fraction": limit, "behind": behind}
            for b, limit, behind in rows]}, indent=2))
    elif not rows:
        click.echo(f"no consumers on {stream}")
    else:
        click.echo(f"{'CONSUMER':<20} {'PENDING':>10} {'ACK_PENDING':>11} "
                   f"{'OLDEST_AGE':>10} {'OF_MAX_AGE':>10}")
        for b, _, _ in rows:
            share = "-" if b.fraction is None else f"{b.fraction:.1%}"
            click.echo(f"{b.durable:<20} {b.pending:>10} {b.ack_pending:>11} "
                       f"{_duration(b.age_s):>10} {share:>10}")
    for b, limit, behind in rows:
        if behind:
            click.echo(f"warning: consumer {b.durable!r} is {_duration(b.age_s)} behind, "
                       f"{b.fraction:.0%} of {stream}'s max age ({_duration(b.max_age_s)}; "
                       f"warning at {limit:.0%}): its oldest events are deleted unread at "
                       "100%; start or scale it", err=True)
    if any(behind for _, _, behind in rows):
        sys.exit(EXIT_BEHIND)


COMMANDS = (backlog,)
