"""Request body → envelope → one row per valid event (validation, enrichment, in-batch dedup).

The envelope can be decoded with msgspec leaving each event as the exact bytes it had in the
body (its size is that span), so one event that is not JSON, too large or invalid is rejected
alone, with the reason, and kept raw for the quarantine stream. Those spans are only decoded
when needed (:class:`Events`): a batch usually decodes at once into the fast path's structs.

Before any decoding, :mod:`._syntax` bounds how deep the body nests, so no decoder recurses
far; every failure to decode a body is a 400 with a code.

The semantics are those of :func:`warehouse.segment.segment_to_row`. Turning every nested
``properties``/``context`` object into Python dicts only to dump it again is most of the cost per
event, so a fast path decodes the event into a typed struct whose ``properties``, ``traits`` and
``context`` stay JSON text. It takes the common shapes (track, identify, page, screen, with a
``messageId``, plain string fields); anything else, and anything it is not sure of, goes through
``orjson.loads`` + ``segment_to_row``, which also makes every rejection. A test checks that both
give the same rows; ``properties``/``context`` are then equal as JSON (the fast path keeps the
client's text, re-formatted compactly when it has Python-style ``": "`` separators).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, TypeVar

import msgspec
import orjson

from pipeline.bus import QuarantinedEvent, Row
from pipeline.ingest._errors import BadRequest, Forbidden
from pipeline.ingest._syntax import (
    MAX_JSON_DEPTH,
    malformed,
    prepare,
    repair_surrogates,
    too_deep,
)
from warehouse.errors import InvalidEvent
from warehouse.segment import (
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MIN_EVENT_TIME_US,
    parse_time,
    segment_to_row,
    to_micros,
)

MAX_TIME_CHARS = 64  # as parse_time checks it

ACCEPTED, DUPLICATE, INVALID = "accepted", "duplicate", "invalid"
MAX_CATEGORY_CHARS = 100  # as segment_to_row checks it
_NO_RAW = msgspec.Raw()
_BATCH_HINT = 'send {"batch": [event, ...], "sentAt": "<ISO 8601>"}'
_T = TypeVar("_T")


class Fields(msgspec.Struct, frozen=True):
    """The envelope's own fields; ``POST /v1/<type>`` reads them from the event itself."""

    sent_at: str | None = msgspec.field(default=None, name="sentAt")
    write_key: str | None = msgspec.field(default=None, name="writeKey")
    app_id: str | None = None


class Envelope(Fields, frozen=True, kw_only=True):
    """``POST /v1/batch``: the events stay raw until each is validated on its own."""

    batch: list[msgspec.Raw]


_Id = Annotated[str, msgspec.Meta(max_length=MAX_ID_CHARS)]
_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME_CHARS)]
_Category = Annotated[str, msgspec.Meta(max_length=MAX_CATEGORY_CHARS)]


class FastEvent(msgspec.Struct, frozen=True, gc=False):
    """The fields the fast path reads. A field of another type, or a string over its limit,
    makes the decode fail, and the event takes the full path (which words the rejection)."""

    type: str | None = None
    event: _Name | None = None
    name: _Name | None = None
    user_id: _Id | None = msgspec.field(default=None, name="userId")
    anonymous_id: _Id | None = msgspec.field(default=None, name="anonymousId")
    message_id: _Id | None = msgspec.field(default=None, name="messageId")
    timestamp: str | None = None
    sent_at: str | None = msgspec.field(default=None, name="sentAt")
    category: _Category | None = None
    session_id: _Id | None = msgspec.field(default=None, name="sessionId")
    app_id: str | None = None
    properties: msgspec.Raw = _NO_RAW
    traits: msgspec.Raw = _NO_RAW
    context: msgspec.Raw = _NO_RAW


class _TypedEnvelope(Fields, frozen=True, kw_only=True, gc=False):
    """:class:`Envelope` with each event as the fast path reads it: any body this decodes,
    :class:`Envelope` decodes too."""

    batch: list[FastEvent]


_ENVELOPE = msgspec.json.Decoder(Envelope)
_TYPED = msgspec.json.Decoder(_TypedEnvelope)
_EVENT = msgspec.json.Decoder(FastEvent)
_FIELDS = msgspec.json.Decoder(Fields)


@dataclass
class Events:
    """The events of one request.

    ``typed`` holds every event as the fast path reads it when the whole batch decodes so, in
    one pass (the usual case: half the cost of decoding them one by one). The exact bytes of
    each event in the body (:attr:`raw`) are decoded only when something needs them: a size
    check, the full path, a rejection.
    """

    body: bytes
    typed: list[FastEvent] | None = None
    _raw: list[msgspec.Raw] | None = None

    def __len__(self) -> int:
        return len(self.typed) if self.typed is not None else len(self.raw)

    @property
    def raw(self) -> list[msgspec.Raw]:
        if self._raw is None:
            self._raw = decode_envelope(self.body).batch
        return self._raw


