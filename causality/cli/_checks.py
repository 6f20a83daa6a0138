"""What the ``reactions`` and ``monitors`` command modules share: who made a change, reading a
person's JSON (depth-limited: hostile nesting is a coded error, never a traceback), and the
checks against the stores (a known app, existing destinations).

Like :mod:`causality.cli._app`, it imports no command module.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, BinaryIO

import click
import orjson

from causality.cli._app import settings_of
from causality.errors import CausalityError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from metadata import Destinations

MAX_JSON_FILE_BYTES = 1024 * 1024  # far above the stores' 64 KiB: the store names its limit


def created_by() -> str:
    """Who made a change from this shell: ``$USER``, or ``cli``."""
    return (os.environ.get("USER") or "").strip() or "cli"


def when(value: datetime | float | None) -> str | None:
    """A stored time (a datetime, or Unix seconds) as ISO 8601 in UTC."""
    if value is None:
        return None
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, tz=UTC)
    elif value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="seconds")


def db(ctx: click.Context) -> Engine:
    """The metadata store, opened once per invocation."""
    from causality.wiring import metadata

    root = ctx.find_root()
    if "metadata_db" not in root.meta:
        root.meta["metadata_db"] = metadata(settings_of(ctx))
    engine: Engine = root.meta["metadata_db"]
    return engine


def destinations(ctx: click.Context) -> Destinations:
    from causality.wiring import reactor_key
    from metadata import Destinations

    return Destinations(db(ctx), reactor_key(settings_of(ctx)))


def parse_json(text: str | bytes, field: str, hint: str, *, option: str | None = None) -> Any:
    """``text`` decoded as JSON by orjson, whose nesting limit turns hostile depth into a
    ``ValueError`` rather than a ``RecursionError``; errors are coded ``too_deep`` or
    ``invalid_json`` and name ``field`` (and the ``option`` that gave it)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        deep = "depth" in str(exc)
        given = f"{option} is " if option else ""
        raise CausalityError(
            f"{field}: {given}{'nested too deeply' if deep else 'not JSON'} ({exc})",
            code="too_deep" if deep else "invalid_json", field=field, option=option,
            hint="flatten it: JSON nested this deep is never a rule or a monitor" if deep
            else hint) from None


def read_json_file(source: BinaryIO, what: str) -> str:
    """The text of ``source`` (a file or stdin) as UTF-8, checked to be JSON (the parser of
    ``what`` judges its shape); errors are coded ``invalid_json`` or ``too_deep``."""
    raw = source.read(MAX_JSON_FILE_BYTES + 1)
    hint = f"send the {what} as one well-formed JSON object"
    if len(raw) > MAX_JSON_FILE_BYTES:
        raise CausalityError(f"the {what} file is larger than {MAX_JSON_FILE_BYTES} bytes",
                             code="invalid_json", field=what, option="--file",
                             hint=f"a {what} is one small JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CausalityError(f"the {what} file is not UTF-8 text: {exc}", code="invalid_json",
                             field=what, option="--file", hint=hint) from None
    parse_json(text, what, hint, option="--file")
    return text


def check_app(ctx: click.Context, app_id: str, field: str = "app_id") -> None:
    """Raise ``unknown_app`` unless the app has an API key or data in the warehouse."""
    from causality.wiring import storage
    from metadata import KeyStore

    if KeyStore(db(ctx)).list(app_id):
        return
    if any(p.app_id == app_id for p in storage(settings_of(ctx)).partitions()):
        return
    raise CausalityError(
        f"{field}: unknown app {app_id!r}: it has no API key and no data in the warehouse",
        code="unknown_app", field=field, app_id=app_id,
        hint="create a key with `causality keys create --app APP`, or check the spelling")


def check_destinations(ctx: click.Context, ids: Iterable[tuple[str, str]]) -> None:
    """Raise ``unknown_destination`` naming the field of the first id not in the store; warn
    about disabled ones. ``ids`` are ``(field, destination_id)`` pairs."""
    from metadata import UnknownDestination

    store = destinations(ctx)
    for field, destination_id in ids:
        try:
            found = store.get(destination_id)
        except UnknownDestination:
            raise UnknownDestination(
                f"{field}: no destination with id {destination_id!r}",
                field=field, destination_id=destination_id,
                hint="`causality destinations list` shows the ids; "
                     "`causality destinations add` makes one") from None
        if found.disabled:
            click.echo(f"note: destination {destination_id} is disabled; nothing is delivered "
                       "to it until `causality destinations enable`", err=True)
