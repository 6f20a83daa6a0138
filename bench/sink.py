"""Sink throughput, JetStream → Parquet, against a lean pull loop that only fetches and ACKs.

    .venv/bin/python bench/sink.py [--events 1000000] [--runs 3] [--spread live|demo]

Starts its own nats-server (temp store), pre-loads the EVENTS stream with --events realistic rows
(warehouse.demo.generate) as messages of 50 rows encoded by pipeline.bus, then --runs times:

* ``causality sink`` as a separate process (default settings, fresh durable consumer, fresh
  warehouse dir): the clock runs from its "sink ready" log line until it exits after a SIGTERM
  sent as soon as the consumer has nothing left to deliver (the SIGTERM drain writes the tail at
  once instead of waiting for the 30 s flush interval). Then the files are counted and the
  consumer must have nothing pending or un-ACKed. CPU and peak RSS come from wait4().
* the baseline, in another process: fetch(256) and ACK each message, nothing else.

``--spread live`` (default) re-times the events into the last two hours, as live traffic lands:
a few partitions. ``--spread demo`` keeps the demo's eight weeks (a backfill: ~4,000 partitions,
a file per partition per flush). Prints figures only; medians of the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nats  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from nats.js.api import AckPolicy, ConsumerConfig  # noqa: E402

from pipeline.bus import STREAMS, batch_id, encode_batch, ensure_streams, stream_configs  # noqa: E402
from pipeline.natsd import NatsConfig, NatsServer  # noqa: E402

ROWS_PER_MESSAGE = 50
HOUR_US = 3_600_000_000
LIVE_SPAN_US = 2 * HOUR_US


# -- data -----------------------------------------------------------------------------------

def _messages(n_events: int, spread: str, seed: int = 42) -> list[tuple[str, bytes, str]]:
    """(subject, payload, Nats-Msg-Id) of 50-row batches, in arrival order."""
    from warehouse.demo import generate

    table = generate(n_events, seed=seed)  # sorted by app, then time
    times = pc.cast(table["event_time"], pa.int64()).to_numpy().copy()
    received = pc.cast(table["received_at"], pa.int64()).to_numpy().copy()
    if spread == "live":  # each app's events evenly over the last two hours, order kept
        now_us = time.time_ns() // 1000
        apps = table["app_id"].to_numpy(zero_copy_only=False)
        for app in set(apps.tolist()):
            idx = (apps == app).nonzero()[0]
            lag = received[idx] - times[idx]
            times[idx] = now_us - LIVE_SPAN_US + (idx - idx[0]) * LIVE_SPAN_US // len(idx)
            received[idx] = times[idx] + lag
    table = table.drop_columns(["event_time", "received_at", "dt", "hour"])
    table = table.append_column("event_time", pa.array(times)).append_column(
        "received_at", pa.array(received))
    out: list[tuple[int, str, bytes, str]] = []
    for start in range(0, table.num_rows, 50_000):
        rows = table.slice(start, 50_000).to_pylist()
        i = 0
        while i < len(rows):
            app = rows[i]["app_id"]
            j = i
            while j < len(rows) and j - i < ROWS_PER_MESSAGE and rows[j]["app_id"] == app:
                j += 1
            chunk = rows[i:j]
            bid = batch_id(app, [r["event_id"] for r in chunk])
            out.append((chunk[0]["event_time"], STREAMS.events_for(app),
                        encode_batch(app, bid, chunk), bid))
            i = j
    out.sort(key=lambda m: m[0])  # apps interleaved by time, as they arrive
    return [(subject, payload, bid) for _, subject, payload, bid in out]


async def _preload(url: str, messages: list[tuple[str, bytes, str]]) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=30)
    await ensure_streams(js, stream_configs(STREAMS))
    window = 256
    for i in range(0, len(messages), window):
        await asyncio.gather(*(js.publish(s, p, headers={"Nats-Msg-Id": b})
                               for s, p, b in messages[i:i + window]))
    info = await js.stream_info(STREAMS.events)
    assert info.state.messages == len(messages), info.state
    await nc.close()


async def _consumer(url: str, durable: str) -> Any:
    nc = await nats.connect(url)
    try:
        return await nc.jetstream().consumer_info(STREAMS.events, durable)
    finally:
        await nc.close()


async def _delete_consumer(url: str, durable: str) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().delete_consumer(STREAMS.events, durable)
    except nats.js.errors.NotFoundError:
        pass
    finally:
        await nc.close()


# -- the sink -------------------------------------------------------------------------------

def _peak_rss(pid: int) -> int:
    """The process's own RSS high-water mark (VmHWM), in bytes; 0 once it is gone.

    Not wait4's ru_maxrss: on Linux that also counts the parent's image forked before exec.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    kb = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")), "0")
    return int(kb) * 1024


def _wait4(proc: subprocess.Popen[bytes], peak: int) -> tuple[int, float, int]:
    """(exit status, CPU seconds, peak RSS bytes) of a child, polled until it exits."""
    while True:
        peak = max(peak, _peak_rss(proc.pid))
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime, peak


