"""Plain HTTP against the real edge and real JetStream: auth styles, single calls, per-event
results, quarantine, de-duplication, and the message format on the bus."""

from __future__ import annotations

import gzip
import time

import orjson
import pytest

from pipeline.bus import batch_id

from .support import Ingest, error_shape, track


@pytest.mark.parametrize("auth", ["basic", "bearer", "body"])
def test_each_auth_style_stores_events_under_the_keys_app(ingest: Ingest, auth: str) -> None:
    key = ingest.key("shop")
    events = [track(1), track(2)]
    body: dict[str, object] = {"batch": events, "sentAt": "2026-11-27T10:00:00Z"}
    if auth == "body":
        body["writeKey"] = key
    resp = ingest.post("/v1/batch", body, key=None if auth == "body" else key, auth=auth)
    assert resp.status_code == 200, resp.text
    assert [r["status"] for r in resp.json()["results"]] == ["accepted", "accepted"]
    rows = ingest.rows()
    assert [r["event_id"] for r in rows] == [e["messageId"] for e in events]
    assert {r["app_id"] for r in rows} == {"shop"}


def test_message_format_subject_and_msg_id(ingest: Ingest) -> None:
    key = ingest.key("shop")
    events = [track(1), track(2)]
    before = time.time_ns() // 1000
    assert ingest.post("/v1/batch", {"batch": events}, key).status_code == 200
    (subject, headers, _), = ingest.messages(ingest.streams.events)
    batch, = ingest.batches()
    assert subject == ingest.streams.events_for("shop")
    assert batch.v == 1 and batch.app_id == "shop"
    assert headers["Nats-Msg-Id"] == batch.batch_id == batch_id(
        "shop", [e["messageId"] for e in events])
    row = batch.rows[0]
    assert row["event_type"] == "Order Completed" and row["category"] == "track"
    assert row["properties"] == '{"revenue":9.5,"n":1}'
    assert before <= row["received_at"] <= time.time_ns() // 1000


def test_app_id_comes_from_the_key_never_the_payload(ingest: Ingest) -> None:
    key = ingest.key("shop")
    same = ingest.post("/v1/batch", {"batch": [track(app_id="shop")], "app_id": "shop"}, key)
    assert same.status_code == 200
    for body, headers in [
        ({"batch": [track()], "app_id": "news"}, {}),
        ({"batch": [track()]}, {"X-Causality-App": "news"}),
        ({"batch": [track(), track(app_id="news")]}, {}),
    ]:
        resp = ingest.post("/v1/batch", body, key, headers=headers)
        assert resp.status_code == 403, resp.text
        assert error_shape(resp)["code"] == "wrong_app"
    assert len(ingest.rows()) == 1


@pytest.mark.parametrize(("kind", "fields"), [
    ("track", {"event": "Signed Up"}),
    ("identify", {"traits": {"plan": "pro"}}),
    ("page", {"name": "Home", "properties": {"path": "/"}}),
    ("screen", {"name": "Feed"}),
    ("group", {"groupId": "g1"}),
    ("alias", {"previousId": "anon-1"}),
])
def test_single_call_endpoints(ingest: Ingest, kind: str, fields: dict[str, object]) -> None:
    key = ingest.key("shop")
    event = {"userId": "u1", "messageId": f"single-{kind}", **fields}
    resp = ingest.post(f"/v1/{kind}", event, key, auth="bearer")
    assert resp.status_code == 200, resp.text
    assert resp.json()["results"][0]["status"] == "accepted"
    row, = ingest.rows()
    assert row["event_id"] == f"single-{kind}"
    assert row["event_type"] == ("Signed Up" if kind == "track" else kind)


def test_single_call_with_write_key_in_body_and_invalid_event(ingest: Ingest) -> None:
    key = ingest.key("shop")
    ok = ingest.post("/v1/track", {"event": "x", "anonymousId": "a", "writeKey": key})
    assert ok.status_code == 200
    bad = ingest.post("/v1/track", {"anonymousId": "a", "writeKey": key})
    body = error_shape(bad)
    assert bad.status_code == 400 and body["code"] == "invalid_event"
    assert body["reason"] == "missing_event"
    assert ingest.quarantined()[0].events[0].code == "missing_event"


def test_batch_with_invalid_and_duplicate_events_accepts_the_valid_ones(ingest: Ingest) -> None:
    key = ingest.key("shop")
    good, twin = track(1), track(2)
    batch = [good, {"type": "track", "userId": "u"}, twin, dict(twin), [1, 2],
             {"type": "launch", "userId": "u", "messageId": "weird"}]
    resp = ingest.post("/v1/batch", {"batch": batch, "sentAt": "2026-11-27T10:00:00Z"}, key)
    assert resp.status_code == 200, resp.text
    results = resp.json()["results"]
    assert [r["status"] for r in results] == [
        "accepted", "invalid", "accepted", "duplicate", "invalid", "invalid"]
    assert [r.get("code") for r in results] == [
        None, "missing_event", None, None, "not_an_object", "bad_type"]
    assert results[5]["messageId"] == "weird" and results[5]["reason"]
    assert results[3]["event_id"] == twin["messageId"]
    assert [r["event_id"] for r in ingest.rows()] == [good["messageId"], twin["messageId"]]
    quarantine, = ingest.quarantined()
    assert quarantine.app_id == "shop" and quarantine.received_at > 0
    assert [(q.index, q.code) for q in quarantine.events] == [
        (1, "missing_event"), (4, "not_an_object"), (5, "bad_type")]
    assert orjson.loads(bytes(quarantine.events[2].event)) == batch[5]  # as sent
    assert quarantine.events[0].message and quarantine.events[0].hint


