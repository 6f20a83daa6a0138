"""The real ``segment-analytics-python`` client, unchanged, delivers through the edge."""

from __future__ import annotations

from typing import Any

import pytest
from segment.analytics.client import Client
from segment.analytics.request import APIError

from .support import Ingest


def _client(ingest: Ingest, key: str, errors: list[Any], **options: Any) -> Client:
    return Client(write_key=key, host=ingest.url, max_retries=0,
                  on_error=lambda err, batch: errors.append(err), **options)


def test_segment_sdk_sync_mode_with_gzip(ingest: Ingest) -> None:
    key = ingest.key("shop")
    errors: list[Any] = []
    client = _client(ingest, key, errors, sync_mode=True, gzip=True)
    client.identify("u1", {"plan": "pro"})
    client.track("u1", "Order Completed", {"revenue": 42.5}, context={"sessionId": "s-1"})
    client.page("u1", category="Docs", name="Install", properties={"path": "/install"})
    client.screen("u1", name="Feed")
    client.group("u1", "org-9", {"seats": 3})
    client.alias("u1", "anon-7")
    assert errors == []
    rows = ingest.rows()
    assert {r["app_id"] for r in rows} == {"shop"}
    assert [r["event_type"] for r in rows] == [
        "identify", "Order Completed", "page", "screen", "group", "alias"]
    order = rows[1]
    assert order["session_id"] == "s-1" and order["user_id"] == "u1"
    assert '"revenue":42.5' in order["properties"]
    assert '"library"' in order["context"]  # the SDK's context, kept


def test_segment_sdk_queue_and_flush(ingest: Ingest) -> None:
    key = ingest.key("news")
    errors: list[Any] = []
    client = _client(ingest, key, errors, upload_size=50)
    ids = [client.track(f"user-{i}", "Article Read", {"i": i})[1]["messageId"]
           for i in range(120)]
    client.flush()
    client.join()
    assert errors == []
    rows = ingest.rows()
    assert sorted(r["event_id"] for r in rows) == sorted(ids)
    assert {r["app_id"] for r in rows} == {"news"}


def test_segment_sdk_with_a_wrong_key_is_refused(ingest: Ingest) -> None:
    client = _client(ingest, "ck_wrong", [], sync_mode=True)
    with pytest.raises(APIError) as err:  # sync mode raises; the queue would report it
        client.track("u1", "x")
    assert err.value.status == 401 and err.value.code == "invalid_key"
    assert ingest.rows() == []
