"""The ``causality`` click group and what every command module shares.

Imports none of the command modules: they import this one, and :mod:`causality.cli` registers
them on :data:`main`.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from causality.errors import CausalityError
from causality.settings import Settings, load_settings

if TYPE_CHECKING:
    from guardrails import Policy


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


def policy_of(settings: Settings, app: str | None, **extra: Any) -> Policy:
    """The guardrails' policy from the settings, scoped to ``app`` when given; ``extra``
    overrides knobs for this command."""
    policy = settings.policy(app)
    return type(policy).model_validate({**policy.model_dump(), **extra}) if extra else policy


def signal_latch() -> threading.Event:
    """An event set by SIGINT or SIGTERM; installed before anything is announced as ready."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _signum, _frame: stop.set())
    return stop


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


def hard_exit(code: int) -> NoReturn:
    """Exit now, whatever threads still run (a stuck write must not hold a worker's exit)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def with_payload(doc: dict[str, Any], payload: bytes) -> dict[str, Any]:
    """``doc`` with a dead letter's payload: as text when it is UTF-8, else as hex."""
    try:
        doc["payload"] = payload.decode()
    except UnicodeDecodeError:
        doc["payload_hex"] = payload.hex()
    return doc


async def connect_nats(settings: Settings) -> Any:
    """A connection for one command: each of ``nats.url``'s servers tried once, the last cause
    reported once (``max_reconnect_attempts=0`` would retry the first connect for ever in
    nats.py, printing every failure); raises :class:`CausalityError` ``nats_unavailable``."""
    import nats
    import nats.errors

    seen: list[Exception] = []

    async def quiet(err: Exception) -> None:  # reported once, below, not with a traceback
        seen.append(err)

    try:
        return await nats.connect(settings.nats.servers, connect_timeout=5,
                                  max_reconnect_attempts=1, reconnect_time_wait=0.1,
                                  allow_reconnect=False, error_cb=quiet)
    except (OSError, nats.errors.Error) as err:
        cause = seen[-1] if seen else err
        raise CausalityError(f"cannot connect to NATS at {settings.nats.server_url}: {cause}",
                             code="nats_unavailable",
                             hint="start it (`causality nats`) or set CAUSALITY_NATS_URL"
                             ) from None
