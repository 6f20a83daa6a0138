"""``causality up``: the whole product in one command; :mod:`causality.supervisor` runs it."""

from __future__ import annotations

import click

from causality.cli._app import settings_of, signal_latch


@click.command()
@click.option("--demo-events", type=click.IntRange(0), default=200_000, show_default=True,
              help="Demo events sent through the pipeline when the warehouse is empty.")
@click.option("--exit-after-demo", is_flag=True,
              help="Stop everything once the demo data is loaded and compacted (for tests).")
@click.pass_context
def up(ctx: click.Context, demo_events: int, exit_after_demo: bool) -> None:
    """Run the whole product, with demo data: NATS, ingest, sink, reactor, compactor, workspace.

    Logs go to <data_dir>/logs. Stops on Ctrl-C or SIGTERM; a part that dies stops everything.
    """
    from causality.supervisor import run_up

    run_up(settings_of(ctx), demo_events=demo_events, exit_after_demo=exit_after_demo,
           stop=signal_latch(), echo=click.echo)


COMMANDS = (up,)
