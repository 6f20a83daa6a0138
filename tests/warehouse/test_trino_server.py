"""warehouse.trino: fetch checks, the etc/ it writes, and a real Trino over real Parquet."""

from __future__ import annotations

import json
import stat
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.fixtures.trino import TrinoHandle
from warehouse.schema import FILE_SCHEMA
from warehouse.trino import TrinoServer, TrinoServerError, TrinoSetupError
from warehouse.trino import config as tc
from warehouse.trino import fetch as tf

# --------------------------------------------------------------------------- without a server


def _fake_jdk(root: Path, version: str) -> Path:
    java = root / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\nexit 0\n")
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    (root / "release").write_text(f'JAVA_VERSION="{version}"\n')
    return root


@pytest.fixture
def hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A JDK 25 stand-in, an empty cache dir, and no ``mvn`` on PATH."""
    monkeypatch.setenv(tf.JAVA_HOME_ENV, str(_fake_jdk(tmp_path / "jdk", "25.0.3")))
    monkeypatch.setenv(tf.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    return tmp_path / "cache"


def test_fetch_names_the_missing_java_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-jdk"
    monkeypatch.setenv(tf.JAVA_HOME_ENV, str(missing))
    with pytest.raises(TrinoSetupError) as caught:
        tf.fetch(tmp_path / "cache")
    err = caught.value
    assert err.code == "java_missing"
    assert str(missing) in err.message
    assert tf.JAVA_HOME_ENV in err.hint
    assert not (tmp_path / "cache").exists()


def test_fetch_refuses_a_java_older_than_24(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(tf.JAVA_HOME_ENV, str(_fake_jdk(tmp_path / "jdk17", "17.0.15")))
    with pytest.raises(TrinoSetupError) as caught:
        tf.fetch(tmp_path / "cache")
    assert caught.value.code == "java_too_old"


def test_fetch_without_mvn_says_so(hermetic: Path) -> None:
    with pytest.raises(TrinoSetupError) as caught:
        tf.fetch()
    assert caught.value.code == "mvn_missing"
    assert "Maven" in caught.value.hint


def test_a_complete_cache_needs_no_mvn_and_a_half_finished_one_is_redone(hermetic: Path) -> None:
    install = hermetic / "server"
    (install / "bin").mkdir(parents=True)
    (install / "bin" / "launcher").write_text("")
    (install / "plugin" / "hive").mkdir(parents=True)
    with pytest.raises(TrinoSetupError, match="mvn"):  # no marker yet: would fetch again
        tf.fetch()
    marker = {"version": tf.TRINO_VERSION, "artifacts": [tf.SERVER_ARTIFACT, tf.HIVE_ARTIFACT]}
    (hermetic / ".complete.json").write_text(json.dumps(marker))
    (hermetic / tf.AOT_META).write_text(json.dumps({"ok": False}))
    assert tf.fetch() == install.resolve()


def test_the_aot_cache_is_used_only_with_the_jdk_that_recorded_it(hermetic: Path) -> None:
    install, home = hermetic / "server", tf.java_home()
    install.mkdir(parents=True)
    (hermetic / tf.AOT_FILE).write_bytes(b"aot")
    meta = {"ok": True, "java_home": str(home), "java_version": "25.0.3"}
    (hermetic / tf.AOT_META).write_text(json.dumps(meta))
    assert tf.aot_options(install, home) == [f"-XX:AOTCache={hermetic / tf.AOT_FILE}"]
    (hermetic / tf.AOT_META).write_text(json.dumps({**meta, "java_version": "25.0.4"}))
    assert tf.aot_options(install, home) == []


def _props(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_write_etc_keeps_the_metastore_out_of_the_warehouse(tmp_path: Path) -> None:
    warehouse, data = tmp_path / "warehouse", tmp_path / "data"
    warehouse.mkdir()
    etc = data / "etc"
    tc.write_etc(etc, install=tmp_path / "trino", warehouse=warehouse, data_dir=data, port=4242)

    lake = _props(etc / "catalog" / "lake.properties")
    assert lake["connector.name"] == "hive"
    assert lake["fs.native-local.enabled"] == "true"
    assert lake["hive.non-managed-table-writes-enabled"] == "false"
    fs_root = Path(lake["local.location"])
    assert (fs_root / "warehouse").resolve() == warehouse.resolve()
    assert lake["hive.metastore.catalog.dir"] == "local:///metastore"
    assert (fs_root / "metastore").is_dir()
    assert not (fs_root / "metastore").resolve().is_relative_to(warehouse.resolve())

    config = _props(etc / "config.properties")
    assert config["http-server.http.port"] == "4242"
    assert _props(etc / "node.properties")["node.bind-ip"] == "127.0.0.1"
    assert "-Xmx3G" in (etc / "jvm.config").read_text().split()
    control = _props(Path(config["access-control.config-files"]))
    assert control["access-control.name"] == "file"
    rules = json.loads(Path(control["security.config-file"]).read_text())
    reader = [r for r in rules["tables"] if r.get("user") == tc.READER_USER]
    assert reader == [{"user": tc.READER_USER, "catalog": "lake", "privileges": ["SELECT"]}]

    tc.write_etc(etc, install=tmp_path / "trino", warehouse=warehouse, data_dir=data, port=4243)
    assert _props(etc / "config.properties")["http-server.http.port"] == "4243"


def test_write_etc_runs_each_source_in_its_resource_group_and_regexes_on_re2j(
    tmp_path: Path,
) -> None:
    warehouse, data = tmp_path / "warehouse", tmp_path / "data"
    warehouse.mkdir()
    for port in (4242, 4243):  # rewriting keeps everything in place
        tc.write_etc(data / "etc", install=tmp_path / "trino", warehouse=warehouse,
                     data_dir=data, port=port)
    assert _props(data / "etc" / "config.properties")["deprecated.regex-library"] == "RE2J"
    # Trino reads this file relative to its working directory, which is the node data dir.
    props = _props(data / "node" / "etc" / "resource-groups.properties")
    assert props["resource-groups.configuration-manager"] == "file"
    spec = json.loads(Path(props["resource-groups.config-file"]).read_text())

    by_source = {s["source"]: s["group"] for s in spec["selectors"] if "source" in s}
    assert by_source == {
        "causality-dashboard": "causality.dashboard",
        "causality-embed": "causality.embed",
        "causality-chat": "causality.adhoc.chat",
        "causality-sql": "causality.adhoc.sql",
        "causality-notebook": "causality.adhoc.notebook",
    }
    assert spec["selectors"][-2:] == [{"user": tc.ADMIN_USER, "group": "admin"},
                                      {"group": "causality.internal"}]  # nobody is refused

    groups: dict[str, dict[str, Any]] = {}

    def walk(prefix: str, group: dict[str, Any]) -> None:
        path = f"{prefix}{group['name']}"
        groups[path] = group
        for sub in group.get("subGroups", []):
            walk(f"{path}.", sub)

    for root in spec["rootGroups"]:
        walk("", root)
    running = {path: g["hardConcurrencyLimit"] for path, g in groups.items()}
    # Ad-hoc sources and internal reads never take the slots dashboards and embeds need.
    assert running["causality"] - running["causality.adhoc"] - running["causality.internal"] >= 6
    assert max(running[f"causality.adhoc.{s}"] for s in tc.ADHOC_SOURCES) <= 2
    weight = {path: g.get("schedulingWeight", 1) for path, g in groups.items()}
    assert weight["causality.dashboard"] == weight["causality.embed"] > weight["causality.adhoc"]
    assert all(str(g["softMemoryLimit"]).endswith("%") for g in groups.values())


# --------------------------------------------------------------------------- a real Trino

BASE = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)


def _write_events(
    warehouse: Path, app_id: str, when: datetime, types: list[str], part: int
) -> None:
    """One Parquet file of ``len(types)`` events in the partition of ``when``; no partition cols."""
    folder = warehouse / "events" / f"app_id={app_id}" / f"dt={when:%Y-%m-%d}" / f"hour={when:%H}"
    folder.mkdir(parents=True, exist_ok=True)
    times = [when + timedelta(seconds=i, microseconds=123_457) for i in range(len(types))]
    table = pa.Table.from_pydict(
        {
            "event_id": [f"{app_id}-{when:%H}-{part}-{i}" for i in range(len(types))],
            "event_type": types,
            "category": ["track"] * len(types),
            "user_id": [f"u{i % 3}" for i in range(len(types))],
            "anonymous_id": [None] * len(types),
            "session_id": [None] * len(types),
            "event_time": times,
            "received_at": times,
            "properties": ['{"plan": "pro"}'] * len(types),
            "context": ["{}"] * len(types),
        },
        schema=FILE_SCHEMA,
    )
    pq.write_table(table, folder / f"part-{part}.parquet", compression="zstd")


@pytest.mark.trino
def test_counts_per_app_and_event_type_match_what_was_written(trino_server: TrinoHandle) -> None:
    written: Counter[tuple[str, str]] = Counter()
    plan = {
        ("cnt-a", 7): [["signup", "click", "click"], ["click"]],
        ("cnt-a", 8): [["purchase", "click"]],
        ("cnt-b", 7): [["signup"]],
        ("cnt-b", 8): [["click", "click", "page", "page", "page"]],
    }
    for (app, hour), files in plan.items():
        for part, types in enumerate(files):
            _write_events(trino_server.warehouse, app, BASE.replace(hour=hour), types, part)
            written.update((app, t) for t in types)
    trino_server.register()

    rows = trino_server.query(
        "SELECT app_id, event_type, count(*) FROM lake.analytics.events "
        "WHERE app_id IN ('cnt-a', 'cnt-b') GROUP BY 1, 2"
    )
    assert {(app, kind): n for app, kind, n in rows} == dict(written)

    hours = trino_server.query(
        "SELECT DISTINCT dt, hour FROM lake.analytics.events WHERE app_id = 'cnt-a' ORDER BY 2"
    )
    assert hours == [["2026-11-27", "07"], ["2026-11-27", "08"]]


@pytest.mark.trino
def test_microsecond_utc_timestamps_survive(trino_server: TrinoHandle) -> None:
    _write_events(trino_server.warehouse, "ts-app", BASE.replace(hour=23), ["click"], 0)
    trino_server.register()
    [[event_time, kind]] = trino_server.query(
        "SELECT event_time, typeof(event_time) FROM lake.analytics.events WHERE app_id = 'ts-app'"
    )
    assert kind == "timestamp(6)"
    assert event_time == datetime(2026, 11, 27, 23, 0, 0, 123_457)  # UTC wall time, naive


@pytest.mark.trino
def test_register_is_idempotent_and_picks_up_new_partitions(trino_server: TrinoHandle) -> None:
    count = "SELECT count(*) FROM lake.analytics.events WHERE app_id = 'grow'"
    _write_events(trino_server.warehouse, "grow", BASE, ["click"], 0)
    trino_server.register()
    trino_server.register()
    assert trino_server.query(count) == [[1]]
    _write_events(trino_server.warehouse, "grow", BASE.replace(hour=9), ["click", "click"], 0)
    assert trino_server.query(count) == [[1]]  # not registered yet
    trino_server.register()
    assert trino_server.query(count) == [[3]]


@pytest.mark.trino
def test_the_reader_reads_and_nothing_more(trino_server: TrinoHandle) -> None:
    import trino.exceptions

    trino_server.register()
    reader = tc.READER_USER
    assert trino_server.query("SELECT count(*) >= 0 FROM lake.analytics.events", reader) == [[True]]
    for sql in (
        "CREATE TABLE lake.analytics.stolen (a integer)",
        "DROP TABLE lake.analytics.events",
        "CALL lake.system.sync_partition_metadata('analytics', 'events', 'FULL')",
        "SELECT * FROM system.runtime.queries",
    ):
        with pytest.raises(trino.exceptions.TrinoUserError, match="Access Denied"):
            trino_server.query(sql, reader)
    with pytest.raises(trino.exceptions.TrinoUserError, match="Access Denied"):
        trino_server.query("SELECT 1", "somebody_else")
    with pytest.raises(trino.exceptions.TrinoUserError, match="non-managed"):
        trino_server.query("INSERT INTO lake.analytics.events SELECT * FROM lake.analytics.events")


@pytest.mark.trino
@pytest.mark.slow
def test_stop_leaves_no_jvm_behind(tmp_path: Path) -> None:
    with TrinoServer(tmp_path / "warehouse", tmp_path / "data") as server:
        assert server.pid in _processes_mentioning(tmp_path / "data")
    assert _processes_mentioning(tmp_path / "data") == []


@pytest.mark.trino
def test_a_start_timeout_raises_with_the_log_and_leaves_no_jvm(tmp_path: Path) -> None:
    server = TrinoServer(tmp_path / "warehouse", tmp_path / "data", start_timeout_s=1)
    with pytest.raises(TrinoServerError) as caught:
        server.start()
    assert caught.value.code == "trino_start_timeout"
    assert "last lines of" in caught.value.message
    assert _processes_mentioning(tmp_path / "data") == []


def _processes_mentioning(path: Path) -> list[int]:
    """Pids whose command line names ``path`` (the JVM gets ``-Dnode.data-dir=<data>/node``)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if proc.name.isdigit() and str(path).encode() in cmdline:
            found.append(int(proc.name))
    return found
