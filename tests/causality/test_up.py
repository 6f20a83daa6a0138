"""`causality up`: events go through HTTP → JetStream → sink → Parquet → compactor, exactly once.

Then the very same files are read by DuckDB and by Trino: exactly N rows, N distinct ids.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.ports import free_port
from tests.fixtures.trino import TrinoHandle
from warehouse.engines.duckdb_engine import DuckDBEngine
from warehouse.storage import Storage

N = 3000


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("up")
    env = {**os.environ, "CAUSALITY_DATA_DIR": str(data),
           "CAUSALITY_NATS_PORT": str(free_port()), "CAUSALITY_INGEST_PORT": str(free_port()),
           "CAUSALITY_SINK_HTTP_PORT": str(free_port()),
           "CAUSALITY_REACTOR_HTTP_PORT": str(free_port()),
           "CAUSALITY_COMPACTOR_HTTP_PORT": str(free_port()),
           "CAUSALITY_WORKSPACE_PORT": str(free_port())}
    proc = subprocess.run([sys.executable, "-m", "causality", "up", "--demo-events", str(N),
                           "--exit-after-demo"], env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{N:,} rows landed" in proc.stdout
    assert "reactor  http://" in proc.stdout
    assert "workspace http://" in proc.stdout and "sign in as admin" in proc.stdout
    assert "Traceback" not in proc.stderr
    return data / "warehouse"


def test_exactly_n_events_after_compaction_on_duckdb(landed: Path) -> None:
    engine = DuckDBEngine(landed)
    res = engine.run("SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM events", 1, 60)
    assert res.table.to_pylist() == [{"n": N, "ids": N}]
    storage = Storage(str(landed))
    assert all(f.name.startswith("c-") for p in storage.partitions() for f in storage.files(p))


@pytest.mark.trino
def test_exactly_n_events_on_trino(landed: Path, trino_server: TrinoHandle) -> None:
    for app_dir in (landed / "events").glob("app_id=*"):
        target = trino_server.warehouse / "events" / app_dir.name.replace("app_id=", "app_id=e2e-")
        shutil.copytree(app_dir, target)
    trino_server.register()
    rows = trino_server.query("SELECT count(*), count(DISTINCT event_id) FROM events "
                              "WHERE app_id LIKE 'e2e-%'", user="causality_reader")
    assert rows == [[N, N]]
