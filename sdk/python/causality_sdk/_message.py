"""Turning call arguments into one Segment-Spec event, encoded once as compact JSON bytes."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import numbers
import uuid
from collections.abc import Mapping
from typing import Any

from ._version import __version__

_UTC = dt.timezone.utc
LIBRARY = {"name": "causality-sdk", "version": __version__}


class InvalidEvent(Exception):
    """Raised inside this module only; the client turns it into a Report."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _iso(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_ENCODER = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default
)


def encode(event: Mapping[str, Any]) -> bytes:
    try:
        return _ENCODER.encode(event).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise InvalidEvent(
            f"event cannot be encoded as JSON: {exc}",
            "use JSON types (str, int, float, bool, None, list, dict), datetime, Decimal or "
            "UUID; NaN and Infinity are not valid JSON",
        ) from None


def _iso(value: dt.datetime) -> str:
    # Naive datetimes are local time, as everywhere else in Python.
    return value.astimezone(_UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return dt.datetime.now(_UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def timestamp(value: Any) -> str:
    if value is None:
        return now_iso()
    if isinstance(value, dt.datetime):
        return _iso(value)
    if isinstance(value, str):
        try:
            return _iso(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            pass
    raise InvalidEvent(
        f"timestamp must be a datetime or an ISO 8601 string, got {value!r}",
        "pass datetime.now(timezone.utc), or leave it out for 'now'",
    )


def ident(name: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(value)
    raise InvalidEvent(f"{name} must be a string, got {type(value).__name__}")


def mapping(name: str, value: Any) -> Mapping[str, Any] | None:
    if value is None or isinstance(value, Mapping):
        return value
    raise InvalidEvent(f"{name} must be a dict, got {type(value).__name__}")


def text(name: str, value: Any, required: bool) -> str | None:
    if value is None and not required:
        return None
    if isinstance(value, str) and value:
        return value
    raise InvalidEvent(f"{name} must be a non-empty string, got {value!r}")


def build(
    kind: str,
    user_id: Any,
    anonymous_id: Any,
    context: Any,
    ts: Any,
    message_id: Any,
    category: Any,
    fields: dict[str, Any],
) -> dict[str, Any]:
    """The event as sent, minus ``messageId`` when the caller left it for us to generate."""
    event: dict[str, Any] = {"type": kind}
    event.update(fields)
    uid = ident("user_id", user_id)
    aid = ident("anonymous_id", anonymous_id)
    if kind == "alias" and uid is None:
        raise InvalidEvent("user_id (the new id) is required")
    if uid is None and aid is None:
        raise InvalidEvent(
            "user_id or anonymous_id is required",
            "pass anonymous_id=<a stable device or session id> before the user is known",
        )
    if uid is not None:
        event["userId"] = uid
    if aid is not None:
        event["anonymousId"] = aid
    ctx = mapping("context", context)
    if ctx is None:
        event["context"] = {"library": LIBRARY}
    else:
        event["context"] = {"library": LIBRARY, **ctx}
    event["timestamp"] = timestamp(ts)
    if message_id is not None:
        event["messageId"] = text("message_id", message_id, required=True)
    if category is not None:
        event["category"] = text("category", category, required=True)
    return event


def fields_for(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The call-specific part of the event, validated."""
    out: dict[str, Any] = {}
    if kind == "track":
        out["event"] = text("event", fields["event"], required=True)
        props = mapping("properties", fields["properties"])
        out["properties"] = props if props is not None else {}
    elif kind in ("page", "screen"):
        name = text("name", fields["name"], required=False)
        if name is not None:
            out["name"] = name
        props = mapping("properties", fields["properties"])
        out["properties"] = props if props is not None else {}
    elif kind == "identify":
        traits = mapping("traits", fields["traits"])
        out["traits"] = traits if traits is not None else {}
    elif kind == "group":
        group_id = ident("group_id", fields["group_id"])
        if group_id is None:
            raise InvalidEvent("group_id is required")
        out["groupId"] = group_id
        traits = mapping("traits", fields["traits"])
        out["traits"] = traits if traits is not None else {}
    elif kind == "alias":
        previous = ident("previous_id", fields["previous_id"])
        if previous is None:
            raise InvalidEvent("previous_id (the old id) is required")
        out["previousId"] = previous
    return out
