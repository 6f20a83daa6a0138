"""Rows waiting for their flush, per partition, and the messages waiting for their ACK."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pyarrow as pa
from nats.aio.msg import Msg

from warehouse.layout import Partition


@dataclass(eq=False)
class Held:
    """One delivered message, not yet ACKed: it is ACKed once all its ``keys`` are written."""

    msg: Msg  # the newest delivery (a redelivery of a held message replaces it)
    seq: int  # stream sequence
    keys: frozenset[Partition]
    touched: float  # monotonic time of its delivery or last in-progress heartbeat
    marked: bool = False  # an attempt marker is recorded for it (pipeline.sink._attempts)


@dataclass
class Batch:
    """What one flush writes and then ACKs."""

    parts: dict[Partition, pa.Table]
    held: list[Held]
    rows: int
    nbytes: int


@dataclass
class Buffer:
    _parts: dict[Partition, list[pa.Table]] = field(default_factory=dict)
    _held: list[Held] = field(default_factory=list)
    rows: int = 0
    nbytes: int = 0
    since: float | None = None  # monotonic time of the oldest buffered message

    def add(self, parts: Mapping[Partition, pa.Table], held: Iterable[Held], now: float) -> None:
        for part, table in parts.items():
            self._parts.setdefault(part, []).append(table)
            self.rows += table.num_rows
            self.nbytes += table.nbytes
        before = len(self._held)
        self._held.extend(held)
        if self.since is None and len(self._held) > before:
            self.since = now

    @property
    def messages(self) -> int:
        return len(self._held)

    def take(self) -> Batch:
        parts = {p: pa.concat_tables(ts) for p, ts in self._parts.items()}
        batch = Batch(parts, self._held, self.rows, self.nbytes)
        self._parts, self._held = {}, []
        self.rows = self.nbytes = 0
        self.since = None
        return batch
