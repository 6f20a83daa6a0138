"""The compactor: closed partitions → few large, sorted, exactly de-duplicated files.

A partition is *closed* when its hour ended more than ``grace_s`` ago. It needs compaction
when it holds any file the compactor did not write (``c-`` prefix): sink flushes, late events
landing in an already compacted partition, demo files. Compaction reads every file of the
partition, keeps one row per ``event_id`` (the earliest ``received_at``), sorts by
``(event_type, event_time)``, and writes files near ``target_bytes`` with row groups of
``row_group_rows`` so engines can prune on event_type and event_time.

Visibility for a query running during compaction. The merged files are written durably under
hidden names first; then, under the storage's exclusive swap lock, they are renamed into place
and exactly the input files are deleted. Local queries (the DuckDB engine) hold the lock shared,
so each sees a partition entirely before or entirely after the swap: never fewer rows than
were committed before compaction started, and no double counting. On S3 and for Trino there
is no such lock: outputs become visible first and inputs are deleted right after, so a query
never sees fewer rows but may count a partition twice during that short window (and the DuckDB
engine retries a query whose file vanished). Files that arrive while a partition is being
compacted are not touched and are compacted on the next run.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc

from causality.errors import CausalityError
from pipeline.errors import PipelineError
from warehouse.layout import Partition
from warehouse.schema import FILE_SCHEMA
from warehouse.storage import ROW_GROUP_ROWS, FileInfo, Storage

COMPACTED_PREFIX = "c-"
GRACE_S = 3600.0
TARGET_BYTES = 256 * 1024 * 1024
INTERVAL_S = 300.0
RETRY_S = 10.0  # first retry after a failed pass; doubles up to the interval

log = logging.getLogger("causality.compactor")


class CompactorError(PipelineError):
    code = "compactor_error"


@dataclass(frozen=True)
class CompactionPolicy:
    grace_s: float = GRACE_S
    target_bytes: int = TARGET_BYTES
    row_group_rows: int = ROW_GROUP_ROWS


@dataclass(frozen=True)
class PartitionResult:
    partition: Partition
    files_in: int
    files_out: int
    rows_in: int
    rows_out: int
    bytes_in: int
    bytes_out: int

    @property
    def duplicates(self) -> int:
        return self.rows_in - self.rows_out


@dataclass
class RunResult:
    partitions: list[PartitionResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def files_removed(self) -> int:
        return sum(p.files_in for p in self.partitions)

    @property
    def rows(self) -> int:
        return sum(p.rows_in for p in self.partitions)


def is_closed(partition: Partition, now: datetime, grace_s: float) -> bool:
    return partition.start + timedelta(hours=1, seconds=grace_s) <= now


def needs_compaction(files: list[FileInfo]) -> bool:
    return any(not f.name.startswith(COMPACTED_PREFIX) for f in files)


def plan(storage: Storage, policy: CompactionPolicy, now: datetime) -> list[Partition]:
    """Closed partitions holding files the compactor has not written yet."""
    return [p for p in storage.partitions()
            if is_closed(p, now, policy.grace_s) and needs_compaction(storage.files(p))]


def dedupe_and_sort(table: pa.Table) -> pa.Table:
    """One row per event_id (earliest received_at), ordered by (event_type, event_time)."""
    if table.num_rows == 0:
        return table
    by_id = table.sort_by([("event_id", "ascending"), ("received_at", "ascending")])
    ids = by_id["event_id"].combine_chunks()
    first = pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1))
    keep = pa.concat_arrays([pa.array([True]), first.fill_null(True)])
    unique = by_id.filter(keep)
    return unique.sort_by([("event_type", "ascending"), ("event_time", "ascending")])


def compact_partition(storage: Storage, partition: Partition,
                      policy: CompactionPolicy) -> PartitionResult | None:
    inputs = storage.files(partition)
    if not needs_compaction(inputs):
        return None
    table = storage.read(inputs).select(FILE_SCHEMA.names).cast(FILE_SCHEMA)
    merged = dedupe_and_sort(table)
    bytes_in = sum(f.size for f in inputs)
    per_row = max(1.0, bytes_in / max(1, table.num_rows))
    rows_per_file = max(policy.row_group_rows, int(policy.target_bytes / per_row))
    run_id = uuid.uuid4().hex[:12]
    staged = [
        storage.stage_parquet(partition, merged.slice(start, rows_per_file),
                              f"{COMPACTED_PREFIX}{run_id}-{i}", policy.row_group_rows)
        for i, start in enumerate(range(0, merged.num_rows, rows_per_file))
    ]
    try:
        with storage.swap_lock():
            outputs = [f.commit() for f in staged]
            storage.delete(inputs)  # only after every output is visible
    finally:
        for f in staged:
            f.discard()
    return PartitionResult(partition, len(inputs), len(outputs), table.num_rows,
                           merged.num_rows, bytes_in, sum(f.size for f in outputs))


def run_once(storage: Storage, policy: CompactionPolicy,
             now: datetime | None = None) -> RunResult:
    started = time.perf_counter()
    result = RunResult()
    with SingleInstance(storage):
        for partition in plan(storage, policy, now or datetime.now(UTC)):
            done = compact_partition(storage, partition, policy)
            if done is not None:
                result.partitions.append(done)
                log.info("compacted %s: %d files -> %d, %d rows (%d duplicates removed)",
                         partition.path, done.files_in, done.files_out, done.rows_out,
                         done.duplicates)
    result.seconds = time.perf_counter() - started
    return result


def run_forever(storage: Storage, policy: CompactionPolicy, interval_s: float,
                stop: threading.Event, after_run: Callable[[], None] | None = None,
                on_result: Callable[[RunResult], None] | None = None,
                on_failure: Callable[[str], None] | None = None,
                retry_s: float = RETRY_S) -> None:
    """Compact every ``interval_s`` until ``stop``; ``after_run`` (e.g. registering new
    partitions with Trino) runs after each pass, ``on_result`` gets each pass's result.

    A pass that fails (storage down, another compactor, a file it cannot read) is logged with
    its error code and handed to ``on_failure``; the compactor keeps running and retries
    after a backoff that starts at ``retry_s`` and doubles up to ``interval_s``, so one bad
    night does not turn into a crash loop that resets its metrics."""
    failures = 0
    while not stop.is_set():
        try:
            result = run_once(storage, policy)
            if after_run is not None:
                after_run()
        except Exception as err:  # any failed pass is counted and retried
            failures += 1
            code = err.code if isinstance(err, CausalityError) else "compaction_failed"
            log.error("compaction pass failed (code %s, %d in a row): %s", code, failures, err,
                      exc_info=not isinstance(err, CausalityError))
            if on_failure is not None:
                on_failure(code)
            stop.wait(min(interval_s, retry_s * 2 ** (failures - 1)))
            continue
        failures = 0
        if on_result is not None:
            on_result(result)
        stop.wait(interval_s)


class SingleInstance:
    """An exclusive lock so two compactors never rewrite the same local warehouse at once.

    On S3 there is no lock: run a single compactor (documented in the README).
    """

    def __init__(self, storage: Storage):
        self.path = None if storage.is_s3 else Path(storage.root) / ".compactor.lock"
        self.fh: IO[str] | None = None

    def __enter__(self) -> None:
        if self.path is None:
            return
        self.fh = self.path.open("a")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.close()
            raise CompactorError("another compactor is running on this warehouse",
                                 code="compactor_busy",
                                 hint="run one compactor per warehouse") from None

    def __exit__(self, *_exc: object) -> None:
        if self.fh is not None:
            fcntl.flock(self.fh, fcntl.LOCK_UN)
            self.fh.close()
