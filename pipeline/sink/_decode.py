"""``EVENTS`` payloads → one Arrow table of rows, and the payloads that are poison.

Fast path: the payloads, one per line, go through pyarrow's JSON reader with the message schema
(C++, off the GIL, about half the CPU of building Python dicts). The checks of the bus contract
are then made column-wise. A payload the reader cannot take (it splits a failing chunk in halves
to find it) or that fails a check is decoded again on its own with
:func:`pipeline.bus.decode_batch`, whose error is what its dead-letter record says.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from pipeline.bus import VERSION, BusError, decode_batch
from pipeline.sink._errors import Poison
from warehouse.errors import LayoutError
from warehouse.layout import validate_app_id
from warehouse.schema import FILE_SCHEMA, TIMESTAMP

#: The last instant a partition directory can name (9999-12-31T23:59:59.999999Z).
MAX_EVENT_TIME_US = 253_402_300_799_999_999
MSG_COLUMN = "_msg"  # index of the payload a row came from
ROWS_SCHEMA = pa.schema([*FILE_SCHEMA, pa.field("app_id", pa.string(), nullable=False),
                         pa.field(MSG_COLUMN, pa.int32(), nullable=False)])

_TIMES = frozenset({"event_time", "received_at"})
_REQUIRED = ("event_id", "event_type", "category", "event_time", "received_at", "app_id")
_ROW_NAMES = [*FILE_SCHEMA.names, "app_id"]
_ROW_TYPE = pa.struct([pa.field(n, pa.int64() if n in _TIMES else pa.string())
                       for n in _ROW_NAMES])
_MESSAGE_SCHEMA = pa.schema([("v", pa.int64()), ("app_id", pa.string()),
                             ("batch_id", pa.string()), ("rows", pa.list_(_ROW_TYPE))])
_PARSE = pj.ParseOptions(explicit_schema=_MESSAGE_SCHEMA, unexpected_field_behavior="ignore")
_MIN_BLOCK = 4 << 20


@dataclass(frozen=True)
class Decoded:
    rows: pa.Table  # ROWS_SCHEMA
    poison: dict[int, Poison]  # payload index → why it can never be written


def decode(payloads: Sequence[bytes]) -> Decoded:
    lines = [i for i, p in enumerate(payloads) if _one_line(p)]
    slow = sorted(set(range(len(payloads))).difference(lines))
    tables: list[pa.Table] = []
    if lines:
        table, failed = _fast(payloads, lines)
        if table is not None:
            tables.append(table)
        slow = sorted([*slow, *failed])
    poison: dict[int, Poison] = {}
    for i in slow:
        try:
            tables.append(_slow(payloads[i], i))
        except Poison as err:
            poison[i] = err
    rows = pa.concat_tables(tables) if tables else ROWS_SCHEMA.empty_table()
    return Decoded(rows, poison)


def _one_line(payload: bytes) -> bool:
    return b"\n" not in payload and b"\r" not in payload and bool(payload.strip())


def _fast(payloads: Sequence[bytes], idx: list[int]) -> tuple[pa.Table | None, list[int]]:
    """Rows of the payloads at ``idx`` that pass every check, and the indices that did not."""
    table = _read(payloads, idx)
    if table is None:
        if len(idx) == 1:
            return None, idx
        half = len(idx) // 2
        left, bad_left = _fast(payloads, idx[:half])
        right, bad_right = _fast(payloads, idx[half:])
        parts = [t for t in (left, right) if t is not None]
        return (pa.concat_tables(parts) if parts else None), bad_left + bad_right
    return _checked(table, np.asarray(idx, dtype=np.int32))


def _read(payloads: Sequence[bytes], idx: list[int]) -> pa.Table | None:
    longest = max(len(payloads[i]) for i in idx)
    options = pj.ReadOptions(use_threads=False,  # our decode thread is the parallelism
                             block_size=max(_MIN_BLOCK, 2 * longest + 2))
    try:
        table = pj.read_json(pa.BufferReader(b"\n".join(payloads[i] for i in idx)),
                             read_options=options, parse_options=_PARSE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    return table if table.num_rows == len(idx) else None


def _checked(table: pa.Table, idx: np.ndarray) -> tuple[pa.Table, list[int]]:
    n = table.num_rows
    msg_bad = ~_filled(pc.equal(table["v"], VERSION))
    apps = table["app_id"].to_pylist()
    msg_bad |= np.fromiter((not _valid_app(a) for a in apps), bool, n)
    lists = table["rows"].combine_chunks()
    msg_bad |= _filled(lists.is_null())
    flat = lists.flatten()
    parent = pc.list_parent_indices(lists).to_numpy().astype(np.int32)
    if len(flat):
        fields = {name: flat.field(name) for name in _ROW_NAMES}
        row_bad = _filled(flat.is_null())
        for name in _REQUIRED:
            row_bad |= _filled(fields[name].is_null())
        for name in _TIMES:
            t = fields[name].fill_null(0)
            row_bad |= _filled(pc.or_(pc.less(t, 0), pc.greater(t, MAX_EVENT_TIME_US)))
        row_bad |= ~_filled(pc.equal(fields["app_id"], table["app_id"].take(parent)))
        msg_bad[np.unique(parent[row_bad])] = True
    bad_msgs = np.flatnonzero(msg_bad)
    keep = ~msg_bad[parent] if len(bad_msgs) else None
    if keep is not None:
        flat = flat.filter(pa.array(keep))
        parent = parent[keep]
    rows = pa.Table.from_arrays(
        [*(_column(flat.field(name), name) for name in _ROW_NAMES), pa.array(idx[parent])],
        schema=ROWS_SCHEMA)
    return rows, [int(i) for i in idx[bad_msgs]]


def _slow(payload: bytes, index: int) -> pa.Table:
    """One payload through the bus's own strict decoder, with the same checks as the fast path."""
    try:
        batch = decode_batch(payload)
        validate_app_id(batch.app_id)
    except (BusError, LayoutError) as err:
        raise Poison(err.message, code=err.code, hint=err.hint) from None
    rows = cast(list[dict[str, Any]], batch.rows)
    for pos, row in enumerate(rows):
        if row["app_id"] != batch.app_id:
            raise Poison(f"row {pos} has app_id {row['app_id']!r}, its batch {batch.app_id!r}",
                         code="app_mismatch", hint="the ingest edge sets app_id from the key")
        for name in _TIMES:
            if not 0 <= row[name] <= MAX_EVENT_TIME_US:
                raise Poison(f"row {pos} has {name} {row[name]} (us) out of range",
                             code="bad_event_time", hint="timestamps are µs since 1970, UTC")
    try:
        columns = [_column(pa.array([r[name] for r in rows],
                                    pa.int64() if name in _TIMES else pa.string()), name)
                   for name in _ROW_NAMES]
    except (pa.ArrowException, UnicodeError) as err:  # e.g. a lone surrogate in a string
        raise Poison(f"a row cannot be stored: {err}", code="unstorable_row",
                     hint="strings must be valid Unicode") from None
    columns.append(pa.array(np.full(len(rows), index, dtype=np.int32)))
    return pa.Table.from_arrays(columns, schema=ROWS_SCHEMA)


def _column(array: pa.Array, name: str) -> pa.Array:
    return array.cast(TIMESTAMP) if name in _TIMES else array


def _filled(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow mask as numpy, null counted as False."""
    return np.asarray(mask.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


@functools.lru_cache(maxsize=4096)
def _valid_app(app_id: str | None) -> bool:
    if app_id is None:
        return False
    try:
        validate_app_id(app_id)
    except LayoutError:
        return False
    return True
