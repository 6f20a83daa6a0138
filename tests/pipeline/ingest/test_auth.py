"""The key cache: verified keys for a TTL, unknown ones briefly, one query per key at a time,
and a broken key store is a 503, not a 500."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from metadata import ApiKey
from pipeline.ingest._auth import KeyCache
from pipeline.ingest._errors import Unauthorized, Unavailable

GOOD = "ck_good"
KEY = ApiKey(key_id="k1", app_id="shop", prefix="ck_good", label="", created_at=datetime.now(UTC),
             revoked_at=None)


class FakeStore:
    def __init__(self) -> None:
        self.calls = 0
        self.revoked = False
        self.broken = False
        self.gate = threading.Event()
        self.gate.set()

    def verify(self, plain: str) -> ApiKey | None:
        self.calls += 1
        self.gate.wait(5)
        if self.broken:
            raise RuntimeError("database is locked")
        return KEY if plain == GOOD and not self.revoked else None


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_positive_and_negative_ttls() -> None:
    store, now = FakeStore(), [0.0]
    cache = KeyCache(store, ttl_s=5, negative_ttl_s=1, clock=lambda: now[0])  # type: ignore[arg-type]

    async def scenario() -> None:
        assert (await cache.verify(GOOD)).app_id == "shop"
        store.revoked = True
        now[0] = 4.9
        assert (await cache.verify(GOOD)).app_id == "shop"  # still cached
        now[0] = 5.1
        with pytest.raises(Unauthorized):
            await cache.verify(GOOD)  # the revoke took effect within the TTL
        calls = store.calls
        for _ in range(100):
            with pytest.raises(Unauthorized):
                await cache.verify("ck_bad")
        assert store.calls == calls + 1  # the negative result is cached too
        with pytest.raises(Unauthorized):
            await cache.verify("no-prefix")  # never reaches the store
        assert store.calls == calls + 1

    _run(scenario())


def test_concurrent_lookups_of_one_key_share_one_query() -> None:
    store = FakeStore()
    store.gate.clear()
    cache = KeyCache(store, ttl_s=5, negative_ttl_s=1)  # type: ignore[arg-type]

    async def scenario() -> list[ApiKey]:
        waiting = [asyncio.create_task(cache.verify(GOOD)) for _ in range(20)]
        await asyncio.sleep(0.05)
        store.gate.set()
        return await asyncio.gather(*waiting)

    assert len(_run(scenario())) == 20
    assert store.calls == 1


def test_broken_store_is_unavailable() -> None:
    store = FakeStore()
    store.broken = True
    cache = KeyCache(store, ttl_s=5, negative_ttl_s=1, retry_after_s=7)  # type: ignore[arg-type]
    with pytest.raises(Unavailable) as err:
        _run(cache.verify(GOOD))
    assert err.value.code == "auth_unavailable" and err.value.retry_after == 7
