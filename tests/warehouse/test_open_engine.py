"""One door to the engines: `open_engine` by kind, and what every engine offers callers
(`dialect`, `fork`, `status`, `wait_cache`) so that nobody outside warehouse/ needs its class."""

from datetime import date
from pathlib import Path

import pyarrow.compute as pc
import pytest

from causality.errors import CausalityError
from warehouse.demo import generate, write
from warehouse.engines import ENGINE_KINDS, Engine, EngineError, open_engine


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wh")
    write(generate(5_000, seed=5, end=date(2026, 11, 1)).filter(pc.field("dt") >= "2026-10-31"),
          root)
    return root


def test_the_kinds_are_listed() -> None:
    assert ENGINE_KINDS == ("duckdb", "trino")


def test_duckdb_by_kind_forks_and_reports_itself(wh: Path) -> None:
    engine = open_engine("duckdb", warehouse=wh, memory_limit="512MB")
    try:
        assert isinstance(engine, Engine)
        assert (engine.name, engine.dialect) == ("duckdb", "duckdb")
        status = engine.status()
        assert (status.name, status.dialect, status.reads) == ("duckdb", "duckdb", str(wh))
        assert status.day_cache is None  # cache_mb = 0
        assert engine.wait_cache(1)
        twin = engine.fork()
        assert twin is not engine and twin.dialect == "duckdb"
        sql = "SELECT count(*) AS n FROM events"
        assert twin.run(sql, 1, 30).table == engine.run(sql, 1, 30).table
        twin.close()  # a fork borrows the connection: closing it leaves the engine working
        assert engine.run(sql, 1, 30).table.num_rows == 1
    finally:
        engine.close()


def test_duckdb_status_holds_the_day_cache(wh: Path) -> None:
    engine = open_engine("duckdb", warehouse=wh, memory_limit="512MB", cache_mb=16)
    try:
        assert engine.wait_cache(60)
        cache = engine.status().day_cache
        assert cache is not None and cache.budget_bytes == 16 << 20
    finally:
        engine.close()


def test_trino_by_kind_without_a_server() -> None:
    """Building a Trino engine connects to nothing; a fork is a client of the same server."""
    engine = open_engine("trino", host="127.0.0.1", port=1, query_max_memory="256MB")
    assert isinstance(engine, Engine)
    assert (engine.name, engine.dialect) == ("trino", "trino")
    status = engine.status()
    assert (status.reads, status.day_cache) == ("http://127.0.0.1:1, lake.analytics", None)
    assert engine.wait_cache(0)
    twin = engine.fork()
    assert twin is not engine and twin.status() == status


def test_an_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(EngineError) as caught:
        open_engine("postgres", host="db")
    err = caught.value
    assert isinstance(err, CausalityError)
    assert err.code == "unknown_engine"
    assert "postgres" in err.message
    assert "duckdb" in err.hint and "trino" in err.hint


def test_an_option_the_engine_does_not_take_is_a_config_error(wh: Path) -> None:
    with pytest.raises(EngineError) as caught:
        open_engine("duckdb", warehouse=wh, memory="1GB")
    assert caught.value.code == "engine_config"
    with pytest.raises(EngineError) as caught:
        open_engine("trino", port=8080)  # no host
    assert caught.value.code == "engine_config"