def test_retried_batch_is_stored_once_and_answered_duplicate(ingest: Ingest) -> None:
    key = ingest.key("shop")
    body = {"batch": [track(1), track(2)], "sentAt": "2026-11-27T10:00:00Z"}
    first = ingest.post("/v1/batch", body, key)
    retry = ingest.post("/v1/batch", gzip.compress(ingest_json(body)), key,
                        headers={"Content-Encoding": "gzip"})
    assert [r["status"] for r in first.json()["results"]] == ["accepted"] * 2
    assert [r["status"] for r in retry.json()["results"]] == ["duplicate"] * 2
    assert len(ingest.messages(ingest.streams.events)) == 1
    # The same message ids from another app are another batch.
    other = ingest.post("/v1/batch", body, ingest.key("news"))
    assert [r["status"] for r in other.json()["results"]] == ["accepted"] * 2
    assert len(ingest.messages(ingest.streams.events)) == 2


def test_gzip_body(ingest: Ingest) -> None:
    key = ingest.key("shop")
    data = gzip.compress(ingest_json({"batch": [track(n) for n in range(20)]}))
    resp = ingest.post("/v1/batch", data, key, headers={"Content-Encoding": "gzip",
                                                        "Content-Type": "application/json"})
    assert resp.status_code == 200
    assert len(ingest.rows()) == 20


def test_event_without_message_id_gets_a_stable_content_id(ingest: Ingest) -> None:
    key = ingest.key("shop")
    event = {"type": "track", "event": "x", "userId": "u", "timestamp": "2026-11-27T09:00:00Z"}
    first = ingest.post("/v1/batch", {"batch": [event], "sentAt": "2026-11-27T10:00:00Z"}, key)
    again = ingest.post("/v1/batch", {"batch": [event], "sentAt": "2026-11-27T10:00:05Z"}, key)
    (a,), (b,) = first.json()["results"], again.json()["results"]
    assert a["event_id"] == b["event_id"] and a["messageId"] is None
    assert (a["status"], b["status"]) == ("accepted", "duplicate")


def test_clock_skew_is_corrected_from_sent_at(ingest: Ingest) -> None:
    key = ingest.key("shop")
    # The client clock is 1 h behind: it stamped the event 10 s before it sent the batch.
    event = track(timestamp="2020-01-01T00:59:50Z")
    assert ingest.post("/v1/batch", {"batch": [event], "sentAt": "2020-01-01T01:00:00Z"},
                       key).status_code == 200
    row, = ingest.rows()
    assert row["received_at"] - row["event_time"] == pytest.approx(10_000_000, abs=1_000_000)


def test_unknown_revoked_and_missing_keys_are_401(start_ingest) -> None:  # type: ignore[no-untyped-def]
    ingest = start_ingest(key_cache_ttl_s=0)  # the TTL itself: test_auth.py, fake clock
    key = ingest.key("shop")
    body = {"batch": [track()]}
    assert ingest.post("/v1/batch", body, key).status_code == 200
    for resp, code in [
        (ingest.post("/v1/batch", body, "ck_" + "x" * 43), "invalid_key"),
        (ingest.post("/v1/batch", body, "not-even-a-key", auth="bearer"), "invalid_key"),
        (ingest.post("/v1/batch", body), "missing_key"),
        (ingest.post("/v1/batch", body, headers={"Authorization": "Basic !!!"}), "invalid_key"),
        (ingest.post("/v1/batch", body, headers={"Authorization": "Digest x"}), "invalid_key"),
    ]:
        assert resp.status_code == 401, resp.text
        assert error_shape(resp)["code"] == code
    key_id = ingest.store.list("shop")[0].key_id
    ingest.store.revoke(key_id)
    revoked = ingest.post("/v1/batch", body, key)
    assert revoked.status_code == 401 and error_shape(revoked)["code"] == "invalid_key"


def test_not_found_and_method_not_allowed_are_json(ingest: Ingest) -> None:
    missing = ingest.http.get(ingest.url + "/v1/nothing")
    assert missing.status_code == 404 and error_shape(missing)["code"] == "not_found"
    wrong = ingest.http.get(ingest.url + "/v1/batch")
    assert wrong.status_code == 405 and error_shape(wrong)["code"] == "method_not_allowed"
    assert "POST" in wrong.headers["Allow"]


def test_cors_preflight_for_browser_sdks(ingest: Ingest) -> None:
    resp = ingest.http.options(ingest.url + "/v1/batch",
                               headers={"Origin": "https://shop.example.com",
                                        "Access-Control-Request-Method": "POST"})
    assert resp.status_code == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]


def ingest_json(body: object) -> bytes:
    return orjson.dumps(body)
