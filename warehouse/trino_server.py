"""A real Trino 476 on this machine: fetched once through Maven, run as a single node.

``fetch()`` brings ``io.trino:trino-server-core:476:tar.gz`` and ``io.trino:trino-hive:476:zip``
through ``mvn`` (its own settings decide where from) into a cache dir outside the repo
(``~/.cache/causality/trino-476``, env ``CAUSALITY_TRINO_CACHE``), unpacks the server and lays the
Hive connector out as ``plugin/hive``. A marker file says the cache is complete; anything else in
the cache is redone. Trino 476 needs a JDK ≥ 24; we use ``/usr/lib/jvm/temurin-25-jdk-amd64``
(env ``CAUSALITY_TRINO_JAVA_HOME``).

``TrinoServer`` writes its own ``etc/`` under a data dir and runs ``bin/launcher run``:

- one node, coordinator and worker, bound to loopback by default;
- catalog ``lake``: Hive connector with a file metastore and the native local file system. That
  file system cannot reach outside its root (``local.location``), and the metastore must live on
  it but not inside the warehouse, so the root is ``<data_dir>/fs`` holding ``metastore/`` and a
  symlink ``warehouse`` → the warehouse dir: ``local:///warehouse/events`` is
  ``<warehouse>/events``, and nothing else on the machine is reachable through the catalog.
  External tables may be created, never written to;
- ``hive.security=allow-all`` in the catalog, with a file-based *system* access control on top
  (``etc/access-control.properties`` + ``etc/rules.json``): user ``causality_admin`` may do
  anything, user ``causality_reader`` may only read catalog ``lake`` (SELECT, SHOW, DESCRIBE) and
  see only its own queries; every other user is refused. These are authorization rules only:
  nothing authenticates the user name a client sends, which is one reason the server listens on
  127.0.0.1 unless told otherwise;
- resource groups by query source (``etc/resource-groups.properties`` + ``resource-groups.json``,
  the file-based manager), selected on the client ``source`` the engine sends,
  ``causality-<source>`` (:func:`client_source`). Under the root ``causality`` (12 running):
  ``dashboard`` and ``embed`` (8 each, scheduling weight 4); ``adhoc`` (4 in all, weight 1)
  holding ``sql``, ``chat`` and ``notebook`` (2 each); ``internal`` (2, weight 2) for queries
  without a source (catalog reads, estimates). The ad-hoc sources and internal reads never hold
  more than 6 of the 12 slots, so dashboards and embeds always have 6: an analyst's heavy scan
  queues behind its own kind instead. Soft memory limits (share of the cluster's memory above
  which a group's new queries wait): 60 % for dashboard and embed, 40 % for adhoc (30 % per
  source), 20 % internal. The admin user's queries run in the root group ``admin``;
- regular expressions on RE2J (``deprecated.regex-library``, the 476 name of ``regex-library``),
  linear in the input: a pattern such as ``(a+)+$`` cannot backtrack for hours, in a query or
  while the planner folds constants (where no execution time limit applies).

Ready means ``GET /v1/info`` says ``"starting": false`` and ``SELECT 1`` answers; the first
fetch also records a start-up into a JDK AOT cache (JEP 514) that halves later start-ups.
``trino_register.register_events_table`` creates ``lake.analytics.events``, syncs its
partitions and returns once the table can be read (a node that has just started reads tables
only after it has announced its catalogs, a moment after ``SELECT 1`` answers); call it again
after new partitions land.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from warehouse.errors import WarehouseError
from warehouse.layout import EVENTS_DIR
from warehouse.trino_config import (
    ADMIN_USER,
    CATALOG,
    HEAP,
    QUERY_MAX_MEMORY,
    SCHEMA,
    write_etc,
)

log = logging.getLogger(__name__)

TRINO_VERSION = "476"
SERVER_ARTIFACT = f"io.trino:trino-server-core:{TRINO_VERSION}:tar.gz"
HIVE_ARTIFACT = f"io.trino:trino-hive:{TRINO_VERSION}:zip"
#: Pinned so that ``copy`` works without a project and behaves the same everywhere.
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

CACHE_ENV = "CAUSALITY_TRINO_CACHE"
DEFAULT_CACHE_DIR = Path("~/.cache/causality") / f"trino-{TRINO_VERSION}"
JAVA_HOME_ENV = "CAUSALITY_TRINO_JAVA_HOME"
DEFAULT_JAVA_HOME = Path("/usr/lib/jvm/temurin-25-jdk-amd64")
MIN_JAVA_MAJOR = 24  # Trino 476 refuses to start on anything older

START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 0.25
HTTP_PROBE_TIMEOUT_S = 2.0
LOG_TAIL_LINES = 40
PORT_ATTEMPTS = 3  # a port picked by us can be taken before Trino binds it

_MARKER = ".complete.json"
AOT_FILE = "trino.aot"
AOT_META = "aot.json"  # written once the AOT step ran, whether or not it produced a cache
AOT_ASSEMBLY_TIMEOUT_S = 600.0  # the exiting JVM assembles the cache before it is gone


class TrinoServerError(WarehouseError):
    """Trino could not be fetched, started, stopped or set up."""

    code = "trino_error"


class TrinoSetupError(TrinoServerError):
    """A tool Trino needs (a JDK, ``mvn``) is missing from this machine."""

    code = "trino_setup"


# --------------------------------------------------------------------------- fetch


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR).expanduser()


def java_home() -> Path:
    return Path(os.environ.get(JAVA_HOME_ENV) or DEFAULT_JAVA_HOME).expanduser()


def check_java(home: Path | None = None) -> Path:
    """The JDK home Trino will run on, after checking it exists and is new enough."""
    home = home or java_home()
    java = home / "bin" / "java"
    hint = f"install JDK 25 (Eclipse Temurin) at {DEFAULT_JAVA_HOME}, or set {JAVA_HOME_ENV}"
    if not (java.is_file() and os.access(java, os.X_OK)):
        raise TrinoSetupError(
            f"no Java at {home} (looked for {java})", code="java_missing", hint=hint, java_home=home
        )
    major = _java_major(home, java)
    if major < MIN_JAVA_MAJOR:
        raise TrinoSetupError(
            f"Java {major} at {home} is too old for Trino {TRINO_VERSION} "
            f"(needs ≥ {MIN_JAVA_MAJOR})",
            code="java_too_old",
            hint=hint,
            java_home=home,
        )
    return home


def _java_major(home: Path, java: Path) -> int:
    if not (m := re.match(r"(\d+)", java_version(home, java))):
        raise TrinoSetupError(
            f"cannot tell the Java version at {home}",
            code="java_unknown",
            hint=f"point {JAVA_HOME_ENV} at a JDK home containing bin/java and a release file",
        )
    return int(m[1])


def java_version(home: Path, java: Path | None = None) -> str:
    """``25.0.3`` for a JDK 25.0.3, from its ``release`` file or else ``java -version``."""
    release = home / "release"
    text = release.read_text(errors="replace") if release.is_file() else ""
    if m := re.search(r'JAVA_VERSION="([^"]+)"', text):
        return m[1]
    cmd = [str(java or home / "bin" / "java"), "-version"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    m = re.search(r'version "([^"]+)"', out.stderr + out.stdout)
    return m[1] if m else ""


def fetch(cache_dir: Path | None = None) -> Path:
    """Fetch and lay out Trino once; return the install dir (with ``bin/launcher``).

    The first fetch also records one start-up of the server into a JDK AOT cache, which later
    starts load core classes from (about twice as fast here); that step may fail without harm.
    Idempotent and safe to call from several processes at once (a file lock serialises them).
    """
    home = check_java()
    cache = (cache_dir or default_cache_dir()).expanduser().resolve()
    install = cache / "server"
    if _complete(cache) and (cache / AOT_META).is_file():
        return install
    mvn = shutil.which("mvn")
    if mvn is None and not _complete(cache):
        raise TrinoSetupError(
            "mvn is not on PATH; it is how Trino is fetched",
            code="mvn_missing",
            hint="install Maven (apt-get install maven), or copy a filled cache from elsewhere",
        )
    cache.mkdir(parents=True, exist_ok=True)
    with _locked(cache / ".lock"):
        if not _complete(cache):  # checked again: another process may have finished meanwhile
            assert mvn is not None
            _download(cache, install, mvn)
            log.info("Trino %s is unpacked in %s", TRINO_VERSION, install)
        if not (cache / AOT_META).is_file():
            _train_aot_cache(cache, install, home)
    return install


def _download(cache: Path, install: Path, mvn: str) -> None:
    (cache / _MARKER).unlink(missing_ok=True)
    (cache / AOT_META).unlink(missing_ok=True)
    staging = cache / ".staging"
    for stale in (staging, install):
        shutil.rmtree(stale, ignore_errors=True)
    downloads = staging / "download"
    for artifact in (SERVER_ARTIFACT, HIVE_ARTIFACT):
        _mvn_copy(mvn, artifact, downloads)
    _unpack(downloads, staging)
    (staging / "server").rename(install)
    shutil.rmtree(staging)
    _write_atomic(cache / _MARKER, json.dumps(_marker_body(), indent=2) + "\n")


def _train_aot_cache(cache: Path, install: Path, home: Path) -> None:
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
    _write_atomic(cache / AOT_META, json.dumps(meta, indent=2) + "\n")


def _aot_options(install: Path, home: Path) -> list[str]:
    """``-XX:AOTCache=…`` when a cache recorded with this very JDK sits beside ``install``."""
    try:
        meta = json.loads((install.parent / AOT_META).read_text())
    except (OSError, ValueError):
        return []
    same_jdk = meta.get("java_home") == str(home) and meta.get("java_version") == java_version(home)
    aot = install.parent / AOT_FILE
    return [f"-XX:AOTCache={aot}"] if meta.get("ok") and same_jdk and aot.is_file() else []


def _marker_body() -> dict[str, Any]:
    return {"version": TRINO_VERSION, "artifacts": [SERVER_ARTIFACT, HIVE_ARTIFACT]}


def _complete(cache: Path) -> bool:
    try:
        body = json.loads((cache / _MARKER).read_text())
    except (OSError, ValueError):
        return False
    install = cache / "server"
    return (
        body == _marker_body()
        and (install / "bin" / "launcher").is_file()
        and (install / "plugin" / "hive").is_dir()
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _mvn_copy(mvn: str, artifact: str, out_dir: Path) -> None:
    log.info("fetching %s with mvn", artifact)
    cmd = [
        mvn,
        "-B",
        "-q",
        f"{DEPENDENCY_PLUGIN}:copy",
        f"-Dartifact={artifact}",
        f"-DoutputDirectory={out_dir}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-LOG_TAIL_LINES:])
        raise TrinoServerError(
            f"mvn could not fetch {artifact} (exit {proc.returncode}):\n{tail}",
            code="fetch_failed",
            hint="check that mvn reaches its repository (try `mvn dependency:get` by hand); "
            "the cache is left incomplete and the next fetch starts over",
            artifact=artifact,
        )


def _unpack(downloads: Path, staging: Path) -> None:
    """``trino-server-core-476/`` becomes ``server/``; the Hive zip becomes ``plugin/hive``."""
    server_archive = next(downloads.glob(f"trino-server-core-{TRINO_VERSION}*.tar.gz"))
    hive_archive = next(downloads.glob(f"trino-hive-{TRINO_VERSION}*.zip"))
    with tarfile.open(server_archive) as tar:
        tar.extractall(staging / "untar", filter="data")
    (staging / "untar" / f"trino-server-core-{TRINO_VERSION}").rename(staging / "server")
    with zipfile.ZipFile(hive_archive) as archive:
        archive.extractall(staging / "unzip")  # noqa: S202 - zipfile drops '..' and '/' itself
    plugin = staging / "server" / "plugin"
    plugin.mkdir(exist_ok=True)
    (staging / "unzip" / f"trino-hive-{TRINO_VERSION}").rename(plugin / "hive")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- etc/


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
        self._use_aot = use_aot  # load core classes from the AOT cache fetch() recorded
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
        install = self._install or fetch()
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
                *(_aot_options(install, home) if self._use_aot else []),
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
            if time.monotonic() > deadline:
                raise self._start_error(
                    f"Trino was not ready within {self._start_timeout_s:.0f} s",
                    "trino_start_timeout",
                )
            time.sleep(POLL_INTERVAL_S)

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
        from warehouse.trino_register import register_events_table

        register_events_table(self.host, self.port, self.warehouse)
