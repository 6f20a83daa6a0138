"""Every limit answers with its status and the JSON error shape."""

from __future__ import annotations

import base64
import gzip
import socket
import time
import tracemalloc
import zlib

import orjson
import pytest

from pipeline.ingest._body import inflate
from pipeline.ingest._errors import BadRequest, RateLimited, TooLarge
from pipeline.ingest._ratelimit import RateLimiter

from .support import Ingest, error_shape, track

KB = 1024


def test_event_over_32_kb_is_invalid_alone_in_a_batch_and_413_alone(ingest: Ingest) -> None:
    key = ingest.key("shop")
    big = track(1, properties={"blob": "x" * (33 * KB)})
    resp = ingest.post("/v1/batch", {"batch": [track(0), big, track(2)]}, key)
    assert resp.status_code == 200
    results = resp.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "invalid", "accepted"]
    assert results[1]["code"] == "event_too_large"
    assert results[1]["messageId"] == big["messageId"]
    assert len(ingest.rows()) == 2
    assert ingest.quarantined()[0].events[0].code == "event_too_large"

    single = ingest.post("/v1/track", {k: v for k, v in big.items() if k != "type"}, key)
    assert single.status_code == 413
    assert error_shape(single)["code"] == "event_too_large"


def test_batch_over_512_kb_is_413_as_sent_or_inflated(ingest: Ingest) -> None:
    key = ingest.key("shop")
    events = [track(n, properties={"pad": "y" * (20 * KB)}) for n in range(27)]
    body = orjson.dumps({"batch": events})
    assert len(body) > 512 * KB
    plain = ingest.post("/v1/batch", body, key)
    assert plain.status_code == 413 and error_shape(plain)["code"] == "batch_too_large"
    packed = gzip.compress(body)
    assert len(packed) < 512 * KB
    inflated = ingest.post("/v1/batch", packed, key, headers={"Content-Encoding": "gzip"})
    assert inflated.status_code == 413 and error_shape(inflated)["code"] == "batch_too_large"
    chunked = ingest.post("/v1/batch", iter([body[:1000], body[1000:]]), key)  # no length
    assert chunked.status_code == 413
    assert ingest.rows() == []


def test_gzip_bomb_is_cut_off_while_inflating(ingest: Ingest) -> None:
    key = ingest.key("shop")
    bomb = gzip.compress(b'{"batch":[' + b" " * (200 * 1024 * KB) + b"]}", 9)  # 200 MB
    assert len(bomb) < 512 * KB
    resp = ingest.post("/v1/batch", bomb, key, headers={"Content-Encoding": "gzip"})
    assert resp.status_code == 413 and error_shape(resp)["code"] == "batch_too_large"


