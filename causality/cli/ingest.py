"""``causality ingest`` (the HTTP edge) and ``causality keys`` (its write keys)."""

from __future__ import annotations

import json
from typing import Any

import click

from causality.cli._app import settings_of


@click.command("ingest")
@click.option("--host", default=None, help="Address to listen on (default: ingest.host).")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port (default: ingest.port; 0 picks a free one).")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Processes sharing the port through SO_REUSEPORT (default: ingest.workers); "
                   "/metrics on any of them sums all, another worker's counts up to 0.5 s old.")
@click.pass_context
def ingest(ctx: click.Context, host: str | None, port: int | None,
           workers: int | None) -> None:
    """Run the Segment-compatible ingest edge (POST /v1/batch) in the foreground.

    Accepted batches are published to the EVENTS stream of NATS JetStream (nats.url); SIGTERM
    drains in-flight requests before exiting. Logs are JSON lines on stderr.
    """
    from pipeline.ingest import run
    from pipeline.logs import configure_logging

    settings = settings_of(ctx)
    changes: dict[str, Any] = {k: v for k, v in
                               {"host": host, "port": port, "workers": workers}.items()
                               if v is not None}
    if changes:
        settings = settings.model_copy(
            update={"ingest": settings.ingest.model_copy(update=changes)})
    configure_logging(settings.log_level)
    run(settings, announce=lambda url: click.echo(f"ingest ready at {url}"))


@click.group("keys")
def keys() -> None:
    """Create, list and revoke the write keys apps send events with."""


def _store(ctx: click.Context) -> Any:
    from metadata import KeyStore, open_db

    return KeyStore(open_db(settings_of(ctx).metadata_db_url))


@keys.command("create")
@click.option("--app", "app_id", required=True, help="The app the key sends events for.")
@click.option("--label", default="", help="A note, e.g. where the key is used.")
@click.pass_context
def keys_create(ctx: click.Context, app_id: str, label: str) -> None:
    """Create a key and print it once: only its hash is stored."""
    key, plain = _store(ctx).create(app_id, label)
    click.echo(plain)
    click.echo(f"key id {key.key_id} for app {key.app_id}; store the key now, it is not "
               "shown again", err=True)


@keys.command("list")
@click.option("--app", "app_id", default=None, help="Only the keys of this app.")
@click.option("--active", is_flag=True, help="Leave out revoked keys.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def keys_list(ctx: click.Context, app_id: str | None, active: bool, as_json: bool) -> None:
    """List keys (id, app, prefix, label, created, revoked); never the keys themselves."""
    rows = [{"key_id": k.key_id, "app_id": k.app_id, "prefix": k.prefix, "label": k.label,
             "created_at": k.created_at.isoformat(),
             "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None}
            for k in _store(ctx).list(app_id, include_revoked=not active)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        state = f"revoked {r['revoked_at']}" if r["revoked_at"] else "active"
        click.echo(f"{r['key_id']}  {r['app_id']:<20} {r['prefix']}…  {state:<40} {r['label']}")


@keys.command("revoke")
@click.argument("key_id")
@click.pass_context
def keys_revoke(ctx: click.Context, key_id: str) -> None:
    """Revoke a key by id; the edge refuses it within ingest.key_cache_ttl_s."""
    key = _store(ctx).revoke(key_id)
    ttl = settings_of(ctx).ingest.key_cache_ttl_s
    click.echo(f"revoked {key.key_id} of app {key.app_id}; running edges refuse it within "
               f"{ttl:g} s")


COMMANDS = (ingest, keys)
