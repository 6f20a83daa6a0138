"""The all-in-one supervisor behind ``causality up``: NATS, ingest, sink, compactor and the
analyst workspace.

Each part runs as its own process (the same commands a deployment would run), logs to
``<data_dir>/logs/<name>.log``, and is waited for by its readiness endpoint. On the first start
the demo events are sent *through* the pipeline: HTTP → JetStream → sink → Parquet → compactor.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from causality.errors import CausalityError
from causality.settings import Settings
from pipeline.natsd import NatsConfig, NatsServer

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 40.0
_POLL_S = 0.1


class SupervisorError(CausalityError):
    code = "supervisor_error"


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass
class Supervisor:
    settings: Settings
    children: list[Child] = field(default_factory=list)
    nats: NatsServer | None = None

    @property
    def logs(self) -> Path:
        path = self.settings.data_dir.resolve() / "logs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["CAUSALITY_DATA_DIR"] = str(self.settings.data_dir.resolve())
        if self.nats is not None:
            env["CAUSALITY_NATS_URL"] = self.nats.url
        return env

    def start_nats(self) -> NatsServer:
        s = self.settings
        self.nats = NatsServer(NatsConfig(store_dir=s.nats_store_dir.resolve(), host=s.nats.host,
                                          port=s.nats.port, sync_interval=s.nats.sync_interval),
                               log_file=self.logs / "nats.log").start()
        return self.nats

    def spawn(self, name: str, *args: str, ready_url: str | None = None,
              env: dict[str, str] | None = None) -> Child:
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "causality", *args],
                                    stdout=out, stderr=subprocess.STDOUT,
                                    env={**self.env(), **(env or {})}, start_new_session=True)
        child = Child(name, proc, log)
        self.children.append(child)
        if ready_url:
            self._await_ready(child, ready_url)
        return child

    def start_workspace(self) -> str:
        """The analyst workspace (Streamlit), waited for on its health endpoint; its URL."""
        from causality.cli_workspace import local_url, pick_port
        from causality.workspace_health import HEALTH_PATH

        ws = self.settings.workspace
        port = pick_port(ws.host, ws.port)
        url = local_url(ws.host, port)
        self.spawn("workspace", "workspace", "--host", ws.host, "--port", str(port),
                   "--no-open", ready_url=url + HEALTH_PATH)
        return url

    def _await_ready(self, child: Child, url: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if child.proc.poll() is not None:
                raise SupervisorError(f"{child.name} exited with {child.proc.returncode}: "
                                      f"{_tail(child.log)}", code="child_failed",
                                      hint=f"see {child.log}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(_POLL_S)
        raise SupervisorError(f"{child.name} not ready after {READY_TIMEOUT_S:g} s",
                              code="child_timeout", hint=f"see {child.log}")

    def failed(self) -> Child | None:
        """A child that exited on its own (which stops the whole product, loudly)."""
        return next((c for c in self.children if c.proc.poll() is not None), None)

    def stop(self) -> None:
        for child in reversed(self.children):
            if child.proc.poll() is None:
                os.killpg(child.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for child in reversed(self.children):
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.proc.pid, signal.SIGKILL)
                child.proc.wait()
        self.children.clear()
        if self.nats is not None:
            self.nats.stop()
            self.nats = None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def load_demo(sup: Supervisor, n_events: int, seed: int = 42) -> int:
    """Send demo events through ingest; returns how many were accepted."""
    from causality.demo_loader import send
    from causality.wiring import metadata
    from metadata import KeyStore
    from warehouse.demo import APPS, generate

    store = KeyStore(metadata(sup.settings))
    keys = {app: store.create(app, label="demo data (causality up)")[1] for app in APPS}
    table = generate(n_events, seed=seed)
    ing = sup.settings.ingest
    return asyncio.run(send(f"http://{ing.host}:{ing.port}", keys, table))
