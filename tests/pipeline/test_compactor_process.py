"""`causality compact` as a process: compacts, serves /livez, /readyz and /metrics, drains."""

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path

import pyarrow.compute as pc

from tests.fixtures.ports import free_port
from warehouse.demo import generate, write


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_compactor_process_metrics_and_drain(tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    table = generate(20_000, seed=9, end=date(2026, 11, 1)).filter(pc.field("dt") == "2026-10-30")
    write(table, wh, files_per_partition=3)
    port = free_port()
    env = {**os.environ, "CAUSALITY_DATA_DIR": str(tmp_path),
           "CAUSALITY_STORAGE_WAREHOUSE": str(wh),
           "CAUSALITY_COMPACTOR_HTTP_PORT": str(port), "CAUSALITY_COMPACTOR_GRACE_S": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "causality", "compact"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        status = 0
        while status != 200 and time.monotonic() < deadline and proc.poll() is None:
            try:
                status = get(f"{base}/readyz")[0]
            except OSError:
                status = 0
            time.sleep(0.1)  # polling readiness with a deadline
        assert status == 200
        assert get(f"{base}/readyz") == get(f"{base}/livez") == (200, '{"status":"ok"}')
        metrics = get(f"{base}/metrics")[1]
        assert "causality_compactor_runs_total 1.0" in metrics
        removed = [line for line in metrics.splitlines()
                   if line.startswith("causality_compactor_files_removed_total ")]
        assert float(removed[0].split()[1]) > 0
        code, body = get(f"{base}/nope")
        assert code == 404
        assert '"code":"not_found"' in body
        proc.terminate()
        assert proc.wait(30) == 0
    finally:
        proc.kill()
