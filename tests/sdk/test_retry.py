"""Transient failures are retried with backoff; nothing is lost or counted twice."""

from __future__ import annotations

import time

from causality_sdk import Client

from .ingest_stub import IngestStub


def test_503_then_200_delivers_each_event_once(make_client, stub, reports):
    stub.fail_next(3, 503)
    client = make_client()
    ids = [client.track("u1", "Clicked", {"i": i}) for i in range(50)]
    assert client.flush(10)
    assert sorted(stub.message_ids()) == sorted(ids)
    assert stub.statuses() == [503, 503, 503, 200]
    retries = reports.of("delivery_retry")
    assert len(retries) == 3 and retries[0].status == 503 and retries[0].count == 50
    assert client.stats().failed_attempts == 3


def test_429_retry_after_is_honoured(make_client, stub):
    stub.fail_next(1, 429, retry_after="1")
    client = make_client()
    client.track("u1", "Clicked")
    started = time.monotonic()
    assert client.flush(10)
    assert time.monotonic() - started >= 0.95  # our own backoff alone would be ~10 ms
    assert stub.statuses() == [429, 200]


def test_408_and_500_are_retried(make_client, stub):
    stub.fail_next(1, 408)
    stub.fail_next(1, 500)
    client = make_client()
    client.track("u1", "Clicked")
    assert client.flush(10)
    assert stub.statuses() == [408, 500, 200]


def test_server_down_then_up(tmp_path, reports):
    probe = IngestStub()
    port = probe.port
    probe.close()  # nothing listens on the port now: connection refused
    client = Client(
        "test-key",
        f"http://127.0.0.1:{port}",
        queue_dir=str(tmp_path),
        on_error=reports,
        flush_interval_s=0.05,
        retry_base_s=0.01,
        retry_max_s=0.05,
    )
    try:
        ids = [client.track("u1", "Offline", {"i": i}) for i in range(30)]
        assert reports.wait_for("delivery_retry")
        assert reports.of("delivery_retry")[0].status is None  # a network error
        server = IngestStub(port=port)
        try:
            assert client.flush(10)
            assert sorted(server.message_ids()) == sorted(ids)
            assert len(server.message_ids()) == 30
        finally:
            server.close()
    finally:
        client.shutdown(0.5)


def test_unauthorized_stops_sending_keeps_queue_reports_once(make_client, stub, reports, tmp_path):
    client = make_client(write_key="wrong-key")
    ids = [client.track("u1", "Clicked", {"i": i}) for i in range(5)]
    assert reports.wait_for("unauthorized")
    client.track("u1", "Later")
    assert not client.flush(0.5)
    assert stub.statuses() == [401]  # one attempt, then silence
    assert len(reports.of("unauthorized")) == 1
    assert client.stats().queued == 6
    client.shutdown(0.5)
    # The queue is per write key, so a fixed key starts an empty queue; the old key's
    # events are still on disk for whoever restarts with it once the server accepts it.
    stub.write_key = "wrong-key"
    again = make_client(write_key="wrong-key")
    assert again.flush(10)
    assert set(ids) <= set(stub.message_ids())
    assert len(stub.message_ids()) == 6


def test_unknown_4xx_is_retried_not_dropped(make_client, stub, reports):
    stub.fail_next(2, 404)
    client = make_client()
    mid = client.track("u1", "Clicked")
    assert client.flush(10)
    assert stub.message_ids() == [mid]
    assert reports.of("delivery_retry")[0].status == 404


def test_backoff_grows_and_is_capped():
    from causality_sdk._options import Options
    from causality_sdk._transport import Response
    from causality_sdk._worker import Worker

    worker = Worker.__new__(Worker)
    worker._options = Options(retry_base_s=1.0, retry_max_s=8.0)
    worker._failures = 0
    worker._report = lambda report: None
    worker._counters = type("C", (), {"add": lambda self, **kw: None})()
    delays = []
    for _ in range(8):
        before = time.monotonic()
        worker._back_off(Response(503))
        delays.append(worker._backoff_until - before)
    for attempt, delay in enumerate(delays):
        ceiling = min(8.0, 2.0**attempt)
        assert ceiling * 0.5 <= delay <= ceiling + 0.5  # slack: a loaded machine may pause us
    worker._back_off(Response(429, retry_after_s=42.0))
    assert 41.0 <= worker._backoff_until - time.monotonic() <= 42.0  # no jitter on it


def test_flush_gives_up_at_once_when_no_attempt_is_due_before_its_deadline(
    make_client, stub, reports
):
    stub.fail_next(1, 503, retry_after="30")
    client = make_client()
    client.track("u1", "Clicked")
    assert reports.wait_for("delivery_retry")
    started = time.monotonic()
    assert not client.flush(5)
    assert time.monotonic() - started < 1.0
    assert client.stats().queued == 1  # still queued, for later
