"""Latency of `guardrails.check` over the benign corpus, with and without a tenant filter.

Run: .venv/bin/python bench/guardrails.py [--repeat N] [--profile] [--execute-events N]
Prints the median and p99 per check, wall clock and CPU time of this process (the
latter is steadier on a shared machine). Goal: median < 2 ms, p99 < 10 ms.

Then the full `guardrails.execute` (check, estimate, run, audit in SQLite) of dashboard-style
queries on DuckDB over N demo events (default 10M, generated once into a cache dir), cold and
warm, next to the bare engine run of the same checked SQL as the baseline. Goal: < 1 s warm.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from guardrails import Policy, Rejected, check  # noqa: E402
from warehouse.schema import TRINO_TYPES  # noqa: E402

CORPUS = ROOT / "tests" / "guardrails" / "fixtures" / "benign.sql"
REPEAT = 20
WARMUP = 2
EVENTS = dict(TRINO_TYPES)
CATALOG = {"events": EVENTS}


def corpus() -> list[str]:
    """The SQL of each `-- case:` block in the benign fixture file."""
    blocks = re.split(r"^-- case: .*$", CORPUS.read_text(), flags=re.MULTILINE)[1:]
    return [block.strip() for block in blocks]


def timings(queries: list[str], policy: Policy, repeat: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds of each check."""
    for sql in queries * WARMUP:
        check(sql, CATALOG, policy)
    wall, cpu = [], []
    for _ in range(repeat):
        for sql in queries:
            start, start_cpu = time.perf_counter(), time.process_time()
            check(sql, CATALOG, policy)
            cpu.append(time.process_time() - start_cpu)
            wall.append(time.perf_counter() - start)
    return wall, cpu


def report(label: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * len(ordered)))]
    print(
        f"{label:<26} n={len(samples):>5}  median {statistics.median(samples) * 1e3:6.2f} ms"
        f"  p99 {p99 * 1e3:6.2f} ms  max {ordered[-1] * 1e3:6.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=REPEAT)
    parser.add_argument("--profile", action="store_true", help="print the top of a profile")
    parser.add_argument("--execute-events", type=int, default=10_000_000,
                        help="demo events for the execute benchmark (0 skips it)")
    args = parser.parse_args()
    queries = corpus()
    for sql in queries:
        try:
            check(sql, CATALOG, Policy())
        except Rejected as rejected:
            raise SystemExit(f"benign query rejected: {rejected}\n{sql}") from None
    print(f"{len(queries)} benign queries, {args.repeat} repeats each")
    policies = {"no tenant": Policy(), "tenant filter": Policy(tenant_app_id="app_a")}
    for label, policy in policies.items():
        wall, cpu = timings(queries, policy, args.repeat)
        report(f"{label}, wall", wall)
        report(f"{label}, cpu", cpu)
    if args.execute_events:
        bench_execute(args.execute_events)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(timings, queries, policies["tenant filter"], 3)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


DASHBOARD = {
    "daily active users, last 14 days": (
        "SELECT date_trunc('day', event_time) AS day, count(DISTINCT user_id) AS dau "
        "FROM events WHERE dt >= '{since}' GROUP BY 1 ORDER BY 1"),
    "events by type, one app": (
        "SELECT event_type, count(*) AS n FROM events WHERE dt >= '{since}' "
        "GROUP BY 1 ORDER BY 2 DESC"),
    "revenue by country, 28 days": (
        "SELECT json_extract_scalar(properties, '$.country') AS country, "
        "sum(CAST(json_extract_scalar(properties, '$.revenue') AS double)) AS revenue "
        "FROM events WHERE event_type = 'purchase' AND dt >= '{since28}' "
        "GROUP BY 1 ORDER BY 2 DESC"),
}


def bench_execute(n_events: int) -> None:
    import tempfile
    from datetime import UTC, datetime, timedelta

    from guardrails.execute import RateLimiter, execute
    from warehouse.demo import generate_and_write
    from warehouse.engines import DuckDBEngine
    from workspace.metadata import open_db
    from workspace.metadata.audit import AuditLog

    cache = Path(tempfile.gettempdir()) / f"causality-bench-{n_events}"
    today = datetime.now(UTC).date()
    marker = cache / f".complete-{today}"
    if not marker.exists():
        started = time.perf_counter()
        summary = generate_and_write(n_events, cache, end=today)
        marker.touch()
        print(f"\ngenerated {summary.events:,} events in {summary.files:,} files "
              f"in {time.perf_counter() - started:.1f} s")
    engine = DuckDBEngine(cache)
    audit = AuditLog(open_db(f"sqlite:///{cache}/bench-meta.db"))
    policy = Policy(tenant_app_id="shop", queries_per_minute=None)
    since = (today - timedelta(days=14)).isoformat()
    since28 = (today - timedelta(days=28)).isoformat()
    print(f"\nexecute on DuckDB over {n_events:,} demo events (tenant shop), ms")
    print(f"{'query':<36} {'cold':>8} {'warm p50':>9} {'engine p50':>11} {'ratio':>6}")
    for label, template in DASHBOARD.items():
        sql = template.format(since=since, since28=since28)
        runs: list[float] = []
        bare: list[float] = []
        for _ in range(6):
            t0 = time.perf_counter()
            done = execute(sql, engine=engine, policy=policy, actor="bench", source="dashboard",
                           audit=audit, limiter=RateLimiter())
            runs.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            engine.run(done.checked.sql, policy.max_rows, 60)
            bare.append((time.perf_counter() - t0) * 1000)
        warm, base = statistics.median(runs[1:]), statistics.median(bare[1:])
        print(f"{label:<36} {runs[0]:>8.0f} {warm:>9.0f} {base:>11.0f} {warm / base:>6.2f}")
    engine.close()


if __name__ == "__main__":
    main()
