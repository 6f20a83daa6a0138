"""``causality destinations``: where rules and monitors POST, and ``destinations listen``, a
local receiver that verifies and prints what a destination gets (for trying rules out)."""

from __future__ import annotations

import json
from typing import Any

import click

from causality.cli._checks import created_by, when
from causality.cli._checks import destinations as _destinations


@click.group("destinations")
def destinations() -> None:
    """Webhook destinations: where rules and monitors POST, signed per Standard Webhooks."""


def _destination_doc(d: Any) -> dict[str, Any]:
    return {"id": d.destination_id, "name": d.name, "url": d.url, "disabled": d.disabled,
            "created_by": d.created_by, "created_at": when(d.created_at),
            "disabled_at": when(d.disabled_at)}


def _show_secret(secret: str) -> None:
    click.echo(f"secret: {secret}")
    click.echo("store the secret now: it will not be shown again "
               "(`causality destinations rotate` makes a new one)", err=True)


@destinations.command("add")
@click.option("--name", required=True, help="A name people recognise.")
@click.option("--url", required=True, help="The http(s) address that receives the POSTs.")
@click.pass_context
def destinations_add(ctx: click.Context, name: str, url: str) -> None:
    """Add a destination and print its signing secret, once."""
    made = _destinations(ctx).add(name, url, created_by())
    click.echo(f"added destination {made.destination.destination_id} ({made.destination.name})"
               f" -> {made.destination.url}")
    _show_secret(made.secret)


@destinations.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def destinations_list(ctx: click.Context, as_json: bool) -> None:
    """List destinations (id, name, URL, state); never their secrets."""
    docs = [_destination_doc(d) for d in _destinations(ctx).list()]
    if as_json:
        click.echo(json.dumps(docs, indent=2, ensure_ascii=False))
        return
    if not docs:
        click.echo("no destinations")
    for d in docs:
        state = "disabled" if d["disabled"] else "active"
        click.echo(f"{d['id']}  {d['name']:<24} {state:<8} {d['url']}")


@destinations.command("rotate")
@click.argument("destination_id")
@click.pass_context
def destinations_rotate(ctx: click.Context, destination_id: str) -> None:
    """Replace a destination's secret and print the new one, once. Receivers must switch."""
    secret = _destinations(ctx).rotate(destination_id)
    click.echo(f"rotated the secret of destination {destination_id}")
    _show_secret(secret)


@destinations.command("disable")
@click.argument("destination_id")
@click.pass_context
def destinations_disable(ctx: click.Context, destination_id: str) -> None:
    """Stop deliveries to a destination; it keeps its secret."""
    _destinations(ctx).set_disabled(destination_id, True)
    click.echo(f"disabled destination {destination_id}")


@destinations.command("enable")
@click.argument("destination_id")
@click.pass_context
def destinations_enable(ctx: click.Context, destination_id: str) -> None:
    """Resume deliveries to a disabled destination."""
    _destinations(ctx).set_disabled(destination_id, False)
    click.echo(f"enabled destination {destination_id}")


@destinations.command("delete")
@click.argument("destination_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def destinations_delete(ctx: click.Context, destination_id: str, yes: bool) -> None:
    """Delete a destination and its secret for good."""
    store = _destinations(ctx)
    store.get(destination_id)
    if not yes:
        click.confirm(f"delete destination {destination_id}?", abort=True)
    store.delete(destination_id)
    click.echo(f"deleted destination {destination_id}")



@destinations.command("listen")
@click.argument("destination_id")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Default: the port of the destination's URL.")
@click.pass_context
def destinations_listen(ctx: click.Context, destination_id: str, host: str,
                        port: int | None) -> None:
    """Receive a destination's webhooks here (its URL must point at this host and port) and
    print each one with whether its Standard Webhooks signature verifies. Ctrl-C stops."""
    from urllib.parse import urlsplit

    from aiohttp import web
    from standardwebhooks import Webhook
    from standardwebhooks.webhooks import WebhookVerificationError

    store = _destinations(ctx)
    dest = store.get(destination_id)
    verifier = Webhook(store.secret(destination_id))
    parts = urlsplit(dest.url)
    path = parts.path or "/"

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verifier.verify(body, dict(request.headers))
            verdict = "verified"
        except WebhookVerificationError as exc:
            verdict = f"NOT VERIFIED ({exc})"
        click.echo(f"{request.headers.get('webhook-id', '-')}  {verdict}")
        try:
            click.echo(json.dumps(json.loads(body), indent=2, ensure_ascii=False))
        except ValueError:
            click.echo(body[:2000].decode(errors="replace"))
        return web.Response(text="ok" if verdict == "verified" else "bad signature",
                            status=200 if verdict == "verified" else 401)

    app = web.Application()
    app.router.add_post(path, hook)
    bind = port or parts.port or 80
    click.echo(f"listening on http://{host}:{bind}{path} for destination {destination_id} "
               f"({dest.url}); Ctrl-C stops")
    web.run_app(app, host=host, port=bind, print=None, access_log=None)


COMMANDS = (destinations,)
