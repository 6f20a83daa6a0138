"""SDK benchmark: track() latency with the durable queue, and delivery rate.

    .venv/bin/python bench/sdk.py [--calls 100000] [--runs 3]

Compares, in the same run, causality-sdk (durable SQLite WAL queue) with
segment-analytics-python (in-memory queue), both delivering to a stand-in ingest server (and ours
also to the real ingest edge, NATS JetStream PubAck before every 200)
on 127.0.0.1 in a separate process, so nothing leaves the machine. Figures are medians
over --runs. Timings use time.perf_counter_ns around each call.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sdk" / "python"))

WRITE_KEY = "bench-key"
WARMUP = 2_000


# -- the stand-in ingest server (runs in its own process) ---------------------------------


def serve() -> None:
    from aiohttp import web

    async def batch(request: web.Request) -> web.Response:
        body = await request.read()  # aiohttp has already undone Content-Encoding: gzip
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        events = json.loads(body)["batch"]
        results = [{"messageId": e.get("messageId"), "status": "accepted"} for e in events]
        return web.json_response({"results": results})

    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_post("/v1/batch", batch)

    async def start() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(port, flush=True)
        while True:
            await asyncio.sleep(3600)

    import asyncio

    asyncio.run(start())


def start_server() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    port = int(proc.stdout.readline())  # type: ignore[union-attr]
    return proc, f"http://127.0.0.1:{port}"


# -- measurements -------------------------------------------------------------------------


def percentiles(samples: list[int], cpu_ns: int) -> dict[str, float]:
    ordered = sorted(samples)
    n = len(ordered)
    return {
        "cpu": cpu_ns / n / 1000,
        "p50": ordered[n // 2] / 1000,
        "p99": ordered[int(n * 0.99)] / 1000,
        "p99.9": ordered[int(n * 0.999)] / 1000,
        "max": ordered[-1] / 1000,
    }


def time_calls(track, calls: int) -> dict[str, float]:
    """Wall time of each call, and the calling thread's CPU time per call (which the
    machine's other load inflates far less than the wall-clock tail)."""
    clock = time.perf_counter_ns
    for i in range(WARMUP):
        track("user-1", "Button Clicked", {"plan": "pro", "n": i})
    samples = [0] * calls
    cpu_start = time.thread_time_ns()
    for i in range(calls):
        start = clock()
        track("user-1", "Button Clicked", {"plan": "pro", "n": i})
        samples[i] = clock() - start
    return percentiles(samples, time.thread_time_ns() - cpu_start)


def bench_causality(host: str, calls: int, send: bool) -> dict[str, float]:
    from causality_sdk import Client

    with tempfile.TemporaryDirectory() as queue_dir:
        client = Client(
            WRITE_KEY, host, queue_dir=queue_dir, send=send, max_queue_events=calls + 2 * WARMUP
        )
        started = time.perf_counter()
        figures = time_calls(client.track, calls)
        if send:
            assert client.flush(120), "causality-sdk did not deliver everything"
            figures["e2e_eps"] = (calls + WARMUP) / (time.perf_counter() - started)
            stats = client.stats()
            assert stats.delivered == calls + WARMUP and stats.evicted == 0, stats
        client.shutdown(5)
    return figures


def bench_causality_drain(host: str, calls: int, key: str = WRITE_KEY) -> float:
    """Delivered events/s from a pre-filled durable queue (the sender alone)."""
    from causality_sdk import Client

    with tempfile.TemporaryDirectory() as queue_dir:
        filler = Client(key, host, queue_dir=queue_dir, send=False, max_queue_events=calls)
        for i in range(calls):
            filler.track("user-1", "Button Clicked", {"plan": "pro", "n": i})
        filler.shutdown(1)
        sender = Client(key, host, queue_dir=queue_dir)
        started = time.perf_counter()
        assert sender.flush(300), "drain did not finish"
        elapsed = time.perf_counter() - started
        assert sender.stats().delivered == calls
        sender.shutdown(5)
    return calls / elapsed


