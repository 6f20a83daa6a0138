"""Prometheus metrics of the edge, one registry per app instance.

With several worker processes, ``PROMETHEUS_MULTIPROC_DIR`` is set by the supervisor before the
workers start and ``/metrics`` on any worker reports the sum over all of them.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        multiproc = bool(os.environ.get(MULTIPROC_ENV))
        self.registry = CollectorRegistry()
        if multiproc:
            MultiProcessCollector(self.registry)
        own = CollectorRegistry() if multiproc else self.registry
        self.requests = Counter("causality_ingest_requests", "HTTP requests answered",
                                ("route", "status"), registry=own)
        self.events = Counter("causality_ingest_events",
                              "events by outcome: accepted, duplicate, invalid",
                              ("app_id", "status"), registry=own)
        self.request_seconds = Histogram("causality_ingest_request_seconds",
                                         "time to answer a request", ("route",),
                                         buckets=_LATENCY_BUCKETS, registry=own)
        self.publish_seconds = Histogram("causality_ingest_publish_seconds",
                                         "JetStream publish until PubAck", ("stream",),
                                         buckets=_LATENCY_BUCKETS, registry=own)
        self.in_flight = Gauge("causality_ingest_in_flight_requests", "requests being handled",
                               registry=own, multiprocess_mode="livesum")
        self.publishing = Gauge("causality_ingest_in_flight_publishes",
                                "JetStream publishes awaiting their PubAck",
                                registry=own, multiprocess_mode="livesum")
        self.nats_connected = Gauge("causality_ingest_nats_connected",
                                    "1 when connected to NATS and the streams exist",
                                    registry=own, multiprocess_mode="livemin")

    def render(self) -> bytes:
        return generate_latest(self.registry)
