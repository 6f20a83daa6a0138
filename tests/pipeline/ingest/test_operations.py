"""/livez, /readyz, /metrics, and the public API of the package."""

from __future__ import annotations

import pipeline.ingest

from .support import Ingest, track


def test_probes_and_metrics(ingest: Ingest) -> None:
    assert ingest.http.get(ingest.url + "/livez").json() == {"status": "ok"}
    ready = ingest.http.get(ingest.url + "/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ok"})
    key = ingest.key("shop")
    event = track(1)
    ingest.post("/v1/batch", {"batch": [event, event, {"type": "track"}]}, key)
    ingest.post("/v1/batch", {"batch": [track(2)]}, "ck_wrong")
    text = ingest.http.get(ingest.url + "/metrics").text
    for line in [
        'causality_ingest_requests_total{route="/v1/batch",status="200"} 1.0',
        'causality_ingest_requests_total{route="/v1/batch",status="401"} 1.0',
        'causality_ingest_events_total{app_id="shop",status="accepted"} 1.0',
        'causality_ingest_events_total{app_id="shop",status="duplicate"} 1.0',
        'causality_ingest_events_total{app_id="shop",status="invalid"} 1.0',
        'causality_ingest_nats_connected 1.0',
    ]:
        assert line in text, line
    for name in ("causality_ingest_request_seconds_bucket", "causality_ingest_publish_seconds",
                 "causality_ingest_in_flight_requests", "causality_ingest_in_flight_publishes"):
        assert name in text, name


def test_the_steps_run_in_the_documented_order() -> None:
    assert [step.__name__ for step in pipeline.ingest.STEPS] == [
        "refuse_when_closing", "authenticate_header", "read", "authenticate_body", "check_app",
        "rate_limit", "validate_events", "publish"]
