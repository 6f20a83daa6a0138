"""Compaction: exact de-duplication, order, late data, visibility, S3."""

import threading
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline.compactor import (
    CompactionPolicy,
    CompactorError,
    SingleInstance,
    compact_partition,
    dedupe_and_sort,
    plan,
    run_once,
)
from tests.fixtures.s3 import S3Server
from warehouse.demo import generate
from warehouse.engines.duckdb_engine import DuckDBEngine
from warehouse.layout import Partition
from warehouse.schema import FILE_SCHEMA
from warehouse.storage import Storage

END = date(2026, 11, 1)
NOW = datetime(2026, 11, 2, tzinfo=UTC)
POLICY = CompactionPolicy(grace_s=600)


def sink_like_files(storage: Storage, table: pa.Table, pieces: int, tag: str = "s") -> None:
    """Write each partition's rows as ``pieces`` small files, like sink flushes would."""
    keys = table.select(["app_id", "dt", "hour"]).group_by(["app_id", "dt", "hour"]).aggregate([])
    for app, dt, hour in zip(*(keys[c].to_pylist() for c in ("app_id", "dt", "hour")),
                             strict=True):
        part = table.filter((pc.field("app_id") == app) & (pc.field("dt") == dt)
                            & (pc.field("hour") == hour)).select(FILE_SCHEMA.names)
        step = max(1, -(-part.num_rows // pieces))
        for i in range(0, part.num_rows, step):
            storage.write_parquet(Partition(app, dt, hour), part.slice(i, step), f"{tag}-{i}")


def demo_subset(n: int = 6000, seed: int = 4) -> pa.Table:
    """About ``n`` events of one day (the demo spreads its events over 56 days)."""
    return generate(n * 56, seed=seed, end=END).filter(pc.field("dt") == "2026-10-30")


def count(engine: DuckDBEngine, sql: str = "select count(*) as n from events") -> int:
    return int(engine.run(sql, 10, 60).table.column(0)[0].as_py())


def test_dedupe_keeps_earliest_received_and_sorts() -> None:
    rows = pa.Table.from_pylist([
        {"event_id": "b", "event_type": "z", "category": "t", "event_time": 5, "received_at": 9},
        {"event_id": "a", "event_type": "y", "category": "t", "event_time": 3, "received_at": 7},
        {"event_id": "b", "event_type": "z", "category": "t", "event_time": 5, "received_at": 2},
        {"event_id": "c", "event_type": "y", "category": "t", "event_time": 1, "received_at": 1},
    ], schema=FILE_SCHEMA)
    out = dedupe_and_sort(rows)
    assert out["event_id"].to_pylist() == ["c", "a", "b"]
    assert out.filter(pc.field("event_id") == "b")["received_at"][0].value == 2
    assert dedupe_and_sort(rows.slice(0, 0)).num_rows == 0


def test_compaction_merges_dedupes_and_keeps_every_event(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    table = demo_subset()
    sink_like_files(storage, table, pieces=3)
    # Redelivered rows: the same events again in another small file.
    sink_like_files(storage, table.slice(0, 500), pieces=1, tag="redelivered")
    engine = DuckDBEngine(tmp_path)
    assert count(engine) == table.num_rows + 500

    result = run_once(storage, POLICY, now=NOW)
    assert result.rows == table.num_rows + 500
    assert sum(p.duplicates for p in result.partitions) == 500
    assert count(engine) == table.num_rows
    assert count(engine, "select count(distinct event_id) from events") == table.num_rows
    for part in storage.partitions():
        files = storage.files(part)
        assert len(files) == 1 and files[0].name.startswith("c-")
        got = pq.read_table(storage.abs(files[0].path))
        keys = list(zip(got["event_type"].to_pylist(), got["event_time"].to_pylist(), strict=True))
        assert keys == sorted(keys)
    assert run_once(storage, POLICY, now=NOW).partitions == []  # nothing left to do


def test_open_partitions_wait_for_the_grace_period(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    sink_like_files(storage, demo_subset(), pieces=2)
    last_hour = datetime(2026, 10, 30, 23, 0, tzinfo=UTC)
    planned = plan(storage, CompactionPolicy(grace_s=600), now=last_hour.replace(hour=23,
                                                                                minute=30))
    assert planned
    assert all((p.hour != "23" and p.hour != "22") or p.hour == "22" for p in planned)
    assert not any(p.hour == "23" for p in planned)


def test_late_events_are_compacted_again(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    table = demo_subset()
    sink_like_files(storage, table, pieces=2)
    run_once(storage, POLICY, now=NOW)
    late = generate(6000 * 56, seed=99, end=END).filter(pc.field("dt") == "2026-10-30").slice(0, 40)
    sink_like_files(storage, late, pieces=1, tag="late")
    again = run_once(storage, POLICY, now=NOW)
    assert again.partitions
    assert all(p.files_out == 1 for p in again.partitions)
    assert count(DuckDBEngine(tmp_path)) == table.num_rows + 40


def test_target_size_splits_large_partitions(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    table = demo_subset(20_000)
    sink_like_files(storage, table, pieces=4)
    part = max(storage.partitions(), key=lambda p: sum(f.size for f in storage.files(p)))
    rows = sum(pq.read_metadata(storage.abs(f.path)).num_rows for f in storage.files(part))
    result = compact_partition(storage, part, CompactionPolicy(target_bytes=20_000,
                                                                row_group_rows=100))
    assert result is not None
    assert result.files_out > 1
    assert sum(pq.read_metadata(storage.abs(f.path)).num_rows
               for f in storage.files(part)) == rows


def test_queries_during_compaction_never_see_fewer_rows(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    table = demo_subset(12_000)
    sink_like_files(storage, table, pieces=4)
    committed = table.num_rows
    engine = DuckDBEngine(tmp_path)
    seen: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            try:
                seen.append(count(engine))
            except BaseException as exc:  # recorded and asserted on below
                errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        run_once(storage, POLICY, now=NOW)
    finally:
        done.set()
        thread.join(60)
    assert not errors
    assert seen
    assert min(seen) >= committed
    assert count(engine) == committed


def test_one_compactor_per_warehouse(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    with SingleInstance(storage), pytest.raises(CompactorError) as err:
        run_once(storage, POLICY, now=NOW)
    assert err.value.code == "compactor_busy"


def test_compaction_on_s3(s3_server: S3Server) -> None:
    bucket = s3_server.new_bucket()
    storage = Storage(f"s3://{bucket}/wh", filesystem=s3_server.filesystem())
    table = demo_subset(3000).filter(pc.field("hour") < "04")
    sink_like_files(storage, table, pieces=2)
    sink_like_files(storage, table.slice(0, 50), pieces=1, tag="dup")
    result = run_once(storage, POLICY, now=NOW)
    assert sum(p.duplicates for p in result.partitions) == 50
    engine = DuckDBEngine(f"s3://{bucket}/wh", s3=s3_server.filesystem())
    assert count(engine) == table.num_rows