def run_sink(url: str, tmp: Path, n_events: int, run: int) -> dict[str, Any]:
    asyncio.run(_delete_consumer(url, "sink"))
    warehouse = tmp / f"wh{run}"
    log = tmp / f"sink{run}.log"
    env = {**os.environ, "CAUSALITY_NATS_URL": url, "CAUSALITY_DATA_DIR": str(tmp / "data"),
           "CAUSALITY_STORAGE_WAREHOUSE": str(warehouse), "CAUSALITY_SINK_HTTP_PORT": "0",
           "CAUSALITY_LOG_LEVEL": "info"}
    with log.open("wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "causality", "sink"], cwd=ROOT,
                                env=env, stdout=fh, stderr=fh)
    while b'"sink ready"' not in log.read_bytes():
        if proc.poll() is not None:
            raise SystemExit(f"sink exited: {log.read_text()[-2000:]}")
        time.sleep(0.01)
    started = time.perf_counter()
    cpu_at_ready = sum(psutil.Process(proc.pid).cpu_times()[:2])
    peak = 0
    while asyncio.run(_consumer(url, "sink")).num_pending:
        peak = max(peak, _peak_rss(proc.pid))
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGTERM)
    code, cpu, peak = _wait4(proc, peak)
    took = time.perf_counter() - started
    info = asyncio.run(_consumer(url, "sink"))
    files = list(warehouse.rglob("*.parquet"))
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    assert code == 0, log.read_text()[-2000:]
    assert rows == n_events and info.num_ack_pending == 0 and info.num_pending == 0, (
        rows, info.num_ack_pending, info.num_pending)
    flushes = [json.loads(line) for line in log.read_text().splitlines()
               if '"flushed"' in line]
    return {"seconds": took, "events_per_s": n_events / took, "cpu_s": cpu - cpu_at_ready,
            "cpu_total_s": cpu, "peak_rss_mb": peak / 2**20, "files": len(files),
            "partitions": len({f.parent for f in files}), "flushes": len(flushes),
            "mb_written": sum(f.stat().st_size for f in files) / 2**20}


# -- the baseline ---------------------------------------------------------------------------

async def _lean(url: str, n_msgs: int, durable: str) -> dict[str, float]:
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=30)
    await js.add_consumer(STREAMS.events, ConsumerConfig(
        name=durable, durable_name=durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=60,
        max_ack_pending=20_000, filter_subject=f"{STREAMS.events_subject}.*"))
    sub = await js.pull_subscribe_bind(durable=durable, stream=STREAMS.events)
    cpu0, t0, got = time.process_time(), time.perf_counter(), 0
    while got < n_msgs:
        try:
            msgs = await sub.fetch(256, timeout=1)
        except TimeoutError:
            continue
        for m in msgs:
            await m.ack()
        got += len(msgs)
    await nc.flush()
    result = {"seconds": time.perf_counter() - t0, "cpu_s": time.process_time() - cpu0}
    await js.delete_consumer(STREAMS.events, durable)
    await nc.close()
    return result


def run_lean(url: str, n_msgs: int, n_events: int, run: int) -> dict[str, Any]:
    proc = subprocess.Popen([sys.executable, __file__, "_lean", url, str(n_msgs), f"lean{run}"],
                            stdout=subprocess.PIPE)
    out, _ = proc.communicate()
    assert proc.returncode == 0
    result: dict[str, Any] = json.loads(out)
    result["events_per_s"] = n_events / result["seconds"]
    return result


# -- main -----------------------------------------------------------------------------------

def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_lean":
        print(json.dumps(asyncio.run(_lean(sys.argv[2], int(sys.argv[3]), sys.argv[4]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--spread", choices=("live", "demo"), default="live")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-sink-") as tmp_dir:
        tmp = Path(tmp_dir)
        with NatsServer(NatsConfig(store_dir=tmp / "nats")) as server:
            t = time.perf_counter()
            messages = _messages(args.events, args.spread)
            n_msgs = len(messages)
            print(f"{args.events:,} events ({args.spread}) in {n_msgs:,} messages "
                  f"(avg {sum(len(m[1]) for m in messages) / n_msgs / 1024:.1f} KiB), "
                  f"made in {time.perf_counter() - t:.1f} s", flush=True)
            t = time.perf_counter()
            asyncio.run(_preload(server.url, messages))
            del messages
            print(f"pre-loaded into JetStream in {time.perf_counter() - t:.1f} s", flush=True)
            sinks, leans = [], []
            for run in range(args.runs):
                sinks.append(s := run_sink(server.url, tmp, args.events, run))
                print(f"  sink run {run + 1}: {s['events_per_s']:>9,.0f} events/s  "
                      f"{s['seconds']:.2f} s  cpu {s['cpu_s']:.2f} s  peak RSS "
                      f"{s['peak_rss_mb']:.0f} MB  {s['files']} files / {s['partitions']} "
                      f"partitions / {s['flushes']} flushes, {s['mb_written']:.0f} MB",
                      flush=True)
                leans.append(b := run_lean(server.url, n_msgs, args.events, run))
                print(f"  lean run {run + 1}: {b['events_per_s']:>9,.0f} events/s  "
                      f"{b['seconds']:.2f} s  cpu {b['cpu_s']:.2f} s", flush=True)

    def med(rows: list[dict[str, Any]], key: str) -> float:
        return float(statistics.median(float(r[key]) for r in rows))

    sink_eps, lean_eps = med(sinks, "events_per_s"), med(leans, "events_per_s")
    print(f"\nmedian of {args.runs} ({os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}):")
    print(f"  sink (JetStream -> Parquet): {sink_eps:>9,.0f} events/s   "
          f"cpu {med(sinks, 'cpu_s') / args.events * 1e6:.2f} s per 1M events "
          f"(process total incl. start-up {med(sinks, 'cpu_total_s'):.2f} s)   "
          f"peak RSS {med(sinks, 'peak_rss_mb'):.0f} MB")
    print(f"  lean pull loop (fetch+ack):  {lean_eps:>9,.0f} events/s   "
          f"({lean_eps / ROWS_PER_MESSAGE:,.0f} msgs/s)   "
          f"cpu {med(leans, 'cpu_s') / args.events * 1e6:.2f} s per 1M events")
    print(f"  ratio sink / lean: {sink_eps / lean_eps:.2f}")


if __name__ == "__main__":
    main()
