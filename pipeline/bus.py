"""The bus contract between the ingest edge and its consumers (sink, reactor).

Streams (created or updated idempotently by :func:`ensure_streams`, which every producer and
consumer may call at start):

``EVENTS``, subjects ``events.<app_id>``
    One message per accepted HTTP batch (DESIGN.md decision 1). Payload: UTF-8 JSON object
    ``{"v": 1, "app_id": "shop", "batch_id": "<32 hex>", "rows": [row, ...]}`` where each row is
    exactly a :func:`warehouse.segment.segment_to_row` dict (the :class:`Row` keys; timestamps in
    µs since the epoch, ``properties``/``context`` JSON text or null). Header ``Nats-Msg-Id`` =
    ``batch_id``: a hash of the app and the sorted event ids of the rows, so a retried batch is
    stored once within the duplicate window. Rows of one message have distinct ``event_id`` s;
    the same ``event_id`` may still arrive in another message (the sink de-duplicates).
    A batch whose message would exceed the server's ``max_payload`` is published as parts
    ``<batch_id>.<i>of<n>`` (as ``batch_id`` and ``Nats-Msg-Id``), each a valid message.

``QUARANTINE``, subjects ``quarantine.<app_id>``
    Invalid events of one request: ``{"v": 1, "app_id", "batch_id", "received_at",
    "events": [{"index", "code", "message", "hint", "event"}]}``; ``event`` is the event as the
    client sent it (JSON), or a JSON string holding its text when it was not valid JSON.

Both streams: file storage, limits retention with ``max_age`` = ``nats.retention_s``,
``discard: new`` (a full stream refuses publishes: the edge answers 503 and the SDK keeps the
batch, rather than JetStream silently dropping the oldest unconsumed events), duplicate window
``nats.duplicate_window_s``, ``nats.replicas`` copies (3 or 5 in a cluster: a PubAck then means
a majority of them stored the message).

Clients connect to :func:`server_list` of ``nats.url`` (comma-separated servers) and fail over
between them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypedDict

import msgspec
import orjson
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError

from pipeline.config import server_list as server_list
from pipeline.errors import PipelineError

VERSION = 1
DEFAULT_RETENTION_S = 7 * 24 * 3600.0
DEFAULT_DUPLICATE_WINDOW_S = 600.0


class BusError(PipelineError):
    code = "bus_error"


class Row(TypedDict):
    """One ``events`` row, as :func:`warehouse.segment.segment_to_row` returns it."""

    event_id: str
    event_type: str
    category: str
    user_id: str | None
    anonymous_id: str | None
    session_id: str | None
    event_time: int
    received_at: int
    properties: str | None
    context: str | None
    app_id: str


class EventBatch(msgspec.Struct, frozen=True):
    """One message on ``EVENTS``."""

    v: int
    app_id: str
    batch_id: str
    rows: list[Row]


class QuarantinedEvent(msgspec.Struct, frozen=True):
    index: int  # position in the request's batch
    code: str
    message: str
    hint: str
    event: msgspec.Raw


class QuarantineBatch(msgspec.Struct, frozen=True):
    """One message on ``QUARANTINE``."""

    v: int
    app_id: str
    batch_id: str
    received_at: int
    events: list[QuarantinedEvent]


@dataclass(frozen=True)
class Streams:
    """Stream names, subject prefixes and copies (``nats.replicas``); tests use
    :meth:`prefixed` ones of their own."""

    events: str = "EVENTS"
    events_subject: str = "events"
    quarantine: str = "QUARANTINE"
    quarantine_subject: str = "quarantine"
    replicas: int = 1

    @classmethod
    def prefixed(cls, prefix: str, replicas: int = 1) -> Streams:
        return cls(f"{prefix.upper()}_EVENTS", f"{prefix.lower()}.events",
                   f"{prefix.upper()}_QUARANTINE", f"{prefix.lower()}.quarantine", replicas)

    def with_replicas(self, replicas: int) -> Streams:
        return self if replicas == self.replicas else replace(self, replicas=replicas)

    def events_for(self, app_id: str) -> str:
        return f"{self.events_subject}.{app_id}"

    def quarantine_for(self, app_id: str) -> str:
        return f"{self.quarantine_subject}.{app_id}"


STREAMS = Streams()

_EVENT_BATCH = msgspec.json.Decoder(EventBatch)
_QUARANTINE_BATCH = msgspec.json.Decoder(QuarantineBatch)
_ENCODER = msgspec.json.Encoder()


def batch_id(app_id: str, event_ids: Iterable[str]) -> str:
    """The de-duplication id of a batch: the same app and event ids give the same id."""
    digest = hashlib.sha256(app_id.encode() + b"\0")
    digest.update(orjson.dumps(sorted(event_ids)))  # a JSON array: no two id lists collide
    return digest.hexdigest()[:32]


def encode_batch(app_id: str, batch: str, rows: Sequence[Row] | Sequence[dict[str, Any]]) -> bytes:
    return orjson.dumps({"v": VERSION, "app_id": app_id, "batch_id": batch, "rows": rows})


def decode_batch(data: bytes) -> EventBatch:
    """An ``EVENTS`` payload → a validated :class:`EventBatch`; raises :class:`BusError`."""
    try:
        decoded = _EVENT_BATCH.decode(data)
    except msgspec.DecodeError as err:
        raise BusError(f"not an events batch: {err}", code="bad_batch_message",
                       hint="the payload must follow pipeline.bus (v1)") from None
    if decoded.v != VERSION:
        raise BusError(f"events batch version {decoded.v} is not {VERSION}",
                       code="bad_batch_version", hint="upgrade the consumer")
    return decoded


def encode_quarantine(batch: QuarantineBatch) -> bytes:
    return _ENCODER.encode(batch)


def decode_quarantine(data: bytes) -> QuarantineBatch:
    try:
        return _QUARANTINE_BATCH.decode(data)
    except msgspec.DecodeError as err:
        raise BusError(f"not a quarantine message: {err}", code="bad_quarantine_message",
                       hint="the payload must follow pipeline.bus (v1)") from None


def split_rows(batch: str, rows: Sequence[Any], parts: int) -> list[tuple[str, Sequence[Any]]]:
    """Deterministic parts of one batch (a retry splits the same way, so it de-duplicates)."""
    if parts <= 1:
        return [(batch, rows)]
    size = -(-len(rows) // parts)
    chunks = [rows[i:i + size] for i in range(0, len(rows), size)]
    return [(f"{batch}.{i + 1}of{len(chunks)}", chunk) for i, chunk in enumerate(chunks)]


def stream_configs(streams: Streams, retention_s: float = DEFAULT_RETENTION_S,
                   duplicate_window_s: float = DEFAULT_DUPLICATE_WINDOW_S) -> list[StreamConfig]:
    common: dict[str, Any] = {
        "retention": RetentionPolicy.LIMITS, "storage": StorageType.FILE,
        "discard": DiscardPolicy.NEW, "max_age": retention_s,
        "duplicate_window": min(duplicate_window_s, retention_s),
        "num_replicas": streams.replicas,
    }
    return [
        StreamConfig(name=streams.events, subjects=[f"{streams.events_subject}.*"],
                     description="accepted event batches, one message per HTTP batch", **common),
        StreamConfig(name=streams.quarantine, subjects=[f"{streams.quarantine_subject}.*"],
                     description="invalid events with the reason", **common),
    ]


# num_replicas too: JetStream scales a stream's copies up or down by an update.
_COMPARED = ("subjects", "max_age", "duplicate_window", "discard", "retention", "storage",
             "num_replicas")


async def ensure_streams(js: JetStreamContext, configs: Sequence[StreamConfig]) -> None:
    """Create each stream, or update it when its settings changed; a no-op when they match."""
    for config in configs:
        assert config.name is not None
        try:
            try:
                info = await js.stream_info(config.name)
            except NotFoundError:
                await js.add_stream(config)
                continue
            have = info.config
            if any(getattr(have, f) != getattr(config, f) for f in _COMPARED):
                await js.update_stream(config)
        except APIError as err:
            raise BusError(
                f"cannot create or update stream {config.name}: {err.description}",
                code="stream_config_rejected",
                hint="storage and retention of an existing stream cannot change, and "
                     "replicas cannot exceed the cluster's nodes; compare `nats stream info` "
                     "with the settings, or recreate the stream",
            ) from None
