"""Decoded rows → new rows per partition (``app_id``/``dt``/``hour`` of ``event_time``, UTC).

Redelivered events are dropped here within a bounded window of recent ``event_id`` s per app;
the compactor removes whatever duplicates get past it.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from pipeline.sink._decode import MSG_COLUMN
from warehouse.layout import Partition
from warehouse.schema import FILE_SCHEMA

HOUR_US = 3_600_000_000
#: With ``route(..., seqs=)``: the stream sequence of the message each row came from, so a flush
#: can write one message's buffered rows alone. Dropped before a file is written.
SEQ_COLUMN = "_seq"
_APP_SHIFT = 32  # key = app code << 32 | hours since 1970 (< 2**32 until far past year 9999)


class RecentIds:
    """The event ids seen lately, per app: at least the last ``size``, at most ``2 * size`` (plus
    one batch).

    Two generations of sets: when the newer one holds ``size`` ids, the older is dropped. Memory
    is bounded per app; checking a batch with no duplicates (the usual case) is a few C-level set
    operations rather than a Python loop per id.
    """

    def __init__(self, size: int):
        self.size = size
        self._apps: dict[str, tuple[set[str], set[str]]] = {}

    def duplicates(self, app_id: str, event_ids: list[str]) -> list[int]:
        """Positions of ids already seen; every other id is remembered from now on."""
        if self.size <= 0:
            return []
        new, old = self._apps.setdefault(app_id, (set(), set()))
        dups: list[int] = []
        if len(set(event_ids)) == len(event_ids) and new.isdisjoint(event_ids) \
                and old.isdisjoint(event_ids):
            new.update(event_ids)
        else:
            for i, eid in enumerate(event_ids):
                if eid in new or eid in old:
                    dups.append(i)
                else:
                    new.add(eid)
        if len(new) >= self.size:
            self._apps[app_id] = (set(), new)
        return dups

    def __len__(self) -> int:
        return sum(len(n) + len(o) for n, o in self._apps.values())


@dataclass
class Routed:
    parts: dict[Partition, pa.Table] = field(default_factory=dict)  # FILE_SCHEMA rows
    keys: dict[int, set[Partition]] = field(default_factory=dict)  # payload → its partitions
    duplicates: Counter[str] = field(default_factory=Counter)  # dropped, per app


def route(rows: pa.Table, recent: RecentIds, seqs: Sequence[int] | None = None) -> Routed:
    """Sort rows by (app, hour), drop recent duplicates per app, cut one table per partition;
    with ``seqs`` (the payloads' stream sequences), each row keeps its message's in ``_seq``."""
    out = Routed()
    if rows.num_rows == 0:
        return out
    apps = rows["app_id"].combine_chunks().dictionary_encode()
    names = apps.dictionary.to_pylist()
    hours = rows["event_time"].combine_chunks().cast(pa.int64()).to_numpy() // HOUR_US
    key = (apps.indices.to_numpy().astype(np.int64) << _APP_SHIFT) | hours
    order = np.argsort(key, kind="stable")
    key = key[order]
    rows = rows.take(pa.array(order))
    ids = rows["event_id"].to_pylist()
    app_of = key >> _APP_SHIFT
    dups: list[int] = []
    for start, end in runs(app_of):
        app = names[int(app_of[start])]
        found = recent.duplicates(app, ids[start:end])
        if found:
            out.duplicates[app] += len(found)
            dups.extend(start + i for i in found)
    if dups:
        keep = np.ones(len(key), dtype=bool)
        keep[dups] = False
        rows, key = rows.filter(pa.array(keep)), key[keep]
    data = rows.select(FILE_SCHEMA.names)
    msgs = rows[MSG_COLUMN].to_numpy()
    if seqs is not None:
        data = data.append_column(SEQ_COLUMN, pa.array(np.asarray(seqs, np.int64)[msgs]))
    for start, end in runs(key):
        k = int(key[start])
        part = Partition(names[k >> _APP_SHIFT], *_hour_names(k & 0xFFFF_FFFF))
        out.parts[part] = data.slice(start, end - start)
        for m in np.unique(msgs[start:end]).tolist():
            out.keys.setdefault(m, set()).add(part)
    return out


def runs(sorted_keys: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of equal values."""
    if len(sorted_keys) == 0:
        return []
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], len(sorted_keys)]
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


@functools.lru_cache(maxsize=1 << 16)
def _hour_names(hours_since_epoch: int) -> tuple[str, str]:
    t = datetime.fromtimestamp(hours_since_epoch * 3600, tz=UTC)
    return t.strftime("%Y-%m-%d"), t.strftime("%H")
