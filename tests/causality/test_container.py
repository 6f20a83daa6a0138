"""Sizing from the container: the cgroup memory limit read from fake cgroup trees (v2, v1,
nested, none), the fractions derived from it, explicit settings winning, and `config show`."""

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from causality.cli import main
from causality.container import (
    GIB,
    MIB,
    SINK_BUFFER_MAX_BYTES,
    SINK_BUFFER_MIN_BYTES,
    MemoryLimit,
    duckdb_bytes,
    memory_limit,
    sizing,
)
from causality.errors import ConfigError
from causality.settings import load_settings
from causality.supervisor import Supervisor
from pipeline.config import SinkSettings
from warehouse.config import QuerySettings

V1_UNLIMITED = "9223372036854771712"  # what the kernel writes for "no limit"


def tree(root: Path, files: dict[str, str], self_cgroup: str = "0::/\n") -> Path:
    """A fake cgroup mount under ``root`` and a fake /proc/self/cgroup; returns the latter."""
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text + "\n")
    proc = root.parent / "proc-self-cgroup"
    proc.write_text(self_cgroup)
    return proc


@pytest.mark.parametrize(("files", "expected"), [
    ({"memory.max": str(2 * GIB)}, 2 * GIB),
    ({"memory.max": "max"}, None),
    ({"memory/memory.limit_in_bytes": str(GIB)}, GIB),
    ({"memory/memory.limit_in_bytes": V1_UNLIMITED}, None),
    ({}, None),
    ({"memory.max": "garbage"}, None),
], ids=["v2", "v2-max", "v1", "v1-unlimited", "no-cgroup", "unreadable"])
def test_the_limit_of_a_fake_tree(tmp_path: Path, files: dict[str, str],
                                  expected: int | None) -> None:
    root = tmp_path / "cgroup"
    root.mkdir()
    limit = memory_limit(root, tree(root, files))
    assert (limit.bytes if limit else None) == expected
    if limit is not None:
        assert limit.file == root / next(iter(files))


def test_no_cgroup_mount_at_all(tmp_path: Path) -> None:
    assert memory_limit(tmp_path / "absent", tmp_path / "absent-proc") is None


def test_v2_nested_path_and_its_parents_tightest_wins(tmp_path: Path) -> None:
    """A mount showing the whole tree: this process's cgroup (from /proc/self/cgroup) and its
    parents each may limit it; the root's "max" and the own cgroup's "max" do not count."""
    root = tmp_path / "cgroup"
    proc = tree(root, {"memory.max": "max", "kubepods/memory.max": str(8 * GIB),
                       "kubepods/pod1/memory.max": str(3 * GIB),
                       "kubepods/pod1/c1/memory.max": "max"},
                self_cgroup="0::/kubepods/pod1/c1\n")
    limit = memory_limit(root, proc)
    assert limit == MemoryLimit(3 * GIB, root / "kubepods/pod1/memory.max")


