"""Validation and enrichment per event (through warehouse.segment.segment_to_row), including
two fixes made to it for the edge: exact microseconds, and deep nesting as an invalid event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from pipeline.ingest._errors import Forbidden
from pipeline.ingest._events import Events, decode_envelope, validate
from warehouse.errors import InvalidEvent
from warehouse.segment import parse_time, segment_to_row, to_micros

RECEIVED = 1_795_770_000_000_000


def raws(*events: object) -> Events:
    body = orjson.dumps({"batch": list(events)})
    return Events(body, None, decode_envelope(body).batch)


def test_to_micros_is_exact() -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for us in (1_795_771_140_123_457, 1_000_000_000_999_999, 946_684_800_000_001):
        assert to_micros(epoch + timedelta(microseconds=us)) == us
    assert parse_time("2026-11-27T09:59:00.123457Z", "t") == 1_795_773_540_123_457


def test_deeply_nested_properties_are_an_invalid_event_not_a_crash() -> None:
    deep: dict[str, object] = {}
    for _ in range(300):
        deep = {"a": deep}
    for event in ({"type": "track", "event": "x", "userId": "u", "properties": deep},
                  {"type": "track", "event": "x", "userId": "u", "properties": deep,
                   "messageId": "m"}):
        with pytest.raises(InvalidEvent) as err:
            segment_to_row(event, "shop", RECEIVED)
        assert err.value.code == "bad_field"


def test_validate_marks_in_batch_repeats_duplicate_and_keeps_order() -> None:
    a = {"type": "track", "event": "x", "userId": "u", "messageId": "a"}
    b = {"type": "identify", "userId": "u", "messageId": "b"}
    out = validate(raws(a, b, a, {"type": "track"}), "shop", RECEIVED, None, 32 * 1024)
    assert [r["status"] for r in out.results] == ["accepted", "accepted", "duplicate", "invalid"]
    assert [row["event_id"] for row in out.rows] == ["a", "b"]
    assert out.duplicates == 1 and [q.index for q in out.quarantined] == [3]
    out.mark_all_duplicate()
    assert [r["status"] for r in out.results] == ["duplicate", "duplicate", "duplicate", "invalid"]


def test_event_size_is_its_span_in_the_body() -> None:
    event = {"type": "track", "event": "x", "userId": "u", "properties": {"p": "x" * 100}}
    size = len(orjson.dumps(event))
    assert validate(raws(event), "shop", RECEIVED, None, size).results[0]["status"] == "accepted"
    too_big = validate(raws(event), "shop", RECEIVED, None, size - 1)
    assert too_big.results[0]["code"] == "event_too_large"


def test_per_event_sent_at_and_forced_type() -> None:
    event = {"event": "x", "userId": "u", "timestamp": "2026-11-27T09:00:00Z",
             "sentAt": "2026-11-27T09:00:10Z", "messageId": "m"}
    received = parse_time("2026-11-27T10:00:00Z", "t")
    assert received is not None
    out = validate(raws(event), "shop", received, None, 32 * 1024, forced_type="track")
    assert out.rows[0]["event_time"] == received - 10_000_000


def test_an_event_for_another_app_is_forbidden() -> None:
    with pytest.raises(Forbidden):
        validate(raws({"type": "track", "event": "x", "userId": "u", "app_id": "news"}),
                 "shop", RECEIVED, None, 32 * 1024)
