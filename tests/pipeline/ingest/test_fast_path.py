"""The edge's fast path gives the rows segment_to_row gives, for any event (differential)."""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.ingest._events import Events, decode_batch, decode_envelope, validate
from warehouse.errors import InvalidEvent
from warehouse.segment import parse_time, segment_to_row

RECEIVED = 1_795_770_000_000_000
TYPES = ["track", "identify", "page", "screen", "group", "alias", "launch"]

text = st.text(max_size=8)
ident = st.one_of(st.none(), st.just(""), text, st.integers(0, 10**6), st.just("x" * 300),
                  st.booleans())
times = st.one_of(st.none(), st.just("2026-11-27T09:00:00.123456Z"),
                  st.just("2026-11-27T11:00:00+02:00"), st.just("1999-01-01T00:00:00Z"),
                  st.just("2026-11-27T09:00:00"), st.just("yesterday"), st.integers(0, 5))
json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
              st.floats(allow_nan=False, allow_infinity=False), text),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(text, inner, max_size=3)),
    max_leaves=8)
obj = st.one_of(st.none(), st.dictionaries(
    st.one_of(text, st.sampled_from(["sessionId", "name", "a b", 'q"uote'])), json_value,
    max_size=4), st.lists(json_value, max_size=2), text)
fields = {
    "type": st.sampled_from(TYPES), "event": ident, "name": ident, "userId": ident,
    "anonymousId": ident, "messageId": ident, "timestamp": times, "sentAt": times,
    "category": ident, "sessionId": ident, "properties": obj, "traits": obj, "context": obj,
    "groupId": ident, "previousId": ident, "extra": json_value,
}
# Plausible events (what SDKs send), each field sometimes odd: they reach the fast path.
word = st.text(min_size=1, max_size=8)
plausible = st.fixed_dictionaries({
    "type": st.sampled_from(["track", "identify", "page", "screen"]),
    "messageId": word, "timestamp": st.sampled_from(
        ["2026-11-27T09:00:00.123456Z", "2026-11-27T11:00:00+02:00", "2026-11-27T09:00:00"]),
}, optional={
    "event": word, "name": word, "userId": word, "anonymousId": word, "category": word,
    "sessionId": word, "sentAt": st.just("2026-11-27T09:00:10Z"),
    "properties": st.dictionaries(st.one_of(text, st.just("name")), json_value, max_size=4),
    "traits": st.dictionaries(text, json_value, max_size=3),
    "context": st.dictionaries(st.one_of(text, st.just("sessionId")), json_value, max_size=4),
}).map(lambda e: {"userId": "u", "event": "E", **e})
events = st.one_of(st.fixed_dictionaries({}, optional=fields), plausible,
                   st.tuples(plausible, st.sampled_from(sorted(fields)), ident).map(
                       lambda t: {**t[0], t[1]: t[2]}))


def one_by_one(body: bytes) -> Events:
    """The events of a batch body without the typed pass: each is decoded on its own."""
    return Events(body, None, decode_envelope(body).batch)


def reference(event: Any, sent_at: int | None, forced: str | None) -> tuple[str, Any]:
    event = copy.deepcopy(event)
    try:
        if forced is not None:
            event["type"] = forced
        if sent_at is None and "sentAt" in event:
            sent_at = parse_time(event["sentAt"], "sentAt")
        return "accepted", segment_to_row(event, "shop", RECEIVED, sent_at)
    except InvalidEvent as err:
        return "invalid", err.code