def test_v1_nested_memory_controller_path(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    proc = tree(root, {"memory/memory.limit_in_bytes": V1_UNLIMITED,
                       "memory/docker/abc/memory.limit_in_bytes": str(512 * MIB)},
                self_cgroup="5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n")
    limit = memory_limit(root, proc)
    assert limit is not None and limit.bytes == 512 * MIB


def test_a_path_outside_the_mount_reads_only_its_root(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    proc = tree(root, {"memory.max": str(GIB)}, self_cgroup="0::/../../elsewhere\n")
    limit = memory_limit(root, proc)
    assert limit is not None and limit.bytes == GIB


def test_the_env_variable_points_at_the_tree(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    tree(tmp_path / "cgroup", {"memory.max": str(GIB)})
    monkeypatch.setenv("CAUSALITY_CGROUP_ROOT", str(tmp_path / "cgroup"))
    limit = memory_limit()
    assert limit is not None and limit.bytes == GIB


def _values(query: QuerySettings, sink: SinkSettings, limit: int | None) -> dict[str, object]:
    plan = sizing(query, sink, MemoryLimit(limit, Path("m")) if limit else None)
    return {item.setting: item.value for item in plan.settings}


def test_derivation_math() -> None:
    assert _values(QuerySettings(), SinkSettings(), 2 * GIB) == {
        "query.duckdb_memory_limit": "1024MiB", "query.duckdb_cache_mb": 512,
        "sink.max_buffer_bytes": 256 * MIB}
    assert _values(QuerySettings(), SinkSettings(), GIB) == {
        "query.duckdb_memory_limit": "512MiB", "query.duckdb_cache_mb": 256,
        "sink.max_buffer_bytes": 128 * MIB}
    # The sink's buffer stays within its bounds, and the source says so.
    small = sizing(QuerySettings(), SinkSettings(), MemoryLimit(64 * MIB, Path("m")))
    big = sizing(QuerySettings(), SinkSettings(), MemoryLimit(64 * GIB, Path("m")))
    assert small.settings[2].value == SINK_BUFFER_MIN_BYTES
    assert big.settings[2].value == SINK_BUFFER_MAX_BYTES and "within" in big.settings[2].source
    assert big.settings[0].source == "cgroup memory limit 64.0 GiB * 0.5"


def test_without_a_limit_the_defaults_hold() -> None:
    plan = sizing(QuerySettings(), SinkSettings(), None)
    assert _values(QuerySettings(), SinkSettings(), None) == {
        "query.duckdb_memory_limit": "4GB", "query.duckdb_cache_mb": 1024,
        "sink.max_buffer_bytes": 64 * MIB}
    assert not any(item.derived for item in plan.settings)
    assert {item.source for item in plan.settings} == {"default (no cgroup memory limit)"}


def test_explicit_settings_win() -> None:
    plan = sizing(QuerySettings(duckdb_memory_limit="3GB"), SinkSettings(max_buffer_bytes=MIB),
                  MemoryLimit(2 * GIB, Path("m")))
    got = {item.setting: (item.value, item.source) for item in plan.settings}
    assert got == {"query.duckdb_memory_limit": ("3GB", "set explicitly"),
                   "query.duckdb_cache_mb": (512, "cgroup memory limit 2.0 GiB * 0.25"),
                   "sink.max_buffer_bytes": (MIB, "set explicitly")}


def test_a_derived_cache_fits_in_an_explicit_duckdb_limit() -> None:
    plan = sizing(QuerySettings(duckdb_memory_limit="1GiB"), SinkSettings(),
                  MemoryLimit(8 * GIB, Path("m")))
    cache = plan.settings[1]
    assert cache.value == 512 and cache.derived
    assert cache.source == ("cgroup memory limit 8.0 GiB * 0.25, at most 0.5 of "
                            "query.duckdb_memory_limit 1GiB")
    roomy = sizing(QuerySettings(duckdb_memory_limit="3GB"), SinkSettings(),
                   MemoryLimit(6 * GIB, Path("m")))
    assert roomy.settings[1].value == 1430  # the chart's workspace: 6Gi, 3GB (10^9) for DuckDB
    assert duckdb_bytes("4GB") == 4 * 10**9 and duckdb_bytes("1.5 GiB") == 3 * GIB // 2


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CAUSALITY_* setting from outside the test."""
    for key in [k for k in os.environ if k.startswith("CAUSALITY_")]:
        monkeypatch.delenv(key)


@pytest.fixture
def two_gib(clean: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A container of 2 GiB (cgroup v2)."""
    root = tmp_path / "cgroup"
    tree(root, {"memory.max": str(2 * GIB)})
    monkeypatch.setenv("CAUSALITY_CGROUP_ROOT", str(root))
    monkeypatch.setenv("CAUSALITY_DATA_DIR", str(tmp_path / "data"))
    return root


def test_load_settings_sizes_from_the_container(two_gib: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert (s.query.duckdb_memory_limit, s.query.duckdb_cache_mb,
            s.sink.max_buffer_bytes) == ("1024MiB", 512, 256 * MIB)
    assert s.sizing is not None and s.sizing.limit == MemoryLimit(2 * GIB,
                                                                  two_gib / "memory.max")
    # Explicit values win, from the environment or the TOML file.
    monkeypatch.setenv("CAUSALITY_QUERY_DUCKDB_MEMORY_LIMIT", "1536MB")
    cfg = tmp_path / "c.toml"
    cfg.write_text("[sink]\nmax_buffer_bytes = 8388608\n[query]\nmax_rows = 50\n")
    s = load_settings(cfg)
    assert (s.query.duckdb_memory_limit, s.query.duckdb_cache_mb, s.query.max_rows,
            s.sink.max_buffer_bytes) == ("1536MB", 512, 50, 8 * MIB)


def test_the_derived_memory_limit_is_what_duckdb_runs_with(two_gib: Path) -> None:
    engine = load_settings().open_engine()
    try:
        result = engine.run("SELECT current_setting('memory_limit')", 1, 30)
        assert result.table.column(0)[0].as_py() == "1.0 GiB"
    finally:
        engine.close()


def test_config_show_says_where_sized_values_came_from(two_gib: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAUSALITY_SINK_MAX_BUFFER_BYTES", str(32 * MIB))
    text = CliRunner().invoke(main, ["config", "show"])
    assert text.exit_code == 0, text.output
    assert 'duckdb_memory_limit = "1024MiB"  # cgroup memory limit 2.0 GiB * 0.5' in text.output
    assert "duckdb_cache_mb = 512  # cgroup memory limit 2.0 GiB * 0.25" in text.output
    assert f"max_buffer_bytes = {32 * MIB}\n" in text.output
    assert "\n[sizing]\n" in text.output and 'memory_limit = "2.0 GiB"' in text.output
    assert 'sink.max_buffer_bytes = "set explicitly"' in text.output
    shown = CliRunner().invoke(main, ["config", "show", "--json"])
    data = json.loads(shown.output)
    assert data["query"]["duckdb_memory_limit"] == "1024MiB"
    assert data["sizing"] == {
        "memory_limit": "2.0 GiB", "memory_limit_bytes": 2 * GIB,
        "memory_limit_file": str(two_gib / "memory.max"),
        "query.duckdb_memory_limit": "cgroup memory limit 2.0 GiB * 0.5",
        "query.duckdb_cache_mb": "cgroup memory limit 2.0 GiB * 0.25",
        "sink.max_buffer_bytes": "set explicitly"}


def test_config_show_without_a_limit(clean: None, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAUSALITY_CGROUP_ROOT", str(tmp_path / "none"))
    shown = CliRunner().invoke(main, ["config", "show"])
    assert 'duckdb_memory_limit = "4GB"\n' in shown.output
    data = json.loads(CliRunner().invoke(main, ["config", "show", "--json"]).output)
    assert data["query"]["duckdb_memory_limit"] == "4GB"
    assert data["sizing"]["memory_limit"] is None
    assert data["sizing"]["query.duckdb_cache_mb"] == "default (no cgroup memory limit)"


def test_defaults_with_margin(clean: None) -> None:
    s = load_settings()
    assert s.ingest.drain_delay_s == 5.0 < s.ingest.shutdown_timeout_s
    assert s.sink.shutdown_timeout_s == 20.0 < 30  # Kubernetes' default grace period


def test_drain_delay_must_leave_time_for_requests_in_flight(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAUSALITY_INGEST_DRAIN_DELAY_S", "20")
    monkeypatch.setenv("CAUSALITY_INGEST_SHUTDOWN_TIMEOUT_S", "20")
    with pytest.raises(ConfigError,
                       match=r"drain_delay_s \(20\) must be less than shutdown_timeout_s"):
        load_settings()


def test_causality_up_stops_ingest_at_once_unless_told(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.delenv("CAUSALITY_INGEST_DRAIN_DELAY_S", raising=False)
    env = Supervisor(load_settings(data_dir=tmp_path)).env()
    assert env["CAUSALITY_INGEST_DRAIN_DELAY_S"] == "0"
    monkeypatch.setenv("CAUSALITY_INGEST_DRAIN_DELAY_S", "3")
    env = Supervisor(load_settings(data_dir=tmp_path)).env()
    assert env["CAUSALITY_INGEST_DRAIN_DELAY_S"] == "3"
