"""The reactor: throughput by rule count against a linear scan, and end-to-end firing latency.

    .venv/bin/python bench/reactor.py [--events 100000] [--rounds 3] [--latency-s 20] [--rate 1000]

Starts its own nats-server (temp store), a metadata store (SQLite) and a webhook receiver on
loopback (aiohttp, in a thread; it answers 200 and notes each request's arrival).

Throughput: the stream is filled with --events events (batches of 50, as the edge publishes)
of 20 apps, then a reactor in this process drains them: decode, index lookup, conditions,
firings recorded in the outbox, ACK; deliveries go on meanwhile. Events/s from the rules being
read to the consumer having nothing pending or un-ACKed. The workload is the same at every rule
count: 10 "active" rules on the stream's apps (exact names, globs, conditions; about 3 % of
events match), plus rules on the same apps for event types this stream does not carry (a
quarter of them globs such as ``zz17_*``, the rest exact names), up to 10, 1,000 or 10,000.
The baseline, in the same run and interleaved, is the same reactor with the index replaced by
a scan of every rule per event (with 10,000 rules on a fifth of the events: it is slow).

Latency: `causality ingest` and `causality reactor` as their own processes; events are POSTed
at --rate per second for --latency-s seconds (batches of 10), every one matching a rule; the
latency of an event is from its request's 200 to the receiver getting its webhook. p50/p99.

Monitors: --monitor-events demo events (default 10M: eight weeks) written to a temp warehouse,
then one MonitorRunner pass over 100 monitors from a fresh state and the pass an hour later
(the timing of bench/monitors.py, which also prints precision and recall on the demo's
anomalies). Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nats  # noqa: E402
import orjson  # noqa: E402
from aiohttp import web  # noqa: E402

from metadata import Destinations, KeyStore, Outbox, RuleStore, open_db  # noqa: E402
from pipeline.bus import Streams, batch_id, encode_batch, ensure_streams, stream_configs  # noqa: E402
from pipeline.config import ReactorSettings  # noqa: E402
from pipeline.natsd import NatsConfig, NatsServer  # noqa: E402
from pipeline.reactor import Reactor, ReactorConfig, linear_candidates  # noqa: E402
from pipeline.reactor._events import consumer_config  # noqa: E402

APPS = [f"app{i:02d}" for i in range(20)]
TYPES = ["page", "screen", "signup", "add_to_cart", "checkout_started", "checkout_error",
         "purchase", "purchase_failed", "search", "share"]
KEY = bytes(range(32))


# -- a receiver ----------------------------------------------------------------------------
def _receive(conn: Any) -> None:
    """The receiver process: answers 200, notes each webhook-id's first arrival; sends its port
    first, then answers ``("until", ids, timeout_s)`` with the arrivals once every id in
    ``ids`` has arrived (or the timeout passed), and stops on ``"stop"``."""
    arrivals: dict[str, float] = {}
    wanted: set[str] = set()
    complete = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        arrivals.setdefault(request.headers.get("webhook-id", ""), time.time())
        if wanted and wanted <= arrivals.keys():
            complete.set()
        return web.Response(text="ok")

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        conn.send(runner.addresses[0][1])
        loop = asyncio.get_running_loop()
        while (command := await loop.run_in_executor(None, conn.recv)) != "stop":
            _, ids, timeout_s = command
            wanted.clear()
            wanted.update(ids)
            complete.clear()
            if not wanted <= arrivals.keys():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(complete.wait(), timeout_s)
            conn.send(dict(arrivals))

    asyncio.run(serve())


class Receiver:
    """A webhook receiver in its own process, so its timestamps do not wait for this one."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_receive, args=(child,), daemon=True)
        self._proc.start()
        self.port = int(self._conn.recv())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def arrivals(self, until: set[str], timeout_s: float) -> dict[str, float]:
        """The arrivals, once every id in ``until`` has arrived or ``timeout_s`` passed."""
        self._conn.send(("until", until, timeout_s))
        return dict(self._conn.recv())

    def stop(self) -> None:
        self._conn.send("stop")
        self._proc.join(10)


