import pytest

from warehouse.errors import InvalidEvent
from warehouse.segment import parse_time, segment_to_row

RECEIVED = parse_time("2026-11-27T10:00:00Z", "t")
assert RECEIVED is not None


def row(event: dict[str, object], sent_at: str | None = None) -> dict[str, object]:
    return segment_to_row(event, "shop", RECEIVED, parse_time(sent_at, "sentAt"))


def test_track_maps_every_column() -> None:
    r = row({"type": "track", "event": "Order Completed", "userId": "u1", "anonymousId": "a1",
             "messageId": "m-1", "properties": {"revenue": 9.5}, "context": {"sessionId": "s1"},
             "timestamp": "2026-11-27T09:59:00Z", "category": "commerce"})
    assert r["event_id"] == "m-1"
    assert (r["event_type"], r["category"]) == ("Order Completed", "commerce")
    assert r["session_id"] == "s1"
    assert r["properties"] == '{"revenue":9.5}'
    assert r["event_time"] == RECEIVED - 60_000_000
    assert r["app_id"] == "shop"


@pytest.mark.parametrize(("kind", "extra", "props"), [
    ("page", {"name": "Home", "properties": {"path": "/"}}, '{"path":"/","name":"Home"}'),
    ("screen", {"name": "Feed"}, '{"name":"Feed"}'),
    ("identify", {"traits": {"plan": "pro"}}, '{"plan":"pro"}'),
    ("group", {"groupId": "g1", "traits": {"size": 3}}, '{"size":3,"groupId":"g1"}'),
    ("alias", {"previousId": "old"}, '{"previousId":"old"}'),
])
def test_other_calls_use_their_type(kind: str, extra: dict[str, object], props: str) -> None:
    r = row({"type": kind, "userId": "u1", **extra})
    assert (r["event_type"], r["category"], r["properties"]) == (kind, kind, props)


def test_clock_skew_is_corrected_and_capped() -> None:
    # The client clock is 1 h behind: its sentAt says 09:00 when we receive at 10:00.
    r = row({"type": "track", "event": "x", "userId": "u", "timestamp": "2026-11-27T08:30:00Z"},
            sent_at="2026-11-27T09:00:00Z")
    assert r["event_time"] == RECEIVED - 30 * 60_000_000
    future = row({"type": "track", "event": "x", "userId": "u",
                  "timestamp": "2027-01-01T00:00:00Z"})
    assert future["event_time"] == RECEIVED
    assert row({"type": "track", "event": "x", "userId": "u"})["event_time"] == RECEIVED


def test_missing_message_id_gives_stable_content_id() -> None:
    e = {"type": "track", "event": "x", "userId": "u", "timestamp": "2026-11-27T08:30:00Z"}
    first = segment_to_row(dict(e, sentAt="a"), "shop", RECEIVED)
    retry = segment_to_row(dict(e, sentAt="b"), "shop", RECEIVED + 5_000_000)
    other_app = segment_to_row(e, "news", RECEIVED)
    assert first["event_id"] == retry["event_id"] != other_app["event_id"]


@pytest.mark.parametrize(("event", "code"), [
    ([], "not_an_object"),
    ({"type": "launch", "userId": "u"}, "bad_type"),
    ({"type": "track", "event": "x"}, "missing_identity"),
    ({"type": "track", "userId": "u"}, "missing_event"),
    ({"type": "track", "event": "x", "userId": {"a": 1}}, "bad_field"),
    ({"type": "track", "event": "x", "userId": "u", "properties": [1]}, "bad_field"),
    ({"type": "track", "event": "x", "userId": "u", "timestamp": "yesterday"}, "bad_timestamp"),
    ({"type": "track", "event": "x", "userId": "u", "timestamp": "1970-01-01T00:00:00Z"},
     "bad_timestamp"),
    ({"type": "track", "event": "x" * 300, "userId": "u"}, "bad_field"),
])
def test_invalid_events_have_codes(event: object, code: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        segment_to_row(event, "shop", RECEIVED)
    assert err.value.code == code
    assert err.value.hint
