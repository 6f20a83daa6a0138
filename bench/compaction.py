"""Small files vs compacted: dashboard queries on DuckDB, and compaction throughput.

Run: .venv/bin/python bench/compaction.py [--events N] [--files-per-partition K] [--repeat R]

The demo's N events are squeezed into one day (3 apps x 24 hourly partitions) and written as K
small files per partition, like a sink flushing every 30 s (K=40 gives 2,880 files). The same
query set runs on that layout, then the compactor merges it, and the queries run again. Prints
median latencies (ms), the ratio, and compaction throughput. Goal: compacted >= 10x faster.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.compactor import CompactionPolicy, run_once  # noqa: E402
from warehouse.demo import generate, write  # noqa: E402
from warehouse.engines.duckdb_engine import DuckDBEngine  # noqa: E402
from warehouse.storage import Storage  # noqa: E402

DAY = date(2026, 11, 20)
QUERIES = {
    "events by type": "SELECT event_type, count(*) AS n FROM events GROUP BY 1 ORDER BY 2 DESC",
    "hourly users per app": ("SELECT app_id, date_trunc('hour', event_time) AS h, "
                             "count(DISTINCT user_id) AS users FROM events GROUP BY 1, 2"),
    "revenue by country": ("SELECT json_extract_scalar(properties, '$.country') AS country, "
                           "sum(CAST(json_extract_scalar(properties, '$.revenue') AS double)) "
                           "AS revenue FROM events WHERE event_type = 'purchase' GROUP BY 1"),
    "one app, one type": ("SELECT count(*) AS n FROM events WHERE app_id = 'shop' "
                          "AND event_type = 'add_to_cart'"),
}


def one_day(n: int) -> pa.Table:
    """Demo rows re-timed into a single day, keeping their order within it."""
    table = generate(n, seed=7, end=date(2026, 11, 21))
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
    t = table["event_time"].cast(pa.int64()).to_numpy()
    span = max(1, int(t.max() - t.min()))
    offsets = ((t - t.min()) / span * 86_399_000_000).astype(np.int64)
    squeezed = int(start.timestamp() * 1e6) + offsets
    ts = pa.array(squeezed, pa.timestamp("us", tz="UTC"))
    table = table.set_column(table.schema.get_field_index("event_time"), "event_time", ts)
    table = table.set_column(table.schema.get_field_index("dt"), "dt",
                             pa.array([DAY.isoformat()] * table.num_rows))
    hours = pc.cast(pc.divide(pc.subtract(pa.array(squeezed), int(start.timestamp() * 1e6)),
                              3_600_000_000), pa.int64())
    hh = pc.utf8_lpad(pc.cast(hours, pa.string()), 2, "0")
    return table.set_column(table.schema.get_field_index("hour"), "hour", hh)


def timed(engine: DuckDBEngine, sql: str, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        engine.run(sql, 100_000, 600)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--files-per-partition", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="causality-compaction-"))
    try:
        table = one_day(args.events)
        write(table, root, files_per_partition=args.files_per_partition, basename="s")
        storage = Storage(str(root))
        files = sum(len(storage.files(p)) for p in storage.partitions())
        print(f"{table.num_rows:,} events in {files:,} small files "
              f"({len(storage.partitions())} partitions)")
        engine = DuckDBEngine(root)
        before = {label: timed(engine, sql, args.repeat) for label, sql in QUERIES.items()}
        started = time.perf_counter()
        result = run_once(storage, CompactionPolicy(grace_s=0))
        took = time.perf_counter() - started
        after_files = sum(len(storage.files(p)) for p in storage.partitions())
        print(f"compaction: {result.rows:,} rows, {result.files_removed:,} files -> "
              f"{after_files}, {took:.1f} s ({result.rows / took:,.0f} rows/s)")
        after = {label: timed(engine, sql, args.repeat) for label, sql in QUERIES.items()}
        print(f"\n{'DuckDB query (median ms)':<28} {'small':>9} {'compacted':>10} {'ratio':>7}")
        for label in QUERIES:
            print(f"{label:<28} {before[label]:>9.0f} {after[label]:>10.0f} "
                  f"{before[label] / after[label]:>6.1f}x")
        engine.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
