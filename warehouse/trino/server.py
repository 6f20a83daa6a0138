"""``TrinoServer``: one Trino node over a warehouse dir, as a child process.

It writes its own ``etc/`` under a data dir (:func:`warehouse.trino.config.write_etc`) and runs
``bin/launcher run`` from the install :func:`warehouse.trino.fetch.fetch` laid out. Ready means
``GET /v1/info`` says ``"starting": false`` and ``SELECT 1`` answers.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from warehouse.layout import EVENTS_DIR
from warehouse.trino._errors import TrinoServerError
from warehouse.trino.config import (
    ADMIN_USER,
    CATALOG,
    HEAP,
    QUERY_MAX_MEMORY,
    SCHEMA,
    write_etc,
)
from warehouse.trino.fetch import (
    AOT_ASSEMBLY_TIMEOUT_S,
    AOT_FILE,
    AOT_META,
    LOG_TAIL_LINES,
    aot_options,
    check_java,
    fetch,
    java_version,
    locked,
    write_atomic,
)

log = logging.getLogger(__name__)

START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 0.25
HTTP_PROBE_TIMEOUT_S = 2.0
PORT_ATTEMPTS = 3  # a port picked by us can be taken before Trino binds it


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open(errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines))
    except OSError:
        return "(no log)"


class TrinoServer:
    """One Trino node over a warehouse dir; ``with TrinoServer(...) as trino:`` or start/stop.

    ``data_dir`` holds ``etc/``, the file metastore, Trino's own data and ``server.log``; keep it
    to keep registered tables across restarts. ``port=0`` picks a free port.
    """

    def __init__(
        self,
        warehouse: Path,
        data_dir: Path,
        *,
        port: int = 0,
        bind_host: str = "127.0.0.1",
        install: Path | None = None,
        heap: str = HEAP,
        query_max_memory: str = QUERY_MAX_MEMORY,
        start_timeout_s: float = START_TIMEOUT_S,
        jvm_options: Sequence[str] = (),
        use_aot: bool = True,
    ) -> None:
        self.warehouse = Path(warehouse).resolve()
        self.data_dir = Path(data_dir).resolve()
        self.bind_host = bind_host
        self.host = "127.0.0.1" if bind_host in ("0.0.0.0", "::") else bind_host  # noqa: S104
        self.port = port
        self._wanted_port = port
        self._install = install
        self._heap = heap
        self._query_max_memory = query_max_memory
        self._start_timeout_s = start_timeout_s
        self._jvm_options = tuple(jvm_options)
        self._use_aot = use_aot  # load core classes from the AOT cache install_trino() recorded
        self._process: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / "server.log"
        self.startup_s: float | None = None

    @property
    def etc_dir(self) -> Path:
        return self.data_dir / "etc"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The JVM's pid (the launcher execs it) while it runs."""
        return self._process.pid if self.running and self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> TrinoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> TrinoServer:
        """Start Trino and return once it answers ``SELECT 1``; raise with its log otherwise."""
        if self.running:
            return self
        home = check_java()
        install = self._install or install_trino()
        (self.warehouse / EVENTS_DIR).mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        attempts = 1 if self._wanted_port else PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            self.port = self._wanted_port or _free_port(self.bind_host)
            self._launch(install, home)
            try:
                self._wait_ready(began + self._start_timeout_s)
                break
            except BaseException as err:
                self.stop()
                if not isinstance(err, TrinoServerError):
                    raise
                port_taken = "BindException" in _tail(self.log_path, 400)
                if err.code != "trino_exited" or not port_taken or attempt == attempts:
                    raise
                log.info("port %d was taken before Trino bound it; trying another", self.port)
        self.startup_s = time.monotonic() - began
        log.info("Trino is ready at %s after %.1f s", self.url, self.startup_s)
        return self

    def _launch(self, install: Path, home: Path) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        write_etc(
            self.etc_dir,
            install=install,
            warehouse=self.warehouse,
            data_dir=self.data_dir,
            port=self.port,
            bind_host=self.bind_host,
            heap=self._heap,
            query_max_memory=self._query_max_memory,
            jvm_options=[
                *self._jvm_options,
                *(aot_options(install, home) if self._use_aot else []),
            ],
        )
        env = {**os.environ, "JAVA_HOME": str(home)}
        env["PATH"] = f"{home / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        cmd = [
            str(install / "bin" / "launcher"),
            "run",
            f"--etc-dir={self.etc_dir}",
            f"--data-dir={self.data_dir / 'node'}",
            f"--jvm-dir={home}",
        ]
        with self.log_path.open("wb") as log_file:
            # Its own session, so stop() can signal the launcher and the JVM together.
            atexit.register(self.stop)  # a forgotten server must not outlive Python
            self._process = subprocess.Popen(
                cmd,
                cwd=self.data_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_ready(self, deadline: float) -> None:
        assert self._process is not None
        while True:
            if (code := self._process.poll()) is not None:
                raise self._start_error(
                    f"Trino exited with code {code} while starting", "trino_exited"
                )
            if self._info_ready() and self._select_one():
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._start_error(
                    f"Trino was not ready within {self._start_timeout_s:.0f} s",
                    "trino_start_timeout",
                )
            # Between readiness checks, wait on the process itself: its exit ends the wait.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=min(POLL_INTERVAL_S, left))

    def _start_error(self, message: str, code: str) -> TrinoServerError:
        return TrinoServerError(
            f"{message}; last lines of {self.log_path}:\n{_tail(self.log_path)}",
            code=code,
            hint="read the whole server.log; a slow machine may need a longer start timeout",
            log=str(self.log_path),
        )

    def _info_ready(self) -> bool:
        try:
            with urllib.request.urlopen(  # noqa: S310 - our own http:// URL on loopback
                f"{self.url}/v1/info", timeout=HTTP_PROBE_TIMEOUT_S
            ) as response:
                return json.load(response).get("starting") is False
        except (OSError, ValueError):
            return False

    def _select_one(self) -> bool:
        try:
            conn = self.connect()
            try:
                cursor = conn.cursor()
                cursor.execute("SELECT 1")
                return bool(cursor.fetchall() == [[1]])
            finally:
                conn.close()
        except Exception:  # any failure here only means "not ready yet"
            return False

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop the JVM (SIGTERM, then SIGKILL after ``timeout_s``) and wait for it."""
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        if process is None or process.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, STOP_TIMEOUT_S)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        # The launcher execs the JVM, but reap anything else left in its group too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    def connect(self, user: str = ADMIN_USER) -> Any:
        """A ``trino.dbapi`` connection to this server as ``user``."""
        import trino.dbapi  # optional extra: causality[trino]

        return trino.dbapi.connect(
            host=self.host, port=self.port, user=user, catalog=CATALOG, schema=SCHEMA
        )

    def register_events_table(self) -> None:
        from warehouse.trino.register import register_events_table

        register_events_table(self.host, self.port, self.warehouse)


def install_trino(cache_dir: Path | None = None) -> Path:
    """Trino laid out once (:func:`warehouse.trino.fetch.fetch`) and, the first time, one
    start-up of the server recorded into a JDK AOT cache, which later starts load core classes
    from (about twice as fast here); that step may fail without harm. Returns the install dir.
    Idempotent and safe to call from several processes at once (a file lock serialises them)."""
    install = fetch(cache_dir)
    cache = install.parent
    if not (cache / AOT_META).is_file():
        with locked(cache / ".lock"):
            if not (cache / AOT_META).is_file():
                _record_aot_cache(cache, install, check_java())
    return install


def _record_aot_cache(cache: Path, install: Path, home: Path) -> None:
    """Start and stop Trino once with ``-XX:AOTCacheOutput`` (JEP 514); the JVM writes the
    cache as it exits. Only classes of the built-in class loaders are cached, not plugins."""
    aot = cache / AOT_FILE
    aot.unlink(missing_ok=True)
    log.info("recording a Trino start-up into the AOT cache %s", aot)
    options = [f"-XX:AOTCacheOutput={aot}", "-Xlog:aot=error"]
    with tempfile.TemporaryDirectory(prefix="trino-aot-") as tmp:
        root = Path(tmp)
        server = TrinoServer(
            root / "warehouse", root / "data", install=install, jvm_options=options, use_aot=False
        )
        try:
            server.start()
        except TrinoServerError as err:
            log.warning("no AOT cache, Trino will start without one: %s", err)
        finally:
            server.stop(timeout_s=AOT_ASSEMBLY_TIMEOUT_S)
    meta = {
        "ok": aot.is_file() and aot.stat().st_size > 0,
        "java_home": str(home),
        "java_version": java_version(home),
    }
    write_atomic(cache / AOT_META, json.dumps(meta, indent=2) + "\n")
