"""Freshness: from the edge's 200 to the event answering a query, per sink flush interval.

    .venv/bin/python bench/freshness.py [--intervals 30,1] [--duration 90] [--rate 20]

For each flush interval (seconds; 30 is ``sink.flush_interval_s``'s default), starts its own
nats-server, ``causality ingest`` and ``causality sink`` (separate processes, the sink with
``CAUSALITY_SINK_FLUSH_INTERVAL_S``), and opens the DuckDB engine as the workspace does (day
cache on). A sender posts one event every 1/--rate s for --duration s, as an SDK would (one
event per request, so each has its own 200), and keeps the time of each 200. A poller asks the
engine every --poll s which of the events still unseen are in ``events``; an event's freshness
is the time it was first seen minus the time of its 200 (the poll period bounds the
resolution). Prints p50, p99 and max per interval. Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from pipeline.natsd import NatsConfig, NatsServer  # noqa: E402
from warehouse.engines import EngineError, open_engine  # noqa: E402

APP = "fresh"


def _start(cmd: list[str], env: dict[str, str], log: Path, ready: bytes) -> subprocess.Popen[bytes]:
    with log.open("wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "causality", *cmd], cwd=ROOT, env=env,
                                stdout=fh, stderr=fh)
    deadline = time.monotonic() + 60
    while ready not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"{cmd[0]} did not start: {log.read_text()[-2000:]}")
        time.sleep(0.02)
    return proc


def _ingest_url(log: Path) -> str:
    for line in log.read_text().splitlines():
        if line.startswith("ingest ready at "):
            return line.split()[3]
    raise SystemExit(f"no ingest URL in {log}")


async def _send(url: str, key: str, rate: float, duration_s: float,
                acked: dict[str, float]) -> int:
    """One event per request at ``rate``/s; ``acked[id]`` = wall time of its 200."""
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    refused = 0
    period = 1.0 / rate
    async with aiohttp.ClientSession(headers={"Authorization": auth}) as session:
        start = time.monotonic()
        n = 0
        while (due := start + n * period) < start + duration_s:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            event_id = str(uuid.uuid4())
            body = {"batch": [{"type": "track", "event": "fresh_check", "userId": "u1",
                               "messageId": event_id,
                               "timestamp": datetime.now(UTC).isoformat()}]}
            async with session.post(url + "/v1/batch", json=body) as resp:
                if resp.status == 200:
                    acked[event_id] = time.time()
                else:
                    refused += 1
            n += 1
    return refused


def _poll(engine: Any, acked: dict[str, float], seen: dict[str, float], stop: threading.Event,
          sent: threading.Event, poll_s: float) -> None:
    """Until stopped, or until everything sent is seen."""
    while not stop.is_set():
        waiting = [i for i in list(acked) if i not in seen]
        if sent.is_set() and not waiting:
            return
        if waiting:
            ids = ", ".join(f"'{i}'" for i in waiting)
            try:
                result = engine.run(f"SELECT event_id FROM events WHERE app_id = '{APP}' "
                                    f"AND event_id IN ({ids})", max_rows=len(waiting) + 1,
                                    timeout_s=30)
            except EngineError:  # no file landed yet: no table to read
                result = None
            now = time.time()
            for event_id in result.table.column("event_id").to_pylist() if result else ():
                seen.setdefault(event_id, now)
        stop.wait(poll_s)


def run_interval(interval_s: float, args: argparse.Namespace) -> dict[str, Any]:
    from metadata import KeyStore, open_db

    with tempfile.TemporaryDirectory(prefix="causality-fresh-") as tmp_dir:
        tmp = Path(tmp_dir)
        warehouse = tmp / "warehouse"
        server = NatsServer(NatsConfig(store_dir=tmp / "nats")).start()
        procs: list[subprocess.Popen[bytes]] = []
        engine = None
        try:
            db_url = f"sqlite:///{tmp / 'meta.db'}"
            key = KeyStore(open_db(db_url)).create(APP)[1]
            env = {**os.environ, "CAUSALITY_DATA_DIR": str(tmp), "CAUSALITY_NATS_URL": server.url,
                   "CAUSALITY_METADATA_URL": db_url, "CAUSALITY_STORAGE_WAREHOUSE": str(warehouse),
                   "CAUSALITY_SINK_HTTP_PORT": "0", "CAUSALITY_LOG_LEVEL": "info",
                   "CAUSALITY_SINK_FLUSH_INTERVAL_S": f"{interval_s:g}",
                   "CAUSALITY_INGEST_RATE_LIMIT_EVENTS_PER_S": "0",
                   "CAUSALITY_INGEST_DRAIN_DELAY_S": "0"}
            procs.append(_start(["ingest", "--port", "0"], env, tmp / "ingest.log",
                                b"ingest ready at "))
            url = _ingest_url(tmp / "ingest.log")
            procs.append(_start(["sink"], env, tmp / "sink.log", b'"sink ready"'))
            warehouse.mkdir(exist_ok=True)
            engine = open_engine("duckdb", warehouse=warehouse, cache_mb=1024)
            acked: dict[str, float] = {}
            seen: dict[str, float] = {}
            stop, sent = threading.Event(), threading.Event()
            poller = threading.Thread(target=_poll,
                                      args=(engine, acked, seen, stop, sent, args.poll))
            poller.start()
            try:
                refused = asyncio.run(_send(url, key, args.rate, args.duration, acked))
                sent.set()
                poller.join(timeout=interval_s * 2 + 30)  # the poller ends once all are seen
            finally:
                stop.set()
                poller.join()
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(60)
            if engine is not None:
                engine.close()
            server.stop()
    lags = sorted(seen[i] - t for i, t in acked.items() if i in seen)
    return {"flush_interval_s": interval_s, "sent": len(acked) + refused, "answered_200":
            len(acked), "seen": len(seen), "refused": refused,
            "p50_s": _pct(lags, 50), "p99_s": _pct(lags, 99),
            "max_s": round(lags[-1], 3) if lags else None,
            "mean_s": round(statistics.fmean(lags), 3) if lags else None}


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))], 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--intervals", default="30,1",
                    help="sink flush intervals to measure, seconds, comma-separated")
    ap.add_argument("--duration", type=float, default=90.0, help="seconds of sending per interval")
    ap.add_argument("--rate", type=float, default=20.0, help="events (requests) per second")
    ap.add_argument("--poll", type=float, default=0.1, help="query period, seconds")
    args = ap.parse_args()
    results = []
    for interval in (float(x) for x in args.intervals.split(",")):
        r = run_interval(interval, args)
        results.append(r)
        print(f"flush_interval_s={interval:g}: {r['answered_200']} events answered 200, "
              f"{r['seen']} queryable; 200 -> queryable p50 {r['p50_s']:.2f} s, "
              f"p99 {r['p99_s']:.2f} s, max {r['max_s']:.2f} s "
              f"(poll every {args.poll:g} s, {os.cpu_count()} cores)", flush=True)
    print(json.dumps({"freshness": results}))


if __name__ == "__main__":
    main()
