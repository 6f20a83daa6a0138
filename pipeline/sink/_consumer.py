"""The durable pull consumer every sink process shares, and how it is (re)bound."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from pipeline.bus import Streams
from pipeline.config import SinkSettings


def consumer_config(options: SinkSettings, streams: Streams) -> ConsumerConfig:
    """JetStream never gives up on a message (``max_deliver=-1``): its delivery count also
    counts storage outages, shutdowns and restarts, which are not the message's fault. The
    sink decides when a message has failed often enough (:mod:`pipeline.sink._intake`)."""
    return ConsumerConfig(
        name=options.durable, durable_name=options.durable,
        description="causality sink: EVENTS -> Parquet",
        deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT,
        ack_wait=options.ack_wait_s, max_deliver=-1,
        max_ack_pending=options.max_ack_pending, filter_subject=f"{streams.events_subject}.*",
    )


async def ensure_consumer(js: JetStreamContext, stream: str, config: ConsumerConfig) -> None:
    """Create the consumer, or update it to ``config`` (JetStream's create is create-or-update
    for the editable fields: ack wait, max deliver, max ack pending)."""
    await js.add_consumer(stream, config)


def max_deliveries_subject(stream: str, durable: str) -> str:
    return f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{durable}"