# -- throughput ----------------------------------------------------------------------------
def rule(rule_id: str, app: str, n: int, dest: str) -> dict[str, Any]:
    """One of four shapes, by ``n``."""
    shape = n % 4
    base: dict[str, Any] = {"id": rule_id, "app_id": app,
                            "actions": [{"type": "webhook", "destination_id": dest}]}
    if shape == 0:
        return {**base, "event_type": "purchase_failed",
                "conditions": {"gt": {"field": "properties.amount", "value": 250}}}
    if shape == 1:
        return {**base, "event_type": "checkout_*",
                "conditions": {"and": [{"eq": {"field": "properties.plan", "value": "pro"}},
                                       {"in": {"field": "context.country",
                                               "values": ["DE", "FR"]}}]}}
    if shape == 2:
        return {**base, "category": "track", "event_type": "sign?p",
                "conditions": {"regex": {"field": "properties.referrer",
                                         "pattern": "^https://ads\\."}}}
    return {**base, "event_type": "search",
            "conditions": {"contains": {"field": "properties.query", "value": "refund"}}}


def events(n: int, seed: int) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    out = []
    run = uuid.uuid4().hex[:6]
    for i in range(n):
        props = {"amount": rnd.randrange(0, 300), "plan": rnd.choice(["free", "pro"]),
                 "referrer": rnd.choice(["https://ads.example", "https://news.example", ""]),
                 "query": rnd.choice(["refund policy", "shoes", "order status"]),
                 "path": f"/p/{rnd.randrange(50)}"}
        out.append({"event_id": f"{run}-{i}", "event_type": rnd.choice(TYPES),
                    "category": "track", "user_id": f"u{rnd.randrange(5000)}",
                    "anonymous_id": None, "session_id": None,
                    "event_time": 1_764_000_000_000_000 + i, "received_at": 1_764_000_000_000_000,
                    "properties": orjson.dumps(props).decode(),
                    "context": orjson.dumps({"country": rnd.choice(["DE", "FR", "US"]),
                                             "locale": "en"}).decode(),
                    "app_id": rnd.choice(APPS)})
    return out


class Draining(Reactor):
    """A reactor that says when it has evaluated, recorded and ACKed ``expected`` events."""

    def __init__(self, *args: Any, expected: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.expected = expected
        self.drained = asyncio.Event()

    async def handle(self, msgs: Any) -> None:
        await super().handle(msgs)
        if self.metrics.processed._value.get() >= self.expected:
            self.drained.set()


class LinearIndex:
    """Stands in for the index: scans every rule per event."""

    def __init__(self, rules: tuple[Any, ...]):
        self.rules = rules

    def candidates(self, app_id: str, category: str, event_type: str) -> tuple[Any, ...]:
        return linear_candidates(self.rules, app_id, category, event_type)


def rules_db(tmp: Path, n_rules: int, receiver_url: str) -> str:
    """A metadata store holding the workload's rules and one destination."""
    db_url = f"sqlite:///{tmp / f'rules{n_rules}.db'}"
    db = open_db(db_url)
    dest = Destinations(db, KEY).add("bench", receiver_url, "bench").destination.destination_id
    active = [rule(f"a{i}", APPS[i % len(APPS)], i, dest) for i in range(10)]
    idle = [{**rule(f"x{i}", APPS[i % len(APPS)], i, dest),
             "event_type": f"zz{i}_*" if i % 4 == 0 else f"custom_{i}"}
            for i in range(n_rules - 10)]
    store = RuleStore(db)
    for r in active + idle:
        store.add(r["id"], r["app_id"], orjson.dumps(r).decode(), "bench")
    return db_url


async def drain(url: str, db_url: str, rows: list[dict[str, Any]], linear: bool) -> float:
    tag = f"b{uuid.uuid4().hex[:8]}"
    streams = Streams.prefixed(tag)
    db = open_db(db_url)
    store = RuleStore(db)
    opts = ReactorSettings(durable=f"reactor-{tag}", http_port=0, fetch_batch=256,
                           fetch_timeout_s=0.2, monitors=False, rules_poll_s=300)
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=30)
    await ensure_streams(js, stream_configs(streams, 3600, 60))
    await js.add_consumer(streams.events, consumer_config(opts, streams))
    pending = []
    by_app: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_app.setdefault(r["app_id"], []).append(r)
    for app, app_rows in by_app.items():  # one app's batch of 50 per message, as the edge
        for i in range(0, len(app_rows), 50):
            part = app_rows[i:i + 50]
            bid = batch_id(app, [r["event_id"] for r in part])
            pending.append(js.publish(streams.events_for(app), encode_batch(app, bid, part),
                                      headers={"Nats-Msg-Id": bid}))
            if len(pending) > 256:
                await asyncio.gather(*pending)
                pending = []
    await asyncio.gather(*pending)
    reactor = Draining(ReactorConfig(url, opts, 3600, 60, streams, tag), store, Outbox(db),
                       Destinations(db, KEY), expected=len(rows))
    await reactor.refresh_rules()  # read before the run, so the index can be swapped first
    if linear:
        reactor.holder.swap(LinearIndex(reactor.holder.current.rules))  # type: ignore[arg-type]
    started = time.perf_counter()
    task = asyncio.create_task(reactor.run())
    await reactor.drained.wait()
    elapsed = time.perf_counter() - started
    reactor.stop()
    await task
    await js.delete_stream(streams.events)
    await js.delete_stream(streams.quarantine)
    await nc.close()
    return len(rows) / elapsed


