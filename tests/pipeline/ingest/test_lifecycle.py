"""`causality ingest` as a process: JSON logs, SIGTERM drains in-flight requests within the
deadline, several workers share one port and one /metrics."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from metadata import KeyStore, open_db
from pipeline.natsd import NatsServer

from .support import track

ROOT = Path(__file__).resolve().parents[3]
RUN_INGEST = "from causality.cli.ingest import ingest; ingest()"


class Process:
    def __init__(self, tmp_path: Path, nats_url: str, *args: str, **ingest: Any):
        db = f"sqlite:///{tmp_path / 'meta.db'}"
        self.key = KeyStore(open_db(db)).create("shop")[1]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CAUSALITY_DATA_DIR": str(tmp_path),
               "CAUSALITY_NATS_URL": nats_url, "CAUSALITY_METADATA_URL": db,
               **{f"CAUSALITY_INGEST_{k.upper()}": str(v)
                  for k, v in {"drain_delay_s": 0, **ingest}.items()}}
        self.proc = subprocess.Popen([sys.executable, "-c", RUN_INGEST, "--port", "0", *args],
                                     cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("ingest ready at http://"), line + self._stderr()
        self.url = line.split()[3]

    def _stderr(self) -> str:
        if self.proc.poll() is None:
            return ""
        assert self.proc.stderr is not None
        return self.proc.stderr.read()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if requests.get(self.url + "/readyz", timeout=2).status_code == 200:
                return
            time.sleep(0.05)
        raise AssertionError("not ready")

    def post(self, body: Any, timeout: float = 30) -> requests.Response:
        return requests.post(self.url + "/v1/batch", json=body, auth=(self.key, ""),
                             timeout=timeout)

    def metric(self, name: str) -> float:
        text = requests.get(self.url + "/metrics", timeout=5).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(name) and not line.startswith("#"))

    def logs(self) -> list[dict[str, Any]]:
        assert self.proc.stderr is not None
        return [orjson.loads(line) for line in self.proc.stderr.read().splitlines() if line]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def frozen(own_nats_server: NatsServer) -> Iterator[Any]:
    """Freeze the nats-server on demand (no PubAck comes back); always thawed afterwards."""
    assert own_nats_server.proc is not None
    pid = own_nats_server.proc.pid

    class Freezer:
        def freeze(self) -> None:
            os.kill(pid, signal.SIGSTOP)

        def thaw(self) -> None:
            os.kill(pid, signal.SIGCONT)

    yield Freezer()
    os.kill(pid, signal.SIGCONT)


def _post_in_background(proc: Process, body: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def send() -> None:
        try:
            out.append(proc.post(body))
        except requests.RequestException as err:
            out.append(err)

    thread = threading.Thread(target=send)
    thread.start()
    return thread, out


def _until(condition: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_sigterm_turns_readyz_false_and_finishes_in_flight_requests(
        tmp_path: Path, own_nats_server: NatsServer, frozen: Any) -> None:
    proc = Process(tmp_path, own_nats_server.url, drain_delay_s=1, shutdown_timeout_s=10,
                   publish_timeout_s=8)
    try:
        proc.wait_ready()
        assert proc.post({"batch": [track(0)]}).status_code == 200
        frozen.freeze()
        thread, out = _post_in_background(proc, {"batch": [track(1)]})
        _until(lambda: proc.metric("causality_ingest_in_flight_publishes") == 1)
        proc.proc.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        _until(lambda: requests.get(proc.url + "/readyz", timeout=2).status_code == 503)
        frozen.thaw()
        thread.join(10)
        assert out and not isinstance(out[0], Exception) and out[0].status_code == 200
        assert proc.proc.wait(10) == 0
        assert time.monotonic() - stopped_at < 10
        logs = proc.logs()
        assert {"ts", "level", "logger", "msg"} <= set(logs[0])
        assert [e["msg"] for e in logs if e["msg"] in ("draining", "stopped")] == [
            "draining", "stopped"]
    finally:
        proc.stop()


def test_sigterm_exits_within_the_deadline_even_if_nats_never_answers(
        tmp_path: Path, own_nats_server: NatsServer, frozen: Any) -> None:
    proc = Process(tmp_path, own_nats_server.url, shutdown_timeout_s=2, publish_timeout_s=60)
    try:
        proc.wait_ready()
        frozen.freeze()
        thread, out = _post_in_background(proc, {"batch": [track(1)]})
        _until(lambda: proc.metric("causality_ingest_in_flight_publishes") == 1)
        started = time.monotonic()
        proc.proc.send_signal(signal.SIGTERM)
        proc.proc.wait(10)
        took = time.monotonic() - started
        assert took < 2 + 1.5, took
        thread.join(10)
        assert out and (isinstance(out[0], Exception) or out[0].status_code != 200)
    finally:
        proc.stop()


def test_workers_share_one_port_and_report_metrics_together(
        tmp_path: Path, nats_server: NatsServer) -> None:
    proc = Process(tmp_path, nats_server.url, "--workers", "2")
    try:
        proc.wait_ready()
        for n in range(20):  # a new connection each time: the kernel spreads them
            event = track(n)
            assert proc.post({"batch": [event, event]}).status_code == 200
        # Each worker applies its tallies every FLUSH_EVERY_S (and the answering one at once).
        _until(lambda: proc.metric(
            'causality_ingest_requests_total{route="/v1/batch",status="200"}') == 20)
        assert proc.metric('causality_ingest_events_total{app_id="shop",status="accepted"}') \
            == proc.metric('causality_ingest_events_total{app_id="shop",status="duplicate"}') \
            == 20
        proc.proc.send_signal(signal.SIGTERM)
        assert proc.proc.wait(30) == 0
        pids = {e["pid"] for e in proc.logs() if e["msg"] == "ingest listening"}
        assert len(pids) == 2
    finally:
        proc.stop()


def test_workers_stop_when_the_supervisor_is_killed(tmp_path: Path,
                                                    nats_server: NatsServer) -> None:
    proc = Process(tmp_path, nats_server.url, "--workers", "2")
    try:
        proc.wait_ready()
        workers = [int(p) for p in subprocess.run(
            ["pgrep", "-P", str(proc.proc.pid)], capture_output=True, text=True,
            check=False).stdout.split()]
        assert len(workers) >= 2  # the two workers (and multiprocessing's resource tracker)
        proc.proc.kill()
        proc.proc.wait()
        _until(lambda: not any(Path(f"/proc/{pid}").exists() and
                               "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
                               for pid in workers), timeout_s=20)
    finally:
        proc.stop()
