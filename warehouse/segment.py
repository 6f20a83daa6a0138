"""Segment Spec message → one ``events`` row (used by the ingest edge and the sink).

A row is a plain dict keyed by the column names of :data:`warehouse.schema.FILE_SCHEMA` plus
``app_id``; timestamps are integer microseconds since the epoch (UTC) so rows cross the bus as
compact JSON. ``dt``/``hour`` are derived from ``event_time`` where the row is written.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from warehouse.errors import InvalidEvent

MESSAGE_TYPES = frozenset({"track", "identify", "page", "screen", "group", "alias"})
MAX_ID_CHARS = 255
MAX_NAME_CHARS = 255
#: Events timed before this are rejected: almost surely a unit or clock bug.
MIN_EVENT_TIME_US = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)
#: Fields that differ between retries of one event and so must not enter its content hash.
_VOLATILE = frozenset({"sentAt", "receivedAt", "writeKey", "_metadata"})

Row = dict[str, Any]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_ONE_US = timedelta(microseconds=1)


def to_micros(value: datetime) -> int:
    """Exact µs since the epoch (naive means UTC); float ``timestamp()`` is off by 1 µs ~1 % of
    the time."""
    if value.tzinfo is None:
        return (value - _NAIVE_EPOCH) // _ONE_US
    return (value - _EPOCH) // _ONE_US


def parse_time(value: Any, field: str) -> int | None:
    """An ISO 8601 time → µs since epoch (naive means UTC); ``None`` when absent."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidEvent(f"{field} must be an ISO 8601 string", code="bad_timestamp",
                           hint="e.g. 2026-11-27T08:00:00.000Z", field=field)
    try:
        return to_micros(datetime.fromisoformat(value))
    except ValueError:
        raise InvalidEvent(f"{field} {value!r} is not an ISO 8601 time", code="bad_timestamp",
                           hint="e.g. 2026-11-27T08:00:00.000Z", field=field) from None


def content_id(event: Mapping[str, Any], app_id: str) -> str:
    """A stable id for an event without ``messageId``: retries of it collapse to one row."""
    canonical = {k: v for k, v in event.items() if k not in _VOLATILE}
    try:
        text = orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        raise InvalidEvent("the event is nested too deeply", code="bad_field",
                           hint="keep properties under 200 levels of nesting") from None
    digest = hashlib.sha256(app_id.encode() + b"\0" + text)
    return str(uuid.UUID(bytes=digest.digest()[:16]))


def _opt_str(event: Mapping[str, Any], key: str, limit: int = MAX_ID_CHARS) -> str | None:
    value = event.get(key)
    if value.__class__ is str and len(value) <= limit:  # the hot path: a short plain string
        return value or None
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidEvent(f"{key} must be a string", code="bad_field", field=key,
                           hint=f"send {key} as a string of at most {limit} characters")
    text = str(value)
    if len(text) > limit:
        raise InvalidEvent(f"{key} is longer than {limit} characters", code="bad_field",
                           field=key, hint=f"shorten {key}")
    return text


def _json(value: Any, field: str) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # nested deeper than orjson writes (254 levels)
        raise InvalidEvent(f"{field} is nested too deeply", code="bad_field", field=field,
                           hint=f"keep {field} under 200 levels of nesting") from None


def _opt_obj(event: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    value = event.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidEvent(f"{key} must be a JSON object", code="bad_field", field=key,
                           hint=f"send {key} as {{...}}")
    return value


def _properties(kind: str, event: Mapping[str, Any]) -> dict[str, Any] | None:
    """Where the payload of each call lands: track/page/screen properties, traits otherwise."""
    if kind in ("track", "page", "screen"):
        props = _opt_obj(event, "properties")
        if kind != "track" and event.get("name") is not None:
            props = {**(props or {}), "name": _opt_str(event, "name", MAX_NAME_CHARS)}
        return props
    traits = _opt_obj(event, "traits")
    if kind == "group":
        return {**(traits or {}), "groupId": _opt_str(event, "groupId")}
    if kind == "alias":
        return {"previousId": _opt_str(event, "previousId")}
    return traits


def segment_to_row(
    event: Any,
    app_id: str,
    received_at_us: int,
    sent_at_us: int | None = None,
    default_type: str | None = None,
) -> Row:
    """Validate one Segment message and map it to a row; raises :class:`InvalidEvent`.

    ``event_time`` = ``timestamp`` corrected for client clock skew by
    ``received_at - sent_at`` (when the client sent ``sentAt``), never later than
    ``received_at``; without ``timestamp`` it is ``received_at``.
    """
    if not isinstance(event, dict):
        raise InvalidEvent("an event must be a JSON object", code="not_an_object",
                           hint="send each event as {...}")
    kind = event.get("type", default_type)
    if kind not in MESSAGE_TYPES:
        raise InvalidEvent(f"unknown type {kind!r}", code="bad_type",
                           hint="type is one of " + ", ".join(sorted(MESSAGE_TYPES)))
    user_id = _opt_str(event, "userId")
    anonymous_id = _opt_str(event, "anonymousId")
    if user_id is None and anonymous_id is None:
        raise InvalidEvent("userId or anonymousId is required", code="missing_identity",
                           hint="set userId for known users, anonymousId otherwise")
    if kind == "track":
        name = _opt_str(event, "event", MAX_NAME_CHARS)
        if name is None:
            raise InvalidEvent("a track call needs an event name", code="missing_event",
                               hint='set "event", e.g. "Order Completed"')
        event_type = name
    else:
        event_type = kind
    context = _opt_obj(event, "context")
    properties = _properties(kind, event)
    category = _opt_str(event, "category", 100) or kind
    session_id = _opt_str(event, "sessionId") or (
        _opt_str(context, "sessionId") if context else None)

    event_time = parse_time(event.get("timestamp"), "timestamp")
    if event_time is None:
        event_time = received_at_us
    else:
        if sent_at_us is not None:
            event_time += received_at_us - sent_at_us
        event_time = min(event_time, received_at_us)
        if event_time < MIN_EVENT_TIME_US:
            raise InvalidEvent("timestamp is before the year 2000", code="bad_timestamp",
                               field="timestamp", hint="send the time the event happened, UTC")

    return {
        "event_id": _opt_str(event, "messageId") or content_id(event, app_id),
        "event_type": event_type,
        "category": category,
        "user_id": user_id,
        "anonymous_id": anonymous_id,
        "session_id": session_id,
        "event_time": event_time,
        "received_at": received_at_us,
        "properties": _json(properties, "properties") if properties is not None else None,
        "context": _json(context, "context") if context is not None else None,
        "app_id": app_id,
    }
