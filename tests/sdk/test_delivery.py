"""Events reach /v1/batch in the contract's shape, in bounded batches, exactly once."""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_every_call_type_is_delivered_in_segment_shape(make_client, stub):
    client = make_client()
    when = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)
    ids = [
        client.track("u1", "Order Completed", {"total": 9.5}, timestamp=when, category="sales"),
        client.identify("u1", {"plan": "pro"}),
        client.page("u1", "Docs", "Quick start", {"path": "/docs"}),
        client.screen(None, None, "Home", anonymous_id="a1"),
        client.group("u1", "g1", {"seats": 3}),
        client.alias("a1", "u1"),
    ]
    assert all(ids)
    assert client.flush(10)
    events = {event["messageId"]: event for event in stub.events()}
    assert list(events) == ids  # one batch, in call order
    track, identify, page, screen, group, alias = (events[i] for i in ids)
    assert track == {
        "type": "track",
        "event": "Order Completed",
        "properties": {"total": 9.5},
        "userId": "u1",
        "context": {"library": {"name": "causality-sdk", "version": "0.1.0"}},
        "timestamp": "2026-11-27T08:00:00.000000Z",
        "messageId": ids[0],
        "category": "sales",
    }
    assert identify["traits"] == {"plan": "pro"}
    assert (page["category"], page["name"], page["properties"]) == (
        "Docs",
        "Quick start",
        {"path": "/docs"},
    )
    assert screen["anonymousId"] == "a1" and "userId" not in screen
    assert (group["groupId"], group["traits"]) == ("g1", {"seats": 3})
    assert (alias["previousId"], alias["userId"]) == ("a1", "u1")
    for event in events.values():
        assert UUID7.match(event["messageId"])
        assert event["timestamp"].endswith("Z")
    stats = client.stats()
    assert (stats.delivered, stats.queued, stats.queued_bytes) == (6, 0, 0)


def test_request_is_gzip_basic_auth_with_sent_at(make_client, stub):
    client = make_client()
    client.track("u1", "Clicked")
    assert client.flush(10)
    headers = stub.headers[0]
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"test-key:").decode()
    assert headers["User-Agent"].startswith("causality-sdk-python/")
    body = stub.raw_bodies[0]
    assert body.startswith(b'{"batch":[') and b'"sentAt":"' in body


def test_gzip_can_be_turned_off(make_client, stub):
    client = make_client(gzip=False)
    client.track("u1", "Clicked")
    assert client.flush(10)
    assert "Content-Encoding" not in stub.headers[0]
    assert len(stub.events()) == 1


def test_batches_respect_event_and_byte_limits(make_client, stub):
    client = make_client(send=True, flush_interval_s=5.0)
    blob = "x" * 5000
    ids = [client.track("u1", "Big", {"blob": blob, "i": i}) for i in range(250)]
    small = [client.track("u1", "Small", {"i": i}) for i in range(250)]
    assert client.flush(20)
    assert sorted(stub.message_ids()) == sorted(ids + small)
    for body in stub.raw_bodies:
        assert len(body) <= 500_000
    assert max(n for _, n in stub.requests) <= 100


def test_message_ids_are_unique_and_time_ordered():
    from causality_sdk._uuid7 import uuid7

    ids = [uuid7() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert uuid.UUID(ids[0]).version == 7


def test_rich_values_are_encoded(make_client, stub):
    import decimal

    client = make_client()
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    client.track(
        "u1",
        "Rich",
        {
            "d": decimal.Decimal("1.5"),
            "u": uuid.UUID(int=1),
            "when": when,
            "day": dt.date(2026, 1, 2),
            "tags": {"a"},
            "text": "héllo ✓",
        },
    )
    assert client.flush(10)
    props = stub.events()[0]["properties"]
    assert props == {
        "d": 1.5,
        "u": "00000000-0000-0000-0000-000000000001",
        "when": "2026-01-02T03:04:05.000000Z",
        "day": "2026-01-02",
        "tags": ["a"],
        "text": "héllo ✓",
    }


def test_events_wait_for_the_interval_when_below_batch_size(make_client, stub):
    client = make_client(flush_interval_s=0.05)
    client.track("u1", "Lonely")
    # No flush(): the interval alone must deliver it.
    assert stub_wait(stub, 1)


def stub_wait(stub, count: int, timeout: float = 10.0) -> bool:
    import threading

    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            if len(stub.events()) >= count:
                done.set()
                return
            done.wait(0.01)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    thread.join(timeout)
    return done.is_set()
