"""A failed compaction pass is counted, makes the compactor unready, and is retried."""

import threading
import urllib.error
import urllib.request
from pathlib import Path

import orjson

from pipeline.compactor import CompactionPolicy, RunResult, SingleInstance, run_forever
from pipeline.compactor_http import CompactorMetrics, serve
from warehouse.storage import Storage

WAIT_S = 30.0


def readyz(port: int) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as resp:
            return resp.status, orjson.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, orjson.loads(err.read())


def sample(metrics: CompactorMetrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    assert value is not None, name
    return value


def test_a_failed_pass_is_counted_and_retried_not_fatal(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    metrics, ready = CompactorMetrics(interval_s=120), threading.Event()
    server = serve(metrics, "127.0.0.1", 0, ready)
    stop, failed, passed = threading.Event(), threading.Event(), threading.Event()
    codes: list[str] = []

    def on_failure(code: str) -> None:
        metrics.failed(code)
        codes.append(code)
        failed.set()

    def on_result(result: RunResult) -> None:
        metrics.observe(result)
        ready.set()
        passed.set()

    worker = threading.Thread(target=run_forever, kwargs={
        "storage": storage, "policy": CompactionPolicy(), "interval_s": 120, "stop": stop,
        "on_result": on_result, "on_failure": on_failure, "retry_s": 0.01})
    try:
        with SingleInstance(storage):  # another compactor holds the warehouse: passes fail
            worker.start()
            assert failed.wait(WAIT_S)
            status, body = readyz(server.server_address[1])
            assert status == 503
            assert (body["code"], body["failure"]) == ("compaction_failing", "compactor_busy")
            assert sample(metrics, "causality_compactor_failures_total") >= 1
            assert sample(metrics, "causality_compactor_last_run_timestamp_seconds") == 0
        assert passed.wait(WAIT_S)  # still running: the retry after the lock is free succeeds
        assert worker.is_alive()
        assert set(codes) == {"compactor_busy"}
        assert sample(metrics, "causality_compactor_runs_total") == 1
        assert sample(metrics, "causality_compactor_interval_seconds") == 120
        assert sample(metrics, "causality_compactor_start_timestamp_seconds") > 0
        assert readyz(server.server_address[1])[0] == 200
    finally:
        stop.set()
        worker.join(WAIT_S)
        server.shutdown()
    assert not worker.is_alive()
