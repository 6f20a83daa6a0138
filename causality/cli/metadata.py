"""``causality metadata status|upgrade``: the metadata store's schema revision, and migrating
it (every process that opens the store also migrates it; this does it ahead, on purpose)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING

import click

from causality.cli._app import settings_of

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


@click.group("metadata")
def metadata() -> None:
    """The metadata store's schema: its revision, and upgrading it.

    Any command that opens the store (ingest, workspace, reactor, …) upgrades it first; these
    show where it stands and upgrade it as a step of its own, e.g. before a rollout.
    """


def _engine(ctx: click.Context) -> Engine:
    from metadata import open_db

    return open_db(settings_of(ctx).metadata_db_url, upgrade=False)


@metadata.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def metadata_status(ctx: click.Context, as_json: bool) -> None:
    """Print the store's revision, this release's newest (head) and the revisions pending.

    Changes nothing. A store newer than this release is refused (metadata_too_new).
    """
    from metadata import schema_status

    engine = _engine(ctx)
    try:
        status = schema_status(engine)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(asdict(status), indent=2))
        return
    if status.current is not None:
        current = status.current
    elif status.legacy is not None:
        current = f"none (made before migrations; its tables match {status.legacy})"
    else:
        current = "none (a new store)"
    click.echo(f"current: {current}")
    click.echo(f"head:    {status.head}")
    click.echo(f"pending: {', '.join(status.pending) or 'none'}")


@metadata.command("upgrade")
@click.pass_context
def metadata_upgrade(ctx: click.Context) -> None:
    """Apply the pending revisions and print what was done.

    A store made before migrations is first stamped with the revision its tables match. Safe
    beside running processes and other upgrades: one process migrates at a time (PostgreSQL
    advisory lock, SQLite write lock).
    """
    from metadata import upgrade_schema

    engine = _engine(ctx)
    try:
        done = upgrade_schema(engine)
    finally:
        engine.dispose()
    if done.adopted is not None:
        click.echo(f"adopted a store made before migrations as {done.adopted}")
    for revision in done.applied:
        click.echo(f"applied {revision}")
    if not done.applied and done.adopted is None:
        click.echo(f"already at head {done.head}")
    else:
        click.echo(f"now at head {done.head}")


COMMANDS = (metadata,)
