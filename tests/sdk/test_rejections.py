"""Refused events are removed with a reason and never block the rest of the queue."""

from __future__ import annotations

from causality_sdk import Client


def test_invalid_results_are_removed_and_reported(make_client, stub, reports):
    stub.is_invalid = lambda event: "bad plan" if event["properties"].get("bad") else None
    client = make_client()
    good = [client.track("u1", "Ok", {"i": i}) for i in range(5)]
    bad = client.track("u1", "Bad", {"bad": True})
    assert client.flush(10)
    rejected = reports.of("rejected")
    assert [r.message_id for r in rejected] == [bad]
    assert rejected[0].reason == "bad plan" and rejected[0].event_type == "track"
    stats = client.stats()
    assert (stats.delivered, stats.rejected, stats.queued) == (5, 1, 0)
    assert set(good) <= set(stub.message_ids())


def test_poison_event_is_isolated_by_bisection(make_client, stub, reports):
    stub.is_poison = lambda event: bool(event["properties"].get("poison"))
    client = make_client(flush_interval_s=5.0)
    before = [client.track("u1", "Ok", {"i": i}) for i in range(40)]
    poison = client.track("u1", "Poison", {"poison": True})
    after = [client.track("u1", "Ok", {"i": i}) for i in range(40, 80)]
    assert client.flush(10)
    assert sorted(stub.message_ids()) == sorted(before + after)
    rejected = reports.of("rejected")
    assert [(r.message_id, r.status) for r in rejected] == [(poison, 400)]
    assert rejected[0].hint == "stub hint for 400"
    assert stub.statuses().count(400) <= 2 * 7 + 1  # ~log2(81) halvings
    assert client.stats().queued == 0


def test_413_splits_batches(make_client, stub):
    stub.max_events = 10
    client = make_client(flush_interval_s=5.0)
    ids = [client.track("u1", "Ok", {"i": i}) for i in range(100)]
    assert client.flush(10)
    assert sorted(stub.message_ids()) == sorted(ids)
    assert 413 in stub.statuses()


def test_oversized_event_is_refused_before_queueing(make_client, reports):
    client = make_client(send=False)
    assert client.track("u1", "Huge", {"blob": "x" * 40_000}) is None
    [report] = reports.of("too_large")
    assert "32768" in report.message
    assert client.stats().queued == 0 and client.stats().dropped == 1


def test_bad_arguments_are_reported_not_raised(make_client, reports):
    client = make_client(send=False)
    assert client.track("u1", None) is None  # no event name
    assert client.track(None, "NoUser") is None
    assert client.track("u1", "E", properties=["not", "a", "dict"]) is None  # type: ignore[arg-type]
    assert client.track("u1", "E", {"nan": float("nan")}) is None
    assert client.track("u1", "E", {"obj": object()}) is None
    assert client.track("u1", "E", timestamp="yesterday") is None
    assert client.group("u1", None) is None
    assert client.alias(None, "u1") is None
    assert client.alias("a1", None) is None
    assert client.track(True, "E") is None  # type: ignore[arg-type]
    assert reports.codes() == ["invalid_argument"] * 10
    assert client.stats().dropped == 10


def test_a_raising_callback_is_contained(tmp_path, caplog):
    def explode(report):
        raise RuntimeError("callback bug")

    client = Client(
        "k", "http://127.0.0.1:9", queue_dir=str(tmp_path), send=False, on_error=explode
    )
    try:
        assert client.track(None, "E") is None
        assert "on_error callback raised" in caplog.text
    finally:
        client.shutdown(0.1)


def test_calls_after_shutdown_are_dropped_and_reported(make_client, reports):
    client = make_client(send=False)
    client.shutdown(0.1)
    assert client.track("u1", "Late") is None
    assert reports.codes() == ["closed"]


def test_flush_after_shutdown_is_quiet(make_client, reports):
    client = make_client(send=False)
    client.track("u1", "Queued")
    client.shutdown(0.1)
    assert client.flush(0.1) is False
    assert reports.codes() == []
