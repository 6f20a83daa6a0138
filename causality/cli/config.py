"""``causality version`` and ``causality config show``."""

from __future__ import annotations

import json

import click

from causality import __version__
from causality.cli._app import settings_of
from causality.settings import masked


@click.command()
def version() -> None:
    """Print the Causality version."""
    click.echo(f"causality {__version__}")


@click.group()
def config() -> None:
    """Inspect the effective settings."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML-like text.")
@click.pass_context
def config_show(ctx: click.Context, as_json: bool) -> None:
    """Print every setting with its effective value; secrets are masked. Settings sized from
    the container's memory limit say so (``[sizing]``, and a comment on their line)."""
    settings = settings_of(ctx)
    data = masked(settings)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    notes = {item.setting: item.source for item in settings.sizing.settings
             if item.derived} if settings.sizing else {}
    for section, value in data.items():
        if not isinstance(value, dict):
            click.echo(f"{section} = {json.dumps(value)}")
    for section, value in data.items():
        if isinstance(value, dict):
            click.echo(f"\n[{section}]")
            for key, item in value.items():
                note = notes.get(f"{section}.{key}")
                click.echo(f"{key} = {json.dumps(item)}" + (f"  # {note}" if note else ""))


COMMANDS = (version, config)
