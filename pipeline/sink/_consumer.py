"""The durable pull consumer every sink process shares, and how it is (re)bound."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from pipeline.bus import Streams
from pipeline.config import SinkSettings


def consumer_config(options: SinkSettings, streams: Streams) -> ConsumerConfig:
    """JetStream's ``max_deliver`` is one more than ours: on that last delivery the sink copies
    the message to the DLQ itself (before touching it, so a message that crashes the sink
    still gets there) instead of letting JetStream drop it."""
    return ConsumerConfig(
        name=options.durable, durable_name=options.durable,
        description="causality sink: EVENTS -> Parquet",
        deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT,
        ack_wait=options.ack_wait_s, max_deliver=options.max_deliver + 1,
        max_ack_pending=options.max_ack_pending, filter_subject=f"{streams.events_subject}.*",
    )


async def ensure_consumer(js: JetStreamContext, stream: str, config: ConsumerConfig) -> None:
    """Create the consumer, or update it to ``config`` (JetStream's create is create-or-update
    for the editable fields: ack wait, max deliver, max ack pending)."""
    await js.add_consumer(stream, config)


def max_deliveries_subject(stream: str, durable: str) -> str:
    return f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{durable}"
