"""Prometheus metrics of one sink process, in a registry of its own.

Per-partition figures are labelled by ``app_id`` only: ``dt``/``hour`` would grow without bound.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

_FLUSH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.messages = Counter("causality_sink_messages", "messages received", registry=r)
        self.events = Counter("causality_sink_events_written", "rows written to Parquet",
                              ("app_id",), registry=r)
        self.duplicates = Counter("causality_sink_duplicates_dropped",
                                  "redelivered events dropped within the recent-id window",
                                  ("app_id",), registry=r)
        self.files = Counter("causality_sink_files_written", "Parquet files written",
                             ("app_id",), registry=r)
        self.bytes = Counter("causality_sink_bytes_written", "Parquet bytes written",
                             ("app_id",), registry=r)
        self.flushes = Counter("causality_sink_flushes", "flushes by trigger", ("reason",),
                               registry=r)
        self.flush_seconds = Histogram("causality_sink_flush_seconds",
                                       "writing one flush's files until its ACKs are sent",
                                       buckets=_FLUSH_BUCKETS, registry=r)
        self.acked = Counter("causality_sink_messages_acked", "messages ACKed", registry=r)
        self.redeliveries = Counter("causality_sink_redeliveries",
                                    "messages received more than once", registry=r)
        self.dead_letters = Counter("causality_sink_dead_letters",
                                    "messages sent to the dead-letter stream", ("code",),
                                    registry=r)
        self.buffered_rows = Gauge("causality_sink_buffered_rows", "rows awaiting a flush",
                                   registry=r)
        self.buffered_bytes = Gauge("causality_sink_buffered_bytes",
                                    "Arrow bytes awaiting a flush", registry=r)
        self.held = Gauge("causality_sink_held_messages", "messages awaiting their ACK",
                          registry=r)
        self.lag = Gauge("causality_sink_consumer_pending",
                         "messages in the stream not yet delivered to any sink (consumer info)",
                         registry=r)
        self.ack_pending = Gauge("causality_sink_consumer_ack_pending",
                                 "messages delivered to sinks, not yet ACKed (consumer info)",
                                 registry=r)
        self.connected = Gauge("causality_sink_nats_connected", "1 when connected to NATS",
                               registry=r)
        self.resubscribes = Counter("causality_sink_resubscribes",
                                    "pull subscriptions re-created (reconnect or stall)",
                                    registry=r)
        self.oldest_age = Gauge("causality_sink_oldest_unconsumed_age_seconds",
                                "age of the oldest EVENTS message the sinks have not ACKed "
                                "(0: none); JetStream deletes it at the stream's max age",
                                registry=r)
        self.stream_max_age = Gauge("causality_sink_stream_max_age_seconds",
                                    "the EVENTS stream's max age (nats.retention_s)",
                                    registry=r)
        self.storage_up = Gauge("causality_sink_storage_up",
                                "0 while the warehouse storage is unreachable (messages held)",
                                registry=r)
        self.storage_up.set(1)
        self.storage_outages = Counter("causality_sink_storage_outages",
                                       "times the warehouse storage became unreachable",
                                       registry=r)
        self.isolated_writes = Counter("causality_sink_isolated_writes",
                                       "messages written alone (suspects, or after a write "
                                       "failed on reachable storage)", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
