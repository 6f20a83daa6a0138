"""Hostile bodies against the real edge: never a 5xx, always the one error shape with a known
code, the depth limit exactly where a plain character loop puts it, and every event of a 200
accounted for (in the response, on the stream, in the metrics)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

import pytest
import requests
from hypothesis import HealthCheck, given, settings

from pipeline.ingest._errors import ERROR_CODES
from pipeline.ingest._syntax import MAX_JSON_DEPTH

from .hostile import BOM, Request, hostile_requests, lenient_json, reference_depth, strict_json
from .support import Ingest, error_shape, track

MAX_EXAMPLES = 300
RESULT_STATUSES = ("accepted", "duplicate", "invalid")


@pytest.mark.parametrize("path", ["/v1/batch", "/v1/track", "/v1/identify"])
@pytest.mark.parametrize(("opens", "closes"), [(b"[", b"]"), (b'{"a":', b"}"),
                                              (b'[{"a":', b"}]")])
def test_a_body_nested_5000_levels_deep_is_400_too_deep(ingest: Ingest, path: str,
                                                        opens: bytes, closes: bytes) -> None:
    deep = opens * 5000 + b"1" + closes * 5000
    body = b'{"batch":[{"properties":' + deep + b"}]}" if path == "/v1/batch" else (
        b'{"event":"x","userId":"u","properties":' + deep + b"}")
    resp = ingest.post(path, body, ingest.key("shop"))
    assert resp.status_code == 400, resp.text
    err = error_shape(resp)
    assert err["code"] == "too_deep" and err["limit"] == MAX_JSON_DEPTH
    assert str(MAX_JSON_DEPTH) in err["message"]
    assert ingest.rows() == []


def test_hostile_bodies_never_get_a_5xx_and_every_accepted_event_counts(
        start_ingest: Callable[..., Ingest]) -> None:
    ingest = start_ingest(rate_limit_events_per_s=0)
    key, limit = ingest.key("shop"), ingest.settings.ingest.max_batch_bytes
    tally: Counter[str] = Counter()

    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(hostile_requests())
    def post(request: Request) -> None:
        resp = ingest.post(request.path, request.wire, key, headers=request.headers)
        judge(request, resp, limit, tally)

    post()
    # Nothing silently dropped: what the responses said is what reached the stream and metrics.
    assert len(ingest.rows()) == tally["accepted"]
    metrics = ingest.http.get(ingest.url + "/metrics").text
    for status in RESULT_STATUSES:
        found = re.search(rf'causality_ingest_events_total{{app_id="shop",status="{status}"}} '
                          r"(\d+)", metrics)
        assert (int(found[1]) if found else 0) == tally[status], status


def judge(request: Request, resp: requests.Response, limit: int, tally: Counter[str]) -> None:
    assert resp.status_code < 500, (request.changes, resp.text)
    seen = request.body.removeprefix(BOM)  # what the edge decodes
    too_large = len(request.body) > limit
    depth = 0 if too_large else reference_depth(seen)
    if resp.status_code == 200:
        assert not too_large and depth <= MAX_JSON_DEPTH
        results = resp.json()["results"]
        statuses = [result["status"] for result in results]
        assert set(statuses) <= set(RESULT_STATUSES), results
        assert all(r["code"] and r["reason"] for r in results if r["status"] == "invalid")
        if request.path == "/v1/batch":  # one result per event sent
            assert len(results) == len(lenient_json(seen)["batch"])
        else:
            assert statuses in (["accepted"], ["duplicate"])
        tally.update(statuses)
        return
    code = error_shape(resp)["code"]
    assert code in ERROR_CODES[resp.status_code], (request.changes, resp.status_code, code)
    if code == "invalid_event":  # a single call's event, counted and quarantined
        tally["invalid"] += 1
    if too_large:
        assert (resp.status_code, code) == (413, "batch_too_large")
    elif depth > MAX_JSON_DEPTH:
        assert code == "too_deep", (request.changes, depth, code)
    elif _is_json(seen):
        assert code not in ("too_deep", "malformed_json"), (request.changes, resp.text)


def _is_json(body: bytes) -> bool:
    try:
        strict_json(body)
    except (ValueError, RecursionError):
        return False
    return True


def test_a_batch_at_the_depth_limit_is_stored(ingest: Ingest) -> None:
    # The envelope, the batch array, the event and its properties: 4 levels; 60 more inside.
    inner: object = 1
    for _ in range(MAX_JSON_DEPTH - 4):
        inner = [inner]
    event = track(1, properties={"deep": inner})
    resp = ingest.post("/v1/batch", {"batch": [event]}, ingest.key("shop"))
    assert resp.status_code == 200, resp.text
    assert [row["event_id"] for row in ingest.rows()] == [event["messageId"]]
    deeper = ingest.post("/v1/batch", {"batch": [track(2, properties={"deep": [inner]})]},
                         ingest.key("shop"))
    assert deeper.status_code == 400 and error_shape(deeper)["code"] == "too_deep"
