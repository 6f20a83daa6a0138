"""The edge tallies metrics in plain Python and applies them on flush: what /metrics renders is
what direct Prometheus updates would have rendered."""

import asyncio

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from pipeline.ingest._metrics import _LATENCY_BUCKETS, Metrics

SECONDS = [0.0, 0.001, 0.0011, 0.003, 0.05, 0.07, 2.5, 9.9, 10.0, 11.0, 600.0]


def _lines(text: bytes, prefix: str) -> list[str]:
    return sorted(line for line in text.decode().splitlines()
                  if line.startswith(prefix) and "_created" not in line)


def test_tallied_metrics_render_as_direct_updates_would() -> None:
    metrics = Metrics()
    direct = CollectorRegistry()
    requests = Counter("causality_ingest_requests", "", ("route", "status"), registry=direct)
    seconds = Histogram("causality_ingest_request_seconds", "", ("route",),
                        buckets=_LATENCY_BUCKETS, registry=direct)
    for i, s in enumerate(SECONDS):
        status = "200" if i % 3 else "503"
        metrics.count(metrics.requests, ("/v1/batch", status))
        requests.labels("/v1/batch", status).inc()
        metrics.observe(metrics.request_seconds, ("/v1/batch",), s)
        seconds.labels("/v1/batch").observe(s)
    metrics.in_flight, metrics.publishing = 3, 2
    rendered, expected = metrics.render(), generate_latest(direct)
    for prefix in ("causality_ingest_requests_total", "causality_ingest_request_seconds"):
        assert _lines(rendered, prefix) == _lines(expected, prefix)
        assert _lines(rendered, prefix)  # not two empty lists
    assert b"causality_ingest_in_flight_requests 3.0" in rendered
    assert b"causality_ingest_in_flight_publishes 2.0" in rendered
    # A second flush adds nothing: the tallies were consumed.
    assert _lines(metrics.render(), "causality_ingest_requests_total") == \
        _lines(expected, "causality_ingest_requests_total")


def test_the_timer_flushes_and_flushes_once_more_when_cancelled() -> None:
    metrics = Metrics()

    async def scenario() -> None:
        task = asyncio.create_task(metrics.flush_every(0.01))
        metrics.count(metrics.events, ("shop", "accepted"), 5)
        async with asyncio.timeout(10):
            while metrics._counts:  # applied by the timer
                await asyncio.sleep(0.01)
        metrics.count(metrics.events, ("shop", "accepted"), 2)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert b'causality_ingest_events_total{app_id="shop",status="accepted"} 7.0' in \
        generate_latest(metrics.registry)  # not render(): that would flush itself
