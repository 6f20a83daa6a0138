"""Prometheus metrics of the edge, one registry per app instance.

With several worker processes, ``PROMETHEUS_MULTIPROC_DIR`` is set by the supervisor before the
workers start and ``/metrics`` on any worker reports the sum over all of them.

The request path does not touch the Prometheus objects: in multi-process mode every update is a
locked write to a memory-mapped file (and a ``getpid`` call), about ten per request. It tallies
in plain Python instead (:meth:`Metrics.count`, :meth:`Metrics.observe`, the in-flight
integers), and :meth:`Metrics.flush` applies the tallies, on a timer and before every render.
So a worker's own ``/metrics`` is exact; another worker's share is at most
:data:`FLUSH_EVERY_S` old.
"""

from __future__ import annotations

import asyncio
import bisect
import os
from collections import Counter as Tally

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
FLUSH_EVERY_S = 0.5
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Labels = tuple[str, ...]


class _Observed:
    """Observations of one histogram child since the last flush: per-bucket counts and sum."""

    __slots__ = ("buckets", "total")

    def __init__(self) -> None:
        self.buckets = [0] * (len(_LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.total = 0.0


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
        self._in_flight = Gauge("causality_ingest_in_flight_requests", "requests being handled",
                                registry=own, multiprocess_mode="livesum")
        self._publishing = Gauge("causality_ingest_in_flight_publishes",
                                 "JetStream publishes awaiting their PubAck",
                                 registry=own, multiprocess_mode="livesum")
        self.nats_connected = Gauge("causality_ingest_nats_connected",
                                    "1 when connected to NATS and the streams exist",
                                    registry=own, multiprocess_mode="livemin")
        self.in_flight = 0  # requests being handled, now
        self.publishing = 0  # publishes awaiting their PubAck, now
        self._counts: Tally[tuple[Counter, Labels]] = Tally()
        self._observed: dict[tuple[Histogram, Labels], _Observed] = {}

    def count(self, counter: Counter, labels: Labels, n: int = 1) -> None:
        self._counts[counter, labels] += n

    def observe(self, histogram: Histogram, labels: Labels, seconds: float) -> None:
        key = histogram, labels
        observed = self._observed.get(key)
        if observed is None:
            observed = self._observed[key] = _Observed()
        observed.buckets[bisect.bisect_left(_LATENCY_BUCKETS, seconds)] += 1
        observed.total += seconds

    def flush(self) -> None:
        """Apply the tallies to the Prometheus objects (and so to this worker's file)."""
        counts, self._counts = self._counts, Tally()
        for (counter, labels), n in counts.items():
            counter.labels(*labels).inc(n)
        observed, self._observed = self._observed, {}
        for (histogram, labels), o in observed.items():
            child = histogram.labels(*labels)
            # Histogram.observe takes one value; these are its own per-bucket values (a
            # non-cumulative count each, as observe() increments them) and its sum.
            for value, n in zip(child._buckets, o.buckets, strict=True):
                if n:
                    value.inc(n)
            child._sum.inc(o.total)
        self._in_flight.set(self.in_flight)
        self._publishing.set(self.publishing)

    async def flush_every(self, interval_s: float = FLUSH_EVERY_S) -> None:
        """Flush on a timer until cancelled; then once more."""
        try:
            while True:
                await asyncio.sleep(interval_s)
                self.flush()
        finally:
            self.flush()

    def render(self) -> bytes:
        self.flush()
        return generate_latest(self.registry)