def decode_batch(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> tuple[Events, Fields]:
    """A ``/v1/batch`` body → its events and the envelope's fields; raises :class:`BadRequest`."""
    body = prepare(body, max_depth)
    try:
        typed = _TYPED.decode(body)
    except (msgspec.DecodeError, RecursionError):
        # An event the fast path cannot read, or a bad body: the envelope's decode says which.
        body, envelope = _decode(_ENVELOPE, body, "a batch", _BATCH_HINT)
        return Events(body, None, envelope.batch), envelope
    return Events(body, typed.batch), typed


def decode_envelope(body: bytes) -> Envelope:
    return _decode(_ENVELOPE, body, "a batch", _BATCH_HINT)[1]


def decode_single(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> tuple[Events, Fields]:
    """A ``/v1/<type>`` body: one event, whose envelope-like fields it carries itself."""
    body, fields = _decode(_FIELDS, prepare(body, max_depth), "an event",
                           "send one event as a JSON object")
    return Events(body, None, [msgspec.Raw(body)]), fields


def _decode(decoder: msgspec.json.Decoder[_T], body: bytes, what: str,
            hint: str) -> tuple[bytes, _T]:
    """``body`` (lone surrogate escapes made U+FFFD if need be) and what it decodes to; every
    failure is a :class:`BadRequest`."""
    try:
        return body, decoder.decode(body)
    except msgspec.ValidationError as err:
        raise BadRequest(f"the body is not {what}: {err}", code="bad_batch",
                         hint=hint) from None
    except msgspec.DecodeError as err:
        repaired = repair_surrogates(body)
        if repaired is None:
            raise malformed(err, body) from None
        return _decode(decoder, repaired, what, hint)
    except RecursionError:  # prepare() measured the depth: only if a decoder recursed more
        raise too_deep(MAX_JSON_DEPTH) from None


def parse_sent_at(value: str | None) -> int | None:
    try:
        return parse_time(value, "sentAt")
    except InvalidEvent as err:
        raise BadRequest(err.message, code="bad_timestamp", hint=err.hint) from None


@dataclass
class Outcome:
    """What a request's events became; statuses are final once the publish is acknowledged."""

    rows: list[Row] = field(default_factory=list)
    # Per event in request order, as the response lists it: messageId, event_id, status, and
    # for an invalid event its code and reason.
    results: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[QuarantinedEvent] = field(default_factory=list)
    duplicates: int = 0

    def mark_all_duplicate(self) -> None:
        """JetStream had this batch already: every accepted event is a duplicate."""
        for result in self.results:
            if result["status"] == ACCEPTED:
                result["status"] = DUPLICATE
                self.duplicates += 1


def validate(events: Events, app_id: str, received_at_us: int, sent_at_us: int | None,
             max_event_bytes: int, forced_type: str | None = None) -> Outcome:
    """Every event → a row or a quarantined rejection; later repeats of an id → duplicate.

    Raises :class:`Forbidden` when an event names another app in ``app_id``.
    """
    out = Outcome()
    results, seen = out.results, set[str]()
    typed_events = events.typed
    # No event is larger than the body: then only the typed events are needed.
    check_size = typed_events is None or len(events.body) > max_event_bytes
    for index in range(len(events)):  # the hot loop: kept flat on purpose
        event: Any = None
        try:
            if check_size and (size := len(events.raw[index])) > max_event_bytes:
                raise InvalidEvent(f"the event is {size} bytes, over {max_event_bytes}",
                                   code="event_too_large",
                                   hint="keep properties and context small; send blobs elsewhere")
            if typed_events is not None:
                typed = typed_events[index]
            else:
                try:
                    typed = _EVENT.decode(events.raw[index])
                except msgspec.DecodeError:
                    typed = None
            if typed is not None:
                if typed.app_id is not None and typed.app_id != app_id:
                    raise _wrong_app(typed.app_id, app_id)
                fast = _fast_row(typed, app_id, received_at_us, sent_at_us, forced_type)
                if fast is not None:
                    _keep(out, seen, typed.message_id, fast)
                    continue
            try:
                event = orjson.loads(bytes(events.raw[index]))
            except orjson.JSONDecodeError as err:
                raise InvalidEvent(f"the event is not valid JSON: {err}", code="malformed_json",
                                   hint="send UTF-8 JSON; numbers must fit a double") from None
            sent = sent_at_us
            if event.__class__ is dict:
                if forced_type is not None:
                    event["type"] = forced_type
                claimed = event.get("app_id")
                if claimed is not None and claimed != app_id:
                    raise _wrong_app(claimed, app_id)
                if sent is None and "sentAt" in event:
                    sent = parse_time(event["sentAt"], "sentAt")
            row: Any = segment_to_row(event, app_id, received_at_us, sent)
        except InvalidEvent as err:
            raw = events.raw[index]
            results.append({"messageId": _message_id(event, raw), "event_id": None,
                            "status": INVALID, "code": err.code, "reason": err.message})
            out.quarantined.append(QuarantinedEvent(index=index, code=err.code,
                                                    message=err.message, hint=err.hint,
                                                    event=_as_json(raw)))
            continue
        message_id = event.get("messageId")
        _keep(out, seen, message_id if message_id.__class__ is str else None, row)
    return out


def _keep(out: Outcome, seen: set[str], message_id: str | None, row: Row) -> None:
    event_id = row["event_id"]
    if event_id in seen:
        out.results.append({"messageId": message_id, "event_id": event_id, "status": DUPLICATE})
        out.duplicates += 1
        return
    seen.add(event_id)
    out.rows.append(row)
    out.results.append({"messageId": message_id, "event_id": event_id, "status": ACCEPTED})


def _fast_row(e: FastEvent, app_id: str, received_at_us: int, sent_at_us: int | None,
              forced_type: str | None) -> Row | None:
    """The row of a common, plainly valid event; ``None`` means: ask segment_to_row."""
    kind = forced_type or e.type
    if kind == "track":
        event_type = e.event
        if event_type is None:
            return None
        payload = e.properties
    elif kind == "identify":
        event_type, payload = kind, e.traits
    elif kind == "page" or kind == "screen":
        event_type, payload = kind, e.properties
    else:
        return None
    message_id = e.message_id
    user_id = e.user_id or None
    anonymous_id = e.anonymous_id or None
    if not message_id or (user_id is None and anonymous_id is None):
        return None
    timestamp = e.timestamp
    try:
        properties = _object_text(payload)
        context = _object_text(e.context)
        if sent_at_us is None and e.sent_at is not None:
            sent_at_us = parse_time(e.sent_at, "sentAt")
        event_time = (received_at_us if timestamp is None
                      else to_micros(datetime.fromisoformat(timestamp)))
    except (ValueError, InvalidEvent):  # not an object, not UTF-8, a bad time
        return None
    session_id = e.session_id or None
    if session_id is None and context is not None and '"sessionId"' in context:
        return None  # context.sessionId: segment_to_row reads it
    name = e.name
    if name is not None and (kind == "page" or kind == "screen"):  # name joins properties
        if properties is None or not properties[1:-1].strip():
            properties = '{"name":' + orjson.dumps(name).decode() + "}"
        elif '"name"' in properties:
            return None  # segment_to_row replaces the key where it is
        else:
            properties = properties[:-1] + ',"name":' + orjson.dumps(name).decode() + "}"
    if timestamp is not None:
        if sent_at_us is not None:
            event_time += received_at_us - sent_at_us
        if event_time > received_at_us:
            event_time = received_at_us
        if event_time < MIN_EVENT_TIME_US or len(timestamp) > MAX_TIME_CHARS:
            return None
    return {
        "event_id": message_id,
        "event_type": event_type,
        "category": e.category or kind,
        "user_id": user_id,
        "anonymous_id": anonymous_id,
        "session_id": session_id,
        "event_time": event_time,
        "received_at": received_at_us,
        "properties": properties,
        "context": context,
        "app_id": app_id,
    }


def _object_text(raw: msgspec.Raw) -> str | None:
    """Raw JSON that must be an object or null → its text; ``ValueError`` otherwise."""
    if not raw:
        return None
    text = str(raw, "utf-8")  # not UTF-8: a UnicodeDecodeError, a ValueError
    if text[0] != "{":
        if text == "null":
            return None
        raise ValueError("not an object")
    # Python's json.dumps separators or pretty-printing show after the first key (a full scan
    # costs more than the rest of the event): then make it compact, as segment_to_row would.
    colon = text.find('":')
    if colon > 0 and text[colon + 2:colon + 3] in (" ", "\n"):
        text = msgspec.json.format(text, indent=-1)
    return text


def _wrong_app(claimed: object, app_id: str) -> Forbidden:
    return Forbidden(f"the write key belongs to app {app_id!r}, not {claimed!r}",
                     code="wrong_app", hint="use the write key of the app the events are for")


def _message_id(event: Any, raw: msgspec.Raw) -> str | None:
    if event is None:
        try:
            event = orjson.loads(bytes(raw))
        except orjson.JSONDecodeError:
            return None
    message_id = event.get("messageId") if isinstance(event, dict) else None
    return message_id if isinstance(message_id, str) else None


def _as_json(raw: msgspec.Raw) -> msgspec.Raw:
    """The event as sent, embeddable in a JSON message even when it is not valid JSON."""
    data = bytes(raw)
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return msgspec.Raw(orjson.dumps(data.decode("utf-8", "replace")))
    return raw
