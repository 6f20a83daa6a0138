"""How ``causality sql`` and ``causality ask`` print a result table: ``--format
table|csv|json``.

csv and json are for pipes: stdout carries the data only, and nothing at all when the command
fails (errors go to stderr with their code). With csv, whatever the table format prints
besides the table goes to stderr instead.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import click

if TYPE_CHECKING:
    import pyarrow as pa

Format = Literal["table", "csv", "json"]
FORMATS: tuple[Format, ...] = ("table", "csv", "json")
F = TypeVar("F", bound=Callable[..., Any])


def format_option(func: F) -> F:
    """The ``--format`` option, as ``fmt``."""
    return click.option(
        "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
        help="table for people; csv (RFC 4180, header and rows only) or json for pipes: "
             "stdout then holds the data alone, notes go to stderr.")(func)


def plain(value: Any) -> Any:
    """A cell as JSON can hold it: timestamps, dates and times in ISO 8601, durations in
    seconds, decimals as text (exact), bytes in base64; lists and maps keep their shape."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def to_json(doc: Any) -> str:
    """``doc`` as indented JSON (ASCII, whatever the terminal's encoding), cells as
    :func:`plain` makes them."""
    return json.dumps(plain(doc), indent=2, default=str)


def csv_cell(value: Any) -> str:
    """None as empty, booleans as true/false, lists and maps as JSON text, the rest as
    :func:`plain` makes it."""
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def to_csv(table: pa.Table) -> str:
    """Header and every row of ``table``, RFC 4180 (CRLF line ends, quotes where needed)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.column_names)
    columns = [column.to_pylist() for column in table.columns]  # names may repeat
    writer.writerows([csv_cell(v) for v in row] for row in zip(*columns, strict=True))
    return out.getvalue()


def note(text: str) -> None:
    """A line beside the data: on stderr, so stdout stays the data alone."""
    click.echo(text, err=True)
