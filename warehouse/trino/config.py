"""What the Trino runner writes into ``etc/``: node, JVM and server config, the catalog over
the warehouse, the access rules (users ``causality_admin`` and ``causality_reader``) and the
resource groups by query source (why these numbers: :mod:`warehouse.trino`).

Pure data and file writing, apart from fetching and running the server; the engine names a
query's source with :func:`client_source` from here.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from warehouse.engines._base import QUERY_SOURCES

CATALOG = "lake"
SCHEMA = "analytics"
TABLE = "events"
ADMIN_USER = "causality_admin"
READER_USER = "causality_reader"

CLIENT_SOURCE_PREFIX = "causality-"
INTERNAL_SOURCE = "causality"  # the client source of a query without a known source
ROOT_GROUP = "causality"
ADHOC_GROUP = "adhoc"
INTERNAL_GROUP = "internal"
ADMIN_GROUP = "admin"
#: Sources other people look at, who did not ask for a slow query: they get reserved capacity.
VIEWER_SOURCES = ("dashboard", "embed")
#: Sources of people exploring; a heavy scan of theirs queues behind its own kind.
ADHOC_SOURCES = ("sql", "chat", "notebook")
REGEX_LIBRARY = "RE2J"

HEAP = "3G"
QUERY_MAX_MEMORY = "1GB"
METASTORE_DIR = "metastore"  # under <data_dir>/fs, the catalog's file-system root
WAREHOUSE_LINK = "warehouse"  # <data_dir>/fs/warehouse -> the warehouse dir


def _jvm_config(heap: str, extra: Sequence[str]) -> str:
    flags = [
        "-server",
        f"-Xmx{heap}",
        "-XX:G1HeapRegionSize=32M",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-XX:+ExitOnOutOfMemoryError",
        "-XX:-OmitStackTraceInFastThrow",
        "-XX:ReservedCodeCacheSize=256M",
        "-XX:PerMethodRecompilationCutoff=10000",
        "-XX:PerBytecodeRecompilationCutoff=10000",
        "-Djdk.attach.allowAttachSelf=true",
        "-Djdk.nio.maxCachedBufferSize=2000000",
        "-Duser.timezone=UTC",
        # JOL (memory accounting) attaches an agent and reads sun.misc.Unsafe; JNA loads native
        # code. JDK 24+ warns about all three unless they are allowed explicitly.
        "-XX:+EnableDynamicAgentLoading",
        "--sun-misc-unsafe-memory-access=allow",
        "--enable-native-access=ALL-UNNAMED",
        # https://bugs.openjdk.org/browse/JDK-8329528, as in Trino's own jvm.config
        "-XX:+UnlockDiagnosticVMOptions",
        "-XX:G1NumCollectionsKeepPinned=10000000",
        *extra,
    ]
    return "\n".join(flags) + "\n"


def _properties(values: dict[str, object]) -> str:
    return "".join(f"{key}={value}\n" for key, value in values.items())


def _rules() -> dict[str, Any]:
    admin, reader = ADMIN_USER, READER_USER
    return {
        "catalogs": [
            {"user": admin, "catalog": ".*", "allow": "all"},
            {"user": reader, "catalog": CATALOG, "allow": "read-only"},
        ],
        "schemas": [{"user": admin, "owner": True}],
        "tables": [
            {
                "user": admin,
                "privileges": ["SELECT", "INSERT", "DELETE", "UPDATE", "OWNERSHIP", "GRANT_SELECT"],
            },
            {"user": reader, "catalog": CATALOG, "privileges": ["SELECT"]},
        ],
        "procedures": [{"user": admin, "privileges": ["EXECUTE"]}],
        "queries": [
            {"user": admin, "allow": ["execute", "kill", "view"]},
            {"user": reader, "allow": ["execute"]},
        ],
        "system_information": [{"user": admin, "allow": ["read", "write"]}],
    }


def client_source(source: str | None) -> str:
    """The Trino client ``source`` of a query from ``source`` (``causality-sql``, …)."""
    return f"{CLIENT_SOURCE_PREFIX}{source}" if source in QUERY_SOURCES else INTERNAL_SOURCE


def resource_group(source: str | None) -> list[str]:
    """The resource group a query from ``source`` runs in, as ``system.runtime.queries`` shows
    it (``["causality", "adhoc", "sql"]``)."""
    if source in ADHOC_SOURCES:
        return [ROOT_GROUP, ADHOC_GROUP, str(source)]
    return [ROOT_GROUP, str(source) if source in VIEWER_SOURCES else INTERNAL_GROUP]


def _group(name: str, running: int, queued: int, memory: str, **more: Any) -> dict[str, Any]:
    return {"name": name, "hardConcurrencyLimit": running, "maxQueued": queued,
            "softMemoryLimit": memory, **more}


def _resource_groups() -> dict[str, Any]:
    """Groups, limits and selectors; the module docstring says why these numbers."""
    fair = {"schedulingPolicy": "weighted_fair"}
    adhoc = [_group(source, 2, 20, "30%") for source in ADHOC_SOURCES]
    root = _group(ROOT_GROUP, 12, 1000, "100%", **fair, subGroups=[
        *(_group(source, 8, 200, "60%", schedulingWeight=4) for source in VIEWER_SOURCES),
        _group(ADHOC_GROUP, 4, 60, "40%", schedulingWeight=1, **fair, subGroups=adhoc),
        _group(INTERNAL_GROUP, 2, 100, "20%", schedulingWeight=2),
    ])
    selectors = [
        {"source": client_source(source), "group": ".".join(resource_group(source))}
        for source in QUERY_SOURCES
    ]
    selectors += [
        {"user": ADMIN_USER, "group": ADMIN_GROUP},
        {"group": ".".join(resource_group(None))},  # anything else, e.g. the engine's own reads
    ]
    return {"rootGroups": [root, _group(ADMIN_GROUP, 4, 100, "100%")], "selectors": selectors}


def write_etc(
    etc: Path,
    *,
    install: Path,
    warehouse: Path,
    data_dir: Path,
    port: int,
    bind_host: str = "127.0.0.1",
    heap: str = HEAP,
    query_max_memory: str = QUERY_MAX_MEMORY,
    jvm_options: Sequence[str] = (),
) -> None:
    """Write every file Trino reads at start-up; all paths absolute, nothing relative to cwd."""
    internal = "127.0.0.1" if bind_host in ("0.0.0.0", "::") else bind_host  # noqa: S104
    fs_root = data_dir / "fs"
    (fs_root / METASTORE_DIR).mkdir(parents=True, exist_ok=True)
    _symlink(fs_root / WAREHOUSE_LINK, warehouse)
    # Trino reads etc/resource-groups.properties relative to its working directory, which the
    # launcher sets to the node data dir.
    (data_dir / "node").mkdir(parents=True, exist_ok=True)
    _symlink(data_dir / "node" / "etc", etc)
    (etc / "catalog").mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {
        "node.properties": _properties(
            {
                "node.environment": "causality",
                "node.id": f"causality-{uuid.uuid4()}",
                "node.data-dir": data_dir / "node",
                "node.bind-ip": bind_host,
                # Otherwise the node announces its first non-loopback address and talks to itself
                # through it, which may not route.
                "node.internal-address": internal,
            }
        ),
        "jvm.config": _jvm_config(heap, jvm_options),
        "config.properties": _properties(
            {
                "coordinator": "true",
                "node-scheduler.include-coordinator": "true",
                "http-server.http.port": port,
                "discovery.uri": f"http://{internal}:{port}",
                "plugin.dir": install / "plugin",
                "catalog.config-dir": etc / "catalog",
                "access-control.config-files": etc / "access-control.properties",
                "query.max-memory": query_max_memory,
                "query.max-memory-per-node": query_max_memory,
                "http-server.log.path": data_dir / "node" / "var" / "log" / "http-request.log",
                "shutdown.grace-period": "1s",
                "deprecated.regex-library": REGEX_LIBRARY,
            }
        ),
        "log.properties": _properties({"io.trino": "INFO"}),
        "access-control.properties": _properties(
            {"access-control.name": "file", "security.config-file": etc / "rules.json"}
        ),
        "rules.json": json.dumps(_rules(), indent=2) + "\n",
        "resource-groups.properties": _properties(
            {
                "resource-groups.configuration-manager": "file",
                "resource-groups.config-file": etc / "resource-groups.json",
            }
        ),
        "resource-groups.json": json.dumps(_resource_groups(), indent=2) + "\n",
        f"catalog/{CATALOG}.properties": _properties(
            {
                "connector.name": "hive",
                "hive.metastore": "file",
                "hive.metastore.catalog.dir": f"local:///{METASTORE_DIR}",
                "fs.native-local.enabled": "true",
                "local.location": fs_root,
                "hive.security": "allow-all",
                "hive.non-managed-table-creates-enabled": "true",
                "hive.non-managed-table-writes-enabled": "false",
                "hive.parquet.use-column-names": "true",
                "hive.parquet.time-zone": "UTC",
                # Hive's plain TIMESTAMP is read at this precision: keep the µs we write.
                "hive.timestamp-precision": "MICROSECONDS",
            }
        ),
    }
    for name, text in files.items():
        (etc / name).write_text(text)


def _symlink(link: Path, target: Path) -> None:
    """Make ``link`` point at the directory ``target``, replacing an older link atomically."""
    if link.is_symlink() and link.resolve() == target.resolve():
        return
    tmp = link.with_name(f".{link.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target.resolve(), target_is_directory=True)
    os.replace(tmp, link)

