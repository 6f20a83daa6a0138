"""What the edge makes of JSON's grey areas, end to end: repeated names (the last wins), NaN and
Infinity (a 400 that says so), lone surrogate escapes (U+FFFD), a BOM (ignored)."""

from __future__ import annotations

import orjson
import pytest

from .hostile import BOM
from .support import Ingest, error_shape, track


@pytest.mark.parametrize("kind", ["track", "group"])  # the fast path, and segment_to_row
def test_of_repeated_names_the_last_wins(ingest: Ingest, kind: str) -> None:
    head = (b'{"type":"track","event":"first","event":"Signed Up"' if kind == "track"
            else b'{"type":"group","groupId":"g1"')
    body = b'{"batch":[' + head + b',"userId":"u","messageId":"m1","messageId":"m2"}]}'
    resp = ingest.post("/v1/batch", body, ingest.key("shop"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["results"][0]["messageId"] == "m2"
    row, = ingest.rows()
    assert row["event_id"] == "m2"
    assert row["event_type"] == ("Signed Up" if kind == "track" else "group")


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
@pytest.mark.parametrize("path", ["/v1/batch", "/v1/track"])
def test_nan_and_infinity_are_400_malformed_json(ingest: Ingest, literal: bytes,
                                                 path: str) -> None:
    event = orjson.dumps(track(1, properties={"revenue": "@"})).replace(b'"@"', literal)
    body = b'{"batch":[' + event + b"]}" if path == "/v1/batch" else event
    resp = ingest.post(path, body, ingest.key("shop"))
    err = error_shape(resp)
    assert resp.status_code == 400 and err["code"] == "malformed_json"
    assert "NaN and Infinity are not JSON numbers" in err["message"]
    assert "null" in err["hint"]
    assert ingest.rows() == []


@pytest.mark.parametrize("path", ["/v1/batch", "/v1/track"])
def test_a_lone_surrogate_escape_is_stored_as_fffd(ingest: Ingest, path: str) -> None:
    # A JavaScript client that cut "👍" in half sends "\ud83d"; its pair stays as it is.
    event = (rb'{"type":"track","event":"Rated \ud83d","userId":"u\udc4d","messageId":"m1",'
             rb'"properties":{"stars":"\ud83d\udc4d \ud83d"}}')
    body = b'{"batch":[' + event + b"]}" if path == "/v1/batch" else event
    resp = ingest.post(path, body, ingest.key("shop"))
    assert resp.status_code == 200, resp.text
    row, = ingest.rows()
    assert (row["event_type"], row["user_id"]) == ("Rated \ufffd", "u\ufffd")
    assert orjson.loads(row["properties"]) == {"stars": "\U0001f44d \ufffd"}


def test_raw_bytes_that_are_not_utf8_make_the_event_invalid(ingest: Ingest) -> None:
    bad = (b'{"type":"track","event":"x","userId":"u","messageId":"m2",'
           b'"properties":{"a":"\xed\xa0\x80"}}')  # a surrogate as raw bytes: not UTF-8
    body = b'{"batch":[' + orjson.dumps(track(1)) + b"," + bad + b"]}"
    resp = ingest.post("/v1/batch", body, ingest.key("shop"))
    assert [(r["status"], r.get("code")) for r in resp.json()["results"]] == [
        ("accepted", None), ("invalid", "malformed_json")]


@pytest.mark.parametrize("path", ["/v1/batch", "/v1/track"])
def test_a_leading_bom_is_ignored(ingest: Ingest, path: str) -> None:
    event = orjson.dumps(track(1))
    body = b'{"batch":[' + event + b"]}" if path == "/v1/batch" else event
    resp = ingest.post(path, BOM + body, ingest.key("shop"))
    assert resp.status_code == 200, resp.text
    assert len(ingest.rows()) == 1
    inside = ingest.post("/v1/batch", b'{"batch":[' + BOM + event + b"]}", ingest.key("shop"))
    assert inside.status_code == 400 and error_shape(inside)["code"] == "malformed_json"
