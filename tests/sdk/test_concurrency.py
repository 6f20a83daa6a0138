"""Many threads, and fork()ed children, share one client and one queue safely."""

from __future__ import annotations

import os
import threading

import pytest


def test_eight_threads_deliver_exactly_once(make_client, stub):
    client = make_client()
    ids: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def produce(slot: int) -> None:
        start.wait()
        for i in range(1000):
            ids[slot].append(client.track(f"u{slot}", "Threaded", {"i": i}))

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert client.flush(30)
    sent = [mid for batch in ids for mid in batch]
    received = stub.message_ids()
    assert None not in sent and len(set(sent)) == 8000
    assert len(received) == 8000 and set(received) == set(sent)
    assert client.stats().delivered == 8000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_fork_child_tracks_and_parent_keeps_working(make_client, stub):
    client = make_client()
    parent_before = [client.track("parent", "Before", {"i": i}) for i in range(50)]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only async-signal-safe habits, exit with os._exit
        code = 1
        try:
            os.close(read_end)
            ids = [client.track("child", "InChild", {"i": i}) for i in range(200)]
            ok = client.flush(20) and all(ids)
            os.write(write_end, "\n".join(ids).encode())
            code = 0 if ok else 2
        finally:
            os._exit(code)
    os.close(write_end)
    parent_after = [client.track("parent", "After", {"i": i}) for i in range(50)]
    child_ids = _read_all(read_end).split("\n")
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert client.flush(20)
    received = stub.message_ids()
    expected = set(parent_before + parent_after + child_ids)
    assert len(expected) == 300
    assert set(received) == expected
    assert len(received) == len(set(received))  # leases: nobody sent a batch twice


def _read_all(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode()
