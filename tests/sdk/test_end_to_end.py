"""The SDK against the real pipeline: ingest edge, NATS JetStream, sink, compactor, DuckDB.

Events tracked by a process that is then killed (SIGKILL) while the ingest edge is down are
delivered by the next process with the same queue, once it is up; each lands exactly once,
and a batch sent twice with the same messageIds is stored once.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from causality.settings import load_settings
from causality.supervisor import Supervisor
from causality.wiring import metadata
from metadata import KeyStore
from pipeline.compactor import CompactionPolicy, run_once
from tests.fixtures.ports import free_port
from warehouse.engines.duckdb_engine import DuckDBEngine
from warehouse.storage import Storage

from .conftest import FAST, SDK_ROOT, Client

N = 120


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Supervisor]:
    monkeypatch.setenv("CAUSALITY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CAUSALITY_NATS_PORT", str(free_port()))
    monkeypatch.setenv("CAUSALITY_INGEST_PORT", str(free_port()))
    monkeypatch.setenv("CAUSALITY_SINK_HTTP_PORT", str(free_port()))
    monkeypatch.setenv("CAUSALITY_SINK_FLUSH_INTERVAL_S", "1")
    sup = Supervisor(load_settings())
    sup.start_nats()
    yield sup
    sup.stop()


def count(warehouse: str) -> tuple[int, int]:
    res = DuckDBEngine(warehouse).run(
        "SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM events", 1, 60)
    row = res.table.to_pylist()[0]
    return int(row["n"]), int(row["ids"])


def wait_for_rows(warehouse: str, n: int, timeout: float = 90.0) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    got = count(warehouse)
    while got[1] < n and time.monotonic() < deadline:
        time.sleep(0.5)  # polling a condition with a deadline; the sink flushes every second
        got = count(warehouse)
    return got


TRACKER = """
import sys
sys.path.insert(0, {sdk!r})
from causality_sdk import Client
c = Client({key!r}, {host!r}, queue_dir={queue!r}, flush_interval_s=0.05, retry_base_s=0.01,
           retry_max_s=0.05)
for i in range({n}):
    c.track(f"u{{i % 7}}", "e2e_event", properties={{"i": i}})
print("tracked", flush=True)
sys.stdin.read()
"""


def test_killed_while_ingest_down_then_delivered_once(pipeline: Supervisor,
                                                      tmp_path: Path) -> None:
    s = pipeline.settings
    _, key = KeyStore(metadata(s)).create("sdk-e2e")
    host = f"http://{s.ingest.host}:{s.ingest.port}"
    queue = str(tmp_path / "queue")
    code = TRACKER.format(sdk=str(SDK_ROOT), key=key, host=host, queue=queue, n=N)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stdin=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "tracked"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    ing = s.ingest
    pipeline.spawn("ingest", "ingest", ready_url=f"http://{ing.host}:{ing.port}/readyz")
    pipeline.spawn("sink", "sink", ready_url=f"http://{s.sink.http_host}:{s.sink.http_port}/readyz")
    client = Client(key, host, queue_dir=queue, **FAST)
    assert client.flush(60)
    client.shutdown(5)
    assert wait_for_rows(s.warehouse_uri, N)[1] == N
    run_once(Storage(s.warehouse_uri), CompactionPolicy(grace_s=0))
    assert count(s.warehouse_uri) == (N, N)


def test_same_batch_twice_is_stored_once(pipeline: Supervisor) -> None:
    s = pipeline.settings
    _, key = KeyStore(metadata(s)).create("sdk-e2e")
    ing = s.ingest
    pipeline.spawn("ingest", "ingest", ready_url=f"http://{ing.host}:{ing.port}/readyz")
    pipeline.spawn("sink", "sink", ready_url=f"http://{s.sink.http_host}:{s.sink.http_port}/readyz")
    batch = [{"type": "track", "event": "retry", "userId": "u1", "messageId": f"m-{i}"}
             for i in range(25)]
    body = json.dumps({"batch": batch}).encode()
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    statuses = []
    for _ in range(2):
        req = urllib.request.Request(f"http://{ing.host}:{ing.port}/v1/batch", data=body,
                                     headers={"Authorization": auth,
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            statuses.append([r["status"] for r in json.loads(resp.read())["results"]])
    assert statuses[0] == ["accepted"] * 25
    assert statuses[1] == ["duplicate"] * 25
    assert wait_for_rows(s.warehouse_uri, 25)[1] == 25
    run_once(Storage(s.warehouse_uri), CompactionPolicy(grace_s=0))
    assert count(s.warehouse_uri) == (25, 25)