def throughput(url: str, tmp: Path, receiver: Receiver, n_events: int, rounds: int) -> None:
    dbs = {n: rules_db(tmp, n, receiver.url) for n in (10, 1_000, 10_000)}
    rows = events(n_events, seed=1)
    results: dict[tuple[int, bool], list[float]] = {}
    print(f"throughput: {n_events:,} events of {len(APPS)} apps per run; "
          f"{rounds} interleaved rounds")
    for rnd in range(rounds):
        for n_rules in (10, 1_000, 10_000):
            for linear in (False, True):
                sample = rows if not linear or n_rules < 10_000 else rows[:n_events // 5]
                rate = asyncio.run(drain(url, dbs[n_rules], sample, linear))
                results.setdefault((n_rules, linear), []).append(rate)
                print(f"  round {rnd + 1}: {n_rules:>6,} rules {'linear' if linear else 'index '}"
                      f" {rate:>10,.0f} events/s", flush=True)
    base = statistics.median(results[(10, False)])
    print("\nmedians             index events/s  vs 10 rules   linear events/s  index/linear")
    for n_rules in (10, 1_000, 10_000):
        idx = statistics.median(results[(n_rules, False)])
        lin = statistics.median(results[(n_rules, True)])
        print(f"  {n_rules:>6,} rules     {idx:>14,.0f}  {idx / base:>10.2f}   {lin:>15,.0f}"
              f"  {idx / lin:>12.1f}")


# -- latency -------------------------------------------------------------------------------
def latency(url: str, tmp: Path, receiver: Receiver, rate: int, seconds: float) -> None:
    data = tmp / "latency"
    data.mkdir()
    db_url = f"sqlite:///{data / 'meta.db'}"
    db = open_db(db_url)
    key = KeyStore(db).create("shop")[1]
    env = {**os.environ, "CAUSALITY_DATA_DIR": str(data), "CAUSALITY_NATS_URL": url,
           "CAUSALITY_METADATA_URL": db_url, "CAUSALITY_LOG_LEVEL": "warning",
           "CAUSALITY_REACTOR_MONITORS": "false", "CAUSALITY_REACTOR_HTTP_PORT": "0",
           "CAUSALITY_INGEST_RATE_LIMIT_EVENTS_PER_S": "0", "CAUSALITY_INGEST_DRAIN_DELAY_S": "0"}
    from causality.settings import load_settings
    from causality.wiring import reactor_key

    made = Destinations(db, reactor_key(load_settings(data_dir=data))).add(
        "latency", receiver.url, "bench")
    RuleStore(db).add("lat", "shop", orjson.dumps({
        "id": "lat", "app_id": "shop", "event_type": "purchase_failed",
        "actions": [{"type": "webhook", "destination_id": made.destination.destination_id}],
    }).decode(), "bench")
    procs = []
    try:
        ingest = subprocess.Popen(
            [sys.executable, "-c", "from causality.cli.ingest import ingest; ingest()",
             "--port", "0"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        procs.append(ingest)
        assert ingest.stdout is not None
        edge = ingest.stdout.readline().split()[3]
        reactor = subprocess.Popen([sys.executable, "-m", "causality", "reactor"], cwd=ROOT,
                                   env={**env, "CAUSALITY_LOG_LEVEL": "info"},
                                   stderr=subprocess.PIPE)
        procs.append(reactor)
        _await_line(reactor, "durable consumer made", data / "reactor.log")
        sent = asyncio.run(_send(edge, key, rate, seconds))
        from pipeline.reactor import webhook_id

        want = {webhook_id("lat", "shop", e): t for e, t in sent.items()}
        arrivals = receiver.arrivals(set(want), timeout_s=60)
        lat = sorted(arrivals[w] - t for w, t in want.items() if w in arrivals)
        fired = dict(Outbox(db).fired_at_by_webhook(list(want)))
        consume = sorted(fired[w] - t for w, t in want.items() if w in fired)
        deliver = sorted(arrivals[w] - fired[w] for w in want if w in fired and w in arrivals)
        missing = len(want) - len(lat)
        q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [0.0] * 99
        print(f"\nlatency: {len(sent):,} events at {rate}/s for {seconds:g} s, every one a "
              f"firing; 200 from ingest -> receiver's request:")
        print(f"  p50 {q[49] * 1000:.0f} ms   p99 {q[98] * 1000:.0f} ms   max "
              f"{lat[-1] * 1000:.0f} ms   missing {missing}")
        for name, part in (("200 -> firing recorded", consume),
                           ("recorded -> receiver", deliver)):
            p = statistics.quantiles(part, n=100) if len(part) > 1 else [0.0] * 99
            print(f"    {name:<24} p50 {p[49] * 1000:.0f} ms   p99 {p[98] * 1000:.0f} ms")
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)


def _await_line(proc: subprocess.Popen[bytes], text: str, log: Path) -> None:
    """Read ``proc``'s stderr until a line holding ``text`` (the reactor logs it once its
    durable consumer exists); the rest of its output goes on to ``log`` from a thread."""
    assert proc.stderr is not None
    out = log.open("wb")
    for line in proc.stderr:
        out.write(line)
        if text.encode() in line:
            break
    else:
        raise SystemExit(f"the reactor exited before logging {text!r}; see {log}")
    stderr = proc.stderr
    threading.Thread(target=lambda: [out.write(chunk) for chunk in stderr], daemon=True).start()


async def _send(edge: str, key: str, rate: int, seconds: float) -> dict[str, float]:
    import aiohttp

    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    sent: dict[str, float] = {}
    per_batch = 10
    interval = per_batch / rate
    run = uuid.uuid4().hex[:6]
    async with aiohttp.ClientSession() as session:
        async def post(seq: int) -> None:
            ids = [f"{run}-{seq}-{i}" for i in range(per_batch)]
            body = {"batch": [{"type": "track", "event": "purchase_failed", "messageId": m,
                               "userId": f"u{seq % 100}", "properties": {"amount": 10}}
                              for m in ids]}
            async with session.post(edge + "/v1/batch", json=body,
                                    headers={"Authorization": auth}) as resp:
                await resp.read()
                at = time.time()
                if resp.status == 200:
                    for m in ids:
                        sent[m] = at
        tasks = []
        start = time.perf_counter()
        seq = 0
        while time.perf_counter() - start < seconds:
            tasks.append(asyncio.create_task(post(seq)))
            seq += 1
            await asyncio.sleep(max(0.0, start + seq * interval - time.perf_counter()))
        await asyncio.gather(*tasks)
    return sent


def monitor_timing(tmp: Path, n_events: int) -> None:
    from datetime import UTC, datetime

    import monitors as monitor_bench  # bench/monitors.py, beside this file

    from warehouse.demo import default_end, generate_and_write
    from warehouse.engines import open_engine

    end_day = default_end()
    root = tmp / "monitors"
    started = time.perf_counter()
    generate_and_write(n_events, root, end=end_day)
    print(f"\nmonitors: {n_events:,} demo events written in {time.perf_counter() - started:.0f} s")
    engine = open_engine("duckdb", warehouse=root, memory_limit="2GB")
    try:
        end = datetime(end_day.year, end_day.month, end_day.day, tzinfo=UTC)
        monitor_bench.time_runner(engine, root, end, 100)
    finally:
        engine.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000, help="events per throughput run")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    ap.add_argument("--rate", type=int, default=1_000, help="firings per second (latency)")
    ap.add_argument("--latency-s", type=float, default=20.0, help="seconds of latency load")
    ap.add_argument("--monitor-events", type=int, default=10_000_000,
                    help="demo events for the monitor timing (0: skip it)")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-latency", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="causality-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        server = NatsServer(NatsConfig(store_dir=tmp / "nats")).start()
        receiver = Receiver()
        try:
            if not args.skip_throughput:
                throughput(server.url, tmp, receiver, args.events, args.rounds)
            if not args.skip_latency:
                latency(server.url, tmp, receiver, args.rate, args.latency_s)
            if args.monitor_events:
                monitor_timing(tmp, args.monitor_events)
        finally:
            receiver.stop()
            server.stop()


if __name__ == "__main__":
    main()
