"""Prometheus metrics of one reactor process, in a registry of its own, and its logger."""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LOGGER = logging.getLogger("causality.reactor")
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
                    900.0, 3600.0)


def log(level: int, msg: str, exc: BaseException | None = None, **fields: Any) -> None:
    LOGGER.log(level, msg, exc_info=exc, extra={"fields": fields})


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.messages = Counter("causality_reactor_messages", "EVENTS messages received",
                                registry=r)
        self.processed = Counter("causality_reactor_events_processed",
                                 "events evaluated against the rules", registry=r)
        self.matched = Counter("causality_reactor_events_matched",
                               "(rule, event) pairs whose conditions held", registry=r)
        self.fired = Counter("causality_reactor_firings", "firings recorded, by source",
                             ("source",), registry=r)
        self.throttled = Counter("causality_reactor_throttled", "matches a throttle held back",
                                 registry=r)
        self.failed = Counter("causality_reactor_failed", "failures, by reason", ("reason",),
                              registry=r)
        self.dead_letters = Counter("causality_reactor_dead_letters",
                                    "dead letters, by kind and code", ("kind", "code"),
                                    registry=r)
        self.deliveries = Counter("causality_reactor_deliveries",
                                  "webhook attempts, by outcome and HTTP status",
                                  ("outcome", "status"), registry=r)
        self.delivery_latency = Histogram(
            "causality_reactor_delivery_latency_seconds",
            "from a firing's record to its successful delivery", buckets=_LATENCY_BUCKETS,
            registry=r)
        self.lag = Gauge("causality_reactor_consumer_pending",
                         "EVENTS messages not yet delivered to any reactor (consumer info)",
                         registry=r)
        self.ack_pending = Gauge("causality_reactor_consumer_ack_pending",
                                 "messages delivered to reactors, not yet ACKed", registry=r)
        self.outbox_pending = Gauge("causality_reactor_outbox_pending",
                                    "firings' deliveries not yet delivered or dead", registry=r)
        self.rules = Gauge("causality_reactor_rules", "live rules in the index", registry=r)
        self.rules_invalid = Gauge("causality_reactor_rules_invalid",
                                   "stored rules that cannot be evaluated", registry=r)
        self.breakers_open = Gauge("causality_reactor_breakers_open",
                                   "destinations whose circuit breaker is open", registry=r)
        self.connected = Gauge("causality_reactor_nats_connected", "1 when connected to NATS",
                               registry=r)
        self.monitor_runs = Counter("causality_reactor_monitor_runs",
                                    "monitor evaluations, by result", ("result",), registry=r)
        self.oldest_age = Gauge("causality_reactor_oldest_unconsumed_age_seconds",
                                "age of the oldest EVENTS message the reactors have not ACKed "
                                "(0: none); JetStream deletes it at the stream's max age",
                                registry=r)
        self.stream_max_age = Gauge("causality_reactor_stream_max_age_seconds",
                                    "the EVENTS stream's max age (nats.retention_s)",
                                    registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
