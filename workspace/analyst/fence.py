"""Warehouse data in a prompt: capped, escaped and fenced as data.

Anyone with an app's write key chooses its event names, categories, property keys and
values, and the app's analysts' model reads them. So every piece of data (and every text
derived from it: error messages, earlier turns, stored examples) goes to the model inside a
*data block*, one JSON record a line::

    <data name="catalog">
    {"column": "events.event_type", "values": ["page", "Order Completed"], "omitted": 2}
    </data>

The delimiter is fixed, and the data cannot close it: strings are JSON-escaped, and so is
every ``<`` and ``>`` (as ``\\u003c``: both delimiters start with it) and their look-alikes
(fullwidth, small and mathematical angle brackets), every control and format
character (bidi overrides, zero-width characters), line and paragraph separator,
private-use, surrogate and unassigned code point. A block body is printable text, one line
per record; the instructions say that blocks are data, never instructions.

Caps are per item (characters) and per list (items); what is left out is counted. Keys
(JSON keys, column names) must be plain identifiers, `IDENTIFIER`; names (event types,
categories, app ids) must be printable and at most `MAX_NAME_CHARS` long; other texts are
cut with an ellipsis.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

#: a key usable bare in SQL and in a JSON path ('$.key'); also a valid insight field key
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_NAME_CHARS = 100  # per event type, category or app id; longer ones are left out
MAX_NAMES = 25  # names shown per column
MAX_TEXT_CHARS = 500  # per error message, hint, explanation, question
MAX_SQL_CHARS = 4_000  # per SQL text shown (earlier turns, corrections, examples)
ELLIPSIS = "…"
_BLOCK_NAME = re.compile(r"[a-z_]{1,32}")


def data_block(name: str, records: Iterable[Any]) -> str:
    """`records` as a data block: one escaped JSON value a line between the delimiters."""
    if not _BLOCK_NAME.fullmatch(name):
        raise ValueError(f"bad block name {name!r}")
    return "\n".join([f'<data name="{name}">', *(to_json(r) for r in records), "</data>"])


def to_json(value: Any) -> str:
    """`value` as one line of JSON that holds no delimiter, line break or unsafe character.

    `str.isprintable` is false exactly for Unicode's "Other" (control, format, surrogate,
    private-use, unassigned) and "Separator" categories, the ASCII space excepted."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return "".join(_escape(ch) if ch in _ANGLES or not ch.isprintable() else ch for ch in text)


# `<` opens both delimiters; its look-alikes (fullwidth, small, mathematical angle brackets)
# cannot close a block, but the model should never read anything like a closer either.
_ANGLES = frozenset("<>\uff1c\uff1e\ufe64\ufe65\u2329\u232a\u27e8\u27e9\u3008\u3009")


def _escape(ch: str) -> str:
    # Outside strings JSON has only ASCII punctuation, so every character escaped here is
    # inside a string, where a \u escape (a surrogate pair beyond the BMP) is the same value.
    point = ord(ch)
    if point <= 0xFFFF:
        return f"\\u{point:04x}"
    point -= 0x10000
    return f"\\u{0xD800 + (point >> 10):04x}\\u{0xDC00 + (point & 0x3FF):04x}"


def is_identifier(key: str) -> bool:
    return IDENTIFIER.fullmatch(key) is not None


def is_name(text: str) -> bool:
    """A name the model may see: printable (no control, format or separator character
    but the space) and at most `MAX_NAME_CHARS` characters."""
    return 0 < len(text) <= MAX_NAME_CHARS and text.isprintable()


def names(values: Iterable[str], limit: int = MAX_NAMES) -> tuple[list[str], int]:
    """The first `limit` acceptable names, and how many others were left out."""
    shown: list[str] = []
    omitted = 0
    for value in values:
        if len(shown) < limit and is_name(value):
            shown.append(value)
        else:
            omitted += 1
    return shown, omitted


def clip(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit - 1] + ELLIPSIS


def clipped(value: Any, limit: int = MAX_TEXT_CHARS, sql_limit: int = MAX_SQL_CHARS) -> Any:
    """`value` with every string cut to `limit` (values under a key "sql": `sql_limit`)."""
    if isinstance(value, str):
        return clip(value, limit)
    if isinstance(value, dict):
        return {clip(str(k), limit): clipped(v, sql_limit if k == "sql" else limit, sql_limit)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clipped(v, limit, sql_limit) for v in value]
    return value
