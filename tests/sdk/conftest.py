from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

SDK_ROOT = Path(__file__).resolve().parents[2] / "sdk" / "python"
if str(SDK_ROOT) not in sys.path:
    sys.path.insert(0, str(SDK_ROOT))

from causality_sdk import Client, Report  # noqa: E402

from .ingest_stub import IngestStub  # noqa: E402

FAST = {
    "flush_interval_s": 0.05,
    "retry_base_s": 0.01,
    "retry_max_s": 0.05,
    "request_timeout_s": 5.0,
    "shutdown_timeout_s": 1.0,
}


class Reports:
    """Collects on_error reports; tests wait on `seen(code)` instead of sleeping."""

    def __init__(self) -> None:
        self.items: list[Report] = []
        self._cond = threading.Condition()

    def __call__(self, report: Report) -> None:
        with self._cond:
            self.items.append(report)
            self._cond.notify_all()

    def codes(self) -> list[str]:
        with self._cond:
            return [r.code for r in self.items]

    def of(self, code: str) -> list[Report]:
        with self._cond:
            return [r for r in self.items if r.code == code]

    def wait_for(self, code: str, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: any(r.code == code for r in self.items), timeout)


@pytest.fixture
def stub() -> Iterator[IngestStub]:
    server = IngestStub()
    yield server
    server.close()


@pytest.fixture
def reports() -> Reports:
    return Reports()


@pytest.fixture
def make_client(tmp_path: Path, stub: IngestStub, reports: Reports) -> Iterator:
    clients: list[Client] = []

    def make(**overrides: object) -> Client:
        opts = {**FAST, "queue_dir": str(tmp_path / "queue"), "on_error": reports, **overrides}
        key = opts.pop("write_key", stub.write_key)
        host = opts.pop("host", stub.url)
        client = Client(key, host, **opts)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.shutdown(timeout=0.5)