def as_json(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


@settings(max_examples=400, deadline=None)
@given(event=events, sent_at=st.sampled_from([None, RECEIVED - 3_600_000_000]),
       forced=st.sampled_from([None, "track", "page"]), python_style=st.booleans())
def test_fast_path_matches_segment_to_row(event: dict[str, Any], sent_at: int | None,
                                          forced: str | None, python_style: bool) -> None:
    body = (json.dumps({"batch": [event]}).encode() if python_style
            else orjson.dumps({"batch": [event]}))
    out = validate(one_by_one(body), "shop", RECEIVED, sent_at, 32 * 1024, forced)
    status, expected = reference(event, sent_at, forced)
    (result,) = out.results
    assert result["status"] == status, (result, expected)
    if status == "invalid":
        assert result["code"] == expected
        return
    (row,) = out.rows
    for name in ("properties", "context"):
        assert as_json(row[name]) == as_json(expected[name]), name
        if not python_style:  # compact input: the very same text
            assert row[name] == expected[name], name
    assert {k: v for k, v in row.items() if k not in ("properties", "context")} == {
        k: v for k, v in expected.items() if k not in ("properties", "context")}


@settings(max_examples=200, deadline=None)
@given(batch=st.lists(events, min_size=1, max_size=6),
       forced=st.sampled_from([None, "track"]))
def test_decoding_the_batch_at_once_changes_nothing(batch: list[dict[str, Any]],
                                                    forced: str | None) -> None:
    body = orjson.dumps({"batch": batch, "sentAt": "2026-11-27T08:00:00Z"})
    events, fields = decode_batch(body)
    each = validate(one_by_one(body), "shop", RECEIVED, None, 32 * 1024, forced)
    at_once = validate(events, "shop", RECEIVED, None, 32 * 1024, forced)
    assert at_once.results == each.results
    assert at_once.rows == each.rows
    assert fields.sent_at == "2026-11-27T08:00:00Z"


def test_the_whole_batch_decodes_at_once_when_every_event_fits() -> None:
    good = {"type": "track", "event": "x", "userId": "u", "messageId": "m"}
    events, _ = decode_batch(orjson.dumps({"batch": [good, good]}))
    assert events.typed is not None and events._raw is None  # the spans are not needed
    events, _ = decode_batch(orjson.dumps({"batch": [good, {**good, "userId": 7}]}))
    assert events.typed is None and len(events.raw) == 2


def test_typed_events_still_reach_their_raw_bytes_when_needed() -> None:
    good = {"type": "track", "event": "x", "userId": "u", "messageId": "m"}
    other = {"type": "group", "groupId": "g", "userId": "u", "messageId": "n"}  # full path
    big = {**good, "messageId": "b", "properties": {"p": "x" * 2000}}
    body = orjson.dumps({"batch": [good, other, {"type": "track", "messageId": "i"}, big]})
    events, _ = decode_batch(body)
    assert events.typed is not None
    out = validate(events, "shop", RECEIVED, None, 1024)  # the body is over the limit
    assert [r["status"] for r in out.results] == ["accepted", "accepted", "invalid", "invalid"]
    assert [q.code for q in out.quarantined] == ["missing_identity", "event_too_large"]
    assert orjson.loads(bytes(out.quarantined[0].event)) == {"type": "track",
                                                              "messageId": "i"}


def test_python_style_separators_are_stored_compact() -> None:
    event = {"type": "track", "event": "x", "userId": "u", "messageId": "m",
             "properties": {"a": 1, "b": "KHTML, like Gecko"}, "context": {"ip": "1.2.3.4"}}
    out = validate(one_by_one(json.dumps({"batch": [event]}).encode()), "shop", RECEIVED, None,
                   32 * 1024)
    assert out.rows[0]["properties"] == '{"a":1,"b":"KHTML, like Gecko"}'
    assert out.rows[0]["context"] == '{"ip":"1.2.3.4"}'


def test_the_fast_path_is_exercised(monkeypatch: Any) -> None:
    import pipeline.ingest._events as events_module

    taken: list[bool] = []
    original = events_module._fast_row

    def counting(*args: Any) -> Any:
        row = original(*args)
        taken.append(row is not None)
        return row

    monkeypatch.setattr(events_module, "_fast_row", counting)
    test_fast_path_matches_segment_to_row()
    assert sum(taken) > len(taken) / 4
