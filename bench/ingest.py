"""Ingest edge throughput and latency, against raw nats-py publishing of the same batches.

    make bench-ingest   (installs Debian's wrk when root, then runs the line below)
    .venv/bin/python bench/ingest.py [--workers 2] [--connections 16] [--duration 15] [--gzip]
                                     [--client wrk|aiohttp|raw] [--sync always [--rounds 3]]

Starts its own nats-server (temp store) and `causality ingest` (a separate process; --workers
processes share the port), creates one write key per app, then a load generator in another
process keeps --connections HTTP/1.1 keep-alive connections busy (wrk, or a Python client;
closed loop: bounded load) posting batches of 50 realistic Segment events with unique
messageIds, Basic auth, as the SDKs do. Every 200 means: auth + rate limit + validation + in-
batch dedup + durable JetStream PubAck. Reports events/s, requests/s, p50/p99 latency, CPU of
each process, then the baseline: the same batches (as EVENTS messages) published straight to
JetStream with nats-py, with the same number in flight, and the ratio. Figures only, no
assertions.

--sync always runs the whole measurement with nats-server's default sync_interval (JetStream
acknowledges, then fsyncs every 10 s) and with sync_interval always (fsync before every PubAck),
alternating for --rounds rounds, and prints both medians and their ratio: the price of a 200
that survives the machine losing power.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import json
import multiprocessing as mp
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import _wrk  # noqa: E402

from pipeline.natsd import NatsConfig, NatsServer  # noqa: E402

APPS = 8  # one write key each; the connections are spread over them
TEMPLATES = 400  # distinct events to draw from


# -- realistic events ---------------------------------------------------------------------

def _templates(seed: int = 7) -> list[tuple[bytes, bytes]]:
    """Events as JSON split around the messageId value: (head, tail)."""
    rnd = random.Random(seed)
    now = datetime.now(UTC)
    products = [f"sku-{i:05d}" for i in range(200)]
    paths = ["/", "/search", "/cart", "/checkout", "/account"] + [f"/p/{p}" for p in products[:20]]
    agents = [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 "
        "Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    ]
    out = []
    for _ in range(TEMPLATES):
        user = rnd.randrange(5000)
        path = rnd.choice(paths)
        ts = (now - timedelta(seconds=rnd.uniform(0, 60))).isoformat(timespec="milliseconds")
        context = {
            "library": {"name": "causality-sdk", "version": "0.1.0"},
            "ip": f"203.0.113.{rnd.randrange(255)}",
            "locale": rnd.choice(["en-US", "de-DE", "fr-FR"]),
            "userAgent": rnd.choice(agents),
            "page": {"path": path, "url": f"https://shop.example.com{path}",
                     "referrer": "https://www.google.com/", "title": "Example Shop"},
            "timezone": "Europe/Berlin",
        }
        kind = rnd.choices(["track", "page", "identify"], [80, 15, 5])[0]
        event: dict[str, Any] = {
            "type": kind, "anonymousId": str(uuid.UUID(int=rnd.getrandbits(128))),
            "userId": f"user-{user}" if user % 3 else None, "timestamp": ts, "context": context}
        if kind == "track":
            event["event"] = rnd.choice(["Product Viewed", "Product Added", "Checkout Started",
                                         "Order Completed", "Search Performed"])
            event["properties"] = {"product_id": rnd.choice(products),
                                   "price": round(rnd.uniform(5, 200), 2), "currency": "EUR",
                                   "quantity": rnd.randrange(1, 4), "position": rnd.randrange(20),
                                   "list": "search results"}
        elif kind == "page":
            event["name"] = path
            event["properties"] = {"path": path, "title": "Example Shop"}
        else:
            event["traits"] = {"plan": rnd.choice(["free", "pro"]), "email": f"u{user}@example.com"}
        event["messageId"] = "\x00"
        head, tail = json.dumps(event, separators=(",", ":")).encode().split(b"\\u0000")
        out.append((head, tail))
    return out


def make_batch(templates: list[tuple[bytes, bytes]], prefix: str, seq: int, size: int) -> bytes:
    rnd = random.Random(seq)
    parts = []
    for i in range(size):
        head, tail = templates[rnd.randrange(len(templates))]
        parts.append(head + f"{prefix}-{seq:x}-{i}".encode() + tail)
    sent_at = datetime.now(UTC).isoformat(timespec="milliseconds").encode()
    return b'{"batch":[' + b",".join(parts) + b'],"sentAt":"' + sent_at + b'"}'


# -- the load generator (its own process) -------------------------------------------------

def load_main(url: str, keys: list[str], connections: int, batch: int, use_gzip: bool,
              client: str, warmup_s: float, duration_s: float, started: Any, done: Any,
              out: Any) -> None:
    out.put(asyncio.run(_load(url, keys, connections, batch, use_gzip, client, warmup_s,
                              duration_s, started, done)))


class _RawConnection:
    """HTTP/1.1 keep-alive POSTs over one asyncio stream: the least client CPU per request."""

    def __init__(self, url: str, auth: str, use_gzip: bool):
        self.host, port = url.removeprefix("http://").rsplit(":", 1)
        self.port = int(port)
        self.head = (f"POST /v1/batch HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: {auth}"
                     "\r\nContent-Type: application/json\r\n"
                     + ("Content-Encoding: gzip\r\n" if use_gzip else "")
                     + "Content-Length: ").encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> int:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(self.head + str(len(body)).encode() + b"\r\n\r\n" + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lower = head.lower()
        at = lower.index(b"content-length:") + 15
        await self.reader.readexactly(int(lower[at:lower.index(b"\r\n", at)]))
        return int(head[9:12])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _load(url: str, keys: list[str], connections: int, batch: int, use_gzip: bool,
                client: str, warmup_s: float, duration_s: float, started: Any,
                done: Any) -> dict[str, Any]:
    import aiohttp

    templates = _templates()
    auths = ["Basic " + base64.b64encode(f"{k}:".encode()).decode() for k in keys]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counted = {"requests": 0, "events": 0}
    phase = {"measure": False, "stop": False}
    run = uuid.uuid4().hex[:8]

    async def worker(n: int, session: aiohttp.ClientSession) -> None:
        auth = auths[n % len(auths)]
        headers = {"Authorization": auth, "Content-Type": "application/json"}
        if use_gzip:
            headers["Content-Encoding"] = "gzip"
        raw = _RawConnection(url, auth, use_gzip) if client == "raw" else None
        seq = 0
        while not phase["stop"]:
            seq += 1
            body = make_batch(templates, f"{run}-{n}", seq, batch)
            if use_gzip:
                body = gzip.compress(body, 1)
            t0 = time.perf_counter()
            if raw is not None:
                status = await raw.post(body)
            else:
                async with session.post(url + "/v1/batch", data=body, headers=headers) as resp:
                    await resp.read()
                    status = resp.status
            if phase["measure"] and not phase["stop"]:
                latencies.append(time.perf_counter() - t0)
                statuses[status] = statuses.get(status, 0) + 1
                counted["requests"] += 1
                if status == 200:
                    counted["events"] += batch
        if raw is not None:
            raw.close()

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(worker(n, session)) for n in range(connections)]
        await asyncio.sleep(warmup_s)
        phase["measure"] = True
        started.set()
        t0 = time.perf_counter()
        await asyncio.sleep(duration_s)
        phase["stop"] = True
        elapsed = time.perf_counter() - t0
        done.set()
        await asyncio.gather(*tasks)
    latencies.sort()
    n = len(latencies)
    return {
        "elapsed_s": elapsed, "requests": counted["requests"], "events": counted["events"],
        "statuses": statuses,
        "p50_ms": latencies[n // 2] * 1000 if n else None,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else None,
    }


# -- the baseline: nats-py straight to JetStream ------------------------------------------

def baseline_main(nats_url: str, batch: int, in_flight: int, duration_s: float,
                  out: Any) -> None:
    out.put(asyncio.run(_baseline(nats_url, batch, in_flight, duration_s)))


async def _baseline(nats_url: str, batch: int, in_flight: int,
                    duration_s: float) -> dict[str, Any]:
    import nats
    import orjson

    from pipeline.bus import Streams, batch_id, encode_batch, stream_configs
    from warehouse.segment import segment_to_row

    streams = Streams.prefixed("baseline")
    nc = await nats.connect(nats_url)
    js = nc.jetstream(timeout=10)
    for config in stream_configs(streams):
        await js.add_stream(config)
    templates = _templates()
    received = int(time.time() * 1e6)
    payloads = []  # the same batches, as the edge publishes them
    for seq in range(200):
        doc = orjson.loads(make_batch(templates, "base", seq, batch))
        rows = [segment_to_row(e, "bench0", received) for e in doc["batch"]]
        payloads.append(rows)
    published = 0
    stop = time.perf_counter() + duration_s

    async def publisher(n: int) -> None:
        nonlocal published
        seq = n
        while time.perf_counter() < stop:
            rows = payloads[seq % len(payloads)]
            bid = batch_id("bench0", [f"{seq}-{i}" for i in range(len(rows))])
            await js.publish(streams.events_for("bench0"), encode_batch("bench0", bid, rows),
                             headers={"Nats-Msg-Id": bid})
            published += 1
            seq += in_flight

    t0 = time.perf_counter()
    await asyncio.gather(*(publisher(n) for n in range(in_flight)))
    elapsed = time.perf_counter() - t0
    await nc.close()
    return {"messages_per_s": published / elapsed, "events_per_s": published * batch / elapsed}


# -- orchestration ------------------------------------------------------------------------

_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * _TICK_S


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the ingest supervisor and its workers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def _cpu(pids: list[int]) -> float:
    return sum(_cpu_s(pid) for pid in pids)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workers", type=int, default=2, help="ingest processes (SO_REUSEPORT)")
    ap.add_argument("--connections", type=int, default=16,
                    help="concurrent HTTP connections (closed loop: latency grows with them)")
    ap.add_argument("--batch", type=int, default=50, help="events per request")
    ap.add_argument("--duration", type=float, default=15.0, help="measured seconds")
    ap.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first")
    ap.add_argument("--gzip", action="store_true", help="gzip bodies (level 1) as SDKs do")
    ap.add_argument("--client", choices=["wrk", "aiohttp", "raw"],
                    default="wrk" if _wrk.available() else "aiohttp",
                    help="wrk (Debian's, C: least client CPU; the default when installed), the "
                         "aiohttp client, or raw HTTP/1.1 on asyncio streams")
    ap.add_argument("--sync", default=None, metavar="INTERVAL",
                    help="also run with nats-server's sync_interval at INTERVAL (e.g. always: "
                         "fsync before every PubAck), interleaved with the default "
                         f"({DEFAULT_SYNC}) for --rounds rounds, and print the cost")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of each mode with --sync")
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    if args.sync is None:
        _report(args, _measure(args, ctx, DEFAULT_SYNC))
        return
    runs: dict[str, list[dict[str, Any]]] = {DEFAULT_SYNC: [], args.sync: []}
    for n in range(args.rounds):  # interleaved: the machine's drift hits both modes alike
        for mode in runs:
            run = _measure(args, ctx, mode)
            runs[mode].append(run)
            print(f"round {n + 1} sync_interval={mode}: {run['events_per_s']:,.0f} events/s, "
                  f"p50 {run['p50_ms']:.1f} ms, p99 {run['p99_ms']:.1f} ms, "
                  f"PubAck wait {run['publish_ms']:.2f} ms", flush=True)
    _report_sync(args, runs)


DEFAULT_SYNC = NatsConfig.sync_interval


def _measure(args: argparse.Namespace, ctx: Any, sync_interval: str) -> dict[str, Any]:
    """One run: a fresh nats-server syncing at ``sync_interval``, the edge, the load, then the
    raw-publish baseline on the same server."""
    with tempfile.TemporaryDirectory(prefix="causality-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        server = NatsServer(NatsConfig(store_dir=tmp / "nats", sync_interval=sync_interval))
        server.start()
        ingest: subprocess.Popen[str] | None = None
        try:
            from metadata import KeyStore, open_db

            db_url = f"sqlite:///{tmp / 'meta.db'}"
            store = KeyStore(open_db(db_url))
            keys = [store.create(f"bench{i}")[1] for i in range(APPS)]
            env = {**os.environ, "CAUSALITY_DATA_DIR": str(tmp), "CAUSALITY_NATS_URL": server.url,
                   "CAUSALITY_METADATA_URL": db_url, "CAUSALITY_LOG_LEVEL": "warning",
                   "CAUSALITY_INGEST_DRAIN_DELAY_S": "0"}
            ingest = subprocess.Popen(
                [sys.executable, "-c", "from causality.cli.ingest import ingest; ingest()",
                 "--port", "0", "--workers", str(args.workers)],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
            assert ingest.stdout is not None
            line = ingest.stdout.readline()
            if not line.startswith("ingest ready at "):
                raise SystemExit(f"ingest did not start: {line!r}")
            url = line.split()[3]
            _await_ready(url)

            assert server.proc is not None
            if args.client == "wrk":
                result, cpu_s, cpu = _run_wrk(url, keys, args, tmp, ingest.pid, server.proc.pid)
            else:
                result, cpu_s, cpu = _run_python_client(ctx, url, keys, args, ingest.pid,
                                                        server.proc.pid)
            server_side = _server_times(url)

            ingest.terminate()
            ingest.wait(30)
            ingest = None

            base_out = ctx.Queue()
            base = ctx.Process(target=baseline_main, args=(
                server.url, args.batch, args.connections, min(args.duration, 5.0), base_out))
            base.start()
            baseline = base_out.get()
            base.join()
        finally:
            if ingest is not None:
                ingest.kill()
            server.stop()
    return {"events_per_s": result["events"] / result["elapsed_s"], "result": result,
            "cpu_s": cpu_s, "cpu": cpu, "server_side": server_side, "baseline": baseline,
            "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"],
            "publish_ms": server_side["publish_ms"]}


def _report(args: argparse.Namespace, run: dict[str, Any]) -> None:
    result, cpu_s, cpu = run["result"], run["cpu_s"], run["cpu"]
    server_side, baseline, ev_s = run["server_side"], run["baseline"], run["events_per_s"]
    print(f"ingest: {args.workers} worker(s), {args.connections} connections ({args.client} "
          f"client), batches of {args.batch}, {'gzip' if args.gzip else 'identity'} bodies, "
          f"{os.cpu_count()} cores")
    print(f"  events/s    {ev_s:12,.0f}")
    print(f"  requests/s  {result['requests'] / result['elapsed_s']:12,.0f}")
    print(f"  latency     p50 {result['p50_ms']:.1f} ms   p99 {result['p99_ms']:.1f} ms")
    print(f"  statuses    {result['statuses']}")
    print("  CPU         " + "   ".join(f"{k} {v:.0f}%" for k, v in cpu.items())
          + "   (100% = one core)")
    per_request_ms = cpu_s["ingest"] / max(result["requests"], 1) * 1000
    print(f"  ingest CPU  {per_request_ms:.2f} ms per request: "
          f"{args.batch / per_request_ms * 1000:,.0f} events/s per core it gets"
          f"   (load average {os.getloadavg()[0]:.1f} on this machine)")
    print(f"  in ingest   {server_side['request_ms']:.1f} ms per request on average, of which "
          f"{server_side['publish_ms']:.1f} ms waiting for the PubAck")
    print("  outcomes    " + ", ".join(f"{n:,} {status}" for status, n in
                                       sorted(server_side["events"].items()))
          + "   (the edge's own count, warmup included; another worker's last 0.5 s may lag)")
    print(f"baseline: nats-py js.publish of the same batches, {args.connections} in flight")
    print(f"  events/s    {baseline['events_per_s']:12,.0f}   "
          f"({baseline['messages_per_s']:,.0f} messages/s)")
    print(f"ratio ingest/baseline: {ev_s / baseline['events_per_s']:.2f}")
    print(json.dumps({"events_per_s": round(ev_s), "p50_ms": round(result["p50_ms"], 2),
                      "ingest_cpu_ms_per_request": round(per_request_ms, 3),
                      "p99_ms": round(result["p99_ms"], 2),
                      "requests_per_s": round(result["requests"] / result["elapsed_s"]),
                      "cpu_percent": {k: round(v) for k, v in cpu.items()},
                      "baseline_events_per_s": round(baseline["events_per_s"]),
                      "statuses": result["statuses"], "outcomes": server_side["events"]}))


def _report_sync(args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]]) -> None:
    """Medians of each mode and the cost of syncing against the default, same run."""
    from statistics import median

    (base_mode, base_runs), (mode, mode_runs) = runs.items()
    print(f"ingest: {args.workers} worker(s), {args.connections} connections ({args.client} "
          f"client), batches of {args.batch}, {args.rounds} interleaved rounds, medians")
    figures: dict[str, dict[str, float]] = {}
    for name, got in ((base_mode, base_runs), (mode, mode_runs)):
        figures[name] = {k: median(r[k] for r in got)
                         for k in ("events_per_s", "p50_ms", "p99_ms", "publish_ms")}
        f = figures[name]
        print(f"  sync_interval={name:<8} {f['events_per_s']:10,.0f} events/s   "
              f"p50 {f['p50_ms']:6.1f} ms   p99 {f['p99_ms']:6.1f} ms   "
              f"PubAck wait {f['publish_ms']:.2f} ms")
    a, b = figures[base_mode], figures[mode]
    print(f"ratio {mode}/{base_mode}: throughput {b['events_per_s'] / a['events_per_s']:.2f}, "
          f"p50 {b['p50_ms'] / a['p50_ms']:.2f}x, p99 {b['p99_ms'] / a['p99_ms']:.2f}x")
    print(json.dumps({"sync": {name: {k: round(v, 2) for k, v in f.items()}
                               for name, f in figures.items()}}))



Figures = tuple[dict[str, Any], dict[str, float], dict[str, float]]


def _run_python_client(ctx: Any, url: str, keys: list[str], args: argparse.Namespace,
                       ingest_pid: int, nats_pid: int) -> Figures:
    started, done, out = ctx.Event(), ctx.Event(), ctx.Queue()
    load = ctx.Process(target=load_main, args=(
        url, keys, args.connections, args.batch, args.gzip, args.client, args.warmup,
        args.duration, started, done, out))
    load.start()
    assert load.pid is not None
    groups = {"ingest": _tree(ingest_pid), "nats-server": [nats_pid], "load generator": [load.pid]}
    started.wait()
    cpu0 = {name: _cpu(ps) for name, ps in groups.items()}
    w0 = time.perf_counter()
    done.wait()
    wall = time.perf_counter() - w0
    cpu_s = {name: _cpu(ps) - cpu0[name] for name, ps in groups.items()}
    result = out.get()
    load.join()
    return result, cpu_s, {name: used / wall * 100 for name, used in cpu_s.items()}


def _run_wrk(url: str, keys: list[str], args: argparse.Namespace, tmp: Path, ingest_pid: int,
             nats_pid: int) -> Figures:
    if args.gzip:
        raise SystemExit("--gzip needs the aiohttp or raw client")
    auths = ["Basic " + base64.b64encode(f"{k}:".encode()).decode() for k in keys]
    script = _wrk.write_script(tmp / "load.lua", _templates(), auths, args.batch)
    warm = _wrk.start(url, script, args.connections, args.warmup, "warmup")
    warm.communicate()
    groups = {"ingest": _tree(ingest_pid), "nats-server": [nats_pid]}
    cpu0 = {name: _cpu(ps) for name, ps in groups.items()}
    children0 = _children_cpu_s()
    w0 = time.perf_counter()
    load = _wrk.start(url, script, args.connections, args.duration, "measure")
    output, _ = load.communicate()
    wall = time.perf_counter() - w0
    cpu_s = {name: _cpu(ps) - cpu0[name] for name, ps in groups.items()}
    cpu_s["load generator (wrk)"] = _children_cpu_s() - children0
    if load.returncode != 0:
        raise SystemExit(f"wrk failed ({load.returncode}):\n{output}")
    result = _wrk.parse(output, args.batch, args.duration)
    return result, cpu_s, {name: used / wall * 100 for name, used in cpu_s.items()}


def _children_cpu_s() -> float:
    """CPU of the children waited for so far (the wrk runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _server_times(url: str) -> dict[str, Any]:
    """Mean request and publish time seen by the edge itself (its Prometheus histograms), and
    its count of events by outcome (warmup included): every one should be accepted."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    sums: dict[str, float] = {}
    outcomes: dict[str, int] = {}
    for line in text.splitlines():
        for key, prefix in (("request", 'causality_ingest_request_seconds_{}{{route="/v1/batch"}}'),
                            ("publish", 'causality_ingest_publish_seconds_{}{{stream="EVENTS"}}')):
            for part in ("sum", "count"):
                if line.startswith(prefix.format(part)):
                    sums[f"{key}_{part}"] = float(line.rsplit(" ", 1)[1])
        if line.startswith("causality_ingest_events_total{"):
            status = line.split('status="', 1)[1].split('"', 1)[0]
            outcomes[status] = outcomes.get(status, 0) + int(float(line.rsplit(" ", 1)[1]))
    out: dict[str, Any] = {
        f"{k}_ms": sums.get(f"{k}_sum", 0) / max(sums.get(f"{k}_count", 0), 1) * 1000
        for k in ("request", "publish")}
    out["events"] = outcomes
    return out


def _await_ready(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("ingest not ready in time")


if __name__ == "__main__":
    main()
