"""The publisher splits a batch over the server's max_payload into parts, each de-duplicated."""

from __future__ import annotations

import asyncio
from typing import cast

import nats

from pipeline.bus import Row, Streams, decode_batch, stream_configs
from pipeline.ingest._metrics import Metrics
from pipeline.ingest._publish import Publisher
from pipeline.natsd import NatsServer
from warehouse.segment import segment_to_row


async def _publish_big_batch(url: str) -> tuple[bool, bool, list[str], int]:
    streams = Streams.prefixed("split")
    publisher = Publisher(url, streams, stream_configs(streams), timeout_s=5, max_in_flight=4,
                          retry_after_s=1, metrics=Metrics())
    await publisher.start()
    while not publisher.ready:
        await asyncio.sleep(0.01)
    assert publisher.nc is not None
    publisher.nc._max_payload = 40_000  # as if the server allowed only 40 KB
    rows = [cast(Row, segment_to_row({"type": "track", "event": "x", "userId": "u",
                                      "messageId": f"m{i}", "properties": {"pad": "x" * 500}},
                                     "shop", 1_795_000_000_000_000))
            for i in range(300)]
    first = await publisher.publish_rows("shop", "big", rows)
    again = await publisher.publish_rows("shop", "big", rows)
    await publisher.close()

    nc = await nats.connect(url)
    js = nc.jetstream()
    info = await js.stream_info(streams.events)
    ids, count = [], 0
    for seq in range(1, info.state.last_seq + 1):
        msg = await js.get_msg(streams.events, seq)
        assert len(msg.data or b"") <= 40_000
        batch = decode_batch(msg.data or b"")
        ids.append(batch.batch_id)
        count += len(batch.rows)
    await nc.close()
    return first, again, ids, count


def test_batch_over_max_payload_is_split_and_deduplicated(nats_server: NatsServer) -> None:
    first, again, ids, count = asyncio.run(_publish_big_batch(nats_server.url))
    assert (first, again) == (False, True)
    assert len(ids) > 1 and ids[0] == f"big.1of{len(ids)}"
    assert count == 300
