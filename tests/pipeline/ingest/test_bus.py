"""pipeline.bus: the message contract the sink decodes, and idempotent stream setup."""

from __future__ import annotations

import asyncio

import msgspec
import nats
import pytest

from pipeline.bus import (
    BusError,
    QuarantineBatch,
    QuarantinedEvent,
    Streams,
    batch_id,
    decode_batch,
    decode_quarantine,
    encode_batch,
    encode_quarantine,
    ensure_streams,
    split_rows,
    stream_configs,
)
from pipeline.natsd import NatsServer
from warehouse.segment import segment_to_row

ROW = segment_to_row({"type": "track", "event": "x", "userId": "u", "messageId": "m1",
                      "properties": {"a": 1}}, "shop", 1_795_000_000_000_000)


def test_batch_round_trip_is_typed() -> None:
    decoded = decode_batch(encode_batch("shop", "b1", [ROW]))
    assert (decoded.v, decoded.app_id, decoded.batch_id) == (1, "shop", "b1")
    assert decoded.rows == [ROW]
    with pytest.raises(BusError):
        decode_batch(b'{"v":1,"app_id":"shop","batch_id":"b","rows":[{"event_id":1}]}')
    with pytest.raises(BusError):
        decode_batch(encode_batch("shop", "b", [ROW]).replace(b'"v":1', b'"v":2'))


def test_batch_id_is_order_free_and_per_app() -> None:
    assert batch_id("shop", ["a", "b"]) == batch_id("shop", ["b", "a"])
    assert batch_id("shop", ["a", "b"]) != batch_id("news", ["a", "b"])
    assert batch_id("shop", ["a", "b"]) != batch_id("shop", ["a\nb"])  # no id joins two


def test_quarantine_round_trip_keeps_the_raw_event() -> None:
    q = QuarantineBatch(v=1, app_id="shop", batch_id="q1", received_at=5, events=[
        QuarantinedEvent(index=3, code="bad_type", message="m", hint="h",
                         event=msgspec.Raw(b'{"type": "launch"}'))])
    back = decode_quarantine(encode_quarantine(q))
    assert back.events[0].index == 3 and bytes(back.events[0].event) == b'{"type": "launch"}'


def test_split_rows_is_deterministic() -> None:
    rows = list(range(10))
    assert split_rows("b", rows, 1) == [("b", rows)]
    parts = split_rows("b", rows, 3)
    assert [p for p, _ in parts] == ["b.1of3", "b.2of3", "b.3of3"]
    assert [x for _, chunk in parts for x in chunk] == rows


async def _streams(url: str, streams: Streams) -> tuple[float, float]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await ensure_streams(js, stream_configs(streams, 3600, 600))
    await ensure_streams(js, stream_configs(streams, 3600, 600))  # a no-op
    await ensure_streams(js, stream_configs(streams, 3600, 120))  # updated
    info = await js.stream_info(streams.events)
    await nc.close()
    return info.config.duplicate_window or 0, info.config.max_age or 0


def test_ensure_streams_creates_then_updates(nats_server: NatsServer) -> None:
    window, age = asyncio.run(_streams(nats_server.url, Streams.prefixed("busx")))
    assert (window, age) == (120, 3600)