def test_inflate_never_holds_more_than_the_cap() -> None:
    bomb = gzip.compress(b"\0" * (64 * 1024 * KB), 9)  # 64 MB of zeros in ~64 KB
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge):
            inflate(bomb, 512 * KB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 512 * KB
    # Several gzip members are one body; garbage after them is not.
    two = gzip.compress(b'{"batch":') + gzip.compress(b"[]}")
    assert inflate(two, 512 * KB) == b'{"batch":[]}'
    with pytest.raises(BadRequest):
        inflate(gzip.compress(b"{}") + b"junk", 512 * KB)
    with pytest.raises(BadRequest):
        inflate(gzip.compress(b"{}")[:-5], 512 * KB)


@pytest.mark.parametrize(("body", "headers", "status", "code"), [
    (b'{"batch": [', {}, 400, "malformed_json"),
    (b"\xff\xfe", {}, 400, "malformed_json"),
    (b"", {}, 400, "malformed_json"),
    (b'{"batch": {}}', {}, 400, "bad_batch"),
    (b"[1, 2]", {}, 400, "bad_batch"),
    (b'{"batch": [], "sentAt": "yesterday"}', {}, 400, "bad_timestamp"),
    (b"not gzip", {"Content-Encoding": "gzip"}, 400, "bad_gzip"),
    (b"{}", {"Content-Encoding": "br"}, 415, "unsupported_encoding"),
])
def test_malformed_requests(ingest: Ingest, body: bytes, headers: dict[str, str], status: int,
                            code: str) -> None:
    resp = ingest.post("/v1/batch", body, ingest.key("shop"), headers=headers)
    assert resp.status_code == status, resp.text
    assert error_shape(resp)["code"] == code


def test_event_that_is_not_json_on_its_own_is_invalid_alone(ingest: Ingest) -> None:
    # 1e400 is valid JSON grammar but no double: only that event is rejected.
    body = b'{"batch": [' + orjson.dumps(track(1)) + b', {"type": "track", "x": 1e400}]}'
    resp = ingest.post("/v1/batch", body, ingest.key("shop"))
    assert [r["status"] for r in resp.json()["results"]] == ["accepted", "invalid"]
    assert resp.json()["results"][1]["code"] == "malformed_json"
    assert ingest.quarantined()[0].events[0].event  # kept, as a JSON string of its text


def test_rate_limit_per_key_counts_events(start_ingest) -> None:  # type: ignore[no-untyped-def]
    ingest = start_ingest(rate_limit_events_per_s=10, rate_limit_burst=100)
    key, other = ingest.key("shop"), ingest.key("shop")
    assert ingest.post("/v1/batch", {"batch": [track(n) for n in range(80)]}, key).ok
    resp = ingest.post("/v1/batch", {"batch": [track(n) for n in range(80)]}, key)
    assert resp.status_code == 429
    assert error_shape(resp)["code"] == "rate_limited"
    assert int(resp.headers["Retry-After"]) >= 6  # 60 events missing at 10/s
    assert ingest.post("/v1/batch", {"batch": [track(1)]}, other).ok  # another key's bucket


def test_token_bucket() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=100, burst=200, clock=lambda: now[0])
    limiter.take("k", 150)
    limiter.take("k", 50)
    with pytest.raises(RateLimited) as err:
        limiter.take("k", 10)
    assert err.value.retry_after == 1
    now[0] = 0.5  # 50 tokens back
    limiter.take("k", 50)
    now[0] = 100.0
    limiter.take("k", 10_000)  # larger than the burst: costs the burst, passes when full
    with pytest.raises(RateLimited):
        limiter.take("k", 1)
    RateLimiter(rate=0, burst=1).take("k", 10**9)  # off


def test_zlib_stream_without_gzip_header_is_refused() -> None:
    with pytest.raises(BadRequest):
        inflate(zlib.compress(b"{}"), 512 * KB)


def test_a_body_that_does_not_arrive_is_408(start_ingest) -> None:  # type: ignore[no-untyped-def]
    ingest = start_ingest(body_timeout_s=0.5)
    key = ingest.key("shop")
    host, port = ingest.url.removeprefix("http://").split(":")
    auth = base64.b64encode(f"{key}:".encode()).decode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"POST /v1/batch HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
                     "Content-Length: 100\r\n\r\n{".encode())
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert orjson.loads(body)["code"] == "body_timeout"


def test_a_body_still_arriving_when_the_handler_starts_is_read_whole(ingest: Ingest) -> None:
    key, event = ingest.key("shop"), track(1)
    body = orjson.dumps({"batch": [event]})
    host, port = ingest.url.removeprefix("http://").split(":")
    auth = base64.b64encode(f"{key}:".encode()).decode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"POST /v1/batch HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:10])
        deadline = time.monotonic() + 10
        # Requests in flight, this /metrics request included: 2 once ours waits in its handler.
        while "causality_ingest_in_flight_requests 2.0" not in ingest.http.get(
                ingest.url + "/metrics").text:
            assert time.monotonic() < deadline, "the request never reached its handler"
        sock.sendall(body[10:])
        reply = b""
        while not reply.endswith(b"}"):
            chunk = sock.recv(65536)
            assert chunk, "the connection closed before the reply"
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200")
    assert [row["event_id"] for row in ingest.rows()] == [event["messageId"]]
