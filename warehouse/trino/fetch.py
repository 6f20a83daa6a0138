"""Fetching Trino 476 once, through Maven, and finding the JDK it runs on.

``fetch()`` brings ``io.trino:trino-server-core:476:tar.gz`` and ``io.trino:trino-hive:476:zip``
through ``mvn`` (its own settings decide where from) into a cache dir outside the repo
(``~/.cache/causality/trino-476``, env ``CAUSALITY_TRINO_CACHE``), unpacks the server and lays the
Hive connector out as ``plugin/hive``. A marker file says the cache is complete; anything else in
the cache is redone. Trino 476 needs a JDK ≥ 24; we use ``/usr/lib/jvm/temurin-25-jdk-amd64``
(env ``CAUSALITY_TRINO_JAVA_HOME``). The first fetch also records a start-up into a JDK AOT
cache (JEP 514) that halves later start-ups (:func:`aot_options`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from warehouse.trino._errors import TrinoServerError, TrinoSetupError

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

LOG_TAIL_LINES = 40

_MARKER = ".complete.json"
AOT_FILE = "trino.aot"
AOT_META = "aot.json"  # written once the AOT step ran, whether or not it produced a cache
AOT_ASSEMBLY_TIMEOUT_S = 600.0  # the exiting JVM assembles the cache before it is gone


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

    Idempotent and safe to call from several processes at once (a file lock serialises them).
    :func:`warehouse.trino.server.install_trino` also records the AOT cache.
    """
    check_java()
    cache = (cache_dir or default_cache_dir()).expanduser().resolve()
    install = cache / "server"
    if _complete(cache):
        return install
    mvn = shutil.which("mvn")
    if mvn is None and not _complete(cache):
        raise TrinoSetupError(
            "mvn is not on PATH; it is how Trino is fetched",
            code="mvn_missing",
            hint="install Maven (apt-get install maven), or copy a filled cache from elsewhere",
        )
    cache.mkdir(parents=True, exist_ok=True)
    with locked(cache / ".lock"):
        if not _complete(cache):  # checked again: another process may have finished meanwhile
            assert mvn is not None
            _download(cache, install, mvn)
            log.info("Trino %s is unpacked in %s", TRINO_VERSION, install)
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
    write_atomic(cache / _MARKER, json.dumps(_marker_body(), indent=2) + "\n")


def aot_options(install: Path, home: Path) -> list[str]:
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
def locked(path: Path) -> Iterator[None]:
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


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
