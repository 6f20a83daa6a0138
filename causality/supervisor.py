"""The all-in-one supervisor behind ``causality up``: NATS, ingest, sink, reactor, compactor
and the analyst workspace.

Each part runs as its own process (the same commands a deployment would run), logs to
``<data_dir>/logs/<name>.log``, and is waited for by its readiness endpoint. On the first start
the demo events are sent *through* the pipeline: HTTP → JetStream → sink → Parquet → compactor.
:func:`run_up` is the whole sequence; the ``up`` command only parses its options.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from threading import Event
from typing import Any

from causality._net import local_url, pick_port
from causality.errors import CausalityError
from causality.settings import Settings
from pipeline.natsd import NatsConfig, NatsServer

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 40.0
DEMO_LANDED_TIMEOUT_S = 300.0  # how long the sink may take to write the demo events
ADMIN_PASSWORD_BYTES = 12
_POLL_S = 0.1
_WATCH_S = 1.0


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
        if "drain_delay_s" not in self.settings.ingest.model_fields_set:
            # No load balancer to drain on a laptop: Ctrl-C stops ingest at once.
            env["CAUSALITY_INGEST_DRAIN_DELAY_S"] = "0"
        return env

    def start_nats(self) -> NatsServer:
        s = self.settings
        self.nats = NatsServer(NatsConfig(store_dir=s.nats_store_dir.resolve(), host=s.nats.host,
                                          port=s.nats.port, sync_interval=s.nats.sync_interval,
                                          max_file_store=s.nats.max_file_store),
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
    from causality.demo_loader import send_demo

    return send_demo(sup.settings, n_events, seed)


def run_up(settings: Settings, *, demo_events: int, exit_after_demo: bool, stop: Event,
           echo: Callable[[str], None] = print) -> None:
    """``causality up``: start every part, load demo data into an empty warehouse, then watch.

    Runs until ``stop`` is set (or, with ``exit_after_demo``, once the demo data is in); a part
    that exits on its own stops everything with :class:`SupervisorError`. ``echo`` prints a line
    of progress.
    """
    sup = Supervisor(settings)
    try:
        _start_pipeline(sup, echo)
        if _load_demo_if_empty(sup, demo_events, stop, echo):
            _starter_dashboards(settings, echo)
        sup.spawn("compactor", "compact")
        _start_workspace(sup, echo)
        from warehouse.demo import read_back_summary

        if not settings.warehouse_uri.startswith("s3://"):
            echo(read_back_summary(Path(settings.warehouse_uri)))
        echo(f"ready    data in {settings.data_dir.resolve()}; Ctrl-C stops")
        while not exit_after_demo and not stop.is_set():
            if (dead := sup.failed()) is not None:
                raise SupervisorError(f"{dead.name} exited with {dead.proc.returncode}",
                                      code="child_failed", hint=f"see {dead.log}")
            stop.wait(_WATCH_S)
    finally:
        sup.stop()


def _start_pipeline(sup: Supervisor, echo: Callable[[str], None]) -> None:
    """NATS, then ingest, sink and reactor, each waited for."""
    s = sup.settings
    nats_server = sup.start_nats()
    echo(f"nats     {nats_server.url}")
    ing = s.ingest
    sup.spawn("ingest", "ingest", ready_url=f"http://{ing.host}:{ing.port}/readyz")
    echo(f"ingest   http://{ing.host}:{ing.port}  (POST /v1/batch, /openapi.json)")
    flush = {} if "CAUSALITY_SINK_FLUSH_INTERVAL_S" in os.environ else {
        "CAUSALITY_SINK_FLUSH_INTERVAL_S": "2"}
    sup.spawn("sink", "sink", ready_url=f"http://{s.sink.http_host}:{s.sink.http_port}/readyz",
              env=flush)
    echo(f"sink     http://{s.sink.http_host}:{s.sink.http_port}/metrics")
    r = s.reactor
    sup.spawn("reactor", "reactor", ready_url=f"http://{r.http_host}:{r.http_port}/readyz")
    echo(f"reactor  http://{r.http_host}:{r.http_port}/metrics  (rules -> webhooks, monitors)")


def _load_demo_if_empty(sup: Supervisor, demo_events: int, stop: Event,
                        echo: Callable[[str], None]) -> bool:
    """Send demo events through ingest into an empty warehouse, wait for them, compact them;
    whether it did."""
    from pipeline.compactor import CompactionPolicy, run_once
    from warehouse.engines import open_engine

    s = sup.settings
    engine = open_engine("duckdb", warehouse=s.warehouse_uri)
    if _count(engine) != 0 or not demo_events:
        return False
    started = time.perf_counter()
    sent = load_demo(sup, demo_events)
    echo(f"demo     {sent:,} events sent through ingest in "
         f"{time.perf_counter() - started:.1f} s; waiting for the sink ...")
    deadline = time.monotonic() + DEMO_LANDED_TIMEOUT_S
    while (landed := _count(engine)) < sent and time.monotonic() < deadline:
        if (dead := sup.failed()) is not None:
            raise SupervisorError(f"{dead.name} stopped", hint=f"see {dead.log}")
        stop.wait(_WATCH_S)
    from causality.wiring import storage

    result = run_once(storage(s), CompactionPolicy(grace_s=0))
    echo(f"demo     {landed:,} rows landed; compacted {len(result.partitions)} "
         f"partitions, {result.files_removed} files")
    if landed != sent:
        raise SupervisorError(f"only {landed:,} of {sent:,} demo events landed",
                              code="demo_incomplete", hint="see the logs in data_dir")
    return True


def _starter_dashboards(settings: Settings, echo: Callable[[str], None]) -> None:
    """Each demo app's Overview dashboard, built from the events that just landed."""
    from causality.wiring import metadata
    from workspace.service import Workspace
    from workspace.starter import ensure_overviews

    ws = Workspace(settings, db=metadata(settings), long_running=False)
    try:
        made = ensure_overviews(ws)
    except CausalityError as err:  # a courtesy: the workspace starts without them
        echo(f"starter  no Overview dashboards: {err.message}")
        return
    finally:
        ws.close()
    echo(f"starter  Overview dashboards: {', '.join(b.name for b in made) or 'none'}")


def _count(engine: Any) -> int:
    result = engine.run("SELECT count(*) FROM events", 1, 60)
    return int(result.table.column(0)[0].as_py())


def _start_workspace(sup: Supervisor, echo: Callable[[str], None]) -> None:
    """The workspace, with a first admin when nobody can sign in yet."""
    password = ensure_admin(sup.settings)
    echo(f"workspace {sup.start_workspace()}")
    if password is not None:
        echo(f"admin    sign in as admin / {password}  (shown once; change it with "
             "`causality users passwd admin`)")


def ensure_admin(settings: Settings) -> str | None:
    """When nobody can sign in yet, an ``admin`` with a random password (returned once)."""
    from causality.wiring import metadata
    from metadata.users import UserStore

    store = UserStore(metadata(settings))
    if store.count():
        return None
    password = secrets.token_urlsafe(ADMIN_PASSWORD_BYTES)
    store.add("admin", password, "admin")
    return password
