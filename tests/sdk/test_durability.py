"""A process killed with SIGKILL loses nothing it accepted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from causality_sdk import Client

from .conftest import SDK_ROOT

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX only")

CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, {sdk!r})
    from causality_sdk import Client
    client = Client("test-key", {host!r}, queue_dir={queue!r}, send={send!r},
                    flush_interval_s=0.01, retry_base_s=0.01, retry_max_s=0.02)
    for i in range({n}):
        client.track("u1", "Killed", {{"i": i}})
    print("done", flush=True)
    sys.stdin.read()  # wait for SIGKILL
""")


def _spawn(queue: str, host: str, n: int, send: bool) -> subprocess.Popen:
    code = CHILD.format(sdk=str(SDK_ROOT), host=host, queue=queue, n=n, send=send)
    return subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL
    proc.stdin.close()
    proc.stdout.close()


def test_sigkill_after_return_loses_nothing(tmp_path, stub):
    queue = str(tmp_path / "queue")
    proc = _spawn(queue, stub.url, 2000, send=False)
    assert proc.stdout.readline().strip() == "done"
    _kill(proc)
    client = Client("test-key", stub.url, queue_dir=queue, flush_interval_s=0.05)
    try:
        assert client.flush(20)
    finally:
        client.shutdown(0.5)
    got = sorted(event["properties"]["i"] for event in stub.events())
    assert got == list(range(2000))


def test_sigkill_mid_request_batch_is_resent_at_once(tmp_path, stub):
    """The killed sender held a lease; the next opener is alone, so it clears it."""
    queue = str(tmp_path / "queue")
    stub.hang.set()
    proc = _spawn(queue, stub.url, 300, send=True)
    assert proc.stdout.readline().strip() == "done"
    assert stub.hung.wait(10)  # a batch is in flight, leased by the child
    _kill(proc)
    stub.hang.clear()
    stub.release.set()
    client = Client("test-key", stub.url, queue_dir=queue, flush_interval_s=0.05)
    try:
        assert client.flush(20)  # well under the 60 s lease
    finally:
        client.shutdown(0.5)
    got = {event["properties"]["i"] for event in stub.events()}
    assert got == set(range(300))


EXITING = textwrap.dedent("""
    import sys
    sys.path.insert(0, {sdk!r})
    from causality_sdk import Client
    client = Client("test-key", {host!r}, queue_dir={queue!r}, flush_interval_s=30,
                    shutdown_timeout_s={deadline!r})
    for i in range({n}):
        client.track("u1", "AtExit", {{"i": i}})
    # no flush(), no shutdown(): the atexit hook must deliver
""")


def _exit_normally(queue: str, host: str, n: int, deadline: float) -> float:
    import time

    code = EXITING.format(sdk=str(SDK_ROOT), host=host, queue=queue, n=n, deadline=deadline)
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
    return time.monotonic() - started


def test_atexit_flushes(tmp_path, stub):
    _exit_normally(str(tmp_path / "queue"), stub.url, 50, deadline=10.0)
    assert sorted(event["properties"]["i"] for event in stub.events()) == list(range(50))


def test_atexit_flush_respects_its_deadline(tmp_path, stub):
    stub.hang.set()  # the server never answers
    elapsed = _exit_normally(str(tmp_path / "queue"), stub.url, 5, deadline=0.5)
    assert elapsed < 5.0  # interpreter start + 0.5 s deadline, not the 10 s request timeout
    stub.hang.clear()
    stub.release.set()
    client = Client("test-key", stub.url, queue_dir=str(tmp_path / "queue"))
    try:
        assert client.flush(20)  # nothing was lost
    finally:
        client.shutdown(0.5)
    assert {event["properties"]["i"] for event in stub.events()} == set(range(5))