def bench_segment(host: str, calls: int) -> dict[str, float]:
    from segment.analytics import Client

    logging.getLogger("segment").setLevel(logging.CRITICAL)
    errors: list[object] = []
    client = Client(
        WRITE_KEY,
        host=host,
        max_queue_size=calls + 2 * WARMUP,
        on_error=lambda e, batch: errors.append(e),
    )
    started = time.perf_counter()
    figures = time_calls(client.track, calls)
    client.flush()  # joins its in-memory queue
    figures["e2e_eps"] = (calls + WARMUP) / (time.perf_counter() - started)
    client.join()
    assert not errors, errors[:3]
    return figures


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def drain_to_real_ingest(calls: int) -> float:
    """The same drain against the real ingest edge (NATS JetStream, PubAck before 200)."""
    import socket

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from causality.settings import load_settings
    from causality.supervisor import Supervisor
    from causality.wiring import metadata
    from metadata import KeyStore

    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    with tempfile.TemporaryDirectory() as data:
        os.environ.update({"CAUSALITY_DATA_DIR": data, "CAUSALITY_NATS_PORT": str(ports[0]),
                           "CAUSALITY_INGEST_PORT": str(ports[1]),
                           "CAUSALITY_INGEST_RATE_LIMIT_EVENTS_PER_S": "0"})
        sup = Supervisor(load_settings())
        try:
            sup.start_nats()
            sup.spawn("ingest", "ingest", ready_url=f"http://127.0.0.1:{ports[1]}/readyz")
            _, key = KeyStore(metadata(sup.settings)).create("bench")
            return bench_causality_drain(f"http://127.0.0.1:{ports[1]}", calls, key)
        finally:
            sup.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return

    import causality_sdk
    import segment.analytics.version as segment_version

    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    server, host = start_server()
    try:
        ours, quiet, theirs, drains = [], [], [], []
        for run in range(args.runs):
            print(f"run {run + 1}/{args.runs} ...", file=sys.stderr, flush=True)
            ours.append(bench_causality(host, args.calls, send=True))
            quiet.append(bench_causality(host, args.calls, send=False))
            theirs.append(bench_segment(host, args.calls))
            drains.append(bench_causality_drain(host, args.calls))
    finally:
        server.terminate()
        server.wait()

    print("drain to the real ingest edge ...", file=sys.stderr, flush=True)
    real_drain = drain_to_real_ingest(min(args.calls, 50_000))
    a, q, s = median_of(ours), median_of(quiet), median_of(theirs)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"\ntrack() latency, {args.calls:,} calls after {WARMUP:,} warm-up, median of "
        f"{args.runs} runs (CPUs: {os.cpu_count()}, 1-min load average at start "
        f"{load_start:.2f}, at end {load:.2f})\n"
    )
    header = (
        f"{'client':58s} {'p50 µs':>8s} {'p99 µs':>8s} {'p99.9 µs':>9s} {'max µs':>9s}"
        f" {'CPU µs/call':>12s}"
    )
    print(header)
    print("-" * len(header))
    rows = [
        (f"causality-sdk {causality_sdk.__version__}, durable queue, sender running", a),
        (f"causality-sdk {causality_sdk.__version__}, durable queue, send=False", q),
        (f"segment-analytics-python {segment_version.VERSION}, in-memory queue", s),
    ]
    for name, f in rows:
        print(
            f"{name:58s} {f['p50']:8.1f} {f['p99']:8.1f} {f['p99.9']:9.1f} {f['max']:9.1f}"
            f" {f['cpu']:12.1f}"
        )
    ratio = {k: a[k] / s[k] for k in ("p50", "p99", "p99.9", "max", "cpu")}
    print(
        f"{'ratio causality (sender running) / segment':58s} {ratio['p50']:8.2f} "
        f"{ratio['p99']:8.2f} {ratio['p99.9']:9.2f} {ratio['max']:9.2f} {ratio['cpu']:12.2f}"
    )
    verdict = "PASS" if a["p99"] < 1000 else "FAIL"
    goal = "met" if a["p99"] < 100 else "not met"
    print(f"\nmust p99 < 1 ms: {verdict}; goal p99 < 100 µs: {goal}")
    print(
        "\ndelivered events/s to a local stand-in ingest server (aiohttp, 127.0.0.1, "
        "200 with per-event results)\n"
    )
    print(
        f"{'causality-sdk, drain of a pre-filled durable queue':58s} "
        f"{statistics.median(drains):12,.0f}"
    )
    print(f"{'causality-sdk, end to end (track loop + flush)':58s} {a['e2e_eps']:12,.0f}")
    print(
        f"{'segment-analytics-python, end to end (track loop + flush)':58s} {s['e2e_eps']:12,.0f}"
    )
    print(
        f"{'causality-sdk, drain to the real ingest edge (JetStream PubAck)':58s} "
        f"{real_drain:12,.0f}"
    )


if __name__ == "__main__":
    main()
